"""FusionEngine on the linear constant-velocity model: asynchronous multi-rate updates of row subsets,
redundant sensors, chi-square gating, invalid data, duplicates, out-of-sequence replay, staleness."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, chi2

from conftest import CV_A, CV_B
from phystwin.core.model import Model
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
    rng = np.random.default_rng(seed)
    kf = make_kf()
    times = sorted({(k + 1) * dt_pos for k in range(n_pos)} | {(k + 0.5) * dt_pos for k in range(0, n_pos, vel_every)})
    x = np.array([0.0, 1.0]) + rng.standard_normal(2)
    t = 0.0
    out: list[Measurement] = []
    seq = {"gps": 0, "odo": 0}
    for tk in times:
        Phi, _, Qd = kf.matrices(tk - t)
        x = Phi @ x + np.linalg.cholesky(Qd + 1e-300 * np.eye(2)) @ rng.standard_normal(2)
        t = tk
        k = round(tk / dt_pos * 2)
        name, row, r = ("gps", 0, R_POS) if k % 2 == 0 else ("odo", 1, R_VEL)
        seq[name] += 1
        out.append(Measurement(tk, name, [x[row] + np.sqrt(r) * rng.standard_normal()], seq=seq[name]))
    return out


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
