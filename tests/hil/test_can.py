"""CAN FD transport on python-can's virtual bus: round trip, commands, fuzzed frames, refusals."""

from __future__ import annotations

import itertools
import time
import urllib.parse

import can
import numpy as np
import pytest

from phystwin.estimation.types import Measurement
from phystwin.hil.can import (
    MAX_CAN_VALUES,
    bench_link,
    decode_frame_data,
    frame_data,
    twin_link,
)
from phystwin.hil.link import Command, LinkError
from phystwin.hil.packets import PacketError, encode_measurement

STREAMS = ("current+speed", "temp")
ACTUATORS = ("voltage", "fan")
_channel = itertools.count()


def _url() -> urllib.parse.SplitResult:
    """A fresh virtual channel per test (virtual buses are process-wide)."""
    return urllib.parse.urlsplit(f"can://virtual/phystwin-test-{next(_channel)}")


def _collect(twin, n: int, deadline_s: float = 10.0) -> list:
    got: list = []
    deadline = time.monotonic() + deadline_s
    while len(got) < n and time.monotonic() < deadline:
        got.extend(twin.poll(0.05))
    return got


def test_round_trip_500_samples_of_two_streams_and_commands_back():
    url = _url()
    with twin_link(url, STREAMS, ACTUATORS, {}) as twin, bench_link(url, STREAMS, ACTUATORS, {}) as bench:
        rng = np.random.default_rng(1)
        sent = []
        for k in range(500):
            m1 = Measurement(k * 1e-3, "current+speed", rng.normal(size=2), seq=k, quality=k % 3)
            m2 = Measurement(k * 1e-3 + 1e-4, "temp", rng.normal(size=1), seq=k)
            bench.publish(m1)
            bench.publish(m2)
            sent += [m1, m2]
        got = _collect(twin, len(sent))
        assert len(got) == len(sent)
        for arrival, m in zip(got, sent, strict=True):
            r = arrival.measurement
            assert (r.t, r.sensor, r.seq, r.quality) == (m.t, m.sensor, m.seq, m.quality)
            np.testing.assert_array_equal(r.value, m.value)  # exact: f64 on the wire
        assert twin.stats.received == 1000 and twin.stats.bad == 0
        assert bench.stats.sent == 1000

        cmds = [Command(0.5 + k, ACTUATORS[k % 2], 12.0 + k / 7, seq=k) for k in range(20)]
        for c in cmds:
            twin.send_command(c)
        back: list[Command] = []
        deadline = time.monotonic() + 5.0
        while len(back) < len(cmds) and time.monotonic() < deadline:
            back += bench.poll_commands()
            time.sleep(0.005)
        assert back == cmds
        assert twin.stats.sent == 20 and bench.stats.received == 20


def test_fuzzed_frames_are_counted_bad_and_valid_frames_still_arrive():
    url = _url()
    rng = np.random.default_rng(7)
    with (
        twin_link(url, STREAMS, ACTUATORS, {}) as twin,
        bench_link(url, STREAMS, ACTUATORS, {}) as bench,
        can.Bus(interface="virtual", channel=url.path.lstrip("/")) as noise,
    ):
        n_bad_meas = n_bad_cmd = n_valid = 0
        lengths = (0, 1, 5, 8, 12, 16, 20, 24, 32, 48, 64)
        for k in range(600):
            kind = k % 4
            if kind == 0:  # a valid measurement among the garbage
                bench.publish(Measurement(k * 1e-3, "temp", [float(k)], seq=k))
                n_valid += 1
                continue
            if kind == 3:  # another node's id: ignored, not counted
                noise.send(can.Message(arbitration_id=0x50 + k % 16, is_extended_id=False, is_fd=True, data=b"x" * 8))
                continue
            base = 0x100 if kind == 1 else 0x200
            data = rng.integers(0, 256, size=int(rng.choice(lengths)), dtype=np.uint8).tobytes()
            if k % 5 == 0 and len(data) >= 24:  # a plausible header with a broken body
                data = b"PTWN\x01" + data[5:]
            msg = can.Message(
                arbitration_id=base + int(rng.integers(0, 2)), is_extended_id=False, is_fd=True, data=data
            )
            noise.send(msg)
            n_bad_meas += kind == 1
            n_bad_cmd += kind == 2
        # a classic frame and a remote frame in the measurement range
        noise.send(can.Message(arbitration_id=0x100, is_extended_id=False, data=b"12345678"))
        noise.send(can.Message(arbitration_id=0x101, is_extended_id=False, is_remote_frame=True, dlc=4))
        # a valid packet on the wrong id (stream 0's id carrying stream 1)
        wrong = frame_data(encode_measurement(Measurement(1.0, "temp", [1.0]), STREAMS))
        noise.send(can.Message(arbitration_id=0x100, is_extended_id=False, is_fd=True, data=wrong))
        n_bad_meas += 3

        got = _collect(twin, n_valid)
        deadline = time.monotonic() + 5.0
        while twin.stats.bad < n_bad_meas and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [a.measurement.seq for a in got] == list(range(0, 600, 4))
        assert twin.stats.bad == n_bad_meas
        assert {"classic-frame", "remote-frame", "id"} <= set(twin.stats.bad_reasons)
        assert sum(twin.stats.bad_reasons.values()) == twin.stats.bad

        assert bench.poll_commands() == []
        assert bench.stats.bad == n_bad_cmd
        twin.send_command(Command(2.0, "fan", 0.5, seq=3))
        deadline = time.monotonic() + 5.0
        back: list[Command] = []
        while not back and time.monotonic() < deadline:
            back = bench.poll_commands()
        assert back == [Command(2.0, "fan", 0.5, seq=3)]


