"""Linear KF: parity with filterpy, bad measurements, kernel oracle, NEES Monte-Carlo with a negative control."""

from __future__ import annotations

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B, CV_H
from filterpy.kalman import KalmanFilter as FpKalmanFilter
from scipy.stats import chi2

from phystwin.estimation import kernels
from phystwin.estimation.discretize import discretize
from phystwin.estimation.filters import KalmanFilter
from phystwin.estimation.status import BAD_MEASUREMENT, INNOVATION_NOT_PD
from phystwin.estimation.types import GaussianState, symmetry_error

DT = 0.1
Q_ACC = 0.5  # white-acceleration spectral density [m^2/s^3]
R_POS = 0.25  # [m^2]


def _cv_filter(q: float = Q_ACC) -> KalmanFilter:
    d = discretize(CV_A, CV_B, np.diag([0.0, q]), DT)
    return KalmanFilter(d.Phi, CV_H, d.Qd, [R_POS], Gamma=d.Gamma, dt=DT, measurement_names=["pos [m]"])


def _truth(rng: np.random.Generator, steps: int, q: float = Q_ACC) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = discretize(CV_A, CV_B, np.diag([0.0, q]), DT)
    Lq = np.linalg.cholesky(d.Qd)
    x = np.array([0.0, 1.0]) + rng.normal(size=2)
    u = rng.normal(size=(steps, 1)) * 0.3
    X, Z = np.empty((steps, 2)), np.empty(steps)
    for k in range(steps):
        x = d.Phi @ x + d.Gamma @ u[k] + Lq @ rng.normal(size=2)
        X[k] = x
        Z[k] = x[0] + np.sqrt(R_POS) * rng.normal()
    return X, Z, u


def test_kf_parity_with_filterpy() -> None:
    rng = np.random.default_rng(1234)
    _X, Z, U = _truth(rng, 200)
    kf = _cv_filter()
    fp = FpKalmanFilter(dim_x=2, dim_z=1, dim_u=1)
    fp.F, fp.B, fp.H, fp.Q, fp.R = kf.Phi, kf.Gamma, kf.H, kf.Qd, kf.R
    fp.x = np.array([0.0, 1.0])
    fp.P = np.diag([4.0, 1.0])
    s = GaussianState(0.0, fp.x, fp.P)
    for k in range(200):
        s = kf.predict(s, (k + 1) * DT, U[k])
        fp.predict(u=U[k])
        np.testing.assert_allclose(s.x, fp.x, rtol=0, atol=1e-8)
        np.testing.assert_allclose(s.P, fp.P, rtol=0, atol=1e-8)
        s, info = kf.update(s, Z[k])
        fp.update(Z[k])  # filterpy 1.4+/2.0 KalmanFilter.update is the Joseph form too
        assert info.accepted
        np.testing.assert_allclose(s.x, fp.x, rtol=0, atol=1e-8)
        np.testing.assert_allclose(s.P, fp.P, rtol=0, atol=1e-8)
        np.testing.assert_allclose(info.innovation, fp.y, atol=1e-8)
        np.testing.assert_allclose(info.S, fp.S, atol=1e-8)
        assert info.nis == pytest.approx(float(fp.y @ np.linalg.solve(fp.S, fp.y)), rel=1e-10)
        assert symmetry_error(s.P) == 0.0


def test_kf_update_oracle_and_joseph_equals_standard_form() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n, m = 4, 2
        A = rng.normal(size=(n, n))
        P = A @ A.T + n * np.eye(n)
        H = rng.normal(size=(m, n))
        R = np.diag(rng.uniform(0.1, 1.0, m))
        x, z = rng.normal(size=n), rng.normal(size=m)
        xo, Po, y, S, info = np.empty(n), np.empty((n, n)), np.empty(m), np.empty((m, m)), np.empty(1)
        assert kernels.kf_update(H, R, z, x, P, xo, Po, y, S, info) == 0
        S_ref = H @ P @ H.T + R
        K = P @ H.T @ np.linalg.inv(S_ref)
        np.testing.assert_allclose(xo, x + K @ (z - H @ x), atol=1e-12)
        np.testing.assert_allclose(Po, P - K @ S_ref @ K.T, atol=1e-11)  # optimal gain: Joseph == standard
        assert info[0] == pytest.approx((z - H @ x) @ np.linalg.solve(S_ref, z - H @ x), rel=1e-10)


def test_continuous_filter_any_step_equals_discrete() -> None:
    kc = KalmanFilter.from_continuous(CV_A, CV_B, CV_H, np.diag([0.0, Q_ACC]), [R_POS])
    kd = _cv_filter()
    s0 = GaussianState(0.0, [0.0, 1.0], np.diag([4.0, 1.0]))
    a, b = kc.predict(s0, DT, [0.2]), kd.predict(s0, DT, [0.2])
    np.testing.assert_allclose(a.P, b.P, atol=1e-14)
    # two half steps with exact discretisation == one full step (no noise-model error from splitting)
    h = kc.predict(kc.predict(s0, 0.05, [0.2]), DT, [0.2])
    np.testing.assert_allclose(h.x, a.x, atol=1e-14)
    np.testing.assert_allclose(h.P, a.P, atol=1e-13)
    with pytest.raises(ValueError, match=r"describe steps of 0\.1 s, got a step of 0\.05 s"):
        kd.predict(s0, 0.05)


def test_bad_measurements_rejected_state_untouched() -> None:
    kf = _cv_filter()
    s = GaussianState(0.0, [0.0, 1.0], np.diag([4.0, 1.0]))
    out, info = kf.update(s, [np.nan])
    assert out is s and not info.accepted and info.status == BAD_MEASUREMENT
    assert "pos [m]" in info.message and "rejected" in info.message
    with pytest.raises(ValueError, match=r"1 value\(s\) \(pos \[m\]\), got 2"):
        kf.update(s, [1.0, 2.0])
    out, info = kf.update(s, [1.0], R=[[-10.0]])  # S = 4 - 10 < 0
    assert out is s and info.status == INNOVATION_NOT_PD and "not positive definite" in info.message


def _nees_fraction_inside(q_filter: float, runs: int = 60, steps: int = 100) -> float:
    rng = np.random.default_rng(2024)
    kf = _cv_filter(q_filter)
    nees = np.empty((runs, steps))
    P0 = np.diag([1.0, 1.0])
    for r in range(runs):
        X, Z, U = _truth(rng, steps)
        x0 = np.array([0.0, 1.0])  # truth starts at x0 + N(0, I): consistent with P0
        s = GaussianState(0.0, x0, P0)
        for k in range(steps):
            s = kf.predict(s, (k + 1) * DT, U[k])
            s, _ = kf.update(s, Z[k])
            nees[r, k] = s.nees(X[k])
    lo, hi = chi2.ppf([0.025, 0.975], df=2 * runs) / runs
    avg = nees.mean(axis=0)
    return float(np.mean((avg >= lo) & (avg <= hi)))


def test_nees_monte_carlo_consistent_and_negative_control_fails() -> None:
    assert _nees_fraction_inside(Q_ACC) >= 0.90
    assert _nees_fraction_inside(Q_ACC / 100) < 0.5  # overconfident filter: the test has power
