"""Modbus TCP transport: a real pymodbus server (bench) and client (twin) on 127.0.0.1."""

from __future__ import annotations

import gc
import math
import struct
import time
import urllib.parse

import numpy as np
import pytest
from pymodbus.client import ModbusTcpClient

from phystwin.estimation.types import Measurement
from phystwin.hil.link import Command, LinkError
from phystwin.hil.modbus import (
    EMPTY,
    ModbusOptions,
    bench_link,
    decode_block,
    encode_block,
    register_map,
    twin_link,
)

STREAMS = ("current+speed", "temp")
ACTUATORS = ("voltage", "fan")
FAST = {"poll_interval": "5 ms", "reconnect_delay": 0.05, "timeout": 0.5, "connect_timeout": 2.0}


def _url(port: int = 0, host: str = "127.0.0.1") -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(f"modbus://{host}:{port}")


def _wait(cond, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


@pytest.fixture(autouse=True)
def _no_gc_pause_mid_test():
    """A first full collection of the test process's large heap pauses every thread for 0.1-0.2 s,
    longer than the 20 ms bench period; collect before the timing-sensitive part instead."""
    gc.collect()


@pytest.fixture
def bench():
    b = bench_link(_url(), STREAMS, ACTUATORS, FAST)
    yield b
    b.close()


@pytest.fixture
def twin(bench):
    t = twin_link(_url(bench.address[1]), STREAMS, ACTUATORS, FAST)
    yield t
    t.close()


def _pace(twin, into: list, until: float) -> None:
    """Collect arrivals until the monotonic time ``until`` (poll returns early when data is there)."""
    while (left := until - time.monotonic()) > 0:
        into.extend(twin.poll(left))


def _drain(twin, into: list, until, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        into.extend(twin.poll(0.02))
    into.extend(twin.poll(0.0))


def test_slow_bench_fast_poll_all_samples_exact_and_commands_back(bench, twin):
    rng = np.random.default_rng(3)
    sent: list[Measurement] = []
    got: list = []
    for k in range(40):  # 20 ms per sample, polled every 5 ms
        m1 = Measurement(0.02 * k, "current+speed", rng.normal(size=2), seq=k)
        m2 = Measurement(0.02 * k + 1e-3, "temp", [rng.normal() * 1e3], seq=k)
        bench.publish(m1)
        bench.publish(m2)
        sent += [m1, m2]
        # relative pacing: a pause of the whole process (a full GC) delays the bench, never bursts it
        _pace(twin, got, time.monotonic() + 0.02)
    _drain(twin, got, lambda: len(got) >= len(sent))
    by_stream = {s: [a.measurement for a in got if a.measurement.sensor == s] for s in STREAMS}
    for s in STREAMS:
        expected = [m for m in sent if m.sensor == s]
        assert [(m.seq, m.t) for m in by_stream[s]] == [(m.seq, m.t) for m in expected]
        for r, m in zip(by_stream[s], expected, strict=True):
            np.testing.assert_array_equal(r.value, m.value)  # f64 registers: exact
    assert twin.skipped == 0 and twin.stats.bad == 0 and twin.stats.received == 80
    assert bench.stats.sent == 80

    cmds = [Command(1.0 + k, ACTUATORS[k % 2], -3.25 + k, seq=k + 1) for k in range(10)]
    back: list[Command] = []
    for c in cmds:
        twin.send_command(c)
        back += bench.poll_commands()
    _wait(lambda: back.extend(bench.poll_commands()) or len(back) >= len(cmds))
    assert back == cmds
    assert twin.stats.sent == 10 and twin.stats.send_errors == 0 and bench.stats.received == 10


def test_fast_bench_slow_poll_counts_skipped_samples():
    with bench_link(_url(), STREAMS, ACTUATORS, FAST) as bench:
        opts = {**FAST, "poll_interval": 0.05}
        with twin_link(_url(bench.address[1]), STREAMS, ACTUATORS, opts) as twin:
            got: list = []
            for k in range(60):
                bench.publish(Measurement(1e-3 * k, "temp", [float(k)], seq=k))
                time.sleep(0.002)
            _drain(twin, got, lambda: any(a.measurement.seq == 59 for a in got))
            seqs = [a.measurement.seq for a in got]
            assert seqs == sorted(seqs) and seqs[-1] == 59
            assert len(seqs) < 60
            assert len(seqs) + twin.skipped == 60 - seqs[0]  # every sample delivered or counted
            assert twin.stats.bad == 0


def test_server_restart_mid_run_client_reconnects_and_continues():
    bench = bench_link(_url(), STREAMS, ACTUATORS, FAST)
    port = bench.address[1]
    twin = twin_link(_url(port), STREAMS, ACTUATORS, FAST)
    got: list = []
    try:
        seq = 0
        for _ in range(10):
            bench.publish(Measurement(0.02 * seq, "temp", [float(seq)], seq=seq))
            seq += 1
            _pace(twin, got, time.monotonic() + 0.02)
        bench.close()
        _wait(lambda: any(text == "disconnected" for _, text in twin.stats.events), 3.0)
        twin.send_command(Command(1.0, "voltage", 1.0, seq=1))  # while down: counted, not raised
        time.sleep(0.2)
        bench = bench_link(_url(port), STREAMS, ACTUATORS, FAST)  # same port, fresh registers
        for _ in range(200):  # bounded: 200 samples at most
            bench.publish(Measurement(0.02 * seq, "temp", [float(seq)], seq=seq))
            seq += 1
            _pace(twin, got, time.monotonic() + 0.02)
            if twin.stats.reconnects and seq >= 25:
                break
        _drain(twin, got, lambda: any(a.measurement.seq == seq - 1 for a in got))
        texts = [text for _, text in twin.stats.events]
        assert texts[0] == "connected" and "disconnected" in texts and "reconnected" in texts
        assert texts.index("disconnected") < texts.index("reconnected")
        assert twin.stats.reconnects >= 1 and twin.read_errors >= 1
        assert twin.stats.send_errors >= 2  # the failed read and the command sent while down
        seqs = [a.measurement.seq for a in got]
        assert seqs == sorted(seqs) and seqs[-1] == seq - 1
        assert len(seqs) + twin.skipped == seq  # nothing lost silently
        assert twin.stats.bad == 0
        # commands work again after the reconnection
        twin.send_command(Command(2.0, "fan", 0.75, seq=2))
        back: list[Command] = []
        assert _wait(lambda: back.extend(bench.poll_commands()) or bool(back))
        assert back == [Command(2.0, "fan", 0.75, seq=2)]
    finally:
        twin.close()
        bench.close()


def test_garbage_in_registers_is_counted_bad(bench, twin):
    addr = register_map(STREAMS, ACTUATORS, ModbusOptions()).streams[1].address
    regs = encode_block(5, 1.0, [2.0])
    regs[2:6] = list(struct.unpack(">4H", struct.pack(">d", math.nan)))
    bench.write_registers(addr, regs)  # as a misbehaving PLC program would
    assert _wait(lambda: twin.stats.bad_reasons["time"] == 1)
    regs[2:6] = list(struct.unpack(">4H", struct.pack(">d", math.inf)))
    bench.write_registers(addr, regs)
    assert _wait(lambda: twin.stats.bad_reasons["time"] == 2)
    time.sleep(0.05)  # unchanged garbage is counted once, not at every poll
    assert twin.stats.bad == 2
    bench.publish(Measurement(3.0, "temp", [4.0], seq=6))
    got: list = []
    _drain(twin, got, lambda: bool(got))
    assert [(a.measurement.seq, a.measurement.t) for a in got] == [(6, 3.0)]

    # garbage commands written by a foreign client: counted by the bench, never delivered
    act = register_map(STREAMS, ACTUATORS, ModbusOptions()).actuators[0].address
    with ModbusTcpClient("127.0.0.1", port=bench.address[1], timeout=1.0) as raw:
        bad_t = encode_block(9, 0.0, [1.0])
        bad_t[2:6] = list(struct.unpack(">4H", struct.pack(">d", math.nan)))
        assert not raw.write_registers(act, bad_t).isError()
        assert not raw.write_registers(act, encode_block(10, 1.0, [math.nan])).isError()
        rr = raw.read_holding_registers(60_000, count=4)  # outside the map: an exception answer, no crash
        assert rr.isError()
    assert bench.poll_commands() == []
    assert bench.stats.bad_reasons["time"] == 1 and bench.stats.bad_reasons["value"] == 1

    # a twin whose map does not match the server: exception answers counted, the loop goes on
    wrong = {**FAST, "streams": {"current+speed": {"address": 2000}, "temp": {"address": 2100}}}
    with twin_link(_url(bench.address[1]), STREAMS, ACTUATORS, wrong) as lost:
        assert _wait(lambda: lost.stats.bad_reasons["exception"] >= 2)
        assert lost.stats.received == 0


def test_block_codec():
    regs = encode_block(2**32 + 7, -1.5, [1e-300, 2.0])
    assert len(regs) == 14 and all(0 <= r <= 0xFFFF for r in regs)
    assert regs[:2] == [0, 7]  # u32, most significant word first
    assert decode_block(regs, 2) == (7, -1.5, (1e-300, 2.0))
    assert decode_block([EMPTY] * 10, 1) is None
    with pytest.raises(ValueError, match="length"):
        decode_block(regs, 1)
    with pytest.raises(ValueError, match="register"):
        decode_block([70000, *regs[1:]], 2)


def test_custom_register_map_and_unit_id():
    opts = {
        **FAST,
        "unit_id": 7,
        "streams": {"current+speed": {"address": 300}, "temp": {"address": 10, "values": 3}},
        "actuators": {"voltage": {"address": 100}, "fan": {"address": 110}},
    }
    with (
        bench_link(_url(), STREAMS, ACTUATORS, opts) as bench,
        twin_link(_url(bench.address[1]), STREAMS, ACTUATORS, opts) as twin,
    ):
        bench.publish(Measurement(1.0, "temp", [1.0, 2.0, 3.0], seq=1))
        bench.publish(Measurement(1.0, "temp", [1.0], seq=2))  # wrong width: refused, counted
        assert bench.stats.send_errors == 1
        got: list = []
        _drain(twin, got, lambda: bool(got))
        assert [a.measurement.value.tolist() for a in got] == [[1.0, 2.0, 3.0]]
        twin.send_command(Command(1.0, "fan", 9.0, seq=4))
        assert _wait(lambda: bench.registers(110, 2) == [0, 4])
        assert bench.poll_commands() == [Command(1.0, "fan", 9.0, seq=4)]


def test_option_errors_name_the_key():
    url = _url(1)
    cases = {
        "poll_intervall": {"poll_intervall": 0.01},
        "poll_interval": {"poll_interval": "5 parsecs"},
        "unit_id": {"unit_id": 300},
        'streams."current+speed".adress': {"streams": {"current+speed": {"adress": 3}}},
        'streams."current+speed".address': {"streams": {"current+speed": {"address": -1}}},
    }
    for key, opts in cases.items():
        with pytest.raises(LinkError, match=r"\[transport\.modbus\].*" + key.replace("+", r"\+").replace(".", r"\.")):
            twin_link(url, STREAMS, ACTUATORS, opts)
    with pytest.raises(LinkError, match=r'streams\."bogus": unknown'):
        twin_link(url, STREAMS, ACTUATORS, {"streams": {"bogus": {"address": 0}}})
    with pytest.raises(LinkError, match=r'streams: no block for "temp"'):
        twin_link(url, STREAMS, ACTUATORS, {"streams": {"current+speed": {"address": 0}}})
    overlap = {"actuators": {"voltage": {"address": 0}, "fan": {"address": 100}}}
    with pytest.raises(LinkError, match=r'actuators\."voltage"\.address = 0 overlaps streams\."current\+speed"'):
        bench_link(url, STREAMS, ACTUATORS, overlap)
    with pytest.raises(LinkError, match=r'streams\."wide".*at most 29 values'):
        bench_link(url, ("wide",), (), {"streams": {"wide": {"address": 0, "values": 30}}})


def test_bench_binds_loopback_and_unreachable_server_is_a_clear_error():
    with bench_link(urllib.parse.urlsplit("modbus://:0"), STREAMS, ACTUATORS, {}) as bench:
        assert bench.address[0] == "127.0.0.1" and bench.address[1] > 0
        port = bench.address[1]
        with pytest.raises(LinkError, match=rf"cannot serve Modbus TCP on 127\.0\.0\.1:{port}"):
            bench_link(_url(port), STREAMS, ACTUATORS, {})  # the port is taken
    t0 = time.monotonic()
    with pytest.raises(LinkError, match=rf"no Modbus server answers at 127\.0\.0\.1:{port}"):
        twin_link(_url(port), STREAMS, ACTUATORS, {"connect_timeout": 0.2})
    assert time.monotonic() - t0 < 2.0
