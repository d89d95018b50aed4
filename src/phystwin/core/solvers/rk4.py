"""Classical 4th-order Runge–Kutta kernels with a fixed step (batch and live stepping).

Method
------
Kutta's classical scheme (Hairer, Nørsett & Wanner, *Solving ODEs I*, Table II.1.2)::

    k1 = f(t, x)
    k2 = f(t + h/2, x + h/2 k1)
    k3 = f(t + h/2, x + h/2 k2)
    k4 = f(t + h,   x + h k3)
    x+ = x + h/6 (k1 + 2 k2 + 2 k3 + k4)

with the step ``h = opts[6]`` (required). In a segment of the input table the grid is
``anchor + k h``; the last step is shortened to land on the breakpoint (or on an event, after
which the grid restarts). ``f`` at the new point is needed as the next ``k1`` anyway, so the dense
output is the cubic Hermite interpolant of the two end points and slopes (3rd order) at no cost.
"""

from __future__ import annotations

import numpy as np

from phystwin._jit import njit
from phystwin.core.input_tables import eval_inputs, segment_end, segment_of
from phystwin.core.solvers._nb import ADVANCE_SIG, INTEGRATE_SIG, borrow, lazy_kernels
from phystwin.core.solvers.common import (
    G_NEW,
    G_OLD,
    O_EVENT_TOL,
    O_H_FIXED,
    O_MAX_STEPS,
    S_ACCEPTED,
    S_RHS,
    S_SAVED,
    S_T,
    all_finite,
    check_advance_args,
    check_args,
    copy_row,
    hermite_coeffs,
    inputs_vary,
    model_status,
    n_substeps,
    opt_limit,
)
from phystwin.core.solvers.events import any_crossing, breakpoint_events, post_step, save_rest
from phystwin.core.status import BAD_ARGUMENT, MAX_STEPS, NONFINITE, OK


@njit(cache=False, inline="always")
def rk4_step(rhs, t, x, h, u, p, k1, k2, k3, k4, xs, xn, tab_t, tab_v, tab_kind, seg, uv):  # type: ignore[no-untyped-def]
    """One RK4 step of size ``h`` from ``(t, x)`` into ``xn``; ``k1`` must hold ``f(t, x)``.

    Returns the raw model status (0 = ok). Inputs are re-evaluated at the stage times only if
    ``uv`` (a LINEAR input in this segment).
    """
    n = x.shape[0]
    h2 = 0.5 * h
    for i in range(n):
        xs[i] = x[i] + h2 * k1[i]
    if uv:
        eval_inputs(tab_t, tab_v, tab_kind, seg, t + h2, u)
    s = rhs(t + h2, xs, u, p, k2)
    if s == 0:
        for i in range(n):
            xs[i] = x[i] + h2 * k2[i]
        s = rhs(t + h2, xs, u, p, k3)
    if s == 0:
        for i in range(n):
            xs[i] = x[i] + h * k3[i]
        if uv:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t + h, u)
        s = rhs(t + h, xs, u, p, k4)
    if s == 0:
        h6 = h / 6.0
        for i in range(n):
            xn[i] = x[i] + h6 * (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i])
    return s


