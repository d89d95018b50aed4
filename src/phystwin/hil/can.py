r"""CAN FD transport (python-can): one binary packet of :mod:`phystwin.hil.packets` per frame.

URL ``can://<interface>/<channel>``, e.g. ``can://virtual/bench0`` (python-can's in-process virtual
bus, used by the tests) or ``can://socketcan/can0`` for real hardware. Both ends open the same bus.

Frame layout
------------
Every frame is a CAN FD data frame (``is_fd``, bit-rate switch on) whose data field is exactly one
packet of :mod:`phystwin.hil.packets` (24-byte header, then ``n`` little-endian f64 values), padded
with zero bytes to the next valid CAN FD length (12, 16, 20, 24, 32, 48 or 64 bytes)::

    arbitration id                      data (24 + 8 n bytes, zero-padded to the FD length)
    measurement_base_id + stream id     measurement packet, n = number of values (n <= 5)
    command_base_id + actuator id       command packet, n = 1 (32 bytes)

    values  packet  frame
    1       32      32
    2       40      48
    3       48      48
    4       56      64
    5       64      64

The stream (actuator) id is the position of the name in the ``streams`` (``actuators``) tuple, and
the id inside the packet header must equal ``arbitration id - base id``. A 64-byte frame holds at
most :data:`MAX_CAN_VALUES` = 5 values, so a link with a wider stream is refused when it is built.
The width of a stream is taken from ``stream_widths`` when the caller passes it, else from its name
(``"current+speed"`` carries 2 values); a sample wider than a frame that still reaches
:meth:`CanBenchLink.publish` is not sent and is counted in ``stats.send_errors``.

Receiving: the twin reads the measurement id range, the bench the command id range. Frames with any
other id (other nodes on the bus, our own commands echoed back) are ignored and not counted. Frames
inside our range that fail to decode (remote or error frames, classic frames, wrong length, bad
header, padding that is not zero, stream id not matching the arbitration id) are counted in
``stats.bad`` by reason and logged at most once a second per reason.

Options (``[transport.can]``)::

    [transport.can]
    measurement_base_id = 0x100   # first arbitration id of the measurement streams
    command_base_id = 0x200       # first arbitration id of the actuator commands
    extended_id = false           # 29-bit identifiers (default: 11-bit)
    fd = true                     # CAN FD (required: the 24-byte header does not fit 8 bytes)
    bitrate = 500000              # optional: nominal bit rate, passed to the bus
    data_bitrate = 2000000        # optional: FD data-phase bit rate, passed to the bus

The twin side runs one receive thread (python-can ``recv`` with a 50 ms timeout, so it stops
promptly) that decodes frames into a :class:`~phystwin.hil.link.QueueBuffer`; the bench side reads
its commands without blocking in :meth:`CanBenchLink.poll_commands`.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import can
from pydantic import BaseModel, ConfigDict, Field, field_validator

from phystwin.errors import InvalidValueError
from phystwin.estimation.types import Measurement
from phystwin.hil._link_common import parse_options, stream_width
from phystwin.hil.link import Arrival, BenchLink, Command, LinkEnd, LinkError, QueueBuffer, TwinLink
from phystwin.hil.packets import (
    HEADER,
    PacketError,
    decode_command,
    decode_measurement,
    encode_command,
    encode_measurement,
)

__all__ = [
    "FD_LENGTHS",
    "MAX_CAN_VALUES",
    "CanBenchLink",
    "CanOptions",
    "CanTwinLink",
    "bench_link",
    "decode_frame_data",
    "frame_data",
    "twin_link",
]

log = logging.getLogger("phystwin.hil")

FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
"""Valid data lengths of a CAN FD frame [bytes]."""
MAX_FD_BYTES = 64
MAX_CAN_VALUES = (MAX_FD_BYTES - HEADER.size) // 8
"""Values one measurement frame carries at most (24 + 8 * 5 = 64 bytes)."""
_MAX_STD_ID = 0x7FF
_MAX_EXT_ID = 0x1FFF_FFFF
_RECV_TIMEOUT = 0.05  # s, the receive thread checks its stop flag at least this often
_BATCH = 10_000  # frames read per poll_commands call at most (bounded work per call)
_N_VALUES = struct.Struct("<H")  # n, at offset 20 of the header
_Item = TypeVar("_Item", Measurement, Command)


class CanOptions(BaseModel):
    """``[transport.can]`` options (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    measurement_base_id: int = Field(0x100, ge=0)
    command_base_id: int = Field(0x200, ge=0)
    extended_id: bool = False
    fd: bool = True
    bitrate: int | None = Field(None, gt=0)
    data_bitrate: int | None = Field(None, gt=0)

    @field_validator("fd")
    @classmethod
    def _fd_required(cls, fd: bool) -> bool:
        if not fd:
            raise InvalidValueError(
                "fd = false is not supported: a packet has a 24-byte header and needs CAN FD frames "
                "(up to 64 bytes); classic CAN frames carry 8 bytes"
            )
        return fd


def _options(options: Mapping[str, Any]) -> CanOptions:
    return parse_options(CanOptions, options, "can", terse=True)


def _check_ids(streams: tuple[str, ...], actuators: tuple[str, ...], opts: CanOptions) -> None:
    """Refuse streams too wide for one frame and id ranges that overflow or overlap."""
    limit = _MAX_EXT_ID if opts.extended_id else _MAX_STD_ID
    kind = "29-bit" if opts.extended_id else "11-bit (set extended_id = true for 29-bit)"
    ranges = {
        "measurement_base_id": (opts.measurement_base_id, len(streams)),
        "command_base_id": (opts.command_base_id, len(actuators)),
    }
    for key, (base, n) in ranges.items():
        if n and base + n - 1 > limit:
            raise LinkError(
                f"[transport.can]: {key} = {base:#x} with {n} ids reaches {base + n - 1:#x}, "
                f"beyond the {kind} identifier range (max {limit:#x})"
            )
    (m0, nm), (c0, nc) = ranges.values()
    if nm and nc and m0 < c0 + nc and c0 < m0 + nm:
        raise LinkError(
            f"[transport.can]: measurement ids {m0:#x}..{m0 + nm - 1:#x} overlap command ids "
            f"{c0:#x}..{c0 + nc - 1:#x}; change measurement_base_id or command_base_id"
        )


def check_stream_widths(stream_widths: Mapping[str, int]) -> None:
    """Refuse streams with more values than one CAN FD frame carries (:class:`LinkError` naming them).

    Parameters
    ----------
    stream_widths : Mapping[str, int]
        Number of values of each stream.
    """
    wide = {name: n for name, n in stream_widths.items() if n > MAX_CAN_VALUES}
    if wide:
        listed = ", ".join(f"{name!r} ({n} values)" for name, n in wide.items())
        raise LinkError(
            f"CAN: stream {listed} does not fit one CAN FD frame: at most {MAX_CAN_VALUES} values "
            f"(24-byte header + 8 bytes per value <= 64 bytes); split it into narrower streams"
        )


def _fd_length(n: int) -> int:
    for length in FD_LENGTHS:
        if length >= n:
            return length
    raise InvalidValueError(f"{n} bytes do not fit a CAN FD frame (at most {MAX_FD_BYTES})")


def frame_data(packet: bytes) -> bytes:
    """``packet`` zero-padded to the next valid CAN FD data length; ValueError if longer than 64 bytes."""
    return packet + bytes(_fd_length(len(packet)) - len(packet))


def decode_frame_data(data: bytes) -> bytes:
    """The packet inside a frame's data field (padding removed); :class:`PacketError` if malformed.

    The packet's length comes from its header (``24 + 8 n``); the frame may be longer only by the
    zero padding to the next CAN FD length.
    """
    if len(data) < HEADER.size:
        raise PacketError("short", f"{len(data)} bytes, a packet has at least {HEADER.size}")
    (n,) = _N_VALUES.unpack_from(data, 20)
    size = HEADER.size + 8 * n
    if size > MAX_FD_BYTES or len(data) < size or len(data) > _fd_length(size):
        raise PacketError("length", f"{len(data)}-byte frame for a packet of {n} values ({size} bytes)")
    if any(data[size:]):
        raise PacketError("padding", "padding bytes are not zero")
    return data[:size]


def _open_bus(url: urllib.parse.SplitResult, opts: CanOptions) -> can.BusABC:
    interface = url.hostname or url.netloc
    channel = url.path.lstrip("/")
    if not interface or not channel:
        raise LinkError(f"{url.geturl()}: expected can://INTERFACE/CHANNEL, e.g. can://virtual/bench0")
    kwargs: dict[str, Any] = {"fd": opts.fd}
    if opts.bitrate is not None:
        kwargs["bitrate"] = opts.bitrate
    if opts.data_bitrate is not None:
        kwargs["data_bitrate"] = opts.data_bitrate
    try:
        return can.Bus(interface=interface, channel=channel, **kwargs)
    except (can.CanError, ValueError, OSError, ImportError, NotImplementedError) as exc:
        raise LinkError(f"{url.geturl()}: cannot open CAN bus ({type(exc).__name__}: {exc})") from None


class _CanEnd(LinkEnd):
    """What both ends share: the bus, the id ranges, sending and the decoding of received frames."""

    def __init__(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], opts: CanOptions
    ) -> None:
        if len(set(streams)) != len(streams) or len(set(actuators)) != len(actuators):
            raise LinkError(f"{url.geturl()}: stream and actuator names must be unique")
        _check_ids(tuple(streams), tuple(actuators), opts)
        self._url = url.geturl()
        self._open_end(streams, actuators, f"can {self._url}")
        self.options = opts
        self._send_failures = 0
        self._closed = False
        self._bus = _open_bus(url, opts)
        self.stats.event("connected")

    def _send(self, arbitration_id: int, packet: bytes) -> None:
        msg = can.Message(
            arbitration_id=arbitration_id,
            is_extended_id=self.options.extended_id,
            is_fd=True,
            bitrate_switch=self.options.data_bitrate is not None,
            data=frame_data(packet),
        )
        try:
            self._bus.send(msg, timeout=0.1)
            self.stats.count("sent")
        except (can.CanError, OSError, ValueError) as exc:
            self.stats.count("send_errors")
            self._send_failures += 1
            if self._send_failures == 1 or self._send_failures % 1000 == 0:
                log.warning("%s: send failed (%s), %d so far", self._url, exc, self._send_failures)

    def _encode(
        self,
        item: _Item,
        kind: str,
        name: str,
        names: tuple[str, ...],
        encode: Callable[[_Item, tuple[str, ...]], bytes],
    ) -> tuple[int, bytes] | None:
        """``(id offset, packet)`` of an outgoing measurement or command, or None.

        None, counted in ``stats.send_errors``, when the link is closed or ``item`` cannot be sent:
        its ``kind`` (``"stream"``, ``"actuator"``) ``name`` is not one of ``names``, or ``encode``
        refuses it (also logged as an unknown name).
        """
        if self._closed:
            self.stats.count("send_errors")
            return None
        try:
            return names.index(name), encode(item, names)
        except ValueError:
            self.stats.count("send_errors")
            log.warning("%s: no %s %r (known: %s)", self._url, kind, name, ", ".join(names))
            return None

    def _in_range(self, msg: can.Message, base: int, n: int) -> int | None:
        """The id offset of ``msg`` in ``[base, base + n)``, or None for a frame of another node."""
        if bool(msg.is_extended_id) != self.options.extended_id:
            return None
        offset = int(msg.arbitration_id) - base
        return offset if 0 <= offset < n else None

    def _packet(self, msg: can.Message) -> bytes | None:
        """The packet carried by a frame of our range, or None (counted bad) if it carries none."""
        if msg.is_error_frame:
            self._bad("error-frame")
            return None
        if msg.is_remote_frame:
            self._bad("remote-frame")
            return None
        data = bytes(msg.data or b"")
        if not msg.is_fd:
            self._bad("classic-frame", data)
            return None
        try:
            return decode_frame_data(data)
        except PacketError as exc:
            self._bad(exc.reason, data)
            return None

    def _decode(
        self,
        msg: can.Message,
        base: int,
        names: tuple[str, ...],
        decode: Callable[[bytes, tuple[str, ...]], _Item],
        name_of: Callable[[_Item], str],
    ) -> _Item | None:
        """The measurement or command a frame carries, or None.

        None, uncounted, for a frame outside ``[base, base + len(names))`` (another node's); None,
        counted bad, for a frame of that range whose packet does not decode with ``decode`` or whose
        stream (actuator) ``name_of`` the decoded item does not match the arbitration id.
        """
        offset = self._in_range(msg, base, len(names))
        if offset is None:
            return None
        packet = self._packet(msg)
        if packet is None:
            return None
        try:
            item = decode(packet, names)
        except PacketError as exc:
            self._bad(exc.reason, packet)
            return None
        if name_of(item) != names[offset]:
            self._bad("id", packet)
            return None
        return item

    def _shutdown_bus(self) -> None:
        try:
            self._bus.shutdown()
        except (can.CanError, OSError) as exc:  # pragma: no cover - depends on the interface
            log.warning("%s: error while closing the bus (%s)", self._url, exc)


