"""Seeded measurement generator: statistics over long seeded runs, determinism, substream
independence, refusals, and ordering properties. Truth: the dc_motor twin (compiled once per session
by the ``motor_model`` fixture) driven by a 12 V step for 20 s."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phystwin.core.model import Model
from phystwin.core.simulation import simulate
from phystwin.core.trajectory import Trajectory
from phystwin.estimation.measurements import (
    QUALITY_OK,
    QUALITY_OUT_OF_RANGE,
    GenerationLog,
    SensorSpec,
    generate,
)
from phystwin.estimation.types import Measurement

T_END = 20.0


@pytest.fixture(scope="module")
def truth(motor_model: Model) -> Trajectory:
    return simulate(motor_model, (0.0, T_END), inputs={"voltage": 12.0}, save=1e-3)


@pytest.fixture(scope="module")
def short_truth(motor_model: Model) -> Trajectory:
    return simulate(motor_model, (0.0, 2.0), inputs={"voltage": 12.0}, save=1e-2)


def _stream(ms: list[Measurement], sensor: str) -> list[Measurement]:
    return [m for m in ms if m.sensor == sensor]


def _values(ms: list[Measurement]) -> np.ndarray:
    return np.array([m.value[0] for m in ms])


CURRENT = SensorSpec("current_sensor", "current", "A", rate=1000.0, noise_std=0.02)
SPEED = SensorSpec("encoder", "speed", "rad/s", rate=1000.0, noise_std=0.5)
HOUSING = SensorSpec("housing_T", "housing_temperature", "K", rate=1.0, noise_std=0.5)


# --------------------------------------------------------------------------- statistics


def test_noise_std_matches_nominal(truth: Trajectory) -> None:
    ms, log = generate(truth, [CURRENT, SPEED], seed=1)
    for spec in (CURRENT, SPEED):
        s = _stream(ms, spec.name)
        t = np.array([m.t for m in s])
        err = _values(s) - np.interp(t, truth.t, truth[spec.signal])
        assert len(s) == 20001
        assert abs(err.mean()) < 4 * spec.noise_std / math.sqrt(len(s))
        assert err.std() == pytest.approx(spec.noise_std, rel=0.03)
        assert np.allclose(log[spec.name].noise, err, rtol=0, atol=1e-12)
        assert np.all(np.array([m.quality for m in s]) == QUALITY_OK)


def test_samples_are_linear_interpolation_of_the_truth(truth: Trajectory) -> None:
    # no noise; a rate off the save grid (333 Hz) and one on it (100 Hz)
    odd = SensorSpec("odd", "speed", "rad/s", rate=333.0)
    even = SensorSpec("even", "current", "A", rate=100.0)
    ms, _ = generate(truth, [odd, even], seed=0)
    s = _stream(ms, "odd")
    t = np.array([m.t for m in s])
    assert np.allclose(_values(s), np.interp(t, truth.t, truth["speed"]), rtol=0, atol=1e-12)
    e = _values(_stream(ms, "even"))
    assert np.allclose(e, truth["current"][::10], rtol=0, atol=1e-12)


def test_bias_random_walk_variance_grows_as_q_t(truth: Trajectory) -> None:
    q, b0 = 0.04, 0.3  # [A^2/s], [A]
    specs = [SensorSpec(f"s{k}", "current", "A", rate=2.0, bias0=b0, bias_psd=q) for k in range(2000)]
    _, log = generate(truth, specs, seed=7)
    B = np.array([log[s.name].bias for s in specs]) - b0  # (sensors, samples)
    t = log["s0"].t
    assert np.all(B[:, 0] == 0.0)
    var = (B**2).mean(axis=0)  # known zero mean
    for k in (10, 20, 40):  # 5 s, 10 s, 20 s
        # relative std of the variance estimate: sqrt(2/2000) = 3.2 %
        assert var[k] == pytest.approx(q * t[k], rel=0.12)
    slope = float(np.sum(var * t) / np.sum(t * t))
    assert slope == pytest.approx(q, rel=0.1)
    # bias is exactly in the measured value
    ms, log1 = generate(truth, specs[:1], seed=7)
    tr = log1["s0"]
    assert np.allclose(_values(ms), tr.truth + tr.bias, rtol=0, atol=1e-12)


def test_bias_increments_scale_with_sample_interval(truth: Trajectory) -> None:
    q = 0.01
    fast = SensorSpec("fast", "current", "A", rate=1000.0, bias_psd=q)
    _, log = generate(truth, [fast], seed=3)
    inc = np.diff(log["fast"].bias)
    assert inc.var() == pytest.approx(q * 1e-3, rel=0.04)


def test_dropout_and_outlier_fractions(truth: Trajectory) -> None:
    spec = replace(SPEED, dropout_prob=0.1, outlier_prob=0.02, outlier_sigmas=12.0)
    ms, log = generate(truth, [spec], seed=11)
    tr = log[spec.name]
    n = tr.t.size
    assert tr.dropped.mean() == pytest.approx(0.1, abs=4 * math.sqrt(0.09 / n))
    assert len(ms) == n - int(tr.dropped.sum())
    delivered = tr.delivered
    frac = tr.outlier[delivered].mean()
    assert frac == pytest.approx(0.02, abs=4 * math.sqrt(0.02 * 0.98 / delivered.sum()))
    assert not np.any(tr.outlier & tr.dropped)
    # outliers have the stated magnitude, random sign, and are NOT revealed in quality
    off = tr.value - tr.truth - tr.noise
    assert np.allclose(np.abs(off[tr.outlier]), 12.0 * spec.noise_std)
    assert np.all(off[~tr.outlier] == pytest.approx(0.0, abs=1e-9))
    assert 0.3 < np.mean(off[tr.outlier] > 0) < 0.7
    assert all(m.quality == QUALITY_OK for m in ms)
    # sequence numbers are the sample indices: gaps exactly at the dropped samples
    seqs = np.array([m.seq for m in ms])
    assert np.array_equal(seqs, np.flatnonzero(delivered))


def test_latency_shifts_arrival_exactly(truth: Trajectory) -> None:
    slow = replace(HOUSING, latency=0.25)
    ms0, _ = generate(truth, [CURRENT, HOUSING], seed=5)
    ms1, log1 = generate(truth, [CURRENT, slow], seed=5)
    assert [m.t for m in _stream(ms1, "housing_T")] == [m.t for m in _stream(ms0, "housing_T")]
    assert np.array_equal(_values(_stream(ms1, "housing_T")), _values(_stream(ms0, "housing_T")))
    idx = [k for k, m in enumerate(ms1) if m.sensor == "housing_T"]
    assert np.array_equal(log1.arrival[idx], np.array([ms1[k].t for k in idx]) + 0.25)
    idx0 = [k for k, m in enumerate(ms1) if m.sensor == "current_sensor"]
    assert np.array_equal(log1.arrival[idx0], np.array([ms1[k].t for k in idx0]))
    # the late sample of t = 1 s arrives after the current samples of t = 1.0 .. 1.25 s
    k = next(i for i in idx if ms1[i].t == 1.0)
    before = ms1[k - 1]
    assert before.sensor == "current_sensor" and before.t == pytest.approx(1.25)


def test_multi_rate_streams_at_their_rates(truth: Trajectory) -> None:
    specs = [CURRENT, replace(SPEED, rate=250.0), HOUSING, SensorSpec("ph", "speed", "rad/s", rate=10.0, phase=0.05)]
    ms, _ = generate(truth, specs, seed=2)
    for spec, n in zip(specs, (20001, 5001, 21, 200), strict=True):
        t = np.array([m.t for m in _stream(ms, spec.name)])
        assert t.size == n
        assert t[0] == pytest.approx(spec.phase)
        assert np.allclose(np.diff(t), 1.0 / spec.rate, rtol=0, atol=1e-9)
        assert t[-1] <= T_END


def test_valid_range_and_quantisation(truth: Trajectory) -> None:
    w_end = float(truth["speed"][-1])
    spec = SensorSpec(
        "enc", "speed", "rad/s", rate=500.0, noise_std=0.3, valid_range=(0.0, w_end - 1.0), quantization=0.25
    )
    ms, log = generate(truth, [spec], seed=4)
    v = _values(ms)
    assert np.allclose(v / 0.25, np.round(v / 0.25), rtol=0, atol=1e-9)
    q = np.array([m.quality for m in ms])
    outside = (v < 0.0) | (v > w_end - 1.0)
    assert outside.any() and (~outside).any()
    assert np.array_equal(q == QUALITY_OUT_OF_RANGE, outside)
    assert np.array_equal(log["enc"].quality, q)


# --------------------------------------------------------------------------- determinism


def test_same_seed_identical_different_seed_differs(short_truth: Trajectory) -> None:
    specs = [replace(CURRENT, dropout_prob=0.2, outlier_prob=0.1, bias_psd=1e-3), HOUSING]

    def key(ms: list[Measurement]) -> list[tuple[float, str, float, int, int]]:
        return [(m.t, m.sensor, float(m.value[0]), m.seq, m.quality) for m in ms]

    a, la = generate(short_truth, specs, seed=123)
    b, lb = generate(short_truth, specs, seed=123)
    c, _ = generate(short_truth, specs, seed=124)
    assert key(a) == key(b)
    assert np.array_equal(la.arrival, lb.arrival)
    assert key(a) != key(c)
    assert la.seed == 123
    ss, _ = generate(short_truth, specs, seed=np.random.SeedSequence(123))
    assert key(ss) == key(a)


def test_adding_or_reordering_sensors_keeps_other_streams(short_truth: Trajectory) -> None:
    a = replace(CURRENT, bias_psd=1e-3, dropout_prob=0.1, outlier_prob=0.05)
    ms1, _ = generate(short_truth, [a], seed=9)
    ms2, _ = generate(short_truth, [SPEED, a, HOUSING], seed=9)
    s1, s2 = _stream(ms1, a.name), _stream(ms2, a.name)
    assert [(m.t, m.seq) for m in s1] == [(m.t, m.seq) for m in s2]
    assert np.array_equal(_values(s1), _values(s2))


def test_impairments_draw_from_their_own_substreams(short_truth: Trajectory) -> None:
    _, l0 = generate(short_truth, [CURRENT], seed=9)
    _, l1 = generate(short_truth, [replace(CURRENT, dropout_prob=0.5, bias_psd=1e-2)], seed=9)
    assert np.array_equal(l0[CURRENT.name].noise, l1[CURRENT.name].noise)


def test_sensor_noises_are_uncorrelated(truth: Trajectory) -> None:
    a, b = CURRENT, replace(CURRENT, name="current_sensor_2")
    _, log = generate(truth, [a, b], seed=21)
    na, nb = log[a.name].noise, log[b.name].noise
    assert not np.array_equal(na, nb)
    assert abs(np.corrcoef(na, nb)[0, 1]) < 4 / math.sqrt(na.size)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"noise_std": -0.1}, "noise_std must be >= 0"),
        ({"rate": 0.0}, "rate must be > 0"),
        ({"rate": -5.0}, "rate must be > 0"),
        ({"rate": math.nan}, "rate .* must be finite"),
        ({"dropout_prob": 1.5}, r"dropout_prob must be a probability in \[0, 1\]"),
        ({"outlier_prob": -0.1}, r"outlier_prob must be a probability in \[0, 1\]"),
        ({"dropout_prob": math.nan}, "dropout_prob must be a probability"),
        ({"latency": -1e-3}, "latency .* must be >= 0"),
        ({"bias_psd": -1.0}, "bias_psd must be >= 0"),
        ({"valid_range": (5.0, 1.0)}, "low < high"),
        ({"quantization": 0.0}, "quantization step must be > 0"),
        ({"outlier_sigmas": 0.0}, "outlier_sigmas must be > 0"),
        ({"noise_std": 0.0, "outlier_prob": 0.1}, "noise sigmas"),
        ({"name": ""}, "name must be a non-empty string"),
    ],
)
def test_bad_specs_refused(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        replace(CURRENT, **changes)  # type: ignore[arg-type]


def test_unknown_signal_lists_available_names(short_truth: Trajectory) -> None:
    bad = SensorSpec("x", "torque", "N*m", rate=10.0)
    with pytest.raises(ValueError, match=r"no signal 'torque'.*available: .*current.*speed.*housing_temperature"):
        generate(short_truth, [bad], seed=0)


def test_unit_mismatch_names_both(short_truth: Trajectory) -> None:
    bad = SensorSpec("x", "speed", "rpm", rate=10.0)
    with pytest.raises(ValueError, match=r"unit 'rpm' does not match the trajectory's unit 'rad/s'"):
        generate(short_truth, [bad], seed=0)
    # equivalent spellings are accepted
    ok = SensorSpec("x", "load_torque", "N m", rate=10.0)
    assert len(generate(short_truth, [ok], seed=0)[0]) == 21


def test_duplicate_names_and_bad_seed_refused(short_truth: Trajectory) -> None:
    with pytest.raises(ValueError, match="duplicate sensor names"):
        generate(short_truth, [CURRENT, replace(SPEED, name=CURRENT.name)], seed=0)
    with pytest.raises(ValueError, match="seed must be"):
        generate(short_truth, [CURRENT], seed=-1)


# --------------------------------------------------------------------------- properties

_spec = st.builds(
    lambda rate, lat, phase, drop, outl: (rate, lat, phase, drop, outl),
    st.floats(0.5, 300.0),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)


@settings(max_examples=40, deadline=None)
@given(params=st.lists(_spec, min_size=1, max_size=4), seed=st.integers(0, 2**32))
def test_timestamps_increase_per_sensor_and_arrivals_are_sorted(
    short_truth: Trajectory, params: list[tuple[float, float, float, float, float]], seed: int
) -> None:
    specs = [
        SensorSpec(
            f"s{k}", "speed", "rad/s", rate=r, noise_std=0.1, latency=lat, phase=ph, dropout_prob=d, outlier_prob=o
        )
        for k, (r, lat, ph, d, o) in enumerate(params)
    ]
    ms, log = generate(short_truth, specs, seed=seed)
    assert isinstance(log, GenerationLog)
    assert len(ms) == log.arrival.size
    assert np.all(np.diff(log.arrival) >= 0)
    for s in specs:
        stream = _stream(ms, s.name)
        t = np.array([m.t for m in stream])
        seq = np.array([m.seq for m in stream])
        assert np.all(np.diff(t) > 0)
        assert np.all(np.diff(seq) > 0)
        assert np.all((t >= 0.0) & (t <= 2.0))
        assert len(stream) == int(log[s.name].delivered.sum())
