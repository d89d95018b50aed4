"""Saving at requested times, and event detection, location and firing (shared by all kernels).

Events follow the contract of the batch kernels: indicator ``k`` fires when ``g_k`` crosses zero in
the direction ``ev_dir[k]``; the crossing is located on the step's dense output, the state is reset
by ``act`` and integration restarts there. See :func:`post_step` for the algorithm.
"""

from __future__ import annotations

import numpy as np

from phystwin._jit import njit
from phystwin.core.input_tables import eval_inputs
from phystwin.core.solvers.common import (
    EPS,
    G_A,
    G_B,
    G_FROZEN,
    G_M,
    G_NEW,
    G_OLD,
    O_MAX_EVENTS,
    S_EVENTS,
    S_SAVED,
    S_T,
    UNLIMITED,
    all_finite,
    copy_row,
    dense_eval,
    fill_int,
    model_status,
)
from phystwin.core.status import MAX_EVENTS, NONFINITE, OK


@njit(cache=False)
def save_before(out, t_lim, R, told, hd, t_save, X, Y, stats, p, tab_t, tab_v, tab_kind, seg, ue):  # type: ignore[no-untyped-def]
    """Save every pending point with ``t_save[i] < t_lim`` from the dense output of the current step.

    A point equal to ``t_lim`` is left for the next step (where ``theta = 0`` reproduces the
    state exactly): after a breakpoint or event it then sees the new inputs / reset state.
    Outputs use the inputs of the step's segment at the save time.
    """
    ns = t_save.shape[0]
    i = int(stats[S_SAVED])
    ny = Y.shape[1]
    while i < ns and t_save[i] < t_lim:
        ts = t_save[i]
        xi = X[i]
        dense_eval(R, told, hd, ts, xi)
        if ny > 0:
            eval_inputs(tab_t, tab_v, tab_kind, seg, ts, ue)
            yi = Y[i]
            s = out(ts, xi, ue, p, yi)
            if s != 0:
                stats[S_SAVED] = i
                return model_status(s)
            if not all_finite(yi):
                stats[S_SAVED] = i
                return NONFINITE
        i += 1
    stats[S_SAVED] = i
    return OK


@njit(cache=False)
def save_rest(out, t, x, t_save, X, Y, stats, p, tab_t, tab_v, tab_kind, seg, ue):  # type: ignore[no-untyped-def]
    """Save every remaining point (all equal to the end time ``t``) with the state ``x``."""
    ns = t_save.shape[0]
    i = int(stats[S_SAVED])
    ny = Y.shape[1]
    while i < ns and t_save[i] <= t:
        xi = X[i]
        for k in range(x.shape[0]):
            xi[k] = x[k]
        if ny > 0:
            eval_inputs(tab_t, tab_v, tab_kind, seg, t, ue)
            yi = Y[i]
            s = out(t, xi, ue, p, yi)
            if s != 0:
                stats[S_SAVED] = i
                return model_status(s)
            if not all_finite(yi):
                stats[S_SAVED] = i
                return NONFINITE
        i += 1
    stats[S_SAVED] = i
    return OK


@njit
def crosses(ga, gb, d):  # type: ignore[no-untyped-def]
    """Zero crossing from ``ga`` to ``gb`` in direction ``d`` (-1 falling, +1 rising, 0 both).

    Rising means ``ga < 0 <= gb``; falling ``ga > 0 >= gb``. Leaving an exact zero is not a
    crossing, so an indicator that stays at 0 after its event cannot fire again.
    """
    return (d >= 0 and ga < 0.0 and gb >= 0.0) or (d <= 0 and ga > 0.0 and gb <= 0.0)


@njit
def frozen(G, fired, win, j):  # type: ignore[no-untyped-def]
    """Indicator ``j`` is in the dead time after it fired and still on the side it crossed to.

    The restart point lies slightly past the root, so the indicator may cross straight back
    (a ball located 1e-12 below the floor rises through it right after the bounce): that
    artificial crossing is ignored by holding the indicator at its value at the end of the dead
    time. An indicator already back on its original side (moved there by another event) is live:
    a genuine chattering sequence is then still seen, and stopped by the event limit.
    """
    return win and fired[j] != 0 and fired[j] * G[G_OLD, j] >= 0.0


@njit
def any_crossing(G, ra, rb, ev_dir):  # type: ignore[no-untyped-def]
    """True if some indicator crosses between rows ``ra`` and ``rb`` of ``G``."""
    for j in range(ev_dir.shape[0]):  # noqa: SIM110  (explicit loop: no generator in compiled code)
        if crosses(G[ra, j], G[rb, j], ev_dir[j]):
            return True
    return False


