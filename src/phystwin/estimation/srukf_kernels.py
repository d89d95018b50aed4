r"""Compiled kernels of the square-root unscented Kalman filter (Van der Merwe & Wan, 2001).

The filter carries the lower Cholesky factor ``S`` of the covariance (``P = S S^T``, diagonal >= 0)
instead of ``P``; every factor comes from a Householder QR or a rank-1 Cholesky update/downdate, so
``S S^T`` is symmetric PSD by construction. Notation as in :mod:`phystwin.estimation.kernels`
(``Wm, Wc, c`` from ``merwe_weights``, ``N = 2n + 1``); ``Qd = Sq Sq^T`` and ``R = Sr Sr^T`` with
any square roots ``Sq``, ``Sr`` (not necessarily triangular).

Predict (:func:`srukf_predict_rk4`)::

    X_0 = x,  X_i = x + c S[:, i-1],  X_{n+i} = x - c S[:, i-1];   Y_i = RK4(X_i, t -> t + dt)  (one call)
    x- = sum_i Wm_i Y_i
    [., R] = qr([sqrt(Wc_i) (Y_i - x-)  (i = 1..2n),  Sq]^T)
    S- = cholupdate(R^T, sqrt|Wc_0| (Y_0 - x-), sign Wc_0)

``Wc_i = 1 / (2 (n + lambda)) > 0`` for ``i >= 1``; ``Wc_0 = lambda / (n + lambda) + 1 - alpha^2 + beta``
(= 2 for the defaults alpha = 1, beta = 2, kappa = 0) may be negative for small alpha: the last
step is then a downdate, and one that would make ``S- S-^T`` indefinite returns STATE_COV_NOT_PD.

Update (:func:`srukf_update`), sigma points redrawn from ``(x-, S-)``::

    Z_i = out(X_i)[idx],  z^ = sum Wm_i Z_i,  Sz from the same QR + rank 1 with Sr for Sq
    Pxz = sum Wc_i (X_i - x-)(Z_i - z^)^T,   K = (Pxz Sz^-T) Sz^-1   (two triangular solves)
    x+ = x- + K (z - z^),   S+ = S- downdated by each column of U = K Sz   (P+ = P- - K Pzz K^T)
    NIS = |Sz^-1 (z - z^)|^2

If a downdate fails (the posterior is far smaller than the prior: a very precise sensor), ``S+``
comes from the equivalent Joseph-type sigma-point form, which subtracts no covariances::

    D_i = X_i - x- - K (Z_i - z^),   S+ = factor of sum Wc_i D_i D_i^T + (K Sr)(K Sr)^T   (QR + rank 1)

and ``info[1] = 1``. Kernels never raise and never write into their inputs. The two public kernels
are typed on the model-function signatures of :mod:`phystwin.core.solvers` and disk-cached by
``lazy_kernels``, keyed on the solver sources and on ``kernels.kernel_sources()`` (every
``*kernels.py`` of this package, this file included, and :mod:`phystwin.estimation.status`).
"""

from __future__ import annotations

import math

import numpy as np

from phystwin._jit import njit
from phystwin.core.solvers._nb import lazy_kernels
from phystwin.core.solvers.common import all_finite, all_finite2
from phystwin.core.solvers.rk4 import rk4_advance_spec
from phystwin.estimation.kernels import UKF_PREDICT_SIG, UKF_UPDATE_SIG, kernel_sources
from phystwin.estimation.status import (
    BAD_ARGUMENT,
    BAD_MEASUREMENT,
    INNOVATION_NOT_PD,
    NONFINITE,
    OK,
    STATE_COV_NOT_PD,
)

LAZY_KERNELS = ("srukf_predict_rk4", "srukf_update")
"""Typed kernels built (or loaded from the disk cache) on first attribute access."""

__all__ = [*LAZY_KERNELS, "LAZY_KERNELS", "SRUKF_PREDICT_SIG", "SRUKF_UPDATE_SIG", "cholupdate", "qr_lower_factor"]


