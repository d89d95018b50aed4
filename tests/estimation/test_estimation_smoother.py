"""RTS smoother: parity with filterpy, covariance reduction, inputs, missing measurements, a batch oracle."""

from __future__ import annotations

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B, CV_H
from filterpy.kalman import rts_smoother as fp_rts_smoother

from phystwin.estimation.discretize import discretize
from phystwin.estimation.filters import KalmanFilter
from phystwin.estimation.smoother import ForwardPass, record_forward, rts_smooth
from phystwin.estimation.types import GaussianState

DT = 0.1
Q_ACC = 0.5
R_POS = 0.25
X0 = np.array([0.0, 1.0])
P0 = np.diag([4.0, 1.0])
D = discretize(CV_A, CV_B, np.diag([0.0, Q_ACC]), DT)


def _kf() -> KalmanFilter:
    return KalmanFilter(D.Phi, CV_H, D.Qd, [R_POS], Gamma=D.Gamma, dt=DT, measurement_names=["pos [m]"])


def _simulate(seed: int, steps: int, inputs: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Lq = np.linalg.cholesky(D.Qd)
    x = X0 + np.sqrt(np.diag(P0)) * rng.normal(size=2)
    U = rng.normal(size=(steps, 1)) * (0.3 if inputs else 0.0)
    X, Z = np.empty((steps, 2)), np.empty(steps)
    for k in range(steps):
        x = D.Phi @ x + D.Gamma @ U[k] + Lq @ rng.normal(size=2)
        X[k] = x
        Z[k] = x[0] + np.sqrt(R_POS) * rng.normal()
    return X, Z, U


def _forward(Z: np.ndarray, U: np.ndarray) -> ForwardPass:
    times = DT * np.arange(1, Z.shape[0] + 1)
    return record_forward(_kf(), GaussianState(0.0, X0, P0), times, Z, U)


def test_rts_matches_filterpy_and_reduces_covariance() -> None:
    _X, Z, U = _simulate(200, 200, inputs=False)  # filterpy's smoother has no input term
    fp = _forward(Z, U)
    sm = rts_smooth(fp.x_filt, fp.P_filt, fp.x_pred, fp.P_pred, fp.Phi)
    K = Z.shape[0]
    xs, Ps, Cs, _Pp = fp_rts_smoother(np.array(fp.x_filt), np.array(fp.P_filt), [D.Phi] * K, [D.Qd] * K)
    assert np.max(np.abs(sm.x - fp.x_filt)) > 0.05  # smoothing changed the estimates: the parity is not vacuous
    np.testing.assert_allclose(sm.x, xs, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sm.P, Ps, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sm.C, Cs[:-1], rtol=0, atol=1e-8)
    np.testing.assert_array_equal(sm.x[-1], fp.x_filt[-1])
    np.testing.assert_array_equal(sm.P[-1], fp.P_filt[-1])
    for k in range(K):
        assert np.trace(sm.P[k]) <= np.trace(fp.P_filt[k]) + 1e-12
        assert np.min(np.linalg.eigvalsh(fp.P_filt[k] - sm.P[k])) >= -1e-12  # P_s <= P_f in the PSD order
        assert np.array_equal(sm.P[k], sm.P[k].T)
        np.linalg.cholesky(sm.P[k])
    assert not sm.x.flags.writeable and not sm.P.flags.writeable
    # a single fixed Phi is accepted in place of the per-step stack
    np.testing.assert_array_equal(rts_smooth(fp.x_filt, fp.P_filt, fp.x_pred, fp.P_pred, D.Phi).x, sm.x)


def test_rts_equals_batch_least_squares_with_inputs_and_gaps() -> None:
    """Oracle: the smoothed means and covariances are the exact Gaussian posterior over all states
    given all measurements, computed here by one dense information-form solve."""
    steps = 40
    _X, Z, U = _simulate(5, steps, inputs=True)
    Z = Z.copy()
    Z[[7, 8, 20]] = np.nan  # missing samples: the filter predicts only there
    fp = _forward(Z, U)
    assert fp.accepted.sum() == steps - 3
    sm = rts_smooth(fp.x_filt, fp.P_filt, fp.x_pred, fp.P_pred, fp.Phi)
    # stacked states s = [x_1 .. x_K] (x_0 ~ N(X0, P0) folded into the first prior)
    n, N = 2, 2 * steps
    info = np.zeros((N, N))
    vec = np.zeros(N)
    Qi = np.linalg.inv(D.Qd)
    P1 = D.Phi @ P0 @ D.Phi.T + D.Qd
    m1 = D.Phi @ X0 + D.Gamma @ U[0]
    P1i = np.linalg.inv(P1)
    info[:n, :n] += P1i
    vec[:n] += P1i @ m1
    for k in range(1, steps):  # x_k - Phi x_{k-1} - Gamma u_k ~ N(0, Qd)
        A = np.zeros((n, N))
        A[:, n * k : n * k + n] = np.eye(n)
        A[:, n * (k - 1) : n * k] = -D.Phi
        info += A.T @ Qi @ A
        vec += A.T @ Qi @ (D.Gamma @ U[k])
    for k in range(steps):
        if np.isfinite(Z[k]):
            h = np.zeros((1, N))
            h[0, n * k] = 1.0
            info += h.T @ h / R_POS
            vec += h[0] * Z[k] / R_POS
    cov = np.linalg.inv(info)
    mean = cov @ vec
    np.testing.assert_allclose(sm.x.reshape(-1), mean, rtol=0, atol=1e-8)
    for k in range(steps):
        np.testing.assert_allclose(sm.P[k], cov[n * k : n * k + n, n * k : n * k + n], rtol=0, atol=1e-9)


def test_rts_rejects_bad_input() -> None:
    _X, Z, U = _simulate(1, 10, inputs=False)
    fp = _forward(Z, U)
    with pytest.raises(ValueError, match="P_pred"):
        rts_smooth(fp.x_filt, fp.P_filt, fp.x_pred, fp.P_pred[:-1], fp.Phi)
    bad = np.array(fp.x_pred)
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        rts_smooth(fp.x_filt, fp.P_filt, bad, fp.P_pred, fp.Phi)
    Pp = np.array(fp.P_pred)
    Pp[4] = -np.eye(2)
    with pytest.raises(np.linalg.LinAlgError):
        rts_smooth(fp.x_filt, fp.P_filt, fp.x_pred, Pp, fp.Phi)
    one = rts_smooth(fp.x_filt[:1], fp.P_filt[:1], fp.x_pred[:1], fp.P_pred[:1], fp.Phi[:1])
    assert one.C.shape == (0, 2, 2)
    np.testing.assert_array_equal(one.x, fp.x_filt[:1])
