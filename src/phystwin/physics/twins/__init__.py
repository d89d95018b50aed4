"""Twins: the reference twins composed from library components, and the registry every twin goes through.

A twin is a function of no arguments returning a :class:`~phystwin.physics.system.System`. Configs and
the CLI name one in any of these ways (:func:`get_twin` resolves the first three by name,
:func:`~phystwin.physics.twins.user.twin_from_file` the last):

* a **built-in** or **registered** twin: ``"dc_motor"``, or a name given to :func:`register_twin`;
* an **entry point** of an installed package, group ``phystwin.twins``
  (``[project.entry-points."phystwin.twins"] pump = "mypkg.pump:build"``);
* a **module reference** ``"package.module:function"`` (the module importable from the Python path);
* a **file**: a function in a Python file (``[twin] file = "pump.py"``, ``function = "build"``).

Every failure to find, load or build a twin is a :class:`TwinError` naming the module, file or function.
"""

from __future__ import annotations

import difflib

from phystwin.physics.twins.spec import (
    BUILTIN,
    ENTRY_POINT,
    FILE,
    MODULE,
    REGISTERED,
    TwinError,
    TwinKind,
    TwinSpec,
)
from phystwin.physics.twins.user import (
    ENTRY_POINT_GROUP,
    entry_points,
    is_reference,
    twin_from_entry_point,
    twin_from_file,
    twin_from_reference,
)

TWINS: dict[str, TwinSpec] = {}
"""Built-in and registered twins by name (the built-ins appear once :func:`builtin_twins` ran)."""


def register_twin(spec: TwinSpec) -> TwinSpec:
    """Make a twin available to configs and the CLI by its ``name`` (replacing one of that name)."""
    TWINS[spec.name] = spec
    return spec


def builtin_twins() -> dict[str, TwinSpec]:
    """The built-in and registered twins by name (sorted)."""
    _load_builtin()
    return dict(sorted(TWINS.items()))


def get_twin(name: str) -> TwinSpec:
    """The twin ``name`` stands for: a built-in or registered twin, a ``"package.module:function"``
    reference, or an entry point of group ``phystwin.twins`` (in that order).

    Raises
    ------
    TwinError
        Naming the twin, module or function: unknown name (with close matches and the known names),
        module not found or failing to import, no such function, a function that needs arguments.
    """
    _load_builtin()
    if name in TWINS:
        return TWINS[name]
    if is_reference(name):
        return twin_from_reference(name)
    eps = entry_points()
    if name in eps:
        return twin_from_entry_point(eps[name])
    known = sorted(TWINS)
    plugins = sorted(set(eps) - set(TWINS))
    close = difflib.get_close_matches(name, known + plugins, n=3, cutoff=0.6)
    hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
    listing = f"registered: {', '.join(known) or 'none'}"
    if plugins:
        listing += f"; entry points: {', '.join(plugins)}"
    raise TwinError(
        f"unknown twin type {name!r}{hint} ({listing}); a twin of your own is named 'package.module:function'",
        "name",
    )


def _load_builtin() -> None:
    # imported lazily: building the library components has a cost
    from phystwin.physics.twins import dc_motor, li_ion_cell  # noqa: F401


__all__ = [
    "BUILTIN",
    "ENTRY_POINT",
    "ENTRY_POINT_GROUP",
    "FILE",
    "MODULE",
    "REGISTERED",
    "TWINS",
    "TwinError",
    "TwinKind",
    "TwinSpec",
    "builtin_twins",
    "entry_points",
    "get_twin",
    "register_twin",
    "twin_from_entry_point",
    "twin_from_file",
    "twin_from_reference",
]
