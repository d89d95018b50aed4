"""UDP transport: the binary packet of :mod:`phystwin.hil.packets`, one per datagram.

The twin **listens** on the URL's address (``udp://127.0.0.1:5005``; port 0 picks a free one, see
:attr:`UdpTwinLink.address`) and answers commands to the address the measurements come from. The
bench **sends** to that address from its own socket (bound to ``bind_host``, port 0 by default),
on which it receives the commands. Nothing binds to anything but the loopback unless configured.

Options (``[transport.udp]``): ``bind_host`` (bench side, default ``127.0.0.1``), ``command_to``
(twin side, ``"host:port"``; default: the source of the last valid measurement),
``receive_buffer`` (bytes, ``SO_RCVBUF``; default 4 MiB so bursts of a fast bench are not dropped
by the kernel).
"""

from __future__ import annotations

import select
import socket
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from phystwin.estimation.types import Measurement
from phystwin.hil._link_common import url_port
from phystwin.hil.link import Arrival, BenchLink, Command, LinkError, TwinLink
from phystwin.hil.packets import (
    MeasurementEncoder,
    PacketError,
    decode_command,
    decode_measurement,
    encode_command,
    encode_measurement,
)

__all__ = ["UdpBenchLink", "UdpOptions", "UdpTwinLink", "bench_link", "twin_link"]

_MAX_DATAGRAM = 65_535
_BATCH = 4096  # datagrams drained per poll at most (bounded work per call)


class UdpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bind_host: str = "127.0.0.1"
    command_to: str | None = None
    receive_buffer: int = Field(4 * 1024 * 1024, ge=65_536)


def _options(options: Mapping[str, Any]) -> UdpOptions:
    try:
        return UdpOptions(**dict(options))
    except Exception as exc:  # pydantic's message names the key
        raise LinkError(f"[transport.udp]: {exc}") from None


def _address(url: urllib.parse.SplitResult) -> tuple[str, int]:
    port = url_port(url)
    if not url.hostname or port is None:
        raise LinkError(f"{url.geturl()}: expected udp://HOST:PORT, e.g. udp://127.0.0.1:5005")
    return url.hostname, port


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise LinkError(f"command_to must be 'host:port', got {text!r}")
    return host, int(port)


class UdpTwinLink(TwinLink):
    """The twin's end of a UDP link (see the module docstring)."""

    def __init__(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: UdpOptions
    ) -> None:
        self._open_end(streams, actuators, f"udp {url.netloc}")
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.receive_buffer)
            self._sock.bind(_address(url))
        except OSError as exc:
            self._sock.close()
            raise LinkError(f"{url.geturl()}: cannot listen ({exc})") from None
        self._sock.setblocking(False)
        self._peer: tuple[str, int] | None = _host_port(options.command_to) if options.command_to else None
        self._fixed_peer = self._peer is not None
        self._seq = 0
        self.stats.event("listening")

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the twin listens on."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def poll(self, timeout: float) -> list[Arrival]:
        out: list[Arrival] = []
        if self._sock.fileno() < 0:
            return out
        ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if not ready:
            return out
        for _ in range(_BATCH):
            try:
                data, addr = self._sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # ICMP errors surface here on some systems
                self._bad("socket", str(exc))
                continue
            now = time.monotonic()
            try:
                meas = decode_measurement(data, self.streams)
            except PacketError as exc:
                self._bad(exc.reason, data)
                continue
            if not self._fixed_peer:
                self._peer = addr[:2]
            out.append(Arrival(meas, now))
        self.stats.count("received", len(out))
        return out

    def send_command(self, command: Command) -> None:
        if self._peer is None:
            self.stats.count("send_errors")
            return
        try:
            self._sock.sendto(encode_command(command, self.actuators), self._peer)
            self.stats.count("sent")
        except (OSError, ValueError):
            self.stats.count("send_errors")

    def close(self) -> None:
        self._sock.close()


class UdpBenchLink(BenchLink):
    """The bench's end of a UDP link (see the module docstring)."""

    def __init__(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: UdpOptions
    ) -> None:
        self._open_end(streams, actuators, f"udp bench -> {url.netloc}")
        self._dest = _address(url)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((options.bind_host, 0))
        except OSError as exc:
            self._sock.close()
            raise LinkError(f"udp bench: cannot bind {options.bind_host!r} ({exc})") from None
        self._sock.setblocking(False)
        self._encoder = MeasurementEncoder(self.streams)

    def publish(self, measurement: Measurement) -> None:
        try:
            self._sock.sendto(encode_measurement(measurement, self.streams), self._dest)
            self.stats.count("sent")
        except (BlockingIOError, ConnectionRefusedError, OSError):
            self.stats.count("send_errors")

    def publish_samples(self, samples: Iterable[tuple[str, float, Sequence[float], int]]) -> None:
        """:meth:`publish` of many ``(stream, t, values, seq)`` samples (quality 0), one datagram each,
        without a :class:`Measurement` per sample (the virtual bench's batched path)."""
        encode = self._encoder.encode
        sendto = self._sock.sendto
        dest = self._dest
        sent = errors = 0
        try:
            for stream, t, values, seq in samples:
                try:
                    sendto(encode(stream, t, values, seq), dest)
                    sent += 1
                except OSError:  # full socket buffer, ICMP port unreachable, ...
                    errors += 1
        finally:
            self.stats.count("sent", sent)
            self.stats.count("send_errors", errors)

    def poll_commands(self) -> list[Command]:
        out: list[Command] = []
        for _ in range(_BATCH):
            try:
                data, _addr = self._sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. ECONNREFUSED from an earlier send while the twin was not up
                continue
            try:
                out.append(decode_command(data, self.actuators))
            except PacketError as exc:
                self._bad(exc.reason, data)
        self.stats.count("received", len(out))
        return out

    def close(self) -> None:
        self._sock.close()


def twin_link(
    url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: Mapping[str, Any]
) -> UdpTwinLink:
    return UdpTwinLink(url, streams, actuators, _options(options))


def bench_link(
    url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: Mapping[str, Any]
) -> UdpBenchLink:
    return UdpBenchLink(url, streams, actuators, _options(options))
