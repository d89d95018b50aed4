"""Twins from outside the library: ``"package.module:function"`` references, Python files and the
``phystwin.twins`` entry-point group of installed packages.

Each loader returns a :class:`~phystwin.physics.twins.spec.TwinSpec` whose builder has been found and
checked to take no arguments (calling it is :meth:`TwinSpec.system`); each failure is a
:class:`~phystwin.physics.twins.spec.TwinError` naming the module, file, entry point or function.

A file is loaded with :mod:`importlib` under a module name derived from its absolute path
(``phystwin_twin_<stem>_<hash>``), registered in ``sys.modules`` (dataclasses and pickling need it);
loading the same unchanged file again reuses the module. While the file is executed its folder is the
first entry of ``sys.path``, so it can import modules beside it (``from mycomps import Lag``); the entry
is removed afterwards, and the modules imported then stay loaded (in ``sys.modules``) under their plain
names.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from phystwin.physics.twins.spec import (
    ENTRY_POINT,
    FILE,
    MODULE,
    TwinError,
    TwinSpec,
    check_builder,
    describe_exception,
    first_line,
)

ENTRY_POINT_GROUP = "phystwin.twins"
"""Entry-point group in which installed packages declare twins: ``name = "package.module:function"``."""

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_REFERENCE = re.compile(rf"^({_DOTTED}):({_DOTTED})$")
_FUNCTION = re.compile(rf"^{_DOTTED}$")


def is_reference(name: str) -> bool:
    """Whether ``name`` is written as a ``"module:function"`` reference (rather than a twin name)."""
    return ":" in name


def twin_from_reference(reference: str) -> TwinSpec:
    """The twin built by ``function`` of the importable module in ``"package.module:function"``."""
    m = _REFERENCE.match(reference.strip())
    if m is None:
        raise TwinError(
            f"{reference!r} is not a reference of the form 'package.module:function' "
            "(dotted Python names on both sides of one colon)"
        )
    module_name, attr = m.groups()
    fn = _attribute(import_module(module_name), attr, f"module {module_name!r}")
    builder = check_builder(fn, f"{module_name}:{attr}")
    return TwinSpec(
        reference.strip(),
        builder,
        first_line(getattr(fn, "__doc__", None)),
        kind=MODULE,
        origin=f"{module_name}:{attr}",
    )


def twin_from_file(path: str | Path, function: str = "build") -> TwinSpec:
    """The twin built by ``function`` of the Python file at ``path`` (see :func:`load_file`)."""
    if not _FUNCTION.match(function):
        raise TwinError(f"{function!r} is not a Python function name", "function")
    module = load_file(path)
    file = Path(module.__file__ or path)
    fn = _attribute(module, function, str(file))
    builder = check_builder(fn, f"{file.name}:{function}")
    return TwinSpec(
        f"{file.name}:{function}",
        builder,
        first_line(getattr(fn, "__doc__", None)),
        kind=FILE,
        origin=f"{file}:{function}",
    )


def load_file(path: str | Path) -> ModuleType:
    """The module of the Python file at ``path`` (see the module docstring); :class:`TwinError` if the
    file is missing, not a ``.py`` file, or raises while it is executed."""
    file = Path(path).expanduser().resolve()
    if not file.exists():
        raise TwinError(f"no such file: {file}")
    if not file.is_file() or file.suffix != ".py":
        raise TwinError(f"{file} is not a Python file (expected a file ending in .py)")
    stat = file.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    name = module_name_of(file)
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__phystwin_stamp__", None) == stamp:
        return loaded
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise TwinError(f"{file}: Python cannot load this file")
    module = importlib.util.module_from_spec(spec)
    module.__phystwin_stamp__ = stamp  # type: ignore[attr-defined]
    sys.modules[name] = module
    folder = str(file.parent)
    sys.path.insert(0, folder)  # modules beside the file import while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: reported, never a traceback
        sys.modules.pop(name, None)
        raise TwinError(f"loading {file} raised {describe_exception(exc)}") from exc
    finally:
        _remove_path_entry(folder)
    return module


def _remove_path_entry(folder: str) -> None:
    """Remove the entry :func:`load_file` put first on ``sys.path`` (the first occurrence if the file
    itself moved it)."""
    if sys.path and sys.path[0] == folder:
        del sys.path[0]
    elif folder in sys.path:
        sys.path.remove(folder)


def module_name_of(file: Path) -> str:
    """The unique, stable module name of a twin file (the same in every process, so compiled
    kernels cached on disk are found again)."""
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", file.stem)
    return f"phystwin_twin_{stem}_{digest}"


def import_module(name: str) -> ModuleType:
    """``importlib.import_module(name)`` with failures as :class:`TwinError` naming the module."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise TwinError(
                f"module {name!r} not found: no module named {exc.name!r} on the Python path "
                "(install its package or add the folder that holds it to PYTHONPATH)"
            ) from None
        raise TwinError(f"importing module {name!r} raised {describe_exception(exc)}") from exc
    except Exception as exc:  # the user's code: reported, never a traceback
        raise TwinError(f"importing module {name!r} raised {describe_exception(exc)}") from exc


def _attribute(owner: ModuleType, dotted: str, where: str) -> Any:
    obj: Any = owner
    for part in dotted.split("."):
        if not hasattr(obj, part):
            names = [n for n in vars(owner) if not n.startswith("_") and callable(vars(owner)[n])]
            close = difflib.get_close_matches(dotted, names, n=3, cutoff=0.6)
            hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
            raise TwinError(f"{where} has no function {dotted!r}{hint}", "function")
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------------------------------- entry points
def entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The installed packages' twins (group ``phystwin.twins``) by name; the first of a duplicated name wins."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def twin_from_entry_point(ep: importlib.metadata.EntryPoint) -> TwinSpec:
    """The twin an entry point of group ``phystwin.twins`` declares (``name = "package.module:function"``)."""
    dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "an unknown distribution"
    where = f"entry point {ep.name!r} = {ep.value!r} of {dist}"
    m = _REFERENCE.match(ep.value.strip())
    if m is None:
        raise TwinError(f"{where}: expected 'package.module:function'")
    module_name, attr = m.groups()
    try:
        fn = _attribute(import_module(module_name), attr, f"module {module_name!r}")
        builder = check_builder(fn, f"{module_name}:{attr}")
    except TwinError as exc:
        raise TwinError(f"{where}: {exc}", exc.part) from None
    return TwinSpec(
        ep.name,
        builder,
        first_line(getattr(fn, "__doc__", None)),
        kind=ENTRY_POINT,
        origin=f"{module_name}:{attr}",
        distribution=dist,
    )


__all__ = [
    "ENTRY_POINT_GROUP",
    "entry_points",
    "import_module",
    "is_reference",
    "load_file",
    "module_name_of",
    "twin_from_entry_point",
    "twin_from_file",
    "twin_from_reference",
]
