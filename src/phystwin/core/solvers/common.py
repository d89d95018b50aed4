"""Helpers shared by the compiled ODE solver kernels.

Everything here is nopython-mode code called from the kernels in :mod:`rk4`, :mod:`dopri5` and
:mod:`rodas`:

* option/statistics indices and argument validation;
* the weighted RMS error norm and cheap finiteness checks;
* one dense-output representation shared by all three methods (see :func:`dense_eval`);
* Hairer's automatic initial step size;
* a small LU factorisation with partial pivoting (the stiff solver's iteration matrix);
* saving at requested times, and event detection, location and firing.

Functions that receive model functions (``rhs``, ``out``, ``ev``, ``act``) are compiled with
``cache=False``: numba types a dispatcher argument by the identity of the dispatcher object, so a
disk cache would miss in every new process and grow by one file per process.
"""

from __future__ import annotations

import math

import numpy as np

from phystwin._jit import njit
from phystwin.core.input_tables import LINEAR, eval_inputs
from phystwin.core.status import (
    BAD_ARGUMENT,
    MAX_EVENTS,
    NONFINITE,
    OK,
    RHS_FAILURE,
)

# Indices into the ``opts`` array.
O_RTOL = 0
O_ATOL = 1
O_H0 = 2
O_HMAX = 3
O_MAX_STEPS = 4
O_MAX_EVENTS = 5
O_H_FIXED = 6
O_EVENT_TOL = 7
O_AUTONOMOUS = 8  # optional (Rodas only): 1.0 = rhs has no explicit time dependence
N_OPTS = 8

# Indices into the ``stats`` array.
S_T = 0
S_ACCEPTED = 1
S_REJECTED = 2
S_RHS = 3
S_JAC = 4
S_EVENTS = 5
S_SAVED = 6
S_LU = 7
N_STATS = 8

EPS = 2.220446049250313e-16
HMIN_FACTOR = 16.0 * EPS
UNLIMITED = 4611686018427387904.0  # 2**62: "no limit" for step and event counts

# Rows of the event work array G (6, ng).
G_OLD = 0  # indicators at the current (accepted) time
G_NEW = 1  # indicators at the end of the step just accepted
G_A = 2  # left end of the location bracket
G_B = 3  # right end of the location bracket
G_M = 4  # trial point
G_FROZEN = 5  # value a just-fired indicator is frozen at during its dead-time window


@njit
def copy_row(A, dst, src):  # type: ignore[no-untyped-def]
    """``A[dst] = A[src]`` as a loop (slice assignment would compile numba's generic setitem)."""
    for j in range(A.shape[1]):
        A[dst, j] = A[src, j]


@njit
def fill_int(a, v):  # type: ignore[no-untyped-def]
    """``a[:] = v`` as a loop."""
    for j in range(a.shape[0]):
        a[j] = v


@njit
def model_status(s):  # type: ignore[no-untyped-def]
    """Translate a non-zero status returned by a model function into a solver status.

    Known solver statuses (1..7) pass through so that a model can say "non-finite" or
    "singular" itself; any other value is a model failure.
    """
    if s >= 1 and s <= 7:
        return s
    return RHS_FAILURE


@njit
def all_finite(a):  # type: ignore[no-untyped-def]
    """True if every element of the 1-d array ``a`` is finite.

    ``v - v`` is exactly 0 for finite ``v`` and NaN for NaN or +-Inf, and a sum of zeros cannot
    overflow, so one comparison at the end replaces a branch per element.
    """
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] - a[i]
    return s == 0.0


@njit
def hmin_at(t):  # type: ignore[no-untyped-def]
    """Smallest step allowed at time ``t``: ``16 eps max(|t|, 1)``."""
    return HMIN_FACTOR * max(abs(t), 1.0)


