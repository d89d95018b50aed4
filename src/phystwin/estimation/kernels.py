r"""Compiled Kalman-filter kernels (linear KF and UKF).

Every kernel is a pure function over arrays and scalars: it reads its inputs, writes its results
into buffers supplied by the caller (never into its inputs) and returns an int status from
:mod:`phystwin.estimation.status`. Nothing raises inside compiled code; a failed kernel leaves the
input state untouched, so the caller can simply keep the old ``(x, P)``.

Linear Kalman filter
--------------------
Predict (:func:`kf_predict`)::

    x- = Phi x + Gamma u
    P- = Phi P Phi^T + Qd                      (then symmetrised: (P + P^T) / 2)

Update (:func:`kf_update`), Joseph form (valid for any gain, keeps P symmetric PSD)::

    y   = z - H x                              innovation            [units of z]
    S   = H P H^T + R = L L^T                  innovation covariance (Cholesky, in numba)
    K   = P H^T S^-1
    x+  = x + K y
    P+  = (I - K H) P (I - K H)^T + K R K^T    (then symmetrised)
    NIS = y^T S^-1 y = |L^-1 y|^2              normalised innovation squared [-]

Unscented Kalman filter
-----------------------
Scaled sigma points (Wan & van der Merwe, 2000) for ``n`` states, with
``lambda = alpha^2 (n + kappa) - n`` and ``c = sqrt(n + lambda)``::

    X_0 = x,   X_i = x + c L[:, i-1],   X_{n+i} = x - c L[:, i-1]   (i = 1..n,  P = L L^T)
    Wm_0 = lambda / (n + lambda),   Wc_0 = Wm_0 + 1 - alpha^2 + beta,   Wm_i = Wc_i = 1 / (2 (n + lambda))

Unscented transform of propagated points ``Y_i`` with additive noise ``Q``::

    y = sum_i Wm_i Y_i,   P_y = sum_i Wc_i (Y_i - y)(Y_i - y)^T + Q

:func:`ukf_predict_rk4` propagates all ``2n + 1`` sigma points through the compiled model with the
typed RK4 solver kernel in one compiled call (the model's ``rhs`` and ``jac`` are first-class
function arguments, as in :mod:`phystwin.core.solvers`), then applies the unscented transform with
``Q = Qd``. :func:`ukf_update` redraws sigma points from the predicted ``(x, P)`` (as filterpy >= 1.4
does), maps them through the model's ``out`` function, keeps the measured output rows and updates::

    z^ = sum Wm_i h(X_i),   S = sum Wc_i (h(X_i) - z^)(.)^T + R,   Pxz = sum Wc_i (X_i - x)(h(X_i) - z^)^T
    K = Pxz S^-1,   x+ = x + K (z - z^),   P+ = P - K S K^T  (symmetrised)

The two UKF kernels are typed on the model-function signatures of :mod:`phystwin.core.solvers`
and cached on disk (keyed on this file and on the solver sources), so a new model costs no
filter compilation. They are built on first access (module ``__getattr__``).
"""

from __future__ import annotations

import math

import numpy as np

from phystwin._jit import njit
from phystwin.core.solvers import ADVANCE_SIG, INTEGRATE_SIG, JAC_SIG, RHS_SIG
from phystwin.core.solvers._nb import lazy_kernels
from phystwin.core.solvers.common import all_finite, all_finite2
from phystwin.core.solvers.rk4 import rk4_advance_spec
from phystwin.errors import InvalidValueError
from phystwin.estimation.status import (
    BAD_ARGUMENT,
    BAD_MEASUREMENT,
    INNOVATION_NOT_PD,
    NONFINITE,
    OK,
    STATE_COV_NOT_PD,
)

LAZY_KERNELS = ("ukf_predict_rk4", "ukf_update")
"""Typed kernels built (or loaded from the disk cache) on first attribute access."""

__all__ = [
    *LAZY_KERNELS,
    "LAZY_KERNELS",
    "UKF_PREDICT_SIG",
    "UKF_UPDATE_SIG",
    "cholesky_lower",
    "kf_predict",
    "kf_update",
    "merwe_weights",
    "sigma_points",
    "unscented_transform",
]


