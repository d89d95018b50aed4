"""The compiled Van Loan series and the fused UKF predict+update against their references."""

from __future__ import annotations

import numpy as np
import pytest

from phystwin.core.model import Model
from phystwin.estimation import (
    Filter,
    FusedSensor,
    FusionEngine,
    GaussianState,
    Measurement,
    UnscentedKalmanFilter,
    step_kernels,
)
from phystwin.estimation.discretize import van_loan
from phystwin.estimation.status import BAD_ARGUMENT, OK
from phystwin.estimation.step_kernels import function_address, van_loan_series


@pytest.mark.parametrize("dt", [0.0, 1e-6, 1e-3, 0.1, 10.0])
def test_van_loan_series_matches_expm_blocks(dt: float) -> None:
    rng = np.random.default_rng(3)
    n = 5
    A = rng.normal(size=(n, n)) - 4.0 * np.eye(n)  # stable, with a stiff mode below
    A[0, 0] = -600.0  # a stiff electrical mode: 10 s of it overflows e^{-A dt} without splitting
    G = rng.normal(size=(n, n))
    Qc = G @ G.T
    Phi, Qd = np.empty((n, n)), np.empty((n, n))
    assert van_loan_series(A, Qc, dt, Phi, Qd) == OK
    Phi_ref, Qd_ref = van_loan(A, Qc, dt)
    scale = max(float(np.abs(Qd_ref).max()), 1e-300)
    assert np.abs(Qd - Qd_ref).max() <= 1e-12 * scale + 1e-300
    assert np.abs(Phi - Phi_ref).max() <= 1e-10 * max(1.0, float(np.abs(Phi_ref).max()))
    assert np.array_equal(Qd, Qd.T)


def test_van_loan_series_refuses_bad_arguments() -> None:
    A, Q = np.eye(2), np.eye(2)
    out = np.empty((2, 2))
    assert van_loan_series(A, Q, -1.0, out, out.copy()) == BAD_ARGUMENT
    assert van_loan_series(A, Q, np.nan, out, out.copy()) == BAD_ARGUMENT
    assert van_loan_series(A, np.eye(3), 1.0, out, out.copy()) == BAD_ARGUMENT


def _motor_ukf(model: Model) -> tuple[UnscentedKalmanFilter, GaussianState, dict[str, float]]:
    lay = model.layout
    ukf = UnscentedKalmanFilter(model, ["current", "speed"], [0.05**2, 0.2**2], Qc=np.full(lay.nx, 1e-2))
    u = {s.name: (12.0 if s.name == "voltage" else 298.15 if "temperature" in s.name else 0.0) for s in lay.inputs}
    x0 = model.initial_state()
    return ukf, GaussianState(0.0, x0, np.diag(np.full(lay.nx, 0.1))), u


def test_predict_update_equals_predict_then_update(motor_model: Model) -> None:
    ukf, state, u = _motor_ukf(motor_model)
    uv = ukf.input_vector(u)
    for k, dt in enumerate([1e-3, 2.5e-3, 0.05, 0.0]):
        z = np.array([0.5 + 0.1 * k, 10.0 * k])
        prior = ukf.predict(state, state.t + dt, uv)
        ref, ref_info = ukf.update(prior, z, u=uv)
        got, info = ukf.predict_update(state, state.t + dt, z, u=uv)
        assert info.accepted and ref_info.accepted
        assert got.t == ref.t
        np.testing.assert_allclose(got.x, ref.x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.P, ref.P, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(info.innovation, ref_info.innovation, rtol=1e-12, atol=1e-12)
        assert info.nis == pytest.approx(ref_info.nis, rel=1e-10)
        state = got


def test_ukf_step_by_address_equals_ukf_step_with_function_values(motor_model: Model) -> None:
    """The kernel behind predict_update (model functions as addresses) is the first-class kernel."""
    ukf, state, u = _motor_ukf(motor_model)
    n, m = ukf.n, 2
    fns = motor_model.functions()[:3]
    uv = ukf.input_vector(u)
    outs = []
    for kernel, f in ((step_kernels.ukf_step, fns), (step_kernels.ukf_step_at, [function_address(g) for g in fns])):
        buffers = [np.empty((2 * n + 1, n)), np.empty(n), np.empty((n, n)), np.empty(n), np.empty((n, n)),
                   np.empty(m), np.empty((m, m)), np.empty(2), np.zeros(8)]  # fmt: skip
        st = kernel(
            *f, state.t, 2e-3, np.array(state.x), np.array(state.P), uv, ukf.p, ukf.Qc, np.empty((n, n)), 0,
            ukf.Wm, ukf.Wc, ukf.c, ukf._opts, ukf.idx, motor_model.layout.ny, ukf.R, np.array([0.5, 3.0]), uv,
            *buffers,
        )  # fmt: skip
        assert st == OK
        outs.append(buffers)
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)


def test_predict_update_rejects_bad_measurement_and_keeps_the_input_state(motor_model: Model) -> None:
    ukf, state, u = _motor_ukf(motor_model)
    got, info = ukf.predict_update(state, 1e-3, [np.nan, 1.0], u=u)
    assert got is state and not info.accepted and "current" in info.message
    with pytest.raises(ValueError, match="2 value"):
        ukf.predict_update(state, 1e-3, [1.0], u=u)
    with pytest.raises(ValueError, match="back to"):
        ukf.predict_update(state, -1.0, [1.0, 1.0], u=u)


def test_fusion_fast_path_equals_the_split_path(motor_model: Model) -> None:
    """The engine's fused step (no input change between samples) gives the result of the
    interface's default predict_update (predict, then update)."""
    ukf, state, u = _motor_ukf(motor_model)
    sensors = {"cs": FusedSensor(["current", "speed"], [0.05**2, 0.2**2])}
    fast = FusionEngine(ukf, sensors, state, lag_window=0.01, gate_probability=1.0)
    slow = FusionEngine(ukf, sensors, state, lag_window=0.01, gate_probability=1.0)
    for f in slow._sensors.values():  # the interface's default predict_update: predict, then update
        f.filter.predict_update = Filter.predict_update.__get__(f.filter)  # type: ignore[method-assign]
    rng = np.random.default_rng(1)
    for eng in (fast, slow):
        eng.push_input(0.0, u)
    for k in range(50):
        z = np.array([1.0, 5.0]) + rng.normal(size=2) * [0.05, 0.2]
        a = fast.push(Measurement((k + 1) * 1e-3, "cs", z, k))
        b = slow.push(Measurement((k + 1) * 1e-3, "cs", z, k))
        assert a.reason == b.reason
    np.testing.assert_allclose(fast.state.x, slow.state.x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.state.P, slow.state.P, rtol=1e-8, atol=1e-14)
