"""A co-simulation FMU written in Python with pythonfmu: it builds, validates, and simulates exactly.

pythonfmu FMUs embed the Python interpreter: their ``binaries/linux64/<model>.so`` leaves the ``Py*`` symbols
undefined and takes them from the process that loads it. A Python process linked against
``libpython3.11.so`` (this venv's interpreter) provides them, so fmpy can load the FMU in-process and in the
isolated child without ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fmpy import simulate_fmu
from fmpy.validation import validate_fmu

from phystwin.fmu.isolate import simulate_isolated

pytest.importorskip("pythonfmu", reason="pythonfmu>=0.6 (a dev dependency) is not installed")

MODEL = Path(__file__).parent / "pythonfmu_models" / "first_order_lag.py"
TAU = 0.5


@pytest.fixture(scope="module")
def lag_fmu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``FirstOrderLag.fmu`` built once per module with the venv's ``pythonfmu build``."""
    dest = tmp_path_factory.mktemp("pythonfmu")
    script = Path(sys.executable).with_name("pythonfmu")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "pythonfmu"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # keep __pycache__ out of the test tree
    proc = subprocess.run(
        [*cmd, "build", "-f", str(MODEL), "--dest", str(dest)], capture_output=True, text=True, env=env, check=False
    )
    fmu = dest / "FirstOrderLag.fmu"
    assert proc.returncode == 0 and fmu.is_file(), f"pythonfmu build failed:\n{proc.stdout}\n{proc.stderr}"
    return fmu


def _step_input(u: float = 1.0, stop: float = 2.0) -> np.ndarray:
    return np.array([(0.0, u), (stop, u)], dtype=[("time", np.float64), ("u", np.float64)])


def test_builds_with_units_and_linux_binary(lag_fmu: Path) -> None:
    with zipfile.ZipFile(lag_fmu) as zf:
        names = set(zf.namelist())
    assert {"modelDescription.xml", "binaries/linux64/FirstOrderLag.so", "resources/first_order_lag.py"} <= names
    from phystwin.fmu.description import read_description

    desc = read_description(lag_fmu)
    assert desc.supports_co_simulation and not desc.supports_model_exchange
    assert (desc.inputs, desc.outputs, desc.parameters) == (("u",), ("y",), ("tau",))
    assert {v.name: v.unit for v in desc.variables} == {"u": "1", "y": "1", "tau": "s"}
    assert desc.variable("tau").start == TAU


def test_validates_without_problems(lag_fmu: Path) -> None:
    assert validate_fmu(str(lag_fmu)) == []


@pytest.mark.parametrize("tau", [TAU, 0.2])
def test_step_response_is_exact(lag_fmu: Path, tau: float) -> None:
    res = simulate_fmu(
        str(lag_fmu), stop_time=2.0, output_interval=0.01, input=_step_input(), start_values={"tau": tau}
    )
    assert len(res) == 201
    np.testing.assert_allclose(res["y"], 1.0 - np.exp(-res["time"] / tau), rtol=0, atol=1e-9)


def test_runs_isolated(lag_fmu: Path) -> None:
    res = simulate_isolated(lag_fmu, stop_time=2.0, step_size=0.01, inputs=_step_input(), timeout=30.0)
    ref = simulate_fmu(str(lag_fmu), stop_time=2.0, output_interval=0.01, input=_step_input())
    assert np.array_equal(res.values, ref)
    assert res.model_name == "FirstOrderLag"
    assert res.units == {"y": "1"}
    np.testing.assert_allclose(res["y"], 1.0 - np.exp(-res.time / TAU), rtol=0, atol=1e-9)