@njit
def event_tols(etol, t):  # type: ignore[no-untyped-def]
    """``(bracket, window)``: location bracket width and the dead time after an event.

    Events are bracketed to ``etol / 64`` (cheap: Illinois converges superlinearly), so the
    restart point lies at most ``etol / 64`` past the root and the dead time ``etol`` covers the
    artificial re-crossing (see :func:`frozen`) even when the reset slows the indicator down
    64-fold (a ball bouncing with restitution 1/64); both are kept above a few ulps of ``t``.
    """
    floor = 4.0 * EPS * max(abs(t), 1.0)
    e = etol if etol > 0.0 else 1e-10 * max(abs(t), 1.0)
    br = max(e / 64.0, floor)
    return br, max(e, 64.0 * br)


@njit(cache=False)
def fire_events(act, ev, t, x, u, p, G, ev_dir, fired, win, until, window, ev_t, ev_k, stats, opts):  # type: ignore[no-untyped-def]
    """Apply every event whose indicator crosses between rows G_A and G_B, in index order.

    Logs each one, enforces the event limit (``min(opts[5], len(ev_t))``, checked before
    applying the event that would exceed it), then re-evaluates the indicators after the resets
    into row G_OLD (the reference for the next step) and opens the dead time of the fired ones
    (``fired[j]`` = the direction it fired in, +1 rising / -1 falling; see :func:`frozen`).
    """
    ng = ev_dir.shape[0]
    cap = opts[O_MAX_EVENTS]
    if not (cap >= 0.0):
        cap = UNLIMITED
    cap = min(cap, float(ev_t.shape[0]))
    if not win:
        fill_int(fired, 0)
    for j in range(ng):
        if crosses(G[G_A, j], G[G_B, j], ev_dir[j]):
            n = stats[S_EVENTS]
            if n + 1.0 > cap:
                stats[S_T] = t
                return MAX_EVENTS
            k = int(n)
            ev_t[k] = t
            ev_k[k] = j
            stats[S_EVENTS] = n + 1.0
            s = act(t, x, u, p, j)
            if s != 0:
                stats[S_T] = t
                return model_status(s)
            fired[j] = 1 if G[G_A, j] < 0.0 else -1
    if not all_finite(x):
        stats[S_T] = t
        return NONFINITE
    s = ev(t, x, u, p, G[G_OLD])
    if s != 0:
        stats[S_T] = t
        return model_status(s)
    until[0] = t + window
    return OK


@njit(cache=False)
def breakpoint_events(ev, act, t, x, u, p, G, ev_dir, fired, until, etol, ev_t, ev_k, stats, opts):  # type: ignore[no-untyped-def]
    """Events caused by an input jump at breakpoint ``t`` (``u`` holds the new segment's inputs).

    Compares the indicators at the end of the previous segment (row G_OLD) with their values
    under the new inputs; crossings fire at ``t`` exactly. Returns ``(status, fired_any)``.
    """
    ng = ev_dir.shape[0]
    if ng == 0:
        return OK, False
    s = ev(t, x, u, p, G[G_B])
    if s != 0:
        stats[S_T] = t
        return model_status(s), False
    win = until[0] > t
    copy_row(G, G_A, G_OLD)
    for j in range(ng):
        if frozen(G, fired, win, j):
            G[G_A, j] = G[G_B, j]  # in its dead time: cannot fire
    if not any_crossing(G, G_A, G_B, ev_dir):
        copy_row(G, G_OLD, G_B)
        return OK, False
    _, window = event_tols(etol, t)
    return fire_events(act, ev, t, x, u, p, G, ev_dir, fired, win, until, window, ev_t, ev_k, stats, opts), True


@njit(cache=False)
def _eval_g(ev, tm, R, told, hd, xe, ue, p, tab_t, tab_v, tab_kind, seg, G, fired, win, tu):  # type: ignore[no-untyped-def]
    """Indicators at ``tm`` on the dense output into row G_M; frozen ones (see :func:`frozen`)
    read their held value (row G_FROZEN) before ``tu``."""
    dense_eval(R, told, hd, tm, xe)
    eval_inputs(tab_t, tab_v, tab_kind, seg, tm, ue)
    s = ev(tm, xe, ue, p, G[G_M])
    if tm < tu:
        for j in range(G.shape[1]):
            if frozen(G, fired, win, j):
                G[G_M, j] = G[G_FROZEN, j]
    return s