@njit(cache=False)
def _integrate_run(
    rhs,
    out,
    ev,
    act,
    t0,
    t_end,
    p,
    tab_t,
    tab_v,
    tab_kind,
    t_save,
    ev_dir,
    opts,  # type: ignore[no-untyped-def]
    X,
    Y,
    ev_t,
    ev_k,
    stats,
    x,
    xn,
    xs,
    xe,
    k1,
    k2,
    k3,
    k4,
    f1,
    R,
    u,
    ue,
    G,
    fired,
    until,
):
    """The RK4 batch loop; see :func:`rk4_integrate_spec` (arrays re-borrowed, see :mod:`_nb`)."""
    p = borrow(p)
    tab_t = borrow(tab_t)
    tab_v = borrow(tab_v)
    tab_kind = borrow(tab_kind)
    t_save = borrow(t_save)
    ev_dir = borrow(ev_dir)
    opts = borrow(opts)
    X = borrow(X)
    Y = borrow(Y)
    ev_t = borrow(ev_t)
    ev_k = borrow(ev_k)
    stats = borrow(stats)
    x = borrow(x)
    xn = borrow(xn)
    xs = borrow(xs)
    xe = borrow(xe)
    k1 = borrow(k1)
    k2 = borrow(k2)
    k3 = borrow(k3)
    k4 = borrow(k4)
    f1 = borrow(f1)
    R = borrow(R)
    u = borrow(u)
    ue = borrow(ue)
    G = borrow(G)
    fired = borrow(fired)
    until = borrow(until)

    nx = x.shape[0]
    ng = ev_dir.shape[0]
    ns = t_save.shape[0]
    hfix = opts[O_H_FIXED]
    max_steps = opt_limit(opts[O_MAX_STEPS])
    etol = opts[O_EVENT_TOL]

    t = t0
    seg = segment_of(tab_t, t)
    eval_inputs(tab_t, tab_v, tab_kind, seg, t, u)
    if not all_finite(x):
        return NONFINITE
    if ng > 0:
        s = ev(t, x, u, p, G[G_OLD])
        if s != 0:
            return model_status(s)
    anchor = t
    kstep = 0
    nfix = 1
    while True:
        t_seg = segment_end(tab_t, seg, t_end)
        uv = inputs_vary(tab_t, tab_kind, seg)
        need_f = True
        while t < t_seg:
            if need_f:
                # Start of a segment or restart after an event: new grid, fresh slope.
                eval_inputs(tab_t, tab_v, tab_kind, seg, t, u)
                s = rhs(t, x, u, p, k1)
                stats[S_RHS] += 1.0
                if s != 0:
                    stats[S_T] = t
                    return model_status(s)
                if not all_finite(k1):
                    stats[S_T] = t
                    return NONFINITE
                need_f = False
                anchor = t
                kstep = 0
                nfix = n_substeps(t_seg - t, hfix)
            if stats[S_ACCEPTED] >= max_steps:
                stats[S_T] = t
                return MAX_STEPS
            last = kstep >= nfix - 1
            t_new = t_seg if last else anchor + (kstep + 1) * hfix
            hs = t_new - t
            s = rk4_step(rhs, t, x, hs, u, p, k1, k2, k3, k4, xs, xn, tab_t, tab_v, tab_kind, seg, uv)
            stats[S_RHS] += 3.0
            if s == 0:
                s = rhs(t_new, xn, u, p, f1)
                stats[S_RHS] += 1.0
            if s != 0 and s != NONFINITE:
                stats[S_T] = t
                return model_status(s)
            if s == NONFINITE or not all_finite(xn) or not all_finite(f1):
                stats[S_T] = t
                return NONFINITE
            stats[S_ACCEPTED] += 1.0
            if ng > 0:
                s = ev(t_new, xn, u, p, G[G_NEW])
                if s != 0:
                    stats[S_T] = t
                    return model_status(s)
            evd = False
            t_res = t_new
            isv = int(stats[S_SAVED])
            if (isv < ns and t_save[isv] < t_new) or (
                ng > 0 and (until[0] > t or any_crossing(G, G_OLD, G_NEW, ev_dir))
            ):
                hermite_coeffs(R, x, xn, k1, f1, hs)
                # fmt: off
                s, evd, t_res = post_step(out, ev, act, t, hs, t_new, R, xn, p, tab_t, tab_v, tab_kind, seg, t_save,
                    ev_dir, etol, G, fired, until, X, Y, ev_t, ev_k, stats, opts, xe, ue)
                # fmt: on
                if s != OK:
                    return s
            elif ng > 0:
                copy_row(G, G_OLD, G_NEW)
            for i in range(nx):
                x[i] = xn[i]
            t = t_res
            if evd:
                need_f = True
            else:
                for i in range(nx):
                    k1[i] = f1[i]
                kstep += 1
        stats[S_T] = t
        if t >= t_end:
            break
        seg += 1
        eval_inputs(tab_t, tab_v, tab_kind, seg, t, u)
        s, _ = breakpoint_events(ev, act, t, x, u, p, G, ev_dir, fired, until, etol, ev_t, ev_k, stats, opts)
        if s != OK:
            return s
    segf = segment_of(tab_t, t_end)
    if segf != seg:
        eval_inputs(tab_t, tab_v, tab_kind, segf, t, u)
        s, _ = breakpoint_events(ev, act, t, x, u, p, G, ev_dir, fired, until, etol, ev_t, ev_k, stats, opts)
        if s != OK:
            return s
    s = save_rest(out, t, x, t_save, X, Y, stats, p, tab_t, tab_v, tab_kind, segf, ue)
    stats[S_T] = t
    return s


