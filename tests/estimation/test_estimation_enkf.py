"""Stochastic EnKF (perturbed observations): agreement with the exact KF on a linear model for a
large ensemble, determinism per seed, tracking on the dc_motor twin, and rejection of bad data."""

from __future__ import annotations

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B, CV_H

from phystwin.core import solvers
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.estimation.enkf import EnsembleKalmanFilter, EnsembleState, noise_factor
from phystwin.estimation.filters import KalmanFilter
from phystwin.estimation.status import BAD_MEASUREMENT
from phystwin.estimation.types import GaussianState, symmetry_error

CV_QC = np.diag([0.0, 0.05])  # noise on the velocity only: Qd is PD but far from isotropic
CV_R = np.array([[0.1**2]])


def _cv_run(
    enkf: EnsembleKalmanFilter, kf: KalmanFilter | None, steps: int = 20
) -> tuple[GaussianState, GaussianState | None]:
    """Same measurements (seeded truth of the CV model) through the EnKF and, if given, the KF."""
    rng = np.random.default_rng(100)
    truth = np.array([0.0, 1.0])
    u = np.array([0.2])
    dt = 0.1
    s0 = GaussianState(0.0, [0.0, 0.5], np.diag([1.0, 0.5]))
    se, sk = s0, s0
    for k in range(steps):
        t1 = (k + 1) * dt
        truth = np.array([truth[0] + truth[1] * dt + 0.5 * u[0] * dt * dt, truth[1] + u[0] * dt])
        z = [truth[0] + 0.1 * rng.standard_normal()]
        se = enkf.predict(se, t1, u)
        se, info = enkf.update(se, z, u=u)
        assert info.accepted
        if kf is not None:
            sk, _ = kf.update(kf.predict(sk, t1, u), z)
    return se, (sk if kf is not None else None)


def test_enkf_approaches_kf_on_linear_model(cv_model: Model) -> None:
    """N = 2000 members vs the exact KF after 20 predict/update cycles.

    Tolerance: the Monte-Carlo standard error of an ensemble mean is ``sqrt(P_ii / N)`` and that of a
    sample covariance entry ``sqrt((P_ii P_jj + P_ij^2) / (N - 1))`` (Gaussian ensemble). Sampling errors
    of earlier cycles are damped by ``(I - K H) Phi`` but not removed, so the final error is a few of
    these units; over 20 seeds the standardised errors had standard deviation 0.7-1.2 and a maximum
    of 3.7. We allow 5 units (about a 1e-4 chance of a false failure for an unlucky seed; the seed is
    fixed, so the test is deterministic) -- still ~30x tighter than the spread of the KF itself.
    """
    kf = KalmanFilter.from_continuous(CV_A, CV_B, CV_H, CV_QC, CV_R)
    N = 2000
    enkf = EnsembleKalmanFilter(cv_model, ["pos"], CV_R, Qc=CV_QC, n_members=N, seed=7, solver_dt=0.05)
    se, sk = _cv_run(enkf, kf)
    assert sk is not None
    d = np.diag(sk.P)
    se_mean = np.sqrt(d / N)
    se_cov = np.sqrt((np.outer(d, d) + sk.P**2) / (N - 1))
    assert np.all(np.abs(se.x - sk.x) < 5 * se_mean), (se.x - sk.x) / se_mean
    assert np.all(np.abs(se.P - sk.P) < 5 * se_cov), (se.P - sk.P) / se_cov
    assert np.max(np.abs(se.P - sk.P) / np.sqrt(np.outer(d, d))) < 0.15  # relative sanity, scale-free
    assert symmetry_error(se.P) == 0.0 and se.is_positive_definite()
    # the filter remembers the ensemble behind the state it returned
    ens = enkf.ensemble(se)
    assert isinstance(ens, EnsembleState) and ens.n_members == N and ens.t == se.t
    np.testing.assert_allclose(ens.mean, se.x, rtol=0, atol=1e-12)


def test_enkf_deterministic_per_seed(cv_model: Model) -> None:
    def run(seed: int) -> GaussianState:
        enkf = EnsembleKalmanFilter(cv_model, ["pos"], CV_R, Qc=CV_QC, n_members=50, seed=seed, solver_dt=0.05)
        return _cv_run(enkf, None, 5)[0]

    runs = [run(3), run(3), run(4)]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    np.testing.assert_array_equal(runs[0].P, runs[1].P)
    assert not np.array_equal(runs[0].x, runs[2].x)


