"""Dormand–Prince 5(4) coefficients and the pieces of one step (trial step, dense output, controller).

See :mod:`phystwin.core.solvers.dopri5` for the method and the kernels.
"""

from __future__ import annotations

import numpy as np

from phystwin._jit import njit
from phystwin.core.input_tables import eval_inputs
from phystwin.core.solvers.common import err_norm

C2 = 0.2
C3 = 0.3
C4 = 0.8
C5 = 8.0 / 9.0
A21 = 0.2
A31 = 3.0 / 40.0
A32 = 9.0 / 40.0
A41 = 44.0 / 45.0
A42 = -56.0 / 15.0
A43 = 32.0 / 9.0
A51 = 19372.0 / 6561.0
A52 = -25360.0 / 2187.0
A53 = 64448.0 / 6561.0
A54 = -212.0 / 729.0
A61 = 9017.0 / 3168.0
A62 = -355.0 / 33.0
A63 = 46732.0 / 5247.0
A64 = 49.0 / 176.0
A65 = -5103.0 / 18656.0
A71 = 35.0 / 384.0
A73 = 500.0 / 1113.0
A74 = 125.0 / 192.0
A75 = -2187.0 / 6784.0
A76 = 11.0 / 84.0
E1 = 71.0 / 57600.0
E3 = -71.0 / 16695.0
E4 = 71.0 / 1920.0
E5 = -17253.0 / 339200.0
E6 = 22.0 / 525.0
E7 = -1.0 / 40.0
D1 = -12715105075.0 / 11282082432.0
D3 = 87487479700.0 / 32700410799.0
D4 = -10690763975.0 / 1880347072.0
D5 = 701980252875.0 / 199316789632.0
D6 = -1453857185.0 / 822651844.0
D7 = 69997945.0 / 29380423.0

BETA = 0.04
EXPO1 = 0.2 - 0.75 * BETA
SAFE = 0.9
FACC1 = 5.0  # largest step decrease: h / 5
FACC2 = 0.1  # largest step increase: 10 h


@njit(cache=False, inline="always")
def dopri5_step(rhs, t, x, h, u, p, k1, k2, k3, k4, k5, k6, k7, xs, xn, tab_t, tab_v, tab_kind, seg, uv, rtol, atol):  # type: ignore[no-untyped-def]
    """One trial step of size ``h`` from ``(t, x)``; ``k1`` must hold ``f(t, x)``.

    Fills ``k2..k7`` (``k7 = f(t + h, xn)``, reused as the next ``k1``: FSAL) and ``xn``.
    Inputs are re-evaluated at the stage times only if ``uv`` (a LINEAR input in this segment).
    Returns ``(status, err)``: the raw model status (0 = ok) and the error norm (NaN if anything
    is non-finite: the caller rejects such a trial).
    """
    n = x.shape[0]
    err = np.nan
    for i in range(n):
        xs[i] = x[i] + h * A21 * k1[i]
    if uv:
        eval_inputs(tab_t, tab_v, tab_kind, seg, t + C2 * h, u)
    s = rhs(t + C2 * h, xs, u, p, k2)
    if s == 0:
        for i in range(n):
            xs[i] = x[i] + h * (A31 * k1[i] + A32 * k2[i])
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + C3 * h, u)
        s = rhs(t + C3 * h, xs, u, p, k3)
    if s == 0:
        for i in range(n):
            xs[i] = x[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i])
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + C4 * h, u)
        s = rhs(t + C4 * h, xs, u, p, k4)
    if s == 0:
        for i in range(n):
            xs[i] = x[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i])
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + C5 * h, u)
        s = rhs(t + C5 * h, xs, u, p, k5)
    if s == 0:
        for i in range(n):
            xs[i] = x[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i])
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + h, u)
        s = rhs(t + h, xs, u, p, k6)
    if s == 0:
        for i in range(n):
            xn[i] = x[i] + h * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i] + A76 * k6[i])
        s = rhs(t + h, xn, u, p, k7)
    if s == 0:
        # Error vector into xs (free now); the norm turns a non-finite xn or k7 into NaN.
        chk = 0.0
        for i in range(n):
            xs[i] = h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i])
            chk += k7[i] - k7[i]
        err = err_norm(xs, x, xn, rtol, atol) + chk
    return s, err


@njit
def dopri5_dense(R, x, xn, k1, k3, k4, k5, k6, k7, h):  # type: ignore[no-untyped-def]
    """Coefficients of Hairer's 4th-order continuous extension (``RCONT`` in ``dopri5.f``)."""
    for i in range(x.shape[0]):
        ydiff = xn[i] - x[i]
        bspl = h * k1[i] - ydiff
        R[0, i] = x[i]
        R[1, i] = ydiff
        R[2, i] = bspl
        R[3, i] = ydiff - h * k7[i] - bspl
        R[4, i] = h * (D1 * k1[i] + D3 * k3[i] + D4 * k4[i] + D5 * k5[i] + D6 * k6[i] + D7 * k7[i])


@njit
def dopri5_control(err, h, facold, rejected):  # type: ignore[no-untyped-def]
    """PI controller of ``dopri5.f``. Returns ``(accept, h_new, facold_new)``."""
    fac11 = err**EXPO1
    if err <= 1.0:
        fac = fac11 / facold**BETA
        fac = max(FACC2, min(FACC1, fac / SAFE))
        hnew = h / fac
        if rejected:
            hnew = min(hnew, h)
        return True, hnew, max(err, 1e-4)
    return False, h / min(FACC1, fac11 / SAFE), facold
