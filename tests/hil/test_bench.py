"""The virtual bench on its own: plant kernel, sensor model, streams, UDP fast path and pacing.

Every fast piece is compared with a slow, obvious reference: the plant kernel with
``integrate_held``, the block-sampled sensor model with a sample-at-a-time loop over the same
random streams, the batched packet encoder with ``encode_measurement``. The bench's output must not
depend on how its steps are grouped into chunks (which follows the wall clock when paced).
"""

from __future__ import annotations

import math
import re
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phystwin.config.live import bench_setup
from phystwin.config.schema import parse_config
from phystwin.core.options import RK4
from phystwin.core.simulation import integrate_held
from phystwin.estimation.measurements import SensorSpec
from phystwin.estimation.types import Measurement
from phystwin.hil.bench import Fault, VirtualBench
from phystwin.hil.bench_sensors import BIAS, DROPOUT, FAULT0, NOISE, OUTLIER, OUTLIER_SIGN, SensorModel, sensor_rng
from phystwin.hil.link import Command, LinkStats
from phystwin.hil.packets import MeasurementEncoder, decode_measurement, encode_measurement
from phystwin.hil.transports import open_bench_link

ROOT = Path(__file__).resolve().parents[2]
BENCH = (ROOT / "examples" / "dc_motor_bench.toml").read_text()
FAST = re.sub(r"(?m)^rate = 100\.0", "rate = 1000.0", BENCH)  # current and speed at 1 kHz, as bench_live
assert FAST.count("rate = 1000.0") == 2
# faults and a bias walk early in the run, so that short runs go through them
FAULTY = (
    FAST.replace('"noise = "0.2 rad/s"', '"noise = "0.2 rad/s"')
    + """
[[bench.faults]]
kind = "outliers"
at = "0.2 s"
duration = "0.3 s"
sensor = "current"
probability = 0.2
sigmas = 8.0

[[bench.faults]]
kind = "dropout"
at = "0.35 s"
duration = "0.05 s"
sensor = "speed"

[[bench.faults]]
kind = "bias_drift"
at = "0.1 s"
sensor = "current"
rate = 0.5

[[bench.faults]]
kind = "parameter"
at = "0.4 s"
parameter = "housing_convection.h"
value = 6.0
""".replace("[sensors.speed]\n", "[sensors.speed]\nbias_psd = 0.01\n")
)


def _bench(text: str = FAULTY) -> VirtualBench:
    return bench_setup(parse_config(text)).bench


def _collect(bench: VirtualBench, chunks: list[int]) -> list[tuple[str, float, list[float], int]]:
    out: list[tuple[str, float, list[float], int]] = []

    def publish(m: Measurement) -> None:
        out.append((m.sensor, m.t, m.value.tolist(), m.seq))

    for n in chunks:
        bench.advance(n, publish)
    return out


