r"""Exact discretisation of continuous linear stochastic models.

The continuous model is the linear SDE

.. math::

    dx = A\,x\,dt + B\,u\,dt + G\,dW, \qquad E[dW\,dW^T] = Q_c\,dt,

with ``u`` held constant over each step (zero-order hold). ``Q_c`` is the *spectral density* of the
white noise ``w = dW/dt`` (units: ``unit(x)^2 / s`` when ``G = I``). Over a step ``dt`` the exact
discrete model is

.. math::

    x_{k+1} = \Phi\,x_k + \Gamma\,u_k + w_k, \qquad w_k \sim N(0, Q_d),

    \Phi = e^{A\,dt}, \qquad \Gamma = \int_0^{dt} e^{A s}\,ds\,B, \qquad
    Q_d = \int_0^{dt} e^{A s}\,G Q_c G^T\,e^{A^T s}\,ds.

``Phi`` and ``Gamma`` come from one matrix exponential of an augmented matrix,

.. math::

    \exp\left(\begin{bmatrix} A & B \\ 0 & 0 \end{bmatrix} dt\right)
    = \begin{bmatrix} \Phi & \Gamma \\ 0 & I \end{bmatrix},

and ``Q_d`` from Van Loan's method (C. F. Van Loan, "Computing integrals involving the matrix
exponential", IEEE TAC 23(3), 1978):

.. math::

    \exp\left(\begin{bmatrix} -A & G Q_c G^T \\ 0 & A^T \end{bmatrix} dt\right)
    = \begin{bmatrix} F_{11} & F_{12} \\ 0 & F_{22} \end{bmatrix}, \qquad
    \Phi = F_{22}^T, \qquad Q_d = F_{22}^T F_{12} = \Phi\,F_{12}.

Both hold for any ``dt >= 0`` (no small-step approximation); ``dt = 0`` gives ``Phi = I``,
``Gamma = 0``, ``Q_d = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from phystwin.errors import InvalidValueError

__all__ = ["DiscreteModel", "discretize", "van_loan"]


@dataclass(frozen=True, eq=False)
class DiscreteModel:
    """The exact discrete form of a continuous linear model over one step.

    Attributes
    ----------
    dt : float
        Step [s].
    Phi : ndarray, shape (n, n)
        State transition matrix :math:`e^{A\\,dt}` (dimensionless where x has uniform units).
    Gamma : ndarray, shape (n, m)
        Zero-order-hold input matrix :math:`\\int_0^{dt} e^{As} ds\\, B`.
    Qd : ndarray, shape (n, n)
        Discrete process-noise covariance (units of :math:`x x^T`), symmetric.
    """

    dt: float
    Phi: np.ndarray
    Gamma: np.ndarray
    Qd: np.ndarray


def _square(name: str, M: np.ndarray, n: int | None = None) -> np.ndarray:
    M = np.atleast_2d(np.asarray(M, dtype=np.float64))
    if M.ndim != 2 or M.shape[0] != M.shape[1] or (n is not None and M.shape[0] != n):
        want = f"({n}, {n})" if n is not None else "square"
        raise InvalidValueError(f"{name} must be {want}, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise InvalidValueError(f"{name} has non-finite entries")
    return M


def van_loan(A: np.ndarray, Qc: np.ndarray, dt: float, G: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""``(Phi, Qd)`` of :math:`dx = A x\,dt + G\,dW`, :math:`E[dW dW^T] = Q_c dt`, over ``dt`` [s].

    Parameters
    ----------
    A : ndarray, shape (n, n)
        System matrix [1/s].
    Qc : ndarray, shape (q, q)
        Spectral density of the white noise (``q = n`` when ``G`` is omitted), symmetric PSD.
    dt : float
        Step [s], ``>= 0``.
    G : ndarray, shape (n, q), optional
        Noise input matrix (identity by default).

    Returns
    -------
    Phi : ndarray, shape (n, n)
        :math:`e^{A\,dt}`.
    Qd : ndarray, shape (n, n)
        :math:`\int_0^{dt} e^{As} G Q_c G^T e^{A^T s} ds`, symmetrised.

    Notes
    -----
    The Van Loan block holds :math:`e^{-A\,dt}`, which overflows for a stiff ``A`` over a long step
    (a fast electrical mode of -100 1/s over 10 s is :math:`e^{1000}`). When
    :math:`\|A\|_1 dt > 1` the step is therefore cut into :math:`2^k` pieces of ``h`` with
    :math:`\|A\|_1 h \le 1` and doubled back up exactly:
    :math:`Q_d(2h) = \Phi(h) Q_d(h) \Phi(h)^T + Q_d(h)`, :math:`\Phi(2h) = \Phi(h)^2`.
    """
    A = _square("A", A)
    n = A.shape[0]
    dt = float(dt)
    if not (np.isfinite(dt) and dt >= 0.0):
        raise InvalidValueError(f"dt must be finite and >= 0 s, got {dt!r}")
    if G is None:
        Qc = _square("Qc", Qc, n)
        GQG = Qc
    else:
        G = np.atleast_2d(np.asarray(G, dtype=np.float64))
        if G.shape[0] != n:
            raise InvalidValueError(f"G must have {n} rows (one per state), got shape {G.shape}")
        Qc = _square("Qc", Qc, G.shape[1])
        GQG = G @ Qc @ G.T
    if np.max(np.abs(Qc - Qc.T), initial=0.0) > 1e-12 * max(np.max(np.abs(Qc), initial=0.0), 1e-300):
        raise InvalidValueError("Qc must be symmetric")
    norm = float(np.max(np.sum(np.abs(A), axis=0), initial=0.0)) * dt
    doublings = math.ceil(math.log2(norm)) if norm > 1.0 else 0
    h = dt / 2.0**doublings
    M = np.zeros((2 * n, 2 * n))
    M[:n, :n] = -A
    M[:n, n:] = GQG
    M[n:, n:] = A.T
    F = expm(M * h)
    Phi = F[n:, n:].T.copy()
    Qd = Phi @ F[:n, n:]
    for _ in range(doublings):
        Qd = Phi @ Qd @ Phi.T + Qd
        Phi = Phi @ Phi
    return Phi, 0.5 * (Qd + Qd.T)


