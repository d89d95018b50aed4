"""The OPC UA address space and value codec: the bench's namespace and node ids, and the Double
arrays that carry a sample ``[t, seq, quality, v0, ...]`` or a command ``[t, seq, value]``."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np

from phystwin.estimation.types import Measurement
from phystwin.hil.link import Command
from phystwin.hil.packets import MAX_VALUES, PacketError

NAMESPACE = "urn:phystwin:bench"
BENCH_OBJECT = "PhysTwinBench"
_HEADER = 3  # t, seq, quality
_SEQ_MAX = 2.0**53


def _ua() -> Any:
    """The ``asyncua.ua`` module, imported lazily so the package imports without asyncua."""
    from asyncua import ua

    return ua


# ---------------------------------------------------------------------------------------- node ids
def stream_node_id(ns: int, stream: str) -> Any:
    """The NodeId of the variable of ``stream`` in namespace index ``ns``."""
    return _ua().NodeId(f"{BENCH_OBJECT}.{stream}", ns)


def command_node_id(ns: int, actuator: str) -> Any:
    """The NodeId of the command variable of ``actuator`` in namespace index ``ns``."""
    return _ua().NodeId(f"{BENCH_OBJECT}.Commands.{actuator}", ns)


# ------------------------------------------------------------------------------------------ codec
def _double_array(dv: Any, kind: str) -> np.ndarray:
    ua = _ua()
    status = getattr(dv, "StatusCode", None)
    if status is not None and not status.is_good() and not status.is_uncertain():
        raise PacketError("status", f"{kind} has status {status.name}")
    variant = getattr(dv, "Value", None)
    if variant is None or variant.Value is None:
        raise PacketError("type", f"{kind} has no value")
    if variant.VariantType != ua.VariantType.Double or not variant.is_array:
        raise PacketError("type", f"{kind} must be a Double array, got {variant.VariantType.name} scalar or array")
    if variant.Dimensions is not None and len(variant.Dimensions) > 1:
        raise PacketError("type", f"{kind} must be a flat Double array, got dimensions {variant.Dimensions}")
    try:
        arr = np.asarray(variant.Value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PacketError("type", f"{kind}: {str(exc)[:60]}") from None
    if arr.ndim != 1:
        raise PacketError("type", f"{kind} must be a flat Double array, got shape {arr.shape}")
    return arr


def _integer(x: float, name: str, upper: float) -> int:
    if not math.isfinite(x) or x != math.floor(x) or not 0 <= x < upper:
        raise PacketError("field", f"{name} must be an integer in [0, {upper:.0f}), got {x!r}")
    return int(x)


def decode_sample(stream: str, dv: Any) -> Measurement:
    """The measurement in a stream variable's DataValue ``[t, seq, quality, v0, ...]``.

    Raises
    ------
    PacketError
        With reason ``status``, ``type``, ``short``, ``length``, ``time`` or ``field``.
    """
    arr = _double_array(dv, f"stream {stream!r}")
    if arr.size < _HEADER + 1:
        raise PacketError("short", f"stream {stream!r}: {arr.size} doubles, a sample has at least {_HEADER + 1}")
    if arr.size > _HEADER + MAX_VALUES:
        raise PacketError("length", f"stream {stream!r}: {arr.size} doubles, at most {_HEADER + MAX_VALUES}")
    t = float(arr[0])
    if not math.isfinite(t):
        raise PacketError("time", f"stream {stream!r}: timestamp {t!r} is not finite")
    seq = _integer(float(arr[1]), "seq", _SEQ_MAX)
    quality = _integer(float(arr[2]), "quality", 2.0**31)
    return Measurement(t, stream, arr[_HEADER:].copy(), seq, quality)


def decode_command_value(actuator: str, dv: Any) -> Command:
    """The command in a command variable's DataValue ``[t, seq, value]``; :class:`PacketError` if invalid."""
    arr = _double_array(dv, f"command {actuator!r}")
    if arr.size != 3:
        raise PacketError("length", f"command {actuator!r}: {arr.size} doubles, expected 3 (t, seq, value)")
    t, value = float(arr[0]), float(arr[2])
    if not math.isfinite(t):
        raise PacketError("time", f"command {actuator!r}: t {t!r} is not finite")
    if not math.isfinite(value):
        raise PacketError("field", f"command {actuator!r}: value {value!r} is not finite")
    return Command(t, actuator, value, _integer(float(arr[1]), "seq", _SEQ_MAX))


def _sample_value(meas: Measurement) -> Any:
    ua = _ua()
    row = [meas.t, float(meas.seq), float(meas.quality), *meas.value.tolist()]
    return ua.DataValue(Value=ua.Variant(row, ua.VariantType.Double), SourceTimestamp=dt.datetime.now(dt.UTC))