# --------------------------------------------------------------------------- factor algebra
@njit(cache=False)
def qr_lower_factor(A, L):  # type: ignore[no-untyped-def]
    """Lower factor ``L`` (k x k, non-negative diagonal) with ``L L^T = A^T A`` for ``A`` (r x k), r >= k.

    Householder QR ``A = Q R`` (``A`` is overwritten), then ``L = R^T`` with the signs of the rows
    of ``R`` flipped where its diagonal is negative. Returns OK, BAD_ARGUMENT (r < k), or NONFINITE.
    """
    r, k = A.shape
    if r < k or L.shape[0] != k or L.shape[1] != k:
        return BAD_ARGUMENT
    v = np.empty(r)
    for j in range(k):
        scale = 0.0
        for i in range(j, r):
            scale = max(scale, abs(A[i, j]))
        if scale == 0.0:
            continue
        if not math.isfinite(scale):
            return NONFINITE
        s = 0.0
        for i in range(j, r):
            v[i] = A[i, j] / scale
            s += v[i] * v[i]
        nrm = math.sqrt(s)
        alpha = -nrm if v[j] >= 0.0 else nrm  # reflect onto -sign(a_jj) |a| e_j (no cancellation)
        vv = 2.0 * nrm * (nrm + abs(v[j]))  # |v - alpha e_j|^2
        v[j] -= alpha
        for col in range(j + 1, k):
            d = 0.0
            for i in range(j, r):
                d += v[i] * A[i, col]
            tau = 2.0 * d / vv
            for i in range(j, r):
                A[i, col] -= tau * v[i]
        A[j, j] = alpha * scale
        for i in range(j + 1, r):
            A[i, j] = 0.0
    for i in range(k):
        sg = -1.0 if A[i, i] < 0.0 else 1.0
        for j in range(k):
            L[j, i] = sg * A[i, j] if j >= i else 0.0
    return OK


@njit(cache=False)
def cholupdate(L, v, sign):  # type: ignore[no-untyped-def]
    """In place ``L L^T <- L L^T + sign v v^T`` for lower ``L`` (``v`` is overwritten).

    ``sign >= 0``: update by Givens rotations (always succeeds, keeps the diagonal >= 0).
    ``sign < 0``: downdate by hyperbolic rotations in the stable "mixed" form (LINPACK ``dchdd``
    style). Returns OK, or STATE_COV_NOT_PD if the downdated matrix would not be positive definite
    (``L`` is then partly modified: callers pass a copy).
    """
    n = L.shape[0]
    for k in range(n):
        vk = v[k]
        if vk == 0.0:
            continue
        lkk = L[k, k]
        if sign >= 0.0:
            r = math.hypot(lkk, vk)
            c = lkk / r
            s = vk / r
            L[k, k] = r
            for i in range(k + 1, n):
                li = L[i, k]
                L[i, k] = c * li + s * v[i]
                v[i] = c * v[i] - s * li
        else:
            if not (lkk > 0.0):
                return STATE_COV_NOT_PD
            rho = vk / lkk
            r2 = (1.0 - rho) * (1.0 + rho)
            if not (r2 > 0.0) or not math.isfinite(r2):
                return STATE_COV_NOT_PD
            c = math.sqrt(r2)  # r = c lkk
            L[k, k] = c * lkk
            for i in range(k + 1, n):
                li = (L[i, k] - rho * v[i]) / c
                L[i, k] = li
                v[i] = c * v[i] - rho * li
    return OK


@njit(cache=False)
def _sigma_points(x, S, c, X):  # type: ignore[no-untyped-def]
    n = x.shape[0]
    for j in range(n):
        X[0, j] = x[j]
    for i in range(n):
        for j in range(n):
            d = c * S[j, i]
            X[i + 1, j] = x[j] + d
            X[n + i + 1, j] = x[j] - d


@njit(cache=False)
def _dev_factor(D, Wc, Sn, Sy):  # type: ignore[no-untyped-def]
    """Lower ``Sy`` with ``Sy Sy^T = sum_i Wc_i D_i D_i^T + Sn Sn^T`` for centred rows ``D_i``: QR of
    the rows ``i >= 1`` and ``Sn^T``, then a rank-1 update (``Wc_0 > 0``) or downdate with ``D_0``."""
    N, m = D.shape
    A = np.zeros((max(N - 1 + Sn.shape[1], m), m))  # zero rows pad to a tall matrix
    for i in range(1, N):
        w = math.sqrt(Wc[i])
        for j in range(m):
            A[i - 1, j] = w * D[i, j]
    for k in range(Sn.shape[1]):
        for j in range(m):
            A[N - 1 + k, j] = Sn[j, k]
    if not all_finite2(A) or qr_lower_factor(A, Sy) != OK:
        return NONFINITE
    if Wc[0] == 0.0:
        return OK
    d = math.sqrt(abs(Wc[0])) * D[0]
    return cholupdate(Sy, d, Wc[0])


@njit(cache=False)
def _sqrt_transform(Y, Wm, Wc, Sn, y, Sy):  # type: ignore[no-untyped-def]
    """Mean ``y`` and lower factor ``Sy`` of ``sum Wc_i (Y_i - y)(Y_i - y)^T + Sn Sn^T``."""
    N, m = Y.shape
    for j in range(m):
        s = 0.0
        for i in range(N):
            s += Wm[i] * Y[i, j]
        y[j] = s
    D = np.empty((N, m))
    for i in range(N):
        for j in range(m):
            D[i, j] = Y[i, j] - y[j]
    return _dev_factor(D, Wc, Sn, Sy)


