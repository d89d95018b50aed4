"""UKF on compiled models: equal to the exact KF on a linear model, and to filterpy's UKF (same
compiled model, same fixed-step RK4 per sigma point) on the linear model and on the dc_motor twin."""

from __future__ import annotations

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B, CV_H
from filterpy.kalman import MerweScaledSigmaPoints
from filterpy.kalman import UnscentedKalmanFilter as FpUKF

from phystwin.core import solvers
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.estimation.discretize import discretize
from phystwin.estimation.filters import EstimationError, KalmanFilter, UnscentedKalmanFilter
from phystwin.estimation.status import BAD_MEASUREMENT
from phystwin.estimation.types import GaussianState, symmetry_error


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-8) -> None:
    """Equal within ``tol`` absolute, or relative for entries larger than 1."""
    err = np.abs(np.asarray(a) - np.asarray(b)) / np.maximum(1.0, np.abs(b))
    assert float(err.max()) <= tol, f"max scaled difference {err.max():.3g}"


def _filterpy_ukf(model: Model, p: np.ndarray, u: np.ndarray, idx: list[int], dt: float, h: float, **pts: float):
    rhs, jac = model.functions()[:2]
    opts = RK4(h).opts()
    work, stats, y = np.zeros(1), np.zeros(8), np.zeros(model.layout.ny)
    clock = {"t": 0.0}

    def fx(x: np.ndarray, dt_: float) -> np.ndarray:
        xc = np.array(x, dtype=np.float64)
        assert solvers.rk4_advance(rhs, jac, clock["t"], xc, u, p, dt_, opts, work, stats) == 0
        return xc

    def hx(x: np.ndarray) -> np.ndarray:
        model.kernels.out(clock["t"], np.ascontiguousarray(x), u, p, y)
        return y[idx].copy()

    n = model.layout.nx
    sp = MerweScaledSigmaPoints(n, alpha=pts["alpha"], beta=pts["beta"], kappa=pts["kappa"])
    return FpUKF(dim_x=n, dim_z=len(idx), dt=dt, hx=hx, fx=fx, points=sp), clock


@pytest.mark.parametrize(("alpha", "kappa"), [(1.0, 0.0), (0.3, 1.0)])
def test_ukf_on_linear_model_equals_kf_and_filterpy(cv_model: Model, alpha: float, kappa: float) -> None:
    dt, R = 0.1, 0.25
    d = discretize(CV_A, CV_B, np.diag([0.0, 0.5]), dt)
    ukf = UnscentedKalmanFilter(cv_model, ["pos"], [R], Qd=d.Qd, dt=dt, alpha=alpha, kappa=kappa, solver_dt=dt)
    kf = KalmanFilter(d.Phi, CV_H, d.Qd, [R], Gamma=d.Gamma, dt=dt)
    u = np.array([0.3])
    fp, clock = _filterpy_ukf(cv_model, ukf.p, u, [0], dt, dt, alpha=alpha, beta=2.0, kappa=kappa)
    fp.x, fp.P, fp.Q, fp.R = np.array([0.0, 1.0]), np.diag([4.0, 1.0]), d.Qd, np.array([[R]])
    rng = np.random.default_rng(5)
    s_u = s_k = GaussianState(0.0, fp.x, fp.P)
    for k in range(60):
        t1 = (k + 1) * dt
        clock["t"] = s_u.t
        s_u, s_k = ukf.predict(s_u, t1, u), kf.predict(s_k, t1, u)
        fp.predict()
        _close(s_u.x, s_k.x), _close(s_u.P, s_k.P), _close(s_u.x, fp.x), _close(s_u.P, fp.P)
        z = np.array([0.5 * 0.3 * t1**2 + t1 + rng.normal(scale=0.5)])
        clock["t"] = t1
        (s_u, iu), (s_k, ik) = ukf.update(s_u, z, u=u), kf.update(s_k, z)
        fp.update(z)
        _close(s_u.x, s_k.x), _close(s_u.P, s_k.P), _close(s_u.x, fp.x), _close(s_u.P, fp.P)
        assert iu.nis == pytest.approx(ik.nis, rel=1e-8, abs=1e-10)
        assert symmetry_error(s_u.P) == 0.0


