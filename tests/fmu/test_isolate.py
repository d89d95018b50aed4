"""simulate_isolated: results identical to in-process fmpy, and hangs, FMI errors and crashes stay in the child."""

from __future__ import annotations

import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fmpy import simulate_fmu

from phystwin.fmu.archive import sha256_file
from phystwin.fmu.errors import FMUError, FMUTimeout
from phystwin.fmu.isolate import IsolatedRunError, IsolatedTimeoutError, simulate_isolated

HANG, FATAL = 5, 3


def _replace_binary(fmu: Path, dest: Path, payload: bytes) -> Path:
    """A copy of ``fmu`` whose ``binaries/linux64/*.so`` holds ``payload``."""
    with zipfile.ZipFile(fmu) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("binaries/linux64/") and info.filename.endswith(".so"):
                data = payload
            dst.writestr(info, data)
    return dest


@pytest.mark.parametrize("fmi_type", ["CoSimulation", "ModelExchange"])
def test_isolated_run_matches_in_process_run_exactly(thermal_rc_fmu: Path, fmi_type: str) -> None:
    res = simulate_isolated(thermal_rc_fmu, stop_time=2.0, step_size=0.01, fmi_type=fmi_type)  # type: ignore[arg-type]
    # fmpy steps a co-simulation with its output_interval; simulate_isolated passes step_size as that
    step = {"output_interval": 0.01} if fmi_type == "CoSimulation" else {"step_size": 0.01}
    ref = simulate_fmu(str(thermal_rc_fmu), stop_time=2.0, fmi_type=fmi_type, **step)
    assert res.values.dtype == ref.dtype
    assert np.array_equal(res.values, ref)
    assert len(res.time) == 201
    assert res.model_name == "thermal_rc"
    assert res.sha256 == sha256_file(thermal_rc_fmu)
    assert res.units == {"T1_out": "K", "T2_out": "K", "Q_amb": "W"}
    assert np.array_equal(res["T1_out"], ref["T1_out"])
    assert set(res.outputs) == {"T1_out", "T2_out", "Q_amb"}
    assert 0 < res.simulate_time < res.wall_time


def test_inputs_as_dict_match_in_process_run(fault_injector_fmu: Path) -> None:
    t = np.array([0.0, 0.5, 0.5, 1.0])
    u = np.array([0.0, 0.0, 2.0, 2.0])
    res = simulate_isolated(
        fault_injector_fmu, stop_time=1.0, step_size=0.01, inputs={"time": t, "u": u}, output=["y", "u"]
    )
    signal = np.array(list(zip(t, u, strict=True)), dtype=[("time", float), ("u", float)])
    ref = simulate_fmu(str(fault_injector_fmu), stop_time=1.0, output_interval=0.01, input=signal, output=["y", "u"])
    assert np.array_equal(res.values, ref)
    assert res.units == {"y": "1", "u": "1"}
    assert 0.5 < res["y"][-1] < 2.0  # the lag follows the input step to 2