@njit(cache=False)
def _solve_lower(L, b, transposed):  # type: ignore[no-untyped-def]
    """In place ``b <- L^-1 b`` (or ``L^-T b`` when ``transposed``) for lower triangular ``L``."""
    n = L.shape[0]
    for r in range(n):
        i = n - 1 - r if transposed else r
        s = b[i]
        for k in range(n):
            if transposed and k > i:
                s -= L[k, i] * b[k]
            elif not transposed and k < i:
                s -= L[i, k] * b[k]
        b[i] = s / L[i, i]


@njit(cache=False)
def _lower_ok(S):  # type: ignore[no-untyped-def]
    """True if ``S`` is square, lower triangular with a finite, non-negative diagonal."""
    n = S.shape[0]
    if S.shape[1] != n:
        return False
    for i in range(n):
        if not (S[i, i] >= 0.0 and math.isfinite(S[i, i])):
            return False
        for j in range(i + 1, n):
            if S[i, j] != 0.0:
                return False
    return True


# --------------------------------------------------------------------------- SR-UKF on a compiled model
@njit(cache=False)
def srukf_predict_rk4_spec(rhs, jac, t, dt, x, S, u, p, Sq, Wm, Wc, c, opts, X, x_out, S_out, stats):  # type: ignore[no-untyped-def]
    """SR-UKF predict from ``t`` to ``t + dt`` [s]; equations in the module docstring.

    Arguments as for :func:`phystwin.estimation.kernels.ukf_predict_rk4_spec`, except ``S`` (n, n),
    the lower factor of the prior covariance (not modified), ``Sq`` (n, q) with ``Qd = Sq Sq^T``
    over ``dt``, and ``S_out`` (n, n), the predicted lower factor. ``X`` (2n+1, n) receives the
    propagated sigma points, ``stats`` (>= 8) the solver statistics summed over them.

    Returns OK; BAD_ARGUMENT; STATE_COV_NOT_PD (``S`` not lower triangular with a finite diagonal
    >= 0, or the 0th-point downdate failed); NONFINITE; or the solver status of the first failing
    sigma point. ``x_out`` and ``S_out`` are written only on success.
    """
    n = x.shape[0]
    if stats.shape[0] < 8 or not (dt >= 0.0) or not math.isfinite(dt):
        return BAD_ARGUMENT
    if S.shape[0] != n or Sq.shape[0] != n or X.shape[0] != 2 * n + 1 or X.shape[1] != n:
        return BAD_ARGUMENT
    if x_out.shape[0] != n or S_out.shape[0] != n or S_out.shape[1] != n or Wm.shape[0] != X.shape[0]:
        return BAD_ARGUMENT
    if Wc.shape[0] != X.shape[0]:
        return BAD_ARGUMENT
    if not _lower_ok(S) or not all_finite(x) or not all_finite2(S):
        return STATE_COV_NOT_PD
    _sigma_points(x, S, c, X)
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
    xm = np.empty(n)
    Sm = np.empty((n, n))
    st = _sqrt_transform(X, Wm, Wc, Sq, xm, Sm)
    if st != OK:
        return st
    if not (all_finite(xm) and all_finite2(Sm)):
        return NONFINITE
    x_out[:] = xm
    S_out[:, :] = Sm
    return OK