def test_enkf_tracks_dc_motor(motor_model: Model) -> None:
    m = motor_model
    dt = 1e-3
    names = ["current", "speed"]
    idx = [m.layout.output_index(n) for n in names]
    R = np.diag([0.05**2, 0.5**2])
    Qd = np.diag([1e-4, 1e-8, 1e-2, 1e-6, 1e-7, 1e-8])
    enkf = EnsembleKalmanFilter(m, names, R, Qd=Qd, dt=dt, n_members=200, seed=1, solver_dt=5e-4)
    u = enkf.input_vector({"voltage": 24.0})
    x0 = m.initial_state()
    s = GaussianState(0.0, x0, np.diag([0.1**2, 1e-4, 1.0, 2.0**2, 1.0, 0.5**2]))
    truth = m.initial_state({"winding.T": x0[3] + 2.0})
    rhs, jac = m.functions()[:2]
    opts, work, stats = RK4(5e-4).opts(), np.zeros(1), np.zeros(8)
    rng = np.random.default_rng(11)
    y = np.zeros(m.layout.ny)
    err, speed = [], []
    for k in range(400):
        t1 = (k + 1) * dt
        assert solvers.rk4_advance(rhs, jac, k * dt, truth, u, enkf.p, dt, opts, work, stats) == 0
        m.kernels.out(t1, truth, u, enkf.p, y)
        z = y[idx] + rng.normal(size=2) * np.sqrt(np.diag(R))
        s = enkf.predict(s, t1, u)
        s, info = enkf.update(s, z, u=u)
        assert info.accepted and np.isfinite(info.nis)
        assert symmetry_error(s.P) == 0.0 and s.is_positive_definite()
        err.append(s.x[2] - truth[2])
        speed.append(truth[2])
    span = max(speed) - min(speed)
    rms = float(np.sqrt(np.mean(np.square(err[100:]))))
    assert span > 10.0  # the motor spins up: a meaningful range
    print(f"EnKF dc_motor: speed span {span:.2f} rad/s, RMS error {rms:.4f} rad/s")
    assert rms < 0.02 * span, (rms, span)
    assert rms < 0.5  # below the speed sensor's own noise (0.5 rad/s): the filter adds information
    assert abs(s.x[2] - truth[2]) < 5 * np.sqrt(s.P[2, 2])


def test_enkf_rejects_bad_measurements(cv_model: Model) -> None:
    enkf = EnsembleKalmanFilter(cv_model, ["pos"], CV_R, Qc=CV_QC, n_members=30, seed=0, solver_dt=0.05)
    s = enkf.predict(GaussianState(0.0, [0.0, 1.0], np.eye(2)), 0.1, [0.0])
    ens = enkf.ensemble(s)
    for bad in ([np.nan], [np.inf]):
        out, info = enkf.update(s, bad)
        assert out is s and not info.accepted and info.status == BAD_MEASUREMENT
        assert "pos [m]" in info.message
        assert enkf.ensemble(out) is ens  # ensemble untouched too
        e2, info2 = enkf.update_ensemble(ens, bad)
        assert e2 is ens and info2.status == BAD_MEASUREMENT
    with pytest.raises(ValueError, match=r"1 value\(s\) \(pos \[m\]\), got 2"):
        enkf.update(s, [1.0, 2.0])
    # a good measurement afterwards still uses the same ensemble
    s2, info = enkf.update(s, [0.1])
    assert info.accepted and s2.P[0, 0] < s.P[0, 0]


def test_enkf_arguments(cv_model: Model) -> None:
    with pytest.raises(ValueError, match="exactly one of Qc"):
        EnsembleKalmanFilter(cv_model, ["pos"], CV_R)
    with pytest.raises(ValueError, match="n_members"):
        EnsembleKalmanFilter(cv_model, ["pos"], CV_R, Qc=CV_QC, n_members=1)
    enkf = EnsembleKalmanFilter(cv_model, ["pos"], CV_R, Qd=np.eye(2) * 1e-3, dt=0.1, n_members=10)
    s = GaussianState(0.0, [0.0, 1.0], np.eye(2))
    with pytest.raises(ValueError, match=r"Qd was given for steps of 0\.1 s"):
        enkf.predict(s, 0.2, [0.0])
    assert enkf.predict(s, 0.0, [0.0]) is s
    L = noise_factor(CV_QC)  # semi-definite: eigen factor
    np.testing.assert_allclose(L @ L.T, CV_QC, atol=1e-15)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        noise_factor(np.diag([1.0, -1.0]))
