"""NEES Monte-Carlo on the nonlinear dc_motor twin (QUALITY.md, Estimation): the UKF and the EKF are
consistent, and the negative controls Q/100 (NEES too large) and R*100 (NEES too small: the band is
two-sided) clearly fail the same test.

The truth is simulated with exactly the process model the filters assume: the same fixed-step RK4
over each measurement interval, then additive Gaussian noise drawn from the filters' ``Qd``; the
measurements add noise drawn from their ``R``; the initial truth is drawn from the initial belief.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from phystwin.core import solvers
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.estimation.consistency import ConsistencyResult, chi2_bounds, nees_monte_carlo
from phystwin.estimation.ekf import ExtendedKalmanFilter
from phystwin.estimation.filters import UnscentedKalmanFilter
from phystwin.estimation.types import GaussianState

DT = 2e-3  # measurement interval = RK4 step [s] (electrical and mechanical time constants ~10-20 ms)
RUNS = 50
STEPS = 100
OUTPUTS = ("current", "speed", "housing_temperature", "winding_temperature")
# Precise sensors (R = Qd / 100 of the measured states): the correct filter then leans on the
# measurements, so R*100 makes it claim far more uncertainty than it has. With noisy sensors the
# R*100 filter runs nearly open loop on these mean-reverting dynamics, which is still consistent,
# and the control would have no power.
R = np.diag([4e-6, 4e-4, 1e-5, 1e-5])  # [A^2, (rad/s)^2, K^2, K^2]
# i [A^2], phi [rad^2], w [(rad/s)^2], T_w, T_s, T_h [K^2] per step of DT. The angle and the stator
# temperature are practically unobservable on this horizon: their errors are random walks of the
# process noise (P0 = one step's Qd, not a large initial spread that every step would share), and
# the winding temperature is measured (a test rig's thermocouple) so that only these two slowly
# decorrelating terms are common to neighbouring steps.
QD = np.diag([4e-4, 1e-6, 0.04, 1e-3, 1e-3, 1e-3])
X0 = np.array([10.0, 0.0, 300.0, 300.0, 299.0, 298.5])
P0 = np.diag([0.5**2, 1e-6, 5.0**2, 1e-3, 1e-3, 1e-3])
SEED = 20261122
VOLTAGE = 24.0
VARIANTS = {"ok": (1.0, 1.0), "q/100": (0.01, 1.0), "r*100": (1.0, 100.0)}


def _truth(model: Model, p: np.ndarray, u: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rhs, jac = model.functions()[:2]
    opts, work, stats = RK4(DT).opts(), np.zeros(1), np.zeros(8)
    idx = [model.layout.output_index(o) for o in OUTPUTS]
    y = np.zeros(model.layout.ny)
    Lq, Lr, L0 = np.linalg.cholesky(QD), np.linalg.cholesky(R), np.linalg.cholesky(P0)
    x = X0 + L0 @ rng.standard_normal(6)
    X, Z = np.empty((STEPS, 6)), np.empty((STEPS, len(OUTPUTS)))
    for k in range(STEPS):
        assert solvers.rk4_advance(rhs, jac, k * DT, x, u, p, DT, opts, work, stats) == 0
        x += Lq @ rng.standard_normal(6)
        model.kernels.out((k + 1) * DT, x, u, p, y)
        X[k], Z[k] = x, y[idx] + Lr @ rng.standard_normal(len(OUTPUTS))
    return X, Z


def _monte_carlo(model: Model, kind: str, seed: int = SEED) -> dict[str, ConsistencyResult]:
    cls: Any = UnscentedKalmanFilter if kind == "ukf" else ExtendedKalmanFilter
    filters = {
        key: cls(model, OUTPUTS, R * r_scale, Qd=QD * q_scale, dt=DT, solver_dt=DT)
        for key, (q_scale, r_scale) in VARIANTS.items()
    }
    u = model.input_vector({"voltage": VOLTAGE})
    p = filters["ok"].p
    rng = np.random.default_rng(seed)
    err = {key: np.empty((RUNS, STEPS, 6)) for key in filters}
    cov = {key: np.empty((RUNS, STEPS, 6, 6)) for key in filters}
    for r in range(RUNS):
        X, Z = _truth(model, p, u, rng)
        for key, f in filters.items():
            s = GaussianState(0.0, X0, P0)
            for k in range(STEPS):
                s, info = f.update(f.predict(s, (k + 1) * DT, u), Z[k], u=u)
                assert info.accepted
                err[key][r, k], cov[key][r, k] = X[k] - s.x, s.P
    return {key: nees_monte_carlo(err[key], cov[key]) for key in filters}


@pytest.fixture(scope="module", params=["ukf", "ekf"])
def results(request: pytest.FixtureRequest, motor_model: Model) -> dict[str, ConsistencyResult]:
    return _monte_carlo(motor_model, request.param)


def test_correct_filter_is_consistent(results: dict[str, ConsistencyResult]) -> None:
    res = results["ok"]
    lo, hi = chi2_bounds(6, 0.05, runs=RUNS)
    assert (res.lower, res.upper) == pytest.approx((lo, hi))
    assert res.passed, str(res)
    assert res.fraction_inside >= 0.9


def test_q_over_100_fails_nees_too_large(results: dict[str, ConsistencyResult]) -> None:
    res = results["q/100"]
    assert not res.passed, str(res)
    assert res.fraction_inside <= 0.5, str(res)
    late = res.statistic[STEPS // 4 :]
    assert np.all(late > res.upper), str(res)  # over-confident: too large, never too small


def test_r_times_100_fails_nees_too_small(results: dict[str, ConsistencyResult]) -> None:
    res = results["r*100"]
    assert not res.passed, str(res)
    assert res.fraction_inside <= 0.5, str(res)
    late = res.statistic[STEPS // 4 :]
    assert np.all(late < res.lower), str(res)  # under-confident: below the lower edge of the band
