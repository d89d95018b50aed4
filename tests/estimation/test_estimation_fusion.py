"""FusionEngine on the linear constant-velocity model: asynchronous multi-rate updates of row subsets,
redundant sensors, chi-square gating, invalid data, duplicates, out-of-sequence replay, staleness,
clock jumps; and on the dc_motor twin with a UKF: piecewise-constant inputs, also replayed."""

from __future__ import annotations

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B
from scipy.stats import binom, chi2

from phystwin.core import solvers
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.estimation import GaussianState, KalmanFilter, Measurement, UnscentedKalmanFilter
from phystwin.estimation.fusion import FusedSensor, FusionEngine, FusionReason, SyncStatus

QC = np.array([[0.0, 0.0], [0.0, 0.05]])
R_POS = 0.04
R_VEL = 0.01


def make_kf() -> KalmanFilter:
    return KalmanFilter.from_continuous(CV_A, CV_B, np.eye(2), QC, [R_POS, R_VEL], measurement_names=("pos", "vel"))


def x0() -> GaussianState:
    return GaussianState(0.0, [0.0, 1.0], np.diag([1.0, 1.0]))


def sensors(**extra: FusedSensor) -> dict[str, FusedSensor]:
    base = {"gps": FusedSensor(["pos"], [R_POS]), "odo": FusedSensor([1], [R_VEL])}
    base.update(extra)
    return base


def simulate(seed: int, n_pos: int, dt_pos: float = 0.01, vel_every: int = 3) -> list[Measurement]:
    """Truth from the exact discrete model; gps every dt_pos, odo every vel_every-th at an offset."""
    return simulate_with_truth(seed, n_pos, dt_pos, vel_every)[0]


def simulate_with_truth(
    seed: int, n_pos: int, dt_pos: float = 0.01, vel_every: int = 3
) -> tuple[list[Measurement], list[np.ndarray]]:
    """:func:`simulate`, also returning the true state at each measurement."""
    rng = np.random.default_rng(seed)
    kf = make_kf()
    times = sorted({(k + 1) * dt_pos for k in range(n_pos)} | {(k + 0.5) * dt_pos for k in range(0, n_pos, vel_every)})
    x = np.array([0.0, 1.0]) + rng.standard_normal(2)
    t = 0.0
    out: list[Measurement] = []
    truth: list[np.ndarray] = []
    seq = {"gps": 0, "odo": 0}
    for tk in times:
        Phi, _, Qd = kf.matrices(tk - t)
        x = Phi @ x + np.linalg.cholesky(Qd + 1e-300 * np.eye(2)) @ rng.standard_normal(2)
        t = tk
        k = round(tk / dt_pos * 2)
        name, row, r = ("gps", 0, R_POS) if k % 2 == 0 else ("odo", 1, R_VEL)
        seq[name] += 1
        out.append(Measurement(tk, name, [x[row] + np.sqrt(r) * rng.standard_normal()], seq=seq[name]))
        truth.append(x.copy())
    return out, truth


def test_async_multirate_updates_only_own_rows() -> None:
    ms = simulate(1, 60)
    eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.5, gate_probability=1.0)
    kf = make_kf()
    rows = {"gps": KalmanFilter.from_continuous(CV_A, CV_B, [[1.0, 0.0]], QC, [R_POS])}
    rows["odo"] = KalmanFilter.from_continuous(CV_A, CV_B, [[0.0, 1.0]], QC, [R_VEL])
    ref = x0()
    for m in ms:
        out = eng.push(m)
        assert out.accepted and out.replayed == 0
        ref, info = rows[m.sensor].update(kf.predict(ref, m.t), m.value)
        assert info.accepted
        assert eng.state.t == m.t
        np.testing.assert_allclose(eng.state.x, ref.x, rtol=0, atol=1e-12)
        np.testing.assert_allclose(eng.state.P, ref.P, rtol=0, atol=1e-12)
    assert eng.counters("gps").accepted + eng.counters("odo").accepted == len(ms)


