r"""Continuous-discrete extended Kalman filter on a compiled :class:`~phystwin.core.model.Model`.

Process model: :math:`\dot x = f(t, x, u, p) + w`, :math:`E[w(t) w(s)^T] = Q_c\,\delta(t - s)`,
inputs held over each step. Measurement model: selected model outputs
:math:`z = h(t, x, u, p)[\text{idx}] + v`, :math:`v \sim N(0, R)`.

Predict over ``dt`` (one compiled call, :func:`ekf_predict_rk4`)
------------------------------------------------------------------
The mean and the state-transition matrix are integrated *together* with the same fixed-step RK4
substeps (``ceil(dt / solver_dt)`` equal substeps, as :func:`phystwin.core.solvers.rk4_advance`):

.. math::

    \dot{\hat x} = f(t, \hat x, u, p), \qquad
    \dot\Phi = J(t, \hat x(t))\,\Phi, \quad \Phi(t_0) = I, \qquad J = \partial f / \partial x,

where ``J`` is the model's compiled analytic Jacobian evaluated at the RK4 stage points of the
mean (the variational equation). The mean arithmetic is exactly that of ``rk4_advance`` (same
bits). ``Phi`` is therefore the RK4 approximation of the sensitivity of the propagated mean to
the initial state along the actual trajectory, which is more accurate than ``expm(J(x0) dt)``
when ``J`` varies over the step. For a linear model it is the degree-4 Taylor polynomial of
``expm(A h)`` per substep (exact when ``A`` is nilpotent of order <= 5). Then

.. math::

    P^- = \Phi P \Phi^T + Q_d \quad (\text{symmetrised, by } \texttt{kf\_predict}),

with ``Q_d`` given (fixed step) or from Van Loan on ``(J(\hat x_0), Q_c)`` at the prior mean.

Update (:meth:`ExtendedKalmanFilter.update`)
--------------------------------------------
``H = d h[idx] / dx`` at the prior mean by compiled central finite differences of the model's
``out`` function (:func:`ekf_output_jacobian`, step ``eps^(1/3) max(1, |x_i|)``; exact to rounding
for outputs linear in x). The Joseph-form update of :func:`phystwin.estimation.kernels.kf_update`
is applied to the pseudo-measurement ``z' = z - h(x) + H x``, so that its innovation is the EKF
innovation ``y = z - h(x)``. NaN / Inf / wrong-length measurements are handled exactly as by the
other filters (rejected with the state unchanged / :class:`ValueError`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from phystwin._jit import njit
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.core.solvers import ADVANCE_SIG, INTEGRATE_SIG, JAC_SIG, RHS_SIG
from phystwin.core.solvers._nb import lazy_kernels
from phystwin.core.solvers.common import all_finite, all_finite2, model_status, n_substeps
from phystwin.errors import InvalidValueError
from phystwin.estimation import kernels
from phystwin.estimation._filter_common import (
    REJECTABLE,
    ModelFilter,
    covariance,
    discrete_process_noise,
    measurement,
    rejected,
    writable,
)
from phystwin.estimation.base import EstimationError, UpdateInfo
from phystwin.estimation.status import BAD_ARGUMENT, BAD_MEASUREMENT, NONFINITE, OK
from phystwin.estimation.types import GaussianState

LAZY_KERNELS = ("ekf_predict_rk4", "ekf_output_jacobian")
"""Typed kernels built (or loaded from the disk cache) on first attribute access."""

__all__ = [*LAZY_KERNELS, "EKF_OUTJAC_SIG", "EKF_PREDICT_SIG", "LAZY_KERNELS", "ExtendedKalmanFilter"]


# --------------------------------------------------------------------------- compiled kernels
@njit(cache=False)
def _jphi(J, Phi, K):  # type: ignore[no-untyped-def]
    """K = J Phi."""
    n = J.shape[0]
    for i in range(n):
        for j in range(n):
            s = 0.0
            for k in range(n):
                s += J[i, k] * Phi[k, j]
            K[i, j] = s


@njit(cache=False)
def ekf_predict_rk4_spec(rhs, jac, t, dt, x, u, p, h_fixed, x_out, Phi):  # type: ignore[no-untyped-def]
    """Mean and transition matrix over ``[t, t + dt]`` by RK4 on ``(x, Phi)``; see the module docstring.

    Parameters
    ----------
    rhs, jac : model functions (first-class, :data:`RHS_SIG` / :data:`JAC_SIG`)
    t, dt : float
        Start time and step [s], ``dt >= 0``.
    x : (n,)
        Prior mean (not modified).
    u, p : (nu,), (np,)
        Inputs held over the step, parameters.
    h_fixed : float
        RK4 substep bound [s]: ``ceil(dt / h_fixed)`` equal substeps.
    x_out : (n,), Phi : (n, n)
        Propagated mean and transition matrix ``d x_out / d x``.

    Returns
    -------
    int
        OK; BAD_ARGUMENT; NONFINITE; or the model's failure status.
    """
    n = x.shape[0]
    if (
        x_out.shape[0] != n
        or Phi.shape[0] != n
        or Phi.shape[1] != n
        or not (h_fixed > 0.0)
        or not math.isfinite(h_fixed)
        or not (dt >= 0.0)
        or not math.isfinite(dt)
        or not math.isfinite(t)
    ):
        return BAD_ARGUMENT
    for i in range(n):
        x_out[i] = x[i]
        for j in range(n):
            Phi[i, j] = 0.0
        Phi[i, i] = 1.0
    if dt == 0.0:
        return OK
    ns = n_substeps(dt, h_fixed)
    h = dt / ns
    h2 = 0.5 * h
    h6 = h / 6.0
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    xs = np.empty(n)
    J = np.empty((n, n))
    K1 = np.empty((n, n))
    K2 = np.empty((n, n))
    K3 = np.empty((n, n))
    K4 = np.empty((n, n))
    Ps = np.empty((n, n))
    for k in range(ns):
        tk = t + k * h
        # stage 1
        s = rhs(tk, x_out, u, p, k1)
        if s == 0:
            s = jac(tk, x_out, u, p, J)
        if s != 0:
            return model_status(s)
        _jphi(J, Phi, K1)
        # stage 2
        for i in range(n):
            xs[i] = x_out[i] + h2 * k1[i]
            for j in range(n):
                Ps[i, j] = Phi[i, j] + h2 * K1[i, j]
        s = rhs(tk + h2, xs, u, p, k2)
        if s == 0:
            s = jac(tk + h2, xs, u, p, J)
        if s != 0:
            return model_status(s)
        _jphi(J, Ps, K2)
        # stage 3
        for i in range(n):
            xs[i] = x_out[i] + h2 * k2[i]
            for j in range(n):
                Ps[i, j] = Phi[i, j] + h2 * K2[i, j]
        s = rhs(tk + h2, xs, u, p, k3)
        if s == 0:
            s = jac(tk + h2, xs, u, p, J)
        if s != 0:
            return model_status(s)
        _jphi(J, Ps, K3)
        # stage 4
        for i in range(n):
            xs[i] = x_out[i] + h * k3[i]
            for j in range(n):
                Ps[i, j] = Phi[i, j] + h * K3[i, j]
        s = rhs(tk + h, xs, u, p, k4)
        if s == 0:
            s = jac(tk + h, xs, u, p, J)
        if s != 0:
            return model_status(s)
        _jphi(J, Ps, K4)
        for i in range(n):
            x_out[i] = x_out[i] + h6 * (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i])
            for j in range(n):
                Phi[i, j] = Phi[i, j] + h6 * (K1[i, j] + 2.0 * (K2[i, j] + K3[i, j]) + K4[i, j])
        if not (all_finite(x_out) and all_finite2(Phi)):
            return NONFINITE
    return OK


@njit(cache=False)
def ekf_output_jacobian_spec(out, t, x, u, p, idx, ny, zp, H):  # type: ignore[no-untyped-def]
    """Measured outputs ``zp = out(x)[idx]`` and ``H = d zp / dx`` by central differences.

    Step per state ``h_i = eps^(1/3) max(1, |x_i|)`` (the perturbed state is formed and the actual
    step ``(x_i + h_i) - (x_i - h_i)`` is used, so rounding of ``x_i + h_i`` does not bias H).

    Returns OK; BAD_ARGUMENT (shapes, index out of range); NONFINITE; or the model's status.
    """
    n = x.shape[0]
    m = idx.shape[0]
    if zp.shape[0] != m or H.shape[0] != m or H.shape[1] != n:
        return BAD_ARGUMENT
    for k in range(m):
        if idx[k] < 0 or idx[k] >= ny:
            return BAD_ARGUMENT
    y = np.empty(ny)
    yp = np.empty(ny)
    xp = x.copy()
    s = out(t, xp, u, p, y)
    if s != 0:
        return model_status(s)
    for k in range(m):
        zp[k] = y[idx[k]]
    eps3 = 6.055454452393343e-06  # (2**-52) ** (1/3)
    for i in range(n):
        hi = eps3 * max(1.0, abs(x[i]))
        xp[i] = x[i] + hi
        up = xp[i]
        s = out(t, xp, u, p, yp)
        if s != 0:
            return model_status(s)
        xp[i] = x[i] - hi
        lo = xp[i]
        s = out(t, xp, u, p, y)
        if s != 0:
            return model_status(s)
        xp[i] = x[i]
        d = up - lo
        for k in range(m):
            H[k, i] = (yp[idx[k]] - y[idx[k]]) / d
    if not (all_finite(zp) and all_finite2(H)):
        return NONFINITE
    return OK


_f8 = RHS_SIG.args[0]
_vec = RHS_SIG.args[1]
_mat = JAC_SIG.args[4]
_ivec = INTEGRATE_SIG.args[11]
_i8 = RHS_SIG.return_type
_RHS_T = ADVANCE_SIG.args[0]
_JAC_T = ADVANCE_SIG.args[1]

EKF_PREDICT_SIG = _i8(_RHS_T, _JAC_T, _f8, _f8, _vec, _vec, _vec, _f8, _vec, _mat)
"""``ekf_predict_rk4(rhs, jac, t, dt, x, u, p, h_fixed, x_out, Phi)``."""
EKF_OUTJAC_SIG = _i8(_RHS_T, _f8, _vec, _vec, _vec, _ivec, _i8, _vec, _mat)
"""``ekf_output_jacobian(out, t, x, u, p, idx, ny, zp, H)``."""

__getattr__ = lazy_kernels(
    __name__,
    {
        "ekf_predict_rk4": (ekf_predict_rk4_spec, EKF_PREDICT_SIG),
        "ekf_output_jacobian": (ekf_output_jacobian_spec, EKF_OUTJAC_SIG),
    },
)


def __dir__() -> list[str]:
    return sorted([*globals(), *LAZY_KERNELS])


# --------------------------------------------------------------------------- the filter
class ExtendedKalmanFilter(ModelFilter):
    r"""Continuous-discrete extended Kalman filter on a compiled model (see the module docstring).

    Parameters
    ----------
    model : Model
        The compiled model.
    measured_outputs : sequence of str
        Names of the model outputs that are measured, in the order of ``z``.
    R : (m, m) or (m,)
        Measurement-noise covariance in the outputs' SI units squared (a vector means a diagonal).
    Qc : (n, n) or (n,), optional
        Continuous process-noise spectral density [unit(x)^2 / s], discretised for each step by Van
        Loan's method on the Jacobian at the prior mean (exact for linear models, any step).
    Qd : (n, n) or (n,), optional
        Discrete process-noise covariance for steps of exactly ``dt`` [s]. Give ``Qc`` or ``Qd``.
    dt : float, optional
        The step ``Qd`` describes (required with ``Qd``).
    params : mapping, optional
        Parameter values by name over the model defaults.
    solver_dt : float
        RK4 substep bound [s]; each prediction is split into ``ceil(dt / solver_dt)`` equal substeps.
    """

    def __init__(
        self,
        model: Model,
        measured_outputs: Sequence[str],
        R: Any,
        *,
        Qc: Any = None,
        Qd: Any = None,
        dt: float | None = None,
        params: Mapping[str, Any] | None = None,
        solver_dt: float = 1e-3,
    ) -> None:
        self._set_up(model, measured_outputs, R, Qc, Qd, dt)
        n = self._nx
        self.p = model.parameters(params)
        self.solver = RK4(solver_dt)
        self.solver_dt = float(solver_dt)
        if not (math.isfinite(self.solver_dt) and self.solver_dt > 0.0):
            raise InvalidValueError(f"solver_dt must be finite and > 0 s, got {solver_dt!r}")
        self._rhs, self._jac, self._out = model.functions()[:3]
        self._predict = __getattr__("ekf_predict_rk4")
        self._outjac = __getattr__("ekf_output_jacobian")
        self._no_inputs = np.zeros((n, 0))
        self._u0 = np.zeros(0)

    def process_noise(self, state: GaussianState, dt: float, u: np.ndarray) -> np.ndarray:
        """``Qd`` for a step of ``dt`` [s] from ``state`` (see :func:`discrete_process_noise`)."""
        return discrete_process_noise(self.model, self.p, self.Qc, self.Qd, self.dt, state.t, state.x, u, dt)

    def propagate(self, state: GaussianState, t: float, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(x-, Phi)``: the mean propagated to ``t`` [s] and the transition matrix over the step."""
        dt = self._check_predict(state, t)
        uv = self.input_vector(u)
        x = np.empty(self.n)
        Phi = np.empty((self.n, self.n))
        st = int(
            self._predict(self._rhs, self._jac, state.t, dt, np.array(state.x), uv, self.p, self.solver_dt, x, Phi)
        )
        if st != OK:
            raise EstimationError(st, state.t, f"EKF propagation of {self.model.name!r} to t = {float(t):g} s")
        return x, Phi

    def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
        """Prior at ``t`` [s] (``t >= state.t``) with inputs ``u`` held from ``state.t`` to ``t``.

        Raises
        ------
        EstimationError
            If the model fails to integrate or the result is not finite (status and time).
        """
        dt = self._check_predict(state, t)
        if dt == 0.0:
            return state
        uv = self.input_vector(u)
        Qd = self.process_noise(state, dt, uv)
        x, Phi = self.propagate(state, float(t), uv)
        x_lin = np.empty(self.n)
        P = np.empty((self.n, self.n))
        _, P0 = writable(state)
        st = int(kernels.kf_predict(Phi, self._no_inputs, Qd, np.array(state.x), P0, self._u0, x_lin, P))
        if st != OK:
            raise EstimationError(st, state.t, f"EKF covariance predict to t = {float(t):g} s")
        return GaussianState.trusted(float(t), x, P)

    def measurement_jacobian(self, state: GaussianState, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(h(x)[idx], H)`` at ``state`` (``H`` (m, n) by compiled central differences of ``out``)."""
        uv = self._model.output_inputs(u)
        m = self.idx.shape[0]
        zp = np.empty(m)
        H = np.empty((m, self.n))
        st = int(self._outjac(self._out, state.t, np.array(state.x), uv, self.p, self.idx, self._ny, zp, H))
        if st != OK:
            raise EstimationError(st, state.t, f"EKF output Jacobian of {self.model.name!r}")
        return zp, H

    def update(self, state: GaussianState, z: Any, *, R: Any = None, u: Any = None) -> tuple[GaussianState, UpdateInfo]:
        """Posterior given ``z`` (the measured outputs, in order) at ``state.t``.

        ``R`` overrides the filter's measurement covariance; ``u`` are the inputs the output function
        sees (defaults when omitted; only matters for outputs with feed-through).
        """
        zv, bad = measurement(z, self._labels)
        m = zv.shape[0]
        if bad:
            return state, rejected(state.t, BAD_MEASUREMENT, m, bad)
        Rm = self.R if R is None else covariance("R", R, m)
        zp, H = self.measurement_jacobian(state, u)
        x0, P0 = writable(state)
        zlin = zv - zp + H @ x0  # kf_update forms y = zlin - H x = z - h(x)
        n = self.n
        x = np.empty(n)
        P = np.empty((n, n))
        y = np.empty(m)
        S = np.empty((m, m))
        info = np.empty(1)
        st = int(kernels.kf_update(H, Rm, zlin, x0, P0, x, P, y, S, info))
        if st in REJECTABLE:
            return state, rejected(state.t, st, m, "", y, S)
        if st != OK:
            raise EstimationError(st, state.t, f"EKF update of {self.model.name!r}")
        return GaussianState.trusted(state.t, x, P), UpdateInfo(True, OK, y, S, float(info[0]))
