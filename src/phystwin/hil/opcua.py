"""OPC UA transport (asyncua): the virtual bench is the OPC UA **server**, the twin is a **client**.

Like a PLC or a test-rig controller, the bench serves its signals; the twin subscribes to them and
writes its actuator commands back.

Address space
-------------
Namespace ``urn:phystwin:bench`` (index looked up by URI, never assumed), under ``Objects``::

    PhysTwinBench                      object      ns=<i>;s=PhysTwinBench
      <stream>                         Double[]    ns=<i>;s=PhysTwinBench.<stream>            read-only
      Commands                         folder      ns=<i>;s=PhysTwinBench.Commands
        <actuator>                     Double[]    ns=<i>;s=PhysTwinBench.Commands.<actuator> writable

A **stream** variable holds one whole sample ``[t, seq, quality, v0, v1, ...]`` (t [s], sequence
number and quality flag as exact doubles, then the values in SI units), written atomically, so a
subscription always delivers consistent samples. Until the first sample its status is
``BadWaitingForInitialData``. A **command** variable holds ``[t, seq, value]`` written by the twin.

Twin side
---------
One subscription (publishing interval ``publishing_interval``) with a monitored item per stream
(sampling interval 0, queue size :data:`MONITOR_QUEUE_SIZE`, discard oldest), so a burst of
samples between two publish cycles is delivered whole rather than coalesced. Notifications are
decoded on the client's event loop into :class:`~phystwin.estimation.types.Measurement` values and
handed to :meth:`OpcuaTwinLink.poll` through a :class:`~phystwin.hil.link.QueueBuffer`. Values
that are not a sample (bad status, wrong variant type, not a flat array, too short or too long,
non-finite ``t``, invalid ``seq``/``quality``) are counted in ``stats.bad_reasons`` (tags ``status``,
``type``, ``short``, ``length``, ``time``, ``field``) and never raise. The client reconnects by itself
(asyncua's supervisor, subscriptions re-created); ``disconnected``/``reconnected`` are recorded in
``stats.events``. Commands are written in order by one writer task, without blocking the caller.

Bench side
----------
:meth:`OpcuaBenchLink.publish` hands the sample to the server's event loop (in order, without
blocking); a setter on every command variable decodes each client write into a
:class:`~phystwin.hil.link.Command` (invalid writes and repeated sequence numbers are counted, not
applied) for :meth:`OpcuaBenchLink.poll_commands`. The server listens on the URL's host only
(``opc.tcp://127.0.0.1:4840/phystwin/``: loopback).

Security
--------
``security_policy`` ``"None"`` (default) or one of ``Basic256Sha256``, ``Aes128_Sha256_RsaOaep``,
``Aes256_Sha256_RsaPss`` with ``security_mode`` ``Sign`` or ``SignAndEncrypt``. Both ends then need
``certificate`` (DER or PEM) and ``private_key``; the application URI is taken from the certificate's
SubjectAlternativeName (defaults ``urn:phystwin:bench`` / ``urn:phystwin:twin``). A secure bench
offers **only** that endpoint and refuses to activate a session on a channel without security (asyncua
would otherwise accept a client that skips the endpoint check); with ``trusted_client_certificates``
only those client certificates are accepted (empty: any valid certificate, encryption without client
authentication). The twin must be given the bench's certificate (``server_certificate``): it is not
fetched from the network. ``username`` with ``password`` or ``password_env`` (name of an environment
variable; preferred) adds user authentication: a bench configured with a user name refuses anonymous
clients. Remote admin access is disabled.

Throughput: about 1,000-1,300 samples/s end to end were observed on a loaded 2-core machine
(``tests/hil/test_opcua.py``: 600 samples, all delivered in order); :meth:`OpcuaBenchLink.publish`
does not block, the publishing interval bounds the added latency. Building the server's standard
address space takes 1-5 s of CPU when a bench link is opened.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from phystwin.hil._opcua_bench import OpcuaBenchLink
from phystwin.hil._opcua_codec import (
    BENCH_OBJECT,
    NAMESPACE,
    command_node_id,
    decode_command_value,
    decode_sample,
    stream_node_id,
)
from phystwin.hil._opcua_options import DEFAULT_BENCH_URI, DEFAULT_TWIN_URI, OpcuaOptions, _options
from phystwin.hil._opcua_twin import MONITOR_QUEUE_SIZE, OpcuaTwinLink

__all__ = [
    "BENCH_OBJECT",
    "DEFAULT_BENCH_URI",
    "DEFAULT_TWIN_URI",
    "MONITOR_QUEUE_SIZE",
    "NAMESPACE",
    "OpcuaBenchLink",
    "OpcuaOptions",
    "OpcuaTwinLink",
    "bench_link",
    "command_node_id",
    "decode_command_value",
    "decode_sample",
    "stream_node_id",
    "twin_link",
]


def twin_link(
    url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: Mapping[str, Any]
) -> OpcuaTwinLink:
    """The twin's end: connect to the bench's OPC UA server at ``url`` and subscribe to ``streams``.

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``opc.tcp://HOST:PORT/PATH``.
    streams, actuators : tuple of str
        Stream and actuator names.
    options : Mapping
        The ``[transport.opcua]`` table (see :class:`OpcuaOptions`).

    Returns
    -------
    OpcuaTwinLink

    Raises
    ------
    LinkError
        Bad option (named), or the connection failed (endpoint and reason).
    """
    return OpcuaTwinLink(url, streams, actuators, _options(options))


def bench_link(
    url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: Mapping[str, Any]
) -> OpcuaBenchLink:
    """The bench's end: an OPC UA server at ``url`` serving ``streams`` and accepting ``actuators`` commands.

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``opc.tcp://HOST:PORT/PATH``; the server binds HOST only.
    streams, actuators : tuple of str
        Stream and actuator names.
    options : Mapping
        The ``[transport.opcua]`` table (see :class:`OpcuaOptions`).

    Returns
    -------
    OpcuaBenchLink

    Raises
    ------
    LinkError
        Bad option (named), or the server cannot start (endpoint and reason).
    """
    return OpcuaBenchLink(url, streams, actuators, _options(options))