def test_redundant_sensors_both_update_equal_stacked_update() -> None:
    ra, rb = 0.04, 0.09
    eng = FusionEngine(
        make_kf(), {"a": FusedSensor(["pos"], [ra]), "b": FusedSensor(["pos"], [rb])}, x0(), 1.0, gate_probability=1.0
    )
    only_a = FusionEngine(make_kf(), {"a": FusedSensor(["pos"], [ra])}, x0(), 1.0, gate_probability=1.0)
    za, zb = 0.12, 0.05
    assert eng.push(Measurement(0.1, "a", [za], seq=1)).accepted
    assert eng.push(Measurement(0.1, "b", [zb], seq=1)).accepted
    only_a.push(Measurement(0.1, "a", [za], seq=1))
    stacked = KalmanFilter.from_continuous(CV_A, CV_B, [[1.0, 0.0], [1.0, 0.0]], QC, [ra, rb])
    ref, _ = stacked.update(make_kf().predict(x0(), 0.1), [za, zb])
    np.testing.assert_allclose(eng.state.x, ref.x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(eng.state.P, ref.P, rtol=0, atol=1e-9)
    assert eng.state.P[0, 0] < only_a.state.P[0, 0]


def test_invalid_measurements_rejected_counted_state_untouched() -> None:
    eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.5)
    eng.push(Measurement(0.1, "gps", [0.1], seq=1))
    before = eng.state
    bad = [
        Measurement(0.2, "gps", [np.nan], seq=2),
        Measurement(0.2, "gps", [np.inf], seq=3),
        Measurement(0.2, "gps", [0.1, 0.2], seq=4),
        Measurement(0.2, "odo", [-np.inf], seq=1),
    ]
    for m in bad:
        out = eng.push(m)
        assert out.reason is FusionReason.INVALID and not out.accepted
        assert eng.state is before
    assert eng.counters("gps").invalid == 3 and eng.counters("odo").invalid == 1
    assert eng.push(Measurement(0.2, "lidar", [0.0])).reason is FusionReason.UNKNOWN_SENSOR
    assert eng.push(Measurement(0.2, "gps", [0.1], seq=9, quality=2)).reason is FusionReason.BAD_QUALITY
    assert eng.state is before
    assert eng.counters("gps").bad_quality == 1


def test_duplicate_seq_applied_once() -> None:
    eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.5)
    once = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.5)
    m = Measurement(0.1, "gps", [0.1], seq=7)
    once.push(m)
    assert eng.push(m).accepted
    assert eng.push(m).reason is FusionReason.DUPLICATE
    assert eng.push(Measurement(0.15, "gps", [0.2], seq=7)).reason is FusionReason.DUPLICATE
    assert eng.push(Measurement(0.1, "odo", [1.0], seq=7)).accepted  # same seq, other sensor: distinct
    once.push(Measurement(0.1, "odo", [1.0], seq=7))
    np.testing.assert_array_equal(eng.state.x, once.state.x)
    np.testing.assert_array_equal(eng.state.P, once.state.P)
    assert eng.counters("gps").duplicate == 2 and eng.counters("gps").accepted == 1


