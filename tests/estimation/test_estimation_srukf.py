"""Square-root UKF: equal to the UKF on the dc_motor twin and to the exact KF on a linear model, a
200 000-step soak with a very precise sensor, factor algebra oracles, and bad-measurement handling."""

from __future__ import annotations

import time
from types import ModuleType

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B, CV_H

from phystwin._jit import njit
from phystwin.core import solvers
from phystwin.core.model import Layout, Model, Signal
from phystwin.estimation import kernels
from phystwin.estimation.discretize import discretize
from phystwin.estimation.filters import EstimationError, KalmanFilter, UnscentedKalmanFilter
from phystwin.estimation.srukf import SquareRootUnscentedKalmanFilter
from phystwin.estimation.srukf_kernels import cholupdate, qr_lower_factor
from phystwin.estimation.status import BAD_MEASUREMENT, OK, STATE_COV_NOT_PD
from phystwin.estimation.types import GaussianState, symmetry_error


def _scaled_diff(a: GaussianState, b: GaussianState) -> tuple[float, float]:
    """``max |dx_i| / max(|x_i|, std_i)`` and ``max |dP_ij| / sqrt(P_ii P_jj)`` (b is the reference)."""
    sd = np.sqrt(np.diag(b.P))
    ex = float(np.max(np.abs(a.x - b.x) / np.maximum(np.abs(b.x), sd)))
    eP = float(np.max(np.abs(a.P - b.P) / np.outer(sd, sd)))
    return ex, eP


def _assert_factor(S: np.ndarray) -> None:
    assert np.all(np.triu(S, 1) == 0.0) and np.all(np.diag(S) > 0.0)


# --------------------------------------------------------------------------- parity
def test_srukf_equals_ukf_on_dc_motor(motor_model: Model) -> None:
    m = motor_model
    dt, names = 1e-3, ["current", "speed"]
    R = np.diag([0.05**2, 0.5**2])
    Qd = np.diag([1e-4, 1e-8, 1e-2, 1e-6, 1e-7, 1e-8])
    kw = {"Qd": Qd, "dt": dt, "solver_dt": 5e-4}
    ukf = UnscentedKalmanFilter(m, names, R, **kw)  # type: ignore[arg-type]
    sr = SquareRootUnscentedKalmanFilter(m, names, R, **kw)  # type: ignore[arg-type]
    u = ukf.input_vector({"voltage": 24.0})
    x0 = m.initial_state()
    s_u = s_r = GaussianState(0.0, x0, np.diag([0.1**2, 1e-4, 1.0, 2.0**2, 1.0, 0.5**2]))
    truth = m.initial_state({"winding.T": x0[3] + 2.0})
    rhs, jac = m.functions()[:2]
    rng = np.random.default_rng(11)
    y = np.zeros(m.layout.ny)
    idx = [m.layout.output_index(n) for n in names]
    opts, work, stats = sr.solver.opts(), np.zeros(1), np.zeros(8)
    worst = 0.0
    for k in range(250):
        t1 = (k + 1) * dt
        assert solvers.rk4_advance(rhs, jac, k * dt, truth, u, ukf.p, dt, opts, work, stats) == 0
        m.kernels.out(t1, truth, u, ukf.p, y)
        z = y[idx] + rng.normal(size=2) * np.sqrt(np.diag(R))
        s_u, s_r = ukf.predict(s_u, t1, u), sr.predict(s_r, t1, u)
        worst = max(worst, *_scaled_diff(s_r, s_u))
        (s_u, iu), (s_r, ir) = ukf.update(s_u, z, u=u), sr.update(s_r, z, u=u)
        assert iu.accepted and ir.accepted
        worst = max(worst, *_scaled_diff(s_r, s_u))
        assert ir.nis == pytest.approx(iu.nis, rel=1e-8)
        np.testing.assert_allclose(ir.S, iu.S, rtol=1e-8)
        assert symmetry_error(s_r.P) == 0.0
    assert worst <= 1e-8, worst
    assert abs(s_r.x[2] - truth[2]) < 5 * np.sqrt(s_r.P[2, 2])


