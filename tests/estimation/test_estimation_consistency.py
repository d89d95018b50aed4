"""Consistency metrics (NEES, NIS, whiteness) on the constant-velocity KF, with Q/100 negative controls."""

from __future__ import annotations

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B, CV_H
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2

from phystwin.estimation.consistency import (
    autocorrelation,
    chi2_bounds,
    nees,
    nees_monte_carlo,
    nis,
    nis_time_average,
    whiteness,
)
from phystwin.estimation.discretize import discretize
from phystwin.estimation.filters import KalmanFilter
from phystwin.estimation.smoother import ForwardPass, record_forward
from phystwin.estimation.types import GaussianState

DT = 0.1
Q_ACC = 0.5  # white-acceleration spectral density [m^2/s^3]
R_POS = 0.25  # [m^2]
X0 = np.array([0.0, 1.0])
P0 = np.eye(2)


def _cv_filter(q: float = Q_ACC) -> KalmanFilter:
    d = discretize(CV_A, CV_B, np.diag([0.0, q]), DT)
    return KalmanFilter(d.Phi, CV_H, d.Qd, [R_POS], Gamma=d.Gamma, dt=DT, measurement_names=["pos [m]"])


def _truth(rng: np.random.Generator, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth drawn from exactly the model the correct filter assumes (x0 ~ N(X0, P0))."""
    d = discretize(CV_A, CV_B, np.diag([0.0, Q_ACC]), DT)
    Lq = np.linalg.cholesky(d.Qd)
    x = X0 + np.linalg.cholesky(P0) @ rng.normal(size=2)
    U = rng.normal(size=(steps, 1)) * 0.3
    X, Z = np.empty((steps, 2)), np.empty(steps)
    for k in range(steps):
        x = d.Phi @ x + d.Gamma @ U[k] + Lq @ rng.normal(size=2)
        X[k] = x
        Z[k] = x[0] + np.sqrt(R_POS) * rng.normal()
    return X, Z, U


def _run(kf: KalmanFilter, Z: np.ndarray, U: np.ndarray) -> ForwardPass:
    times = DT * np.arange(1, Z.shape[0] + 1)
    return record_forward(kf, GaussianState(0.0, X0, P0), times, Z, U)


@pytest.fixture(scope="module")
def long_run() -> tuple[ForwardPass, ForwardPass]:
    """One seeded 2000-step run filtered by the correct filter and by the Q/100 negative control."""
    _X, Z, U = _truth(np.random.default_rng(2026), 2000)
    return _run(_cv_filter(), Z, U), _run(_cv_filter(Q_ACC / 100), Z, U)


@pytest.fixture(scope="module")
def monte_carlo() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """50 seeded runs of 100 steps: errors and covariances for the correct and the Q/100 filter."""
    out: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {"ok": ([], []), "q100": ([], [])}
    filters = {"ok": _cv_filter(), "q100": _cv_filter(Q_ACC / 100)}
    rng = np.random.default_rng(99)
    for _ in range(50):
        X, Z, U = _truth(rng, 100)
        for key, kf in filters.items():
            fp = _run(kf, Z, U)
            out[key][0].append(X - fp.x_filt)
            out[key][1].append(np.array(fp.P_filt))
    return {k: (np.stack(e), np.stack(P)) for k, (e, P) in out.items()}


# ----------------------------------------------------------------------------- primitives
def test_nees_nis_match_state_and_filter(long_run: tuple[ForwardPass, ForwardPass]) -> None:
    fp, _ = long_run
    rng = np.random.default_rng(3)
    e = rng.normal(size=(30, 2))
    ref = [GaussianState(0.0, np.zeros(2), fp.P_filt[k]).nees(e[k]) for k in range(30)]
    np.testing.assert_allclose(nees(e, fp.P_filt[:30]), ref, rtol=1e-12)
    y, S = fp.innovations[:, 0], fp.S[:, 0, 0]
    np.testing.assert_allclose(nis(fp.innovations, fp.S), y * y / S, rtol=1e-12)
    np.testing.assert_allclose(nis(y, fp.S), y * y / S, rtol=1e-12)  # scalar innovations, (K,) vector
    with pytest.raises(ValueError, match="shape"):
        nees(e, fp.P_filt[:29])
    with pytest.raises(ValueError, match="non-finite"):
        nis(np.full((2, 1), np.nan), np.ones((2, 1, 1)))
    with pytest.raises(np.linalg.LinAlgError):
        nees(np.ones((1, 2)), -np.eye(2)[None])


def test_chi2_bounds_known_values() -> None:
    lo, hi = chi2_bounds(2, 0.05)
    assert (lo, hi) == pytest.approx((chi2.ppf(0.025, 2), chi2.ppf(0.975, 2)))
    lo, hi = chi2_bounds(2, 0.05, runs=50)
    assert (lo, hi) == pytest.approx((chi2.ppf(0.025, 100) / 50, chi2.ppf(0.975, 100) / 50))
    assert lo == pytest.approx(74.222 / 50, abs=1e-4) and hi == pytest.approx(129.561 / 50, abs=1e-4)  # printed tables
    for bad in ({"dof": 0}, {"dof": 1, "runs": 0}, {"dof": 1, "alpha": 0.0}, {"dof": 1, "alpha": 1.0}):
        with pytest.raises(ValueError):
            chi2_bounds(**bad)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    dof=st.integers(1, 12),
    runs=st.integers(1, 5000),
    alpha=st.floats(0.001, 0.5),
)
def test_chi2_bounds_bracket_the_mean(dof: int, runs: int, alpha: float) -> None:
    lo, hi = chi2_bounds(dof, alpha, runs)
    assert 0.0 <= lo < dof < hi
    assert lo == pytest.approx(chi2.ppf(alpha / 2, dof * runs) / runs, rel=1e-12)
    if alpha <= 0.1:  # at the levels used, more runs give a band nested inside (not so for alpha near 0.5)
        lo2, hi2 = chi2_bounds(dof, alpha, 4 * runs)
        assert lo <= lo2 < dof < hi2 <= hi


def test_autocorrelation_white_and_correlated() -> None:
    rng = np.random.default_rng(11)
    w = rng.normal(size=4000)
    rho = autocorrelation(w, 10)
    assert rho.shape == (1, 10)
    assert np.all(np.abs(rho) < 4.0 / np.sqrt(4000))
    ar = np.empty_like(w)  # AR(1), phi = 0.8: rho(l) ~ 0.8**l
    ar[0] = w[0]
    for k in range(1, w.size):
        ar[k] = 0.8 * ar[k - 1] + w[k]
    np.testing.assert_allclose(autocorrelation(ar, 3)[0], 0.8 ** np.arange(1, 4), atol=0.05)
    with pytest.raises(ValueError, match="lags"):
        autocorrelation(w[:5], 5)


# ----------------------------------------------------------------------------- QUALITY.md tests
def test_nis_time_average_single_long_run(long_run: tuple[ForwardPass, ForwardPass]) -> None:
    ok, bad = long_run
    assert ok.accepted.all()
    res = nis_time_average(ok.innovations, ok.S)
    assert res.passed, str(res)
    assert res.lower < 1.0 < res.upper and res.dof == 2000
    neg = nis_time_average(bad.innovations, bad.S)
    assert not neg.passed, str(neg)
    assert neg.statistic[0] > 2 * neg.upper  # clearly, not marginally
    y, S = np.array(ok.innovations), np.array(ok.S)
    y[::10] = np.nan  # rejected updates are recorded as NaN and left out of the average
    gappy = nis_time_average(y, S)
    assert gappy.dof == 1800 and gappy.statistic[0] == pytest.approx(
        float(nis(y[~np.isnan(y[:, 0])], S[~np.isnan(y[:, 0])]).mean())
    )
    with pytest.raises(ValueError, match="non-finite"):
        whiteness(y, lags=20, S=S)


def test_whiteness_passes_and_has_power(long_run: tuple[ForwardPass, ForwardPass]) -> None:
    ok, bad = long_run
    res = whiteness(ok.innovations, lags=20, S=ok.S)
    assert res.passed, str(res)
    assert res.upper == pytest.approx(1.96 / np.sqrt(2000), rel=1e-3)
    neg = whiteness(bad.innovations, lags=20, S=bad.S)
    assert not neg.passed, str(neg)
    assert neg.fraction_inside < 0.5, str(neg)


def test_nees_monte_carlo_passes_and_has_power(monte_carlo: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    res = nees_monte_carlo(*monte_carlo["ok"])
    assert res.passed, str(res)
    assert res.statistic.shape == (100,) and res.dof == 100  # chi2 with N * n = 50 * 2 dof
    neg = nees_monte_carlo(*monte_carlo["q100"])
    assert not neg.passed, str(neg)
    assert neg.fraction_inside < 0.5, str(neg)