class CanTwinLink(_CanEnd, TwinLink):
    """The twin's end of a CAN link: measurements from the bus, commands onto it.

    A receive thread decodes the frames of the measurement id range into a queue that
    :meth:`poll` drains.
    """

    def __init__(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], opts: CanOptions
    ) -> None:
        super().__init__(url, streams, actuators, opts)
        self._buffer = QueueBuffer(self.stats, count_received="on_drain")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive_loop, name=f"can-rx {self._url}", daemon=True)
        self._thread.start()

    def _receive_loop(self) -> None:
        errors = 0
        while not self._stop.is_set():
            try:
                msg = self._bus.recv(timeout=_RECV_TIMEOUT)
            except (can.CanError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    break
                errors += 1
                if errors == 1 or errors % 100 == 0:
                    log.warning("%s: receive failed (%s), %d so far", self._url, exc, errors)
                self._stop.wait(_RECV_TIMEOUT)
                continue
            if msg is None:
                continue
            try:
                meas = self._decode(msg, self.options.measurement_base_id, self.streams, decode_measurement, _sensor)
                if meas is not None:
                    self._buffer.put(Arrival(meas, time.monotonic()))
            except Exception as exc:  # never let one frame end the receive thread
                self._bad("error", f"{type(exc).__name__}: {exc}")

    def poll(self, timeout: float) -> list[Arrival]:
        return self._buffer.drain(timeout)

    def send_command(self, command: Command) -> None:
        encoded = self._encode(command, "actuator", command.actuator, self.actuators, encode_command)
        if encoded is not None:
            aid, packet = encoded
            self._send(self.options.command_base_id + aid, packet)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._shutdown_bus()


class CanBenchLink(_CanEnd, BenchLink):
    """The bench's end of a CAN link: measurements onto the bus, commands from it."""

    def publish(self, measurement: Measurement) -> None:
        encoded = self._encode(measurement, "stream", measurement.sensor, self.streams, encode_measurement)
        if encoded is None:
            return
        sid, packet = encoded
        if len(packet) > MAX_FD_BYTES:
            self.stats.count("send_errors")
            log.warning(
                "%s: stream %r sample has %d values, a CAN FD frame carries %d",
                self._url,
                measurement.sensor,
                measurement.value.size,
                MAX_CAN_VALUES,
            )
            return
        self._send(self.options.measurement_base_id + sid, packet)

    def poll_commands(self) -> list[Command]:
        out: list[Command] = []
        if self._closed:
            return out
        for _ in range(_BATCH):
            try:
                msg = self._bus.recv(timeout=0.0)
            except (can.CanError, OSError, ValueError) as exc:
                log.warning("%s: receive failed (%s)", self._url, exc)
                break
            if msg is None:
                break
            cmd = self._decode(msg, self.options.command_base_id, self.actuators, decode_command, _actuator)
            if cmd is not None:
                out.append(cmd)
        if out:
            self.stats.count("received", len(out))
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._shutdown_bus()


def twin_link(
    url: urllib.parse.SplitResult,
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    options: Mapping[str, Any],
    stream_widths: Mapping[str, int] | None = None,
) -> CanTwinLink:
    """The twin's end of the CAN link at ``url`` (see the module docstring).

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``can://INTERFACE/CHANNEL``.
    streams, actuators : tuple of str
        Stream and actuator names; their positions are the id offsets.
    options : Mapping[str, Any]
        The ``[transport.can]`` table.
    stream_widths : Mapping[str, int], optional
        Number of values of each stream, when known: a stream wider than :data:`MAX_CAN_VALUES`
        is refused here rather than at its first sample.

    Raises
    ------
    LinkError
        Bad options (the key is named), a stream too wide, id ranges that overflow or overlap, or a
        bus that cannot be opened.
    """
    check_stream_widths(_widths(streams, stream_widths))
    return CanTwinLink(url, tuple(streams), tuple(actuators), _options(options))


def bench_link(
    url: urllib.parse.SplitResult,
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    options: Mapping[str, Any],
    stream_widths: Mapping[str, int] | None = None,
) -> CanBenchLink:
    """The bench's end of the CAN link at ``url``; parameters and errors as :func:`twin_link`."""
    check_stream_widths(_widths(streams, stream_widths))
    return CanBenchLink(url, tuple(streams), tuple(actuators), _options(options))


def _widths(streams: tuple[str, ...], stream_widths: Mapping[str, int] | None) -> dict[str, int]:
    """Widths of the streams (:func:`~phystwin.hil._link_common.stream_width`)."""
    return {name: stream_width(name, stream_widths) for name in streams}


def _sensor(meas: Measurement) -> str:
    return meas.sensor


def _actuator(cmd: Command) -> str:
    return cmd.actuator