@pytest.mark.parametrize(("alpha", "kappa"), [(1.0, 0.0), (0.3, 1.0)])  # Wc_0 = 2 and Wc_0 < 0
def test_srukf_on_linear_model_equals_kf(cv_model: Model, alpha: float, kappa: float) -> None:
    dt, R = 0.1, 0.25
    d = discretize(CV_A, CV_B, np.diag([0.0, 0.5]), dt)  # Qd has rank 2 but is far from diagonal
    sr = SquareRootUnscentedKalmanFilter(cv_model, ["pos"], [R], Qd=d.Qd, dt=dt, alpha=alpha, kappa=kappa, solver_dt=dt)
    kf = KalmanFilter(d.Phi, CV_H, d.Qd, [R], Gamma=d.Gamma, dt=dt)
    assert (sr.Wc[0] < 0) == (alpha < 1.0)
    u = np.array([0.3])
    rng = np.random.default_rng(5)
    s_r = s_k = GaussianState(0.0, np.array([0.0, 1.0]), np.diag([4.0, 1.0]))
    for k in range(200):
        t1 = (k + 1) * dt
        s_r, s_k = sr.predict(s_r, t1, u), kf.predict(s_k, t1, u)
        assert max(_scaled_diff(s_r, s_k)) <= 1e-8
        z = np.array([0.5 * 0.3 * t1**2 + t1 + rng.normal(scale=0.5)])
        (s_r, ir), (s_k, ik) = sr.update(s_r, z, u=u), kf.update(s_k, z)
        assert max(_scaled_diff(s_r, s_k)) <= 1e-8
        assert ir.nis == pytest.approx(ik.nis, rel=1e-8)


def test_srukf_precise_sensor_uses_joseph_fallback(cv_model: Model) -> None:
    """Prior variance 1e8 m^2, sensor variance 1e-14 m^2: the covariance downdate cancels every
    digit; the Joseph-type sigma-point form still gives the KF's posterior."""
    R = 1e-14
    sr = SquareRootUnscentedKalmanFilter(cv_model, ["pos"], [R], Qd=np.zeros((2, 2)), dt=0.1)
    kf = KalmanFilter(np.eye(2), CV_H, np.zeros((2, 2)), [R])
    P = np.array([[1e8, 5e3], [5e3, 1.0]])
    diag = np.zeros(2)
    x, S, info = sr.update_sqrt(0.0, [0.0, 0.0], np.linalg.cholesky(P), [3.0], diagnostics=diag)
    s_k, _ = kf.update(GaussianState(0.0, np.zeros(2), P), [3.0])
    assert info.accepted and diag[1] == 1.0
    _assert_factor(S)
    np.testing.assert_allclose(x, s_k.x, rtol=1e-9)
    np.testing.assert_allclose(S @ S.T, s_k.P, rtol=1e-6)


# --------------------------------------------------------------------------- factor algebra
def test_qr_factor_and_rank_one_updates_oracle() -> None:
    rng = np.random.default_rng(2)
    for _ in range(25):
        A = rng.normal(size=(9, 4)) * 10.0 ** rng.uniform(-6, 3, size=4)
        L = np.empty((4, 4))
        assert qr_lower_factor(A.copy(), L) == OK
        _assert_factor(L)
        np.testing.assert_allclose(L @ L.T, A.T @ A, rtol=1e-12, atol=1e-12 * np.abs(A.T @ A).max())
        L = np.linalg.cholesky(A.T @ A / np.abs(A.T @ A).max() + np.eye(4))  # well conditioned for the round trip
        v = rng.normal(size=4) * 3.0
        L2 = L.copy()
        assert cholupdate(L2, v.copy(), 1.0) == OK
        np.testing.assert_allclose(L2 @ L2.T, L @ L.T + np.outer(v, v), atol=1e-11 * np.abs(L2 @ L2.T).max())
        assert cholupdate(L2, v.copy(), -1.0) == OK  # and back
        np.testing.assert_allclose(L2 @ L2.T, L @ L.T, atol=1e-9 * np.abs(L2 @ L2.T).max())
        L3 = L.copy()
        assert cholupdate(L3, 10.0 * v, -1.0) == STATE_COV_NOT_PD  # would be indefinite: refused


# --------------------------------------------------------------------------- soak
@njit(cache=False)
def _stiff_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = -1000.0 * x[0] + 1000.0 * x[2]  # fast sensor node following x2
    dx[1] = -1e-3 * x[1]  # slow, unmeasured, variance ~1e6
    dx[2] = -x[2] + u[0]
    return 0


@njit(cache=False)
def _stiff_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[:, :] = 0.0
    J[0, 0], J[0, 2], J[1, 1], J[2, 2] = -1000.0, 1000.0, -1e-3, -1.0
    return 0


@njit(cache=False)
def _stiff_out(t, x, u, p, y):  # type: ignore[no-untyped-def]
    y[0] = x[0]
    return 0


@njit(cache=False)
def _stiff_nop(t, x, u, p, g):  # type: ignore[no-untyped-def]
    return 0


