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

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import hmac
import logging
import math
import socket
import threading
import time
import urllib.parse
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from phystwin.estimation.types import Measurement
from phystwin.hil._link_common import parse_options, resolve_password, shown_url, url_port
from phystwin.hil.link import (
    Arrival,
    BenchLink,
    Command,
    CommandQueue,
    LinkEnd,
    LinkError,
    LinkStats,
    QueueBuffer,
    TwinLink,
)
from phystwin.hil.packets import MAX_VALUES, PacketError

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

log = logging.getLogger("phystwin.hil")

NAMESPACE = "urn:phystwin:bench"
BENCH_OBJECT = "PhysTwinBench"
DEFAULT_BENCH_URI = "urn:phystwin:bench"
DEFAULT_TWIN_URI = "urn:phystwin:twin"
MONITOR_QUEUE_SIZE = 1000
"""Server-side queue of each monitored item (samples kept between two publish cycles)."""
_MAX_PENDING = 100_000  # writes waiting for the event loop, per link
_HEADER = 3  # t, seq, quality
_SEQ_MAX = 2.0**53
_STOP_TIMEOUT = 3.0  # s, per close() stage
_INIT_TIMEOUT = 60.0  # s, building the standard address space of a server (CPU-bound, ~1-5 s)

_T = TypeVar("_T")


def _ua() -> Any:
    """The ``asyncua.ua`` module, imported lazily so the package imports without asyncua."""
    from asyncua import ua

    return ua


# --------------------------------------------------------------------------------------- options
class OpcuaOptions(BaseModel):
    """Options of the OPC UA transport (the config's ``[transport.opcua]`` table).

    Parameters
    ----------
    security_policy : str
        ``"None"``, ``"Basic256Sha256"``, ``"Aes128_Sha256_RsaOaep"`` or ``"Aes256_Sha256_RsaPss"``.
    security_mode : str
        ``"Sign"`` or ``"SignAndEncrypt"`` (ignored with policy ``"None"``).
    certificate, private_key : Path, optional
        This application's certificate (DER or PEM, with the application URI in its
        SubjectAlternativeName) and private key; required by a secure policy.
    server_certificate : Path, optional
        Twin side: the bench's certificate to trust; required by a secure policy.
    trusted_client_certificates : list of Path
        Bench side: the only client certificates accepted (empty: any valid one).
    username, password, password_env : str, optional
        User authentication; ``password_env`` names an environment variable holding the password.
    publishing_interval : float
        Twin side: subscription publishing interval [s].
    connect_timeout : float
        Connection (twin) or start (bench) timeout [s], also the timeout of each request.
    queue_size : int
        Twin side: arrivals kept between two polls (the oldest are dropped and counted beyond it).
    """

    model_config = ConfigDict(extra="forbid")
    security_policy: Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] = "None"
    security_mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None
    trusted_client_certificates: list[Path] = Field(default_factory=list)
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_env: str | None = None
    publishing_interval: float = Field(0.005, gt=0, le=60)
    connect_timeout: float = Field(5, gt=0, le=600)
    queue_size: int = Field(100_000, ge=1)


def _options(options: Mapping[str, Any]) -> OpcuaOptions:
    return parse_options(OpcuaOptions, options, "opcua")


def _password(options: OpcuaOptions) -> str | None:
    password = resolve_password("opcua", options.password, options.password_env)
    if password is not None and not options.username:
        raise LinkError("[transport.opcua]: password: a password is given but no username")
    return password


def _check_files(options: OpcuaOptions, *keys: str) -> None:
    for key in keys:
        value = getattr(options, key)
        paths = value if isinstance(value, list) else [value]
        for i, path in enumerate(paths):
            where = f"{key}[{i}]" if isinstance(value, list) else key
            if path is None:
                raise LinkError(f"[transport.opcua]: {where}: required by security_policy {options.security_policy!r}")
            if not Path(path).is_file():
                raise LinkError(f"[transport.opcua]: {where}: no such file {str(path)!r}")


