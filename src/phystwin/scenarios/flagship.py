r"""The flagship estimation scenario: a DC motor whose winding temperature nobody measures.

Truth: the ``dc_motor`` twin with a varied duty cycle (voltage and load-torque steps repeated every
600 s) and a cooling fault: at ``fault_time`` the housing-to-ambient convection coefficient ``h``
drops from ``h_true`` to ``h_fault`` (a failed fan), so the housing-to-ambient thermal resistance
:math:`R_{ha} = 1 / (h A)` rises by the same factor.

Sensors (seeded generator, :func:`~phystwin.estimation.measurements.generate`): armature current and
encoder speed at 1 kHz, housing temperature at 1 Hz with 0.5 K noise. No winding temperature sensor.
The commanded voltage, the load-machine torque command and the ambient temperature are known inputs.

Twin: the same model compiled with ``housing_convection.h`` as a random-walk state (joint state and
parameter estimation), a UKF with sigma points propagated through the compiled RK4 solver, run over
the whole record in one compiled call (:func:`~phystwin.estimation.batch.filter_run`).

Why the winding temperature is observable: it sets the armature resistance
:math:`R(T_w) = R_{ref}(1 + \alpha (T_w - T_{ref}))`, which the 1 kHz current and speed see through
:math:`L\,di/dt = V - R(T_w) i - k\omega`; and the thermal network ties it to the measured housing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from phystwin.core.model import Model
from phystwin.core.options import Rodas
from phystwin.core.simulation import simulate
from phystwin.core.trajectory import Trajectory
from phystwin.estimation.batch import RunResult, filter_run, stream_table
from phystwin.estimation.consistency import chi2_bounds
from phystwin.estimation.filters import UnscentedKalmanFilter
from phystwin.estimation.measurements import SensorSpec, generate_streams
from phystwin.estimation.types import GaussianState

__all__ = ["FlagshipResult", "FlagshipScenario", "duty_cycle", "run_flagship"]

H_NAME = "housing_convection.h"
AREA_NAME = "housing_convection.A"
OUTPUTS = ("current", "speed", "housing_temperature")

# one 600 s period of the duty cycle (as in examples/dc_motor.toml)
_VOLT_T = (0.0, 60.0, 150.0, 240.0, 300.0, 420.0, 510.0)
_VOLT_V = (24.0, 12.0, 24.0, 0.0, 18.0, 24.0, 6.0)
_LOAD_T = (0.0, 30.0, 120.0, 200.0, 330.0, 400.0, 480.0, 560.0)
_LOAD_V = (0.1, 0.35, 0.2, 0.45, 0.3, 0.05, 0.4, 0.15)


def duty_cycle(duration: float, period: float = 600.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Held voltage [V] and load torque [N*m] tables repeating every ``period`` [s] up to ``duration``."""
    reps = math.ceil(duration / period)

    def tile(ts: tuple[float, ...], vs: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
        t = np.concatenate([np.asarray(ts) + r * period for r in range(reps)])
        return t, np.tile(np.asarray(vs), reps)

    return {"voltage": tile(_VOLT_T, _VOLT_V), "load_torque": tile(_LOAD_T, _LOAD_V)}


@dataclass(frozen=True)
class FlagshipScenario:
    """Settings of the scenario (SI units); the defaults are the issue's scenario."""

    duration: float = 1800.0
    fault_time: float = 900.0
    h_true: float = 25.0
    """Convection coefficient before the fault [W/(m2*K)] (the twin's nominal value)."""
    h_fault: float = 12.5
    """After the fault: R_ha doubles [W/(m2*K)]."""
    h_prior: float = 20.0
    """The twin's initial guess [W/(m2*K)] (20 % off)."""
    h_prior_sd: float = 5.0
    temperature_prior_error: float = 3.0
    """The twin starts this much [K] above the true winding, stator and housing temperatures."""
    ambient: float = 298.15
    rate_fast: float = 1000.0
    rate_housing: float = 1.0
    current_sd: float = 0.05
    speed_sd: float = 0.2
    housing_sd: float = 0.5
    seed: int = 1
    q_h: float = 2e-3
    """Random-walk spectral density of ``h`` [(W/(m2*K))^2/s]."""
    qc: tuple[float, ...] = (1e-4, 1e-8, 1e-3, 1e-6, 1e-6, 1e-6)
    """Process-noise spectral densities of the physical states [unit^2/s]."""
    nis_after_fault_delay: float = 300.0
    """NIS consistency after the fault is judged from this long [s] after it (the transient while
    the estimate of ``h`` moves is, by design, not consistent)."""


@dataclass(frozen=True, eq=False)
class FlagshipResult:
    """Truth, measurements, estimates and the scenario's figures of merit."""

    scenario: FlagshipScenario
    truth: Trajectory
    run: RunResult
    h_truth: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)