# --------------------------------------------------------------------------- dense helpers
@njit(cache=False)
def _symmetrize(A):  # type: ignore[no-untyped-def]
    n = A.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            v = 0.5 * (A[i, j] + A[j, i])
            A[i, j] = v
            A[j, i] = v


@njit(cache=False)
def _matmul(A, B, C):  # type: ignore[no-untyped-def]
    """C = A B."""
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            s = 0.0
            for k in range(A.shape[1]):
                s += A[i, k] * B[k, j]
            C[i, j] = s


@njit(cache=False)
def _matmul_bt(A, B, C):  # type: ignore[no-untyped-def]
    """C = A B^T."""
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            s = 0.0
            for k in range(A.shape[1]):
                s += A[i, k] * B[j, k]
            C[i, j] = s


@njit
def cholesky_lower(A, L):  # type: ignore[no-untyped-def]
    """Lower Cholesky factor ``A = L L^T`` of a symmetric matrix (only the lower triangle is read).

    Writes ``L`` (upper triangle zeroed). Returns OK, or :data:`INNOVATION_NOT_PD` if a pivot is
    not strictly positive or not finite (the caller maps it to its own meaning).
    """
    n = A.shape[0]
    for j in range(n):
        for i in range(j):
            L[i, j] = 0.0
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not (s > 0.0) or not math.isfinite(s):
            return INNOVATION_NOT_PD
        d = math.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / d
    return OK


@njit(cache=False)
def _forward(L, b):  # type: ignore[no-untyped-def]
    """b <- L^-1 b (in place)."""
    n = L.shape[0]
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * b[k]
        b[i] = s / L[i, i]


@njit(cache=False)
def _backward_t(L, b):  # type: ignore[no-untyped-def]
    """b <- L^-T b (in place)."""
    n = L.shape[0]
    for i in range(n - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, n):
            s -= L[k, i] * b[k]
        b[i] = s / L[i, i]


@njit(cache=False)
def _gain(PHt, L, K):  # type: ignore[no-untyped-def]
    """K = PHt S^-1 with S = L L^T (row by row: S K_r^T = PHt_r^T, S symmetric)."""
    n, m = PHt.shape
    r = np.empty(m)
    for i in range(n):
        for j in range(m):
            r[j] = PHt[i, j]
        _forward(L, r)
        _backward_t(L, r)
        for j in range(m):
            K[i, j] = r[j]


@njit(cache=False)
def _nis(L, y):  # type: ignore[no-untyped-def]
    w = y.copy()
    _forward(L, w)
    s = 0.0
    for i in range(w.shape[0]):
        s += w[i] * w[i]
    return s


# --------------------------------------------------------------------------- linear KF
@njit
def kf_predict(Phi, Gamma, Qd, x, P, u, x_out, P_out):  # type: ignore[no-untyped-def]
    """Linear KF predict ``x- = Phi x + Gamma u``, ``P- = Phi P Phi^T + Qd`` (symmetrised).

    Parameters
    ----------
    Phi : (n, n) float64;  Gamma : (n, m);  Qd : (n, n);  x : (n,);  P : (n, n);  u : (m,)
    x_out : (n,), P_out : (n, n)
        Result buffers (distinct from ``x`` and ``P``).

    Returns
    -------
    int
        OK, BAD_ARGUMENT (shapes) or NONFINITE (result not finite; buffers then hold garbage).
    """
    n = x.shape[0]
    m = u.shape[0]
    if (
        Phi.shape[0] != n
        or Phi.shape[1] != n
        or Gamma.shape[0] != n
        or Gamma.shape[1] != m
        or Qd.shape[0] != n
        or Qd.shape[1] != n
        or P.shape[0] != n
        or P.shape[1] != n
        or x_out.shape[0] != n
        or P_out.shape[0] != n
        or P_out.shape[1] != n
    ):
        return BAD_ARGUMENT
    for i in range(n):
        s = 0.0
        for k in range(n):
            s += Phi[i, k] * x[k]
        for k in range(m):
            s += Gamma[i, k] * u[k]
        x_out[i] = s
    T = np.empty((n, n))
    _matmul(Phi, P, T)
    _matmul_bt(T, Phi, P_out)
    for i in range(n):
        for j in range(n):
            P_out[i, j] += Qd[i, j]
    _symmetrize(P_out)
    if not (all_finite(x_out) and all_finite2(P_out)):
        return NONFINITE
    return OK


