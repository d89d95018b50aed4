"""Continuous-discrete EKF on compiled models: equal to the exact KF on a linear model, and to
filterpy's ExtendedKalmanFilter (given the same Phi, Q, H and propagated mean) on the dc_motor twin."""

from __future__ import annotations

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B, CV_H
from filterpy.kalman import ExtendedKalmanFilter as FpEKF
from scipy.linalg import expm

from phystwin.core import solvers
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.estimation.discretize import discretize
from phystwin.estimation.ekf import ExtendedKalmanFilter
from phystwin.estimation.filters import KalmanFilter
from phystwin.estimation.status import BAD_MEASUREMENT
from phystwin.estimation.types import GaussianState, symmetry_error


def _close(a: np.ndarray, b: np.ndarray, tol: float = 1e-8) -> None:
    """Equal within ``tol`` absolute, or relative for entries larger than 1."""
    err = np.abs(np.asarray(a) - np.asarray(b)) / np.maximum(1.0, np.abs(b))
    assert float(err.max()) <= tol, f"max scaled difference {err.max():.3g}"


@pytest.mark.parametrize("use_qc", [False, True])
def test_ekf_on_linear_model_equals_kf(cv_model: Model, use_qc: bool) -> None:
    dt, R = 0.1, 0.25
    Qc = np.diag([0.0, 0.5])
    d = discretize(CV_A, CV_B, Qc, dt)
    noise = {"Qc": Qc} if use_qc else {"Qd": d.Qd, "dt": dt}
    ekf = ExtendedKalmanFilter(cv_model, ["pos"], [R], solver_dt=0.03, **noise)  # type: ignore[arg-type]
    kf = KalmanFilter(d.Phi, CV_H, d.Qd, [R], Gamma=d.Gamma, dt=dt)
    u = np.array([0.3])
    rng = np.random.default_rng(5)
    s_e = s_k = GaussianState(0.0, [0.0, 1.0], np.diag([4.0, 1.0]))
    for k in range(60):
        t1 = (k + 1) * dt
        s_e, s_k = ekf.predict(s_e, t1, u), kf.predict(s_k, t1, u)
        _close(s_e.x, s_k.x), _close(s_e.P, s_k.P)
        z = np.array([0.5 * 0.3 * t1**2 + t1 + rng.normal(scale=0.5)])
        (s_e, ie), (s_k, ik) = ekf.update(s_e, z, u=u), kf.update(s_k, z)
        assert ie.accepted
        _close(s_e.x, s_k.x), _close(s_e.P, s_k.P), _close(ie.innovation, ik.innovation)
        assert ie.nis == pytest.approx(ik.nis, rel=1e-8, abs=1e-10)
        assert symmetry_error(s_e.P) == 0.0


def test_ekf_transition_is_sensitivity_of_rk4_advance(motor_model: Model) -> None:
    """Mean bit-equal to rk4_advance; Phi = d x(t1) / d x(t0) of the RK4 flow (central differences),
    and close to expm(J(x0) dt) on a short step."""
    m = motor_model
    h = 2.5e-4
    ekf = ExtendedKalmanFilter(m, ["current", "speed"], [0.01, 0.1], Qc=np.full(6, 1e-6), solver_dt=h)
    u = ekf.input_vector({"voltage": 24.0})
    x0 = m.initial_state() + np.array([0.5, 0.01, 3.0, 1.0, 0.5, 0.2])
    s = GaussianState(0.0, x0, np.eye(6))
    x, Phi = ekf.propagate(s, 1e-3, u)
    rhs, jac = m.functions()[:2]
    opts = RK4(h).opts()

    def flow(xa: np.ndarray) -> np.ndarray:
        xr = np.array(xa, dtype=np.float64)
        assert solvers.rk4_advance(rhs, jac, 0.0, xr, u, ekf.p, 1e-3, opts, np.zeros(1), np.zeros(8)) == 0
        return xr

    assert np.array_equal(x, flow(x0))
    fd = np.empty((6, 6))
    for j in range(6):
        dx = np.zeros(6)
        dx[j] = 1e-5 * max(1.0, abs(x0[j]))
        fd[:, j] = (flow(x0 + dx) - flow(x0 - dx)) / (2 * dx[j])
    _close(Phi, fd, tol=1e-6)
    J = np.zeros((6, 6))
    m.kernels.jac(0.0, np.array(x0), u, ekf.p, J)
    _close(Phi, expm(J * 1e-3), tol=5e-2)