def _truth(model: Model, sc: FlagshipScenario, t: np.ndarray) -> Trajectory:
    inputs: dict[str, Any] = {**duty_cycle(sc.duration), "ambient_temperature": sc.ambient}
    x0 = {"winding.T": sc.ambient, "stator.T": sc.ambient, "housing.T": sc.ambient}
    solver = Rodas(rtol=1e-8, atol=1e-10)
    before = t[t <= sc.fault_time]
    a = simulate(model, (0.0, sc.fault_time), inputs=inputs, params={H_NAME: sc.h_true}, x0=x0, solver=solver,
                 save=before)  # fmt: skip
    after = t[t >= sc.fault_time]
    b = simulate(model, (sc.fault_time, sc.duration), inputs=inputs, params={H_NAME: sc.h_fault}, x0=a.x[-1],
                 solver=solver, save=after)  # fmt: skip
    skip = 1 if after[0] == before[-1] else 0
    return Trajectory(
        t=np.concatenate([a.t, b.t[skip:]]),
        x=np.concatenate([a.x, b.x[skip:]]),
        y=np.concatenate([a.y, b.y[skip:]]),
        u=np.concatenate([a.u, b.u[skip:]]),
        layout=a.layout,
    )


def _nis_windows(res: RunResult, g: int, start: float, stop: float, window: float) -> tuple[float, int]:
    """Fraction of ``window``-long windows in ``[start, stop)`` whose mean NIS of sensor ``g`` lies
    inside its two-sided 95 % chi-square band, and the number of windows."""
    dof = len(res.sensor_rows[g])
    inside = total = 0
    for w0 in np.arange(start, stop - window + 1e-9, window):
        sel = (res.t >= w0) & (res.t < w0 + window) & np.isfinite(res.nis[:, g])
        N = int(np.count_nonzero(sel))
        if N == 0:
            continue
        lo, hi = chi2_bounds(dof, 0.05, runs=N)
        total += 1
        inside += int(lo <= float(np.mean(res.nis[sel, g])) <= hi)
    return (inside / total if total else math.nan), total


def run_flagship(
    sc: FlagshipScenario | None = None, *, model: Model | None = None, twin: Model | None = None
) -> FlagshipResult:
    """Simulate the truth, generate the sensor streams, filter them and score the result.

    ``model`` (the plain dc_motor) and ``twin`` (compiled with ``h`` estimated) may be passed to
    share compiled models; they are built when omitted.
    """
    sc = sc or FlagshipScenario()
    if model is None or twin is None:
        from phystwin.physics.twins import dc_motor

        system = dc_motor.build()
        model = model or system.compile()
        twin = twin or system.compile(estimated_parameters=[H_NAME])
    n_fast = round(sc.duration * sc.rate_fast)
    t = np.arange(1, n_fast + 1) / sc.rate_fast
    truth = _truth(model, sc, t)
    sensors = [
        SensorSpec("current", "current", "A", sc.rate_fast, noise_std=sc.current_sd),
        SensorSpec("speed", "speed", "rad/s", sc.rate_fast, noise_std=sc.speed_sd),
        SensorSpec("housing_temperature", "housing_temperature", "K", sc.rate_housing, noise_std=sc.housing_sd,
                   phase=1.0 / sc.rate_housing - 1.0 / sc.rate_fast),
    ]  # fmt: skip
    _, streams = generate_streams(truth, sensors, seed=sc.seed)
    times, Z, _ = stream_table(streams, OUTPUTS)
    rows = np.minimum(np.searchsorted(truth.t, times - 1e-7), truth.t.shape[0] - 1)
    U = truth.u[rows]
    R = np.diag([sc.current_sd**2, sc.speed_sd**2, sc.housing_sd**2])
    ukf = UnscentedKalmanFilter(twin, OUTPUTS, R, Qc=np.diag([*sc.qc, sc.q_h]), solver_dt=1.0 / sc.rate_fast)
    x0 = np.array([0.0, 0.0, 0.0, *([sc.ambient + sc.temperature_prior_error] * 3), sc.h_prior])
    P0 = np.diag([0.1, 1e-4, 1.0, 25.0, 25.0, 25.0, sc.h_prior_sd**2])
    sensor_groups = {"drive": ("current", "speed"), "housing": ("housing_temperature",)}
    res = filter_run(ukf, GaussianState(0.0, x0, P0), times, Z, U, sensors=sensor_groups)
    h_truth = np.where(res.t < sc.fault_time, sc.h_true, sc.h_fault)
    return FlagshipResult(sc, truth, res, h_truth, _metrics(sc, truth, res, model))