def test_hang_is_killed_at_the_timeout_and_the_caller_goes_on(fault_injector_fmu: Path, thermal_rc_fmu: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(IsolatedTimeoutError) as info:
        simulate_isolated(
            fault_injector_fmu,
            stop_time=1.0,
            step_size=0.01,
            start_values={"fault_mode": HANG, "fault_time": 0.1},
            timeout=3.0,
        )
    elapsed = time.monotonic() - t0
    assert 3.0 <= elapsed < 6.0
    err = info.value
    assert isinstance(err, FMUTimeout)
    sha = sha256_file(fault_injector_fmu)
    assert str(err).startswith(
        f"FMU fault_injector (sha256 {sha[:16]}...) did not finish within 3 s of wall time; "
        "the isolated process was killed"
    )
    assert "injected hang at t = 0.1" in err.log_tail
    assert err.sha256 == sha
    assert err.timeout == 3.0
    res = simulate_isolated(thermal_rc_fmu, stop_time=1.0, step_size=0.1, timeout=30.0)
    assert len(res.time) == 11


def test_fatal_status_is_a_clear_error(fault_injector_fmu: Path) -> None:
    with pytest.raises(IsolatedRunError) as info:
        simulate_isolated(
            fault_injector_fmu, stop_time=1.0, step_size=0.01, start_values={"fault_mode": FATAL, "fault_time": 0.1}
        )
    err = info.value
    assert isinstance(err, FMUError)
    assert not isinstance(err, FMUTimeout)
    assert err.fmu == "fault_injector"
    assert (err.function, err.status, err.returncode) == ("fmi2DoStep", 4, 3)
    msg = str(err)
    assert msg.startswith("FMU fault_injector (sha256 ")
    assert "failed in the isolated process (exit code 3): FMICallException: fmi2DoStep failed with status 4" in msg
    assert "injected fmi2Fatal at t = 0.1" in msg


def test_corrupted_binary_is_a_clear_load_error(thermal_rc_fmu: Path, tmp_path: Path) -> None:
    payload = np.random.default_rng(0).bytes(4096)
    bad = _replace_binary(thermal_rc_fmu, tmp_path / "thermal_rc_corrupt.fmu", payload)
    with pytest.raises(IsolatedRunError) as info:
        simulate_isolated(bad, stop_time=1.0, step_size=0.1)
    err = info.value
    assert err.fmu == "thermal_rc"
    assert err.returncode == 3
    assert err.sha256 == sha256_file(bad)
    assert "binaries/linux64/thermal_rc.so: invalid ELF header" in str(err)


def test_segfault_in_the_binary_is_reported_with_the_signal(thermal_rc_fmu: Path, tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc is not None  # the session fixtures need it too
    src = tmp_path / "crash.c"
    src.write_text("#include <signal.h>\n__attribute__((constructor)) static void crash(void) { raise(SIGSEGV); }\n")
    so = tmp_path / "crash.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(so), str(src)], check=True, capture_output=True)
    bad = _replace_binary(thermal_rc_fmu, tmp_path / "thermal_rc_segv.fmu", so.read_bytes())
    with pytest.raises(IsolatedRunError, match=r"^FMU thermal_rc \(sha256 [0-9a-f]{16}\.\.\.\) failed in the isol"):
        simulate_isolated(bad, stop_time=1.0, step_size=0.1)
    with pytest.raises(IsolatedRunError, match=r"killed by SIGSEGV \(exit code -11\)") as info:
        simulate_isolated(bad, stop_time=1.0, step_size=0.1)
    assert info.value.returncode == -11


def test_memory_limit(thermal_rc_fmu: Path) -> None:
    with pytest.raises(IsolatedRunError, match="memory limit of 60 MiB"):
        simulate_isolated(thermal_rc_fmu, stop_time=1.0, step_size=0.1, memory_limit_mb=60)
    res = simulate_isolated(thermal_rc_fmu, stop_time=1.0, step_size=0.1, memory_limit_mb=4096)
    assert len(res.time) == 11


def test_arguments_are_checked_before_a_process_starts(thermal_rc_fmu: Path, fault_injector_fmu: Path) -> None:
    with pytest.raises(ValueError, match="fmi_type: expected 'CoSimulation' or 'ModelExchange', got 'CS'"):
        simulate_isolated(thermal_rc_fmu, stop_time=1.0, fmi_type="CS")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout: expected a finite number of seconds > 0"):
        simulate_isolated(thermal_rc_fmu, stop_time=1.0, timeout=0)
    with pytest.raises(ValueError, match=r"start_values: FMU thermal_rc .* has no variable 'nope'"):
        simulate_isolated(thermal_rc_fmu, stop_time=1.0, start_values={"nope": 1.0})
    with pytest.raises(ValueError, match=r"output: FMU thermal_rc .* has no variable 'nope'"):
        simulate_isolated(thermal_rc_fmu, stop_time=1.0, output=["nope"])
    with pytest.raises(ValueError, match=r"inputs: FMU fault_injector .* has no input 'y' \(inputs: u\)"):
        simulate_isolated(fault_injector_fmu, stop_time=1.0, inputs={"time": [0.0, 1.0], "y": [0.0, 1.0]})
    with pytest.raises(ValueError, match="inputs: the dict needs a 'time' entry"):
        simulate_isolated(fault_injector_fmu, stop_time=1.0, inputs={"u": [0.0, 1.0]})


def test_run_check_reports_non_finite_and_out_of_range_outputs(
    fault_injector_fmu: Path, pwm_heater_fmu: Path, bouncing_ball_fmu: Path
) -> None:
    """QUALITY 'run to completion': every output finite and inside its declared [min, max], or the result
    says which, when and by how much."""
    clean = simulate_isolated(bouncing_ball_fmu, stop_time=2.0, step_size=0.01)
    assert clean.problems == ()
    nan = simulate_isolated(fault_injector_fmu, stop_time=2.0, step_size=0.01, start_values={"fault_mode": 4})
    (problem,) = nan.problems
    assert problem.startswith("y is nan at t = 1 s")
    # 5 kW with the cutout set above the rating: T passes the declared max of 423.15 K
    hot = simulate_isolated(
        pwm_heater_fmu,
        stop_time=60.0,
        step_size=0.1,
        fmi_type="ModelExchange",
        start_values={"P": 5000.0, "T_max": 1000.0},
    )
    (problem,) = hot.problems
    assert problem.startswith("T = ") and "outside its declared max = 423.15 K" in problem
    t_first = float(problem.split(" at t = ")[1].split(" s")[0])
    k = int(np.argmax(hot["T"] > 423.15))  # the first sample above the rating
    assert k > 0 and hot.time[k] == pytest.approx(t_first, rel=1e-8)
