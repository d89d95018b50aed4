"""Rodas4 coefficients and the pieces of one step (point data, trial step, dense output, controller).

See :mod:`phystwin.core.solvers.rodas` for the method and the kernels.
"""

from __future__ import annotations

import math

import numpy as np

from phystwin._jit import njit
from phystwin.core.input_tables import eval_inputs
from phystwin.core.solvers.common import EPS, err_norm, lu_factor, lu_solve

GAMMA = 0.25
C2 = 0.386
C3 = 0.21
C4 = 0.63
GS1 = 0.25  # gamma_i sums ("D1..D4" in rodas.f), multiply h f_t
GS2 = -0.1043
GS3 = 0.1035
GS4 = -0.3620000000000023e-01
A21 = 0.1544000000000000e01
A31 = 0.9466785280815826e00
A32 = 0.2557011698983284e00
A41 = 0.3314825187068521e01
A42 = 0.2896124015972201e01
A43 = 0.9986419139977817e00
A51 = 0.1221224509226641e01
A52 = 0.6019134481288629e01
A53 = 0.1253708332932087e02
A54 = -0.6878860361058950e00
C21 = -0.5668800000000000e01
C31 = -0.2430093356833875e01
C32 = -0.2063599157091915e00
C41 = -0.1073529058151375e00
C42 = -0.9594562251023355e01
C43 = -0.2047028614809616e02
C51 = 0.7496443313967647e01
C52 = -0.1024680431464352e02
C53 = -0.3399990352819905e02
C54 = 0.1170890893206160e02
C61 = 0.8083246795921522e01
C62 = -0.7981132988064893e01
C63 = -0.3152159432874371e02
C64 = 0.1631930543123136e02
C65 = -0.6058818238834054e01
D21 = 0.1012623508344586e02
D22 = -0.7487995877610167e01
D23 = -0.3480091861555747e02
D24 = -0.7992771707568823e01
D25 = 0.1025137723295662e01
D31 = -0.6762803392801253e00
D32 = 0.6087714651680015e01
D33 = 0.1643084320892478e02
D34 = 0.2476722511418386e02
D35 = -0.6594389125716872e01

SAFE = 0.9
FAC1 = 5.0  # largest step decrease: h / 5
FAC2 = 1.0 / 6.0  # largest step increase: 6 h
SINGULAR = -1  # internal status of rodas_step: E is singular


@njit(cache=False, inline="always")
def rodas_point(rhs, jac, t, x, u, p, f0, fx, J, fs, tab_t, tab_v, tab_kind, seg, uv, t_lo, t_hi, auton):  # type: ignore[no-untyped-def]
    """``f0 = f(t, x)``, ``J = df/dx`` and ``fx = df/dt`` at an accepted point.

    ``u`` must hold the inputs at ``t``. The time difference steps forward unless that would
    leave ``[t_lo, t_hi]`` (the segment): inputs are only valid inside it. Returns
    ``(status, n_rhs)`` with the raw model status.
    """
    n = x.shape[0]
    s = rhs(t, x, u, p, f0)
    nr = 1
    if s == 0:
        s = jac(t, x, u, p, J)
    if s == 0 and (uv or not auton):
        delt = math.sqrt(EPS * max(1e-5, abs(t)))
        if t + delt > t_hi and t - delt >= t_lo:
            delt = -delt
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + delt, u)
        s = rhs(t + delt, x, u, p, fs)
        nr += 1
        for i in range(n):
            fx[i] = (fs[i] - f0[i]) / delt
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t, u)
    elif s == 0:
        for i in range(n):
            fx[i] = 0.0
    return s, nr


