"""The bundled C test FMUs: built with gcc, validated by fmpy, simulated against analytic / scipy references."""

from __future__ import annotations

import ctypes
import itertools
import math
import multiprocessing
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fmpy import extract, read_model_description, simulate_fmu
from fmpy.fmi1 import FMICallException
from fmpy.fmi2 import FMU2Model, FMU2Slave, fmi2LastSuccessfulTime
from fmpy.validation import validate_fmu
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from phystwin.fmu.build import FmuBuildError, build_fmu, bundled_models

FMI2_OK, FMI2_DISCARD, FMI2_ERROR, FMI2_FATAL = 0, 2, 3, 4
# fault_injector value references (see fault_injector.c)
FI_X, FI_DER_X, FI_U, FI_Y, FI_FAULT_TIME = 0, 1, 2, 3, 4
FI_FAULT_MODE = 0


# ---------------------------------------------------------------- building and caching


def test_bundled_models() -> None:
    assert bundled_models() == ("bouncing_ball", "dc_load", "fault_injector", "pwm_heater", "thermal_rc")


def test_second_build_hits_cache(tmp_path: Path) -> None:
    first = build_fmu("fault_injector", cache_dir=tmp_path)
    mtime = first.stat().st_mtime_ns
    second = build_fmu("fault_injector", cache_dir=tmp_path)
    assert second == first
    assert second.stat().st_mtime_ns == mtime  # not rewritten, so gcc did not run again
    # the atomic build leaves nothing behind but the archive itself
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYSTWIN_FMU_CACHE", str(tmp_path / "env-cache"))
    path = build_fmu("thermal_rc")
    assert path.parent == tmp_path / "env-cache"


@pytest.mark.parametrize(("fmi_version", "platform"), [("2.0", "linux64"), ("3.0", "x86_64-linux")])
def test_archive_layout(fmu_cache_dir: Path, fmi_version: str, platform: str) -> None:
    path = build_fmu("thermal_rc", fmi_version, cache_dir=fmu_cache_dir)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert {"modelDescription.xml", f"binaries/{platform}/thermal_rc.so", "sources/thermal_rc_equations.h"} <= names
    assert any(n.startswith("sources/") and n.endswith(".c") for n in names)


def test_unknown_model_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(FmuBuildError, match=r"unknown model 'motor'.*bouncing_ball, dc_load, fault_injector"):
        build_fmu("motor", cache_dir=tmp_path)


def test_unsupported_fmi_variant(tmp_path: Path) -> None:
    with pytest.raises(
        FmuBuildError, match=r"no FMI 3\.0 variant; models with one: bouncing_ball, pwm_heater, thermal_rc"
    ):
        build_fmu("dc_load", "3.0", cache_dir=tmp_path)
    with pytest.raises(FmuBuildError, match=r"unsupported FMI version '1\.0'"):
        build_fmu("dc_load", "1.0", cache_dir=tmp_path)


def test_missing_gcc_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no compiler anywhere on PATH
    with pytest.raises(FmuBuildError, match="gcc was not found on PATH"):
        build_fmu("dc_load", cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "fmi_version"),
    [
        ("dc_load", "2.0"),
        ("thermal_rc", "2.0"),
        ("bouncing_ball", "2.0"),
        ("fault_injector", "2.0"),
        ("pwm_heater", "2.0"),
        ("thermal_rc", "3.0"),
        ("bouncing_ball", "3.0"),
        ("pwm_heater", "3.0"),
    ],
)
def test_validate_fmu_finds_no_problems(fmu_cache_dir: Path, name: str, fmi_version: str) -> None:
    path = build_fmu(name, fmi_version, cache_dir=fmu_cache_dir)
    assert validate_fmu(str(path)) == []
    md = read_model_description(str(path))
    assert md.modelExchange is not None
    assert (md.coSimulation is None) == (name == "pwm_heater")  # the PWM heater is model exchange only
    # every Real carries an SI unit from <UnitDefinitions>
    assert all(v.unit for v in md.modelVariables if v.type in ("Real", "Float64"))


# ---------------------------------------------------------------- simulation against references

THERMAL = {"C1": 100.0, "C2": 400.0, "G12": 2.0, "G2a": 0.5, "Q_in": 10.0, "T_amb": 298.15}


