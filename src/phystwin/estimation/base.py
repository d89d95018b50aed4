r"""The filter interface: what every filter of :mod:`phystwin.estimation` implements.

:class:`Filter` is the one type the fusion engine (:class:`~phystwin.estimation.fusion.FusionEngine`)
and the twin runner (:class:`~phystwin.hil.runner.TwinRunner`) know. A filter is immutable after
construction and holds no estimate: the belief is a value passed in and returned.

Contract
--------
A filter estimates the state :math:`x \in \mathbb{R}^n` of

.. math::

    x(t_{k+1}) = \phi(x(t_k), u_k;\ t_k \to t_{k+1}) + w_k, \qquad w_k \sim N(0, Q_d(t_{k+1} - t_k)),

    z_k = h(t_k, x(t_k), u_k)[\text{rows}] + v_k, \qquad v_k \sim N(0, R),

with inputs :math:`u` held over each prediction and a measurement vector ``z`` whose entries are the
filter's :attr:`~Filter.measurement_names`, in order.

``predict(state, t, u=None) -> state``
    The prior at the absolute time ``t`` [s] (``t >= state.t``), inputs ``u`` held from ``state.t``
    to ``t``. ``t == state.t`` returns ``state`` itself. The target is a time, not a step: the
    returned state's ``t`` is exactly the ``t`` asked for (a sum ``state.t + dt`` would miss a
    measurement's timestamp by a rounding error, and the fusion engine compares timestamps exactly).
``update(state, z, *, R=None, u=None) -> (state, UpdateInfo)``
    The posterior at ``state.t`` given ``z``. ``R`` overrides the filter's measurement covariance
    for this call; ``u`` is the input the measurement function sees (outputs with feed-through;
    filters whose measurement is a matrix ignore it). Data problems are not exceptions: a ``z``
    with NaN or Inf entries, or an innovation covariance that is not positive definite, returns
    the input ``state`` itself with ``info.accepted = False``; a ``z`` of the wrong length is a
    programming error (:class:`ValueError` naming the measured quantities); any other failure raises
    :class:`EstimationError` with the status and time.
``predict_update(state, t, z, *, R=None, u=None, u_out=None) -> (state, UpdateInfo)``
    ``update(predict(state, t, u), z, R=R, u=u_out or u)``; a rejected update returns the *input*
    state (a gated measurement leaves the filter where it was, not predicted). The default does
    exactly that; a filter with a fused compiled step (the UKF) overrides it with the same
    arithmetic in one call. The fusion engine calls it for every measurement with no input change
    since the previous state, so the override is the live path's fast path.
``select_measurements(rows, R=None) -> Filter``
    A filter with the same process model (sharing its compiled kernels) that measures only
    ``rows``: indices into :attr:`~Filter.measurement_names` or names (for a filter on a model,
    any model output). The fusion engine builds one per sensor.
``input_vector(u) -> ndarray``
    The validated input vector the filter uses for ``u`` (a vector, for a model filter also a
    name -> value mapping, or None for the defaults).
``n``, ``measurement_names``, ``model``
    State dimension, the measured quantities in the order of ``z``, and the compiled
    :class:`~phystwin.core.model.Model` the filter propagates (None for a filter on matrices).

State type
----------
``Filter`` is generic in its state type. Every filter in this package is a
``Filter[GaussianState]``: predict and update take and return an immutable
:class:`~phystwin.estimation.types.GaussianState` ``(t, x, P)``. The ensemble Kalman filter keeps
its ensemble (:class:`~phystwin.estimation.enkf.EnsembleState`) behind the Gaussian summary it
returns, and offers the ensemble itself through ``predict_ensemble`` / ``update_ensemble``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from phystwin.errors import InvalidValueError, PhystwinError
from phystwin.estimation.status import describe

if TYPE_CHECKING:
    from phystwin.core.model import Model

__all__ = ["EstimationError", "Filter", "TimedState", "UpdateInfo"]


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


class TimedState(Protocol):
    """What a filter's state type offers: its time of validity ``t`` [s] and dimension ``n``."""

    @property
    def t(self) -> float: ...

    @property
    def n(self) -> int: ...


StateT = TypeVar("StateT", bound=TimedState)


