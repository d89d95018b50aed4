r"""The linear Kalman filter and the UKF: pure ``predict`` / ``update`` over :class:`GaussianState` values.

Both implement :class:`~phystwin.estimation.base.Filter`, are immutable after construction and hold
no estimate: ``predict(state, t)`` returns the prior at ``t`` and ``update(state, z)`` returns
``(posterior, info)``. The arithmetic runs in the compiled kernels of
:mod:`phystwin.estimation.kernels` (and, for the UKF's fused ``predict_update``,
:mod:`phystwin.estimation.step_kernels`).

Bad measurements
----------------
* ``z`` of the wrong length is a programming error: :class:`ValueError` naming the expected
  measured quantities.
* ``z`` with NaN or Inf entries is data, not a bug: the update is *rejected* and the input state is
  returned unchanged, with ``info.accepted = False``, ``info.status = BAD_MEASUREMENT`` and a
  message naming the offending entries. An innovation covariance that is not positive definite is
  rejected the same way (``INNOVATION_NOT_PD``).
* Any other kernel failure raises :class:`EstimationError` with the status and time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.errors import InvalidValueError
from phystwin.estimation import kernels, step_kernels
from phystwin.estimation._filter_common import (
    REJECTABLE,
    ModelFilter,
    covariance,
    discrete_process_noise,
    finite_vector,
    matrix,
    measurement,
    rejected,
    row_indices,
    writable,
)
from phystwin.estimation.base import EstimationError, Filter, UpdateInfo
from phystwin.estimation.discretize import DiscreteModel, discretize
from phystwin.estimation.status import BAD_MEASUREMENT, OK
from phystwin.estimation.types import GaussianState

__all__ = ["EstimationError", "KalmanFilter", "UnscentedKalmanFilter", "UpdateInfo", "discrete_process_noise"]


# =========================================================================== linear KF
class KalmanFilter(Filter[GaussianState]):
    r"""Linear Kalman filter with Joseph-form updates.

    Discrete model :math:`x_{k+1} = \Phi x_k + \Gamma u_k + w_k`, :math:`w_k \sim N(0, Q_d)`;
    measurement :math:`z = H x + v`, :math:`v \sim N(0, R)`. Build it from discrete matrices (one
    fixed step ``dt``) or with :meth:`from_continuous` from :math:`dx = (Ax + Bu)dt + G\,dW`
    (exactly discretised for whatever step each ``predict`` takes).

    Parameters
    ----------
    Phi : (n, n)
        State transition over ``dt``.
    H : (m, n)
        Measurement matrix.
    Qd : (n, n)
        Discrete process-noise covariance over ``dt``.
    R : (m, m) or (m,)
        Measurement-noise covariance (a vector means a diagonal).
    Gamma : (n, nu), optional
        Input matrix (no inputs when omitted).
    dt : float, optional
        The step [s] the discrete matrices describe; ``predict`` then refuses other steps. When
        omitted, each ``predict`` is one step whatever the time difference.
    measurement_names : sequence of str, optional
        Names of the measured quantities (for error messages).
    """

    def __init__(
        self,
        Phi: Any,
        H: Any,
        Qd: Any,
        R: Any,
        Gamma: Any = None,
        dt: float | None = None,
        measurement_names: Sequence[str] | None = None,
    ) -> None:
        Phi_a = np.atleast_2d(np.asarray(Phi, dtype=np.float64))
        n = Phi_a.shape[0]
        self.Phi = matrix("Phi", Phi_a, (n, n))
        H_a = np.atleast_2d(np.asarray(H, dtype=np.float64))
        m = H_a.shape[0]
        self.H = matrix("H", H_a, (m, n))
        self.Qd = covariance("Qd", Qd, n)
        self.R = covariance("R", R, m)
        G = np.zeros((n, 0)) if Gamma is None else np.atleast_2d(np.asarray(Gamma, dtype=np.float64))
        self.Gamma = matrix("Gamma", G, (n, G.shape[1]))
        if dt is not None and not (math.isfinite(dt) and dt > 0):
            raise InvalidValueError(f"dt must be finite and > 0 s, got {dt!r}")
        self.dt = dt
        self.labels = tuple(measurement_names or (f"z[{i}]" for i in range(m)))
        if len(self.labels) != m:
            raise InvalidValueError(f"measurement_names must have {m} entries, got {len(self.labels)}")
        self._continuous: tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None] | None = None
        self._cache: DiscreteModel | None = None

    @classmethod
    def from_continuous(
        cls,
        A: Any,
        B: Any,
        H: Any,
        Qc: Any,
        R: Any,
        G: Any = None,
        measurement_names: Sequence[str] | None = None,
    ) -> KalmanFilter:
        r"""Filter for :math:`dx = (A x + B u)\,dt + G\,dW`, :math:`E[dW dW^T] = Q_c\,dt`.

        ``Phi``, ``Gamma`` and ``Qd`` are computed exactly (matrix exponential and Van Loan, see
        :mod:`phystwin.estimation.discretize`) for the step of each ``predict`` call; the last
        step's matrices are cached. ``A`` [1/s], ``B`` (n, nu) or None, ``Qc`` spectral density.
        """
        A_a = np.atleast_2d(np.asarray(A, dtype=np.float64))
        d = discretize(A_a, B, Qc, 1.0, G)  # validates shapes once
        kf = cls(d.Phi, H, d.Qd, R, Gamma=d.Gamma, measurement_names=measurement_names)
        B_a = None if B is None else np.asarray(B, dtype=np.float64)
        G_a = None if G is None else np.asarray(G, dtype=np.float64)
        kf._continuous = (A_a, B_a, np.asarray(Qc, dtype=np.float64), G_a)
        kf._cache = d
        return kf

    @property
    def n(self) -> int:
        """State dimension."""
        return int(self.Phi.shape[0])

    @property
    def measurement_names(self) -> tuple[str, ...]:
        """Names of the measured quantities (``measurement_names`` given, else ``z[i]``)."""
        return self.labels

    def input_vector(self, u: Any = None) -> np.ndarray:
        """``u`` as the vector of the ``Gamma`` columns ``u[0] .. u[nu-1]`` (None: zeros).

        Raises
        ------
        ValueError
            A wrong length or non-finite values, naming the inputs.
        """
        nu = self.Gamma.shape[1]
        if u is None:
            return np.zeros(nu)
        if finite_vector(u, nu):  # the common case, checked cheaply
            return np.array(u)
        names = [f"u[{i}]" for i in range(nu)]
        try:
            uv = np.array(u, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"expected {nu} input value(s) {names}, got {u!r}") from exc
        if uv.shape != (nu,):
            raise InvalidValueError(f"expected {nu} input value(s) {names}, got shape {uv.shape}")
        if not np.all(np.isfinite(uv)):
            raise InvalidValueError(
                f"non-finite input value(s) for {[names[i] for i in np.flatnonzero(~np.isfinite(uv))]}"
            )
        return uv

    def select_measurements(self, rows: Sequence[int | str], R: Any = None) -> KalmanFilter:
        """A copy measuring only ``rows`` (indices or :attr:`measurement_names`): those rows of
        ``H``, with covariance ``R`` (default: their block of the filter's ``R``)."""
        idx = row_indices(rows, self.labels, "this Kalman filter")
        f = copy.copy(self)
        f.H = np.ascontiguousarray(self.H[idx])
        f.R = covariance("R", self.R[np.ix_(idx, idx)] if R is None else R, len(idx))
        f.labels = tuple(self.labels[i] for i in idx)
        return f

    def matrices(self, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(Phi, Gamma, Qd)`` used for a step of ``dt`` [s]."""
        if self._continuous is None:
            if self.dt is not None and not math.isclose(dt, self.dt, rel_tol=1e-9, abs_tol=1e-12):
                raise InvalidValueError(
                    f"this filter's discrete matrices describe steps of {self.dt:g} s, got a step of {dt:g} s; "
                    "build it with KalmanFilter.from_continuous for variable steps"
                )
            return self.Phi, self.Gamma, self.Qd
        if self._cache is None or self._cache.dt != dt:
            A, B, Qc, G = self._continuous
            self._cache = discretize(A, B, Qc, dt, G)
        return self._cache.Phi, self._cache.Gamma, self._cache.Qd

    def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
        r"""Prior at time ``t`` [s] (``t >= state.t``), inputs ``u`` (nu,) held over the step:
        :math:`x^- = \Phi x + \Gamma u`, :math:`P^- = \Phi P \Phi^T + Q_d`."""
        dt = self._check_predict(state, t)
        uv = self.input_vector(u)
        if dt == 0.0:
            return state
        Phi, Gamma, Qd = self.matrices(dt)
        x = np.empty(self.n)
        P = np.empty((self.n, self.n))
        st = int(kernels.kf_predict(Phi, np.ascontiguousarray(Gamma), Qd, *writable(state), uv, x, P))
        if st != OK:
            raise EstimationError(st, state.t, f"KF predict to t = {float(t):g} s")
        return GaussianState.trusted(float(t), x, P)

    def update(self, state: GaussianState, z: Any, *, R: Any = None, u: Any = None) -> tuple[GaussianState, UpdateInfo]:
        r"""Posterior given measurement ``z`` (m,) at ``state.t`` (Joseph form:
        :math:`P^+ = (I - K H) P^- (I - K H)^T + K R K^T`).

        ``R`` overrides the filter's R; ``u`` is accepted for the interface and ignored (``z = H x``
        has no feed-through).
        """
        zv, bad = measurement(z, self.labels)
        m = zv.shape[0]
        if bad:
            return state, rejected(state.t, BAD_MEASUREMENT, m, bad)
        Rm = self.R if R is None else covariance("R", R, m)
        x = np.empty(self.n)
        P = np.empty((self.n, self.n))
        y = np.empty(m)
        S = np.empty((m, m))
        info = np.empty(1)
        st = int(kernels.kf_update(self.H, Rm, zv, *writable(state), x, P, y, S, info))
        if st in REJECTABLE:
            return state, rejected(state.t, st, m, "", y, S)
        if st != OK:
            raise EstimationError(st, state.t, "KF update")
        return GaussianState.trusted(state.t, x, P), UpdateInfo(True, OK, y, S, float(info[0]))


# =========================================================================== UKF on a compiled model
class UnscentedKalmanFilter(ModelFilter):
    r"""Unscented Kalman filter on a compiled :class:`~phystwin.core.model.Model`.

    Process model: the model's ODE :math:`\dot x = f(t, x, u, p)` integrated by fixed-step RK4
    (step ``solver_dt``) with inputs held over the step, plus additive noise :math:`w \sim N(0, Q_d)`.
    All ``2n + 1`` sigma points are advanced in one compiled call.
    Measurement model: selected model outputs :math:`z = h(t, x, u, p)[\text{idx}] + v`,
    :math:`v \sim N(0, R)`.

    Parameters
    ----------
    model : Model
        The compiled model.
    measured_outputs : sequence of str
        Names of the model outputs that are measured, in the order of ``z``.
    R : (m, m) or (m,)
        Measurement-noise covariance in the outputs' SI units squared (a vector means a diagonal).
    Qc : (n, n) or (n,), optional
        Continuous process-noise spectral density [unit(x)^2 / s]. Discretised for each step by Van
        Loan's method on the model linearised at the prior mean (``A = df/dx`` from the model's
        Jacobian kernel): exact for linear models, for any step.
    Qd : (n, n) or (n,), optional
        Discrete process-noise covariance for steps of exactly ``dt`` [s]. Give ``Qc`` or ``Qd``.
    dt : float, optional
        The step ``Qd`` describes (required with ``Qd``).
    params : mapping, optional
        Parameter values by name over the model defaults.
    alpha, beta, kappa : float
        Sigma-point scaling (Wan & van der Merwe). The default ``alpha = 1, beta = 2, kappa = 0``
        gives ``lambda = 0``: non-negative weights (so the transformed covariance stays PSD) and a
        spread of ``sqrt(n)`` standard deviations.
    solver_dt : float
        RK4 step [s]; each prediction is split into ``ceil(dt / solver_dt)`` equal substeps.
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
        alpha: float = 1.0,
        beta: float = 2.0,
        kappa: float = 0.0,
        solver_dt: float = 1e-3,
    ) -> None:
        self._set_up(model, measured_outputs, R, Qc, Qd, dt)
        self._step_entry: Any = None
        self._fn_addresses: tuple[Any, ...] = ()
        n = self._nx
        self.p = model.parameters(params)
        self.Wm, self.Wc, self.c = kernels.merwe_weights(n, float(alpha), float(beta), float(kappa))
        self.alpha, self.beta, self.kappa = float(alpha), float(beta), float(kappa)
        self.solver = RK4(solver_dt)
        self._opts = self.solver.opts()
        self._rhs, self._jac, self._out = model.functions()[:3]
        self._fns = (self._rhs, self._jac, self._out)
        self._predict = kernels.ukf_predict_rk4
        self._update = kernels.ukf_update

    def process_noise(self, state: GaussianState, dt: float, u: np.ndarray) -> np.ndarray:
        """``Qd`` for a step of ``dt`` [s] from ``state`` (see :func:`discrete_process_noise`)."""
        return discrete_process_noise(self.model, self.p, self.Qc, self.Qd, self.dt, state.t, state.x, u, dt)

    def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
        """Prior at ``t`` [s] (``t >= state.t``) with inputs ``u`` held from ``state.t`` to ``t``.

        Raises
        ------
        EstimationError
            If P is not positive definite or a sigma point fails to integrate (status and time).
        """
        dt = self._check_predict(state, t)
        if dt == 0.0:
            return state
        uv = self.input_vector(u)
        Qd = self.process_noise(state, dt, uv)
        n = self.n
        X = np.empty((2 * n + 1, n))
        x = np.empty(n)
        P = np.empty((n, n))
        stats = np.zeros(8)
        st = int(
            self._predict(
                self._rhs, self._jac, state.t, dt, *writable(state), uv, self.p, Qd,
                self.Wm, self.Wc, self.c, self._opts, X, x, P, stats,
            )
        )  # fmt: skip
        if st != OK:
            raise EstimationError(st, state.t, f"UKF predict of {self.model.name!r} to t = {float(t):g} s")
        return GaussianState.trusted(float(t), x, P)

    def update(self, state: GaussianState, z: Any, *, R: Any = None, u: Any = None) -> tuple[GaussianState, UpdateInfo]:
        """Posterior given ``z`` (the measured outputs, in order) at ``state.t``.

        ``R`` overrides the filter's measurement covariance; ``u`` are the inputs the output
        function sees (defaults as in :meth:`input_vector`, 0 for inputs without a default; only
        matters for outputs with feed-through).
        """
        zv, bad = measurement(z, self._labels)
        m = zv.shape[0]
        if bad:
            return state, rejected(state.t, BAD_MEASUREMENT, m, bad)
        Rm = self.R if R is None else covariance("R", R, m)
        uv = self._model.output_inputs(u)
        n = self.n
        x = np.empty(n)
        P = np.empty((n, n))
        y = np.empty(m)
        S = np.empty((m, m))
        info = np.empty(1)
        st = int(
            self._update(
                self._out, state.t, *writable(state), uv, self.p, self.idx, self._ny, Rm, zv,
                self.Wm, self.Wc, self.c, x, P, y, S, info,
            )
        )  # fmt: skip
        if st in REJECTABLE:
            return state, rejected(state.t, st, m, "", y, S)
        if st != OK:
            raise EstimationError(st, state.t, f"UKF update of {self.model.name!r}")
        return GaussianState.trusted(state.t, x, P), UpdateInfo(True, OK, y, S, float(info[0]))

    def predict_update(
        self, state: GaussianState, t: float, z: Any, *, R: Any = None, u: Any = None, u_out: Any = None
    ) -> tuple[GaussianState, UpdateInfo]:
        """:meth:`predict` to ``t`` [s] with ``u`` held, then :meth:`update` with ``z`` (``R``
        overrides the filter's; the output function sees ``u_out``, default ``u``), in one compiled
        call with the same arithmetic (:func:`phystwin.estimation.step_kernels.ukf_step_spec`).
        This is the live path: the fusion engine calls it for every sample with no input change.

        Returns ``(posterior, info)``; a rejected update returns the *input* state (not the prior),
        as a gated measurement leaves the filter where it was.

        Raises
        ------
        EstimationError
            If the prediction fails (as :meth:`predict`).
        """
        n = self._nx
        if state.x.shape[0] != n:
            raise InvalidValueError(f"state has {state.n} entries, model {self.model.name!r} has {n} states")
        dt = float(t) - state.t
        if not (math.isfinite(dt) and dt >= 0.0):
            raise InvalidValueError(f"cannot predict from t = {state.t:g} s back to t = {t!r} s")
        zv, bad = measurement(z, self._labels)
        m = zv.shape[0]
        if bad:
            return state, rejected(state.t, BAD_MEASUREMENT, m, bad)
        Rm = self.R if R is None else covariance("R", R, m)
        uv = self._input_array(u)
        if u_out is not None:
            uo = self._input_array(u_out)
        else:
            uo = uv if u is not None else self._model.output_inputs(None)
        fixed = self.Qd is not None
        if fixed and dt > 0.0 and not math.isclose(dt, float(self.dt), rel_tol=1e-9, abs_tol=1e-12):  # type: ignore[arg-type]
            raise InvalidValueError(
                f"Qd was given for steps of {self.dt:g} s, got a step of {dt:g} s; give Qc for variable steps"
            )
        Qd = np.array(self.Qd) if fixed else np.empty((n, n))
        Qc = self.Qc if self.Qc is not None else Qd
        x_prior, x = np.empty(n), np.empty(n)
        P_prior, P = np.empty((n, n)), np.empty((n, n))
        y, S, info = np.empty(m), np.empty((m, m)), np.empty(2)
        st = self._run_step(
            (
                state.t, dt, *writable(state), uv, self.p, Qc, Qd, int(fixed), self.Wm, self.Wc, self.c, self._opts,
                self.idx, self._ny, Rm, zv, uo, np.empty((2 * n + 1, n)), x_prior, P_prior, x, P,
                y, S, info, np.zeros(8),
            )
        )  # fmt: skip
        if st != OK and info[1] == 0.0:
            raise EstimationError(st, state.t, f"UKF predict of {self.model.name!r} to t = {float(t):g} s")
        if st in REJECTABLE:
            return state, rejected(float(t), st, m, "", y, S)
        if st != OK:
            raise EstimationError(st, float(t), f"UKF update of {self.model.name!r}")
        return GaussianState.trusted(float(t), x, P), UpdateInfo(True, OK, y, S, float(info[0]))

    def _run_step(self, args: tuple[Any, ...]) -> int:
        """One fused step (:func:`~phystwin.estimation.step_kernels.ukf_step_at`: the model functions
        by address, which spares unboxing three function objects per call); after the first call
        through the compiled entry point, which skips numba's typing of the 30 arguments (they
        always have the same types here). ``self._fns`` keeps the addressed functions alive."""
        if self._step_entry is None:
            self._fn_addresses = tuple(step_kernels.function_address(f) for f in self._fns)
            st = int(step_kernels.ukf_step_at(*self._fn_addresses, *args))
            self._step_entry = step_kernels.entry_point(step_kernels.ukf_step_at)
            return st
        return int(self._step_entry(*self._fn_addresses, *args))