@njit(cache=False)
def post_step(
    out,
    ev,
    act,
    told,
    hd,
    t_new,
    R,
    xn,
    p,
    tab_t,
    tab_v,
    tab_kind,
    seg,
    t_save,
    ev_dir,
    etol,  # type: ignore[no-untyped-def]
    G,
    fired,
    until,
    X,
    Y,
    ev_t,
    ev_k,
    stats,
    opts,
    xe,
    ue,
):
    """Events and saving after an accepted step ``[told, t_new]`` with dense output ``R``.

    Row G_OLD must hold the indicators at ``told`` and row G_NEW those at ``t_new``.

    Detection: sign changes between the step ends, in the requested direction; an indicator in
    its dead time after firing is held at its value at the end of the dead time (see
    :func:`frozen`), so that the artificial re-crossing of the restart point is ignored but a
    real crossing later in the same step is not.
    Location: Illinois-modified regula falsi on the joint bracket (the indicator whose secant
    root is earliest sets the trial point; an end that is kept twice has its weight halved),
    trial points kept ``bracket / 2`` inside the bracket, bisection after 30 iterations, until
    the bracket is narrower than ``etol / 64``. The event time is the bracket's right end: the
    indicator has crossed there, so a reset that leaves it unchanged cannot fire it again.

    Returns ``(status, event_fired, t_res)``: without event, points before ``t_new`` are saved
    and G_OLD takes G_NEW; with an event, points before it are saved and ``xn`` is overwritten
    with the post-reset state at ``t_res``.
    """
    ng = ev_dir.shape[0]
    win = until[0] > told
    tu = -np.inf
    hit = False
    if ng > 0:
        copy_row(G, G_A, G_OLD)
        copy_row(G, G_B, G_NEW)
        nfz = 0
        for j in range(ng):
            if frozen(G, fired, win, j):
                nfz += 1
        if nfz > 0:
            tu = min(until[0], t_new)
            if tu < t_new:
                s = _eval_g(ev, tu, R, told, hd, xe, ue, p, tab_t, tab_v, tab_kind, seg, G, fired, win, -np.inf)
                if s != 0:
                    stats[S_T] = told
                    return model_status(s), False, told
            else:
                copy_row(G, G_M, G_NEW)
            for j in range(ng):
                if frozen(G, fired, win, j):
                    G[G_FROZEN, j] = G[G_M, j]
                    G[G_A, j] = G[G_M, j]
        hit = any_crossing(G, G_A, G_B, ev_dir)
    if not hit:
        s = save_before(out, t_new, R, told, hd, t_save, X, Y, stats, p, tab_t, tab_v, tab_kind, seg, ue)
        if s != OK:
            stats[S_T] = told
            return s, False, told
        if ng > 0:
            copy_row(G, G_OLD, G_NEW)
        return OK, False, t_new

    br, window = event_tols(etol, t_new)
    ta = told
    tb = t_new
    d = 0.5 * br
    alph = 1.0
    side_prev = 0
    it = 0
    while tb - ta > br and it < 200:
        it += 1
        if it <= 30:
            maxfrac = 0.0
            for j in range(ng):
                if crosses(G[G_A, j], G[G_B, j], ev_dir[j]):
                    den = abs(G[G_B, j] - alph * G[G_A, j])
                    frac = abs(G[G_B, j]) / den if den > 0.0 else 0.5
                    if frac > maxfrac:
                        maxfrac = frac
            tm = tb - (tb - ta) * maxfrac
            if tm < ta + d:
                tm = ta + d
            if tm > tb - d:
                tm = tb - d
        else:
            tm = 0.5 * (ta + tb)
        s = _eval_g(ev, tm, R, told, hd, xe, ue, p, tab_t, tab_v, tab_kind, seg, G, fired, win, tu)
        if s != 0:
            stats[S_T] = told
            return model_status(s), False, told
        if any_crossing(G, G_A, G_M, ev_dir):
            tb = tm
            copy_row(G, G_B, G_M)
            side = 2
        else:
            ta = tm
            copy_row(G, G_A, G_M)
            side = 1
        if side == side_prev:
            alph = alph * 2.0 if side == 1 else alph * 0.5
        else:
            alph = 1.0
        side_prev = side

    t_ev = tb
    s = save_before(out, t_ev, R, told, hd, t_save, X, Y, stats, p, tab_t, tab_v, tab_kind, seg, ue)
    if s != OK:
        stats[S_T] = told
        return s, False, told
    if t_ev < t_new:
        dense_eval(R, told, hd, t_ev, xn)
    eval_inputs(tab_t, tab_v, tab_kind, seg, t_ev, ue)
    win = until[0] > t_ev
    s = fire_events(act, ev, t_ev, xn, ue, p, G, ev_dir, fired, win, until, window, ev_t, ev_k, stats, opts)
    return s, True, t_ev
