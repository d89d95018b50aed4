"""Immutable value types of the estimators: Gaussian states and measurements.

Estimators are pure: ``predict(state, t)`` and ``update(state, z)`` take a :class:`GaussianState`
and return a new one; nothing is mutated. Arrays held by these types are private copies marked
read-only, so a state handed to a caller cannot be changed behind the filter's back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from phystwin.errors import InvalidValueError

__all__ = ["GaussianState", "Measurement", "is_symmetric_positive_definite", "symmetry_error"]


def _frozen_array(value: Any) -> np.ndarray:
    arr = np.array(value, dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


def symmetry_error(P: np.ndarray) -> float:
    r"""Relative asymmetry :math:`\max|P - P^T| / \max(\max|P|, \text{tiny})` of a square matrix."""
    P = np.asarray(P, dtype=np.float64)
    scale = float(np.max(np.abs(P))) if P.size else 0.0
    return float(np.max(np.abs(P - P.T))) / max(scale, np.finfo(np.float64).tiny) if P.size else 0.0


def is_symmetric_positive_definite(P: np.ndarray, rtol: float = 1e-9) -> bool:
    """True if ``P`` is square, finite, symmetric to ``rtol`` (relative) and Cholesky-factorisable.

    Parameters
    ----------
    P : ndarray, shape (n, n)
        Candidate covariance matrix.
    rtol : float
        Allowed relative asymmetry, see :func:`symmetry_error`.
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or not np.all(np.isfinite(P)):
        return False
    if symmetry_error(P) > rtol:
        return False
    try:
        np.linalg.cholesky(0.5 * (P + P.T))
    except np.linalg.LinAlgError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class GaussianState:
    """A Gaussian belief :math:`x \\sim N(\\hat x, P)` at time ``t``.

    Parameters
    ----------
    t : float
        Time of validity [s].
    x : array_like, shape (n,)
        Mean, in the SI units of the model's states.
    P : array_like, shape (n, n)
        Covariance, units ``unit(x_i) * unit(x_j)``; must be symmetric (checked to 1e-9 relative).
        Positive definiteness is not enforced here (a filter may legitimately pass through a
        semi-definite covariance); use :meth:`is_positive_definite`.

    Raises
    ------
    ValueError
        If ``t`` is not finite, shapes disagree, entries are not finite or ``P`` is not symmetric.
    """

    t: float
    x: np.ndarray
    P: np.ndarray

    def __post_init__(self) -> None:
        t = float(self.t)
        if not math.isfinite(t):
            raise InvalidValueError(f"GaussianState: t must be finite, got {self.t!r}")
        x = _frozen_array(self.x).reshape(-1)
        P = _frozen_array(self.P)
        n = x.shape[0]
        if P.shape != (n, n):
            raise InvalidValueError(
                f"GaussianState: P must have shape ({n}, {n}) to match x of length {n}, got {P.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise InvalidValueError(
                f"GaussianState: x has non-finite entries at indices {np.flatnonzero(~np.isfinite(x))}"
            )
        if not np.all(np.isfinite(P)):
            raise InvalidValueError("GaussianState: P has non-finite entries")
        err = symmetry_error(P)
        if err > 1e-9:
            raise InvalidValueError(f"GaussianState: P must be symmetric, relative asymmetry is {err:.3g} (> 1e-9)")
        x.setflags(write=False)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "P", P)

    @classmethod
    def trusted(cls, t: float, x: np.ndarray, P: np.ndarray) -> GaussianState:
        """A state from a filter kernel's fresh output buffers, without the checks of the constructor.

        For the filters' hot path only: the kernels have already verified that ``x`` and ``P`` are
        finite and symmetrised ``P``; the buffers are new arrays nobody else holds, so they are
        frozen in place instead of copied.
        """
        x.setflags(write=False)
        P.setflags(write=False)
        state = object.__new__(cls)
        object.__setattr__(state, "t", float(t))
        object.__setattr__(state, "x", x)
        object.__setattr__(state, "P", P)
        return state

    @property
    def n(self) -> int:
        """Dimension of the state."""
        return int(self.x.shape[0])

    @property
    def std(self) -> np.ndarray:
        """Marginal standard deviations :math:`\\sqrt{P_{ii}}` (units of x)."""
        return np.sqrt(np.clip(np.diag(self.P), 0.0, None))

    def is_positive_definite(self) -> bool:
        """True if ``P`` is symmetric positive definite (Cholesky succeeds)."""
        return is_symmetric_positive_definite(self.P)

    def nees(self, x_true: np.ndarray) -> float:
        r"""Normalised estimation error squared :math:`e^T P^{-1} e`, :math:`e = x_{true} - \hat x` (dimensionless)."""
        e = np.asarray(x_true, dtype=np.float64).reshape(-1) - self.x
        if e.shape != self.x.shape:
            raise InvalidValueError(f"nees: x_true must have length {self.n}, got {e.shape[0]}")
        L = np.linalg.cholesky(self.P)
        w = np.linalg.solve(L, e)
        return float(w @ w)


@dataclass(frozen=True, eq=False)
class Measurement:
    """One sample of one sensor.

    Parameters
    ----------
    t : float
        Time the quantity was sampled [s] (not the arrival time).
    sensor : str
        Sensor identifier.
    value : array_like, shape (m,)
        Measured values in SI units. Non-finite values are allowed here (they are what a feed
        delivered); filters reject them and report it.
    seq : int
        Sequence number assigned by the source (for duplicate and ordering checks).
    quality : int
        Quality flag from the source; 0 means good.
    """

    t: float
    sensor: str
    value: np.ndarray
    seq: int = 0
    quality: int = 0

    def __post_init__(self) -> None:
        t = float(self.t)
        if not math.isfinite(t):
            raise InvalidValueError(f"Measurement from sensor {self.sensor!r}: t must be finite, got {self.t!r}")
        if not isinstance(self.sensor, str) or not self.sensor:
            raise InvalidValueError(f"Measurement: sensor must be a non-empty string, got {self.sensor!r}")
        v = _frozen_array(np.atleast_1d(np.asarray(self.value, dtype=np.float64)))
        if v.ndim != 1:
            raise InvalidValueError(
                f"Measurement from sensor {self.sensor!r}: value must be a vector, got shape {v.shape}"
            )
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "value", v)
        object.__setattr__(self, "seq", int(self.seq))
        object.__setattr__(self, "quality", int(self.quality))