@njit(cache=False)
def _stiff_act(t, x, u, p, k):  # type: ignore[no-untyped-def]
    return 0


STIFF_A = np.array([[-1000.0, 0.0, 1000.0], [0.0, -1e-3, 0.0], [0.0, 0.0, -1.0]])


def _stiff_model() -> Model:
    k = ModuleType("stiff_kernels")
    k.rhs, k.jac, k.out, k.ev, k.act = _stiff_rhs, _stiff_jac, _stiff_out, _stiff_nop, _stiff_act  # type: ignore[attr-defined]
    layout = Layout(
        states=(Signal("sensor", "K"), Signal("drift", "K"), Signal("core", "K")),
        parameters=(Signal("unused", "1", 0.0),),
        inputs=(Signal("heat", "K/s", 0.0),),
        outputs=(Signal("sensor", "K"),),
    )
    return Model(name="stiff3", layout=layout, kernels=k, structure_hash="stiff3-test")


@pytest.mark.slow
def test_srukf_soak_precise_sensor_wide_dynamic_range() -> None:
    """200 000 predict+update cycles: eigenvalues -1000, -1, -1e-3 [1/s] stepped at ~1 ms, sensor
    variance 1e-10 K^2 on unit-scale states, variances from ~1e-12 to ~1e6 K^2 (correlated noise
    between the 1e6 and the 1e-11 state). The SR-UKF must never fail, keep a valid factor and
    match the covariance recursion run in extended precision (for a linear model it does not
    depend on the data); the plain UKF runs on the same data and is only reported.

    The step is 2^-10 s so that ``(k + 1) dt - k dt`` is exact: RK4 then always takes one substep
    (a rounded difference can exceed the solver's 1e-12 tolerance and give two)."""
    steps, dt, R = 200_000, 2.0**-10, 1e-10
    q1, q2, rho = 2e3, 1e-10, 0.5
    Qc = np.array([[0.0, 0.0, 0.0], [0.0, q1, rho * np.sqrt(q1 * q2)], [0.0, rho * np.sqrt(q1 * q2), q2]])
    Qd = discretize(STIFF_A, None, Qc, dt).Qd
    model = _stiff_model()
    sr = SquareRootUnscentedKalmanFilter(model, ["sensor"], [R], Qd=Qd, dt=dt, solver_dt=dt)
    hA = dt * STIFF_A  # truth with the filter's own (RK4) transition and the exact Qd
    Phi = np.eye(3) + hA @ (np.eye(3) + hA @ (np.eye(3) / 2 + hA @ (np.eye(3) / 6 + hA / 24)))
    w, V = np.linalg.eigh(Qd)
    Bq = V * np.sqrt(np.clip(w, 0.0, None))
    rng = np.random.default_rng(2026)
    W = rng.normal(size=(steps, 3)) @ Bq.T
    V_meas = rng.normal(size=steps) * np.sqrt(R)
    x0, P0 = np.array([1.0, 0.0, 1.0]), np.diag([1e-2, 1e6, 1e-2])
    xt = np.array([1.0, 100.0, 1.0])
    Z = np.empty(steps)
    ld = np.longdouble
    PhiL, QdL, Pref = Phi.astype(ld), Qd.astype(ld), P0.astype(ld)
    for k in range(steps):
        xt = Phi @ xt + W[k]
        Z[k] = xt[0] + V_meas[k]
        Pref = PhiL @ Pref @ PhiL.T + QdL
        Pref = Pref - np.outer(Pref[:, 0], Pref[0, :]) / (Pref[0, 0] + ld(R))
    Pref = Pref.astype(np.float64)

    u, diag = np.zeros(1), np.zeros(2)
    x, S = x0.copy(), np.linalg.cholesky(P0)
    min_diag, max_asym, joseph, t0 = np.inf, 0.0, 0, time.perf_counter()
    for k in range(steps):
        t1 = (k + 1) * dt
        x, S = sr.predict_sqrt(k * dt, x, S, t1, u)
        x, S, info = sr.update_sqrt(t1, x, S, Z[k : k + 1], u=u, diagnostics=diag)
        assert info.accepted, (k, info.message)
        joseph += int(diag[1])
        min_diag = min(min_diag, float(S[0, 0]), float(S[1, 1]), float(S[2, 2]))
        if k % 1000 == 999:
            _assert_factor(S)
            P = S @ S.T
            max_asym = max(max_asym, symmetry_error(P))
    t_sr = time.perf_counter() - t0
    P = S @ S.T
    _assert_factor(S)
    assert min_diag > 0.0 and max_asym <= 1e-15
    assert 1e-13 < P[0, 0] < 1e-10 and 1e5 < P[1, 1] < 1e7  # the dynamic range really is 1e-12 .. 1e6
    sd = np.sqrt(np.diag(Pref))
    err_ref = float(np.max(np.abs(P - Pref) / np.outer(sd, sd)))
    assert err_ref < 1e-8, err_ref
    assert np.all(np.abs(x - xt) < 6 * sd)

    # the plain UKF (compiled kernels, as UnscentedKalmanFilter.predict/update call them): reported only
    ukf = UnscentedKalmanFilter(model, ["sensor"], [R], Qd=Qd, dt=dt, solver_dt=dt)
    rhs, jac, out = ukf._rhs, ukf._jac, ukf._out
    xu, Pu = x0.copy(), P0.copy()
    xb, Pb, X, st8 = np.empty(3), np.empty((3, 3)), np.empty((7, 3)), np.zeros(8)
    y1, S1, info1, Rm = np.empty(1), np.empty((1, 1)), np.empty(1), np.array([[R]])
    failure = None
    for k in range(steps):
        st = kernels.ukf_predict_rk4(rhs, jac, k * dt, dt, xu, Pu, u, ukf.p, Qd, ukf.Wm, ukf.Wc, ukf.c,
                                     ukf._opts, X, xb, Pb, st8)  # fmt: skip
        if st == OK:
            st = kernels.ukf_update(out, (k + 1) * dt, xb, Pb, u, ukf.p, ukf.idx, model.layout.ny, Rm, Z[k : k + 1],
                                    ukf.Wm, ukf.Wc, ukf.c, xu, Pu, y1, S1, info1)  # fmt: skip
        if st != OK:
            failure = (k, int(st))
            break
    ukf_ok = failure is None
    err_ukf = float(np.max(np.abs(Pu - Pref) / np.outer(sd, sd))) if ukf_ok else float("nan")
    print(
        f"\nSR-UKF soak: {steps} steps in {t_sr:.1f} s, min diag(S) = {min_diag:.3g}, max asymmetry of S S^T = "
        f"{max_asym:.3g}, joseph fallbacks = {joseph}, diag(P) = {np.diag(P)}, "
        f"max |P - P_ref| / (s_i s_j) = {err_ref:.3g}; plain UKF "
        + ("survived" if ukf_ok else f"FAILED at step {failure[0]} with status {failure[1]}")  # type: ignore[index]
        + f" (its error vs P_ref {err_ukf:.3g})"
    )