class Filter(ABC, Generic[StateT]):
    """Abstract base of every filter (see the module docstring for the contract).

    Subclasses implement :meth:`predict`, :meth:`update`, :meth:`select_measurements`,
    :meth:`input_vector` and the properties :attr:`n` and :attr:`measurement_names`; a class that
    leaves one of them out cannot be instantiated. :meth:`predict_update` and :attr:`model` have
    defaults.
    """

    __slots__ = ()

    @property
    @abstractmethod
    def n(self) -> int:
        """State dimension."""

    @property
    @abstractmethod
    def measurement_names(self) -> tuple[str, ...]:
        """Names of the measured quantities, in the order of ``z``."""

    @property
    def model(self) -> Model | None:
        """The compiled model whose state the filter estimates; None for a filter on matrices."""
        return None

    @abstractmethod
    def input_vector(self, u: Any = None) -> np.ndarray:
        """The validated input vector for ``u`` (None: the defaults).

        Raises
        ------
        ValueError
            A wrong length or non-finite values, naming the inputs.
        KeyError
            A mapping with unknown names or without an input that has no default.
        """

    @abstractmethod
    def predict(self, state: StateT, t: float, u: Any = None) -> StateT:
        r"""Prior at time ``t`` [s] (``t >= state.t``) with inputs ``u`` held from ``state.t`` to ``t``.

        :math:`\hat x^- = \phi(\hat x, u)`, :math:`P^- \approx \operatorname{cov}[\phi(x, u)] + Q_d(t -
        t_0)`: exactly :math:`\Phi P \Phi^T + Q_d` for a linear model, otherwise the filter's
        approximation of it. ``t == state.t`` returns ``state`` itself.

        Raises
        ------
        ValueError
            ``t`` before ``state.t`` or not finite, a state of the wrong dimension, bad inputs.
        EstimationError
            A kernel failure (a model that fails to integrate, a covariance that is not PD).
        """

    @abstractmethod
    def update(self, state: StateT, z: Any, *, R: Any = None, u: Any = None) -> tuple[StateT, UpdateInfo]:
        r"""Posterior at ``state.t`` given ``z`` (the measured quantities, in order).

        Innovation :math:`y = z - h(\hat x^-)`, its covariance :math:`S = H P^- H^T + R` (or the
        filter's sample estimate), gain :math:`K = P_{xz} S^{-1}`,
        :math:`\hat x^+ = \hat x^- + K y`, :math:`P^+ = P^- - K S K^T`, and
        :math:`\text{NIS} = y^T S^{-1} y`.

        Parameters
        ----------
        state : StateT
            The prior.
        z : array_like, shape (m,)
            Measured values in SI units.
        R : (m, m) or (m,), optional
            Measurement-noise covariance for this call (default: the filter's).
        u : optional
            Inputs the measurement function sees (default: the model's defaults).

        Returns
        -------
        (state, UpdateInfo)
            The posterior, or ``state`` itself when the update was rejected (``info.accepted`` False).
        """

    def predict_update(
        self, state: StateT, t: float, z: Any, *, R: Any = None, u: Any = None, u_out: Any = None
    ) -> tuple[StateT, UpdateInfo]:
        """:meth:`predict` to ``t`` [s] with ``u`` held, then :meth:`update` with ``z`` (the output
        function sees ``u_out``, default ``u``).

        Returns ``(posterior, info)``; a rejected update returns the *input* state (not the prior).
        Filters with a fused compiled step override this with the same arithmetic.
        """
        prior = self.predict(state, t, u)
        post, info = self.update(prior, z, R=R, u=u if u_out is None else u_out)
        return (post, info) if info.accepted else (state, info)

    @abstractmethod
    def select_measurements(self, rows: Sequence[int | str], R: Any = None) -> Filter[StateT]:
        """A filter with the same process model measuring only ``rows``, with noise covariance ``R``.

        Parameters
        ----------
        rows : sequence of int or str
            Indices into :attr:`measurement_names` or names (a filter on a model accepts any output
            of its model).
        R : (m, m) or (m,), optional
            Measurement-noise covariance of the selected rows; default: the rows' block of the
            filter's ``R`` (required for names the filter does not measure).

        Raises
        ------
        ValueError
            An index out of range, an unknown name, no rows, or no ``R`` for new rows.
        """

    def _check_predict(self, state: TimedState, t: float) -> float:
        """``t - state.t`` after checking the state's dimension and that ``t`` is not in its past."""
        if state.n != self.n:
            raise InvalidValueError(f"state has {state.n} entries, {self._what()} has {self.n} states")
        dt = float(t) - state.t
        if not (math.isfinite(dt) and dt >= 0.0):
            raise InvalidValueError(f"cannot predict from t = {state.t:g} s back to t = {t!r} s")
        return dt

    def _what(self) -> str:
        model = self.model
        return "this filter" if model is None else f"model {model.name!r}"
