"""MQTT transport against a real mosquitto (tests/hil/mosquitto.py): no mocks.

QUALITY.md rows covered: MQTT with authentication and TLS, broker restarted mid-run, fuzzed MQTT
JSON payloads, network listeners on 127.0.0.1.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mosquitto import Mosquitto, listening_addresses
from paho.mqtt.enums import CallbackAPIVersion

from phystwin.estimation.types import Measurement
from phystwin.hil.link import Arrival, Command, LinkError
from phystwin.hil.mqtt import MqttBenchLink, MqttTwinLink, bench_link, topic_level, twin_link
from phystwin.hil.packets import MAX_JSON_BYTES, decode_measurement_json

STREAMS = ("current+speed", "inputs")
ACTUATORS = ("voltage", "load/torque")


def _split(url: str) -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(url)


def _twin(url: str, **options: object) -> MqttTwinLink:
    return twin_link(_split(url), STREAMS, ACTUATORS, options)


def _bench(url: str, **options: object) -> MqttBenchLink:
    return bench_link(_split(url), STREAMS, ACTUATORS, options)


def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def _collect(twin: MqttTwinLink, n: int, timeout: float = 10.0) -> list[Arrival]:
    out: list[Arrival] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += twin.poll(0.1)
    return out


def _sample(k: int) -> Measurement:
    if k % 2 == 0:
        return Measurement(0.001 * k + 1e-13, STREAMS[0], [math.pi * k, -1.0 / (k + 3)], seq=k // 2)
    return Measurement(0.001 * k, STREAMS[1], [12.0 + k / 7], seq=k // 2, quality=k % 3)


def _check_round_trip(twin: MqttTwinLink, bench: MqttBenchLink, n: int) -> None:
    sent = [_sample(k) for k in range(n)]
    for m in sent:
        bench.publish(m)
    got = _collect(twin, n)
    assert len(got) == n, (len(got), twin.stats.as_dict())
    for stream in STREAMS:
        want = [m for m in sent if m.sensor == stream]
        have = [a.measurement for a in got if a.measurement.sensor == stream]
        assert [(m.t, m.seq, m.quality) for m in have] == [(m.t, m.seq, m.quality) for m in want]
        for a, b in zip(have, want, strict=True):
            np.testing.assert_array_equal(a.value, b.value)  # exact: JSON keeps every bit of a float
    assert all(a.received_at <= time.monotonic() for a in got)
    assert twin.stats.received == n and bench.stats.sent == n
    assert twin.stats.bad == 0 and bench.stats.send_errors == 0

    commands = [Command(0.01 * i, ACTUATORS[i % 2], 10.0 + i / 3, seq=i) for i in range(40)]
    for c in commands:
        twin.send_command(c)
    received: list[Command] = []
    assert _wait(lambda: len(received.extend(bench.poll_commands()) or received) >= len(commands))
    assert received == commands
    assert bench.stats.received == len(commands) and twin.stats.sent == len(commands)


# --------------------------------------------------------------------------------- round trip
def test_round_trip_with_password_from_environment(mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYSTWIN_TEST_MQTT_PASSWORD", mosquitto.password)
    opts = {"username": mosquitto.username, "password_env": "PHYSTWIN_TEST_MQTT_PASSWORD"}
    url = mosquitto.url("lab/bench1")
    with _twin(url, **opts) as twin, _bench(url, **opts) as bench:
        assert twin.root == bench.root == "lab/bench1"
        assert [e for _, e in twin.stats.events] == ["connected"]
        _check_round_trip(twin, bench, 1000)  # 500 samples of each of the 2 streams
        assert _wait(lambda: twin.bench_status == "online")
    assert _wait(lambda: twin.bench_status == "offline")  # the bench says goodbye on close
    twin.close()  # idempotent
    bench.close()


def test_credentials_in_url_and_misuse_never_raise(mosquitto: Mosquitto) -> None:
    user, pw = mosquitto.username, urllib.parse.quote(mosquitto.password, safe="")
    url = mosquitto.url().replace("mqtt://", f"mqtt://{user}:{pw}@")
    with _twin(url) as twin, _bench(url, qos=1) as bench:
        bench.publish(_sample(0))
        assert len(_collect(twin, 1)) == 1
        twin.send_command(Command(0.0, "no-such-actuator", 1.0))  # counted, not raised
        assert twin.stats.send_errors == 1
        with pytest.raises(ValueError, match="no-such-stream"):
            bench.publish(Measurement(0.0, "no-such-stream", [1.0]))
    bench.publish(_sample(2))  # after close: counted, not raised
    twin.send_command(Command(0.0, "voltage", 1.0))
    assert bench.stats.send_errors + bench.stats.sent >= 2 and twin.stats.send_errors >= 1


def test_topic_levels_escape_wildcards() -> None:
    assert topic_level("current+speed") == "current%2Bspeed"
    assert topic_level("load/torque") == "load%2Ftorque"
    assert topic_level("a#b") == "a%23b"
    assert topic_level("motor.T_w-1") == "motor.T_w-1"


# ------------------------------------------------------------------------------ authentication
def test_anonymous_and_wrong_password_are_refused(mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    url = mosquitto.url()
    for make in (_twin, _bench):
        with pytest.raises(LinkError, match="refused by the broker: Not authorized"):
            make(url)
        with pytest.raises(LinkError, match="refused by the broker") as err:
            make(url, username=mosquitto.username, password="wrong-" + mosquitto.password)
        assert mosquitto.password not in str(err.value)
        with pytest.raises(LinkError, match="refused by the broker"):
            make(url, username="intruder", password=mosquitto.password)
    with pytest.raises(LinkError, match="PHYSTWIN_UNSET_VARIABLE"):
        _twin(url, username=mosquitto.username, password_env="PHYSTWIN_UNSET_VARIABLE")  # noqa: S106
    with _twin(url, **mosquitto.options()) as twin:
        assert twin.connected


def test_unreachable_broker_is_a_clear_error(mosquitto: Mosquitto) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        t0 = time.monotonic()
        with pytest.raises(LinkError, match=rf"127\.0\.0\.1:{port}.*cannot connect"):
            _twin(f"mqtt://127.0.0.1:{port}/x", **mosquitto.options(connect_timeout=2))
        assert time.monotonic() - t0 < 2


@pytest.mark.parametrize(
    ("url", "options", "match"),
    [
        ("mqtt://127.0.0.1:1883/x", {"qos": 3}, "qos"),
        ("mqtt://127.0.0.1:1883/x", {"keepalive": -1}, "keepalive"),
        ("mqtt://127.0.0.1:1883/x", {"usrname": "a"}, "usrname: Extra inputs"),
        ("mqtt://127.0.0.1:1883/x", {"username": "a", "password": "p", "password_env": "P"}, "password_env"),
        ("mqtt://127.0.0.1:1883/x", {"password": "p"}, "no user name"),
        ("mqtt://127.0.0.1:1883/x", {"ca_file": "/nonexistent/ca.crt"}, "ca_file is set but TLS is off"),
        ("mqtts://127.0.0.1:1883/x", {"ca_file": "/nonexistent/ca.crt"}, "ca_file: '/nonexistent/ca.crt'"),
        ("mqtt://127.0.0.1:99999/x", {}, "(?i)port out of range"),
        ("mqtt:///x", {}, "HOST"),
        ("mqtt://127.0.0.1/a/+/b", {}, "topic root"),
        ("mqtt://127.0.0.1/a//b", {}, "topic root"),
        ("http://127.0.0.1/x", {}, "mqtt://"),
    ],
)
def test_bad_options_and_urls_name_the_problem(url: str, options: dict[str, object], match: str) -> None:
    with pytest.raises(LinkError, match=match) as err:
        twin_link(_split(url), STREAMS, ACTUATORS, options)
    assert "'p'" not in str(err.value)  # passwords are never echoed


def test_password_in_option_errors_is_not_echoed() -> None:
    with pytest.raises(LinkError, match="password") as err:
        twin_link(_split("mqtt://u@127.0.0.1/x"), STREAMS, ACTUATORS, {"password": 123456789})
    assert "123456789" not in str(err.value)


# -------------------------------------------------------------------------------------- TLS
def test_tls_round_trip_and_clear_failures(mosquitto: Mosquitto) -> None:
    assert mosquitto.tls_port is not None
    url = mosquitto.url(tls=True)
    assert url.startswith("mqtts://")
    with _twin(url, **mosquitto.options(tls=True)) as twin, _bench(url, **mosquitto.options(tls=True)) as bench:
        _check_round_trip(twin, bench, 100)
    plain_to_tls = f"mqtt://127.0.0.1:{mosquitto.tls_port}/phystwin"
    with pytest.raises(LinkError, match="TLS port reached without TLS"):
        _twin(plain_to_tls, **mosquitto.options(connect_timeout=2))
    with pytest.raises(LinkError, match=r"TLS handshake failed.*certificate"):  # CA not trusted
        _twin(url, **mosquitto.options())
    with pytest.raises(LinkError, match="TLS handshake failed"):  # TLS to the plain listener
        _twin(f"mqtts://127.0.0.1:{mosquitto.port}/phystwin", **mosquitto.options(tls=True))
    with pytest.raises(LinkError, match="Not authorized"):  # TLS does not replace the password
        _twin(url, ca_file=str(mosquitto.ca_file))


# ---------------------------------------------------------------------------------- listeners
def test_broker_listens_on_loopback_only(mosquitto: Mosquitto) -> None:
    config = mosquitto.config_file.read_text().splitlines()
    assert "allow_anonymous false" in config
    listeners = [line for line in config if line.startswith("listener ")]
    assert listeners == [f"listener {p} 127.0.0.1" for p in mosquitto.ports]
    for port in mosquitto.ports:
        assert listening_addresses(port) == {"127.0.0.1"}


# ------------------------------------------------------------------------- broker restarted
def test_broker_restart_mid_run_reconnects_by_itself(mosquitto: Mosquitto) -> None:
    url = mosquitto.url()
    with _twin(url, **mosquitto.options()) as twin, _bench(url, **mosquitto.options()) as bench:
        stop = threading.Event()
        published = [0]

        def run_bench() -> None:
            deadline = time.monotonic() + 12.0  # bounded even if the test fails early
            k = 0
            while not stop.is_set() and time.monotonic() < deadline:
                bench.publish(Measurement(0.005 * k, STREAMS[0], [float(k), 0.0], seq=k))
                k += 1
                published[0] = k
                time.sleep(0.005)

        thread = threading.Thread(target=run_bench, daemon=True)
        thread.start()
        try:
            got = _collect(twin, 20, timeout=5)
            assert len(got) >= 20
            mosquitto.restart(down_for=1.0)
            seq_after_restart = published[0]
            assert _wait(lambda: twin.connected and bench.connected, timeout=5)
            later: list[Arrival] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(a.measurement.seq > seq_after_restart for a in later):
                later += twin.poll(0.1)
        finally:
            stop.set()
            thread.join(timeout=5)
        assert not thread.is_alive()
        assert any(a.measurement.seq > seq_after_restart for a in later), twin.stats.as_dict()
        for link in (twin, bench):
            events = [e for _, e in link.stats.events]
            assert link.stats.reconnects >= 1
            assert events[0] == "connected" and "disconnected" in events and "reconnected" in events
            assert events.index("disconnected") < events.index("reconnected")
        # the gap is visible: samples published while the broker was down were dropped and counted
        assert bench.stats.send_errors > 0
        assert bench.stats.sent + bench.stats.send_errors == published[0]
        # subscriptions were renewed on both ends: commands and status flow again
        # (a command sent before the bench's re-subscription is acknowledged is lost, as on any QoS 0 link:
        # the twin's controller sends every period, so the test does too, until one arrives)
        cmds: list[Command] = []
        sent: list[Command] = []
        deadline = time.monotonic() + 10.0
        while not cmds and time.monotonic() < deadline:
            sent.append(Command(1.0 + len(sent), "voltage", 3.0, seq=len(sent) + 1))
            twin.send_command(sent[-1])
            _wait(lambda: bool(cmds.extend(bench.poll_commands()) or cmds), timeout=0.2)
        assert cmds and all(c in sent for c in cmds)
        assert _wait(lambda: twin.bench_status == "online")


# --------------------------------------------------------------------------------------- fuzz
@contextmanager
def _raw_client(mosquitto: Mosquitto) -> Iterator[paho.Client]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="phystwin-fuzzer")
    client.username_pw_set(mosquitto.username, mosquitto.password)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        assert _wait(client.is_connected)
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def _expected(stream: str, payload: bytes) -> Measurement | None:
    try:
        return decode_measurement_json(stream, payload)
    except Exception:
        return None


_scalars = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**64, -1])
    | st.text(max_size=12)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=6),
    max_leaves=25,
)
_measurement_like = st.fixed_dictionaries(
    {
        "t": st.floats(allow_nan=True, allow_infinity=True) | _json,
        "seq": st.integers(min_value=-(2**70), max_value=2**70) | _json,
        "values": st.lists(st.floats(allow_nan=True, allow_infinity=True) | _scalars, max_size=200) | _json,
    },
    optional={"quality": st.integers() | _json, "extra": _json},
)
_payloads = st.one_of(
    st.binary(max_size=600),
    _json.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    _measurement_like.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    _measurement_like.map(lambda v: json.dumps(v, allow_nan=True).encode()[: len(json.dumps(v)) // 2]),
)
_topics = st.sampled_from([topic_level(STREAMS[0]), topic_level(STREAMS[1]), "current%2bspeed", "nope", "%2B"])

_FIXED = [
    b"",
    b"\xff\xfe\x00garbage",
    b"x" * (MAX_JSON_BYTES + 1),
    b"[" * 10_000,  # under the size limit, deeper than the parser's recursion limit
    b'{"t": ' + b"[" * 5000 + b"]" * 5000 + b', "seq": 1, "values": [1.0]}',
    b'{"t": NaN, "seq": 1, "values": [1.0]}',
    b'{"t": 1.0, "seq": 1e400, "values": [1.0]}',
    b'{"t": 1.0, "seq": 1, "values": [NaN, Infinity]}',  # valid: non-finite values are delivered
    b'{"t": 1.0, "seq": ' + b"9" * 5000 + b', "values": [1.0]}',
    b'{"t": 1.0, "seq": 1, "values": [' + b"1" * 400 + b"]}",
    b'{"t": 1.0, "seq": 1, "values": [' + b",".join([b"1.5"] * 171) + b"]}",
    b'{"t": 1.0, "seq": true, "values": [1.0]}',
    b'{"t": "1.0", "seq": 1, "values": [1.0]}',
    b'{"t": 1.0, "seq": 1, "values": []}',
    b'{"t": 1.0, "seq": 1, "values": {"a": 1}}',
    b"[1, 2, 3]",
    b"null",
]


def test_fuzzed_payloads_are_counted_and_valid_ones_still_arrive(mosquitto: Mosquitto) -> None:
    root = "fuzz"
    sentinel_seq = [10**6]
    with _twin(mosquitto.url(root), **mosquitto.options()) as twin, _raw_client(mosquitto) as raw:

        def check(level: str, payload: bytes) -> None:
            bad_before = twin.stats.bad
            stream = {topic_level(s): s for s in STREAMS}.get(level)
            want = _expected(stream, payload) if stream is not None else None
            raw.publish(f"{root}/measurements/{level}", payload, qos=1).wait_for_publish(timeout=5)
            sentinel_seq[0] += 1
            sentinel = Measurement(1.0, STREAMS[1], [2.0], seq=sentinel_seq[0])
            raw.publish(
                f"{root}/measurements/{topic_level(STREAMS[1])}",
                json.dumps({"t": 1.0, "seq": sentinel.seq, "values": [2.0]}),
                qos=1,
            )
            got: list[Arrival] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(
                a.measurement.seq == sentinel.seq and a.measurement.t == 1.0 for a in got
            ):
                got += twin.poll(0.2)
            meas = [a.measurement for a in got]
            assert meas and meas[-1].seq == sentinel.seq, "the valid message after the fuzzed one was not delivered"
            if want is None:
                assert len(meas) == 1 and twin.stats.bad == bad_before + 1, (
                    level,
                    payload[:80],
                    twin.stats.bad_reasons,
                )
            else:
                assert len(meas) == 2 and twin.stats.bad == bad_before, (level, payload[:80])
                assert (meas[0].t, meas[0].seq, meas[0].sensor) == (want.t, want.seq, want.sensor)
                np.testing.assert_array_equal(meas[0].value, want.value)

        for payload in _FIXED:
            check(topic_level(STREAMS[0]), payload)
        check(topic_level(STREAMS[0]), b"x" * 1_000_000)  # 1 MB: the broker forwards it, the link rejects it

        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(level=_topics, payload=_payloads)
        def fuzz(level: str, payload: bytes) -> None:
            check(level, payload)

        fuzz()
        # garbage on the status topic and in deeper levels does not disturb anything
        raw.publish(f"{root}/status", b"\xff" * 100, qos=1).wait_for_publish(timeout=5)
        raw.publish(f"{root}/measurements/a/b", b"{}", qos=1).wait_for_publish(timeout=5)
        check(topic_level(STREAMS[1]), b'{"t": 2.0, "seq": 3, "values": [4.0]}')
        reasons = twin.stats.bad_reasons
        assert {"json", "field", "length", "stream"} <= set(reasons), reasons
        assert twin.connected and [e for _, e in twin.stats.events] == ["connected"]


def test_fuzzed_commands_are_counted_on_the_bench(mosquitto: Mosquitto) -> None:
    with _bench(mosquitto.url("fz"), **mosquitto.options()) as bench, _raw_client(mosquitto) as raw:
        bad = [
            b"",
            b"[",
            b'{"t": 1, "seq": 1}',
            b'{"t": 1, "seq": 1.5, "value": 2}',
            b'{"t": 1e999, "seq": 1, "value": 2}',
        ]
        for payload in bad:
            raw.publish(f"fz/commands/{topic_level('voltage')}", payload, qos=1)
        raw.publish("fz/commands/unknown", b'{"t": 1, "seq": 1, "value": 2}', qos=1)
        raw.publish(f"fz/commands/{topic_level('load/torque')}", b'{"t": 1, "seq": 9, "value": 2}', qos=1)
        cmds: list[Command] = []
        assert _wait(lambda: bool(cmds.extend(bench.poll_commands()) or cmds))
        assert cmds == [Command(1.0, "load/torque", 2.0, 9)]
        assert bench.stats.bad == len(bad) + 1 and bench.stats.bad_reasons["actuator"] == 1


def test_queue_is_bounded_when_the_twin_does_not_poll(mosquitto: Mosquitto) -> None:
    url = mosquitto.url()
    with (
        _twin(url, queue_size=50, qos=1, **mosquitto.options()) as twin,
        _bench(url, qos=1, **mosquitto.options()) as bench,
    ):
        for k in range(600):
            bench.publish(Measurement(0.001 * k, STREAMS[0], [float(k)], seq=k))
        assert _wait(lambda: twin.stats.received == 600, timeout=10), twin.stats.as_dict()
        got = twin.poll(0.0)
        assert len(got) == 50
        assert [a.measurement.seq for a in got] == list(range(550, 600))  # the newest are kept
        assert twin.stats.bad_reasons["overflow"] == 550
