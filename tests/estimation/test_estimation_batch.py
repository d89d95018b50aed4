"""Whole-run UKF (one compiled call over a recorded table) against the per-call UKF, sample by
sample: same Qd, same multi-rate pattern, same gating decisions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.core.simulation import simulate
from phystwin.estimation import GaussianState, UnscentedKalmanFilter
from phystwin.estimation.batch import filter_run
from phystwin.estimation.run_kernels import ACCEPTED, BAD_SAMPLE, GATED

OUTS = ("current", "speed", "housing_temperature")
X0 = np.array([0.0, 0.0, 0.0, 298.15, 298.15, 298.15])


@pytest.fixture(scope="module")
def motor_table(motor_model: Model) -> dict[str, np.ndarray]:
    """A 0.4 s multi-rate table: current and speed every 1 ms, housing temperature every 50 ms,
    one 20-sigma outlier in speed and one NaN in current."""
    rng = np.random.default_rng(7)
    K = 400
    t = 1e-3 * np.arange(1, K + 1)
    volts = np.where(t >= 0.2 - 1e-9, 12.0, 24.0)  # held from the sample at 0.2 s on, as in the truth
    U = np.column_stack([volts, np.full(K, 0.1), np.full(K, 298.15)])
    truth = simulate(
        motor_model,
        (0.0, t[-1]),
        inputs={"voltage": ([0.0, 0.2], [24.0, 12.0]), "load_torque": 0.1},
        x0=X0,
        solver=RK4(1e-4),
        save=t,
    )
    Z = np.column_stack([truth[name] for name in OUTS]) + rng.normal(0.0, [0.05, 0.5, 0.5], size=(K, 3))
    Z[np.arange(K) % 50 != 49, 2] = np.nan
    Z[150, 1] += 20 * 0.5
    Z[222, 0] = np.inf
    return {"t": t, "U": U, "Z": Z}


def test_whole_run_equals_per_call_ukf(motor_model: Model, motor_table: dict[str, np.ndarray]) -> None:
    n = motor_model.layout.nx
    Qd = np.diag([1e-4, 1e-8, 1e-2, 1e-6, 1e-8, 1e-8])
    R = np.diag([0.05**2, 0.5**2, 0.5**2])
    ukf = UnscentedKalmanFilter(motor_model, OUTS, R, Qd=Qd, dt=1e-3, solver_dt=1e-3)
    init = GaussianState(0.0, X0, np.diag([1.0, 1e-4, 1.0, 4.0, 4.0, 4.0]))
    t, U, Z = motor_table["t"], motor_table["U"], motor_table["Z"]
    res = filter_run(ukf, init, t, Z, U, gate_probability=0.9999)

    subs = [
        UnscentedKalmanFilter(motor_model, OUTS[g : g + 1], R[g : g + 1, g : g + 1], Qd=Qd, dt=1e-3) for g in range(3)
    ]
    state, u_prev = init, U[0]
    gate = chi2.ppf(0.9999, 1)
    for k in range(t.shape[0]):
        state = ukf.predict(state, t[k], u_prev)
        for g in range(3):
            z = Z[k, g]
            if np.isnan(z):
                continue
            post, info = subs[g].update(state, [z], u=U[k])
            if not info.accepted:
                assert res.flags[k, g] == BAD_SAMPLE
                continue
            if info.nis > gate:
                assert res.flags[k, g] == GATED
                continue
            assert res.flags[k, g] == ACCEPTED
            state = post
        np.testing.assert_allclose(res.x[k], state.x, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(res.sd[k], np.sqrt(np.diag(state.P)), rtol=1e-9, atol=1e-12)
        u_prev = U[k]
    np.testing.assert_allclose(res.final.P, state.P, rtol=1e-9, atol=1e-14)
    assert res.counts["speed"]["gated"] == 1
    assert res.counts["current"]["bad_sample"] == 1
    assert res.counts["housing_temperature"]["accepted"] == 8
    assert res.x.shape == (t.shape[0], n)


def test_whole_run_refuses_bad_tables(motor_model: Model) -> None:
    R = np.diag([0.05**2, 0.5**2, 0.5**2])
    ukf = UnscentedKalmanFilter(motor_model, OUTS, R, Qd=np.eye(6) * 1e-6, dt=1e-3)
    init = GaussianState(0.0, np.array([0.0, 0.0, 0.0, 298.15, 298.15, 298.15]), np.eye(6))
    with pytest.raises(ValueError, match=r"Z must have shape \(3, 3\)"):
        filter_run(ukf, init, [1e-3, 2e-3, 3e-3], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="non-decreasing"):
        filter_run(ukf, init, [2e-3, 1e-3, 3e-3], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sensor 'enc' measures"):
        filter_run(ukf, init, [1e-3], np.zeros((1, 3)), sensors={"enc": ["speed"], "rest": ["current"]})
    with pytest.raises(ValueError, match="inputs"):
        filter_run(ukf, init, [1e-3], np.zeros((1, 3)), U=np.zeros((1, 2)))


def test_stream_table_equals_measurement_table(motor_model: Model) -> None:
    from phystwin.estimation.batch import measurement_table, stream_table
    from phystwin.estimation.measurements import SensorSpec, generate, generate_streams

    traj = simulate(motor_model, (0.0, 0.5), inputs={"voltage": 24.0}, solver=RK4(1e-4), save=1e-3)
    specs = [
        SensorSpec("current", "current", "A", 1000.0, noise_std=0.05, dropout_prob=0.1),
        SensorSpec("speed", "speed", "rad/s", 250.0, noise_std=0.2, valid_range=(-1.0, 200.0)),
    ]
    meas, _ = generate(traj, specs, seed=3)
    _, streams = generate_streams(traj, specs, seed=3)
    t1, Z1, d1 = measurement_table(meas, ["current", "speed"])
    t2, Z2, d2 = stream_table(streams, ["current", "speed"])
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(Z1, Z2)
    assert d1 == d2 and d2["speed"] > 0  # out-of-range speed samples flagged and left out
    assert np.isfinite(Z2[:, 0]).sum() == np.count_nonzero(~streams["current"].dropped)
