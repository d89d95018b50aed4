"""Dormand–Prince 5(4) explicit Runge–Kutta kernels (batch and live stepping).

Method
------
Tableau from J. R. Dormand and P. J. Prince, "A family of embedded Runge–Kutta formulae",
J. Comput. Appl. Math. 6 (1980), with the coefficients, error weights and dense-output
coefficients of E. Hairer's ``dopri5.f`` (Hairer, Nørsett & Wanner, *Solving ODEs I*, 2nd ed.,
Sec. II.5 and II.6):

* 7 stages, FSAL (the last stage is ``f`` at the new point), 5th-order solution, 4th-order
  embedded error estimate ``e = h sum_i E_i k_i``;
* error norm ``err = sqrt(mean((e_i / (atol + rtol max(|x_i|, |xnew_i|)))**2))``;
* PI step-size control (Hairer's ``dopri5.f``, beta = 0.04)::

      fac11 = err**(0.2 - 0.75 beta)
      fac   = clip(fac11 / err_old**beta / 0.9, 1/10, 5),  h_new = h / fac   (accepted)
      h_new = h / min(5, fac11 / 0.9)                                       (rejected)

  with ``err_old = max(err_accepted_previous, 1e-4)`` and no step increase right after a
  rejection;
* 4th-order continuous extension (Hairer's ``CONTD5``, coefficients ``D1..D7``);
* automatic initial step: Hairer's ``HINIT`` (see :func:`common.initial_step`).

With ``opts[6] = h_fixed > 0`` the kernels take fixed steps without error control (used to
measure the order of convergence).
"""

from __future__ import annotations

import math

import numpy as np

