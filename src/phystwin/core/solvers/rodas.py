"""Rodas4: stiffly accurate Rosenbrock method of order 4(3) (batch and live stepping).

Method
------
E. Hairer and G. Wanner, *Solving ODEs II*, 2nd ed., Sec. IV.7, Table 7.5 ("RODAS"); the
coefficients are those of Hairer's ``rodas.f`` (``RODCOE``, ``METH = 1``) in its transformed form:
with ``E = I / (h gamma) - J`` (``J = df/dx`` from the model's ``jac``, ``f_t = df/dt``)::

    E k_i = f(t + c_i h, x + sum_j a_ij k_j) + h d_i f_t + sum_j (c_ij / h) k_j,   i = 1..6

``x + sum a_5j k_j + k_5`` is the embedded 3rd-order solution, ``x_new = that + k_6`` and
``k_6`` is the error estimate (6 ``f`` evaluations, one LU of ``E`` per step). ``f_t`` is a
forward (backward at a segment end) difference with ``delta = sqrt(eps max(1e-5, |t|))``; set
``opts[8] = 1`` (optional entry) to skip it for models without explicit time dependence.
Continuous output (3rd order): ``x(theta) = (1 - theta) x0 + theta (x1 + (1 - theta)(c3 + theta c4))``
with ``c3, c4`` the ``D2j, D3j`` combinations of ``rodas.f``.

Step control: ``fac = clip(err**(1/4) / 0.9, 1/6, 5)``, ``h_new = h / fac``, with Gustafsson's
predictive correction on accepted steps (``rodas.f``)::

    fac_gus = (h_acc / h) (err**2 / err_acc)**(1/4) / 0.9,   fac = max(fac, clip(fac_gus, 1/6, 5))

A singular ``E`` halves the step (up to 5 times in a row, then SINGULAR_MATRIX). The LU is the
in-house partial-pivoting factorisation of :mod:`common` (small dense systems, no LAPACK).
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
    O_AUTONOMOUS,
    O_EVENT_TOL,
    O_H0,
    O_H_FIXED,
    O_HMAX,
    O_MAX_STEPS,
    O_RTOL,
    S_ACCEPTED,
    S_JAC,
    S_LU,
    S_REJECTED,
    S_RHS,
    S_SAVED,
    S_T,
    all_finite,
    all_finite2,
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
from phystwin.core.solvers.events import any_crossing, breakpoint_events, post_step, save_rest
from phystwin.core.solvers.rodas_tableau import (
    SINGULAR,
    rodas_control,
    rodas_dense,
    rodas_point,
    rodas_step,
)
from phystwin.core.status import MAX_STEPS, NONFINITE, OK, SINGULAR_MATRIX, STEP_UNDERFLOW


@njit(cache=False)
def _integrate_run(
    rhs,
    jac,
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
    f0,
    fx,
    fs,
    k1,
    k2,
    k3,
    k4,
    k5,
    k6,
    J,
    E,
    piv,
    R,
    u,
    ue,
    G,
    fired,
    until,
):
    """The Rodas batch loop; see :func:`rodas_integrate_spec` (arrays re-borrowed, see :mod:`_nb`)."""
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
    f0 = borrow(f0)
    fx = borrow(fx)
    fs = borrow(fs)
    k1 = borrow(k1)
    k2 = borrow(k2)
    k3 = borrow(k3)
    k4 = borrow(k4)
    k5 = borrow(k5)
    k6 = borrow(k6)
    J = borrow(J)
    E = borrow(E)
    piv = borrow(piv)
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
    auton = opts.shape[0] > O_AUTONOMOUS and opts[O_AUTONOMOUS] == 1.0

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
    hacc = 0.0
    erracc = 1.0
    rejected = False
    nonfinite = False
    nsing = 0
    anchor = t
    kstep = 0
    nfix = 1
    while True:
        t_seg_start = t
        t_seg = segment_end(tab_t, seg, t_end)
        uv = inputs_vary(tab_t, tab_kind, seg)
        need_f = True
        new_grid = True
        while t < t_seg:
            if need_f:
                # Every accepted point: f, J and df/dt there (a rejected step reuses them).
                eval_inputs(tab_t, tab_v, tab_kind, seg, t, u)
                s, nr = rodas_point(
                    rhs, jac, t, x, u, p, f0, fx, J, fs, tab_t, tab_v, tab_kind, seg, uv, t_seg_start, t_seg, auton
                )
                stats[S_RHS] += nr
                stats[S_JAC] += 1.0
                if s != 0:
                    stats[S_T] = t
                    return model_status(s)
                if not all_finite(f0) or not all_finite(fx) or not all_finite2(J):
                    stats[S_T] = t
                    return NONFINITE
                need_f = False
                if fixed and new_grid:
                    anchor = t
                    kstep = 0
                    nfix = n_substeps(t_seg - t, hfix)
                elif not fixed and h <= 0.0:
                    s, h = initial_step(rhs, t, x, f0, u, p, rtol, atol, 4.0, hmax, t_end - t, xs, fs)
                    stats[S_RHS] += 1.0
                    if s != OK:
                        stats[S_T] = t
                        return s
                new_grid = False
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
                last = t + 1.01 * h >= t_seg
                hs = t_seg - t if last else h
            # fmt: off
            s, err = rodas_step(rhs, t, x, hs, u, p, f0, fx, J, E, piv, k1, k2, k3, k4, k5, k6, xs, fs, xn, tab_t,
                tab_v, tab_kind, seg, uv, rtol, atol)
            # fmt: on
            if s == SINGULAR:
                nsing += 1
                if nsing >= 5 or fixed:
                    stats[S_T] = t
                    return SINGULAR_MATRIX
                stats[S_REJECTED] += 1.0
                h = 0.5 * hs
                rejected = True
                continue
            stats[S_LU] += 1.0
            stats[S_RHS] += 5.0
            if uv:
                eval_inputs(tab_t, tab_v, tab_kind, seg, t, u)
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
                acc, hnew, hacc, erracc = rodas_control(err, hs, hacc, erracc, stats[S_ACCEPTED], rejected)
                if not acc:
                    stats[S_REJECTED] += 1.0
                    rejected = True
                    h = hnew
                    continue
            rejected = False
            nsing = 0
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
                rodas_dense(R, x, xn, k1, k2, k3, k4, k5)
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
            need_f = True
            if evd:
                new_grid = True
            else:
                kstep += 1
            if not fixed:
                h = hnew
                if last and not evd and hprop > hnew:
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
def rodas_integrate_spec(
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
    """Integrate a (stiff) model with Rodas4 from ``t0`` to ``t_end`` (batch kernel).

    Same arguments and results as :func:`phystwin.core.solvers.dopri5.dopri5_integrate_spec`;
    ``jac(t, x, u, p, J)`` must write ``df/dx``. ``opts`` may have a 9th entry: 1.0 if ``rhs`` has
    no explicit time dependence (skips the ``df/dt`` difference; LINEAR inputs are still
    differenced). ``stats[4]`` counts Jacobians and ``stats[7]`` LU factorisations.
    """
    st = check_args(t0, t_end, x0, tab_t, tab_v, tab_kind, t_save, ev_dir, opts, X, Y, ev_t, ev_k, stats)
    if st != OK:
        return st
    nx = x0.shape[0]
    nu = tab_v.shape[1]
    ng = ev_dir.shape[0]
    W = np.zeros((13, nx))
    for i in range(nx):
        W[0, i] = x0[i]
    M = np.zeros((2, nx, nx))
    piv = np.zeros(nx, np.int64)
    R = np.zeros((5, nx))
    U = np.zeros((2, nu))
    G = np.zeros((6, ng))
    fired = np.zeros(ng, np.int64)
    until = np.empty(1)
    until[0] = -np.inf
    # fmt: off
    return _integrate_run(rhs, jac, out, ev, act, t0, t_end, p, tab_t, tab_v, tab_kind, t_save, ev_dir, opts, X, Y,
        ev_t, ev_k, stats, W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7], W[8], W[9], W[10], W[11], W[12], M[0],
        M[1], piv, R, U[0], U[1], G, fired, until)
    # fmt: on


@njit(cache=False)
def _advance_run(
    rhs,
    jac,
    t,
    x,
    u,
    p,
    dt,
    opts,
    work,
    stats,
    xn,
    xs,
    f0,
    fx,
    fs,
    k1,
    k2,
    k3,
    k4,
    k5,
    k6,  # type: ignore[no-untyped-def]
    J,
    E,
    piv,
    tab_t,
    tab_v,
    tab_kind,
):
    """The Rodas live-stepping loop; see :func:`rodas_advance_spec`."""
    x = borrow(x)
    u = borrow(u)
    p = borrow(p)
    opts = borrow(opts)
    work = borrow(work)
    stats = borrow(stats)
    xn = borrow(xn)
    xs = borrow(xs)
    f0 = borrow(f0)
    fx = borrow(fx)
    fs = borrow(fs)
    k1 = borrow(k1)
    k2 = borrow(k2)
    k3 = borrow(k3)
    k4 = borrow(k4)
    k5 = borrow(k5)
    k6 = borrow(k6)
    J = borrow(J)
    E = borrow(E)
    piv = borrow(piv)
    nx = x.shape[0]
    rtol = opts[O_RTOL]
    atol = opts[O_ATOL]
    hmax = opts[O_HMAX] if opts[O_HMAX] > 0.0 else np.inf
    max_steps = opt_limit(opts[O_MAX_STEPS])
    hfix = opts[O_H_FIXED]
    fixed = hfix > 0.0
    auton = opts.shape[0] > O_AUTONOMOUS and opts[O_AUTONOMOUS] == 1.0
    t_start = t
    t_end = t + dt
    nfix = n_substeps(dt, hfix) if fixed else 1
    hfx = dt / nfix
    h = work[0]
    hacc = 0.0
    erracc = 1.0
    rejected = False
    nonfinite = False
    nsing = 0
    kstep = 0
    nsteps = 0.0
    n_acc = 0.0
    need_f = True
    while t < t_end:
        if need_f:
            s, nr = rodas_point(
                rhs, jac, t, x, u, p, f0, fx, J, fs, tab_t, tab_v, tab_kind, 0, False, t_start, t_end, auton
            )
            stats[S_RHS] += nr
            stats[S_JAC] += 1.0
            if s != 0:
                stats[S_T] = t
                return model_status(s)
            if not all_finite(f0) or not all_finite(fx) or not all_finite2(J) or not all_finite(x):
                stats[S_T] = t
                return NONFINITE
            need_f = False
            if not fixed and not (h > 0.0):
                h = opts[O_H0]
                if not (h > 0.0):
                    s, h = initial_step(rhs, t, x, f0, u, p, rtol, atol, 4.0, hmax, dt, xs, fs)
                    stats[S_RHS] += 1.0
                    if s != OK:
                        return s
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
        # fmt: off
        s, err = rodas_step(rhs, t, x, hs, u, p, f0, fx, J, E, piv, k1, k2, k3, k4, k5, k6, xs, fs, xn, tab_t, tab_v,
            tab_kind, 0, False, rtol, atol)
        # fmt: on
        if s == SINGULAR:
            nsing += 1
            if nsing >= 5 or fixed:
                stats[S_T] = t
                return SINGULAR_MATRIX
            stats[S_REJECTED] += 1.0
            h = 0.5 * hs
            rejected = True
            continue
        stats[S_LU] += 1.0
        stats[S_RHS] += 5.0
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
            acc, hnew, hacc, erracc = rodas_control(err, hs, hacc, erracc, n_acc, rejected)
            if not acc:
                stats[S_REJECTED] += 1.0
                rejected = True
                h = hnew
                continue
        rejected = False
        nsing = 0
        n_acc += 1.0
        stats[S_ACCEPTED] += 1.0
        for i in range(nx):
            x[i] = xn[i]
        t = t_end if last else t + hs
        kstep += 1
        need_f = True
        if not fixed:
            h = hnew
            if last and hprop > hnew:
                h = hprop
            work[0] = h
    stats[S_T] = t
    return OK


@njit(cache=False)
def rodas_advance_spec(rhs, jac, t, x, u, p, dt, opts, work, stats):  # type: ignore[no-untyped-def]
    """Advance ``x`` in place from ``t`` to ``t + dt`` with Rodas4, inputs ``u`` held constant.

    Adaptive unless ``opts[6] = h_fixed > 0`` (then ``ceil(dt / h_fixed)`` equal steps without
    error control). ``work[0]`` carries the step-size proposal between calls (0 = automatic).
    ``stats[0]`` is set to the time reached; the counters are incremented.
    """
    st = check_advance_args(t, x, u, dt, opts, work, stats)
    if st != OK or dt == 0.0:
        return st
    nx = x.shape[0]
    nu = u.shape[0]
    W = np.empty((11, nx))
    M = np.empty((2, nx, nx))
    piv = np.zeros(nx, np.int64)
    tab_t = np.zeros(1)
    tab_v = np.zeros((1, nu))
    tab_kind = np.zeros(nu, np.int64)
    # fmt: off
    return _advance_run(rhs, jac, t, x, u, p, dt, opts, work, stats, W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7],
        W[8], W[9], W[10], M[0], M[1], piv, tab_t, tab_v, tab_kind)
    # fmt: on


__getattr__ = lazy_kernels(
    __name__,
    {"rodas_integrate": (rodas_integrate_spec, INTEGRATE_SIG), "rodas_advance": (rodas_advance_spec, ADVANCE_SIG)},
)