def _endpoint(url: urllib.parse.SplitResult) -> tuple[str, int, str]:
    """(host, port, endpoint URL without credentials) of an ``opc.tcp://`` URL."""
    shown = shown_url(url)
    if url.scheme != "opc.tcp":
        raise LinkError(f"{shown}: expected an opc.tcp:// URL, e.g. opc.tcp://127.0.0.1:4840/phystwin/")
    port = url_port(url, shown)
    if port is None:
        port = 4840
    if not url.hostname:
        raise LinkError(f"{shown}: no host, expected e.g. opc.tcp://127.0.0.1:4840/phystwin/")
    host = url.hostname
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host, port, f"opc.tcp://{netloc}{url.path or '/'}"


def _security(options: OpcuaOptions) -> tuple[Any, Any]:
    """(policy class, message security mode) of a secure ``options.security_policy``."""
    from asyncua.crypto import security_policies as sp

    ua = _ua()
    policy = {
        "Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
        "Aes128_Sha256_RsaOaep": sp.SecurityPolicyAes128Sha256RsaOaep,
        "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss,
    }[options.security_policy]
    mode = ua.MessageSecurityMode.Sign if options.security_mode == "Sign" else ua.MessageSecurityMode.SignAndEncrypt
    return policy, mode


def _load_cert(path: Path) -> Any:
    from cryptography import x509

    data = Path(path).read_bytes()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise LinkError(f"[transport.opcua]: {path}: not a certificate ({exc})") from None


def _application_uri(cert_path: Path | None, default: str) -> str:
    """The first URI of the certificate's SubjectAlternativeName, else ``default``."""
    if cert_path is None:
        return default
    from cryptography import x509

    try:
        san = _load_cert(cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return default
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else default


def _der(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.DER))


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


# ------------------------------------------------------------------------------------ event loop
class _LoopThread:
    """An asyncio event loop running in a daemon thread, driven from synchronous code."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
                for task in tasks:
                    task.cancel()
                if tasks:
                    self.loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Call ``fn(*args)`` on the loop thread (non-blocking, in order)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float) -> bool:
        """Stop the loop and join the thread; False if it did not end within ``timeout``."""
        if self.loop.is_running():
            with contextlib.suppress(RuntimeError):  # loop already closed
                self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        return not self._thread.is_alive()


class _Writer:
    """Ordered, non-blocking writes: items queued from any thread, written by one task on the loop."""

    def __init__(self, loop_thread: _LoopThread, write: Callable[[Any], Awaitable[None]], stats: LinkStats, who: str):
        self._lt = loop_thread
        self._write = write
        self._stats = stats
        self._who = who
        self._pending = 0
        self._lock = threading.Lock()
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_error_log = -math.inf

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def submit(self, item: Any) -> None:
        with self._lock:
            if self._pending >= _MAX_PENDING:
                full = True
            else:
                full = False
                self._pending += 1
        if full or self._queue is None:
            self._stats.count("send_errors")
            return
        try:
            self._lt.call(self._queue.put_nowait, item)
        except RuntimeError:  # loop closed
            with self._lock:
                self._pending -= 1
            self._stats.count("send_errors")

    async def _drain(self) -> None:
        queue = self._queue
        if queue is None:
            return
        while True:
            item = await queue.get()
            try:
                await self._write(item)
                self._stats.count("sent")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._stats.count("send_errors")
                now = time.monotonic()
                if now - self._last_error_log >= 1.0:
                    self._last_error_log = now
                    log.warning("%s: write failed (%s: %s)", self._who, type(exc).__name__, exc)
            finally:
                with self._lock:
                    self._pending -= 1

    async def flush(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the queued writes are done."""
        deadline = time.monotonic() + timeout
        while self._pending > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# ---------------------------------------------------------------------------------------- both ends
