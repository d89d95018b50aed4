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
