"""The twin's end of the OPC UA transport: a client subscribed to the bench's stream variables that
writes its actuator commands back (see :mod:`phystwin.hil.opcua`)."""

from __future__ import annotations

import asyncio
import math
import time
import urllib.parse
from typing import Any

from phystwin.errors import InvalidValueError
from phystwin.hil._opcua_codec import _SEQ_MAX, NAMESPACE, _ua, command_node_id, decode_sample, stream_node_id
from phystwin.hil._opcua_end import _STOP_TIMEOUT, _OpcuaEnd
from phystwin.hil._opcua_options import DEFAULT_TWIN_URI, OpcuaOptions, _application_uri, _security
from phystwin.hil.link import Arrival, Command, LinkError, QueueBuffer, TwinLink
from phystwin.hil.packets import PacketError

MONITOR_QUEUE_SIZE = 1000
"""Server-side queue of each monitored item (samples kept between two publish cycles)."""


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
    """The twin's end: an OPC UA client subscribed to the bench's stream variables (see :mod:`phystwin.hil.opcua`).

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
            raise InvalidValueError(f"actuator {command.actuator!r} is not one of {self.actuators}")
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