def discretize(
    A: np.ndarray,
    B: np.ndarray | None,
    Qc: np.ndarray,
    dt: float,
    G: np.ndarray | None = None,
) -> DiscreteModel:
    r"""Exact zero-order-hold discretisation of :math:`dx = (A x + B u)\,dt + G\,dW` over ``dt`` [s].

    Parameters
    ----------
    A : ndarray, shape (n, n)
        System matrix [1/s].
    B : ndarray, shape (n, m) or None
        Input matrix (``None``: no inputs, ``Gamma`` has shape (n, 0)).
    Qc : ndarray
        Spectral density of the process noise, see :func:`van_loan`.
    dt : float
        Step [s], ``>= 0``; any size (exact, not a first-order approximation).
    G : ndarray, optional
        Noise input matrix, see :func:`van_loan`.

    Returns
    -------
    DiscreteModel
        ``Phi``, ``Gamma`` and ``Qd``.
    """
    A = _square("A", A)
    n = A.shape[0]
    Bm = np.zeros((n, 0)) if B is None else np.atleast_2d(np.asarray(B, dtype=np.float64))
    if Bm.shape[0] != n:
        raise InvalidValueError(f"B must have {n} rows (one per state), got shape {Bm.shape}")
    if not np.all(np.isfinite(Bm)):
        raise InvalidValueError("B has non-finite entries")
    Phi, Qd = van_loan(A, Qc, dt, G)
    m = Bm.shape[1]
    if m:
        M = np.zeros((n + m, n + m))
        M[:n, :n] = A
        M[:n, n:] = Bm
        Gamma = expm(M * float(dt))[:n, n:].copy()
    else:
        Gamma = np.zeros((n, 0))
    return DiscreteModel(dt=float(dt), Phi=Phi, Gamma=Gamma, Qd=Qd)