@njit(cache=False)
def rk4_integrate_spec(
    rhs,
    jac,
    out,
    ev,
    act,
    t0,
    t_end,
    x0,
    p,
    tab_t,
    tab_v,
    tab_kind,  # type: ignore[no-untyped-def]
    t_save,
    ev_dir,
    opts,
    X,
    Y,
    ev_t,
    ev_k,
    stats,
):
    """Integrate with fixed-step RK4 (step ``opts[6]``, required) from ``t0`` to ``t_end``.

    Same arguments and results as :func:`phystwin.core.solvers.dopri5.dopri5_integrate_spec`;
    the tolerances ``opts[0:4]`` are not used (except that they must not be negative) and
    ``jac`` is unused. Events are located on the cubic Hermite dense output.
    """
    st = check_args(t0, t_end, x0, tab_t, tab_v, tab_kind, t_save, ev_dir, opts, X, Y, ev_t, ev_k, stats)
    if st != OK:
        return st
    if not (opts[O_H_FIXED] > 0.0) or not (opts[O_H_FIXED] < np.inf):
        return BAD_ARGUMENT
    nx = x0.shape[0]
    nu = tab_v.shape[1]
    ng = ev_dir.shape[0]
    W = np.zeros((9, nx))
    for i in range(nx):
        W[0, i] = x0[i]
    R = np.zeros((5, nx))
    U = np.zeros((2, nu))
    G = np.zeros((6, ng))
    fired = np.zeros(ng, np.int64)
    until = np.empty(1)
    until[0] = -np.inf
    # fmt: off
    return _integrate_run(rhs, out, ev, act, t0, t_end, p, tab_t, tab_v, tab_kind, t_save, ev_dir, opts, X, Y, ev_t,
        ev_k, stats, W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7], W[8], R, U[0], U[1], G, fired, until)
    # fmt: on


@njit(cache=False)
def _advance_run(rhs, t, x, u, p, dt, opts, stats, xn, xs, k1, k2, k3, k4, tab_t, tab_v, tab_kind):  # type: ignore[no-untyped-def]
    """The RK4 live-stepping loop; see :func:`rk4_advance_spec`."""
    x = borrow(x)
    u = borrow(u)
    p = borrow(p)
    opts = borrow(opts)
    stats = borrow(stats)
    xn = borrow(xn)
    xs = borrow(xs)
    k1 = borrow(k1)
    k2 = borrow(k2)
    k3 = borrow(k3)
    k4 = borrow(k4)
    nx = x.shape[0]
    n = n_substeps(dt, opts[O_H_FIXED])
    h = dt / n
    if float(n) > opt_limit(opts[O_MAX_STEPS]):
        return MAX_STEPS
    for k in range(n):
        tk = t + k * h
        s = rhs(tk, x, u, p, k1)
        if s == 0:
            s = rk4_step(rhs, tk, x, h, u, p, k1, k2, k3, k4, xs, xn, tab_t, tab_v, tab_kind, 0, False)
        stats[S_RHS] += 4.0
        if s != 0 and s != NONFINITE:
            stats[S_T] = tk
            return model_status(s)
        if s == NONFINITE or not all_finite(xn):
            stats[S_T] = tk
            return NONFINITE
        for i in range(nx):
            x[i] = xn[i]
        stats[S_ACCEPTED] += 1.0
    stats[S_T] = t + dt
    return OK


@njit(cache=False)
def rk4_advance_spec(rhs, jac, t, x, u, p, dt, opts, work, stats):  # type: ignore[no-untyped-def]
    """Advance ``x`` in place from ``t`` to ``t + dt`` with RK4, inputs ``u`` held constant.

    ``dt`` is split into ``ceil(dt / h_fixed)`` equal substeps (``h_fixed = opts[6] > 0``,
    required; the ceiling tolerates 1e-12 relative rounding of the ratio). Deterministic: the same
    inputs give the same bits. ``work`` is not used by this method; ``jac`` is unused.
    ``stats[0]`` is set to the time reached and the counters are incremented.
    """
    if not (opts.shape[0] > 6 and opts[O_H_FIXED] > 0.0 and opts[O_H_FIXED] < np.inf):
        return BAD_ARGUMENT
    st = check_advance_args(t, x, u, dt, opts, work, stats)
    if st != OK or dt == 0.0:
        return st
    nx = x.shape[0]
    nu = u.shape[0]
    W = np.empty((6, nx))
    tab_t = np.zeros(1)
    tab_v = np.zeros((1, nu))
    tab_kind = np.zeros(nu, np.int64)
    return _advance_run(rhs, t, x, u, p, dt, opts, stats, W[0], W[1], W[2], W[3], W[4], W[5], tab_t, tab_v, tab_kind)


__getattr__ = lazy_kernels(
    __name__,
    {"rk4_integrate": (rk4_integrate_spec, INTEGRATE_SIG), "rk4_advance": (rk4_advance_spec, ADVANCE_SIG)},
)