def test_ukf_on_dc_motor_equals_filterpy(motor_model: Model) -> None:
    m = motor_model
    dt = 1e-3
    names = ["current", "speed"]
    idx = [m.layout.output_index(n) for n in names]
    R = np.diag([0.05**2, 0.5**2])
    Qd = np.diag([1e-4, 1e-8, 1e-2, 1e-6, 1e-7, 1e-8])
    ukf = UnscentedKalmanFilter(m, names, R, Qd=Qd, dt=dt, alpha=1.0, beta=2.0, kappa=0.0, solver_dt=5e-4)
    u = ukf.input_vector({"voltage": 24.0})
    fp, clock = _filterpy_ukf(m, ukf.p, u, idx, dt, 5e-4, alpha=1.0, beta=2.0, kappa=0.0)
    x0 = m.initial_state()
    P0 = np.diag([0.1**2, 1e-4, 1.0, 2.0**2, 1.0, 0.5**2])
    fp.x, fp.P, fp.Q, fp.R = x0.copy(), P0.copy(), Qd, R
    # truth: the twin started 2 K warmer in the winding, measured with noise
    truth = m.initial_state({"winding.T": x0[3] + 2.0})
    p_true = ukf.p
    rhs, jac = m.functions()[:2]
    opts, work, stats = RK4(5e-4).opts(), np.zeros(1), np.zeros(8)
    rng = np.random.default_rng(11)
    y = np.zeros(m.layout.ny)
    s = GaussianState(0.0, x0, P0)
    for k in range(150):
        t1 = (k + 1) * dt
        assert solvers.rk4_advance(rhs, jac, k * dt, truth, u, p_true, dt, opts, work, stats) == 0
        m.kernels.out(t1, truth, u, p_true, y)
        z = y[idx] + rng.normal(size=2) * np.sqrt(np.diag(R))
        clock["t"] = s.t
        s = ukf.predict(s, t1, u)
        fp.predict()
        _close(s.x, fp.x), _close(s.P, fp.P)
        clock["t"] = t1
        s, info = ukf.update(s, z, u=u)
        fp.update(z)
        assert info.accepted
        _close(s.x, fp.x), _close(s.P, fp.P)
        _close(info.innovation, fp.y), _close(info.S, fp.S)
        assert symmetry_error(s.P) == 0.0 and s.is_positive_definite()
    assert abs(s.x[2] - truth[2]) < 5 * np.sqrt(s.P[2, 2])  # the filter tracks the speed


def test_ukf_errors_and_rejections(motor_model: Model) -> None:
    m = motor_model
    ukf = UnscentedKalmanFilter(m, ["current", "speed"], [0.01, 0.1], Qc=np.full(6, 1e-6), solver_dt=1e-3)
    s = GaussianState(0.0, m.initial_state(), np.eye(6) * 0.01)
    with pytest.raises(KeyError, match="input 'voltage' \\[V\\] not given"):
        ukf.predict(s, 1e-3)
    p = ukf.predict(s, 2.5e-3, {"voltage": 12.0})  # Qc: any step, Van Loan on the Jacobian
    assert p.t == 2.5e-3 and p.is_positive_definite()
    out, info = ukf.update(p, [np.inf, 1.0])
    assert out is p and info.status == BAD_MEASUREMENT and "current [A]" in info.message
    with pytest.raises(ValueError, match=r"2 value\(s\) \(current \[A\], speed \[rad/s\]\), got 3"):
        ukf.update(p, [1.0, 2.0, 3.0])
    with pytest.raises(KeyError, match="unknown output 'torque'"):
        UnscentedKalmanFilter(m, ["torque"], [1.0], Qc=np.ones(6))
    with pytest.raises(ValueError, match="exactly one of Qc"):
        UnscentedKalmanFilter(m, ["speed"], [1.0])
    bad = GaussianState(0.0, m.initial_state(), np.diag([1.0, 1.0, -1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(EstimationError, match="not positive definite"):
        ukf.predict(bad, 1e-3, {"voltage": 12.0})