@njit(cache=False, inline="always")
def rodas_step(
    rhs,
    t,
    x,
    h,
    u,
    p,
    f0,
    fx,
    J,
    E,
    piv,
    k1,
    k2,
    k3,
    k4,
    k5,
    k6,
    xs,
    fs,
    xn,  # type: ignore[no-untyped-def]
    tab_t,
    tab_v,
    tab_kind,
    seg,
    uv,
    rtol,
    atol,
):
    """One Rodas4 trial step of size ``h`` (``f0``, ``fx``, ``J`` at ``(t, x)``) into ``xn``.

    Returns ``(status, err)``: raw model status (``SINGULAR`` if ``E`` is singular) and the
    error norm of ``k6`` (NaN if anything is non-finite).
    """
    n = x.shape[0]
    err = np.nan
    fac = 1.0 / (h * GAMMA)
    for i in range(n):
        for j in range(n):
            E[i, j] = -J[i, j]
        E[i, i] += fac
    if not lu_factor(E, piv):
        return SINGULAR, err
    ih = 1.0 / h
    for i in range(n):
        k1[i] = f0[i] + h * GS1 * fx[i]
    lu_solve(E, piv, k1)
    for i in range(n):
        xs[i] = x[i] + A21 * k1[i]
    if uv:
        eval_inputs(tab_t, tab_v, tab_kind, seg, t + C2 * h, u)
    s = rhs(t + C2 * h, xs, u, p, fs)
    if s == 0:
        for i in range(n):
            k2[i] = fs[i] + h * GS2 * fx[i] + ih * C21 * k1[i]
        lu_solve(E, piv, k2)
        for i in range(n):
            xs[i] = x[i] + A31 * k1[i] + A32 * k2[i]
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + C3 * h, u)
        s = rhs(t + C3 * h, xs, u, p, fs)
    if s == 0:
        for i in range(n):
            k3[i] = fs[i] + h * GS3 * fx[i] + ih * (C31 * k1[i] + C32 * k2[i])
        lu_solve(E, piv, k3)
        for i in range(n):
            xs[i] = x[i] + A41 * k1[i] + A42 * k2[i] + A43 * k3[i]
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + C4 * h, u)
        s = rhs(t + C4 * h, xs, u, p, fs)
    if s == 0:
        for i in range(n):
            k4[i] = fs[i] + h * GS4 * fx[i] + ih * (C41 * k1[i] + C42 * k2[i] + C43 * k3[i])
        lu_solve(E, piv, k4)
        for i in range(n):
            xs[i] = x[i] + A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + h, u)
        s = rhs(t + h, xs, u, p, fs)
    if s == 0:
        for i in range(n):
            k5[i] = fs[i] + ih * (C51 * k1[i] + C52 * k2[i] + C53 * k3[i] + C54 * k4[i])
        lu_solve(E, piv, k5)
        for i in range(n):
            xs[i] += k5[i]  # embedded solution
        s = rhs(t + h, xs, u, p, fs)
    if s == 0:
        for i in range(n):
            k6[i] = fs[i] + ih * (C61 * k1[i] + C62 * k2[i] + C63 * k3[i] + C64 * k4[i] + C65 * k5[i])
        lu_solve(E, piv, k6)
        for i in range(n):
            xn[i] = xs[i] + k6[i]
        err = err_norm(k6, x, xn, rtol, atol)
    return s, err


@njit
def rodas_dense(R, x, xn, k1, k2, k3, k4, k5):  # type: ignore[no-untyped-def]
    """Continuous-output coefficients of ``rodas.f`` in the form of :func:`common.dense_eval`."""
    for i in range(x.shape[0]):
        R[0, i] = x[i]
        R[1, i] = xn[i] - x[i]
        R[2, i] = D21 * k1[i] + D22 * k2[i] + D23 * k3[i] + D24 * k4[i] + D25 * k5[i]
        R[3, i] = D31 * k1[i] + D32 * k2[i] + D33 * k3[i] + D34 * k4[i] + D35 * k5[i]
        R[4, i] = 0.0


@njit
def rodas_control(err, h, hacc, erracc, n_acc, rejected):  # type: ignore[no-untyped-def]
    """Step-size controller of ``rodas.f`` (with Gustafsson's predictive correction).

    Returns ``(accept, h_new, hacc, erracc)``.
    """
    fac = max(FAC2, min(FAC1, math.sqrt(math.sqrt(err)) / SAFE))
    hnew = h / fac
    if err <= 1.0:
        if n_acc > 0.0:
            facgus = (hacc / h) * math.sqrt(math.sqrt(err * err / erracc)) / SAFE
            facgus = max(FAC2, min(FAC1, facgus))
            fac = max(fac, facgus)
            hnew = h / fac
        if rejected:
            hnew = min(hnew, h)
        return True, hnew, h, max(1e-2, err)
    if n_acc == 0.0:
        hnew = 0.1 * h  # first step: the initial guess was far off
    return False, hnew, hacc, erracc
