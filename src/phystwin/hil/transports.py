"""Opening links by URL: the scheme picks the transport module.

=================  ======================================  ====================================
scheme             twin side                               bench side
=================  ======================================  ====================================
``udp://H:P``      listens on H:P                          sends to H:P
``mqtt://H:P/R``   client of the broker, topics under R    client of the broker
``mqtts://``       the same over TLS
``opc.tcp://H:P``  OPC UA client (subscriptions)           OPC UA server on H:P
``can://I/C``      python-can interface I, channel C       the same bus
``modbus://H:P``   Modbus TCP client (polling)             Modbus TCP server on H:P
=================  ======================================  ====================================

Transport options come from the config's ``[transport.<name>]`` table (``udp``, ``mqtt``,
``opcua``, ``can``, ``modbus``) and are validated by the transport module, which names any bad key.

``stream_widths`` (values per sample of each stream, e.g. :attr:`~phystwin.config.live.BenchSetup.stream_widths`)
reaches the transports whose layout depends on it (CAN frame sizes, the Modbus register map); without
it they guess a width from the stream's name, which is wrong for the ``inputs`` stream.
"""

from __future__ import annotations

import importlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

from phystwin.hil.link import BenchLink, LinkError, TwinLink

__all__ = ["SCHEMES", "open_bench_link", "open_twin_link", "parse_url"]

SCHEMES: dict[str, tuple[str, str]] = {
    "udp": ("phystwin.hil.udp", "udp"),
    "mqtt": ("phystwin.hil.mqtt", "mqtt"),
    "mqtts": ("phystwin.hil.mqtt", "mqtt"),
    "opc.tcp": ("phystwin.hil.opcua", "opcua"),
    "can": ("phystwin.hil.can", "can"),
    "modbus": ("phystwin.hil.modbus", "modbus"),
}


def parse_url(url: str) -> tuple[urllib.parse.SplitResult, str, str]:
    """``(split url, transport module, options table name)``; LinkError naming the known schemes."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise LinkError(f"unknown transport in {url!r}: expected one of {known}")
    module, table = SCHEMES[parts.scheme]
    return parts, module, table


_WIDTH_AWARE = frozenset({"can", "modbus"})
"""Option tables of the transports whose factories take ``stream_widths``."""


def _open(
    url: str,
    side: str,
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    options: Mapping[str, Any],
    stream_widths: Mapping[str, int] | None,
) -> Any:
    parts, module, table = parse_url(url)
    mod = importlib.import_module(module)
    args = (parts, tuple(streams), tuple(actuators), dict(options.get(table, {})))
    if stream_widths is not None and table in _WIDTH_AWARE:
        return getattr(mod, side)(*args, stream_widths=dict(stream_widths))
    return getattr(mod, side)(*args)


def open_twin_link(
    url: str,
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    options: Mapping[str, Any] | None = None,
    stream_widths: Mapping[str, int] | None = None,
) -> TwinLink:
    """The twin's end of the link at ``url``; ``options`` is the config's ``[transport]`` table."""
    link: TwinLink = _open(url, "twin_link", streams, actuators, options or {}, stream_widths)
    return link


def open_bench_link(
    url: str,
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    options: Mapping[str, Any] | None = None,
    stream_widths: Mapping[str, int] | None = None,
) -> BenchLink:
    """The bench's end of the link at ``url``; ``options`` is the config's ``[transport]`` table."""
    link: BenchLink = _open(url, "bench_link", streams, actuators, options or {}, stream_widths)
    return link
