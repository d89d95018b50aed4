r"""Wire formats shared by the transports: the binary packet (UDP, CAN FD) and the JSON payload (MQTT).

Binary packet, version 1 (little-endian, 24-byte header then the payload)::

    offset  size  type   field
    0       4     bytes  magic b"PTWN"
    4       1     u8     version = 1
    5       1     u8     kind: 1 = measurement, 2 = command
    6       2     u16    stream id (measurement: index in the stream table; command: index in the
                         actuator table)
    8       4     u32    sequence number (per stream, wraps at 2**32)
    12      8     f64    sample timestamp [s] (measurement: when sampled; command: twin time)
    20      2     u16    n, the number of payload values (a command carries exactly 1)
    22      1     u8     quality flag (0 = good)
    23      1     u8     reserved, 0
    24      8 n   f64    payload values in SI units

A datagram is exactly one packet: ``24 + 8 n`` bytes, ``n <= MAX_VALUES``.

JSON payloads (UTF-8 objects, at most ``MAX_JSON_BYTES``)::

    measurement  {"t": 12.5, "seq": 1250, "values": [1.02, 151.3], "quality": 0}
    command      {"t": 12.5, "seq": 7, "value": 18.0}

Decoders raise :class:`PacketError` with a short reason tag (``"short"``, ``"magic"``, ``"version"``,
``"kind"``, ``"stream"``, ``"length"``, ``"time"``, ``"json"``, ``"field"``); links count those tags.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence

import numpy as np

from phystwin.errors import InvalidValueError, PhystwinError
from phystwin.estimation.types import Measurement
from phystwin.hil.link import Command

__all__ = [
    "HEADER",
    "KIND_COMMAND",
    "KIND_MEASUREMENT",
    "MAGIC",
    "MAX_JSON_BYTES",
    "MAX_VALUES",
    "VERSION",
    "MeasurementEncoder",
    "PacketError",
    "decode_command",
    "decode_command_json",
    "decode_measurement",
    "decode_measurement_json",
    "encode_command",
    "encode_command_json",
    "encode_measurement",
    "encode_measurement_json",
]

MAGIC = b"PTWN"
VERSION = 1
KIND_MEASUREMENT = 1
KIND_COMMAND = 2
HEADER = struct.Struct("<4sBBHIdHBx")
MAX_VALUES = 170  # 24 + 8 * 170 = 1384 bytes: one datagram under a 1500-byte MTU
MAX_JSON_BYTES = 16_384
_U32 = 2**32


class PacketError(PhystwinError, ValueError):
    """A packet or payload that cannot be decoded; ``reason`` is a short tag for counters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _pack(kind: int, stream_id: int, seq: int, t: float, values: np.ndarray, quality: int) -> bytes:
    n = values.size
    if n > MAX_VALUES:
        raise InvalidValueError(f"a packet carries at most {MAX_VALUES} values, got {n}")
    if not 0 <= stream_id < 2**16:
        raise InvalidValueError(f"stream id must be in [0, 65535], got {stream_id}")
    head = HEADER.pack(MAGIC, VERSION, kind, stream_id, seq % _U32, float(t), n, min(max(quality, 0), 255))
    return head + values.astype("<f8", copy=False).tobytes()


def _unpack(data: bytes, kind: int, n_ids: int) -> tuple[int, int, float, np.ndarray, int]:
    if len(data) < HEADER.size:
        raise PacketError("short", f"{len(data)} bytes, a packet has at least {HEADER.size}")
    magic, version, k, sid, seq, t, n, quality = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise PacketError("magic", f"expected {MAGIC!r}, got {magic!r}")
    if version != VERSION:
        raise PacketError("version", f"expected version {VERSION}, got {version}")
    if k != kind:
        raise PacketError("kind", f"expected kind {kind}, got {k}")
    if sid >= n_ids:
        raise PacketError("stream", f"id {sid} is not one of the {n_ids} configured")
    if n > MAX_VALUES or len(data) != HEADER.size + 8 * n:
        raise PacketError("length", f"{len(data)} bytes for {n} values (expected {HEADER.size + 8 * n})")
    if not math.isfinite(t):
        raise PacketError("time", f"timestamp {t!r} is not finite")
    values = np.frombuffer(data, dtype="<f8", count=n, offset=HEADER.size).astype(np.float64)
    return sid, seq, t, values, quality


def encode_measurement(meas: Measurement, streams: Sequence[str]) -> bytes:
    """The binary packet of ``meas`` (its ``sensor`` must be one of ``streams``)."""
    return _pack(KIND_MEASUREMENT, streams.index(meas.sensor), meas.seq, meas.t, meas.value, meas.quality)


