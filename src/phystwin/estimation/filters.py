r"""Python-facing Kalman filters: pure ``predict`` / ``update`` over :class:`GaussianState` values.

Both filters are immutable after construction and hold no estimate: ``predict(state, t)`` returns
the prior at ``t`` and ``update(state, z)`` returns ``(posterior, info)``. The arithmetic runs in
the compiled kernels of :mod:`phystwin.estimation.kernels`.

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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.errors import PhystwinError
from phystwin.estimation import kernels, step_kernels
from phystwin.estimation.discretize import DiscreteModel, discretize
from phystwin.estimation.status import BAD_MEASUREMENT, INNOVATION_NOT_PD, NONFINITE, OK, describe
from phystwin.estimation.types import GaussianState

__all__ = ["EstimationError", "KalmanFilter", "UnscentedKalmanFilter", "UpdateInfo"]

_REJECTABLE = (BAD_MEASUREMENT, INNOVATION_NOT_PD)


class EstimationError(PhystwinError, RuntimeError):
    """A filter kernel failed; carries the status code and the time of the state."""

    def __init__(self, status: int, t: float, detail: str = "") -> None:
        self.status = int(status)
        self.t = float(t)
        msg = f"estimation failed at t = {self.t:.9g} s: {describe(self.status)}"
        super().__init__(msg + (f" ({detail})" if detail else ""))


@dataclass(frozen=True, eq=False)
class UpdateInfo:
    """What an update did.

    Attributes
    ----------
    accepted : bool
        False if the measurement was rejected (state returned unchanged).
    status : int
        Kernel status (:mod:`phystwin.estimation.status`); 0 when accepted.
    innovation : ndarray, shape (m,)
        ``z - z_predicted`` (NaN when rejected before it was formed).
    S : ndarray, shape (m, m)
        Innovation covariance (NaN when not formed).
    nis : float
        Normalised innovation squared ``y^T S^-1 y`` [-]; chi-square with m dof when consistent.
    message : str
        Empty when accepted; otherwise why not.
    """

    accepted: bool
    status: int
    innovation: np.ndarray
    S: np.ndarray
    nis: float
    message: str = ""


def _matrix(name: str, M: Any, shape: tuple[int, int]) -> np.ndarray:
    A = np.array(np.atleast_2d(np.asarray(M, dtype=np.float64)), dtype=np.float64, order="C")
    if A.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} has non-finite entries")
    return A


def _covariance(name: str, M: Any, m: int) -> np.ndarray:
    A = _matrix(name, np.diag(np.asarray(M, dtype=np.float64)) if np.ndim(M) == 1 else M, (m, m))
    if np.max(np.abs(A - A.T), initial=0.0) > 1e-12 * max(float(np.max(np.abs(A), initial=0.0)), 1e-300):
        raise ValueError(f"{name} must be symmetric")
    return A


def _finite_vector(v: Any, n: int) -> bool:
    """True if ``v`` is a finite float64 ndarray of shape ``(n,)`` (a cheap check for small vectors:
    the live path's measurements and inputs have a handful of entries)."""
    return type(v) is np.ndarray and v.dtype == np.float64 and v.shape == (n,) and all(map(math.isfinite, v.tolist()))


def _measurement(z: Any, labels: Sequence[str]) -> tuple[np.ndarray, str]:
    if _finite_vector(z, len(labels)):  # the common case: a Measurement's value, already a float vector
        return np.array(z), ""
    zv = np.array(np.atleast_1d(np.asarray(z, dtype=np.float64)), dtype=np.float64).reshape(-1)
    if zv.shape[0] != len(labels):
        raise ValueError(
            f"measurement must have {len(labels)} value(s) ({', '.join(labels)}), got {zv.shape[0]}: {z!r}"
        )
    bad = [labels[int(i)] for i in np.flatnonzero(~np.isfinite(zv))]
    if not bad:
        return zv, ""
    return zv, f"non-finite measurement value(s) for {', '.join(bad)}; update rejected, state unchanged"


def _writable(state: GaussianState) -> tuple[np.ndarray, np.ndarray]:
    """Writable copies of ``(x, P)``: the kernels are typed for writable arrays (a read-only array
    would need a second specialisation), and they never write into their inputs anyway."""
    return np.array(state.x), np.array(state.P)


def _vector(v: np.ndarray) -> np.ndarray:
    """``v`` as a writable C-contiguous float64 vector (the typed kernels take no read-only arrays)."""
    if v.flags.writeable and v.flags.c_contiguous and v.dtype == np.float64:
        return v
    return np.array(v, dtype=np.float64)


def _rejected(state: GaussianState, status: int, m: int, message: str, y: Any = None, S: Any = None) -> UpdateInfo:
    return UpdateInfo(
        accepted=False,
        status=int(status),
        innovation=np.full(m, np.nan) if y is None else y,
        S=np.full((m, m), np.nan) if S is None else S,
        nis=math.nan,
        message=message or f"{describe(status)} at t = {state.t:.9g} s; update rejected, state unchanged",
    )


class _ModelFilter:
    """What the filters on a compiled model (UKF, EKF, EnKF) share: the model, the measured outputs
    by name with their R, and exactly one of Qc or Qd (with the step ``dt`` it describes)."""

    model: Model
    measured_outputs: tuple[str, ...]
    idx: np.ndarray
    R: np.ndarray
    Qc: np.ndarray | None
    Qd: np.ndarray | None

    def _set_up(
        self, model: Model, measured_outputs: Sequence[str], R: Any, Qc: Any, Qd: Any, dt: float | None
    ) -> None:
        lay = model.layout
        n = lay.nx
        self.model = model
        self.measured_outputs = tuple(measured_outputs)
        if not self.measured_outputs:
            raise ValueError("measured_outputs must name at least one model output")
        self.idx = np.array([lay.output_index(name) for name in self.measured_outputs], dtype=np.int64)
        self.R = _covariance("R", R, self.idx.shape[0])
        if (Qc is None) == (Qd is None):
            raise ValueError("give exactly one of Qc (continuous spectral density) or Qd (discrete, with dt)")
        self.Qc = None if Qc is None else _covariance("Qc", Qc, n)
        self.Qd = None if Qd is None else _covariance("Qd", Qd, n)
        if self.Qd is not None and not (dt is not None and math.isfinite(dt) and dt > 0):
            raise ValueError(f"Qd needs the step it describes: dt must be finite and > 0 s, got {dt!r}")


def discrete_process_noise(
    model: Any,
    p: np.ndarray,
    Qc: np.ndarray | None,
    Qd: np.ndarray | None,
    dt_fixed: float | None,
    t: float,
    x: np.ndarray,
    u: np.ndarray,
    dt: float,
) -> np.ndarray:
    """``Qd`` for a step of ``dt`` [s] from mean ``x`` at ``t``: the fixed ``Qd`` (only for its own
    step ``dt_fixed``), or Van Loan on the model's Jacobian ``J(x)`` and ``Qc`` (exact for linear
    models, first order in the nonlinearity otherwise). Shared by the UKF, EKF and EnKF."""
    if Qd is not None:
        if not math.isclose(dt, float(dt_fixed), rel_tol=1e-9, abs_tol=1e-12):  # type: ignore[arg-type]
            raise ValueError(
                f"Qd was given for steps of {dt_fixed:g} s, got a step of {dt:g} s; give Qc for variable steps"
            )
        return Qd
    n = model.layout.nx
    J = np.empty((n, n))
    Phi = np.empty((n, n))
    Qd_out = np.empty((n, n))
    xv = np.array(x, dtype=np.float64)
    st = int(step_kernels.process_noise(model.functions()[1], t, xv, _vector(u), p, Qc, dt, J, Phi, Qd_out))
    if st != OK:
        raise EstimationError(st or NONFINITE, t, "model Jacobian / Van Loan for the process-noise discretisation")
    return Qd_out


# =========================================================================== linear KF
class KalmanFilter:
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
        self.Phi = _matrix("Phi", Phi_a, (n, n))
        H_a = np.atleast_2d(np.asarray(H, dtype=np.float64))
        m = H_a.shape[0]
        self.H = _matrix("H", H_a, (m, n))
        self.Qd = _covariance("Qd", Qd, n)
        self.R = _covariance("R", R, m)
        G = np.zeros((n, 0)) if Gamma is None else np.atleast_2d(np.asarray(Gamma, dtype=np.float64))
        self.Gamma = _matrix("Gamma", G, (n, G.shape[1]))
        if dt is not None and not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be finite and > 0 s, got {dt!r}")
        self.dt = dt
        self.labels = tuple(measurement_names or (f"z[{i}]" for i in range(m)))
        if len(self.labels) != m:
            raise ValueError(f"measurement_names must have {m} entries, got {len(self.labels)}")
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

    def matrices(self, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(Phi, Gamma, Qd)`` used for a step of ``dt`` [s]."""
        if self._continuous is None:
            if self.dt is not None and not math.isclose(dt, self.dt, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(
                    f"this filter's discrete matrices describe steps of {self.dt:g} s, got a step of {dt:g} s; "
                    "build it with KalmanFilter.from_continuous for variable steps"
                )
            return self.Phi, self.Gamma, self.Qd
        if self._cache is None or self._cache.dt != dt:
            A, B, Qc, G = self._continuous
            self._cache = discretize(A, B, Qc, dt, G)
        return self._cache.Phi, self._cache.Gamma, self._cache.Qd

    def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
        """Prior at time ``t`` [s] (``t >= state.t``), inputs ``u`` (nu,) held over the step."""
        dt = float(t) - state.t
        if state.n != self.n:
            raise ValueError(f"state has {state.n} entries, this filter has {self.n} states")
        if not (math.isfinite(dt) and dt >= 0.0):
            raise ValueError(f"cannot predict from t = {state.t:g} s back to t = {t!r} s")
        nu = self.Gamma.shape[1]
        uv = np.zeros(nu) if u is None else np.asarray(u, dtype=np.float64).reshape(-1)
        if uv.shape != (nu,) or not np.all(np.isfinite(uv)):
            raise ValueError(f"u must be {nu} finite value(s), got {u!r}")
        if dt == 0.0:
            return state
        Phi, Gamma, Qd = self.matrices(dt)
        x = np.empty(self.n)
        P = np.empty((self.n, self.n))
        st = int(kernels.kf_predict(Phi, np.ascontiguousarray(Gamma), Qd, *_writable(state), uv, x, P))
        if st != OK:
            raise EstimationError(st, state.t, f"KF predict to t = {float(t):g} s")
        return GaussianState.trusted(float(t), x, P)

    def update(self, state: GaussianState, z: Any, R: Any = None) -> tuple[GaussianState, UpdateInfo]:
        """Posterior given measurement ``z`` (m,) at ``state.t``; ``R`` overrides the filter's R."""
        zv, bad = _measurement(z, self.labels)
        m = zv.shape[0]
        if bad:
            return state, _rejected(state, BAD_MEASUREMENT, m, bad)
        Rm = self.R if R is None else _covariance("R", R, m)
        x = np.empty(self.n)
        P = np.empty((self.n, self.n))
        y = np.empty(m)
        S = np.empty((m, m))
        info = np.empty(1)
        st = int(kernels.kf_update(self.H, Rm, zv, *_writable(state), x, P, y, S, info))
        if st in _REJECTABLE:
            return state, _rejected(state, st, m, "", y, S)
        if st != OK:
            raise EstimationError(st, state.t, "KF update")
        return GaussianState.trusted(state.t, x, P), UpdateInfo(True, OK, y, S, float(info[0]))


# =========================================================================== UKF on a compiled model
class UnscentedKalmanFilter(_ModelFilter):
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
        lay = model.layout
        n = lay.nx
        self._nx, self._ny, self._nu = n, lay.ny, lay.nu
        self.dt = dt
        self.p = model.parameters(params)
        self.Wm, self.Wc, self.c = kernels.merwe_weights(n, float(alpha), float(beta), float(kappa))
        self.alpha, self.beta, self.kappa = float(alpha), float(beta), float(kappa)
        self.solver = RK4(solver_dt)
        self._opts = self.solver.opts()
        self._rhs, self._jac, self._out = model.functions()[:3]
        self._fns = (self._rhs, self._jac, self._out)
        self._predict = kernels.ukf_predict_rk4
        self._update = kernels.ukf_update
        self._labels = tuple(f"{name} [{lay.unit(name)}]" for name in self.measured_outputs)

    @property
    def n(self) -> int:
        """State dimension."""
        return self.model.layout.nx

    def inputs(self, u: Any = None) -> np.ndarray:
        """Input vector from a vector, a name -> value mapping, or None (see :meth:`Model.input_vector`)."""
        return self.model.input_vector(u)

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
        if state.n != self.n:
            raise ValueError(f"state has {state.n} entries, model {self.model.name!r} has {self.n} states")
        dt = float(t) - state.t
        if not (math.isfinite(dt) and dt >= 0.0):
            raise ValueError(f"cannot predict from t = {state.t:g} s back to t = {t!r} s")
        if dt == 0.0:
            return state
        uv = self.inputs(u)
        Qd = self.process_noise(state, dt, uv)
        n = self.n
        X = np.empty((2 * n + 1, n))
        x = np.empty(n)
        P = np.empty((n, n))
        stats = np.zeros(8)
        st = int(
            self._predict(
                self._rhs, self._jac, state.t, dt, *_writable(state), uv, self.p, Qd,
                self.Wm, self.Wc, self.c, self._opts, X, x, P, stats,
            )
        )  # fmt: skip
        if st != OK:
            raise EstimationError(st, state.t, f"UKF predict of {self.model.name!r} to t = {float(t):g} s")
        return GaussianState.trusted(float(t), x, P)

    def update(self, state: GaussianState, z: Any, R: Any = None, u: Any = None) -> tuple[GaussianState, UpdateInfo]:
        """Posterior given ``z`` (the measured outputs, in order) at ``state.t``.

        ``R`` overrides the filter's measurement covariance; ``u`` are the inputs the output
        function sees (defaults as in :meth:`inputs`; only matters for outputs with feed-through).
        """
        zv, bad = _measurement(z, self._labels)
        m = zv.shape[0]
        if bad:
            return state, _rejected(state, BAD_MEASUREMENT, m, bad)
        Rm = self.R if R is None else _covariance("R", R, m)
        uv = self.model.output_inputs(u)
        n = self.n
        x = np.empty(n)
        P = np.empty((n, n))
        y = np.empty(m)
        S = np.empty((m, m))
        info = np.empty(1)
        st = int(
            self._update(
                self._out, state.t, *_writable(state), uv, self.p, self.idx, self.model.layout.ny, Rm, zv,
                self.Wm, self.Wc, self.c, x, P, y, S, info,
            )
        )  # fmt: skip
        if st in _REJECTABLE:
            return state, _rejected(state, st, m, "", y, S)
        if st != OK:
            raise EstimationError(st, state.t, f"UKF update of {self.model.name!r}")
        return GaussianState.trusted(state.t, x, P), UpdateInfo(True, OK, y, S, float(info[0]))

    def predict_update(
        self, state: GaussianState, t: float, z: Any, u: Any = None, u_out: Any = None
    ) -> tuple[GaussianState, UpdateInfo]:
        """:meth:`predict` to ``t`` [s] with ``u`` held, then :meth:`update` with ``z`` (the filter's
        ``R``; the output function sees ``u_out``, default ``u``), in one compiled call with the same
        arithmetic (:func:`phystwin.estimation.step_kernels.ukf_step_spec`).

        Returns ``(posterior, info)``; a rejected update returns the *input* state (not the prior),
        as a gated measurement leaves the filter where it was.

        Raises
        ------
        EstimationError
            If the prediction fails (as :meth:`predict`).
        """
        n = self._nx
        if state.x.shape[0] != n:
            raise ValueError(f"state has {state.n} entries, model {self.model.name!r} has {n} states")
        dt = float(t) - state.t
        if not (math.isfinite(dt) and dt >= 0.0):
            raise ValueError(f"cannot predict from t = {state.t:g} s back to t = {t!r} s")
        zv, bad = _measurement(z, self._labels)
        m = zv.shape[0]
        if bad:
            return state, _rejected(state, BAD_MEASUREMENT, m, bad)
        uv = self._input_array(u)
        if u_out is not None:
            uo = self._input_array(u_out)
        else:
            uo = uv if u is not None else self.model.output_inputs(None)
        fixed = self.Qd is not None
        if fixed and dt > 0.0 and not math.isclose(dt, float(self.dt), rel_tol=1e-9, abs_tol=1e-12):  # type: ignore[arg-type]
            raise ValueError(
                f"Qd was given for steps of {self.dt:g} s, got a step of {dt:g} s; give Qc for variable steps"
            )
        Qd = np.array(self.Qd) if fixed else np.empty((n, n))
        Qc = self.Qc if self.Qc is not None else Qd
        x_prior, x = np.empty(n), np.empty(n)
        P_prior, P = np.empty((n, n)), np.empty((n, n))
        y, S, info = np.empty(m), np.empty((m, m)), np.empty(2)
        st = self._run_step(
            (
                state.t, dt, *_writable(state), uv, self.p, Qc, Qd, int(fixed), self.Wm, self.Wc, self.c, self._opts,
                self.idx, self._ny, self.R, zv, uo, np.empty((2 * n + 1, n)), x_prior, P_prior, x, P,
                y, S, info, np.zeros(8),
            )
        )  # fmt: skip
        if st != OK and info[1] == 0.0:
            raise EstimationError(st, state.t, f"UKF predict of {self.model.name!r} to t = {float(t):g} s")
        if st in _REJECTABLE:
            return state, _rejected(state, st, m, "", y, S)
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

    def _input_array(self, u: Any) -> np.ndarray:
        """:meth:`inputs`, with a cheap path for an already-validated float64 vector (the fusion engine's)."""
        if _finite_vector(u, self._nu):
            return np.array(u)
        return self.inputs(u)
