"""Reference twins, each composed from library components.

``TWINS`` maps a twin type (as written in a config file's ``[twin] type``) to its
:class:`TwinSpec`; :func:`get_twin` looks one up with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from phystwin.physics.system import System


@dataclass(frozen=True)
class TwinSpec:
    """A reference twin: how to build its System, and what it is."""

    name: str
    build: Callable[[], System]
    description: str
    main_outputs: tuple[str, ...] = ()


TWINS: dict[str, TwinSpec] = {}


def register_twin(spec: TwinSpec) -> TwinSpec:
    """Make a twin available to configs and the CLI by its ``name``."""
    TWINS[spec.name] = spec
    return spec


def get_twin(name: str) -> TwinSpec:
    """The twin registered as ``name``; ``KeyError`` listing the known twins otherwise."""
    _load_builtin()
    if name not in TWINS:
        raise KeyError(f"unknown twin type {name!r}; expected one of {', '.join(sorted(TWINS))}")
    return TWINS[name]


def _load_builtin() -> None:
    # imported lazily: building the library components has a cost
    from phystwin.physics.twins import dc_motor, li_ion_cell  # noqa: F401


__all__ = ["TWINS", "TwinSpec", "get_twin", "register_twin"]
