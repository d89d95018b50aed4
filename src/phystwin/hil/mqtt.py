"""MQTT transport: JSON payloads of :mod:`phystwin.hil.packets` through a broker (e.g. mosquitto).

Both ends are clients of one broker. The URL names the broker and the root of the topic tree::

    mqtt://[user[:password]@]host[:port]/<root>      plain TCP, port 1883 by default
    mqtts://[user[:password]@]host[:port]/<root>     TLS, port 8883 by default

Topic tree
----------
``<root>`` is the URL path without its leading and trailing slashes (it may have several levels,
``mqtt://127.0.0.1/lab/bench1``); ``phystwin`` when the path is empty.

=================================  ===========  ==========================================
topic                              QoS          payload
=================================  ===========  ==========================================
``<root>/measurements/<stream>``   ``qos`` (0)  JSON measurement, bench → twin
``<root>/commands/<actuator>``     1            JSON command, twin → bench
``<root>/status``                  1, retained  ``online`` / ``offline`` (the bench's Last Will)
=================================  ===========  ==========================================

A stream or actuator name becomes one topic level through :func:`topic_level` (percent-encoding of
everything but letters, digits and ``_.-~``), so names such as ``"current+speed"`` never collide
with the MQTT wildcards ``+`` and ``#`` or the level separator ``/``.

The twin subscribes to ``<root>/measurements/+`` and ``<root>/status``; the bench to
``<root>/commands/+``. Subscriptions are made in the connect callback, so they are renewed after
every reconnection. Messages on unknown streams or actuators, undecodable JSON and wrong fields are
counted in ``stats`` (:class:`~phystwin.hil.link.BadInputLog`), never raised.

Options (``[transport.mqtt]``, :class:`MqttOptions`)
----------------------------------------------------
``username``, ``password``, ``password_env`` (name of the environment variable holding the password;
prefer it to a password written in a config file or URL), ``tls`` (forced on by ``mqtts://``),
``ca_file``, ``cert_file``, ``key_file`` (client certificate), ``tls_insecure`` (skip the host name
check; the chain is still verified), ``qos`` (measurements, 0..2), ``keepalive`` [s],
``client_id`` (a random ``phystwin-twin-…``/``phystwin-bench-…`` by default), ``connect_timeout``
[s] (TCP + TLS + CONNACK + SUBACK of the first connection), ``queue_size`` (arrivals kept between
two polls; the oldest are dropped and counted beyond it).

Connection behaviour
--------------------
Building a link connects at once and returns once the broker has accepted the client and the
subscriptions (or raises :class:`~phystwin.hil.link.LinkError` naming the reason: refused TCP
connection, TLS failure, bad user name or password, not authorised, no answer). Afterwards paho's
network thread reconnects by itself (0.1 s to 1 s back-off); ``stats.events`` records
``connected``, ``disconnected`` and ``reconnected`` and ``stats.reconnects`` counts the rejoins.
While disconnected, QoS 0 messages are dropped and counted in ``stats.send_errors``; QoS 1/2
messages are queued by paho (up to 10 000) and sent after the reconnection.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import socket
import ssl
import threading
import time
import urllib.parse
from abc import abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from pydantic import BaseModel, ConfigDict, Field

from phystwin.errors import InvalidValueError
from phystwin.estimation.types import Measurement
from phystwin.hil._link_common import parse_options, resolve_password, shown_url, url_port
from phystwin.hil.link import Arrival, BenchLink, Command, CommandQueue, LinkEnd, LinkError, QueueBuffer, TwinLink
from phystwin.hil.packets import (
    PacketError,
    decode_command_json,
    decode_measurement_json,
    encode_command_json,
    encode_measurement_json,
)

__all__ = [
    "DEFAULT_ROOT",
    "MqttBenchLink",
    "MqttOptions",
    "MqttTwinLink",
    "MqttUrl",
    "bench_link",
    "parse_mqtt_url",
    "topic_level",
    "twin_link",
]

log = logging.getLogger("phystwin.hil")

DEFAULT_ROOT = "phystwin"
COMMAND_QOS = 1
STATUS_QOS = 1
ONLINE = b"online"
OFFLINE = b"offline"
_MAX_QUEUED = 10_000  # QoS > 0 messages paho keeps while disconnected
_MAX_COMMANDS = 10_000  # commands kept on the bench side between two polls
_Decoded = TypeVar("_Decoded")


class MqttOptions(BaseModel):
    """Options of the MQTT transport (the config's ``[transport.mqtt]`` table).

    Parameters
    ----------
    username, password : str, optional
        Credentials; override those of the URL.
    password_env : str, optional
        Name of an environment variable holding the password (preferred to ``password``).
    tls : bool
        Use TLS (implied by an ``mqtts://`` URL).
    ca_file : Path, optional
        PEM file of the certificate authorities to trust (system default when not given).
    cert_file, key_file : Path, optional
        Client certificate and its private key (PEM) for brokers that require one.
    tls_insecure : bool
        Do not check that the broker's certificate names the host (the chain is still verified).
    qos : int
        QoS of the measurement messages, 0..2 (commands always use 1).
    keepalive : float
        MQTT keep-alive interval [s] (rounded up to whole seconds).
    client_id : str, optional
        MQTT client identifier; a random one by default.
    connect_timeout : float
        Time allowed for the first connection, from TCP to the subscription acknowledgement [s].
    queue_size : int
        Measurements (twin side) kept between two polls; beyond it the oldest are dropped and counted.
    """

    model_config = ConfigDict(extra="forbid")
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_env: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    qos: int = Field(0, ge=0, le=2)
    keepalive: float = Field(10, gt=0, le=65_535)
    client_id: str | None = None
    connect_timeout: float = Field(5, gt=0, le=600)
    queue_size: int = Field(100_000, ge=1)


class MqttUrl(BaseModel):
    """The resolved connection settings of one link (URL and options merged)."""

    model_config = ConfigDict(frozen=True)
    host: str
    port: int
    root: str
    tls: bool
    username: str | None = None
    password: str | None = Field(None, repr=False)

    @property
    def where(self) -> str:
        """``mqtt[s]://host:port/root`` for messages (no credentials)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}/{self.root}"


def topic_level(name: str) -> str:
    """The topic level that carries the stream or actuator ``name`` (percent-encoded, see module doc).

    Parameters
    ----------
    name : str
        A stream or actuator name.

    Returns
    -------
    str
        ``name`` with every character but ASCII letters, digits and ``_.-~`` percent-encoded.
    """
    return urllib.parse.quote(name, safe="")


def _options(options: Mapping[str, Any]) -> MqttOptions:
    return parse_options(MqttOptions, options, "mqtt")


def parse_mqtt_url(url: urllib.parse.SplitResult, options: MqttOptions) -> MqttUrl:
    """Merge an ``mqtt://`` or ``mqtts://`` URL with the options (see the module docstring).

    Parameters
    ----------
    url : urllib.parse.SplitResult
        The split URL.
    options : MqttOptions
        Validated options.

    Returns
    -------
    MqttUrl
        Host, port, topic root, TLS flag and credentials.

    Raises
    ------
    LinkError
        Unknown scheme, missing host, bad port, wildcard in the root, missing password variable,
        password without a user name, TLS files that do not exist or TLS files without TLS.
    """
    shown = shown_url(url)  # never print a password
    if url.scheme not in ("mqtt", "mqtts"):
        raise LinkError(f"{shown}: expected an mqtt:// or mqtts:// URL")
    tls = url.scheme == "mqtts" or options.tls
    port = url_port(url, shown)
    if not url.hostname:
        raise LinkError(f"{shown}: expected mqtt://HOST[:PORT]/ROOT, e.g. mqtt://127.0.0.1:1883/phystwin")
    root = urllib.parse.unquote(url.path).strip("/") or DEFAULT_ROOT
    if "+" in root or "#" in root or "" in root.split("/") or "\0" in root:
        raise LinkError(f"{shown}: the topic root {root!r} must not hold '+', '#', NUL or empty levels")
    if url.query or url.fragment:
        raise LinkError(f"{shown}: query and fragment are not used; put options in [transport.mqtt]")

    username = options.username or (urllib.parse.unquote(url.username) if url.username else None)
    password = resolve_password("mqtt", options.password, options.password_env)
    if password is None and url.password is not None:
        password = urllib.parse.unquote(url.password)
    if password is not None and not username:
        raise LinkError(f"{shown}: a password is given but no user name")

    for key in ("ca_file", "cert_file", "key_file"):
        path: Path | None = getattr(options, key)
        if path is None:
            continue
        if not tls:
            raise LinkError(f"[transport.mqtt]: {key} is set but TLS is off (use mqtts:// or tls = true)")
        if not path.is_file():
            raise LinkError(f"[transport.mqtt]: {key}: {str(path)!r} is not a file")
    if options.key_file is not None and options.cert_file is None:
        raise LinkError("[transport.mqtt]: key_file is set but cert_file is not")
    if port is None:
        port = 8883 if tls else 1883
    return MqttUrl(host=url.hostname, port=port, root=root, tls=tls, username=username, password=password)


def _close_sockets_of(exc: BaseException) -> None:
    """Close the sockets a failed ``connect()`` left in its frames (paho does not on a TLS failure)."""
    tb = exc.__traceback__
    for _ in range(100):  # bounded walk of the traceback
        if tb is None:
            break
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, socket.socket):
                with contextlib.suppress(OSError):
                    value.close()
        tb = tb.tb_next


class _MqttEnd(LinkEnd):
    """The client, connection bookkeeping and callbacks common to both ends."""

    _role: str
    _status_topic: str

    def _prepare(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: MqttOptions
    ) -> MqttUrl:
        """Resolve the URL, set the names, counters, topic root and status topic; the resolved URL."""
        where = parse_mqtt_url(url, options)
        self._open_end(streams, actuators, f"mqtt {self._role} {where.where}")
        self.root = where.root
        self._status_topic = f"{where.root}/status"
        self._qos = options.qos
        return where

    def _decode(self, decode: Callable[[str, bytes], _Decoded], name: str, payload: bytes) -> _Decoded | None:
        """``decode(name, payload)``, or None with the reason counted when the payload is not valid."""
        try:
            return decode(name, payload)
        except PacketError as exc:
            self._bad(exc.reason, payload)
        except RecursionError:
            self._bad("json", payload)
        except (ValueError, TypeError, OverflowError):
            self._bad("field", payload)
        return None

    def _start(self, where: MqttUrl, options: MqttOptions, subscriptions: list[tuple[str, int]]) -> None:
        self._where = where
        self._options = options
        self._subscriptions = subscriptions
        self._closing = False
        self._close_lock = threading.Lock()
        self._closed = False
        self._ever_connected = False
        self._connected = threading.Event()
        self._first = threading.Event()  # set when the first connection is ready or has failed
        self._failure: str | None = None
        self._pending_subs: set[int] = set()

        client_id = options.client_id or f"phystwin-{self._role}-{secrets.token_hex(4)}"
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        self._client = client
        if where.username is not None:
            client.username_pw_set(where.username, where.password)
        if where.tls:
            try:
                client.tls_set(
                    ca_certs=str(options.ca_file) if options.ca_file else None,
                    certfile=str(options.cert_file) if options.cert_file else None,
                    keyfile=str(options.key_file) if options.key_file else None,
                    cert_reqs=ssl.CERT_REQUIRED,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )
            except (ssl.SSLError, OSError, ValueError) as exc:
                raise LinkError(f"{where.where}: cannot set up TLS ({exc})") from None
            if options.tls_insecure:
                client.tls_insecure_set(True)
        client.reconnect_delay_set(min_delay=0.1, max_delay=1)  # type: ignore[arg-type]
        client.connect_timeout = options.connect_timeout
        client.max_queued_messages_set(_MAX_QUEUED)
        self._configure(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message_safe

        deadline = time.monotonic() + options.connect_timeout
        keepalive = max(1, math.ceil(options.keepalive))
        try:
            client.connect(where.host, where.port, keepalive=keepalive)
        except ssl.SSLError as exc:
            _close_sockets_of(exc)
            detail = getattr(exc, "verify_message", None) or exc.reason or str(exc)
            raise LinkError(
                f"{where.where}: TLS handshake failed ({detail}; check ca_file and the host name)"
            ) from None
        except (ConnectionResetError, ConnectionAbortedError) as exc:
            _close_sockets_of(exc)
            hint = " (TLS handshake failed: is this a TLS listener?)" if where.tls else ""
            raise LinkError(f"{where.where}: cannot connect ({exc}){hint}") from None
        except (OSError, ValueError) as exc:
            _close_sockets_of(exc)
            raise LinkError(f"{where.where}: cannot connect ({exc})") from None
        client.loop_start()
        ok = self._first.wait(max(0.0, deadline - time.monotonic()))
        if not ok or self._failure is not None:
            reason = self._failure or (
                f"no answer from the broker within {options.connect_timeout:g} s"
                + (" (is this a TLS port reached without TLS?)" if not where.tls else "")
            )
            self._shutdown()
            raise LinkError(f"{where.where}: {self._role} connection failed: {reason}")

    # -- hooks for the two ends
    def _configure(self, client: paho.Client) -> None:
        """Set the Last Will and the like before connecting."""
        return  # optional hook: nothing by default

    def _on_ready(self, client: paho.Client) -> None:
        """Called on the network thread after each successful (re)connection."""
        return  # optional hook: nothing by default

    @abstractmethod
    def _on_message(self, msg: paho.MQTTMessage) -> None:
        """Decode one message of the subscribed topics (each end subscribes to its own)."""

    # -- paho callbacks (network thread; they never raise)
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        try:
            if reason_code.is_failure:
                text = str(reason_code)
                hint = {
                    "Bad user name or password": " (check username / password)",
                    "Not authorized": " (anonymous access refused or user not allowed; check the credentials)",
                }.get(text, "")
                if not self._ever_connected:
                    self._failure = f"refused by the broker: {text}{hint}"
                    self._first.set()
                else:
                    self.stats.event(f"refused: {text}")
                    log.warning("%s: reconnection refused by the broker: %s", self._where.where, text)
                return
            self._pending_subs.clear()
            for topic, qos in self._subscriptions:
                rc, mid = client.subscribe(topic, qos)
                if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
                    self._pending_subs.add(mid)
            self._connected.set()
            if self._ever_connected:
                self.stats.count("reconnects")
                self.stats.event("reconnected")
                log.info("%s: %s reconnected", self._where.where, self._role)
            else:
                self._ever_connected = True
                self.stats.event("connected")
            self._on_ready(client)
            if not self._pending_subs:
                self._first.set()
        except Exception:  # a callback must not kill the network thread
            log.exception("%s: error in the connect callback", self._where.where)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        try:
            failed = [str(rc) for rc in reason_codes if rc.is_failure]
            if failed:
                text = (
                    f"subscription refused by the broker ({', '.join(failed)}; check the ACL for {self._where.root}/#)"
                )
                if not self._first.is_set():
                    self._failure = text
                else:
                    log.warning("%s: %s", self._where.where, text)
            self._pending_subs.discard(mid)
            if not self._pending_subs:
                self._first.set()
        except Exception:
            log.exception("%s: error in the subscribe callback", self._where.where)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        try:
            was_connected = self._connected.is_set()
            self._connected.clear()
            if not self._ever_connected and not self._first.is_set():
                self._failure = self._failure or (
                    f"the broker closed the connection before accepting it ({reason_code})"
                    + (" (is this a TLS port reached without TLS?)" if not self._where.tls else "")
                )
                self._first.set()
                return
            if was_connected and not self._closing:
                self.stats.event("disconnected")
                log.warning("%s: %s disconnected (%s); reconnecting", self._where.where, self._role, reason_code)
        except Exception:
            log.exception("%s: error in the disconnect callback", self._where.where)

    def _on_message_safe(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            self._on_message(msg)
        except Exception as exc:  # never let bad input stop the network thread
            self._bad("internal", repr(exc))

    # -- common helpers
    @property
    def connected(self) -> bool:
        """Whether the client is connected to the broker now."""
        return self._connected.is_set()

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> bool:
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, OSError, RuntimeError) as exc:
            log.debug("%s: publish on %s failed: %s", self._where.where, topic, exc)
            self.stats.count("send_errors")
            return False
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos > 0):
            self.stats.count("sent")  # QoS > 0 while disconnected: queued by paho, sent on reconnection
            return True
        self.stats.count("send_errors")
        return False

    def _shutdown(self) -> None:
        self._closing = True
        with contextlib.suppress(Exception):  # best effort on the way out
            self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def close(self) -> None:
        """Disconnect and stop the network thread; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._before_close()
        self._shutdown()

    def _before_close(self) -> None:
        """Last words before disconnecting (the bench announces it goes offline)."""
        return  # optional hook: nothing by default


class MqttTwinLink(_MqttEnd, TwinLink):
    """The twin's end of an MQTT link (see the module docstring).

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``mqtt://`` or ``mqtts://`` URL of the broker and the topic root.
    streams : tuple of str
        Measurement streams to receive.
    actuators : tuple of str
        Actuators commands may be sent to.
    options : MqttOptions
        Validated options.
    """

    _role = "twin"

    def __init__(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: MqttOptions
    ) -> None:
        where = self._prepare(url, streams, actuators, options)
        self._buffer = QueueBuffer(self.stats, maxlen=options.queue_size, count_received="on_put")
        self._meas_prefix = f"{where.root}/measurements/"
        self._stream_of = {self._meas_prefix + topic_level(s): s for s in self.streams}
        self._command_topic = {a: f"{where.root}/commands/{topic_level(a)}" for a in self.actuators}
        self.bench_status: str | None = None
        """Last ``<root>/status`` payload seen (``"online"`` / ``"offline"``), None before any."""
        self._start(where, options, [(self._meas_prefix + "+", options.qos), (self._status_topic, STATUS_QOS)])

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        now = time.monotonic()
        topic = msg.topic
        payload = bytes(msg.payload)
        if topic == self._status_topic:
            status = payload.decode("utf-8", "replace")[:40]
            if status != self.bench_status:
                log.info("%s: bench is %s", self._where.where, status or "(no status)")
            self.bench_status = status
            return
        stream = self._stream_of.get(topic)
        if stream is None:
            self._bad("stream", topic)
            return
        meas = self._decode(decode_measurement_json, stream, payload)
        if meas is not None:
            self._buffer.put(Arrival(meas, now))

    def poll(self, timeout: float) -> list[Arrival]:
        """Measurements that arrived, waiting at most ``timeout`` seconds for the first one.

        Parameters
        ----------
        timeout : float
            Longest wait [s] when nothing is buffered.

        Returns
        -------
        list of Arrival
            In arrival order; empty on timeout.
        """
        return self._buffer.drain(timeout)

    def send_command(self, command: Command) -> None:
        """Publish ``command`` on ``<root>/commands/<actuator>`` with QoS 1 (never raises).

        Parameters
        ----------
        command : Command
            The command; an actuator not among ``actuators`` is counted in ``stats.send_errors``.
        """
        topic = self._command_topic.get(command.actuator)
        if topic is None:
            self.stats.count("send_errors")
            log.warning("%s: no actuator %r (configured: %s)", self._where.where, command.actuator, self.actuators)
            return
        self._publish(topic, encode_command_json(command), COMMAND_QOS)


class MqttBenchLink(_MqttEnd, BenchLink):
    """The bench's end of an MQTT link (see the module docstring).

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``mqtt://`` or ``mqtts://`` URL of the broker and the topic root.
    streams : tuple of str
        Measurement streams it publishes.
    actuators : tuple of str
        Actuators whose commands it receives.
    options : MqttOptions
        Validated options.
    """

    _role = "bench"

    def __init__(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: MqttOptions
    ) -> None:
        where = self._prepare(url, streams, actuators, options)
        self._cmd_prefix = f"{where.root}/commands/"
        self._actuator_of = {self._cmd_prefix + topic_level(a): a for a in self.actuators}
        self._stream_topic = {s: f"{where.root}/measurements/{topic_level(s)}" for s in self.streams}
        self._commands = CommandQueue(self._bad, _MAX_COMMANDS)
        self._start(where, options, [(self._cmd_prefix + "+", COMMAND_QOS)])

    def _configure(self, client: paho.Client) -> None:
        client.will_set(self._status_topic, OFFLINE, qos=STATUS_QOS, retain=True)

    def _on_ready(self, client: paho.Client) -> None:
        client.publish(self._status_topic, ONLINE, qos=STATUS_QOS, retain=True)

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        topic = msg.topic
        payload = bytes(msg.payload)
        actuator = self._actuator_of.get(topic)
        if actuator is None:
            self._bad("actuator", topic)
            return
        cmd = self._decode(decode_command_json, actuator, payload)
        if cmd is not None:
            self._commands.put(cmd)
            self.stats.count("received")

    def publish(self, measurement: Measurement) -> None:
        """Publish one sample on ``<root>/measurements/<stream>`` (never raises on transport errors).

        Parameters
        ----------
        measurement : Measurement
            The sample; ``measurement.sensor`` must be one of ``streams``.

        Raises
        ------
        ValueError
            If ``measurement.sensor`` is not one of ``streams`` (a configuration mistake).
        """
        topic = self._stream_topic.get(measurement.sensor)
        if topic is None:
            raise InvalidValueError(f"mqtt bench: stream {measurement.sensor!r} is not one of {self.streams}")
        self._publish(topic, encode_measurement_json(measurement), self._qos)

    def poll_commands(self) -> list[Command]:
        """Commands received since the last call, in arrival order (non-blocking).

        Returns
        -------
        list of Command
        """
        return self._commands.drain()

    def _before_close(self) -> None:
        if not self._connected.is_set():
            return
        try:
            info = self._client.publish(self._status_topic, OFFLINE, qos=STATUS_QOS, retain=True)
            info.wait_for_publish(timeout=1.0)
        except (ValueError, RuntimeError, OSError):
            pass


def twin_link(
    url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: Mapping[str, Any]
) -> MqttTwinLink:
    """Open the twin's end of an MQTT link (connected and subscribed on return).

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``mqtt://[user[:password]@]host[:port]/<root>`` or ``mqtts://…``.
    streams : tuple of str
        Measurement streams to receive.
    actuators : tuple of str
        Actuators commands may be sent to.
    options : Mapping
        The ``[transport.mqtt]`` table (see :class:`MqttOptions`).

    Returns
    -------
    MqttTwinLink

    Raises
    ------
    LinkError
        Bad options or URL (naming the key), or the first connection failed (naming the reason).
    """
    return MqttTwinLink(url, streams, actuators, _options(options))


def bench_link(
    url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: Mapping[str, Any]
) -> MqttBenchLink:
    """Open the bench's end of an MQTT link (connected and subscribed on return).

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``mqtt://[user[:password]@]host[:port]/<root>`` or ``mqtts://…``.
    streams : tuple of str
        Measurement streams it publishes.
    actuators : tuple of str
        Actuators whose commands it receives.
    options : Mapping
        The ``[transport.mqtt]`` table (see :class:`MqttOptions`).

    Returns
    -------
    MqttBenchLink

    Raises
    ------
    LinkError
        Bad options or URL (naming the key), or the first connection failed (naming the reason).
    """
    return MqttBenchLink(url, streams, actuators, _options(options))
