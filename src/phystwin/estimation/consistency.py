r"""Filter consistency metrics: NEES, NIS, chi-square bounds and innovation whiteness.

A consistent filter's errors are what its covariances say they are. With estimation error
:math:`e_k = x_k - \hat x_k` and covariance :math:`P_k` (``n`` states), and innovation
:math:`y_k = z_k - H \hat x_k^-` with covariance :math:`S_k` (``m`` measured values):

.. math::

    \epsilon_k = e_k^T P_k^{-1} e_k \sim \chi^2_n, \qquad
    \nu_k = y_k^T S_k^{-1} y_k \sim \chi^2_m .

Averages of independent chi-square variables are scaled chi-square variables: the mean of ``N``
values each with ``d`` degrees of freedom satisfies :math:`N \bar\epsilon \sim \chi^2_{N d}`, so its
two-sided ``1 - alpha`` band is

.. math::

    \left[\frac{\chi^2_{N d}(\alpha/2)}{N},\; \frac{\chi^2_{N d}(1-\alpha/2)}{N}\right].

The same band with ``N = K`` (the number of steps) bounds the time-averaged NIS of one long run,
because the innovations of a consistent filter are independent in time.

Whiteness (Bar-Shalom, Li & Kirubarajan, *Estimation with Applications to Tracking and Navigation*,
§5.4): the normalised sample autocorrelation of one innovation component at lag ``l``,

.. math::

    \rho(l) = \frac{\sum_{k=1}^{K-l} y_k\,y_{k+l}}
                   {\sqrt{\sum_{k=1}^{K-l} y_k^2 \; \sum_{k=1}^{K-l} y_{k+l}^2}},

is approximately :math:`N(0, 1/K)` for a white sequence, so 95 % of lags lie inside
:math:`\pm 1.96/\sqrt{K}`. Vector innovations are first whitened with the Cholesky factor of
:math:`S_k` (:math:`\tilde y_k = L_k^{-1} y_k`, :math:`S_k = L_k L_k^T`) and each component is tested.

Pass criteria follow ``QUALITY.md`` (Estimation): NEES Monte-Carlo average inside the band for
>= 90 % of steps; time-averaged NIS inside its band; >= 95 % of whiteness lags inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from phystwin.errors import InvalidValueError

__all__ = [
    "ConsistencyResult",
    "autocorrelation",
    "chi2_bounds",
    "nees",
    "nees_monte_carlo",
    "nis",
    "nis_time_average",
    "normalised_squares",
    "whiten",
    "whiteness",
]

NEES_STEP_FRACTION = 0.90
"""QUALITY.md: the Monte-Carlo average NEES must lie inside its band for at least this fraction of steps."""
WHITENESS_LAG_FRACTION = 0.95
"""QUALITY.md: at least this fraction of autocorrelation lags must lie inside ``+-z/sqrt(K)``."""


@dataclass(frozen=True, eq=False)
class ConsistencyResult:
    """Outcome of one consistency test.

    Attributes
    ----------
    test : str
        ``"nees_monte_carlo"``, ``"nis_time_average"`` or ``"whiteness"``.
    statistic : ndarray
        The tested values: per-step average NEES (K,), the time-averaged NIS (1,), or the
        autocorrelations (components, L).
    lower, upper : float
        The acceptance band for each value of ``statistic``.
    fraction_inside : float
        Fraction of ``statistic`` inside ``[lower, upper]``.
    required : float
        Fraction needed to pass.
    passed : bool
        ``fraction_inside >= required``.
    dof : int
        Degrees of freedom of the chi-square band (0 for whiteness).
    alpha : float
        Two-sided significance level of the band.
    """

    test: str
    statistic: np.ndarray
    lower: float
    upper: float
    fraction_inside: float
    required: float
    passed: bool
    dof: int
    alpha: float

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.test}: {verdict}, {100 * self.fraction_inside:.1f} % inside [{self.lower:.4g}, {self.upper:.4g}]"
            f" (need {100 * self.required:.0f} %, alpha = {self.alpha:g}, dof = {self.dof})"
        )


def _alpha(alpha: float) -> float:
    a = float(alpha)
    if not (0.0 < a < 1.0):
        raise InvalidValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return a


def chi2_bounds(dof: int, alpha: float = 0.05, runs: int = 1) -> tuple[float, float]:
    r"""Two-sided ``1 - alpha`` band for the mean of ``runs`` independent :math:`\chi^2_{dof}` values.

    ``runs * mean ~ chi2(runs * dof)``, so the band is
    :math:`[\chi^2_{r d}(\alpha/2) / r,\ \chi^2_{r d}(1 - \alpha/2) / r]`. With ``runs = 1`` this is the
    single-run per-step band; with ``runs = N`` the Monte-Carlo average band; with ``runs = K`` the
    band of the time-averaged NIS of one run of ``K`` steps. The band contains ``dof`` (the mean).
    """
    d, r = int(dof), int(runs)
    if d < 1 or r < 1:
        raise InvalidValueError(f"dof and runs must be >= 1, got dof = {dof!r}, runs = {runs!r}")
    a = _alpha(alpha)
    return float(chi2.ppf(0.5 * a, r * d)) / r, float(chi2.ppf(1.0 - 0.5 * a, r * d)) / r


def normalised_squares(v: Any, C: Any) -> np.ndarray:
    r""":math:`v_k^T C_k^{-1} v_k` for each step, by Cholesky solves (no explicit inverse).

    Parameters
    ----------
    v : array_like, shape (..., d)
        Errors or innovations; a 1-D array is read as ``d = 1`` per step.
    C : array_like, shape (..., d, d)
        Their covariances (symmetric positive definite); the leading shape must match ``v``'s.

    Raises
    ------
    ValueError
        On mismatched shapes or non-finite entries.
    numpy.linalg.LinAlgError
        If some ``C_k`` is not positive definite.
    """
    va = np.asarray(v, dtype=np.float64)
    Ca = np.asarray(C, dtype=np.float64)
    if Ca.ndim >= 2 and Ca.shape[-2:] == (1, 1) and va.shape == Ca.shape[:-2]:
        va = va[..., None]  # scalar values per step
    if va.ndim < 1 or Ca.shape != (*va.shape, va.shape[-1]):
        raise InvalidValueError(
            f"covariances must have shape {(*va.shape, va.shape[-1])} to match {va.shape}, got {Ca.shape}"
        )
    if not (np.all(np.isfinite(va)) and np.all(np.isfinite(Ca))):
        raise InvalidValueError("non-finite entries in vectors or covariances")
    L = np.linalg.cholesky(0.5 * (Ca + np.swapaxes(Ca, -1, -2)))
    w = np.linalg.solve(L, va[..., None])[..., 0]
    return np.asarray(np.sum(w * w, axis=-1))


def nees(errors: Any, P: Any) -> np.ndarray:
    r"""NEES :math:`e_k^T P_k^{-1} e_k` per step: ``errors`` (..., n) = truth - estimate, ``P`` (..., n, n)."""
    return normalised_squares(errors, P)


def nis(innovations: Any, S: Any) -> np.ndarray:
    r"""NIS :math:`y_k^T S_k^{-1} y_k` per step: ``innovations`` (..., m), ``S`` (..., m, m)."""
    return normalised_squares(innovations, S)


def nees_monte_carlo(errors: Any, P: Any, alpha: float = 0.05) -> ConsistencyResult:
    r"""Monte-Carlo NEES test: per-step average over ``N`` runs against the :math:`\chi^2_{N n}/N` band.

    Parameters
    ----------
    errors : array_like, shape (N, K, n)
        Truth minus estimate for ``N`` independent runs of ``K`` steps.
    P : array_like, shape (N, K, n, n)
        The filter's covariances.
    alpha : float
        Two-sided level of the band (0.05: the 95 % band).

    Passes when the average NEES is inside the band for >= 90 % of steps (QUALITY.md).
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 3:
        raise InvalidValueError(f"errors must have shape (runs, steps, n), got {e.shape}")
    N, _K, n = e.shape
    avg = nees(e, P).mean(axis=0)
    lo, hi = chi2_bounds(n, alpha, runs=N)
    frac = float(np.mean((avg >= lo) & (avg <= hi)))
    return ConsistencyResult(
        "nees_monte_carlo", avg, lo, hi, frac, NEES_STEP_FRACTION, frac >= NEES_STEP_FRACTION, N * n, float(alpha)
    )


