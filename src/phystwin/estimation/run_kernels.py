r"""Compiled whole-run filtering: a UKF over a recorded, multi-rate measurement table in one call.

A recorded run is a table on the grid of the fastest sensor: sample times ``t_k``, inputs ``U[k]``
and measurements ``Z[k]`` with NaN where a sensor had no sample. The measured rows are grouped by
sensor (contiguous rows ``group_start[g] .. group_start[g+1]``). For each sample ``k``::

    predict from t_{k-1} to t_k with inputs U[k-1] held   (k = 0: from t0 with U[0]; none if equal)
        Qd_k = Qd (t_k - t_{k-1}) / dt_q                  (exact on the grid step dt_q; first order
                                                           in the step for gaps)
    for each sensor group g with a sample at k (sequential updates, independent sensor noise):
        all rows finite       -> UKF update of those rows with R[g, g] (outputs seen with U[k])
        NIS_g > gate[g]       -> rejected by the chi-square gate, prior kept
        some rows not finite  -> rejected as a bad measurement, prior kept

which is exactly what the per-call :class:`~phystwin.estimation.filters.UnscentedKalmanFilter`
computes when called sample by sample with the same ``Qd`` (checked to 1e-10 in the tests), without
returning to Python between samples.

Per-sample flags (``flags[k, g]``): :data:`ABSENT`, :data:`ACCEPTED`, :data:`GATED`,
:data:`BAD_SAMPLE`, :data:`NOT_PD` (innovation covariance not positive definite).
"""

from __future__ import annotations

import math

import numpy as np
from numba.core import types

from phystwin._jit import njit
from phystwin.core.solvers import RHS_SIG
from phystwin.core.solvers._nb import lazy_kernels
from phystwin.estimation.kernels import (
    UKF_PREDICT_SIG,
    kernel_sources,
    ukf_predict_rk4_spec,
    ukf_update_spec,
)
from phystwin.estimation.status import BAD_ARGUMENT, INNOVATION_NOT_PD, OK

ABSENT, ACCEPTED, GATED, BAD_SAMPLE, NOT_PD = 0, 1, 2, 3, 4
"""Values of ``flags[k, g]``: no sample, applied, rejected by the gate, non-finite, S not PD."""

FLAG_NAMES = ("absent", "accepted", "gated", "bad_sample", "innovation_not_pd")

LAZY_KERNELS = ("ukf_run",)

__all__ = ["ABSENT", "ACCEPTED", "BAD_SAMPLE", "FLAG_NAMES", "GATED", "LAZY_KERNELS", "NOT_PD", "ukf_run_spec"]