@njit
def err_norm(e, x, xn, rtol, atol):  # type: ignore[no-untyped-def]
    """Weighted RMS norm ``sqrt(mean((e_i / (atol + rtol max(|x_i|, |xn_i|)))**2))``.

    NaN if anything is non-finite (an Inf scale would otherwise hide an Inf state).
    """
    n = e.shape[0]
    if n == 0:
        return 0.0
    s = 0.0
    chk = 0.0
    for i in range(n):
        sk = atol + rtol * max(abs(x[i]), abs(xn[i]))
        r = e[i] / sk
        s += r * r
        chk += xn[i] - xn[i]
    return math.sqrt(s / n) + chk


@njit
def opt_limit(v):  # type: ignore[no-untyped-def]
    """A count option: ``<= 0`` (or NaN) means unlimited."""
    if not (v > 0.0):
        return UNLIMITED
    return math.floor(v)


@njit
def n_substeps(span, h):  # type: ignore[no-untyped-def]
    """``ceil(span / h)``, tolerant to the rounding of ``span / h`` (1e-12 relative).

    Without the tolerance 1.1 / 0.1 = 11.000000000000002 would give 12 substeps.
    """
    r = span / h
    n = int(math.ceil(r - 1e-12 * r))
    if n < 1:
        n = 1
    return n


@njit
def inputs_vary(tab_t, tab_kind, seg):  # type: ignore[no-untyped-def]
    """True if some input is LINEAR inside segment ``seg`` (inputs must be re-evaluated per stage).

    Held inputs are constant inside a segment, so the kernels then evaluate them once per segment.
    """
    if seg < 0 or seg >= tab_t.shape[0] - 1:
        return False
    for j in range(tab_kind.shape[0]):
        if tab_kind[j] == LINEAR:
            return True
    return False


@njit
def dense_eval(R, told, hd, t, xe):  # type: ignore[no-untyped-def]
    """Evaluate the dense output of the step ``[told, told + hd]`` at ``t`` into ``xe``.

    All methods use Hairer's nested form (``CONTD5`` in ``dopri5.f``), with
    ``theta = (t - told) / hd``::

        x(theta) = R0 + theta (R1 + (1 - theta) (R2 + theta (R3 + (1 - theta) R4)))

    DOPRI5 fills all five rows; a cubic Hermite interpolant (RK4) and Rodas' continuous output
    are the special case ``R4 = 0``. ``theta = 0`` returns ``R0`` (the step's start) exactly.
    """
    th = (t - told) / hd
    th1 = 1.0 - th
    for i in range(xe.shape[0]):
        xe[i] = R[0, i] + th * (R[1, i] + th1 * (R[2, i] + th * (R[3, i] + th1 * R[4, i])))


@njit
def hermite_coeffs(R, x, xn, f0, f1, h):  # type: ignore[no-untyped-def]
    """Cubic Hermite dense output in the form of :func:`dense_eval` (``R4 = 0``).

    ``p(th) = x + th D + th (1 - th) (a + b th)`` with ``D = xn - x``, ``a = h f0 - D`` and
    ``b = 2 D - h (f0 + f1)`` matches values and slopes at both ends (3rd-order accurate).
    """
    for i in range(x.shape[0]):
        d = xn[i] - x[i]
        a = h * f0[i] - d
        R[0, i] = x[i]
        R[1, i] = d
        R[2, i] = a
        R[3, i] = d - h * f1[i] - a
        R[4, i] = 0.0