# --------------------------------------------------------------------------- bad inputs
def test_srukf_rejections_and_errors(motor_model: Model) -> None:
    m = motor_model
    sr = SquareRootUnscentedKalmanFilter(m, ["current", "speed"], [0.01, 0.1], Qc=np.full(6, 1e-6), solver_dt=1e-3)
    s = GaussianState(0.0, m.initial_state(), np.eye(6) * 0.01)
    p = sr.predict(s, 2.5e-3, {"voltage": 12.0})  # Qc: any step (Van Loan on the Jacobian)
    assert p.t == 2.5e-3 and p.is_positive_definite()
    out, info = sr.update(p, [np.inf, 1.0])
    assert out is p and not info.accepted and info.status == BAD_MEASUREMENT and "current [A]" in info.message
    assert np.all(np.isnan(info.innovation)) and np.isnan(info.nis)
    S = np.linalg.cholesky(p.P)
    xs, Ss, info = sr.update_sqrt(p.t, p.x, S, [1.0, np.nan])
    assert xs is p.x and Ss is S and info.status == BAD_MEASUREMENT and "speed [rad/s]" in info.message
    with pytest.raises(ValueError, match=r"2 value\(s\) \(current \[A\], speed \[rad/s\]\), got 3"):
        sr.update(p, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"2 value\(s\) \(current \[A\], speed \[rad/s\]\), got 1"):
        sr.update_sqrt(p.t, p.x, S, [1.0])
    bad = GaussianState(0.0, m.initial_state(), np.diag([1.0, 1.0, -1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(EstimationError, match="not positive definite"):
        sr.predict(bad, 1e-3, {"voltage": 12.0})
    with pytest.raises(EstimationError, match="not positive definite"):  # an upper-triangular "factor"
        sr.predict_sqrt(0.0, s.x, np.linalg.cholesky(s.P).T + np.triu(np.ones((6, 6)), 1), 1e-3, {"voltage": 12.0})
    with pytest.raises(ValueError, match="exactly one of Qc"):
        SquareRootUnscentedKalmanFilter(m, ["speed"], [1.0])