@njit(cache=False)
def ukf_run_spec(  # type: ignore[no-untyped-def]
    rhs, jac, out, t0, x0, P0, times, U, p, Qd, dt_q, idx, group_start, ny, R, Z, gate,
    Wm, Wc, c, opts, X_est, sd_est, innov, S_diag, nis, flags, P_end, stats,
):  # fmt: skip
    """Filter a whole recorded table (see the module docstring).

    Parameters
    ----------
    rhs, jac, out : model functions (first-class)
    t0 : float
        Time of the initial state [s] (``<= times[0]``).
    x0 : (n,), P0 : (n, n)
        Initial mean and covariance (not modified).
    times : (K,)
        Sample times [s], non-decreasing.
    U : (K, nu)
        Inputs at each sample, held until the next.
    p : (np,)
        Parameters.
    Qd : (n, n), dt_q : float
        Discrete process noise for steps of ``dt_q`` [s].
    idx : (m,) int64, group_start : (G + 1,) int64, ny : int
        Measured output rows (grouped by sensor, contiguous) and the output vector's length.
    R : (m, m)
        Measurement noise (block diagonal across groups; only the diagonal blocks are read).
    Z : (K, m)
        Measurements, NaN where absent.
    gate : (G,)
        Chi-square gate per group (``inf``: no gating).
    Wm, Wc, c, opts : sigma-point weights and RK4 options, as for the UKF kernels.
    X_est, sd_est : (K, n)
        Posterior mean and standard deviations after each sample.
    innov, S_diag : (K, m)
        Innovation and diagonal of its covariance (NaN where not formed).
    nis : (K, G)
        NIS of each update (NaN where not formed).
    flags : (K, G) int8
        What happened to each group's sample.
    P_end : (n, n)
        Covariance after the last sample.
    stats : (>= 9,)
        Solver statistics (as for the UKF predict); ``stats[8]`` = samples completed.

    Returns
    -------
    int
        OK, BAD_ARGUMENT, or the failing kernel's status (``stats[8]`` tells at which sample).
    """
    n = x0.shape[0]
    K = times.shape[0]
    G = group_start.shape[0] - 1
    if stats.shape[0] < 9 or not (dt_q > 0.0) or G < 1 or U.shape[0] != K or Z.shape[0] != K:
        return BAD_ARGUMENT
    x = x0.copy()
    P = P0.copy()
    xn = np.empty(n)
    Pn = np.empty((n, n))
    X = np.empty((2 * n + 1, n))
    Qs = np.empty((n, n))
    tp = t0
    stats[8] = 0.0
    for k in range(K):
        tk = times[k]
        dt = tk - tp
        if not (dt >= 0.0) or not math.isfinite(dt):
            return BAD_ARGUMENT
        if dt > 0.0:
            scale = dt / dt_q
            for a in range(n):
                for b in range(n):
                    Qs[a, b] = Qd[a, b] * scale
            st = ukf_predict_rk4_spec(
                rhs, jac, tp, dt, x, P, U[k - 1 if k > 0 else 0], p, Qs, Wm, Wc, c, opts, X, xn, Pn, stats
            )
            if st != OK:
                return st
            x[:] = xn
            P[:, :] = Pn
        for g in range(G):
            s = group_start[g]
            e = group_start[g + 1]
            present = 0
            finite = 0
            for r in range(s, e):
                innov[k, r] = np.nan
                S_diag[k, r] = np.nan
                v = Z[k, r]
                if not math.isnan(v):
                    present += 1
                if math.isfinite(v):
                    finite += 1
            nis[k, g] = np.nan
            if present == 0:
                flags[k, g] = ABSENT
                continue
            if finite != e - s:
                flags[k, g] = BAD_SAMPLE
                continue
            m = e - s
            y = np.empty(m)
            S = np.empty((m, m))
            info = np.empty(1)
            st = ukf_update_spec(
                out, tk, x, P, U[k], p, idx[s:e].copy(), ny, R[s:e, s:e].copy(), Z[k, s:e].copy(),
                Wm, Wc, c, xn, Pn, y, S, info,
            )  # fmt: skip
            if st == INNOVATION_NOT_PD:
                flags[k, g] = NOT_PD
                continue
            if st != OK:
                return st
            nis[k, g] = info[0]
            for r in range(m):
                innov[k, s + r] = y[r]
                S_diag[k, s + r] = S[r, r]
            if info[0] > gate[g]:
                flags[k, g] = GATED
                continue
            flags[k, g] = ACCEPTED
            x[:] = xn
            P[:, :] = Pn
        for a in range(n):
            X_est[k, a] = x[a]
            sd_est[k, a] = math.sqrt(max(P[a, a], 0.0))
        stats[8] = k + 1
        tp = tk
    P_end[:, :] = P
    return OK


# --------------------------------------------------------------------------- typed signature
_f8 = RHS_SIG.args[0]
_vec = RHS_SIG.args[1]
_mat = UKF_PREDICT_SIG.args[5]
_i8 = RHS_SIG.return_type
_ivec = types.Array(types.int64, 1, "C")
_flags = types.Array(types.int8, 2, "C")
_RHS_T = UKF_PREDICT_SIG.args[0]
_JAC_T = UKF_PREDICT_SIG.args[1]

# fmt: off
UKF_RUN_SIG = _i8(_RHS_T, _JAC_T, _RHS_T, _f8, _vec, _mat, _vec, _mat, _vec, _mat, _f8, _ivec, _ivec, _i8, _mat,
                  _mat, _vec, _vec, _vec, _f8, _vec, _mat, _mat, _mat, _mat, _mat, _flags, _mat, _vec)
"""``ukf_run(rhs, jac, out, t0, x0, P0, times, U, p, Qd, dt_q, idx, group_start, ny, R, Z, gate, Wm, Wc, c,
opts, X_est, sd_est, innov, S_diag, nis, flags, P_end, stats)``."""
# fmt: on

__getattr__ = lazy_kernels(__name__, {"ukf_run": (ukf_run_spec, UKF_RUN_SIG)}, kernel_sources())


def __dir__() -> list[str]:
    return sorted([*globals(), *LAZY_KERNELS])