def test_out_of_sequence_within_window_equals_in_order_and_too_old_dropped() -> None:
    ms = simulate(2, 400)
    # a few 10-sigma outliers so gate decisions are re-made during replays
    ms = [Measurement(m.t, m.sensor, m.value + 5.0, m.seq) if i % 97 == 50 else m for i, m in enumerate(ms)]
    rng = np.random.default_rng(3)
    shuffled: list[Measurement] = []
    for k in range(0, len(ms), 12):  # blocks spanning < 0.1 s, window 0.3 s
        block = ms[k : k + 12]
        shuffled += [block[i] for i in rng.permutation(len(block))]
    assert [m.t for m in shuffled] != [m.t for m in ms]
    sorted_eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.3)
    shuf_eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.3)
    for m in ms:
        sorted_eng.push(m)
    outs = [shuf_eng.push(m) for m in shuffled]
    assert sum(o.replayed > 0 for o in outs) > 50
    np.testing.assert_allclose(shuf_eng.state.x, sorted_eng.state.x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(shuf_eng.state.P, sorted_eng.state.P, rtol=0, atol=1e-9)
    assert shuf_eng.state.t == sorted_eng.state.t
    for name in ("gps", "odo"):
        a, b = sorted_eng.counters(name), shuf_eng.counters(name)
        assert (a.accepted, a.gated) == (b.accepted, b.gated)
        assert b.out_of_sequence > 0
    assert sorted_eng.counters("gps").gated >= 3
    # older than the window: dropped, counted, state untouched
    before = shuf_eng.state
    out = shuf_eng.push(Measurement(before.t - 0.31, "gps", [0.0], seq=10_000))
    assert out.reason is FusionReason.TOO_OLD and shuf_eng.state is before
    assert shuf_eng.counters("gps").too_old == 1


def test_outliers_all_rejected_false_rejections_near_alpha() -> None:
    p_gate = 0.999
    kf = make_kf()
    eng = FusionEngine(kf, {"gps": FusedSensor(["pos"], [R_POS])}, x0(), lag_window=0.1, gate_probability=p_gate)
    rng = np.random.default_rng(11)
    dt, n = 0.01, 20_000
    Phi, _, Qd = kf.matrices(dt)
    Lq = np.linalg.cholesky(Qd)
    x = np.array([0.0, 1.0]) + rng.standard_normal(2)
    n_out = 0
    for k in range(1, n + 1):
        x = Phi @ x + Lq @ rng.standard_normal(2)
        t = k * dt
        z = x[0] + np.sqrt(R_POS) * rng.standard_normal()
        if k % 100 == 0:
            before = eng.state
            S = kf.predict(before, t).P[0, 0] + R_POS
            out = eng.push(Measurement(t, "gps", [z + rng.choice([-1.0, 1.0]) * 10.0 * np.sqrt(S)], seq=k))
            assert out.reason is FusionReason.GATED and out.nis > chi2.ppf(p_gate, 1)
            assert eng.state is before
            n_out += 1
        else:
            eng.push(Measurement(t, "gps", [z], seq=k))
    c = eng.counters("gps")
    n_good = n - n_out
    false_rej = c.gated - n_out
    lo, hi = binom.ppf([0.0005, 0.9995], n_good, 1.0 - p_gate)
    assert lo <= false_rej <= hi, (false_rej, lo, hi)
    assert c.accepted == n_good - false_rej


def test_stale_sensor_degraded_then_lost_then_recovers() -> None:
    specs = {"gps": FusedSensor(["pos"], [R_POS], stale_after=0.2), "odo": FusedSensor(["vel"], [R_VEL])}
    eng = FusionEngine(make_kf(), specs, x0(), lag_window=0.5, stale_after=0.5)
    seq = 0
    for k in range(1, 101):
        t = 0.01 * k
        seq += 1
        eng.push(Measurement(t, "gps", [t], seq=seq))
        if k % 5 == 0:
            eng.push(Measurement(t, "odo", [1.0], seq=seq))
    h = eng.health()
    assert h.status is SyncStatus.IN_SYNC and not any(h.stale.values())
    for k in range(101, 201):  # odo silent for 1 s
        t = 0.01 * k
        seq += 1
        eng.push(Measurement(t, "gps", [t], seq=seq))
    h = eng.health()
    assert h.status is SyncStatus.DEGRADED and h.stale == {"gps": False, "odo": True}
    traces = [float(np.trace(eng.state.P))]
    for k in range(1, 11):  # everything silent: predict-only
        eng.advance(2.0 + 0.1 * k)
        traces.append(float(np.trace(eng.state.P)))
    assert np.all(np.diff(traces) > 0)
    assert eng.health().status is SyncStatus.LOST
    assert eng.health(2.1).status is SyncStatus.DEGRADED
    eng.push(Measurement(3.05, "gps", [3.05], seq=seq + 1))
    eng.push(Measurement(3.06, "odo", [1.0], seq=seq + 1))
    h = eng.health()
    assert h.status is SyncStatus.IN_SYNC, h
    assert float(np.trace(eng.state.P)) < traces[-1]


def test_never_started_sensor_is_stale_and_bad_config_refused() -> None:
    eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.5, stale_after=0.3)
    assert eng.health(0.1).status is SyncStatus.IN_SYNC
    assert eng.health(0.5).status is SyncStatus.LOST
    with pytest.raises(ValueError):
        FusionEngine(make_kf(), {"gps": FusedSensor([5], [1.0])}, x0(), 0.5)
    with pytest.raises(ValueError):
        FusionEngine(make_kf(), {"gps": FusedSensor(["pos"], [1.0, 2.0])}, x0(), 0.5)


