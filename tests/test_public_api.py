"""The curated public APIs: every exported name resolves, importing a package stays cheap, and every
exception phystwin defines derives from PhystwinError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import phystwin
from phystwin.errors import PhystwinError

PACKAGES = [
    "phystwin",
    "phystwin.core",
    "phystwin.physics",
    "phystwin.estimation",
    "phystwin.fmu",
    "phystwin.hil",
    "phystwin.records",
    "phystwin.config",
    "phystwin.plots",
    "phystwin.cli",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    mod = importlib.import_module(package)
    names = getattr(mod, "__all__", None)
    assert names, f"{package} has no __all__"
    for name in names:
        assert getattr(mod, name) is not None, f"{package}.{name}"


def test_importing_hil_and_fmu_loads_no_transport_or_fmpy() -> None:
    code = (
        "import sys, phystwin.hil, phystwin.fmu; "
        "heavy = [m for m in ('paho', 'asyncua', 'can', 'pymodbus', 'fmpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == ""


def test_every_phystwin_exception_derives_from_the_root() -> None:
    offenders = []
    for info in pkgutil.walk_packages(phystwin.__path__, "phystwin."):
        if info.name.endswith("__main__") or ".fmu.models" in info.name:
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
                and not issubclass(obj, PhystwinError)
            ):
                offenders.append(f"{info.name}.{name}")
    assert offenders == []


# every package and top-level module of the library (the lazy-export hook's AttributeError is the protocol)
NO_BUILTIN_RAISES = [
    "core", "physics", "config", "records", "estimation", "hil", "fmu", "plots", "scenarios", "cli", "units.py",
    "_jit.py",
]  # fmt: skip
BUILTINS = {"ValueError", "TypeError", "KeyError", "RuntimeError"}


def _builtin_raises(folder: str) -> list[str]:
    import ast
    from pathlib import Path

    root = Path(phystwin.__file__).parent / folder
    found = []
    for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in BUILTINS:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: raise {exc.id}")
    return found


@pytest.mark.parametrize("folder", NO_BUILTIN_RAISES)
def test_no_bare_builtin_exception_is_raised(folder: str) -> None:
    """The library raises PhystwinError subclasses (InvalidValueError is still a ValueError, ...), so
    ``except PhystwinError`` catches every phystwin failure."""
    found = _builtin_raises(folder)
    assert not found, "raise a phystwin.errors class instead:\n" + "\n".join(found)


def test_general_errors_keep_their_builtin_type() -> None:
    from phystwin.errors import InvalidTypeError, InvalidValueError, OperationError, UnknownNameError

    assert issubclass(InvalidValueError, ValueError) and issubclass(InvalidTypeError, TypeError)
    assert issubclass(UnknownNameError, KeyError) and issubclass(OperationError, RuntimeError)
    assert str(UnknownNameError("unknown parameter 'x'")) == "unknown parameter 'x'"  # no KeyError quotes
