"""OPC UA transport against a real asyncua server and client on 127.0.0.1 (no mocks).

Building a server's standard address space costs seconds of CPU, so one unsecured bench is shared
by the module and the secure test builds its own.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from opcua_certs import OpcuaCerts, make_opcua_certs

from phystwin.estimation.types import Measurement
from phystwin.hil.link import Arrival, Command, LinkError
from phystwin.hil.opcua import (
    NAMESPACE,
    OpcuaBenchLink,
    bench_link,
    command_node_id,
    stream_node_id,
    twin_link,
)

ua = pytest.importorskip("asyncua").ua

STREAMS = ("current+speed", "inputs")
ACTUATORS = ("voltage", "load")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url(port: int) -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(f"opc.tcp://127.0.0.1:{port}/phystwin/")


def _collect(link, n: int, timeout: float) -> list[Arrival]:
    out: list[Arrival] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += link.poll(0.05)
    return out


def _wait_commands(bench: OpcuaBenchLink, n: int, timeout: float) -> list[Command]:
    out: list[Command] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out += bench.poll_commands()
        time.sleep(0.01)
    return out


@pytest.fixture(scope="module")
def bench() -> Iterator[OpcuaBenchLink]:
    link = bench_link(_url(_free_port()), (*STREAMS, "fuzz"), ACTUATORS, {})
    try:
        yield link
    finally:
        link.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> OpcuaCerts:
    return make_opcua_certs(tmp_path_factory.mktemp("opcua_certs"))


def test_round_trip_in_order_exact(bench: OpcuaBenchLink) -> None:
    """300 samples of 2 streams arrive complete, in order, bit-exact; commands reach the bench."""
    url = _url(bench.address[1])
    twin = twin_link(url, STREAMS, ACTUATORS, {"publishing_interval": 0.005})
    try:
        n = 300
        rng = np.random.default_rng(7)
        sent: dict[str, list[Measurement]] = {s: [] for s in STREAMS}
        t0 = time.perf_counter()
        for i in range(n):
            t = 1000.0 + i * 1e-3 + 1e-9  # not representable in short decimal: checks exact doubles
            m1 = Measurement(t, STREAMS[0], rng.normal(size=2) * 1e3, seq=i)
            m2 = Measurement(t, STREAMS[1], [rng.normal(), -0.0, 1e-300], seq=10**12 + i, quality=3)
            for m in (m1, m2):
                bench.publish(m)
                sent[m.sensor].append(m)
            if i % 20 == 19:
                time.sleep(0.002)  # small pauses: the subscription keeps up
        got = _collect(twin, 2 * n, timeout=15.0)
        elapsed = time.perf_counter() - t0
        print(f"OPC UA round trip: {2 * n} samples in {elapsed:.3f} s ({2 * n / elapsed:.0f} samples/s)")
        assert len(got) == 2 * n, twin.stats.as_dict()
        assert twin.stats.bad == 0, twin.stats.bad_reasons
        for stream in STREAMS:
            mine = [a.measurement for a in got if a.measurement.sensor == stream]
            assert [m.seq for m in mine] == [m.seq for m in sent[stream]]
            for a, b in zip(mine, sent[stream], strict=True):
                assert a.t == b.t and a.quality == b.quality
                np.testing.assert_array_equal(a.value, b.value)
        assert all(a.received_at <= time.monotonic() for a in got)
        assert bench.stats.send_errors == 0

        for i in range(20):
            twin.send_command(Command(0.01 * i, ACTUATORS[i % 2], 12.0 + i / 7, seq=i))
        twin.flush(5.0)
        cmds = _wait_commands(bench, 20, timeout=5.0)
        assert [(c.actuator, c.seq, c.value, c.t) for c in cmds] == [
            (ACTUATORS[i % 2], i, 12.0 + i / 7, 0.01 * i) for i in range(20)
        ]
        assert twin.stats.sent == 20 and twin.stats.send_errors == 0
        with pytest.raises(ValueError, match="torque"):
            twin.send_command(Command(0.0, "torque", 1.0))
    finally:
        t0 = time.perf_counter()
        twin.close()
        twin.close()  # idempotent
        assert time.perf_counter() - t0 < 5.0


def test_server_binds_loopback_and_options_errors(bench: OpcuaBenchLink) -> None:
    assert bench.address[0] == "127.0.0.1"
    url = _url(bench.address[1])
    with pytest.raises(LinkError, match="security_polcy"):
        twin_link(url, STREAMS, (), {"security_polcy": "None"})
    with pytest.raises(LinkError, match="publishing_interval"):
        twin_link(url, STREAMS, (), {"publishing_interval": -1})
    with pytest.raises(LinkError, match="certificate"):
        twin_link(url, STREAMS, (), {"security_policy": "Basic256Sha256"})
    with pytest.raises(LinkError, match="password_env"):
        twin_link(url, STREAMS, (), {"username": "u", "password_env": "PHYSTWIN_SURELY_UNSET_VAR"})
    with pytest.raises(LinkError, match="'nope'"):
        twin_link(url, ("nope",), (), {"connect_timeout": 2})
    dead = _url(_free_port())
    t0 = time.perf_counter()
    with pytest.raises(LinkError, match=rf"127\.0\.0\.1:{dead.port}.*cannot connect"):
        twin_link(dead, STREAMS, (), {"connect_timeout": 2})
    assert time.perf_counter() - t0 < 6.0
    with pytest.raises(LinkError, match="cannot start"):  # port taken by the module's bench
        bench_link(url, STREAMS, (), {"connect_timeout": 2})


def test_fuzzed_values_counted_not_fatal(bench: OpcuaBenchLink) -> None:
    twin = twin_link(_url(bench.address[1]), ("fuzz",), (), {})
    try:
        D = ua.VariantType.Double
        bad = [
            (ua.Variant([], D), False, "short"),
            (ua.Variant([1.0, 2.0], D), False, "short"),
            (ua.Variant([math.nan, 1.0, 0.0, 5.0], D), False, "time"),
            (ua.Variant([math.inf, 2.0, 0.0, 5.0], D), False, "time"),
            (ua.Variant([0.1, -1.0, 0.0, 5.0], D), False, "field"),
            (ua.Variant([0.1, 1.5, 0.0, 5.0], D), False, "field"),
            (ua.Variant([0.1, 2.0, math.nan, 5.0], D), False, "field"),
            (ua.Variant([0.0] * 100_000, D), False, "length"),
            (ua.Variant(3.0, D), False, "type"),
            (ua.Variant([[0.1, 3.0], [0.0, 5.0]], D, Dimensions=[2, 2]), False, "type"),
            (ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure)), False, "status"),
            (ua.Variant("0.1,3,0,5", ua.VariantType.String), True, "type"),
            (ua.Variant(["0.1", "3"], ua.VariantType.String), True, "type"),
            (ua.Variant([1, 4, 0, 5], ua.VariantType.Int32), True, "type"),
            (ua.Variant(b"\x00\xff" * 8, ua.VariantType.ByteString), True, "type"),
            (ua.Variant(None, ua.VariantType.Null), True, "type"),
        ]
        expected: dict[str, int] = {}
        for i, (value, force, reason) in enumerate(bad):
            bench.inject_raw("fuzz", value, force_type=force)
            bench.publish(Measurement(float(i), "fuzz", [float(i)], seq=i))  # a valid sample after each
            expected[reason] = expected.get(reason, 0) + 1
            time.sleep(0.005)
        got = _collect(twin, len(bad), timeout=10.0)
        deadline = time.monotonic() + 5.0
        while twin.stats.bad < len(bad) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [a.measurement.seq for a in got] == list(range(len(bad))), twin.stats.as_dict()
        assert [a.measurement.value.tolist() for a in got] == [[float(i)] for i in range(len(bad))]
        assert dict(twin.stats.bad_reasons) == expected
        assert bench.stats.send_errors == 0
    finally:
        twin.close()


def test_bad_command_writes_counted(bench: OpcuaBenchLink) -> None:
    """A raw client writes malformed commands: counted on the bench, never applied; a duplicate seq once."""
    url = _url(bench.address[1])

    async def main() -> list[str]:
        from asyncua import Client

        results = []
        async with Client(url.geturl(), timeout=3) as client:
            ns = await client.get_namespace_index(NAMESPACE)
            node = client.get_node(command_node_id(ns, "voltage"))
            D = ua.VariantType.Double
            for v in (
                ua.Variant([0.0, 1.0], D),  # too short
                ua.Variant([math.nan, 1.0, 2.0], D),  # t not finite
                ua.Variant([0.0, 1.0, math.inf], D),  # value not finite
                ua.Variant([0.0, -5.0, 1.0], D),  # bad seq
                ua.Variant([0.5, 900.0, 7.5], D),  # valid
                ua.Variant([0.5, 900.0, 7.5], D),  # duplicate
            ):
                await node.write_value(ua.DataValue(Value=v))
            for v in (ua.Variant("x", ua.VariantType.String), ua.Variant(1, ua.VariantType.Int32)):
                try:
                    await node.write_value(ua.DataValue(Value=v))
                    results.append("accepted")
                except ua.UaStatusCodeError as exc:
                    results.append(type(exc).__name__)
            stream = client.get_node(stream_node_id(ns, "fuzz"))
            try:  # stream variables are read-only for clients
                await stream.write_value(ua.DataValue(Value=ua.Variant([0.0, 1.0, 0.0, 1.0], D)))
                results.append("stream writable")
            except ua.UaStatusCodeError as exc:
                results.append(type(exc).__name__)
        return results

    before = dict(bench.stats.bad_reasons)
    results = asyncio.run(main())
    assert results == ["BadTypeMismatch", "BadTypeMismatch", "BadUserAccessDenied"]
    cmds = _wait_commands(bench, 1, timeout=3.0)
    assert [(c.actuator, c.seq, c.value) for c in cmds] == [("voltage", 900, 7.5)]
    after = bench.stats.bad_reasons
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert delta == {"length": 1, "time": 1, "field": 2, "duplicate": 1}


def test_secure_policy_round_trip_and_refusals(certs: OpcuaCerts, tmp_path: Path) -> None:
    url = _url(_free_port())
    server_opts = {
        "security_policy": "Basic256Sha256",
        "security_mode": "SignAndEncrypt",
        "certificate": certs.server_cert,
        "private_key": certs.server_key,
        "trusted_client_certificates": [certs.client_cert],
    }
    client_opts = {
        "security_policy": "Basic256Sha256",
        "certificate": certs.client_cert,
        "private_key": certs.client_key,
        "server_certificate": certs.server_cert,
    }
    bench = bench_link(url, STREAMS[:1], ACTUATORS[:1], server_opts)
    try:
        twin = twin_link(url, STREAMS[:1], ACTUATORS[:1], client_opts)
        try:
            for i in range(50):
                bench.publish(Measurement(0.01 * i, STREAMS[0], [i, -i], seq=i))
            got = _collect(twin, 50, timeout=10.0)
            assert [a.measurement.seq for a in got] == list(range(50))
            twin.send_command(Command(0.5, ACTUATORS[0], 24.0, seq=1))
            assert [c.value for c in _wait_commands(bench, 1, timeout=5.0)] == [24.0]
        finally:
            twin.close()

        # a twin without security is refused
        with pytest.raises(LinkError, match=r"127\.0\.0\.1.*cannot connect"):
            twin_link(url, STREAMS[:1], (), {"connect_timeout": 3})

        # an untrusted client certificate is refused
        other = make_opcua_certs(tmp_path / "other")
        with pytest.raises(LinkError, match="cannot connect"):
            twin_link(
                url, STREAMS[:1], (), {**client_opts, "certificate": other.client_cert, "private_key": other.client_key}
            )

        # a raw client that skips the endpoint check gets no session on an unsecured channel
        async def raw_unsecured() -> str:
            from asyncua import Client

            client = Client(url.geturl(), timeout=3)
            await client.connect_socket()
            try:
                await client.send_hello()
                await client.open_secure_channel()
                params = ua.CreateSessionParameters(
                    ClientDescription=ua.ApplicationDescription(),
                    EndpointUrl=url.geturl(),
                    SessionName="intruder",
                    RequestedSessionTimeout=10_000,
                    ClientNonce=b"0" * 32,
                )
                await client.uaclient.create_session(params)
                try:
                    await client.activate_session()
                except ua.UaStatusCodeError as exc:
                    return type(exc).__name__
                return "activated"
            finally:
                client.disconnect_socket()

        assert asyncio.run(raw_unsecured()) == "BadUserAccessDenied"
    finally:
        t0 = time.perf_counter()
        bench.close()
        bench.close()  # idempotent
        assert time.perf_counter() - t0 < 5.0
    with pytest.raises(LinkError, match="cannot connect"):  # closed means closed
        twin_link(url, STREAMS[:1], (), {**client_opts, "connect_timeout": 2})