@njit
def kf_update(H, R, z, x, P, x_out, P_out, y, S, info):  # type: ignore[no-untyped-def]
    """Linear KF update in Joseph form; see the module docstring for the equations.

    Parameters
    ----------
    H : (m, n);  R : (m, m);  z : (m,);  x : (n,);  P : (n, n)
    x_out : (n,), P_out : (n, n)
        Posterior buffers (distinct from ``x`` and ``P``).
    y : (m,), S : (m, m)
        Innovation and innovation covariance (written whenever z is finite).
    info : (>= 1,)
        ``info[0]`` = NIS ``y^T S^-1 y`` [-] (NaN when not computed).

    Returns
    -------
    int
        OK; BAD_ARGUMENT (shapes); BAD_MEASUREMENT (z not finite: nothing else written);
        INNOVATION_NOT_PD (S not PD: x_out, P_out not written); NONFINITE.
    """
    m, n = H.shape
    if (
        x.shape[0] != n
        or P.shape[0] != n
        or P.shape[1] != n
        or R.shape[0] != m
        or R.shape[1] != m
        or z.shape[0] != m
        or x_out.shape[0] != n
        or P_out.shape[0] != n
        or P_out.shape[1] != n
        or y.shape[0] != m
        or S.shape[0] != m
        or S.shape[1] != m
        or info.shape[0] < 1
    ):
        return BAD_ARGUMENT
    info[0] = np.nan
    if not all_finite(z):
        return BAD_MEASUREMENT
    for i in range(m):
        s = z[i]
        for k in range(n):
            s -= H[i, k] * x[k]
        y[i] = s
    PHt = np.empty((n, m))
    _matmul_bt(P, H, PHt)
    _matmul(H, PHt, S)
    for i in range(m):
        for j in range(m):
            S[i, j] += R[i, j]
    _symmetrize(S)
    L = np.empty((m, m))
    st = cholesky_lower(S, L)
    if st != OK:
        return INNOVATION_NOT_PD
    K = np.empty((n, m))
    _gain(PHt, L, K)
    for i in range(n):
        s = x[i]
        for j in range(m):
            s += K[i, j] * y[j]
        x_out[i] = s
    IKH = np.empty((n, n))
    _matmul(K, H, IKH)
    for i in range(n):
        for j in range(n):
            IKH[i, j] = -IKH[i, j]
        IKH[i, i] += 1.0
    T = np.empty((n, n))
    _matmul(IKH, P, T)
    _matmul_bt(T, IKH, P_out)
    KR = np.empty((n, m))
    _matmul(K, R, KR)
    T2 = np.empty((n, n))
    _matmul_bt(KR, K, T2)
    for i in range(n):
        for j in range(n):
            P_out[i, j] += T2[i, j]
    _symmetrize(P_out)
    info[0] = _nis(L, y)
    if not (all_finite(x_out) and all_finite2(P_out)):
        return NONFINITE
    return OK


