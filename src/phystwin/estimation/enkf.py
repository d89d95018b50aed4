r"""Stochastic ensemble Kalman filter (perturbed observations) on a compiled :class:`~phystwin.core.model.Model`.

The belief is an ensemble ``X`` of ``N`` members (rows), kept in a frozen :class:`EnsembleState`.
Its Gaussian summary (mean, sample covariance with ``N - 1``) is what ``predict`` / ``update``
return as a :class:`~phystwin.estimation.types.GaussianState`, so the filter has the interface of the
other filters; the filter remembers the ensemble behind the last state it returned.

Predict over ``dt`` (one compiled call over all members, :func:`enkf_predict_rk4`)
----------------------------------------------------------------------------------
Every member is advanced by the typed fixed-step RK4 kernel (``ceil(dt / solver_dt)`` equal
substeps, inputs held) and then receives additive process noise::

    X_i <- RK4(X_i) + L_q w_i,        w_i ~ N(0, I),   L_q L_q^T = Q_d

The standard normal draws ``w`` are drawn in Python from the filter's seeded
``numpy.random.Generator`` and passed in, so results are deterministic per seed. ``L_q`` is the
Cholesky factor of ``Q_d``, or for a semi-definite ``Q_d`` the symmetric factor
``V sqrt(max(lambda, 0))`` of its eigendecomposition. ``Q_d`` is the given one (fixed step) or
Van Loan on ``(J(x_mean), Q_c)`` as in the UKF and EKF.

Update (Burgers, van Leeuwen & Evensen 1998)
--------------------------------------------
The model's output function maps every member in one compiled call (:func:`enkf_outputs`),
``Z_i = h(t, X_i, u, p)[idx]``. With anomalies ``A = X - mean(X)``, ``B = Z - mean(Z)``::

    P_xz = A^T B / (N - 1),   S = B^T B / (N - 1) + R = L L^T,   K = P_xz S^-1
    X_i <- X_i + K (z + e_i - Z_i),   e_i ~ N(0, R)   (seeded; the e_i are centred to mean 0)

Centring the perturbations makes the mean update exactly ``x + K (z - mean(Z))`` while keeping the
posterior spread of the stochastic EnKF (its expected sample covariance is
``(I - K H) P`` to ``O(1/N)``). Innovation ``y = z - mean(Z)``, NIS ``y^T S^-1 y``.
NaN / Inf / wrong-length measurements are handled exactly as by the other filters (rejected with the
state unchanged / :class:`ValueError`), and so is an innovation covariance that is not PD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from phystwin._jit import njit
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.core.solvers import ADVANCE_SIG, INTEGRATE_SIG, JAC_SIG, RHS_SIG
from phystwin.core.solvers._nb import lazy_kernels
from phystwin.core.solvers.common import all_finite2
from phystwin.core.solvers.rk4 import rk4_advance_spec
from phystwin.errors import InvalidValueError
from phystwin.estimation._filter_common import (
    ModelFilter,
    covariance,
    discrete_process_noise,
    measurement,
    rejected,
)
from phystwin.estimation.base import EstimationError, UpdateInfo
from phystwin.estimation.status import BAD_ARGUMENT, BAD_MEASUREMENT, INNOVATION_NOT_PD, NONFINITE, OK
from phystwin.estimation.types import GaussianState

LAZY_KERNELS = ("enkf_predict_rk4", "enkf_outputs")
"""Typed kernels built (or loaded from the disk cache) on first attribute access."""

__all__ = [
    *LAZY_KERNELS,
    "ENKF_OUTPUTS_SIG",
    "ENKF_PREDICT_SIG",
    "LAZY_KERNELS",
    "EnsembleKalmanFilter",
    "EnsembleState",
    "noise_factor",
]


# --------------------------------------------------------------------------- kernels
@njit(cache=False)
def enkf_predict_rk4_spec(rhs, jac, t, dt, X, u, p, Lq, W, opts, X_out, stats):  # type: ignore[no-untyped-def]
    """Advance every ensemble member from ``t`` to ``t + dt`` [s] by RK4 and add ``Lq w_i``.

    Parameters
    ----------
    rhs, jac : model functions (first-class, :data:`RHS_SIG` / :data:`JAC_SIG`)
    t, dt : float
        Start time and horizon [s], ``dt >= 0``.
    X : (N, n)
        Members (not modified).
    u : (nu,), p : (np,)
        Inputs held over the step, parameters.
    Lq : (n, n)
        Factor of the discrete process-noise covariance, ``Lq Lq^T = Qd``.
    W : (N, n)
        Standard normal draws, one row per member.
    opts : solver options (``opts[6]`` = RK4 step [s]).
    X_out : (N, n)
        Propagated members (distinct from ``X``).
    stats : (>= 8,)
        Solver statistics accumulated over the members (``stats[0]``: time reached).

    Returns
    -------
    int
        OK; BAD_ARGUMENT; the solver status of the first failing member; NONFINITE.
    """
    N, n = X.shape
    if (
        stats.shape[0] < 8
        or not (dt >= 0.0)
        or not math.isfinite(dt)
        or Lq.shape[0] != n
        or Lq.shape[1] != n
        or W.shape[0] != N
        or W.shape[1] != n
        or X_out.shape[0] != N
        or X_out.shape[1] != n
    ):
        return BAD_ARGUMENT
    xi = np.empty(n)
    work = np.zeros(1)
    s8 = np.zeros(8)
    for i in range(N):
        for j in range(n):
            xi[j] = X[i, j]
        if dt > 0.0:
            st = rk4_advance_spec(rhs, jac, t, xi, u, p, dt, opts, work, s8)
            for k in range(1, 8):
                stats[k] += s8[k]
                s8[k] = 0.0
            stats[0] = s8[0]
            if st != OK:
                return st
        for a in range(n):
            s = xi[a]
            for b in range(a + 1):
                s += Lq[a, b] * W[i, b]
            for b in range(a + 1, n):
                s += Lq[a, b] * W[i, b]
            X_out[i, a] = s
    if not all_finite2(X_out):
        return NONFINITE
    return OK


@njit(cache=False)
def enkf_outputs_spec(out, t, X, u, p, idx, ny, Z):  # type: ignore[no-untyped-def]
    """Measured outputs of every member: ``Z[i, k] = out(t, X[i], u, p)[idx[k]]``.

    Returns OK; BAD_ARGUMENT; a model status from ``out``; NONFINITE.
    """
    N, n = X.shape
    m = idx.shape[0]
    if Z.shape[0] != N or Z.shape[1] != m:
        return BAD_ARGUMENT
    for k in range(m):
        if idx[k] < 0 or idx[k] >= ny:
            return BAD_ARGUMENT
    yb = np.empty(ny)
    xi = np.empty(n)
    for i in range(N):
        for j in range(n):
            xi[j] = X[i, j]
        st = out(t, xi, u, p, yb)
        if st != OK:
            return st
        for k in range(m):
            Z[i, k] = yb[idx[k]]
    if not all_finite2(Z):
        return NONFINITE
    return OK


_f8 = RHS_SIG.args[0]
_vec = RHS_SIG.args[1]
_mat = JAC_SIG.args[4]
_ivec = INTEGRATE_SIG.args[11]
_i8 = RHS_SIG.return_type
_RHS_T = ADVANCE_SIG.args[0]
_JAC_T = ADVANCE_SIG.args[1]

ENKF_PREDICT_SIG = _i8(_RHS_T, _JAC_T, _f8, _f8, _mat, _vec, _vec, _mat, _mat, _vec, _mat, _vec)
"""``enkf_predict_rk4(rhs, jac, t, dt, X, u, p, Lq, W, opts, X_out, stats)``."""
ENKF_OUTPUTS_SIG = _i8(_RHS_T, _f8, _mat, _vec, _vec, _ivec, _i8, _mat)
"""``enkf_outputs(out, t, X, u, p, idx, ny, Z)``."""

__getattr__ = lazy_kernels(
    __name__,
    {
        "enkf_predict_rk4": (enkf_predict_rk4_spec, ENKF_PREDICT_SIG),
        "enkf_outputs": (enkf_outputs_spec, ENKF_OUTPUTS_SIG),
    },
)


def __dir__() -> list[str]:
    return sorted([*globals(), *LAZY_KERNELS])


# --------------------------------------------------------------------------- helpers
def noise_factor(Q: np.ndarray) -> np.ndarray:
    """A factor ``L`` with ``L L^T = Q`` of a symmetric PSD matrix: Cholesky when PD, otherwise
    ``V sqrt(max(lambda, 0))`` from the eigendecomposition (semi-definite noise, e.g. on some states only).

    Raises ValueError if ``Q`` has an eigenvalue below ``-1e-12 max|Q|`` (not PSD).
    """
    Q = 0.5 * (np.asarray(Q, dtype=np.float64) + np.asarray(Q, dtype=np.float64).T)
    try:
        return np.ascontiguousarray(np.linalg.cholesky(Q))
    except np.linalg.LinAlgError:
        pass
    w, V = np.linalg.eigh(Q)
    if w.size and w[0] < -1e-12 * max(float(np.max(np.abs(Q))), 1e-300):
        raise InvalidValueError(f"noise covariance is not positive semi-definite (smallest eigenvalue {w[0]:.3g})")
    return np.ascontiguousarray(V * np.sqrt(np.clip(w, 0.0, None)))


def _frozen(a: np.ndarray) -> np.ndarray:
    b = np.array(a, dtype=np.float64, copy=True)
    b.setflags(write=False)
    return b


@dataclass(frozen=True, eq=False)
class EnsembleState:
    """An ensemble ``X`` (N members x n states, read-only copy) valid at time ``t`` [s]."""

    t: float
    X: np.ndarray

    def __post_init__(self) -> None:
        t = float(self.t)
        if not math.isfinite(t):
            raise InvalidValueError(f"EnsembleState: t must be finite, got {self.t!r}")
        X = _frozen(np.atleast_2d(self.X))
        if X.ndim != 2 or X.shape[0] < 2:
            raise InvalidValueError(f"EnsembleState: X must be (N >= 2, n), got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise InvalidValueError("EnsembleState: X has non-finite entries")
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "X", X)

    @property
    def n_members(self) -> int:
        """Ensemble size N."""
        return int(self.X.shape[0])

    @property
    def n(self) -> int:
        """State dimension."""
        return int(self.X.shape[1])

    @property
    def mean(self) -> np.ndarray:
        """Ensemble mean (n,)."""
        return np.asarray(self.X.mean(axis=0))

    @property
    def cov(self) -> np.ndarray:
        """Sample covariance (n, n), normalised by ``N - 1``, exactly symmetric."""
        A = self.X - self.X.mean(axis=0)
        C = A.T @ A / (self.n_members - 1)
        return np.asarray(0.5 * (C + C.T))

    def gaussian(self) -> GaussianState:
        """Gaussian summary ``N(mean, cov)`` at ``t``."""
        return GaussianState(self.t, self.mean, self.cov)


# =========================================================================== EnKF
class EnsembleKalmanFilter(ModelFilter):
    r"""Stochastic EnKF on a compiled model (see the module docstring for the equations).

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
        Loan on the Jacobian at the ensemble mean. Give ``Qc`` or ``Qd``.
    Qd : (n, n) or (n,), optional
        Discrete process-noise covariance for steps of exactly ``dt`` [s].
    dt : float, optional
        The step ``Qd`` describes (required with ``Qd``).
    n_members : int
        Ensemble size N (>= 2).
    seed : int, optional
        Seed of the filter's random generator (initial ensemble, process noise, observation
        perturbations). The same seed and the same sequence of calls give identical results.
    params : mapping, optional
        Parameter values by name over the model defaults.
    solver_dt : float
        RK4 substep bound [s].
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
        n_members: int = 100,
        seed: int | None = 0,
        params: Mapping[str, Any] | None = None,
        solver_dt: float = 1e-3,
    ) -> None:
        self._set_up(model, measured_outputs, R, Qc, Qd, dt)
        self._Lq_fixed = None if self.Qd is None else noise_factor(self.Qd)
        if int(n_members) != n_members or n_members < 2:
            raise InvalidValueError(f"n_members must be an integer >= 2, got {n_members!r}")
        self.n_members = int(n_members)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.p = model.parameters(params)
        self.solver_dt = float(solver_dt)
        if not (math.isfinite(self.solver_dt) and self.solver_dt > 0.0):
            raise InvalidValueError(f"solver_dt must be finite and > 0 s, got {solver_dt!r}")
        self.solver = RK4(self.solver_dt)
        self._opts = self.solver.opts()
        self._rhs, self._jac, self._out = model.functions()[:3]
        self._predict = __getattr__("enkf_predict_rk4")
        self._outputs = __getattr__("enkf_outputs")
        # the ensemble behind the last state returned, in a holder that the row subsets of
        # select_measurements share (the fusion engine predicts with this filter, updates with them)
        self._memo: list[tuple[GaussianState, EnsembleState] | None] = [None]

    # ----------------------------------------------------------------- ensemble bookkeeping
    def initialize(self, state: GaussianState) -> EnsembleState:
        """Draw a fresh ensemble of ``n_members`` from ``N(state.x, state.P)`` (filter's generator)."""
        if state.n != self.n:
            raise InvalidValueError(f"state has {state.n} entries, model {self.model.name!r} has {self.n} states")
        W = self.rng.standard_normal((self.n_members, self.n))
        return EnsembleState(state.t, state.x + W @ noise_factor(state.P).T)

    def ensemble(self, state: GaussianState) -> EnsembleState:
        """The ensemble behind ``state`` if this filter (or one of its row subsets) returned it last,
        else a fresh draw."""
        last = self._memo[0]
        if last is not None and last[0] is state:
            return last[1]
        return self.initialize(state)

    def _summarise(self, ens: EnsembleState) -> GaussianState:
        g = ens.gaussian()
        self._memo[0] = (g, ens)
        return g

    def noise_factor(self, x: np.ndarray, t: float, dt: float, u: np.ndarray) -> np.ndarray:
        """``Lq`` with ``Lq Lq^T = Qd`` for a step of ``dt`` [s] from mean ``x`` at ``t``."""
        if self._Lq_fixed is not None:
            if not math.isclose(dt, float(self.dt), rel_tol=1e-9, abs_tol=1e-12):  # type: ignore[arg-type]
                raise InvalidValueError(
                    f"Qd was given for steps of {self.dt:g} s, got a step of {dt:g} s; give Qc for variable steps"
                )
            return self._Lq_fixed
        return noise_factor(discrete_process_noise(self.model, self.p, self.Qc, None, None, t, x, u, dt))

    # ----------------------------------------------------------------- pure ensemble steps
    def predict_ensemble(self, ens: EnsembleState, t: float, u: Any = None) -> EnsembleState:
        """Ensemble at ``t`` [s] (``t >= ens.t``): all members in one compiled call, plus process noise."""
        if ens.n != self.n:
            raise InvalidValueError(f"ensemble has {ens.n} states, model {self.model.name!r} has {self.n}")
        dt = float(t) - ens.t
        if not (math.isfinite(dt) and dt >= 0.0):
            raise InvalidValueError(f"cannot predict from t = {ens.t:g} s back to t = {t!r} s")
        if dt == 0.0:
            return ens
        uv = self.input_vector(u)
        Lq = self.noise_factor(ens.mean, ens.t, dt, uv)
        W = self.rng.standard_normal((ens.n_members, self.n))
        X = np.empty((ens.n_members, self.n))
        stats = np.zeros(8)
        st = int(
            self._predict(self._rhs, self._jac, ens.t, dt, np.array(ens.X), uv, self.p, Lq, W, self._opts, X, stats)
        )
        if st != OK:
            raise EstimationError(st, ens.t, f"EnKF predict of {self.model.name!r} to t = {float(t):g} s")
        return EnsembleState(float(t), X)

    def update_ensemble(
        self, ens: EnsembleState, z: Any, *, R: Any = None, u: Any = None
    ) -> tuple[EnsembleState, UpdateInfo]:
        """Perturbed-observation update of ``ens`` with ``z`` (measured outputs, in order) at ``ens.t``."""
        zv, bad = measurement(z, self._labels)
        m = zv.shape[0]
        if bad:
            return ens, rejected(ens.t, BAD_MEASUREMENT, m, bad)
        Rm = self.R if R is None else covariance("R", R, m)
        uv = self._model.output_inputs(u)
        N = ens.n_members
        X = np.array(ens.X)
        Z = np.empty((N, m))
        st = int(self._outputs(self._out, ens.t, X, uv, self.p, self.idx, self._ny, Z))
        if st != OK:
            raise EstimationError(st, ens.t, f"EnKF outputs of {self.model.name!r}")
        zbar = Z.mean(axis=0)
        A = X - X.mean(axis=0)
        B = Z - zbar
        Pxz = A.T @ B / (N - 1)
        S = B.T @ B / (N - 1) + Rm
        S = 0.5 * (S + S.T)
        y = zv - zbar
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return ens, rejected(ens.t, INNOVATION_NOT_PD, m, "", y, S)
        E = self.rng.standard_normal((N, m)) @ noise_factor(Rm).T
        E -= E.mean(axis=0)
        D = zv + E - Z  # (N, m) perturbed innovations
        # K^T = S^-1 Pxz^T  (S = L L^T)
        Kt = np.linalg.solve(L.T, np.linalg.solve(L, Pxz.T))
        Xa = X + D @ Kt
        if not np.all(np.isfinite(Xa)):
            raise EstimationError(NONFINITE, ens.t, f"EnKF update of {self.model.name!r}")
        w = np.linalg.solve(L, y)
        return EnsembleState(ens.t, Xa), UpdateInfo(True, OK, y, S, float(w @ w))

    # ----------------------------------------------------------------- GaussianState interface
    def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
        """Prior at ``t`` [s]: mean and sample covariance of the propagated ensemble behind ``state``.

        Raises
        ------
        EstimationError
            If a member fails to integrate or the result is not finite (status and time).
        """
        if self._check_predict(state, t) == 0.0:
            return state
        return self._summarise(self.predict_ensemble(self.ensemble(state), t, u))

    def update(self, state: GaussianState, z: Any, *, R: Any = None, u: Any = None) -> tuple[GaussianState, UpdateInfo]:
        """Posterior given ``z`` at ``state.t``; a rejected measurement returns ``state`` itself."""
        zv, bad = measurement(z, self._labels)
        if bad:
            return state, rejected(state.t, BAD_MEASUREMENT, zv.shape[0], bad)
        ens = self.ensemble(state)
        new, info = self.update_ensemble(ens, zv, R=R, u=u)
        if not info.accepted:
            self._memo[0] = (state, ens)
            return state, info
        return self._summarise(new), info