class MeasurementEncoder:
    """:func:`encode_measurement` for a fixed stream table, from plain values (no :class:`Measurement`).

    ``encode(stream, t, values, seq)`` returns the same bytes as ``encode_measurement(Measurement(t,
    stream, values, seq), streams)`` with one precompiled :class:`struct.Struct` per payload width:
    a fraction of the cost, for a bench publishing thousands of samples per second.
    """

    def __init__(self, streams: Sequence[str]) -> None:
        if len(streams) > 2**16:
            raise InvalidValueError(f"at most {2**16} streams, got {len(streams)}")
        self._ids = {s: k for k, s in enumerate(streams)}
        self._structs: dict[int, struct.Struct] = {}

    def encode(self, stream: str, t: float, values: Sequence[float], seq: int) -> bytes:
        sid = self._ids.get(stream)
        if sid is None:
            raise InvalidValueError(f"unknown stream {stream!r}; the streams are {list(self._ids)}")
        n = len(values)
        st = self._structs.get(n)
        if st is None:
            if n > MAX_VALUES:
                raise InvalidValueError(f"a packet carries at most {MAX_VALUES} values, got {n}")
            st = self._structs[n] = struct.Struct(f"{HEADER.format}{n}d")
        return st.pack(MAGIC, VERSION, KIND_MEASUREMENT, sid, seq % _U32, t, n, 0, *values)


def decode_measurement(data: bytes, streams: Sequence[str]) -> Measurement:
    """The measurement in a binary packet; :class:`PacketError` if it is not a valid one."""
    sid, seq, t, values, quality = _unpack(data, KIND_MEASUREMENT, len(streams))
    return Measurement(t, streams[sid], values, seq, quality)


def encode_command(cmd: Command, actuators: Sequence[str]) -> bytes:
    """The binary packet of ``cmd`` (its ``actuator`` must be one of ``actuators``)."""
    return _pack(KIND_COMMAND, actuators.index(cmd.actuator), cmd.seq, cmd.t, np.array([cmd.value]), 0)


def decode_command(data: bytes, actuators: Sequence[str]) -> Command:
    """The command in a binary packet; :class:`PacketError` if it is not a valid one."""
    aid, seq, t, values, _ = _unpack(data, KIND_COMMAND, len(actuators))
    if values.size != 1:
        raise PacketError("length", f"a command carries 1 value, got {values.size}")
    return Command(t, actuators[aid], float(values[0]), seq)


# ---------------------------------------------------------------------------------------- JSON
def _load_object(payload: bytes | str) -> dict[str, object]:
    if len(payload) > MAX_JSON_BYTES:
        raise PacketError("length", f"{len(payload)} bytes, at most {MAX_JSON_BYTES}")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PacketError("json", str(exc)[:80]) from None
    if not isinstance(obj, dict):
        raise PacketError("json", f"expected an object, got {type(obj).__name__}")
    return obj


def _number(obj: dict[str, object], key: str, *, integer: bool = False, default: object = None) -> float:
    v = obj.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
        raise PacketError("field", f"{key!r} must be {'an integer' if integer else 'a number'}, got {v!r}")
    if not math.isfinite(v):
        raise PacketError("time" if key == "t" else "field", f"{key!r} is not finite")
    return v


def encode_measurement_json(meas: Measurement) -> bytes:
    obj = {"t": meas.t, "seq": meas.seq, "values": meas.value.tolist(), "quality": meas.quality}
    return json.dumps(obj, allow_nan=True).encode()


def decode_measurement_json(stream: str, payload: bytes | str) -> Measurement:
    """The measurement of ``stream`` in a JSON payload; :class:`PacketError` if it is not a valid one."""
    obj = _load_object(payload)
    t = _number(obj, "t")
    seq = int(_number(obj, "seq", integer=True))
    quality = int(_number(obj, "quality", integer=True, default=0))
    values = obj.get("values")
    if not isinstance(values, list) or not values or len(values) > MAX_VALUES:
        raise PacketError("field", f"'values' must be a list of 1..{MAX_VALUES} numbers")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise PacketError("field", "'values' must hold numbers only")
    return Measurement(t, stream, np.array(values, dtype=np.float64), seq, quality)


def encode_command_json(cmd: Command) -> bytes:
    return json.dumps({"t": cmd.t, "seq": cmd.seq, "value": cmd.value}).encode()


def decode_command_json(actuator: str, payload: bytes | str) -> Command:
    """The command for ``actuator`` in a JSON payload; :class:`PacketError` if it is not a valid one."""
    obj = _load_object(payload)
    return Command(_number(obj, "t"), actuator, _number(obj, "value"), int(_number(obj, "seq", integer=True)))