def test_ekf_on_dc_motor_equals_filterpy(motor_model: Model) -> None:
    m = motor_model
    dt = 1e-3
    names = ["current", "speed"]
    idx = [m.layout.output_index(n) for n in names]
    R = np.diag([0.05**2, 0.5**2])
    Qd = np.diag([1e-4, 1e-8, 1e-2, 1e-6, 1e-7, 1e-8])
    ekf = ExtendedKalmanFilter(m, names, R, Qd=Qd, dt=dt, solver_dt=5e-4)
    u = ekf.input_vector({"voltage": 24.0})
    x0 = m.initial_state()
    P0 = np.diag([0.1**2, 1e-4, 1.0, 2.0**2, 1.0, 0.5**2])
    fp = FpEKF(dim_x=6, dim_z=2)
    fp.x, fp.P, fp.Q, fp.R = x0.reshape(-1, 1).copy(), P0.copy(), Qd, R
    truth = m.initial_state({"winding.T": x0[3] + 2.0})
    rhs, jac = m.functions()[:2]
    opts, work, stats = RK4(5e-4).opts(), np.zeros(1), np.zeros(8)
    rng = np.random.default_rng(11)
    yb = np.zeros(m.layout.ny)

    def hx(x: np.ndarray, t: float) -> np.ndarray:
        m.kernels.out(t, np.ascontiguousarray(x, dtype=np.float64).reshape(-1), u, ekf.p, yb)
        return yb[idx].reshape(-1, 1).copy()

    s = GaussianState(0.0, x0, P0)
    for k in range(100):
        t1 = (k + 1) * dt
        assert solvers.rk4_advance(rhs, jac, k * dt, truth, u, ekf.p, dt, opts, work, stats) == 0
        z = hx(truth, t1).reshape(-1) + rng.normal(size=2) * np.sqrt(np.diag(R))
        x_prop, Phi = ekf.propagate(s, t1, u)
        s = ekf.predict(s, t1, u)
        fp.F = Phi
        fp.predict()
        fp.x = x_prop.reshape(-1, 1).copy()  # filterpy's EKF predict is linear: use our propagated mean
        _close(s.x, fp.x.reshape(-1)), _close(s.P, fp.P)
        _, H = ekf.measurement_jacobian(s, u)
        s, info = ekf.update(s, z, u=u)
        fp.update(z.reshape(-1, 1), lambda x, H=H: H, hx, hx_args=(t1,))
        assert info.accepted
        _close(s.x, fp.x.reshape(-1)), _close(s.P, fp.P)
        _close(info.innovation, fp.y.reshape(-1)), _close(info.S, fp.S)
        assert symmetry_error(s.P) == 0.0 and s.is_positive_definite()
    assert abs(s.x[2] - truth[2]) < 5 * np.sqrt(s.P[2, 2])  # the filter tracks the speed


def test_ekf_rejections_and_errors(motor_model: Model) -> None:
    m = motor_model
    ekf = ExtendedKalmanFilter(m, ["current", "speed"], [0.01, 0.1], Qc=np.full(6, 1e-6), solver_dt=1e-3)
    s = GaussianState(0.0, m.initial_state(), np.eye(6) * 0.01)
    with pytest.raises(KeyError, match="input 'voltage' \\[V\\] not given"):
        ekf.predict(s, 1e-3)
    p = ekf.predict(s, 2.5e-3, {"voltage": 12.0})  # Qc: any step
    assert p.t == 2.5e-3 and p.is_positive_definite() and symmetry_error(p.P) == 0.0
    for bad in ([np.nan, 1.0], [1.0, np.inf]):
        out, info = ekf.update(p, bad)
        assert out is p and not info.accepted and info.status == BAD_MEASUREMENT
        assert np.array_equal(out.x, p.x) and np.array_equal(out.P, p.P)
    _, info = ekf.update(p, [np.inf, 1.0])
    assert "current [A]" in info.message and np.isnan(info.nis)
    with pytest.raises(ValueError, match=r"2 value\(s\) \(current \[A\], speed \[rad/s\]\), got 3"):
        ekf.update(p, [1.0, 2.0, 3.0])
    with pytest.raises(KeyError, match="unknown output 'torque'"):
        ExtendedKalmanFilter(m, ["torque"], [1.0], Qc=np.ones(6))
    with pytest.raises(ValueError, match="exactly one of Qc"):
        ExtendedKalmanFilter(m, ["speed"], [1.0])
    with pytest.raises(ValueError, match=r"Qd was given for steps of 0\.001 s"):
        ExtendedKalmanFilter(m, ["speed"], [1.0], Qd=np.ones(6), dt=1e-3).predict(s, 2e-3, {"voltage": 1.0})
    with pytest.raises(ValueError, match="cannot predict"):
        ekf.predict(p, 1e-3, {"voltage": 12.0})