class _OpcuaEnd(LinkEnd):
    """What both ends share: checked options, counters, the event loop thread and its ordered
    writer, the start-up that turns any failure into a :class:`LinkError`, and a bounded close."""

    _role: str
    """``"twin"`` or ``"bench"``, for thread names and messages."""
    _secure_files: tuple[str, ...]
    """Option keys of the files a secure policy needs on this side."""
    _teardown_step: str
    """How the close log names :meth:`_teardown` when it fails."""

    def _open(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: OpcuaOptions
    ) -> tuple[str, int]:
        """Check the URL, password and files; set names, options and counters; (host, port) of the URL."""
        host, port, self.endpoint = _endpoint(url)
        self._open_end(streams, actuators, f"opcua {self._role} <- {self.endpoint}")
        self.options = options
        self._password = _password(options)
        if options.security_policy != "None":
            _check_files(options, *self._secure_files)
        self._closed = False
        self._close_lock = threading.Lock()
        return host, port

    def _start_loop(self, write: Callable[[Any], Awaitable[None]], who: str) -> None:
        """Start the event loop thread and the writer that runs ``write`` on it (``who`` names it in logs)."""
        self._lt = _LoopThread(f"opcua-{self._role} {self.endpoint}")
        self._writer = _Writer(self._lt, write, self.stats, who)

    def _begin(self, coro: Coroutine[Any, Any, None], timeout: float, failing: str, event: str) -> None:
        """Run the start-up ``coro`` on the loop, then record ``event``.

        On any failure the end is shut down; a :class:`LinkError` passes through, any other error
        becomes ``LinkError("OPC UA <endpoint>: <failing> (<reason>)")``.
        """
        try:
            self._lt.run(coro, timeout)
        except Exception as exc:
            self._shutdown()
            if isinstance(exc, LinkError):
                raise
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise LinkError(f"OPC UA {self.endpoint}: {failing} ({reason})") from None
        self.stats.event(event)

    @abstractmethod
    async def _teardown(self) -> None:
        """Stop the writer and the client or server (on the loop, within ``_STOP_TIMEOUT``)."""

    def flush(self, timeout: float = 1.0) -> None:
        """Wait at most ``timeout`` seconds until the queued writes (commands or samples) are done."""
        if not self._closed:
            self._lt.run(self._writer.flush(timeout), timeout + 1.0)

    def _shutdown(self) -> None:
        self._closed = True
        try:
            if self._lt.loop.is_running():
                self._lt.run(self._teardown(), _STOP_TIMEOUT + 0.5)
        except Exception as exc:
            log.info("opcua %s %s: %s: %s: %s", self._role, self.endpoint, self._teardown_step, type(exc).__name__, exc)
        if not self._lt.stop(_STOP_TIMEOUT):
            log.warning("opcua %s %s: event loop thread did not stop in time", self._role, self.endpoint)

    def close(self) -> None:
        """Stop the client or server and its event loop thread (bounded, a few seconds at most); idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._shutdown()
            self.stats.event(f"closed {self.endpoint}")


# ------------------------------------------------------------------------------------------- twin
class _Handler:
    """Subscription handler: decodes data changes on the client's loop into the queue."""

    def __init__(self, link: OpcuaTwinLink) -> None:
        self._link = link

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        link = self._link
        received_at = time.monotonic()
        try:
            stream = link._stream_of.get(node.nodeid)
            if stream is None:
                link._bad("stream", str(node.nodeid))
                return
            dv = data.monitored_item.Value
            status = getattr(dv, "StatusCode", None)
            if status is not None and status.value == _ua().StatusCodes.BadWaitingForInitialData:
                return  # the bench has not published this stream yet
            meas = decode_sample(stream, dv)
        except PacketError as exc:
            link._bad(exc.reason, repr(val)[:40])
            return
        except Exception as exc:  # never let a notification kill the subscription
            link._bad("type", f"{type(exc).__name__}: {exc}"[:40])
            return
        link._queue.put(Arrival(meas, received_at))

    def status_change_notification(self, status: Any) -> None:
        self._link.stats.event(f"subscription status {getattr(status, 'Status', status)}")