# --------------------------------------------------------------------------- unscented transform
def merwe_weights(n: int, alpha: float, beta: float, kappa: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Weights of the scaled sigma points (Wan & van der Merwe) for ``n`` states.

    Parameters
    ----------
    n : int
        State dimension.
    alpha : float
        Spread, ``0 < alpha <= 1`` typically (1e-3 .. 1).
    beta : float
        Prior knowledge of the distribution; 2 is optimal for Gaussians.
    kappa : float
        Secondary scaling, usually ``0`` or ``3 - n``; ``n + lambda`` must be > 0.

    Returns
    -------
    Wm, Wc : ndarray, shape (2n + 1,)
        Mean and covariance weights.
    c : float
        Sigma-point scale ``sqrt(n + lambda)``, ``lambda = alpha^2 (n + kappa) - n``.
    """
    if n < 1:
        raise InvalidValueError(f"state dimension must be >= 1, got {n}")
    if not (math.isfinite(alpha) and alpha > 0.0):
        raise InvalidValueError(f"alpha must be finite and > 0, got {alpha!r}")
    if not (math.isfinite(beta) and math.isfinite(kappa)):
        raise InvalidValueError(f"beta and kappa must be finite, got beta={beta!r}, kappa={kappa!r}")
    lam = alpha**2 * (n + kappa) - n
    if not n + lam > 0.0:
        raise InvalidValueError(f"n + lambda = alpha^2 (n + kappa) must be > 0, got {n + lam!r} (n={n}, kappa={kappa})")
    w = 0.5 / (n + lam)
    Wm = np.full(2 * n + 1, w)
    Wc = np.full(2 * n + 1, w)
    Wm[0] = lam / (n + lam)
    Wc[0] = lam / (n + lam) + (1.0 - alpha**2 + beta)
    return Wm, Wc, math.sqrt(n + lam)


@njit
def sigma_points(x, P, c, X):  # type: ignore[no-untyped-def]
    """Scaled sigma points ``X (2n+1, n)`` of ``N(x, P)`` with scale ``c = sqrt(n + lambda)``.

    Returns OK, BAD_ARGUMENT (shapes) or STATE_COV_NOT_PD (Cholesky of P failed).
    """
    n = x.shape[0]
    if P.shape[0] != n or P.shape[1] != n or X.shape[0] != 2 * n + 1 or X.shape[1] != n:
        return BAD_ARGUMENT
    L = np.empty((n, n))
    if cholesky_lower(P, L) != OK:
        return STATE_COV_NOT_PD
    for j in range(n):
        X[0, j] = x[j]
    for i in range(n):
        for j in range(n):
            d = c * L[j, i]
            X[i + 1, j] = x[j] + d
            X[n + i + 1, j] = x[j] - d
    return OK


@njit
def unscented_transform(Y, Wm, Wc, Q, y, Py):  # type: ignore[no-untyped-def]
    """Weighted mean ``y`` and covariance ``Py = sum Wc_i (Y_i - y)(Y_i - y)^T + Q`` (symmetrised).

    ``Y`` is (2n+1, m), one transformed sigma point per row; ``Q`` (m, m) additive noise.
    Returns OK, BAD_ARGUMENT or NONFINITE.
    """
    N, m = Y.shape
    if Wm.shape[0] != N or Wc.shape[0] != N or Q.shape[0] != m or Q.shape[1] != m or y.shape[0] != m:
        return BAD_ARGUMENT
    if Py.shape[0] != m or Py.shape[1] != m:
        return BAD_ARGUMENT
    for j in range(m):
        s = 0.0
        for i in range(N):
            s += Wm[i] * Y[i, j]
        y[j] = s
    for a in range(m):
        for b in range(m):
            Py[a, b] = Q[a, b]
    d = np.empty(m)
    for i in range(N):
        for j in range(m):
            d[j] = Y[i, j] - y[j]
        w = Wc[i]
        for a in range(m):
            wa = w * d[a]
            for b in range(m):
                Py[a, b] += wa * d[b]
    _symmetrize(Py)
    if not (all_finite(y) and all_finite2(Py)):
        return NONFINITE
    return OK


# --------------------------------------------------------------------------- UKF on a compiled model
@njit(cache=False)
def ukf_predict_rk4_spec(rhs, jac, t, dt, x, P, u, p, Qd, Wm, Wc, c, opts, X, x_out, P_out, stats):  # type: ignore[no-untyped-def]
    """UKF predict from ``t`` to ``t + dt`` [s]: every sigma point advanced by the RK4 kernel.

    Parameters
    ----------
    rhs, jac : model functions (first-class, :data:`RHS_SIG` / :data:`JAC_SIG`)
    t, dt : float
        Start time and horizon [s]; ``dt >= 0`` (``dt = 0`` only adds nothing: x, P copied).
    x : (n,), P : (n, n)
        Prior mean and covariance (not modified).
    u : (nu,), p : (np,)
        Inputs held over the step, parameters.
    Qd : (n, n)
        Discrete process-noise covariance over ``dt`` (added after the transform).
    Wm, Wc : (2n+1,), c : float
        From :func:`merwe_weights`.
    opts : solver options (``opts[6]`` = RK4 step [s]); see :mod:`phystwin.core.solvers`.
    X : (2n+1, n)
        Buffer: on return the propagated sigma points.
    x_out : (n,), P_out : (n, n)
        Predicted mean and covariance.
    stats : (>= 8,)
        Solver statistics, accumulated over the sigma points (``stats[0]``: time reached).

    Returns
    -------
    int
        OK; BAD_ARGUMENT; STATE_COV_NOT_PD; or the solver's status of the first failing sigma
        point (NONFINITE, RHS_FAILURE, MAX_STEPS, ...).
    """
    n = x.shape[0]
    if stats.shape[0] < 8 or not (dt >= 0.0) or not math.isfinite(dt):
        return BAD_ARGUMENT
    if Qd.shape[0] != n or Qd.shape[1] != n or x_out.shape[0] != n or P_out.shape[0] != n or P_out.shape[1] != n:
        return BAD_ARGUMENT
    st = sigma_points(x, P, c, X)
    if st != OK:
        return st
    if dt > 0.0:
        xi = np.empty(n)
        work = np.zeros(1)
        s8 = np.zeros(8)
        for i in range(2 * n + 1):
            for j in range(n):
                xi[j] = X[i, j]
            st = rk4_advance_spec(rhs, jac, t, xi, u, p, dt, opts, work, s8)
            for k in range(1, 8):
                stats[k] += s8[k]
                s8[k] = 0.0
            stats[0] = s8[0]
            if st != OK:
                return st
            for j in range(n):
                X[i, j] = xi[j]
    return unscented_transform(X, Wm, Wc, Qd, x_out, P_out)


@njit(cache=False)
def ukf_update_spec(out, t, x, P, u, p, idx, ny, R, z, Wm, Wc, c, x_out, P_out, y, S, info):  # type: ignore[no-untyped-def]
    """UKF update with the model's output function as measurement function.

    Parameters
    ----------
    out : model output function ``out(t, x, u, p, y)`` (first-class, :data:`RHS_SIG`)
    t : float
        Time of the measurement [s] (= time of the predicted state).
    x : (n,), P : (n, n)
        Predicted mean and covariance (not modified).
    u, p : inputs and parameters passed to ``out``.
    idx : (m,) int64
        Indices of the measured outputs in the model's output vector.
    ny : int
        Length of the model's output vector.
    R : (m, m)
        Measurement-noise covariance (additive), units of ``z z^T``.
    z : (m,)
        Measurement.
    Wm, Wc, c : from :func:`merwe_weights`.
    x_out : (n,), P_out : (n, n)
        Posterior buffers.
    y : (m,), S : (m, m)
        Innovation ``z - z^`` and its covariance.
    info : (>= 1,)
        ``info[0]`` = NIS [-].

    Returns
    -------
    int
        OK; BAD_ARGUMENT; BAD_MEASUREMENT (z not finite, nothing else written);
        STATE_COV_NOT_PD; INNOVATION_NOT_PD; NONFINITE or a model status from ``out``.
    """
    n = x.shape[0]
    m = idx.shape[0]
    if (
        R.shape[0] != m
        or R.shape[1] != m
        or z.shape[0] != m
        or y.shape[0] != m
        or S.shape[0] != m
        or S.shape[1] != m
        or x_out.shape[0] != n
        or P_out.shape[0] != n
        or P_out.shape[1] != n
        or info.shape[0] < 1
    ):
        return BAD_ARGUMENT
    for k in range(m):
        if idx[k] < 0 or idx[k] >= ny:
            return BAD_ARGUMENT
    info[0] = np.nan
    if not all_finite(z):
        return BAD_MEASUREMENT
    N = 2 * n + 1
    X = np.empty((N, n))
    st = sigma_points(x, P, c, X)
    if st != OK:
        return st
    Z = np.empty((N, m))
    yb = np.empty(ny)
    xi = np.empty(n)
    for i in range(N):
        for j in range(n):
            xi[j] = X[i, j]
        st = out(t, xi, u, p, yb)
        if st != OK:
            return st
        for k in range(m):
            Z[i, k] = yb[idx[k]]
    zp = np.empty(m)
    st = unscented_transform(Z, Wm, Wc, R, zp, S)
    if st != OK:
        return st
    L = np.empty((m, m))
    if cholesky_lower(S, L) != OK:
        return INNOVATION_NOT_PD
    Pxz = np.zeros((n, m))
    for i in range(N):
        w = Wc[i]
        for a in range(n):
            da = w * (X[i, a] - x[a])
            for b in range(m):
                Pxz[a, b] += da * (Z[i, b] - zp[b])
    K = np.empty((n, m))
    _gain(Pxz, L, K)
    for k in range(m):
        y[k] = z[k] - zp[k]
    for a in range(n):
        s = x[a]
        for b in range(m):
            s += K[a, b] * y[b]
        x_out[a] = s
    KS = np.empty((n, m))
    _matmul(K, S, KS)
    _matmul_bt(KS, K, P_out)
    for a in range(n):
        for b in range(n):
            P_out[a, b] = P[a, b] - P_out[a, b]
    _symmetrize(P_out)
    info[0] = _nis(L, y)
    if not (all_finite(x_out) and all_finite2(P_out)):
        return NONFINITE
    return OK


# --------------------------------------------------------------------------- typed signatures
# Built from the solver signatures so this module needs no numba import of its own:
# RHS_SIG.args = (f8, vec, vec, vec, vec); JAC_SIG.args[4] = mat; INTEGRATE_SIG.args[11] = int64 vector;
# ADVANCE_SIG.args[:2] = the rhs and jac function types.
_f8 = RHS_SIG.args[0]
_vec = RHS_SIG.args[1]
_mat = JAC_SIG.args[4]
_ivec = INTEGRATE_SIG.args[11]
_i8 = RHS_SIG.return_type
_RHS_T = ADVANCE_SIG.args[0]
_JAC_T = ADVANCE_SIG.args[1]

# fmt: off
UKF_PREDICT_SIG = _i8(_RHS_T, _JAC_T, _f8, _f8, _vec, _mat, _vec, _vec, _mat, _vec, _vec, _f8, _vec, _mat, _vec,
                      _mat, _vec)
"""``ukf_predict_rk4(rhs, jac, t, dt, x, P, u, p, Qd, Wm, Wc, c, opts, X, x_out, P_out, stats)``."""
UKF_UPDATE_SIG = _i8(_RHS_T, _f8, _vec, _mat, _vec, _vec, _ivec, _i8, _mat, _vec, _vec, _vec, _f8, _vec, _mat, _vec,
                     _mat, _vec)
"""``ukf_update(out, t, x, P, u, p, idx, ny, R, z, Wm, Wc, c, x_out, P_out, y, S, info)``."""
# fmt: on


def kernel_sources() -> list[str]:
    """Source files compiled into the estimation kernels (for their disk-cache key): every
    ``*kernels.py`` of this package and the status codes."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    names = [*sorted(f for f in os.listdir(here) if f.endswith("kernels.py")), "status.py"]
    return [os.path.join(here, f) for f in names]


__getattr__ = lazy_kernels(
    __name__,
    {
        "ukf_predict_rk4": (ukf_predict_rk4_spec, UKF_PREDICT_SIG),
        "ukf_update": (ukf_update_spec, UKF_UPDATE_SIG),
    },
    kernel_sources(),
)


def __dir__() -> list[str]:
    return sorted([*globals(), *LAZY_KERNELS])