@njit(cache=False)
def initial_step(rhs, t, x, f0, u, p, rtol, atol, order, hmax, span, x1, f1):  # type: ignore[no-untyped-def]
    """Hairer's automatic initial step (``HINIT`` in ``dopri5.f``), with RMS norms.

    ``h0 = 0.01 ||x|| / ||f||``; one explicit Euler step gives an estimate ``d2`` of
    ``||x''||`` and ``h1 = (0.01 / max(d2, ||f||))**(1/order)``; the result is
    ``min(100 h0, h1, hmax, span)``. Uses one rhs evaluation (``x1``, ``f1`` are scratch).
    Returns ``(status, h)``; a non-finite trial just gives a cautious step.
    """
    n = x.shape[0]
    dnf = 0.0
    dny = 0.0
    for i in range(n):
        sk = atol + rtol * abs(x[i])
        dnf += (f0[i] / sk) ** 2
        dny += (x[i] / sk) ** 2
    if n > 0:
        dnf /= n
        dny /= n
    if dnf <= 1e-10 or dny <= 1e-10:
        h = 1e-6
    else:
        h = 0.01 * math.sqrt(dny / dnf)
    h = min(h, hmax, span)
    for i in range(n):
        x1[i] = x[i] + h * f0[i]
    s = rhs(t + h, x1, u, p, f1)
    if s != 0 and s != NONFINITE:
        return model_status(s), h
    der2 = 0.0
    for i in range(n):
        sk = atol + rtol * abs(x[i])
        der2 += ((f1[i] - f0[i]) / sk) ** 2
    if n > 0:
        der2 /= n
    der2 = math.sqrt(der2) / h
    if not (der2 == der2) or s == NONFINITE or der2 > 1e300:
        return OK, min(h * 1e-3, hmax, span)
    der12 = max(der2, math.sqrt(dnf))
    if der12 <= 1e-15:
        h1 = max(1e-6, h * 1e-3)
    else:
        h1 = (0.01 / der12) ** (1.0 / order)
    return OK, min(100.0 * h, h1, hmax, span)


@njit
def lu_factor(A, piv):  # type: ignore[no-untyped-def]
    """In-place LU factorisation ``P A = L U`` with partial pivoting (Doolittle, unit ``L``).

    Written out for the small dense matrices of the stiff solver (no LAPACK call overhead).
    Returns False if a pivot is zero or non-finite (singular matrix).
    """
    n = A.shape[0]
    for k in range(n):
        p = k
        amax = abs(A[k, k])
        for i in range(k + 1, n):
            v = abs(A[i, k])
            if v > amax:
                amax = v
                p = i
        if not (amax > 0.0) or amax - amax != 0.0:
            return False
        piv[k] = p
        if p != k:
            for j in range(n):
                tmp = A[k, j]
                A[k, j] = A[p, j]
                A[p, j] = tmp
        inv = 1.0 / A[k, k]
        for i in range(k + 1, n):
            m = A[i, k] * inv
            A[i, k] = m
            if m != 0.0:
                for j in range(k + 1, n):
                    A[i, j] -= m * A[k, j]
    return True


