"""The bench's end of the OPC UA transport: a server holding one variable per stream and per
actuator, with the session checks of a secure bench (see :mod:`phystwin.hil.opcua`)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

from phystwin.errors import InvalidValueError, OperationError
from phystwin.estimation.types import Measurement
from phystwin.hil._opcua_codec import (
    BENCH_OBJECT,
    NAMESPACE,
    _sample_value,
    _ua,
    command_node_id,
    decode_command_value,
    stream_node_id,
)
from phystwin.hil._opcua_end import _MAX_PENDING, _STOP_TIMEOUT, _OpcuaEnd
from phystwin.hil._opcua_options import DEFAULT_BENCH_URI, OpcuaOptions, _application_uri, _der, _load_cert
from phystwin.hil.link import BenchLink, Command, CommandQueue, LinkError
from phystwin.hil.packets import MAX_VALUES, PacketError

log = logging.getLogger("phystwin.hil")

_INIT_TIMEOUT = 60.0  # s, building the standard address space of a server (CPU-bound, ~1-5 s)


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
        Stream and actuator names (the address space is described in :mod:`phystwin.hil.opcua`).
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
            raise OperationError(f"write refused: {status.name}")

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
            raise InvalidValueError(f"stream {measurement.sensor!r} is not one of {self.streams}")
        if measurement.value.size > MAX_VALUES:
            raise InvalidValueError(f"a sample carries at most {MAX_VALUES} values, got {measurement.value.size}")
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
