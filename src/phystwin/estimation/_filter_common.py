"""What the filters share: argument checks, rejected-update reports, the process-noise step and
:class:`ModelFilter`, the part of the :class:`~phystwin.estimation.base.Filter` interface common to the
filters on a compiled model (UKF, square-root UKF, EKF, EnKF)."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from phystwin.core.model import Model
from phystwin.errors import InvalidValueError
from phystwin.estimation import step_kernels
from phystwin.estimation.base import EstimationError, Filter, UpdateInfo
from phystwin.estimation.status import BAD_MEASUREMENT, INNOVATION_NOT_PD, NONFINITE, OK, describe
from phystwin.estimation.types import GaussianState

__all__ = ["ModelFilter", "discrete_process_noise"]

REJECTABLE = (BAD_MEASUREMENT, INNOVATION_NOT_PD)
"""Kernel statuses that reject an update (state returned unchanged) rather than raise."""


def matrix(name: str, M: Any, shape: tuple[int, int]) -> np.ndarray:
    """``M`` as a fresh C-contiguous float64 matrix of ``shape`` with finite entries, or ValueError."""
    A = np.array(np.atleast_2d(np.asarray(M, dtype=np.float64)), dtype=np.float64, order="C")
    if A.shape != shape:
        raise InvalidValueError(f"{name} must have shape {shape}, got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise InvalidValueError(f"{name} has non-finite entries")
    return A


def covariance(name: str, M: Any, m: int) -> np.ndarray:
    """A symmetric ``(m, m)`` covariance from a matrix or a vector (its diagonal), or ValueError."""
    A = matrix(name, np.diag(np.asarray(M, dtype=np.float64)) if np.ndim(M) == 1 else M, (m, m))
    if np.max(np.abs(A - A.T), initial=0.0) > 1e-12 * max(float(np.max(np.abs(A), initial=0.0)), 1e-300):
        raise InvalidValueError(f"{name} must be symmetric")
    return A


def finite_vector(v: Any, n: int) -> bool:
    """True if ``v`` is a finite float64 ndarray of shape ``(n,)`` (a cheap check for small vectors:
    the live path's measurements and inputs have a handful of entries)."""
    return type(v) is np.ndarray and v.dtype == np.float64 and v.shape == (n,) and all(map(math.isfinite, v.tolist()))


def measurement(z: Any, labels: Sequence[str]) -> tuple[np.ndarray, str]:
    """``z`` as a float vector and, when it has non-finite entries, the message that rejects it.

    Raises ValueError for a wrong length, naming the measured quantities.
    """
    if finite_vector(z, len(labels)):  # the common case: a Measurement's value, already a float vector
        return np.array(z), ""
    zv = np.array(np.atleast_1d(np.asarray(z, dtype=np.float64)), dtype=np.float64).reshape(-1)
    if zv.shape[0] != len(labels):
        raise InvalidValueError(
            f"measurement must have {len(labels)} value(s) ({', '.join(labels)}), got {zv.shape[0]}: {z!r}"
        )
    bad = [labels[int(i)] for i in np.flatnonzero(~np.isfinite(zv))]
    if not bad:
        return zv, ""
    return zv, f"non-finite measurement value(s) for {', '.join(bad)}; update rejected, state unchanged"


def writable(state: GaussianState) -> tuple[np.ndarray, np.ndarray]:
    """Writable copies of ``(x, P)``: the kernels are typed for writable arrays (a read-only array
    would need a second specialisation), and they never write into their inputs anyway."""
    return np.array(state.x), np.array(state.P)


def as_vector(v: np.ndarray) -> np.ndarray:
    """``v`` as a writable C-contiguous float64 vector (the typed kernels take no read-only arrays)."""
    if v.flags.writeable and v.flags.c_contiguous and v.dtype == np.float64:
        return v
    return np.array(v, dtype=np.float64)


def rejected(t: float, status: int, m: int, message: str, y: Any = None, S: Any = None) -> UpdateInfo:
    """The :class:`UpdateInfo` of an update rejected at time ``t`` [s] with ``status``."""
    return UpdateInfo(
        accepted=False,
        status=int(status),
        innovation=np.full(m, np.nan) if y is None else y,
        S=np.full((m, m), np.nan) if S is None else S,
        nis=math.nan,
        message=message or f"{describe(status)} at t = {t:.9g} s; update rejected, state unchanged",
    )


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
            raise InvalidValueError(
                f"Qd was given for steps of {dt_fixed:g} s, got a step of {dt:g} s; give Qc for variable steps"
            )
        return Qd
    n = model.layout.nx
    J = np.empty((n, n))
    Phi = np.empty((n, n))
    Qd_out = np.empty((n, n))
    xv = np.array(x, dtype=np.float64)
    st = int(step_kernels.process_noise(model.functions()[1], t, xv, as_vector(u), p, Qc, dt, J, Phi, Qd_out))
    if st != OK:
        raise EstimationError(st or NONFINITE, t, "model Jacobian / Van Loan for the process-noise discretisation")
    return Qd_out


def row_indices(rows: Sequence[int | str], names: Sequence[str], what: str) -> list[int]:
    """Positions of ``rows`` (indices or names) in ``names``; ValueError naming what is wrong."""
    if len(rows) == 0:
        raise InvalidValueError("select at least one measured quantity")
    out = []
    for r in rows:
        if isinstance(r, str):
            if r not in names:
                raise InvalidValueError(f"{r!r} is not measured by {what}; it measures {list(names)}")
            out.append(list(names).index(r))
        elif 0 <= int(r) < len(names):
            out.append(int(r))
        else:
            raise InvalidValueError(
                f"row {r!r} out of range for {what} measuring {len(names)} quantities {list(names)}"
            )
    return out


class ModelFilter(Filter[GaussianState]):
    """What the filters on a compiled model (UKF, SR-UKF, EKF, EnKF) share: the model, the measured
    outputs by name with their ``R``, exactly one of ``Qc`` or ``Qd`` (with the step ``dt`` it
    describes), the parameter vector ``p``, inputs and row subsets."""

    _model: Model
    measured_outputs: tuple[str, ...]
    idx: np.ndarray
    R: np.ndarray
    Qc: np.ndarray | None
    Qd: np.ndarray | None
    dt: float | None
    p: np.ndarray
    _labels: tuple[str, ...]
    _nx: int
    _ny: int
    _nu: int

    def _set_up(
        self, model: Model, measured_outputs: Sequence[str], R: Any, Qc: Any, Qd: Any, dt: float | None
    ) -> None:
        lay = model.layout
        n = lay.nx
        self._model = model
        self._nx, self._ny, self._nu = n, lay.ny, lay.nu
        names = tuple(measured_outputs)
        if not names:
            raise InvalidValueError("measured_outputs must name at least one model output")
        self._measure(names, covariance("R", R, len(names)))
        if (Qc is None) == (Qd is None):
            raise InvalidValueError("give exactly one of Qc (continuous spectral density) or Qd (discrete, with dt)")
        self.Qc = None if Qc is None else covariance("Qc", Qc, n)
        self.Qd = None if Qd is None else covariance("Qd", Qd, n)
        if self.Qd is not None and not (dt is not None and math.isfinite(dt) and dt > 0):
            raise InvalidValueError(f"Qd needs the step it describes: dt must be finite and > 0 s, got {dt!r}")
        self.dt = dt

    def _measure(self, names: tuple[str, ...], R: np.ndarray) -> None:
        """Measure the model outputs ``names`` with the validated covariance ``R`` (subclasses that
        derive arrays from ``R`` extend this)."""
        lay = self._model.layout
        self.idx = np.array([lay.output_index(name) for name in names], dtype=np.int64)
        self.measured_outputs = names
        self.R = R
        self._labels = tuple(f"{name} [{lay.unit(name)}]" for name in names)

    @property
    def model(self) -> Model:
        """The compiled model."""
        return self._model

    @property
    def n(self) -> int:
        """State dimension."""
        return self._nx

    @property
    def measurement_names(self) -> tuple[str, ...]:
        """The measured model outputs, in the order of ``z``."""
        return self.measured_outputs

    def input_vector(self, u: Any = None) -> np.ndarray:
        """Input vector from a vector, a name -> value mapping, or None (see :meth:`Model.input_vector`)."""
        return self._model.input_vector(u)

    def select_measurements(self, rows: Sequence[int | str], R: Any = None) -> ModelFilter:
        """A shallow copy (same model, parameters, process noise and compiled kernels) measuring the
        model outputs ``rows``: indices into :attr:`measured_outputs` or any output names."""
        if len(rows) == 0:
            raise InvalidValueError("select at least one measured quantity")
        outputs = [s.name for s in self._model.layout.outputs]
        names = []
        for r in rows:
            if isinstance(r, str):
                if r not in outputs:
                    raise InvalidValueError(f"{r!r} is not an output of model {self._model.name!r}; outputs: {outputs}")
                names.append(r)
            else:
                names.append(self.measured_outputs[row_indices([r], self.measured_outputs, "this filter")[0]])
        m = len(names)
        if R is None:
            missing = [nm for nm in names if nm not in self.measured_outputs]
            if missing:
                raise InvalidValueError(f"give R for {missing}: this filter does not measure them")
            pos = [self.measured_outputs.index(nm) for nm in names]
            Rm = covariance("R", self.R[np.ix_(pos, pos)], m)
        else:
            Rm = covariance("R", R, m)
        f = copy.copy(self)
        f._measure(tuple(names), Rm)
        return f

    def _input_array(self, u: Any) -> np.ndarray:
        """:meth:`input_vector`, with a cheap path for an already-validated float64 vector (the fusion engine's)."""
        if finite_vector(u, self._nu):
            return np.array(u)
        return self._model.input_vector(u)
