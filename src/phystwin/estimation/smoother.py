r"""Rauch-Tung-Striebel fixed-interval smoother for a recorded linear Kalman-filter pass.

The forward pass records, for each step ``k = 0..K-1``, the prior :math:`(\hat x_k^-, P_k^-)`, the
posterior :math:`(\hat x_k, P_k)` and the transition :math:`\Phi_k` that produced the prior from
step ``k-1`` (``Phi[0]`` is not used). The backward pass, from :math:`\hat x^s_{K-1} = \hat x_{K-1}`,
:math:`P^s_{K-1} = P_{K-1}`:

.. math::

    C_k &= P_k \Phi_{k+1}^T (P_{k+1}^-)^{-1} \\
    \hat x^s_k &= \hat x_k + C_k (\hat x^s_{k+1} - \hat x^-_{k+1}) \\
    P^s_k &= P_k + C_k (P^s_{k+1} - P^-_{k+1}) C_k^T

Because the recorded prior :math:`\hat x^-_{k+1}` is used (not :math:`\Phi_{k+1}\hat x_k`), inputs
:math:`\Gamma u_k` are accounted for without being stored. :math:`C_k` is obtained by a Cholesky
solve :math:`P^-_{k+1} C_k^T = \Phi_{k+1} P_k` (no explicit inverse) and each :math:`P^s_k` is
symmetrised. Indexing matches ``filterpy.kalman.rts_smoother`` (``Fs[k+1]`` maps step ``k`` to
``k+1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from phystwin.errors import InvalidValueError
from phystwin.estimation.filters import KalmanFilter
from phystwin.estimation.types import GaussianState

__all__ = ["ForwardPass", "SmoothedPass", "record_forward", "rts_smooth"]


def _ro(a: Any) -> np.ndarray:
    arr = np.array(a, dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class ForwardPass:
    """A recorded forward pass of a linear Kalman filter (arrays read-only).

    Attributes
    ----------
    t : (K,)
        Step times [s].
    x_pred, P_pred : (K, n), (K, n, n)
        Priors at each step.
    x_filt, P_filt : (K, n), (K, n, n)
        Posteriors (equal to the prior where the measurement was missing or rejected).
    Phi : (K, n, n)
        Transition from step ``k-1`` to ``k`` (``Phi[0]``: from the initial state to step 0).
    innovations, S : (K, m), (K, m, m)
        Innovations and their covariances (NaN where no update was made).
    accepted : (K,) bool
        Whether the update at each step was applied.
    """

    t: np.ndarray
    x_pred: np.ndarray
    P_pred: np.ndarray
    x_filt: np.ndarray
    P_filt: np.ndarray
    Phi: np.ndarray
    innovations: np.ndarray
    S: np.ndarray
    accepted: np.ndarray

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, _ro(getattr(self, name)) if name != "accepted" else self._bool())

    def _bool(self) -> np.ndarray:
        a = np.array(self.accepted, dtype=bool, copy=True)
        a.setflags(write=False)
        return a


@dataclass(frozen=True, eq=False)
class SmoothedPass:
    """Smoothed means ``x`` (K, n), covariances ``P`` (K, n, n) and gains ``C`` (K-1, n, n)."""

    x: np.ndarray
    P: np.ndarray
    C: np.ndarray


def record_forward(
    kf: KalmanFilter,
    initial: GaussianState,
    times: Sequence[float] | np.ndarray,
    measurements: Any,
    inputs: Any = None,
) -> ForwardPass:
    """Run ``kf`` over ``measurements`` and record what :func:`rts_smooth` needs.

    Parameters
    ----------
    kf : KalmanFilter
        The filter.
    initial : GaussianState
        Belief at ``initial.t <= times[0]``.
    times : (K,)
        Measurement times [s], non-decreasing.
    measurements : (K, m) or (K,)
        One measurement per step; a row with NaN is rejected by the filter (prediction only).
    inputs : (K, nu), optional
        Input held over the step ending at each time.
    """
    tt = np.asarray(times, dtype=np.float64).reshape(-1)
    K = tt.shape[0]
    Z = np.asarray(measurements, dtype=np.float64).reshape(K, -1)
    m, n = Z.shape[1], kf.n
    U = None if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(K, -1)
    xp, Pp, xf, Pf = np.empty((K, n)), np.empty((K, n, n)), np.empty((K, n)), np.empty((K, n, n))
    Phi, Y, S = np.empty((K, n, n)), np.full((K, m), np.nan), np.full((K, m, m), np.nan)
    acc = np.zeros(K, dtype=bool)
    s, t_prev = initial, initial.t
    for k in range(K):
        dt = float(tt[k]) - t_prev
        Phi[k] = kf.matrices(dt)[0] if dt > 0 else np.eye(n)
        s = kf.predict(s, float(tt[k]), None if U is None else U[k])
        xp[k], Pp[k] = s.x, s.P
        s, info = kf.update(s, Z[k])
        xf[k], Pf[k] = s.x, s.P
        if info.accepted:
            Y[k], S[k], acc[k] = info.innovation, info.S, True
        t_prev = float(tt[k])
    return ForwardPass(tt, xp, Pp, xf, Pf, Phi, Y, S, acc)


def rts_smooth(x_filt: Any, P_filt: Any, x_pred: Any, P_pred: Any, Phi: Any) -> SmoothedPass:
    """RTS smoother over a recorded forward pass (see the module docstring for the equations).

    Parameters
    ----------
    x_filt, P_filt : (K, n), (K, n, n)
        Filtered means and covariances.
    x_pred, P_pred : (K, n), (K, n, n)
        Predicted (prior) means and covariances; ``x_pred[k]`` is the prior of step ``k``.
    Phi : (K, n, n) or (n, n)
        Transition from step ``k-1`` to ``k`` (a single matrix for a fixed step).

    Returns
    -------
    SmoothedPass
        Smoothed means, covariances (symmetric) and gains.

    Raises
    ------
    ValueError
        On inconsistent shapes or non-finite input.
    numpy.linalg.LinAlgError
        If a predicted covariance is not positive definite.
    """
    xf = np.asarray(x_filt, dtype=np.float64)
    if xf.ndim != 2:
        raise InvalidValueError(f"x_filt must have shape (K, n), got {xf.shape}")
    K, n = xf.shape
    Pf = np.asarray(P_filt, dtype=np.float64)
    xp = np.asarray(x_pred, dtype=np.float64)
    Pp = np.asarray(P_pred, dtype=np.float64)
    F = np.asarray(Phi, dtype=np.float64)
    if F.shape == (n, n):
        F = np.broadcast_to(F, (K, n, n))
    for name, a, shape in (
        ("P_filt", Pf, (K, n, n)),
        ("x_pred", xp, (K, n)),
        ("P_pred", Pp, (K, n, n)),
        ("Phi", F, (K, n, n)),
    ):
        if a.shape != shape:
            raise InvalidValueError(f"{name} must have shape {shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise InvalidValueError(f"{name} has non-finite entries")
    if not np.all(np.isfinite(xf)):
        raise InvalidValueError("x_filt has non-finite entries")
    xs = xf.copy()
    Ps = Pf.copy()
    C = np.empty((max(K - 1, 0), n, n))
    for k in range(K - 2, -1, -1):
        cf = cho_factor(0.5 * (Pp[k + 1] + Pp[k + 1].T), lower=True, check_finite=False)
        Ck = cho_solve(cf, F[k + 1] @ Pf[k], check_finite=False).T  # P_pred C^T = Phi P_filt
        C[k] = Ck
        xs[k] = xf[k] + Ck @ (xs[k + 1] - xp[k + 1])
        Pk = Pf[k] + Ck @ (Ps[k + 1] - Pp[k + 1]) @ Ck.T
        Ps[k] = 0.5 * (Pk + Pk.T)
    return SmoothedPass(_ro(xs), _ro(Ps), _ro(C))