@njit
def lu_solve(A, piv, b):  # type: ignore[no-untyped-def]
    """Solve ``A x = b`` in place in ``b`` using the factors from :func:`lu_factor`."""
    n = A.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(1, n):
        s = b[i]
        for j in range(i):
            s -= A[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= A[i, j] * b[j]
        b[i] = s / A[i, i]


@njit
def check_args(t0, t_end, x0, tab_t, tab_v, tab_kind, t_save, ev_dir, opts, X, Y, ev_t, ev_k, stats):  # type: ignore[no-untyped-def]
    """Validate the batch-kernel arguments; initialise ``stats``. Returns OK or BAD_ARGUMENT."""
    if stats.shape[0] < N_STATS:
        return BAD_ARGUMENT
    for i in range(N_STATS):
        stats[i] = 0.0
    stats[S_T] = t0
    if opts.shape[0] < N_OPTS:
        return BAD_ARGUMENT
    if not (math.isfinite(t0) and math.isfinite(t_end)) or t_end < t0:
        return BAD_ARGUMENT
    nx = x0.shape[0]
    ns = t_save.shape[0]
    if X.shape[0] != ns or X.shape[1] != nx or Y.shape[0] != ns:
        return BAD_ARGUMENT
    m = tab_t.shape[0]
    if m < 1 or tab_v.shape[0] != m or tab_kind.shape[0] != tab_v.shape[1]:
        return BAD_ARGUMENT
    for k in range(1, m):
        if not (tab_t[k] > tab_t[k - 1]):
            return BAD_ARGUMENT
    for i in range(ns):
        if not (t_save[i] >= t0 and t_save[i] <= t_end):
            return BAD_ARGUMENT
        if i > 0 and t_save[i] < t_save[i - 1]:
            return BAD_ARGUMENT
    if ev_t.shape[0] != ev_k.shape[0]:
        return BAD_ARGUMENT
    for j in range(ev_dir.shape[0]):
        if ev_dir[j] < -1 or ev_dir[j] > 1:
            return BAD_ARGUMENT
    if not (opts[O_RTOL] >= 0.0 and opts[O_ATOL] >= 0.0):
        return BAD_ARGUMENT
    if opts[O_RTOL] == 0.0 and opts[O_ATOL] == 0.0 and not (opts[O_H_FIXED] > 0.0):
        return BAD_ARGUMENT
    return OK


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
    if d >= 0 and ga < 0.0 and gb >= 0.0:
        return True
    if d <= 0 and ga > 0.0 and gb <= 0.0:
        return True
    return False


@njit
def any_crossing(G, ra, rb, ev_dir):  # type: ignore[no-untyped-def]
    """True if some indicator crosses between rows ``ra`` and ``rb`` of ``G``."""
    for j in range(ev_dir.shape[0]):
        if crosses(G[ra, j], G[rb, j], ev_dir[j]):
            return True
    return False


@njit
def event_tols(etol, t):  # type: ignore[no-untyped-def]
    """``(bracket, window)``: location bracket width and the dead time after an event.

    Events are bracketed to ``etol / 64`` (cheap: Illinois converges superlinearly) so that the
    dead-time window ``etol`` after an event reliably covers the artificial re-crossing of the
    fired indicator (e.g. a ball located slightly below the floor rises through it again right
    after the bounce); both are kept above a few ulps of ``t``.
    """
    floor = 4.0 * EPS * max(abs(t), 1.0)
    e = etol if etol > 0.0 else 1e-10 * max(abs(t), 1.0)
    br = max(e / 64.0, floor)
    return br, max(e, 64.0 * br)


@njit(cache=False)
def fire_events(act, ev, t, x, u, p, G, ev_dir, fired, until, window, ev_t, ev_k, stats, opts):  # type: ignore[no-untyped-def]
    """Apply every event whose indicator crosses between rows G_A and G_B, in index order.

    Logs each one, enforces the event limit (``min(opts[5], len(ev_t))``; before applying the
    event that would exceed it), then re-evaluates the indicators after the resets into row
    G_OLD (the reference for the next step) and opens a dead-time window for the fired ones.
    """
    ng = ev_dir.shape[0]
    cap = opts[O_MAX_EVENTS]
    if not (cap >= 0.0):
        cap = UNLIMITED
    cap = min(cap, float(ev_t.shape[0]))
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
            fired[j] = 1
    if not all_finite(x):
        stats[S_T] = t
        return NONFINITE
    g0 = G[G_OLD]
    s = ev(t, x, u, p, g0)
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
    gb = G[G_B]
    s = ev(t, x, u, p, gb)
    if s != 0:
        stats[S_T] = t
        return model_status(s), False
    win = until[0] > t
    hit = False
    for j in range(ng):
        G[G_A, j] = G[G_OLD, j]
        if win and fired[j] == 1:
            G[G_A, j] = gb[j]  # inside its dead time: not eligible
        if crosses(G[G_A, j], gb[j], ev_dir[j]):
            hit = True
    if not hit:
        copy_row(G, G_OLD, G_B)
        return OK, False
    if not win:
        fill_int(fired, 0)
    br, window = event_tols(etol, t)
    return fire_events(act, ev, t, x, u, p, G, ev_dir, fired, until, window, ev_t, ev_k, stats, opts), True


@njit(cache=False)
def _eval_g(ev, tm, R, told, hd, xe, ue, p, tab_t, tab_v, tab_kind, seg, G, fired, tu):  # type: ignore[no-untyped-def]
    """Indicators at ``tm`` on the dense output into row G_M (frozen ones replaced)."""
    dense_eval(R, told, hd, tm, xe)
    eval_inputs(tab_t, tab_v, tab_kind, seg, tm, ue)
    gm = G[G_M]
    s = ev(tm, xe, ue, p, gm)
    if tm < tu:
        for j in range(gm.shape[0]):
            if fired[j] == 1:
                gm[j] = G[G_FROZEN, j]
    return s


@njit(cache=False)
def post_step(out, ev, act, told, hd, t_new, R, xn, p, tab_t, tab_v, tab_kind, seg, t_save, ev_dir, etol,
              G, fired, until, X, Y, ev_t, ev_k, stats, opts, xe, ue):  # type: ignore[no-untyped-def]
    """Events and saving after an accepted step ``[told, t_new]`` with dense output ``R``.

    Row G_OLD must hold the indicators at ``told`` and row G_NEW those at ``t_new``.
    Detection: sign changes between the step ends (in the requested direction). Location:
    Illinois-modified regula falsi on the joint bracket (the component whose secant root is
    earliest drives the update; a bracket end that stays twice has its weight halved), kept
    ``bracket/2`` away from both ends, switching to bisection after 30 iterations, until the
    bracket is narrower than ``etol / 64``; the event time is the bracket's right end (the
    indicator has crossed there, so a no-op reset cannot re-trigger).

    An indicator that fired at ``t_r`` is frozen at its value at ``t_r + window`` for earlier
    times (dead time), which suppresses the artificial re-crossing just after a reset.

    Returns ``(status, event_fired, t_res)``: without event, points before ``t_new`` are saved
    and G_OLD takes G_NEW; with an event, points before it are saved and ``xn`` is overwritten
    with the post-reset state at ``t_res``.
    """
    ng = ev_dir.shape[0]
    tu = -np.inf
    hit = False
    if ng > 0:
        for j in range(ng):
            G[G_A, j] = G[G_OLD, j]
            G[G_B, j] = G[G_NEW, j]
        if until[0] > told:
            tu = min(until[0], t_new)
            if tu < t_new:
                s = _eval_g(ev, tu, R, told, hd, xe, ue, p, tab_t, tab_v, tab_kind, seg, G, fired, -np.inf)
                if s != 0:
                    stats[S_T] = told
                    return model_status(s), False, told
                for j in range(ng):
                    if fired[j] == 1:
                        G[G_FROZEN, j] = G[G_M, j]
                        G[G_A, j] = G[G_M, j]
            else:
                for j in range(ng):
                    if fired[j] == 1:
                        G[G_FROZEN, j] = G[G_NEW, j]
                        G[G_A, j] = G[G_NEW, j]
        hit = any_crossing(G, G_A, G_B, ev_dir)
    if not hit:
        s = save_before(out, t_new, R, told, hd, t_save, X, Y, stats, p, tab_t, tab_v, tab_kind, seg, ue)
        if s != OK:
            stats[S_T] = told
            return s, False, told
        if ng > 0:
            copy_row(G, G_OLD, G_NEW)
            if until[0] <= t_new:
                fill_int(fired, 0)
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
        s = _eval_g(ev, tm, R, told, hd, xe, ue, p, tab_t, tab_v, tab_kind, seg, G, fired, tu)
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
    if until[0] <= t_ev:
        fill_int(fired, 0)
    s = fire_events(act, ev, t_ev, xn, ue, p, G, ev_dir, fired, until, window, ev_t, ev_k, stats, opts)
    return s, True, t_ev