def nis_time_average(innovations: Any, S: Any, alpha: float = 0.05) -> ConsistencyResult:
    r"""Single-run NIS test: :math:`\bar\nu = \frac1K\sum_k \nu_k` against the :math:`\chi^2_{K m}/K` band.

    ``innovations`` (K, m) or (K,) for scalar measurements, ``S`` (K, m, m). Needs no truth.
    Steps whose innovation or ``S`` is not finite (rejected or missing updates, recorded as NaN by
    :func:`phystwin.estimation.smoother.record_forward`) are left out and ``K`` counts the rest.
    Passes when the time average lies inside the band.
    """
    y = np.asarray(innovations, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] < 1:
        raise InvalidValueError(f"innovations must have shape (steps, m), got {np.shape(innovations)}")
    m = y.shape[1]
    Sa = np.asarray(S, dtype=np.float64).reshape(y.shape[0], m, m)
    used = np.all(np.isfinite(y), axis=1) & np.all(np.isfinite(Sa), axis=(1, 2))
    K = int(np.count_nonzero(used))
    if K == 0:
        raise InvalidValueError("no step has a finite innovation and innovation covariance")
    avg = float(nis(y[used], Sa[used]).mean())
    lo, hi = chi2_bounds(m, alpha, runs=K)
    inside = lo <= avg <= hi
    return ConsistencyResult(
        "nis_time_average", np.array([avg]), lo, hi, float(inside), 1.0, inside, K * m, float(alpha)
    )


