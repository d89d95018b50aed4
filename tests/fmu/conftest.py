"""Session fixtures for the bundled C test FMUs: each model is compiled once per test session."""

from __future__ import annotations

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