def test_frame_padding_to_fd_lengths():
    for n in range(1, MAX_CAN_VALUES + 1):
        packet = encode_measurement(Measurement(0.0, "s", np.arange(n, dtype=float)), ("s",))
        data = frame_data(packet)
        assert len(data) in (32, 48, 64) and len(data) >= len(packet)
        assert decode_frame_data(data) == packet
    two = encode_measurement(Measurement(0.0, "s", [1.0, 2.0]), ("s",))  # 40 bytes in a 48-byte frame
    with pytest.raises(PacketError, match="padding"):
        decode_frame_data(two + b"\x01" * 8)
    with pytest.raises(PacketError, match="length"):
        decode_frame_data(two + bytes(16))  # 56 bytes is not the FD length of a 40-byte packet


def test_a_stream_too_wide_is_refused_clearly():
    url = _url()
    with pytest.raises(LinkError, match=r"'a\+b\+c\+d\+e\+f' \(6 values\).*at most 5 values"):
        twin_link(url, ("a+b+c+d+e+f", "x"), ("v",), {})
    with pytest.raises(LinkError, match=r"'inputs' \(7 values\)"):
        bench_link(url, ("inputs",), ("v",), {}, stream_widths={"inputs": 7})
    # the bench also refuses a wide sample at publish time (counted, not raised)
    with bench_link(url, ("inputs",), ("v",), {}) as bench:
        bench.publish(Measurement(0.0, "inputs", np.zeros(6)))
        assert bench.stats.send_errors == 1 and bench.stats.sent == 0


def test_option_errors_name_the_key():
    url = _url()
    with pytest.raises(LinkError, match="measurement_base_idd"):
        twin_link(url, STREAMS, ACTUATORS, {"measurement_base_idd": 1})
    with pytest.raises(LinkError, match="bitrate"):
        twin_link(url, STREAMS, ACTUATORS, {"bitrate": -5})
    with pytest.raises(LinkError, match="fd = false"):
        twin_link(url, STREAMS, ACTUATORS, {"fd": False})
    with pytest.raises(LinkError, match=r"overlap.*command_base_id"):
        twin_link(url, STREAMS, ACTUATORS, {"command_base_id": 0x101})
    with pytest.raises(LinkError, match="command_base_id = 0x7ff"):
        twin_link(url, STREAMS, ACTUATORS, {"command_base_id": 0x7FF})
    with pytest.raises(LinkError, match="can://INTERFACE/CHANNEL"):
        twin_link(urllib.parse.urlsplit("can://virtual"), STREAMS, ACTUATORS, {})


def test_extended_ids_and_custom_bases():
    url = _url()
    opts = {"extended_id": True, "measurement_base_id": 0x18FF0000, "command_base_id": 0x18FE0000}
    with twin_link(url, STREAMS, ACTUATORS, opts) as twin, bench_link(url, STREAMS, ACTUATORS, opts) as bench:
        bench.publish(Measurement(1.0, "temp", [3.0], seq=9))
        got = _collect(twin, 1)
        assert [a.measurement.seq for a in got] == [9]
        twin.send_command(Command(1.0, "voltage", 5.0, seq=1))
        deadline = time.monotonic() + 5.0
        back: list[Command] = []
        while not back and time.monotonic() < deadline:
            back = bench.poll_commands()
        assert back == [Command(1.0, "voltage", 5.0, seq=1)]