from phystwin._jit import njit
from phystwin.core.input_tables import eval_inputs, segment_end, segment_of
from phystwin.core.solvers._nb import ADVANCE_SIG, INTEGRATE_SIG, borrow, lazy_kernels
from phystwin.core.solvers.common import (
    G_NEW,
    G_OLD,
    O_ATOL,
    O_EVENT_TOL,
    O_H0,
    O_H_FIXED,
    O_HMAX,
    O_MAX_STEPS,
    O_RTOL,
    S_ACCEPTED,
    S_REJECTED,
    S_RHS,
    S_SAVED,
    S_T,
    all_finite,
    check_advance_args,
    check_args,
    copy_row,
    hmin_at,
    initial_step,
    inputs_vary,
    model_status,
    n_substeps,
    opt_limit,
)
from phystwin.core.solvers.dopri5_tableau import (
    dopri5_control,
    dopri5_dense,
    dopri5_step,
)
from phystwin.core.solvers.events import any_crossing, breakpoint_events, post_step, save_rest
from phystwin.core.status import MAX_STEPS, NONFINITE, OK, STEP_UNDERFLOW


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
    k5,
    k6,
    k7,
    R,
    u,
    ue,
    G,
    fired,
    until,
):
    """The DOPRI5 batch loop on preallocated buffers; see :func:`dopri5_integrate_spec`.

    Every array is re-borrowed first (see :func:`_nb.borrow`): the caller keeps the owners
    alive for the duration of the call, and with a constant-null owner LLVM removes all
    reference counting from the step loop.
    """
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
    k5 = borrow(k5)
    k6 = borrow(k6)
    k7 = borrow(k7)
    R = borrow(R)
    u = borrow(u)
    ue = borrow(ue)
    G = borrow(G)
    fired = borrow(fired)
    until = borrow(until)
    nx = x.shape[0]
    ng = ev_dir.shape[0]
    ns = t_save.shape[0]
    rtol = opts[O_RTOL]
    atol = opts[O_ATOL]
    hmax = opts[O_HMAX] if opts[O_HMAX] > 0.0 else np.inf
    max_steps = opt_limit(opts[O_MAX_STEPS])
    hfix = opts[O_H_FIXED]
    fixed = hfix > 0.0
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
    h = opts[O_H0] if opts[O_H0] > 0.0 else 0.0
    facold = 1e-4
    rejected = False
    nonfinite = False
    anchor = t
    kstep = 0
    nfix = 1
    while True:
        t_seg = segment_end(tab_t, seg, t_end)
        uv = inputs_vary(tab_t, tab_kind, seg)
        need_f = True
        while t < t_seg:
            if need_f:
                # Start of a segment or restart after an event: inputs or state jumped, no FSAL.
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
                if fixed:
                    anchor = t
                    kstep = 0
                    nfix = n_substeps(t_seg - t, hfix)
                elif h <= 0.0:
                    s, h = initial_step(rhs, t, x, k1, u, p, rtol, atol, 5.0, hmax, t_end - t, xs, k2)
                    stats[S_RHS] += 1.0
                    if s != OK:
                        stats[S_T] = t
                        return s
            if stats[S_ACCEPTED] + stats[S_REJECTED] >= max_steps:
                stats[S_T] = t
                return MAX_STEPS
            if fixed:
                last = kstep >= nfix - 1
                hs = (t_seg if last else anchor + (kstep + 1) * hfix) - t
                hprop = hs
            else:
                if h < hmin_at(t):
                    stats[S_T] = t
                    return NONFINITE if nonfinite else STEP_UNDERFLOW
                h = min(h, hmax)
                hprop = h
                # Land exactly on the breakpoint; stretch by up to 1% rather than leave a sliver.
                last = t + 1.01 * h >= t_seg
                hs = t_seg - t if last else h
            s, err = dopri5_step(
                rhs, t, x, hs, u, p, k1, k2, k3, k4, k5, k6, k7, xs, xn, tab_t, tab_v, tab_kind, seg, uv, rtol, atol
            )
            stats[S_RHS] += 6.0
            if s != 0 and s != NONFINITE:
                stats[S_T] = t
                return model_status(s)
            if s == NONFINITE or math.isnan(err):
                if fixed:
                    stats[S_T] = t
                    return NONFINITE
                # Non-finite trial (e.g. overflow): reject with a strongly reduced step.
                stats[S_REJECTED] += 1.0
                h = 0.25 * hs
                nonfinite = True
                rejected = True
                continue
            nonfinite = False
            hnew = hs
            if not fixed:
                acc, hnew, facold = dopri5_control(err, hs, facold, rejected)
                if not acc:
                    stats[S_REJECTED] += 1.0
                    rejected = True
                    h = hnew
                    continue
            rejected = False
            stats[S_ACCEPTED] += 1.0
            t_new = t_seg if last else t + hs
            if ng > 0:
                if uv:
                    eval_inputs(tab_t, tab_v, tab_kind, seg, t_new, u)
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
                dopri5_dense(R, x, xn, k1, k3, k4, k5, k6, k7, hs)
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
                    k1[i] = k7[i]
                kstep += 1
            if not fixed:
                h = hnew
                if last and not evd and hprop > hnew:
                    # The step was cut to hit a breakpoint: keep the controller's own proposal.
                    h = hprop
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
def dopri5_integrate_spec(
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
    """Integrate with DOPRI5 from ``t0`` to ``t_end`` (batch kernel).

    Parameters
    ----------
    rhs, jac, out, ev, act : compiled model functions
        See the package docstring (``jac`` is unused by this explicit method).
    t0, t_end : float
        Time span, ``t_end >= t0``.
    x0 : float64 (nx,)
        Initial state (not modified).
    p : float64 (np,)
        Parameters, passed through to the model functions.
    tab_t, tab_v, tab_kind : float64 (m,), float64 (m, nu), int64 (nu,)
        Input table; the solver never steps across a breakpoint.
    t_save : float64 (ns,)
        Sorted save times in ``[t0, t_end]``.
    ev_dir : int64 (ng,)
        Crossing direction per event indicator (-1 falling, 0 both, +1 rising).
    opts : float64 (8,)
        ``[rtol, atol, h0, hmax, max_steps, max_events, h_fixed, event_tol]``.
    X, Y : float64 (ns, nx), (ns, ny)
        Saved states and outputs (written).
    ev_t, ev_k : float64 (cap,), int64 (cap,)
        Event log (written).
    stats : float64 (8,)
        ``[t_reached, accepted, rejected, n_rhs, n_jac, n_events, n_saved, n_lu]`` (written).

    Returns
    -------
    int
        Status code from :mod:`phystwin.core.status`.
    """
    st = check_args(t0, t_end, x0, tab_t, tab_v, tab_kind, t_save, ev_dir, opts, X, Y, ev_t, ev_k, stats)
    if st != OK:
        return st
    nx = x0.shape[0]
    nu = tab_v.shape[1]
    ng = ev_dir.shape[0]
    # All work buffers once per call (the loop runs on borrowed views of them).
    W = np.zeros((11, nx))
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
        ev_k, stats, W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7], W[8], W[9], W[10], R, U[0], U[1], G, fired,
        until)
    # fmt: on