# ---------------------------------------------------------------------------------------- plant kernel
def test_plant_kernel_matches_integrate_held() -> None:
    bench = _bench()
    model, step = bench.model, bench.step
    p = model.parameters(bench.params)
    rng = np.random.default_rng(1)
    x = bench.x.copy()
    k0 = 0
    for n in (1, 7, 40):
        times = (k0 + np.arange(n)) * step
        U = bench.prepared.at(times)
        U[:, 0] = rng.uniform(0, 24, n)  # a voltage changing at every step
        X, Y = bench._plant.run(k0, x, p, U)  # type: ignore[union-attr]
        Xr, Yr = integrate_held(model, p, x, times, U, (k0 + n) * step, RK4(dt=step))
        np.testing.assert_allclose(X, Xr, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(Y, Yr[:n], rtol=1e-12, atol=1e-12)
        x = X[-1].copy()
        k0 += n
    assert x[model.layout.state_index("rotor.w")] > 1.0  # the motor moved: a real comparison


def test_plant_kernel_reports_a_nonfinite_state() -> None:
    from phystwin.core.status import IntegrationError

    bench = _bench()
    U = bench.prepared.at(np.arange(3) * bench.step)
    U[1, 0] = np.inf
    p = bench.model.parameters(bench.params)
    with pytest.raises(IntegrationError, match="bench plant"):
        bench._plant.run(0, bench.x, p, U)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------- sensor model
def _reference_sensor(spec: SensorSpec, faults: list[Fault], seed: int, ts: np.ndarray, truth: np.ndarray) -> Any:
    """The sensor model one sample at a time, drawing from the same streams (module docstring)."""
    name = spec.name
    noise = sensor_rng(seed, name, NOISE)
    bias_rng = sensor_rng(seed, name, BIAS)
    drop_rng = sensor_rng(seed, name, DROPOUT)
    out_rng = sensor_rng(seed, name, OUTLIER)
    sign_rng = sensor_rng(seed, name, OUTLIER_SIGN)
    fault_rngs = [sensor_rng(seed, name, FAULT0 + k) for k in range(len(faults))]
    bias, t_last = spec.bias0, math.nan
    zs, drops = [], []
    for t, y in zip(ts.tolist(), truth.tolist(), strict=True):
        if not math.isnan(t_last) and spec.bias_psd > 0:
            bias += math.sqrt(spec.bias_psd * (t - t_last)) * bias_rng.standard_normal()
        t_last = t
        z = spec.scale * y + bias + spec.noise_std * noise.standard_normal()
        drop = spec.dropout_prob > 0 and drop_rng.random() < spec.dropout_prob
        if spec.outlier_prob > 0 and out_rng.random() < spec.outlier_prob:
            z += math.copysign(spec.outlier_sigmas * spec.noise_std, sign_rng.random() - 0.5)
        for f, rng in zip(faults, fault_rngs, strict=True):
            if not f.active(t):
                continue
            if f.kind == "bias_drift":
                z += f.rate * (t - f.at)
            elif f.kind == "dropout":
                drop = True
            elif f.kind == "outliers":
                hit, sign = rng.random(), rng.random()
                if hit < f.probability:
                    z += math.copysign(f.sigmas * max(spec.noise_std, 1e-12), sign - 0.5)
        if spec.quantization:
            z = round(z / spec.quantization) * spec.quantization
        zs.append(z)
        drops.append(drop)
    return np.array(zs), np.array(drops)


SPEC = SensorSpec(
    "enc", "speed", "rad/s", 1000.0, noise_std=0.2, bias0=0.3, bias_psd=0.05, scale=1.01,
    dropout_prob=0.05, outlier_prob=0.03, outlier_sigmas=12.0, quantization=0.01,
)  # fmt: skip
FAULTS = [
    Fault("bias_drift", at=0.05, duration=0.1, sensor="enc", rate=2.0),
    Fault("outliers", at=0.1, duration=0.2, sensor="enc", probability=0.3, sigmas=5.0),
    Fault("dropout", at=0.25, duration=0.02, sensor="enc"),
    Fault("outliers", at=0.15, sensor="enc", probability=0.1, sigmas=7.0),
]


@pytest.mark.parametrize("chunk", [1, 3, 10, 97, 400])
def test_sensor_model_matches_the_sample_at_a_time_reference(chunk: int) -> None:
    ts = np.arange(400) * 1e-3
    truth = 100.0 * np.sin(7.0 * ts)
    z_ref, drop_ref = _reference_sensor(SPEC, FAULTS, 5, ts, truth)
    sensor = SensorModel(SPEC, 0, 1, FAULTS, 5)
    zs, drops = [], []
    for a in range(0, ts.size, chunk):
        z, d = sensor.sample(ts[a : a + chunk], truth[a : a + chunk])
        zs.append(z)
        drops.append(np.zeros(z.size, dtype=bool) if d is None else d)
    np.testing.assert_array_equal(np.concatenate(zs), z_ref)  # bit for bit, whatever the chunking
    np.testing.assert_array_equal(np.concatenate(drops), drop_ref)
    assert drop_ref[250:270].all() and 5 < drop_ref[:250].sum() < 40  # the windows and the draws were hit


def test_sensor_model_statistics() -> None:
    """Noise, bias walk, dropout and outlier rates of the model match the spec (seeded, 200k samples)."""
    n = 200_000
    ts = np.arange(n) * 1e-3
    spec = SensorSpec("s", "speed", "rad/s", 1000.0, noise_std=0.5, dropout_prob=0.02, outlier_prob=0.01,
                      outlier_sigmas=20.0)  # fmt: skip
    z, drop = SensorModel(spec, 0, 1, [], 11).sample(ts, np.zeros(n))
    assert drop is not None
    assert abs(drop.mean() - 0.02) < 5 * math.sqrt(0.02 * 0.98 / n)
    out = np.abs(z) > 5.0  # the outliers are +-10 sigma
    assert abs(out.mean() - 0.01) < 5 * math.sqrt(0.01 * 0.99 / n)
    assert abs(np.mean(z[out] > 0) - 0.5) < 0.05
    assert abs(z[~out].std() / 0.5 - 1) < 0.01 and abs(z[~out].mean()) < 0.005
    # the bias random walk alone: independent steps of variance q dt
    walk = SensorSpec("w", "speed", "rad/s", 1000.0, bias0=1.5, bias_psd=2.0)
    z, drop = SensorModel(walk, 0, 1, [], 11).sample(ts, np.zeros(n))
    assert drop is None and z[0] == 1.5
    d = np.diff(z)
    assert abs(d.var() / (2.0 * 1e-3) - 1) < 0.02
    assert abs(np.corrcoef(d[:-1], d[1:])[0, 1]) < 0.01


# ---------------------------------------------------------------------------------------- the bench
def test_bench_output_does_not_depend_on_the_chunking() -> None:
    one = _bench()
    ref = _collect(one, [600])
    other = _bench()
    got = _collect(other, [1, 2, 3, 10, 7, 77, 100, 1, 399])
    assert got == ref
    np.testing.assert_array_equal(one.x, other.x)
    assert one.published == other.published and one.dropped == other.dropped
    assert one.faults_applied == other.faults_applied == ["0.4 s: housing_convection.h = 6"]
    speed = [v for s, t, v, _ in ref if s == "current+speed" and 0.35 <= t < 0.4]
    assert not speed  # the scripted dropout window of the speed sensor drops the whole stream
    assert one.dropped["current+speed"] >= 50


def test_bench_streams_and_sequence_numbers() -> None:
    bench = _bench()
    truth: list[tuple[float, dict[str, float]]] = []
    samples = []

    def record(stream: str, t: float, row: Any) -> None:
        if stream == "truth":
            truth.append((t, dict(row)))

    def publish(m: Measurement) -> None:
        samples.append(m)

    k = 0
    rng = np.random.default_rng(3)
    commands = {50: 12.0, 51: 12.0, 230: 3.5}  # the second sets the same value: no change
    while k < 600:
        nxt = min((kc for kc in commands if kc > k), default=600)
        n = min(int(rng.integers(1, 40)), nxt - k)
        if k in commands:
            bench.apply([Command(0.0, "voltage", commands[k], k)])
        bench.advance(n, publish, record, record_every=1)
        k += n
    assert [r[0] for r in truth] == [j * bench.step for j in range(600)]
    # the inputs stream: at the first step, at every change, and at least every 1 / input_rate
    u = [tuple(row[name] for name in ("voltage", "load_torque", "ambient_temperature")) for _, row in truth]
    expect, last = [], -(10**9)
    for j in range(600):
        if j == 0 or u[j] != u[j - 1] or j - last >= bench._input_every:
            expect.append(j)
            last = j
    inputs = [m for m in samples if m.sensor == "inputs"]
    assert [round(m.t / bench.step) for m in inputs] == expect
    assert [m.seq for m in inputs] == list(range(len(expect)))
    assert [m.value.tolist() for m in inputs] == [list(u[j]) for j in expect]
    assert {50, 230} <= set(expect)
    # sensor streams: every step (1 kHz) / every 1000 steps; a dropped sample leaves a gap in seq
    cs = [m for m in samples if m.sensor == "current+speed"]
    steps = [round(m.t / bench.step) for m in cs]
    assert [m.seq for m in cs] == steps
    assert len(cs) + bench.dropped["current+speed"] == 600 == bench._seq["current+speed"]
    # the measured values follow the truth
    w = np.array([truth[s][1]["speed"] for s in steps])
    meas = np.array([m.value[1] for m in cs])
    resid = meas - w
    assert np.median(np.abs(resid)) < 0.5
    # packet order: per step the inputs first, then the streams in the table's order
    order = [
        (round(m.t / bench.step), ("inputs", "current+speed", "housing_temperature").index(m.sensor)) for m in samples
    ]
    assert order == sorted(order)


def test_recording_batched_and_row_by_row_agree() -> None:
    class Rows:
        def __init__(self) -> None:
            self.rows: dict[str, list[tuple[float, dict[str, float]]]] = {}

        def append(self, stream: str, t: float, values: Any) -> None:
            self.rows.setdefault(stream, []).append((t, dict(values)))

        def append_rows(self, stream: str, t: np.ndarray, values: Any) -> None:
            for j, tj in enumerate(t.tolist()):
                self.append(stream, tj, {k: float(v[j]) for k, v in values.items()})

        def maybe_flush(self, background: bool = False) -> None:
            pass

    class NullLink:
        streams = ("current+speed", "housing_temperature", "inputs")
        stats = LinkStats()

        def publish(self, m: Measurement) -> None:
            pass

        def publish_samples(self, samples: Any) -> None:
            pass

        def poll_commands(self) -> list[Any]:
            return []

    batched = Rows()
    _bench().run(NullLink(), 0.3, rate_factor=0, recorder=batched, record_interval=0.005)  # type: ignore[arg-type]
    rowwise = Rows()
    bench = _bench()
    for _ in range(30):
        bench.advance(10, lambda m: None, rowwise.append, record_every=5)
    assert (
        batched.rows.keys()
        == rowwise.rows.keys()
        == {"truth", "published/current+speed", "published/housing_temperature"}
    )
    assert batched.rows == rowwise.rows
    assert len(batched.rows["truth"]) == 60
    assert set(batched.rows["published/current+speed"][0][1]) == {"current", "speed", "seq"}


# ---------------------------------------------------------------------------------------- UDP fast path
def test_measurement_encoder_matches_encode_measurement() -> None:
    streams = ("a", "b+c", "inputs")
    enc = MeasurementEncoder(streams)
    rng = np.random.default_rng(0)
    for k in range(200):
        stream = streams[k % 3]
        values = rng.normal(size=1 + k % 5).tolist()
        if k % 17 == 0:
            values[0] = math.nan
        t, seq = float(rng.uniform(-1, 1e6)), int(rng.integers(0, 2**40))
        assert enc.encode(stream, t, values, seq) == encode_measurement(Measurement(t, stream, values, seq), streams)
    with pytest.raises(ValueError, match="unknown stream"):
        enc.encode("x", 0.0, [1.0], 0)
    with pytest.raises(ValueError, match="at most"):
        enc.encode("a", 0.0, [0.0] * 171, 0)


def test_udp_publish_samples_round_trip() -> None:
    streams = ("current+speed", "inputs")
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    try:
        with open_bench_link(f"udp://127.0.0.1:{rx.getsockname()[1]}", streams, ()) as link:
            samples = [("current+speed", 0.001 * k, (1.0 * k, -2.0), k) for k in range(50)]
            samples.append(("inputs", 0.05, [1.0, 2.0, 3.0], 2**32 + 5))
            link.publish_samples(samples)  # type: ignore[attr-defined]
            got = [decode_measurement(rx.recv(2048), streams) for _ in samples]
            assert link.stats.sent == len(samples) and link.stats.send_errors == 0
    finally:
        rx.close()
    assert [(m.sensor, m.t, m.value.tolist(), m.seq) for m in got[:-1]] == [
        (s, t, list(v), q) for s, t, v, q in samples[:-1]
    ]
    assert got[-1].seq == 5 and got[-1].value.tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------------------------------- pacing
def test_paced_bench_keeps_bench_time_to_wall_time_after_a_stall() -> None:
    """A stall (the process descheduled for 80 ms) is made up: bench time stays rate_factor x wall."""

    class StallingLink:
        streams = ("current+speed", "housing_temperature", "inputs")
        stats = LinkStats()

        def __init__(self) -> None:
            self.calls = 0
            self.n = 0

        def publish_samples(self, samples: list[Any]) -> None:
            self.calls += 1
            self.n += len(samples)
            if self.calls == 50:
                time.sleep(0.08)

        def poll_commands(self) -> list[Any]:
            return []

    link = StallingLink()
    bench = _bench(FAST)
    summary = bench.run(link, 2.0, rate_factor=4.0)  # type: ignore[arg-type]
    assert summary.steps == 2000 and summary.pacing["skipped"] >= 30
    assert summary.wall_time == pytest.approx(0.5, abs=0.05)  # without catching up: 0.58 s
    assert link.n == sum(summary.published.values())