def test_ukf_row_subsets_match_kf_engine(cv_model: Model) -> None:
    ukf = UnscentedKalmanFilter(cv_model, ("pos", "vel"), [R_POS, R_VEL], Qc=QC)
    ms = simulate(4, 30)
    ukf_eng = FusionEngine(ukf, {"gps": FusedSensor(["pos"], [R_POS]), "odo": FusedSensor([1], [R_VEL])}, x0(), 0.5)
    kf_eng = FusionEngine(make_kf(), sensors(), x0(), 0.5)
    for m in ms:
        assert ukf_eng.push(m).accepted
        kf_eng.push(m)
    np.testing.assert_allclose(ukf_eng.state.x, kf_eng.state.x, rtol=0, atol=1e-8)
    np.testing.assert_allclose(ukf_eng.state.P, kf_eng.state.P, rtol=0, atol=1e-8)


def test_filter_failure_does_not_escape_push() -> None:
    kf = make_kf()
    Phi, Gamma, Qd = kf.matrices(0.01)
    fixed = KalmanFilter(Phi, np.eye(2), Qd, [R_POS, R_VEL], Gamma=Gamma, dt=0.01, measurement_names=("pos", "vel"))
    eng = FusionEngine(fixed, sensors(), x0(), lag_window=0.5)
    assert eng.push(Measurement(0.01, "gps", [0.0], seq=1)).accepted
    before = eng.state
    out = eng.push(Measurement(0.035, "gps", [0.0], seq=2))  # step of 0.025 s: the filter refuses it
    assert out.reason is FusionReason.FILTER_ERROR and "0.025" in out.message
    assert eng.state is before and eng.counters("gps").filter_error == 1


# ----------------------------------------------------------------------------- clock jumps
def _shift(m: Measurement, dt: float) -> Measurement:
    return Measurement(m.t + dt, m.sensor, m.value, m.seq, m.quality)


def test_forward_clock_jump_glitch_dropped_state_untouched_others_keep_fusing() -> None:
    ms = simulate(5, 200)
    k_bad = next(i for i, m in enumerate(ms) if m.sensor == "gps" and m.t > 1.0)
    eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.3)
    ref = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.3)  # never sees the glitched sample
    for m in ms[:k_bad]:
        assert eng.push(m).accepted and ref.push(m).accepted
    before = eng.state
    trace0 = float(np.trace(before.P))
    out = eng.push(_shift(ms[k_bad], 3600.0))
    assert out.reason is FusionReason.CLOCK_JUMP and not out.accepted
    assert out.message.startswith("clock jump of +3600")
    assert eng.state is before  # x and P untouched, not even predicted
    assert eng.counters("gps").clock_jump == 1
    h = eng.health()
    assert h.clock_jumps == {"gps": 1, "odo": 0}
    assert h.last_jump["gps"] == pytest.approx(3600.0, abs=0.02) and np.isnan(h.last_jump["odo"])
    assert h.clock_offset == {"gps": 0.0, "odo": 0.0}
    for m in ms[k_bad + 1 :]:  # the old timebase resumes: the glitch was a one-off, both sensors fuse
        assert eng.push(m).accepted
        ref.push(m)
        assert eng.state.t < 3.0 and float(np.trace(eng.state.P)) < 10 * trace0
    np.testing.assert_array_equal(eng.state.x, ref.state.x)
    np.testing.assert_array_equal(eng.state.P, ref.state.P)
    assert eng.counters("gps").reanchored == 0 and eng.health().clock_offset["gps"] == 0.0


