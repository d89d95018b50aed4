"""Covariance soak (QUALITY.md, Estimation): 1e6 steps of the linear Kalman filter with tiny R and a
wide dynamic range keep P symmetric to 1e-12 relative and Cholesky-factorisable at every step; and
a UKF soak of 20 000 steps on the constant-velocity model.

The linear soak calls the compiled kernels :func:`kf_predict` / :func:`kf_update` (the ones
:class:`KalmanFilter` runs) from a compiled loop: the Python API costs ~50 us per step, too slow
for 1e6 steps here. The loop checks every step (relative asymmetry, Cholesky by the kernels' own
factorisation); Python checks ``np.linalg.cholesky`` after every chunk of steps.
"""

from __future__ import annotations

import time

import numpy as np
from constant_velocity import CV_A, CV_B

from phystwin._jit import njit
from phystwin.core.model import Model
from phystwin.estimation import kernels
from phystwin.estimation.discretize import discretize
from phystwin.estimation.filters import UnscentedKalmanFilter
from phystwin.estimation.types import GaussianState, symmetry_error

SOAK_STEPS = 1_000_000
CHUNK = 50_000
DT = 1e-3
# pos [m], vel [m/s], acc [m/s^2] driven by white jerk; bias [K], a slow random walk measured by a
# second sensor. A position sensor good to 0.1 um against an aggressive jerk spectrum gives P entries
# from ~1e-14 (pos) to ~1e1 (acc): 15 orders of magnitude, strongly correlated.
A = np.zeros((4, 4))
A[0, 1] = A[1, 2] = 1.0
QC = np.diag([0.0, 0.0, 1e4, 1e-6])
H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
R = np.diag([1e-14, 1e-8])


@njit(cache=False)
def _soak(Phi, Qd, H, R, Lq, Lr, x_true, x, P, steps, seed):  # type: ignore[no-untyped-def]
    """``steps`` predict/update cycles on a simulated truth. Returns (status, max relative
    asymmetry, Cholesky failures, min diagonal of P, max diagonal of P); updates the arrays in place."""
    np.random.seed(seed)
    n, m = x.shape[0], H.shape[0]
    u = np.zeros(0)
    Gamma = np.zeros((n, 0))
    xp, Pp, xu, Pu = np.empty(n), np.empty((n, n)), np.empty(n), np.empty((n, n))
    y, S, info, z = np.empty(m), np.empty((m, m)), np.empty(1), np.empty(m)
    L = np.empty((n, n))
    w, v = np.empty(n), np.empty(m)
    asym, chol_fail, dmin, dmax = 0.0, 0, np.inf, 0.0
    for _ in range(steps):
        for i in range(n):
            w[i] = np.random.standard_normal()
        for i in range(n):  # x_true = Phi x_true + Lq w (plain loops: no BLAS binding to compile)
            acc = 0.0
            for j in range(n):
                acc += Phi[i, j] * x_true[j] + Lq[i, j] * w[j]
            xp[i] = acc
        x_true[:] = xp
        for i in range(m):
            v[i] = np.random.standard_normal()
        for i in range(m):
            acc = 0.0
            for j in range(n):
                acc += H[i, j] * x_true[j]
            for j in range(m):
                acc += Lr[i, j] * v[j]
            z[i] = acc
        st = kernels.kf_predict(Phi, Gamma, Qd, x, P, u, xp, Pp)
        if st != 0:
            return st, asym, chol_fail, dmin, dmax
        st = kernels.kf_update(H, R, z, xp, Pp, xu, Pu, y, S, info)
        if st != 0:
            return st, asym, chol_fail, dmin, dmax
        x[:] = xu
        P[:, :] = Pu
        scale, diff = 0.0, 0.0
        for i in range(n):
            for j in range(n):
                scale = max(scale, abs(P[i, j]))
                diff = max(diff, abs(P[i, j] - P[j, i]))
            dmin = min(dmin, P[i, i])
            dmax = max(dmax, P[i, i])
        asym = max(asym, diff / scale)
        if kernels.cholesky_lower(P, L) != 0:
            chol_fail += 1
    return 0, asym, chol_fail, dmin, dmax


def test_linear_kf_soak_1e6_steps_symmetric_and_cholesky() -> None:
    d = discretize(A, None, QC, DT)
    Lq, Lr = np.linalg.cholesky(d.Qd), np.linalg.cholesky(R)
    x_true = np.array([0.0, 1.0, 0.0, 300.0])
    x = x_true + np.array([1e-3, 1e-2, 1.0, 1.0])
    P = np.diag([1e-2, 1e-1, 10.0, 4.0])
    worst, fails, lo, hi = 0.0, 0, np.inf, 0.0
    _soak(d.Phi, d.Qd, H, R, Lq, Lr, x_true.copy(), x.copy(), P.copy(), 1, 0)  # compile
    t0 = time.perf_counter()
    for c in range(SOAK_STEPS // CHUNK):
        st, asym, cf, dmin, dmax = _soak(d.Phi, d.Qd, H, R, Lq, Lr, x_true, x, P, CHUNK, 1000 + c)
        assert st == 0, f"kernel status {st} in chunk {c}"
        worst, fails, lo, hi = max(worst, asym), fails + cf, min(lo, dmin), max(hi, dmax)
        assert symmetry_error(P) <= 1e-12
        np.linalg.cholesky(P)  # raises LinAlgError if not positive definite
    elapsed = time.perf_counter() - t0
    assert worst <= 1e-12, worst
    assert fails == 0
    assert GaussianState(SOAK_STEPS * DT, x, P).is_positive_definite()
    assert hi / lo > 1e12, (lo, hi)  # the dynamic range the soak claims
    e = x_true - x
    assert float(e @ np.linalg.solve(P, e)) < 30.0  # still tracking (chi2(4) 0.9999 quantile ~ 23.5)
    print(f"KF soak: {SOAK_STEPS} steps in {elapsed:.1f} s, max asymmetry {worst:.3g}, diag(P) in [{lo:.3g}, {hi:.3g}]")


def test_ukf_soak_20000_steps(cv_model: Model) -> None:
    dt, steps = 0.01, 20_000
    d = discretize(CV_A, CV_B, np.diag([0.0, 100.0]), dt)
    r = 1e-12
    ukf = UnscentedKalmanFilter(cv_model, ["pos"], [r], Qd=d.Qd, dt=dt, solver_dt=dt)
    rng = np.random.default_rng(77)
    Lq = np.linalg.cholesky(d.Qd)
    x_true = np.array([0.0, 1.0])
    u = np.array([0.0])
    s = GaussianState(0.0, [0.0, 0.0], np.diag([1.0, 4.0]))
    worst = 0.0
    nees_sum = 0.0
    for k in range(1, steps + 1):
        x_true = d.Phi @ x_true + Lq @ rng.standard_normal(2)
        z = x_true[0] + np.sqrt(r) * rng.standard_normal()
        s, info = ukf.update(ukf.predict(s, k * dt, u), [z], u=u)
        assert info.accepted
        worst = max(worst, symmetry_error(s.P))
        np.linalg.cholesky(s.P)
        if k > 100:
            nees_sum += s.nees(x_true)
    assert worst <= 1e-12
    assert 1.9 < nees_sum / (steps - 100) < 2.1  # consistent over the whole soak (chi2(2) mean)
