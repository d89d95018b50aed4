"""Helpers shared by the compiled ODE solver kernels.

Everything here is nopython-mode code called from the kernels in :mod:`rk4`, :mod:`dopri5` and
:mod:`rodas`:

* option/statistics indices and argument validation;
* the weighted RMS error norm and cheap finiteness checks;
* one dense-output representation shared by all three methods (see :func:`dense_eval`);
* Hairer's automatic initial step size;
* a small LU factorisation with partial pivoting (the stiff solver's iteration matrix);
* argument validation.

Saving and events are in :mod:`events`. Functions that receive model functions are compiled with
``cache=False``: they are compiled into (and cached with) the kernels that call them.
"""

from __future__ import annotations

import math

from phystwin._jit import njit
from phystwin.core.input_tables import LINEAR
from phystwin.core.status import (
    BAD_ARGUMENT,
    LAST_STATUS,
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
G_FROZEN = 5  # value held by an indicator in its dead time (see events.frozen)


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

    Known solver statuses (1..LAST_STATUS) pass through so that a model can say "non-finite",
    "singular" or "state out of range" itself; any other value is a model failure.
    """
    if s >= 1 and s <= LAST_STATUS:
        return s
    return RHS_FAILURE


@njit
def all_finite(a):  # type: ignore[no-untyped-def]
    """True if every element of the 1-d array ``a`` is finite.

    ``v - v`` is exactly 0 for finite ``v`` and NaN for NaN or +-Inf. The per-element results
    are combined with a boolean AND (associative, so LLVM may reorder and vectorise it; a
    floating-point sum would be one long dependency chain).
    """
    ok = True
    for i in range(a.shape[0]):
        v = a[i]
        ok = ok & (v - v == 0.0)
    return ok


@njit
def all_finite2(A):  # type: ignore[no-untyped-def]
    """True if every element of the 2-d array ``A`` is finite (see :func:`all_finite`)."""
    ok = True
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            v = A[i, j]
            ok = ok & (v - v == 0.0)
    return ok


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
    """``ceil(span / h)``, tolerant to the rounding of ``span / h`` (1e-9 relative).

    Without the tolerance 1.1 / 0.1 = 11.000000000000002 would give 12 substeps, and a sample
    step taken as a difference of large times (900.001 - 900.000 = 1.0000000000331966e-3 s) would
    give 2 RK4 substeps of a 1 ms step instead of 1 (a step at most 1e-9 longer than ``h`` changes
    nothing that matters).
    """
    r = span / h
    n = int(math.ceil(r - 1e-9 * r))  # noqa: RUF046  (numba: keep the integer type explicit)
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
    for j in range(tab_kind.shape[0]):  # noqa: SIM110  (explicit loop: no generator in compiled code)
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
    if math.isnan(der2) or s == NONFINITE or der2 > 1e300:
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
    The diagonal receives the reciprocals ``1 / U_kk`` (the solves then multiply: a division
    on the critical path of every back substitution costs ~4x a multiplication).
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
        A[k, k] = inv
        for i in range(k + 1, n):
            m = A[i, k] * inv
            A[i, k] = m
            if m != 0.0:
                for j in range(k + 1, n):
                    A[i, j] -= m * A[k, j]
    return True


@njit
def lu_solve(A, piv, b):  # type: ignore[no-untyped-def]
    """Solve ``A x = b`` in place in ``b`` using the factors from :func:`lu_factor`.

    Column-oriented substitutions: once ``b_j`` is final it updates all later rows (independent
    operations instead of one dependency chain per row); zero entries (common in sparse
    Jacobians and in the right-hand sides) skip their column.
    """
    n = A.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for j in range(n - 1):
        bj = b[j]
        if bj != 0.0:
            for i in range(j + 1, n):
                b[i] -= A[i, j] * bj
    for j in range(n - 1, -1, -1):
        bj = b[j] * A[j, j]
        b[j] = bj
        if bj != 0.0:
            for i in range(j):
                b[i] -= A[i, j] * bj


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


@njit
def check_advance_args(t, x, u, dt, opts, work, stats):  # type: ignore[no-untyped-def]
    """Validate the live-stepping arguments; set ``stats[0] = t``. Returns OK or BAD_ARGUMENT."""
    if stats.shape[0] < N_STATS or opts.shape[0] < N_OPTS or work.shape[0] < 1:
        return BAD_ARGUMENT
    stats[S_T] = t
    if not (math.isfinite(t) and math.isfinite(dt)) or dt < 0.0:
        return BAD_ARGUMENT
    if not (opts[O_H_FIXED] > 0.0):
        rtol = opts[O_RTOL]
        atol = opts[O_ATOL]
        if not (rtol >= 0.0 and atol >= 0.0) or rtol + atol == 0.0:
            return BAD_ARGUMENT
    return OK