def whiten(innovations: Any, S: Any) -> np.ndarray:
    r"""Normalised innovations :math:`L_k^{-1} y_k` (:math:`S_k = L_k L_k^T`): identity covariance if consistent."""
    y = np.asarray(innovations, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    K, m = y.shape
    Sa = np.asarray(S, dtype=np.float64).reshape(K, m, m)
    L = np.linalg.cholesky(0.5 * (Sa + np.swapaxes(Sa, -1, -2)))
    return np.asarray(np.linalg.solve(L, y[..., None])[..., 0])


def autocorrelation(sequence: Any, lags: int) -> np.ndarray:
    r"""Normalised sample autocorrelation :math:`\rho(l)`, ``l = 1..lags``, of each column.

    ``sequence`` (K,) or (K, c); returns (c, lags). See the module docstring for the formula (the
    sums run over the ``K - l`` overlapping pairs; no mean is removed: innovations are zero-mean
    under the hypothesis being tested, so a bias shows up as correlation).
    """
    s = np.asarray(sequence, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    K = s.shape[0]
    L = int(lags)
    if not (1 <= L < K):
        raise InvalidValueError(f"lags must be in 1..{K - 1} for {K} samples, got {lags!r}")
    if not np.all(np.isfinite(s)):
        raise InvalidValueError("non-finite entries in the sequence")
    rho = np.empty((s.shape[1], L))
    for lag in range(1, L + 1):
        a, b = s[: K - lag], s[lag:]
        den = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
        rho[:, lag - 1] = np.sum(a * b, axis=0) / np.maximum(den, np.finfo(np.float64).tiny)
    return rho


def whiteness(innovations: Any, lags: int = 20, S: Any = None, alpha: float = 0.05) -> ConsistencyResult:
    r"""Innovation whiteness test: :math:`|\rho(l)| \le z_{1-\alpha/2}/\sqrt{K}` for ``l = 1..lags``.

    ``innovations`` (K,) or (K, m); with ``S`` (K, m, m) they are whitened first (:func:`whiten`).
    The sequence must be gap-free (non-finite entries raise :class:`ValueError`): the test is
    about neighbours in time.
    ``alpha = 0.05`` gives the usual :math:`\pm 1.96/\sqrt K`. Passes when >= 95 % of the
    (component, lag) values are inside (QUALITY.md).
    """
    a = _alpha(alpha)
    y = np.asarray(innovations, dtype=np.float64)
    if S is not None:
        y = whiten(y, S)
    rho = autocorrelation(y, lags)
    K = y.shape[0]
    bound = float(norm.ppf(1.0 - 0.5 * a)) / math.sqrt(K)
    frac = float(np.mean(np.abs(rho) <= bound))
    return ConsistencyResult(
        "whiteness", rho, -bound, bound, frac, WHITENESS_LAG_FRACTION, frac >= WHITENESS_LAG_FRACTION, 0, a
    )