@njit(cache=False)
def _advance_run(rhs, t, x, u, p, dt, opts, work, stats, xn, xs, k1, k2, k3, k4, k5, k6, k7, tab_t, tab_v, tab_kind):  # type: ignore[no-untyped-def]
    """The DOPRI5 live-stepping loop; see :func:`dopri5_advance_spec` (arrays re-borrowed as above)."""
    x = borrow(x)
    u = borrow(u)
    p = borrow(p)
    opts = borrow(opts)
    work = borrow(work)
    stats = borrow(stats)
    xn = borrow(xn)
    xs = borrow(xs)
    k1 = borrow(k1)
    k2 = borrow(k2)
    k3 = borrow(k3)
    k4 = borrow(k4)
    k5 = borrow(k5)
    k6 = borrow(k6)
    k7 = borrow(k7)
    tab_t = borrow(tab_t)
    tab_v = borrow(tab_v)
    tab_kind = borrow(tab_kind)
    nx = x.shape[0]
    rtol = opts[O_RTOL]
    atol = opts[O_ATOL]
    hmax = opts[O_HMAX] if opts[O_HMAX] > 0.0 else np.inf
    max_steps = opt_limit(opts[O_MAX_STEPS])
    hfix = opts[O_H_FIXED]
    fixed = hfix > 0.0
    t_end = t + dt
    s = rhs(t, x, u, p, k1)
    stats[S_RHS] += 1.0
    if s != 0:
        return model_status(s)
    if not all_finite(k1) or not all_finite(x):
        return NONFINITE
    nfix = n_substeps(dt, hfix) if fixed else 1
    hfx = dt / nfix
    h = work[0]
    if not fixed and not (h > 0.0):
        h = opts[O_H0]
        if not (h > 0.0):
            s, h = initial_step(rhs, t, x, k1, u, p, rtol, atol, 5.0, hmax, dt, xs, k2)
            stats[S_RHS] += 1.0
            if s != OK:
                return s
    facold = 1e-4
    rejected = False
    nonfinite = False
    t_start = t
    kstep = 0
    nsteps = 0.0
    while t < t_end:
        if nsteps >= max_steps:
            stats[S_T] = t
            return MAX_STEPS
        nsteps += 1.0
        if fixed:
            last = kstep >= nfix - 1
            hs = (t_end if last else t_start + (kstep + 1) * hfx) - t
            hprop = hs
        else:
            if h < hmin_at(t):
                stats[S_T] = t
                return NONFINITE if nonfinite else STEP_UNDERFLOW
            h = min(h, hmax)
            hprop = h
            last = t + 1.01 * h >= t_end
            hs = t_end - t if last else h
        s, err = dopri5_step(
            rhs, t, x, hs, u, p, k1, k2, k3, k4, k5, k6, k7, xs, xn, tab_t, tab_v, tab_kind, 0, False, rtol, atol
        )
        stats[S_RHS] += 6.0
        if s != 0 and s != NONFINITE:
            stats[S_T] = t
            return model_status(s)
        if s == NONFINITE or math.isnan(err):
            if fixed:
                stats[S_T] = t
                return NONFINITE
            stats[S_REJECTED] += 1.0
            h = 0.25 * hs
            nonfinite = True
            rejected = True
            continue
        nonfinite = False
        hnew = hs
        if not fixed:
            acc, hnew, facold = dopri5_control(err, hs, facold, rejected)
            if not acc:
                stats[S_REJECTED] += 1.0
                rejected = True
                h = hnew
                continue
        rejected = False
        stats[S_ACCEPTED] += 1.0
        for i in range(nx):
            x[i] = xn[i]
            k1[i] = k7[i]
        t = t_end if last else t + hs
        kstep += 1
        if not fixed:
            h = hnew
            if last and hprop > hnew:
                h = hprop
            work[0] = h
    stats[S_T] = t
    return OK


@njit(cache=False)
def dopri5_advance_spec(rhs, jac, t, x, u, p, dt, opts, work, stats):  # type: ignore[no-untyped-def]
    """Advance ``x`` in place from ``t`` to ``t + dt`` with DOPRI5, inputs ``u`` held constant.

    Adaptive (tolerances ``opts[0:2]``) unless ``opts[6] = h_fixed > 0``: then ``dt`` is split
    into ``ceil(dt / h_fixed)`` equal steps without error control. ``work[0]`` carries the
    step-size proposal between calls (0 = automatic initial step). ``stats[0]`` is set to the
    time reached; the counters ``stats[1:]`` are incremented (accumulated over calls). No events,
    no input table; ``jac`` is unused. On failure ``x`` holds the state at ``stats[0]``.
    """
    st = check_advance_args(t, x, u, dt, opts, work, stats)
    if st != OK or dt == 0.0:
        return st
    nx = x.shape[0]
    nu = u.shape[0]
    W = np.empty((9, nx))
    tab_t = np.zeros(1)
    tab_v = np.zeros((1, nu))
    tab_kind = np.zeros(nu, np.int64)
    # fmt: off
    return _advance_run(rhs, t, x, u, p, dt, opts, work, stats, W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7], W[8],
        tab_t, tab_v, tab_kind)
    # fmt: on


__getattr__ = lazy_kernels(
    __name__,
    {"dopri5_integrate": (dopri5_integrate_spec, INTEGRATE_SIG), "dopri5_advance": (dopri5_advance_spec, ADVANCE_SIG)},
)
