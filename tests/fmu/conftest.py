"""Session fixtures for the bundled C test FMUs: each model is compiled once per test session."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from phystwin.fmu.build import build_fmu, bundled_models


@pytest.fixture(scope="session")
def fmu_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build cache private to this session, so the tests always exercise gcc and never a stale user cache."""
    return tmp_path_factory.mktemp("fmu-cache")


@pytest.fixture(scope="session")
def built_fmus(fmu_cache_dir: Path) -> dict[str, Path]:
    """Every bundled model built as an FMI 2.0 FMU, keyed by model name."""
    return {name: build_fmu(name, "2.0", cache_dir=fmu_cache_dir) for name in bundled_models()}


@pytest.fixture(scope="session")
def dc_load_fmu(built_fmus: dict[str, Path]) -> Path:
    return built_fmus["dc_load"]


@pytest.fixture(scope="session")
def thermal_rc_fmu(built_fmus: dict[str, Path]) -> Path:
    return built_fmus["thermal_rc"]


@pytest.fixture(scope="session")
def bouncing_ball_fmu(built_fmus: dict[str, Path]) -> Path:
    return built_fmus["bouncing_ball"]


@pytest.fixture(scope="session")
def fault_injector_fmu(built_fmus: dict[str, Path]) -> Path:
    return built_fmus["fault_injector"]


@pytest.fixture(scope="session")
def thermal_rc_fmi3_fmu(fmu_cache_dir: Path) -> Path:
    return build_fmu("thermal_rc", "3.0", cache_dir=fmu_cache_dir)


@pytest.fixture(scope="session")
def pwm_heater_fmu(built_fmus: dict[str, Path]) -> Path:
    return built_fmus["pwm_heater"]


@pytest.fixture(scope="session")
def bouncing_ball_fmi3_fmu(fmu_cache_dir: Path) -> Path:
    """The bouncing ball as an FMI 3.0 FMU (state events from its event indicator; ME + CS)."""
    return build_fmu("bouncing_ball", "3.0", cache_dir=fmu_cache_dir)


@pytest.fixture(scope="session")
def pwm_heater_fmi3_fmu(fmu_cache_dir: Path) -> Path:
    """The PWM heater as an FMI 3.0 FMU (time events from fmi3UpdateDiscreteStates, step events from
    fmi3CompletedIntegratorStep; ME only)."""
    return build_fmu("pwm_heater", "3.0", cache_dir=fmu_cache_dir)


@pytest.fixture(scope="session")
def thermal_rc_fmi3_cs_only_fmu(thermal_rc_fmi3_fmu: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The FMI 3.0 thermal RC FMU with its ``<ModelExchange>`` element removed: co-simulation only."""
    target = tmp_path_factory.mktemp("fmi3-cs-only") / "thermal_rc_cs_only.fmu"
    with zipfile.ZipFile(thermal_rc_fmi3_fmu) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "modelDescription.xml":
                data, n = re.subn(rb"<ModelExchange[^>]*/>", b"", data)
                assert n == 1
            dst.writestr(item, data)
    return target
