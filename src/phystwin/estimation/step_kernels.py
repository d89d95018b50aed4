r"""Compiled process-noise discretisation and the fused UKF predict+update step.

The live runner fuses one measurement per packet, so a filter step has to cost tens of
microseconds. Three Python-level costs dominated it: Van Loan's method through ``scipy.linalg.expm``
on a ``2n x 2n`` block matrix (~0.3 ms), the model Jacobian call behind it, and two kernel
dispatches (predict, update). This module does all of it in one compiled call.

Van Loan by series
------------------
For :math:`dx = A x\,dt + dW`, :math:`E[dW dW^T] = Q_c dt`, over a step :math:`h`:

.. math::

    \Phi(h) = e^{A h} = \sum_{k \ge 0} \frac{(A h)^k}{k!},\qquad
    Q_d(h) = \int_0^h e^{A s} Q_c e^{A^T s} ds = \sum_{k \ge 0} \frac{h^{k+1}}{(k+1)!} \mathcal{L}^k(Q_c),
    \quad \mathcal{L}(X) = A X + X A^T

(the second from :math:`\dot Q_d = A Q_d + Q_d A^T + Q_c`, :math:`Q_d(0) = 0`). With
:math:`\|A\|_1 h \le 1/2`, :math:`\|\mathcal{L} h\| \le 1` and both series converge like
:math:`1/k!`; they are summed until a term no longer changes the sum (at most 40 terms). A longer
step is cut into :math:`2^k` such pieces and doubled back exactly,
:math:`Q_d(2h) = \Phi(h) Q_d(h) \Phi(h)^T + Q_d(h)`, :math:`\Phi(2h) = \Phi(h)^2`, so a stiff mode over
a long step never forms :math:`e^{-A h}` (which overflows; see :func:`~phystwin.estimation.discretize.van_loan`,
which this matches to rounding).

Fused step
----------
:func:`ukf_step` = Jacobian at the prior mean -> :math:`Q_d` -> UKF predict (every sigma point by RK4,
:func:`~phystwin.estimation.kernels.ukf_predict_rk4_spec`) -> UKF update on the measured output rows
(:func:`~phystwin.estimation.kernels.ukf_update_spec`), with the exact arithmetic of the two separate
kernels. ``info[1]`` tells which stage a failure came from (0 predict, 1 update).

Model functions by address
--------------------------
A first-class function argument costs ~5 us of Python per call of a compiled entry point: numba
unboxes it by calling back into Python twice (wrapper and jit address, with a signature check)
whatever object is passed. :func:`ukf_step_at` therefore takes the three model functions as the
``int64`` addresses of their C wrappers (:func:`function_address`) and turns them back into
first-class function values inside the compiled code (:func:`rhs_at`, :func:`jac_at`), so the call
is the same machine code as with the function objects. The addresses are arguments, not
constants: the compiled kernel stays model-independent and disk-cacheable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from phystwin._jit import JIT_DISABLED, njit
from phystwin.core.solvers._nb import lazy_kernels
from phystwin.core.solvers.common import all_finite2
from phystwin.estimation.kernels import (
    UKF_PREDICT_SIG,
    UKF_UPDATE_SIG,
    _matmul,
    kernel_sources,
    ukf_predict_rk4_spec,
    ukf_update_spec,
)
from phystwin.estimation.status import BAD_ARGUMENT, NONFINITE, OK

LAZY_KERNELS = ("process_noise", "ukf_step", "ukf_step_at")
"""Typed kernels built (or loaded from the disk cache) on first attribute access."""

__all__ = [
    *LAZY_KERNELS,
    "LAZY_KERNELS",
    "PROCESS_NOISE_SIG",
    "UKF_STEP_AT_SIG",
    "UKF_STEP_SIG",
    "entry_point",
    "function_address",
    "jac_at",
    "rhs_at",
    "van_loan_series",
]

_MAX_TERMS = 40


@njit
def _max_abs(A):  # type: ignore[no-untyped-def]
    m = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            a = abs(A[i, j])
            if a > m:
                m = a
    return m


@njit
def van_loan_series(A, Qc, dt, Phi, Qd):  # type: ignore[no-untyped-def]
    """``Phi = e^{A dt}`` and ``Qd`` of white noise with spectral density ``Qc`` over ``dt`` [s]
    (module docstring). Writes ``Phi`` and ``Qd`` (n, n); returns OK, BAD_ARGUMENT or NONFINITE."""
    n = A.shape[0]
    if A.shape[1] != n or Qc.shape[0] != n or Qc.shape[1] != n or Phi.shape[0] != n or Qd.shape[0] != n:
        return BAD_ARGUMENT
    if not (dt >= 0.0) or not math.isfinite(dt):
        return BAD_ARGUMENT
    norm = 0.0
    for j in range(n):
        s = 0.0
        for i in range(n):
            s += abs(A[i, j])
        norm = max(norm, s)
    norm *= dt
    if not math.isfinite(norm):
        return NONFINITE
    doublings = 0
    while norm > 0.5 and doublings < 1000:
        norm *= 0.5
        doublings += 1
    h = dt / 2.0**doublings
    # Phi(h): terms T_k = T_{k-1} (A h) / k
    T = np.eye(n)
    T2 = np.empty((n, n))
    Ah = A * h
    for i in range(n):
        for j in range(n):
            Phi[i, j] = T[i, j]
    for k in range(1, _MAX_TERMS):
        _matmul(T, Ah, T2)
        mx = 0.0
        for i in range(n):
            for j in range(n):
                T[i, j] = T2[i, j] / k
                Phi[i, j] += T[i, j]
                mx = max(mx, abs(T[i, j]))
        if mx <= 1e-17 * max(_max_abs(Phi), 1e-300):
            break
    # Qd(h): terms S_k = h/(k+1) * L(S_{k-1}) with S_0 = Qc h
    S = Qc * h
    S2 = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            Qd[i, j] = S[i, j]
    scale = max(_max_abs(S), 1e-300)
    for k in range(1, _MAX_TERMS):
        _matmul(Ah, S, S2)  # A h S; L(S) h = A h S + S (A h)^T = M + M^T since S is symmetric
        f = 1.0 / (k + 1)
        mx = 0.0
        for i in range(n):
            for j in range(i, n):
                v = (S2[i, j] + S2[j, i]) * f
                S[i, j] = v
                S[j, i] = v
                Qd[i, j] += v
                if j != i:
                    Qd[j, i] += v
                mx = max(mx, abs(v))
        if mx <= 1e-17 * max(_max_abs(Qd), scale * 1e-300):
            break
    for _ in range(doublings):  # Qd(2h) = Phi Qd Phi^T + Qd, Phi(2h) = Phi^2
        _matmul(Phi, Qd, T)
        for i in range(n):
            for j in range(i, n):
                s = 0.0
                for k in range(n):
                    s += T[i, k] * Phi[j, k]
                T2[i, j] = s
        for i in range(n):
            for j in range(i, n):
                v = T2[i, j] + Qd[i, j]
                Qd[i, j] = v
                Qd[j, i] = v
        _matmul(Phi, Phi, T)
        for i in range(n):
            for j in range(n):
                Phi[i, j] = T[i, j]
    if not (all_finite2(Phi) and all_finite2(Qd)):
        return NONFINITE
    return OK


@njit(cache=False)
def process_noise_spec(jac, t, x, u, p, Qc, dt, J, Phi, Qd):  # type: ignore[no-untyped-def]
    """``Qd`` over ``dt`` [s] from the model linearised at ``x``: ``J = jac(t, x, u, p)``, then
    :func:`van_loan_series` with ``Qc``. Writes ``J``, ``Phi``, ``Qd``; returns OK, the Jacobian's
    status, BAD_ARGUMENT or NONFINITE."""
    st = jac(t, x, u, p, J)
    if st != OK:
        return st
    if not all_finite2(J):
        return NONFINITE
    return van_loan_series(J, Qc, dt, Phi, Qd)


@njit(cache=False)
def ukf_step_spec(  # type: ignore[no-untyped-def]
    rhs, jac, out, t, dt, x, P, u, p, Qc, Qd, fixed_qd, Wm, Wc, c, opts,
    idx, ny, R, z, u_out, X, x_prior, P_prior, x_out, P_out, y, S, info, stats,
):  # fmt: skip
    """UKF predict from ``t`` to ``t + dt`` [s] and update with ``z`` at ``t + dt``, in one call.

    ``fixed_qd`` = 1: ``Qd`` is used as given (a fixed discrete covariance); 0: ``Qd`` is a buffer
    that receives Van Loan's ``Qd`` from ``Qc`` and the Jacobian at ``x`` (:func:`process_noise_spec`).
    ``u`` is held over the prediction, ``u_out`` is what the output function sees at ``t + dt``.
    The other arguments are those of :func:`~phystwin.estimation.kernels.ukf_predict_rk4_spec`
    (prior written to ``x_prior``, ``P_prior``) and :func:`~phystwin.estimation.kernels.ukf_update_spec`
    (posterior to ``x_out``, ``P_out``, innovation ``y``, ``S``, NIS in ``info[0]``).

    Returns the status of the failing stage (``info[1]`` = 0 predict, 1 update) or OK.
    """
    n = x.shape[0]
    if info.shape[0] < 2:
        return BAD_ARGUMENT
    info[0] = np.nan
    info[1] = 0.0
    if dt > 0.0:
        if fixed_qd == 0:
            J = np.empty((n, n))
            Phi = np.empty((n, n))
            st = process_noise_spec(jac, t, x, u, p, Qc, dt, J, Phi, Qd)
            if st != OK:
                return st
        st = ukf_predict_rk4_spec(rhs, jac, t, dt, x, P, u, p, Qd, Wm, Wc, c, opts, X, x_prior, P_prior, stats)
        if st != OK:
            return st
    else:
        for i in range(n):
            x_prior[i] = x[i]
            for j in range(n):
                P_prior[i, j] = P[i, j]
    info[1] = 1.0
    return ukf_update_spec(out, t + dt, x_prior, P_prior, u_out, p, idx, ny, R, z, Wm, Wc, c, x_out, P_out, y, S, info)


# --------------------------------------------------------------------------- model functions by address
if JIT_DISABLED:

    def rhs_at(address: Any) -> Any:
        """Identity when running as plain Python (the "address" is the function itself)."""
        return address

    jac_at = rhs_at

    def function_address(fn: Any) -> Any:
        """The function itself when running as plain Python."""
        return fn

else:
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    def _function_at(fn_type: Any) -> Any:
        """An intrinsic ``address -> fn_type`` value calling the C wrapper at ``address``."""

        @intrinsic
        def at(typingctx, address):  # type: ignore[no-untyped-def]
            if not isinstance(address, types.Integer):
                return None

            def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
                # c_addr only (py_addr and jit_addr null): exactly what numba unboxes from a
                # function_pointer value, whose jit address is 0, so calls go through the C wrapper
                fn = cgutils.create_struct_proxy(fn_type)(context, builder)
                fn.c_addr = builder.inttoptr(args[0], context.get_value_type(types.voidptr))
                return fn._getvalue()

            return fn_type(address), codegen

        return at

    rhs_at = _function_at(UKF_PREDICT_SIG.args[0])  # rhs(t, x, u, p, dx) or out(t, x, u, p, y) at an address
    jac_at = _function_at(UKF_PREDICT_SIG.args[1])  # jac(t, x, u, p, J) at an address

    def function_address(fn: Any) -> Any:
        """The address of the C wrapper of a model function from :meth:`Model.functions` (an int).

        The address is only valid while ``fn`` is alive: the caller keeps a reference to it.
        """
        return int(fn.__wrapper_address__())


@njit(cache=False)
def ukf_step_at_spec(  # type: ignore[no-untyped-def]
    rhs, jac, out, t, dt, x, P, u, p, Qc, Qd, fixed_qd, Wm, Wc, c, opts,
    idx, ny, R, z, u_out, X, x_prior, P_prior, x_out, P_out, y, S, info, stats,
):  # fmt: skip
    """:func:`ukf_step_spec` with ``rhs``, ``jac``, ``out`` given by :func:`function_address`."""
    return ukf_step_spec(
        rhs_at(rhs), jac_at(jac), rhs_at(out), t, dt, x, P, u, p, Qc, Qd, fixed_qd, Wm, Wc, c, opts,
        idx, ny, R, z, u_out, X, x_prior, P_prior, x_out, P_out, y, S, info, stats,
    )  # fmt: skip


# --------------------------------------------------------------------------- typed signatures
_a = UKF_PREDICT_SIG.args  # (rhs, jac, t, dt, x, P, u, p, Qd, Wm, Wc, c, opts, X, x_out, P_out, stats)
_b = UKF_UPDATE_SIG.args  # (out, t, x, P, u, p, idx, ny, R, z, Wm, Wc, c, x_out, P_out, y, S, info)
_RHS_T, _JAC_T, _f8, _vec, _mat = _a[0], _a[1], _a[2], _a[4], _a[5]
_ivec, _i8 = _b[6], _b[7]

# fmt: off
PROCESS_NOISE_SIG = UKF_PREDICT_SIG.return_type(_JAC_T, _f8, _vec, _vec, _vec, _mat, _f8, _mat, _mat, _mat)
"""``process_noise(jac, t, x, u, p, Qc, dt, J, Phi, Qd)``."""
UKF_STEP_SIG = UKF_PREDICT_SIG.return_type(
    _RHS_T, _JAC_T, _RHS_T, _f8, _f8, _vec, _mat, _vec, _vec, _mat, _mat, _i8, _vec, _vec, _f8, _vec,
    _ivec, _i8, _mat, _vec, _vec, _mat, _vec, _mat, _vec, _mat, _vec, _mat, _vec, _vec,
)
"""``ukf_step(rhs, jac, out, t, dt, x, P, u, p, Qc, Qd, fixed_qd, Wm, Wc, c, opts, idx, ny, R, z, u_out,
X, x_prior, P_prior, x_out, P_out, y, S, info, stats)``."""
UKF_STEP_AT_SIG = UKF_STEP_SIG.return_type(_i8, _i8, _i8, *UKF_STEP_SIG.args[3:])
"""``ukf_step_at(rhs, jac, out, ...)``: :data:`UKF_STEP_SIG` with the model functions as int64 addresses."""
# fmt: on

__getattr__ = lazy_kernels(
    __name__,
    {
        "process_noise": (process_noise_spec, PROCESS_NOISE_SIG),
        "ukf_step": (ukf_step_spec, UKF_STEP_SIG),
        "ukf_step_at": (ukf_step_at_spec, UKF_STEP_AT_SIG),
    },
    kernel_sources(),
)


def entry_point(dispatcher: Any) -> Any:
    """The compiled entry point of ``dispatcher``'s newest signature (call the dispatcher once
    first). It skips numba's per-call typing of the arguments, so every call must pass exactly the
    types of that signature (C-contiguous writable float64 arrays here); the callers guarantee it.
    Running as plain Python, the function itself."""
    if JIT_DISABLED:
        return dispatcher
    return dispatcher.overloads[dispatcher.signatures[-1]].entry_point


def __dir__() -> list[str]:
    return sorted([*globals(), *LAZY_KERNELS])