@pytest.mark.parametrize("jump", [3600.0, -1000.0])
def test_rebased_clock_dropped_then_reanchored_estimate_stays_consistent(jump: float) -> None:
    """From t = 1 s on the gps clock is off by ``jump`` (device reset / NTP step): the first
    samples on the new timebase are dropped and counted, the third re-anchors the stream, and the
    estimate afterwards is within 3 sigma of the truth; the filter is never predicted far ahead."""
    ms, truth = simulate_with_truth(6, 200)
    eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.3, reanchor_after=3)
    outs, gps = [], []
    max_trace = 0.0
    for m in ms:
        outs.append(eng.push(_shift(m, jump) if (m.sensor == "gps" and m.t > 1.0) else m))
        if m.sensor == "gps" and m.t > 1.0:
            gps.append(outs[-1])
        assert eng.state.t <= m.t + 0.05  # never predicted far ahead
        if m.t > 0.5:
            max_trace = max(max_trace, float(np.trace(eng.state.P)))
    assert [o.reason for o in gps[:3]] == [FusionReason.CLOCK_JUMP, FusionReason.CLOCK_JUMP, FusionReason.ACCEPTED]
    assert "re-anchored" in gps[2].message
    assert all(o.accepted for o in gps[3:]) and len(gps) > 90
    assert all(o.accepted for o in outs if o.sensor == "odo")
    c = eng.counters("gps")
    assert (c.clock_jump, c.reanchored, c.too_old) == (2, 1, 0)
    h = eng.health()
    assert h.clock_jumps["gps"] == 2 and h.last_jump["gps"] == pytest.approx(jump, abs=0.05)
    assert h.clock_offset["gps"] == pytest.approx(-jump, abs=0.05)
    assert h.status is SyncStatus.IN_SYNC
    assert max_trace < 1.0  # no blow-up
    e = truth[-1] - eng.state.x
    assert eng.state.t == pytest.approx(ms[-1].t, abs=0.02)
    assert np.all(np.abs(e) <= 3.0 * eng.state.std), (e, eng.state.std)


def test_clock_jump_settings_validated() -> None:
    with pytest.raises(ValueError, match="sensor 'gps': max_forward_jump"):
        FusionEngine(make_kf(), sensors(gps=FusedSensor(["pos"], [R_POS], max_forward_jump=0.0)), x0(), 0.5)
    with pytest.raises(ValueError, match="reanchor_after"):
        FusionEngine(make_kf(), sensors(), x0(), 0.5, reanchor_after=0)


# ----------------------------------------------------------------------------- inputs
MOTOR_OUT = {"cur": ("current", 0.05**2), "spd": ("speed", 0.5**2)}
MOTOR_QC = np.array([1e-2, 1e-8, 1.0, 1e-4, 1e-6, 1e-6])
VOLTAGE_STEPS = [(0.0, 12.0), (0.0137, 24.0), (0.0311, 6.0), (0.0475, 18.0)]


def volts(t: float) -> dict[str, float]:
    """The voltage step in effect at ``t`` (the last one at or before it)."""
    return {"voltage": [v for ts, v in VOLTAGE_STEPS if ts <= t][-1]}