@njit(cache=False)
def srukf_update_spec(out, t, x, S, u, p, idx, ny, Sr, z, Wm, Wc, c, x_out, S_out, y, Sz, info):  # type: ignore[no-untyped-def]
    """SR-UKF update with the model's output function as measurement function.

    Arguments as for :func:`phystwin.estimation.kernels.ukf_update_spec`, except ``S`` (n, n), the
    lower factor of the predicted covariance (not modified), ``Sr`` (m, r) with ``R = Sr Sr^T``,
    ``S_out`` (n, n) the posterior lower factor and ``Sz`` (m, m) the lower factor of the
    innovation covariance. ``info[0]`` = NIS [-]; ``info[1]`` (if present) = 1.0 when the
    Joseph-type fallback gave ``S+``, else 0.0.

    Returns OK; BAD_ARGUMENT; BAD_MEASUREMENT (z not finite; nothing else written);
    STATE_COV_NOT_PD; INNOVATION_NOT_PD (``Sz`` singular or its 0th-point downdate failed);
    NONFINITE or a model status from ``out``. ``x_out`` and ``S_out`` are written only on success.
    """
    n = x.shape[0]
    m = idx.shape[0]
    N = 2 * n + 1
    if S.shape[0] != n or Sr.shape[0] != m or z.shape[0] != m or y.shape[0] != m or info.shape[0] < 1:
        return BAD_ARGUMENT
    if Sz.shape[0] != m or Sz.shape[1] != m or x_out.shape[0] != n or S_out.shape[0] != n or S_out.shape[1] != n:
        return BAD_ARGUMENT
    if Wm.shape[0] != N or Wc.shape[0] != N:
        return BAD_ARGUMENT
    for k in range(m):
        if idx[k] < 0 or idx[k] >= ny:
            return BAD_ARGUMENT
    info[0] = np.nan
    if info.shape[0] > 1:
        info[1] = 0.0
    if not all_finite(z):
        return BAD_MEASUREMENT
    if not _lower_ok(S) or not all_finite(x) or not all_finite2(S):
        return STATE_COV_NOT_PD
    X = np.empty((N, n))
    _sigma_points(x, S, c, X)
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
    st = _sqrt_transform(Z, Wm, Wc, Sr, zp, Sz)
    if st == STATE_COV_NOT_PD:
        return INNOVATION_NOT_PD
    if st != OK:
        return st
    for k in range(m):
        if not (Sz[k, k] > 0.0):
            return INNOVATION_NOT_PD
    # K = Pxz Sz^-T Sz^-1, row by row: forward solve with Sz, then backward with Sz^T
    K = np.zeros((n, m))
    for i in range(N):
        w = Wc[i]
        for a in range(n):
            da = w * (X[i, a] - x[a])
            for b in range(m):
                K[a, b] += da * (Z[i, b] - zp[b])
    for a in range(n):
        _solve_lower(Sz, K[a], False)
        _solve_lower(Sz, K[a], True)
    for k in range(m):
        y[k] = z[k] - zp[k]
    w = y.copy()  # NIS = |Sz^-1 y|^2
    _solve_lower(Sz, w, False)
    nis = np.sum(w * w)
    xp = np.empty(n)
    for a in range(n):
        s = x[a]
        for b in range(m):
            s += K[a, b] * y[b]
        xp[a] = s
    # S+ by m downdates with the columns of U = K Sz
    Sp = S.copy()
    col = np.empty(n)
    st = OK
    for j in range(m):
        for a in range(n):
            s = 0.0
            for k in range(j, m):
                s += K[a, k] * Sz[k, j]
            col[a] = s
        st = cholupdate(Sp, col, -1.0)
        if st != OK:
            break
    if st != OK:  # Joseph-type sigma-point form: no covariance subtraction
        D = np.empty((N, n))  # X_i - x - K (Z_i - z^); D_0 = -K (Z_0 - z^)
        for i in range(N):
            for a in range(n):
                s = X[i, a] - x[a]
                for b in range(m):
                    s -= K[a, b] * (Z[i, b] - zp[b])
                D[i, a] = s
        KSr = np.zeros((n, Sr.shape[1]))
        for a in range(n):
            for k in range(Sr.shape[1]):
                for b in range(m):
                    KSr[a, k] += K[a, b] * Sr[b, k]
        st = _dev_factor(D, Wc, KSr, Sp)
        if st != OK:
            return st
        if info.shape[0] > 1:
            info[1] = 1.0
    if not (all_finite(xp) and all_finite2(Sp) and math.isfinite(nis)):
        return NONFINITE
    x_out[:] = xp
    S_out[:, :] = Sp
    info[0] = nis
    return OK


# --------------------------------------------------------------------------- typed signatures
# The square-root kernels take the same argument types, in the same order, as the UKF kernels
# (a factor where the UKF takes a covariance).
SRUKF_PREDICT_SIG = UKF_PREDICT_SIG
"""``srukf_predict_rk4(rhs, jac, t, dt, x, S, u, p, Sq, Wm, Wc, c, opts, X, x_out, S_out, stats)``."""
SRUKF_UPDATE_SIG = UKF_UPDATE_SIG
"""``srukf_update(out, t, x, S, u, p, idx, ny, Sr, z, Wm, Wc, c, x_out, S_out, y, Sz, info)``."""

__getattr__ = lazy_kernels(
    __name__,
    {
        "srukf_predict_rk4": (srukf_predict_rk4_spec, SRUKF_PREDICT_SIG),
        "srukf_update": (srukf_update_spec, SRUKF_UPDATE_SIG),
    },
    kernel_sources(),  # every *kernels.py of the package (this file included) and status.py
)


def __dir__() -> list[str]:
    return sorted([*globals(), *LAZY_KERNELS])