def _thermal_reference(t: np.ndarray, T1_0: float, T2_0: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form solution of the linear two-node network under constant inputs [K]."""
    p = THERMAL
    A = np.array([[-p["G12"] / p["C1"], p["G12"] / p["C1"]], [p["G12"] / p["C2"], -(p["G12"] + p["G2a"]) / p["C2"]]])
    b = np.array([p["Q_in"] / p["C1"], p["G2a"] * p["T_amb"] / p["C2"]])
    x_ss = -np.linalg.solve(A, b)
    x = np.array([x_ss + expm(A * ti) @ (np.array([T1_0, T2_0]) - x_ss) for ti in t])
    return x[:, 0], x[:, 1]


@pytest.mark.parametrize("fmi_type", ["ModelExchange", "CoSimulation"])
def test_thermal_rc_matches_analytic_solution(thermal_rc_fmu: Path, fmi_type: str) -> None:
    res = simulate_fmu(
        str(thermal_rc_fmu),
        fmi_type=fmi_type,
        stop_time=600.0,
        output_interval=2.0,
        relative_tolerance=1e-10,
        start_values={"Q_in": THERMAL["Q_in"], "T1": 350.0},
    )
    T1, T2 = _thermal_reference(res["time"], 350.0, 298.15)
    # CVode at rtol 1e-10 versus the fixed 1 ms RK4 of the co-simulation interface [K]
    tol = 5e-6 if fmi_type == "ModelExchange" else 1e-8
    assert np.max(np.abs(res["T1_out"] - T1)) < tol
    assert np.max(np.abs(res["T2_out"] - T2)) < tol
    np.testing.assert_allclose(res["Q_amb"], THERMAL["G2a"] * (T2 - THERMAL["T_amb"]), rtol=0, atol=tol)


def _dc_load_reference(t: np.ndarray, w_in: float, tau_ext: float) -> tuple[np.ndarray, np.ndarray]:
    """Tight scipy solve of the coupling / load ODE; returns shaft torque [N.m] and load speed [rad/s]."""
    k_c, d_c, J_l, b_l = 50.0, 0.05, 2e-3, 1e-3

    def rhs(_t: float, y: np.ndarray) -> list[float]:
        phi_c, w_l = y
        tau = k_c * phi_c + d_c * (w_in - w_l)
        return [w_in - w_l, (tau - b_l * w_l - tau_ext) / J_l]

    sol = solve_ivp(rhs, (0.0, float(t[-1])), [0.0, 0.0], method="DOP853", t_eval=t, rtol=1e-12, atol=1e-12)
    phi_c, w_l = sol.y
    return k_c * phi_c + d_c * (w_in - w_l), w_l


@pytest.mark.parametrize("fmi_type", ["ModelExchange", "CoSimulation"])
def test_dc_load_matches_scipy(dc_load_fmu: Path, fmi_type: str) -> None:
    res = simulate_fmu(
        str(dc_load_fmu),
        fmi_type=fmi_type,
        stop_time=0.5,
        output_interval=1e-3,
        relative_tolerance=1e-10,
        start_values={"w_in": 100.0, "tau_ext": 0.5},
    )
    tau, w_l = _dc_load_reference(res["time"], 100.0, 0.5)
    assert np.max(np.abs(res["w_load"] - w_l)) < 1e-5  # [rad/s], against a 100 rad/s drive
    assert np.max(np.abs(res["tau"] - tau)) < 5e-6  # [N.m], against a peak of ~29 N.m


@pytest.mark.parametrize("fmi_version", ["2.0", "3.0"])
@pytest.mark.parametrize("fmi_type", ["ModelExchange", "CoSimulation"])
def test_bouncing_ball_bounces_and_comes_to_rest(fmu_cache_dir: Path, fmi_type: str, fmi_version: str) -> None:
    g, e = 9.81, 0.8
    path = build_fmu("bouncing_ball", fmi_version, cache_dir=fmu_cache_dir)
    res = simulate_fmu(str(path), fmi_type=fmi_type, stop_time=5.0, output_interval=2e-4)
    t, h, v = res["time"], res["h"], res["v"]
    assert h.min() >= -1e-6
    # first impact: the first sample moving upwards lies at most one output interval after it
    t_up = t[np.argmax(v > 0.0)]
    assert abs(t_up - math.sqrt(2.0 / g)) < 1e-3
    # apexes are where v turns from up to down; each is e^2 times the previous one (start height 1 m)
    apex = [h[i] for i in np.flatnonzero((v[:-1] > 0.0) & (v[1:] <= 0.0))]
    heights = [1.0, *apex[:4]]
    assert len(heights) == 5
    for prev, nxt in itertools.pairwise(heights):
        assert nxt / prev == pytest.approx(e**2, rel=2e-3)
    # finite rest instead of Zeno chattering: total bounce time is sqrt(2/g) (1 + 2e/(1-e)) ~= 4.06 s
    assert bool(res["resting"][-1])
    assert h[-1] == 0.0 and v[-1] == 0.0


def test_fmi3_thermal_rc_matches_fmi2(thermal_rc_fmu: Path, thermal_rc_fmi3_fmu: Path) -> None:
    kwargs = {"stop_time": 300.0, "output_interval": 1.0, "start_values": {"Q_in": 10.0, "T1": 350.0}}
    for fmi_type in ("ModelExchange", "CoSimulation"):
        r2 = simulate_fmu(str(thermal_rc_fmu), fmi_type=fmi_type, relative_tolerance=1e-10, **kwargs)
        r3 = simulate_fmu(str(thermal_rc_fmi3_fmu), fmi_type=fmi_type, relative_tolerance=1e-10, **kwargs)
        np.testing.assert_allclose(r3["time"], r2["time"])
        for name in ("T1_out", "T2_out", "Q_amb"):
            np.testing.assert_allclose(r3[name], r2[name], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- direct FMI calls


def _open(path: Path, unzip_to: Path, cls: type[FMU2Slave] | type[FMU2Model]) -> FMU2Slave | FMU2Model:
    md = read_model_description(str(path))
    unzipdir = extract(str(path), unzipdir=str(unzip_to))
    return cls(
        guid=md.guid,
        unzipDirectory=unzipdir,
        modelIdentifier=md.coSimulation.modelIdentifier,
        instanceName="under_test",
    )


def _slave(path: Path, unzip_to: Path, mode: int = 0, fault_time: float = 1.0) -> FMU2Slave:
    fmu = _open(path, unzip_to, FMU2Slave)
    fmu.instantiate()
    fmu.setInteger([FI_FAULT_MODE], [mode])
    fmu.setReal([FI_FAULT_TIME, FI_U], [fault_time, 1.0])
    fmu.setupExperiment(startTime=0.0)
    fmu.enterInitializationMode()
    fmu.exitInitializationMode()
    return fmu


def _model(path: Path, unzip_to: Path, mode: int = 0, fault_time: float = 1.0) -> FMU2Model:
    fmu = _open(path, unzip_to, FMU2Model)
    fmu.instantiate()
    fmu.setInteger([FI_FAULT_MODE], [mode])
    fmu.setReal([FI_FAULT_TIME, FI_U], [fault_time, 1.0])
    fmu.setupExperiment(startTime=0.0)
    fmu.enterInitializationMode()
    fmu.exitInitializationMode()
    fmu.newDiscreteStates()
    fmu.enterContinuousTimeMode()
    return fmu


@pytest.mark.parametrize(("mode", "status"), [(1, FMI2_DISCARD), (2, FMI2_ERROR), (3, FMI2_FATAL)])
def test_fault_status_from_do_step(fault_injector_fmu: Path, tmp_path: Path, mode: int, status: int) -> None:
    fmu = _slave(fault_injector_fmu, tmp_path, mode)
    t = 0.0
    for _ in range(9):  # healthy until the step that reaches fault_time = 1 s
        fmu.doStep(t, 0.1)
        t += 0.1
    y_before = fmu.getReal([FI_Y])[0]
    assert y_before == pytest.approx(1.0 - math.exp(-t), abs=1e-9)
    with pytest.raises(FMICallException) as err:
        fmu.doStep(t, 0.1)
    assert err.value.status == status
    if mode == 1:
        # a discarded step leaves the FMU where it was and says so
        assert fmu.getRealStatus(fmi2LastSuccessfulTime) == pytest.approx(t)
        assert fmu.getReal([FI_Y])[0] == y_before
    if mode == 3:
        # after fmi2Fatal every call is refused
        with pytest.raises(FMICallException) as later:
            fmu.getReal([FI_Y])
        assert later.value.status == FMI2_ERROR
    fmu.freeInstance()


def test_fault_nan_outputs(fault_injector_fmu: Path, tmp_path: Path) -> None:
    fmu = _slave(fault_injector_fmu, tmp_path, mode=4)
    fmu.doStep(0.0, 0.5)
    assert np.isfinite(fmu.getReal([FI_Y])[0])
    fmu.doStep(0.5, 0.5)  # status OK, but the numbers are garbage
    assert math.isnan(fmu.getReal([FI_Y])[0])
    fmu.terminate()
    fmu.freeInstance()


@pytest.mark.parametrize(("mode", "status"), [(1, FMI2_DISCARD), (2, FMI2_ERROR), (3, FMI2_FATAL), (4, FMI2_OK)])
def test_fault_status_from_get_derivatives(fault_injector_fmu: Path, tmp_path: Path, mode: int, status: int) -> None:
    fmu = _model(fault_injector_fmu, tmp_path, mode)
    dx = (ctypes.c_double * 1)()
    fmu.setTime(0.5)
    fmu.getDerivatives(dx, 1)
    assert dx[0] == pytest.approx(1.0)  # -x + u with x = 0, u = 1
    fmu.setTime(1.0)
    if status == FMI2_OK:
        fmu.getDerivatives(dx, 1)
        assert math.isnan(dx[0])
    else:
        with pytest.raises(FMICallException) as err:
            fmu.getDerivatives(dx, 1)
        assert err.value.status == status
    fmu.freeInstance()


def _hang_child(fmu_path: str, unzip_to: str, fmi_type: str, ready: multiprocessing.synchronize.Event) -> None:
    if fmi_type == "CoSimulation":
        slave = _slave(Path(fmu_path), Path(unzip_to), mode=5, fault_time=0.5)
        ready.set()
        slave.doStep(0.0, 1.0)
    else:
        model = _model(Path(fmu_path), Path(unzip_to), mode=5, fault_time=0.5)
        model.setTime(1.0)
        ready.set()
        model.getDerivatives((ctypes.c_double * 1)(), 1)


def test_fault_hang_must_be_killed(fault_injector_fmu: Path, tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    children = []
    for fmi_type in ("CoSimulation", "ModelExchange"):
        ready = ctx.Event()
        proc = ctx.Process(
            target=_hang_child, args=(str(fault_injector_fmu), str(tmp_path / fmi_type), fmi_type, ready), daemon=True
        )
        proc.start()
        children.append((fmi_type, proc, ready))
    try:
        for fmi_type, _proc, ready in children:
            # the child needs a moment to import fmpy and load the FMU; only the FMI call itself must hang
            assert ready.wait(timeout=60.0), f"{fmi_type} child never reached the hanging call"
        deadline = time.monotonic() + 5.0
        for fmi_type, proc, _ in children:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            assert proc.is_alive(), f"{fmi_type}: the hanging call returned (exit code {proc.exitcode})"
    finally:
        for _, proc, _ in children:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=10.0)


@pytest.mark.parametrize("name", ["dc_load", "thermal_rc", "bouncing_ball", "fault_injector"])
def test_fmu_state_save_restore_and_serialize(built_fmus: dict[str, Path], tmp_path: Path, name: str) -> None:
    path = built_fmus[name]
    md = read_model_description(str(path))
    vrs = [v.valueReference for v in md.modelVariables if v.type == "Real"]
    fmu = _open(path, tmp_path, FMU2Slave)
    fmu.instantiate()
    fmu.setupExperiment(startTime=0.0)
    fmu.enterInitializationMode()
    fmu.exitInitializationMode()
    fmu.doStep(0.0, 0.3)
    state = fmu.getFMUstate()
    fmu.doStep(0.3, 0.2)
    after = fmu.getReal(vrs)
    # restoring replays the step bit for bit, also through a serialised copy
    fmu.setFMUstate(state)
    fmu.doStep(0.3, 0.2)
    assert fmu.getReal(vrs) == after
    restored = fmu.deSerializeFMUstate(fmu.serializeFMUstate(state))
    fmu.setFMUstate(restored)
    fmu.doStep(0.3, 0.2)
    assert fmu.getReal(vrs) == after
    fmu.freeFMUstate(state)
    fmu.freeFMUstate(restored)
    fmu.terminate()
    fmu.freeInstance()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_instantiate_free_cycles_do_not_leak(thermal_rc_fmu: Path, tmp_path: Path) -> None:
    fmu = _open(thermal_rc_fmu, tmp_path, FMU2Model)  # loads the shared library once

    def cycle() -> None:
        fmu.instantiate()
        fmu.setupExperiment(startTime=0.0)
        fmu.enterInitializationMode()
        fmu.exitInitializationMode()
        state = fmu.getFMUstate()
        fmu.freeFMUstate(state)
        fmu.terminate()
        # the raw call: FMU2Model.freeInstance would also unload the library
        fmu.fmi2FreeInstance(fmu.component)

    for _ in range(50):
        cycle()
    before = _rss_bytes()
    for _ in range(2000):
        cycle()
    assert _rss_bytes() - before < 20 * 1024 * 1024
    fmu.freeLibrary()
    shutil.rmtree(tmp_path, ignore_errors=True)