class OpcuaTwinLink(_OpcuaEnd, TwinLink):
    """The twin's end: an OPC UA client subscribed to the bench's stream variables (module docstring).

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``opc.tcp://HOST:PORT/PATH`` of the bench's server.
    streams, actuators : tuple of str
        Stream and actuator names; every one must exist in the bench's address space.
    options : OpcuaOptions
        Transport options.

    Raises
    ------
    LinkError
        Bad options, unreachable server, refused security or credentials, missing variables; the
        message names the endpoint and the reason.
    """

    _role = "twin"
    _secure_files = ("certificate", "private_key", "server_certificate")
    _teardown_step = "disconnect"

    def __init__(
        self,
        url: urllib.parse.SplitResult,
        streams: tuple[str, ...],
        actuators: tuple[str, ...],
        options: OpcuaOptions,
    ) -> None:
        self._open(url, streams, actuators, options)
        self._queue = QueueBuffer(self.stats, options.queue_size, count_received="on_put")
        self._stream_of: dict[Any, str] = {}
        self._command_nodes: dict[str, Any] = {}
        self._client: Any = None
        self._start_loop(self._write_command, f"opcua twin -> {self.endpoint}")
        self._watch_task: asyncio.Task[None] | None = None
        self._begin(self._connect(), options.connect_timeout + 1.0, "cannot connect", f"connected to {self.endpoint}")

    async def _connect(self) -> None:
        from asyncua import Client

        ua = _ua()
        opts = self.options
        client = Client(self.endpoint, timeout=opts.connect_timeout, watchdog_intervall=1.0, auto_reconnect=True)
        client.session_timeout = 600_000
        client.name = "phystwin twin"
        client.application_uri = _application_uri(opts.certificate, DEFAULT_TWIN_URI)
        client.connection_lost_callback = self._on_lost
        if opts.security_policy != "None":
            policy, mode = _security(opts)
            await client.set_security(
                policy,
                str(opts.certificate),
                str(opts.private_key),
                server_certificate=str(opts.server_certificate),
                mode=mode,
            )
        if opts.username:
            client.set_user(opts.username)
            if self._password is not None:
                client.set_password(self._password)
        await asyncio.wait_for(client.connect(reconnect_max_delay=5.0), opts.connect_timeout)
        self._client = client
        try:
            ns = await client.get_namespace_index(NAMESPACE)
        except ValueError:
            raise LinkError(f"OPC UA {self.endpoint}: the server has no namespace {NAMESPACE!r}") from None
        nodes = []
        for stream in self.streams:
            node = client.get_node(stream_node_id(ns, stream))
            await self._check_node(node, f"stream {stream!r}")
            self._stream_of[node.nodeid] = stream
            nodes.append(node)
        for actuator in self.actuators:
            node = client.get_node(command_node_id(ns, actuator))
            await self._check_node(node, f"actuator {actuator!r}")
            self._command_nodes[actuator] = node
        await self._writer.start()
        if nodes:
            params = ua.CreateSubscriptionParameters()
            params.RequestedPublishingInterval = opts.publishing_interval * 1000.0
            params.RequestedMaxKeepAliveCount = max(1, math.ceil(1.0 / opts.publishing_interval))  # ~1 s
            params.RequestedLifetimeCount = min(15_000, 10 * params.RequestedMaxKeepAliveCount)
            params.MaxNotificationsPerPublish = 10_000
            params.PublishingEnabled = True
            sub = await client.create_subscription(params, _Handler(self))
            results = await sub.subscribe_data_change(
                nodes, queuesize=MONITOR_QUEUE_SIZE, sampling_interval=ua.Double(0.0)
            )
            for stream, res in zip(self.streams, results, strict=True):
                if isinstance(res, ua.StatusCode):
                    raise LinkError(f"OPC UA {self.endpoint}: cannot monitor stream {stream!r} ({res.name})")
        self._watch_task = asyncio.get_running_loop().create_task(self._watch_state())

    async def _check_node(self, node: Any, what: str) -> None:
        ua = _ua()
        try:
            await node.read_browse_name()
        except ua.UaStatusCodeError as exc:
            raise LinkError(f"OPC UA {self.endpoint}: {what} not found in the bench ({node.nodeid}: {exc})") from None

    async def _on_lost(self, exc: Exception) -> None:
        self.stats.event(f"disconnected from {self.endpoint} ({type(exc).__name__})")

    async def _watch_state(self) -> None:
        from asyncua.client.ua_client import UaClientState

        was_lost = False
        while not self._closed:  # ends with close() (cancelled)
            await asyncio.sleep(0.1)
            state = self._client.state
            if state is UaClientState.RECONNECTING:
                was_lost = True
            elif state is UaClientState.CONNECTED and was_lost:
                was_lost = False
                self.stats.count("reconnects")
                self.stats.event(f"reconnected to {self.endpoint}")

    async def _write_command(self, cmd: Command) -> None:
        ua = _ua()
        node = self._command_nodes[cmd.actuator]
        value = ua.DataValue(Value=ua.Variant([cmd.t, float(cmd.seq), cmd.value], ua.VariantType.Double))
        await node.write_value(value)

    def poll(self, timeout: float) -> list[Arrival]:
        """Measurements that arrived, waiting at most ``timeout`` seconds for the first one."""
        return self._queue.drain(timeout)

    def send_command(self, command: Command) -> None:
        """Queue ``command`` for writing to its command variable (ordered; ``stats.sent`` once written).

        Raises
        ------
        ValueError
            ``command.actuator`` is not one of ``actuators``.
        """
        if command.actuator not in self._command_nodes:
            raise ValueError(f"actuator {command.actuator!r} is not one of {self.actuators}")
        if self._closed or not 0 <= command.seq < _SEQ_MAX:
            self.stats.count("send_errors")
            return
        self._writer.submit(command)

    async def _teardown(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        await self._writer.stop()
        if self._client is not None:
            await asyncio.wait_for(self._client.disconnect(), _STOP_TIMEOUT)


# ------------------------------------------------------------------------------------------ bench
class _UserManager:
    """Refuses sessions on unsecured channels when security is required, checks client certificates
    and (optionally) a user name and password."""

    def __init__(self, secure: bool, trusted: set[bytes], username: str | None, password: str | None) -> None:
        self.secure = secure
        self.trusted = trusted
        self.username = username
        self.password = password

    def get_user(self, iserver: Any, username: Any = None, password: Any = None, certificate: Any = None) -> Any:
        from asyncua.crypto.permission_rules import User, UserRole

        if self.secure:
            if not certificate:
                log.warning("opcua bench: refused a session on a channel without security")
                return None
            der = certificate if isinstance(certificate, bytes) else _der(certificate)
            if self.trusted and der not in self.trusted:
                log.warning("opcua bench: refused a client certificate that is not trusted")
                return None
        if self.username is not None:
            given = password.decode() if isinstance(password, bytes) else (password or "")
            if username != self.username or not hmac.compare_digest(given.encode(), (self.password or "").encode()):
                log.warning("opcua bench: refused user %r (wrong user name or password)", username)
                return None
        return User(role=UserRole.User, name=username)


def _check_port_free(host: str, port: int, endpoint: str) -> None:
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise LinkError(f"OPC UA {endpoint}: cannot start the server (host {host!r}: {exc})") from None
    family, socktype, proto, _, addr = infos[0]
    with socket.socket(family, socktype, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
        try:
            sock.bind(addr)
        except OSError as exc:
            raise LinkError(f"OPC UA {endpoint}: cannot start the server (bind {addr}: {exc})") from None


class OpcuaBenchLink(_OpcuaEnd, BenchLink):
    """The bench's end: an OPC UA server holding one variable per stream and per actuator.

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``opc.tcp://HOST:PORT/PATH``; the server listens on HOST only.
    streams, actuators : tuple of str
        Stream and actuator names (module docstring for the address space).
    options : OpcuaOptions
        Transport options.

    Raises
    ------
    LinkError
        Bad options, or the server cannot start (port in use, bad certificate); names the endpoint.
    """

    _role = "bench"
    _secure_files = ("certificate", "private_key", "trusted_client_certificates")
    _teardown_step = "stop"

    def __init__(
        self,
        url: urllib.parse.SplitResult,
        streams: tuple[str, ...],
        actuators: tuple[str, ...],
        options: OpcuaOptions,
    ) -> None:
        self._host, self._port = self._open(url, streams, actuators, options)
        secure = options.security_policy != "None"
        trusted = {_der(_load_cert(p)) for p in options.trusted_client_certificates}
        self._users = _UserManager(secure, trusted, options.username, self._password)
        self._commands = CommandQueue(self._bad, _MAX_PENDING)
        self._last_seq: dict[str, int] = {}
        self._stream_nodes: dict[str, Any] = {}
        self._forced: set[Any] = set()
        self._server: Any = None
        _check_port_free(self._host, self._port, self.endpoint)  # fail fast, before the slow server init
        self._start_loop(self._write_sample, f"opcua bench {self.endpoint}")
        self._begin(
            self._start(),
            options.connect_timeout + _INIT_TIMEOUT,
            "cannot start the server",
            f"listening on {self.endpoint}",
        )

    async def _start(self) -> None:
        from asyncua import Server

        ua = _ua()
        opts = self.options
        server = Server(user_manager=self._users)  # type: ignore[arg-type]  # duck-typed UserManager
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("phystwin bench")
        server.allow_remote_admin(False)
        await server.set_application_uri(_application_uri(opts.certificate, DEFAULT_BENCH_URI))
        if opts.security_policy == "None":
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            await server.load_certificate(str(opts.certificate))
            await server.load_private_key(str(opts.private_key))
            policy_type = getattr(
                ua.SecurityPolicyType, f"{opts.security_policy.replace('_', '')}_{opts.security_mode}"
            )
            server.set_security_policy([policy_type])
        tokens = [ua.UserNameIdentityToken] if opts.username else [ua.AnonymousIdentityToken]
        server.set_identity_tokens(tokens)
        ns = await server.register_namespace(NAMESPACE)
        bench = await server.nodes.objects.add_object(ua.NodeId(BENCH_OBJECT, ns), ua.QualifiedName(BENCH_OBJECT, ns))
        waiting = ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData))
        for stream in self.streams:
            node = await bench.add_variable(
                stream_node_id(ns, stream),
                ua.QualifiedName(stream, ns),
                ua.Variant([], ua.VariantType.Double),
                varianttype=ua.VariantType.Double,
            )
            await node.write_value_rank(ua.ValueRank.OneDimension)
            await server.write_attribute_value(node.nodeid, waiting)
            self._stream_nodes[stream] = node.nodeid
        if self.actuators:
            folder = await bench.add_folder(ua.NodeId(f"{BENCH_OBJECT}.Commands", ns), ua.QualifiedName("Commands", ns))
            for actuator in self.actuators:
                node = await folder.add_variable(
                    command_node_id(ns, actuator),
                    ua.QualifiedName(actuator, ns),
                    ua.Variant([], ua.VariantType.Double),
                    varianttype=ua.VariantType.Double,
                )
                await node.write_value_rank(ua.ValueRank.OneDimension)
                await server.write_attribute_value(node.nodeid, waiting)
                await node.set_writable()
                server.set_attribute_value_setter(node.nodeid, self._command_setter(actuator))
        await self._writer.start()
        await asyncio.wait_for(server.start(), opts.connect_timeout)
        self._server = server

    def _command_setter(self, actuator: str) -> Callable[[Any, Any, Any], None]:
        def setter(node: Any, attr: Any, value: Any) -> None:
            node.attributes[attr].value = value  # keep the written value readable
            try:
                cmd = decode_command_value(actuator, value)
            except PacketError as exc:
                self._bad(exc.reason, repr(getattr(value, "Value", value))[:40])
                return
            except Exception as exc:
                self._bad("type", f"{type(exc).__name__}: {exc}"[:40])
                return
            if self._last_seq.get(actuator) == cmd.seq:
                self._bad("duplicate", f"{actuator} seq {cmd.seq}")
                return
            self._last_seq[actuator] = cmd.seq
            self._commands.put(cmd)
            self.stats.count("received")

        return setter

    async def _write_sample(self, item: tuple[Any, Any, bool]) -> None:
        nodeid, dv, force = item
        if force or nodeid in self._forced:
            # fault injection: skip the server's variant type check (imitates a non-conforming server),
            # and once more for the next sample so the stream gets back to its Double array
            self._server.iserver.aspace._nodes[nodeid].attributes[_ua().AttributeIds.Value].value = None
            (self._forced.add if force else self._forced.discard)(nodeid)
        status = await self._server.iserver.aspace.write_attribute_value(nodeid, _ua().AttributeIds.Value, dv)
        if not status.is_good():
            raise RuntimeError(f"write refused: {status.name}")

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server's socket is bound to."""
        bserver = getattr(self._server, "bserver", None)
        sockets = getattr(getattr(bserver, "_server", None), "sockets", None) or ()
        for sock in sockets:
            name = sock.getsockname()
            return str(name[0]), int(name[1])
        return self._host, self._port

    def publish(self, measurement: Measurement) -> None:
        """Queue one sample for writing to its stream variable (ordered, non-blocking).

        Raises
        ------
        ValueError
            ``measurement.sensor`` is not one of ``streams`` or it has more than ``MAX_VALUES`` values.
        """
        nodeid = self._stream_nodes.get(measurement.sensor)
        if nodeid is None:
            raise ValueError(f"stream {measurement.sensor!r} is not one of {self.streams}")
        if measurement.value.size > MAX_VALUES:
            raise ValueError(f"a sample carries at most {MAX_VALUES} values, got {measurement.value.size}")
        if self._closed:
            self.stats.count("send_errors")
            return
        self._writer.submit((nodeid, _sample_value(measurement), False))

    def inject_raw(self, stream: str, value: Any, *, force_type: bool = False) -> None:
        """Write ``value`` (an ``asyncua.ua.DataValue`` or ``Variant``) to a stream variable as is.

        Fault injection for tests. ``force_type=True`` bypasses the server's variant type check to
        imitate a non-conforming server (e.g. a String where a Double array is declared). The write is
        queued in order with :meth:`publish`.
        """
        ua = _ua()
        nodeid = self._stream_nodes[stream]
        dv = value if isinstance(value, ua.DataValue) else ua.DataValue(Value=value)
        self._writer.submit((nodeid, dv, force_type))

    def poll_commands(self) -> list[Command]:
        """Commands written by clients since the last call (non-blocking)."""
        return self._commands.drain()

    async def _teardown(self) -> None:
        await self._writer.stop()
        if self._server is not None:
            iserver = self._server.iserver
            clock = getattr(iserver, "time_task", None)
            if clock is not None:  # the server clock sleeps 1 s between updates: do not wait for it
                iserver._time_task_stop = True
                clock.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await clock
                iserver.time_task = None
            await asyncio.wait_for(self._server.stop(), _STOP_TIMEOUT)


# -------------------------------------------------------------------------------------- factories
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