@pytest.fixture(scope="module")
def motor_case(motor_model: Model) -> tuple[UnscentedKalmanFilter, GaussianState, list[Measurement]]:
    """UKF on the dc_motor twin, and current (every 2 ms) and speed (every 5 ms) samples of a
    truth driven by voltage steps between sample times."""
    m = motor_model
    ukf = UnscentedKalmanFilter(m, ("current", "speed"), [MOTOR_OUT["cur"][1], MOTOR_OUT["spd"][1]], Qc=MOTOR_QC)
    x_init = m.initial_state()
    init = GaussianState(0.0, x_init, np.diag([0.1, 1e-4, 4.0, 1.0, 1.0, 1.0]))
    rhs, jac = m.functions()[:2]
    opts, work, stats = RK4(1e-4).opts(), np.zeros(1), np.zeros(8)
    y = np.zeros(m.layout.ny)
    rng = np.random.default_rng(21)
    times = sorted({round(0.002 * k, 6) for k in range(1, 31)} | {round(0.005 * k + 0.001, 6) for k in range(12)})
    x, t = x_init.copy(), 0.0
    ms: list[Measurement] = []
    for tk in times:
        while t < tk:  # integrate to tk across the voltage steps
            nxt = min([tk] + [ts for ts, _ in VOLTAGE_STEPS if ts > t])
            u = m.input_vector(volts(t))
            assert solvers.rk4_advance(rhs, jac, t, x, u, ukf.p, nxt - t, opts, work, stats) == 0
            t = nxt
        m.kernels.out(tk, x, u, ukf.p, y)
        for name, (out, r) in MOTOR_OUT.items():
            if name == "cur" or round(tk * 1000) % 5 == 1:
                z = y[m.layout.output_index(out)] + np.sqrt(r) * rng.standard_normal()
                ms.append(Measurement(tk, name, [z], seq=len(ms)))
    return ukf, init, ms


def _motor_engine(ukf: UnscentedKalmanFilter, init: GaussianState) -> FusionEngine:
    specs = {name: FusedSensor([out], [r]) for name, (out, r) in MOTOR_OUT.items()}
    return FusionEngine(ukf, specs, init, lag_window=0.02, gate_probability=0.9999)


