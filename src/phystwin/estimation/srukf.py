r"""Square-root unscented Kalman filter on a compiled phystwin Model (Van der Merwe & Wan, 2001).

Same model, noise and sigma-point conventions as :class:`~phystwin.estimation.filters.UnscentedKalmanFilter`
(and the same results up to rounding), but the compiled kernels of
:mod:`phystwin.estimation.srukf_kernels` propagate the lower Cholesky factor ``S`` of the
covariance (``P = S S^T``) with QR factorisations and rank-1 Cholesky updates/downdates instead
of forming ``P``. ``S S^T`` is therefore symmetric and positive semi-definite by construction,
which keeps long runs with very precise sensors or a wide dynamic range of variances healthy.

Two interfaces:

* :meth:`~SquareRootUnscentedKalmanFilter.predict` / :meth:`~SquareRootUnscentedKalmanFilter.update`
  take and return the ordinary immutable :class:`GaussianState` ``(t, x, P)``, like the UKF. Each call
  factors the incoming ``P`` (Cholesky) and returns ``P = S S^T`` (symmetrised), so the square-root
  form only protects the arithmetic *inside* each step.
* :meth:`~SquareRootUnscentedKalmanFilter.predict_sqrt` /
  :meth:`~SquareRootUnscentedKalmanFilter.update_sqrt` work on ``(x, S)`` directly and never form
  ``P``: use them for long runs.

Bad measurements are handled exactly as by the UKF (helpers shared with :mod:`.filters`): a
wrong-length ``z`` raises :class:`ValueError` naming the measured outputs; a non-finite ``z`` or a
non positive-definite innovation covariance rejects the update and returns the input unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.errors import InvalidValueError
from phystwin.estimation import kernels, srukf_kernels
from phystwin.estimation._filter_common import (
    REJECTABLE,
    ModelFilter,
    covariance,
    discrete_process_noise,
    measurement,
    rejected,
)
from phystwin.estimation.base import EstimationError, UpdateInfo
from phystwin.estimation.status import BAD_MEASUREMENT, OK, STATE_COV_NOT_PD
from phystwin.estimation.types import GaussianState

__all__ = ["SquareRootUnscentedKalmanFilter", "covariance_sqrt"]


def covariance_sqrt(M: np.ndarray) -> np.ndarray:
    """A square root ``B`` with ``B B^T = M`` of a symmetric PSD matrix: the lower Cholesky factor,
    or (for a singular ``M``) ``V sqrt(max(w, 0))`` from its eigen-decomposition."""
    try:
        return np.ascontiguousarray(np.linalg.cholesky(M))
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(0.5 * (M + M.T))
        return np.ascontiguousarray(V * np.sqrt(np.clip(w, 0.0, None)))


def _factor(state: GaussianState, what: str) -> np.ndarray:
    try:
        return np.ascontiguousarray(np.linalg.cholesky(state.P))
    except np.linalg.LinAlgError:
        raise EstimationError(STATE_COV_NOT_PD, state.t, f"Cholesky of P before the SR-UKF {what}") from None


def _product(S: np.ndarray) -> np.ndarray:
    """``S S^T``, exactly symmetric."""
    P = S @ S.T
    return 0.5 * (P + P.T)


class SquareRootUnscentedKalmanFilter(ModelFilter):
    r"""Square-root UKF on a compiled :class:`~phystwin.core.model.Model`.

    Process model :math:`\dot x = f(t, x, u, p)` by fixed-step RK4 plus :math:`w \sim N(0, Q_d)`;
    measurement :math:`z = h(t, x, u, p)[\text{idx}] + v`, :math:`v \sim N(0, R)`. The equations
    (QR of the weighted sigma-point deviations, rank-1 update for the 0th point, gain by two
    triangular solves, ``m`` rank-1 downdates for the posterior factor) are in
    :mod:`phystwin.estimation.srukf_kernels`.

    Parameters are those of :class:`~phystwin.estimation.filters.UnscentedKalmanFilter`: ``model``,
    ``measured_outputs``, ``R`` (m, m) or (m,); keyword ``Qc`` or ``Qd`` (with ``dt``), ``params``,
    ``alpha``, ``beta``, ``kappa`` and ``solver_dt`` (RK4 step [s]). ``R``, ``Qd`` (and each
    step's Van Loan ``Qd`` from ``Qc``) may be singular: their square roots come from
    :func:`covariance_sqrt`. With ``Wc_0 < 0`` (small ``alpha``) the prediction needs a
    Cholesky downdate, which fails (STATE_COV_NOT_PD) where the plain UKF's ``P`` would turn
    indefinite.
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
        lay = model.layout
        self.p = model.parameters(params)
        self.Wm, self.Wc, self.c = kernels.merwe_weights(lay.nx, float(alpha), float(beta), float(kappa))
        self.alpha, self.beta, self.kappa = float(alpha), float(beta), float(kappa)
        self.solver = RK4(solver_dt)
        self._opts = self.solver.opts()
        self._rhs, self._jac, self._out = model.functions()[:3]
        self._predict = srukf_kernels.srukf_predict_rk4
        self._update = srukf_kernels.srukf_update
        self._Sq = None if self.Qd is None else covariance_sqrt(self.Qd)

    def _measure(self, names: tuple[str, ...], R: np.ndarray) -> None:
        super()._measure(names, R)
        self._Sr = covariance_sqrt(self.R)

    def process_noise_sqrt(self, t0: float, x: np.ndarray, dt: float, u: np.ndarray) -> np.ndarray:
        """Square root of ``Qd`` for a step of ``dt`` [s] from mean ``x`` at ``t0`` (the fixed ``Qd``'s
        factor, or Van Loan on the Jacobian and ``Qc``; see :func:`discrete_process_noise`)."""
        if self.Qd is not None:
            discrete_process_noise(self.model, self.p, None, self.Qd, self.dt, t0, x, u, dt)  # checks dt
            return self._Sq  # type: ignore[return-value]
        return covariance_sqrt(discrete_process_noise(self.model, self.p, self.Qc, None, None, t0, x, u, dt))

    # ----------------------------------------------------------------------- factor interface
    def _vectors(self, x: Any, S: Any) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        xv = np.require(np.asarray(x, dtype=np.float64).reshape(-1), np.float64, ["C", "W"])
        Sv = np.require(np.asarray(S, dtype=np.float64), np.float64, ["C", "W"])
        if xv.shape != (n,) or Sv.shape != (n, n):
            raise InvalidValueError(
                f"x must have shape ({n},) and S shape ({n}, {n}) for model {self.model.name!r}, "
                f"got {xv.shape} and {Sv.shape}"
            )
        return xv, Sv

    def predict_sqrt(self, t0: float, x: Any, S: Any, t: float, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Prior ``(x, S)`` at ``t`` [s] from mean ``x`` and lower factor ``S`` (``P = S S^T``) at ``t0``.

        ``u`` is held from ``t0`` to ``t``. Returns new arrays; ``S`` stays lower triangular with a
        non-negative diagonal.

        Raises
        ------
        EstimationError
            STATE_COV_NOT_PD if ``S`` is not lower triangular with a finite diagonal >= 0 or the
            0th-point downdate fails; a solver status if a sigma point fails to integrate.
        """
        xv, Sv = self._vectors(x, S)
        t0 = float(t0)
        dt = float(t) - t0
        if not (math.isfinite(dt) and dt >= 0.0):
            raise InvalidValueError(f"cannot predict from t = {t0:g} s back to t = {t!r} s")
        if dt == 0.0:
            return xv.copy(), Sv.copy()
        uv = self.input_vector(u)
        Sq = self.process_noise_sqrt(t0, xv, dt, uv)
        n = self.n
        X = np.empty((2 * n + 1, n))
        xo = np.empty(n)
        So = np.empty((n, n))
        stats = np.zeros(8)
        st = int(
            self._predict(
                self._rhs, self._jac, t0, dt, xv, Sv, uv, self.p, Sq,
                self.Wm, self.Wc, self.c, self._opts, X, xo, So, stats,
            )
        )  # fmt: skip
        if st != OK:
            raise EstimationError(st, t0, f"SR-UKF predict of {self.model.name!r} to t = {float(t):g} s")
        return xo, So

    def update_sqrt(
        self,
        t: float,
        x: Any,
        S: Any,
        z: Any,
        *,
        R: Any = None,
        u: Any = None,
        diagnostics: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, UpdateInfo]:
        """Posterior ``(x, S, info)`` given ``z`` (the measured outputs, in order) at ``t`` [s].

        A rejected update returns the given ``x`` and ``S`` objects unchanged. ``R`` overrides the
        measurement covariance, ``u`` are the inputs the output function sees. ``diagnostics``
        (float64, length >= 2, optional) receives the kernel's ``info``: ``[NIS, joseph]`` where
        ``joseph = 1`` when the posterior factor came from the Joseph-form fallback (a Cholesky
        downdate failed: the measurement was far more precise than the prior).
        """
        zv, bad = measurement(z, self._labels)
        m = zv.shape[0]
        if bad:
            return x, S, rejected(float(t), BAD_MEASUREMENT, m, bad)
        xv, Sv = self._vectors(x, S)
        Sr = self._Sr if R is None else covariance_sqrt(covariance("R", R, m))
        uv = self.model.output_inputs(u)
        n = self.n
        xo = np.empty(n)
        So = np.empty((n, n))
        y = np.empty(m)
        Sz = np.zeros((m, m))
        info = np.empty(2) if diagnostics is None else diagnostics
        st = int(
            self._update(
                self._out, float(t), xv, Sv, uv, self.p, self.idx, self.model.layout.ny, Sr, zv,
                self.Wm, self.Wc, self.c, xo, So, y, Sz, info,
            )
        )  # fmt: skip
        if st in REJECTABLE:
            return x, S, rejected(float(t), st, m, "", y, _product(Sz))
        if st != OK:
            raise EstimationError(st, float(t), f"SR-UKF update of {self.model.name!r}")
        return xo, So, UpdateInfo(True, OK, y, _product(Sz), float(info[0]))

    # ----------------------------------------------------------------------- GaussianState interface
    def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
        """Prior at ``t`` [s] (``t >= state.t``): factor ``P``, :meth:`predict_sqrt`, return ``S S^T``.

        Raises
        ------
        EstimationError
            If P is not positive definite or a sigma point fails to integrate (status and time).
        """
        if self._check_predict(state, t) == 0.0:
            return state
        x, S = self.predict_sqrt(state.t, state.x, _factor(state, "predict"), t, u)
        return GaussianState(float(t), x, _product(S))

    def update(self, state: GaussianState, z: Any, *, R: Any = None, u: Any = None) -> tuple[GaussianState, UpdateInfo]:
        """Posterior given ``z`` at ``state.t``; a rejected update returns ``state`` itself (see
        :meth:`update_sqrt`)."""
        zv, bad = measurement(z, self._labels)
        if bad:
            return state, rejected(state.t, BAD_MEASUREMENT, zv.shape[0], bad)
        x, S, info = self.update_sqrt(state.t, state.x, _factor(state, "update"), zv, R=R, u=u)
        if not info.accepted:
            return state, info
        return GaussianState(state.t, x, _product(S)), info