def _metrics(sc: FlagshipScenario, truth: Trajectory, res: RunResult, model: Model) -> dict[str, float]:
    tw = np.interp(res.t, truth.t, truth["winding.T"])
    k_w = res.states.index("winding.T")
    k_h = res.states.index(H_NAME)
    area = float(model.parameters(None)[model.layout._param_slices[AREA_NAME]][0])
    after60 = res.t >= min(60.0, 0.5 * sc.duration)
    err_w = res.x[after60, k_w] - tw[after60]
    R_true_after = 1.0 / (sc.h_fault * area)
    R_est = 1.0 / (res.x[:, k_h] * area)
    rel = np.abs(R_est / R_true_after - 1.0)
    post = res.t >= sc.fault_time
    bad = np.flatnonzero(post & (rel > 0.05))
    settle = (res.t[bad[-1]] if bad.size else sc.fault_time) - sc.fault_time
    i10 = min(int(np.searchsorted(res.t, sc.fault_time + 600.0)), res.t.size - 1)
    settled = sc.fault_time + sc.nis_after_fault_delay
    pre_frac, pre_n = _nis_windows(res, 0, 60.0, sc.fault_time, 60.0)
    post_frac, post_n = _nis_windows(res, 0, settled, sc.duration, 60.0)
    hpre_frac, _ = _nis_windows(res, 1, 60.0, sc.fault_time, 120.0)
    hpost_frac, _ = _nis_windows(res, 1, settled, sc.duration, 120.0)
    return {
        "winding_rmse_after_60s_K": float(np.sqrt(np.mean(err_w**2))),
        "winding_max_abs_error_after_60s_K": float(np.max(np.abs(err_w), initial=0.0)),
        "winding_error_within_3sd_fraction": float(np.mean(np.abs(err_w) <= 3 * res.sd[after60, k_w])),
        "R_ha_true_after_fault_K_per_W": R_true_after,
        "R_ha_estimate_10min_after_fault_K_per_W": float(R_est[i10]),
        "R_ha_rel_error_10min_after_fault": float(rel[i10]),
        "R_ha_settling_time_within_5pct_s": float(settle),
        "R_ha_rel_error_before_fault": float(abs(R_est[res.t < sc.fault_time][-1] * sc.h_true * area - 1.0)),
        "nis_drive_windows_in_band_before_fault": pre_frac,
        "nis_drive_windows_in_band_after_fault": post_frac,
        "nis_drive_windows_before_fault": float(pre_n),
        "nis_drive_windows_after_fault": float(post_n),
        "nis_housing_windows_in_band_before_fault": hpre_frac,
        "nis_housing_windows_in_band_after_fault": hpost_frac,
        "nis_drive_mean": float(np.nanmean(res.nis[:, 0])),
        "nis_housing_mean": float(np.nanmean(res.nis[:, 1])),
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m phystwin.scenarios.flagship [--duration S] [--fault-time S] [--seed N]``:
    run the scenario and print its figures of merit."""
    import argparse
    import json
    import time

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--duration", type=float, default=FlagshipScenario.duration)
    ap.add_argument("--fault-time", type=float, default=FlagshipScenario.fault_time)
    ap.add_argument("--seed", type=int, default=FlagshipScenario.seed)
    a = ap.parse_args(argv)
    started = time.perf_counter()
    res = run_flagship(FlagshipScenario(duration=a.duration, fault_time=a.fault_time, seed=a.seed))
    out = {**res.metrics, "samples": float(res.run.t.size), "wall_time_s": time.perf_counter() - started}
    print(json.dumps({"scenario": asdict(res.scenario), "metrics": out, "counts": res.run.counts}, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