def test_inputs_held_piecewise_constant_split_at_input_times(
    motor_case: tuple[UnscentedKalmanFilter, GaussianState, list[Measurement]],
) -> None:
    ukf, init, ms = motor_case
    eng = _motor_engine(ukf, init)
    for ts, v in VOLTAGE_STEPS:
        assert eng.push_input(ts, {"voltage": v}) == 0
    rows = {n: UnscentedKalmanFilter(ukf.model, [out], [r], Qc=MOTOR_QC) for n, (out, r) in MOTOR_OUT.items()}
    ref = init
    for m in ms:
        assert eng.push(m).accepted
        for ts in [*(tt for tt, _ in VOLTAGE_STEPS), m.t]:  # manual split at the input times in (ref.t, m.t)
            if ref.t < ts <= m.t:
                ref = ukf.predict(ref, ts, volts(ref.t))
        ref, info = rows[m.sensor].update(ref, m.value, u=volts(m.t))
        assert info.accepted
        np.testing.assert_allclose(eng.state.x, ref.x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(eng.state.P, ref.P, rtol=1e-12, atol=1e-15)
    assert eng.counters("cur").accepted == sum(m.sensor == "cur" for m in ms)  # the voltage steps are tracked
    np.testing.assert_array_equal(eng.input_at(eng.state.t), ukf.input_vector({"voltage": 18.0}))
    assert eng.input_at(-1.0) is None


def test_inputs_and_measurements_out_of_sequence_replay_equals_in_order(
    motor_case: tuple[UnscentedKalmanFilter, GaussianState, list[Measurement]],
) -> None:
    ukf, init, ms = motor_case
    in_order = _motor_engine(ukf, init)
    for ts, v in VOLTAGE_STEPS:
        in_order.push_input(ts, {"voltage": v})
    for m in ms:
        in_order.push(m)
    # measurements shuffled in blocks of 5 (< 10 ms, window 20 ms); each voltage step arrives 8 ms late
    rng = np.random.default_rng(8)
    shuffled = [
        m for k in range(0, len(ms), 5) for m in (ms[k : k + 5][i] for i in rng.permutation(len(ms[k : k + 5])))
    ]
    late = list(VOLTAGE_STEPS[1:])
    eng = _motor_engine(ukf, init)
    eng.push_input(*VOLTAGE_STEPS[0][:1], {"voltage": VOLTAGE_STEPS[0][1]})
    replays = 0
    for m in shuffled:
        eng.push(m)
        while late and late[0][0] + 0.008 <= m.t:
            ts, v = late.pop(0)
            replays += eng.push_input(ts, {"voltage": v})
    for ts, v in late:
        replays += eng.push_input(ts, {"voltage": v})
    assert replays > 3 and eng.counters("cur").out_of_sequence > 3
    assert eng.state.t == in_order.state.t
    np.testing.assert_allclose(eng.state.x, in_order.state.x, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(eng.state.P, in_order.state.P, rtol=1e-9, atol=1e-12)
    for name in MOTOR_OUT:
        assert eng.counters(name).accepted == in_order.counters(name).accepted


def test_bad_inputs_refused_naming_the_inputs(
    motor_case: tuple[UnscentedKalmanFilter, GaussianState, list[Measurement]],
) -> None:
    ukf, init, ms = motor_case
    eng = _motor_engine(ukf, init)
    eng.push_input(0.0, {"voltage": 12.0})
    for m in ms[:20]:
        eng.push(m)
    before = eng.state
    with pytest.raises(ValueError, match=r"non-finite input value\(s\) for \['voltage'\]"):
        eng.push_input(eng.state.t, {"voltage": np.nan})
    with pytest.raises(ValueError, match=r"voltage.*load_torque.*ambient_temperature"):
        eng.push_input(eng.state.t, [12.0, 0.0])
    with pytest.raises(ValueError, match="older than the lag window"):
        eng.push_input(eng.state.t - 0.021, {"voltage": 6.0})
    with pytest.raises(ValueError, match="finite"):
        eng.push_input(np.inf, {"voltage": 6.0})
    assert eng.state is before and eng.input_at(1.0) is not None
    kf_eng = FusionEngine(make_kf(), sensors(), x0(), lag_window=0.5)
    with pytest.raises(ValueError, match=r"u\[0\]"):
        kf_eng.push_input(0.0, [np.inf])
    kf_eng.push_input(0.0, [2.0])  # accel input of the constant-velocity KF
    kf_eng.advance(1.0)
    np.testing.assert_allclose(kf_eng.state.x, [0.0 + 1.0 + 1.0, 1.0 + 2.0], rtol=1e-12)


def test_input_whose_replay_fails_is_not_kept() -> None:
    kf = make_kf()
    Phi, Gamma, Qd = kf.matrices(0.01)
    fixed = KalmanFilter(Phi, np.eye(2), Qd, [R_POS, R_VEL], Gamma=Gamma, dt=0.01, measurement_names=("pos", "vel"))
    eng = FusionEngine(fixed, sensors(), x0(), lag_window=0.5)
    eng.push_input(0.0, [0.0])
    for k in (1, 2):
        assert eng.push(Measurement(0.01 * k, "gps", [0.01 * k], seq=k)).accepted
    before = eng.state
    with pytest.raises(ValueError, match=r"steps of 0\.01 s, got a step of 0\.005 s"):
        eng.push_input(0.015, [1.0])  # would split the step 0.01 -> 0.02
    assert eng.state is before
    assert eng.input_at(0.016) is not None and float(eng.input_at(0.016)[0]) == 0.0  # type: ignore[index]
    assert eng.push_input(0.02, [1.0]) == 0  # at the state time: only later predictions change


def test_gate_reopens_after_stale_after_so_a_real_step_is_not_locked_out() -> None:
    """A position that really jumps by 100 sigma: the gate rejects it while the sensor is fresh, and
    applies it once the sensor's last accepted sample is older than its stale_after."""
    eng = FusionEngine(
        make_kf(), {"gps": FusedSensor(["pos"], [R_POS], stale_after=0.05)}, x0(), lag_window=0.0,
        gate_probability=0.999,
    )  # fmt: skip
    jump = 100.0 * np.sqrt(R_POS)
    reasons = [eng.push(Measurement(0.01 * k, "gps", [0.01 * k + jump], k)).reason for k in range(1, 12)]
    assert reasons[:5] == [FusionReason.GATED] * 5  # t <= 0.05 s after the start: the gate holds
    assert FusionReason.ACCEPTED in reasons[5:]
    assert abs(eng.state.x[0] - (0.11 + jump)) < 0.2 * jump
