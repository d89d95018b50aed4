r"""Modbus TCP transport (pymodbus): benches whose I/O sits behind a PLC.

URL ``modbus://HOST:PORT`` (``modbus://127.0.0.1:5020``; host defaults to ``127.0.0.1``, port to
502). The **bench** is the Modbus TCP server (a pymodbus server on its own asyncio loop in a
background thread, bound to the URL's host; port 0 picks a free port, see
:attr:`ModbusBenchLink.address`). The **twin** is a client that reads every stream block once per
``poll_interval`` and writes one actuator block per command.

Register map
------------
Every stream and every actuator owns one block of holding registers::

    stream block    offset  registers  content
                    0       2          seq, u32
                    2       4          t [s], f64
                    6       4 each     the n values, f64 (SI units)      -> 6 + 4 n registers
    actuator block  0       2          seq, u32
                    2       4          t [s] (twin time), f64
                    6       4          value, f64                          -> 10 registers

Numbers are big-endian: the most significant byte first inside a register and the most significant
register (word) first (``struct.pack(">Id")`` cut into 16-bit registers; "ABCD" / big-endian word
order in PLC terms). A block whose registers are all ``0xFFFF`` was never written (the bench
initialises its blocks so) and is skipped silently. The sample quality flag does not travel.

``[transport.modbus]`` table (the same on both sides)::

    [transport.modbus]
    poll_interval = "5 ms"      # twin: period of the stream reads (s, or a string with a time unit)
    unit_id = 1                 # Modbus unit (slave) id of the bench
    timeout = 1.0               # twin: request timeout [s]
    connect_timeout = 5.0       # twin: how long the first connection may take before LinkError [s]
    reconnect_delay = 0.1       # twin: first wait after a lost connection [s], doubled up to 1 s

    [transport.modbus.streams."current+speed"]   # one block per stream
    address = 0                 # first holding register
    values = 2                  # optional: values of the stream (default: the caller's
                                # stream_widths, else the number of "+"-joined names,
                                # "current+speed" -> 2; the "inputs" stream needs stream_widths)

    [transport.modbus.actuators.voltage]
    address = 100

Without a ``streams`` table the stream blocks are laid out one after the other from register 0 in
the order of the ``streams`` tuple; without an ``actuators`` table the actuator blocks from register
1000. A table that is given must list every stream (actuator); blocks must not overlap, and a stream
block must fit one read request (125 registers: at most 29 values).

Semantics
---------
* Twin: a stream block whose content changed since the last read is a new sample, delivered as a
  :class:`~phystwin.estimation.types.Measurement`. Polling only sees the latest sample: samples the
  bench overwrote between two reads are lost. They are counted from the gaps in ``seq`` (the bench
  must number its samples 0, 1, 2, ...) in :attr:`ModbusTwinLink.skipped`, **not** as bad input. Keep
  ``poll_interval`` well under the bench's publish period (or publish slow-changing streams).
  A changed block that does not decode (non-finite ``t``, registers out of range, a short answer) is
  counted in ``stats.bad`` once per change; a Modbus exception answer (e.g. illegal address: the map
  does not match the PLC) in ``stats.bad_reasons["exception"]``.
* Transport failures (server gone, timeout) are counted in ``stats.send_errors`` (each failed
  request, read or write) and :attr:`ModbusTwinLink.read_errors` (failed reads), and recorded as the
  events ``"disconnected"`` then ``"reconnected"`` (with ``stats.reconnects``) once a request
  succeeds again. The poll thread reconnects by itself, retrying after ``reconnect_delay`` (doubled
  up to 1 s); a command sent while disconnected is counted in ``send_errors`` and not queued.
* A command is one ``write_registers`` call holding the whole actuator block, so the bench never
  sees half of it. The bench takes a block as a new command when its ``seq`` changes (a PLC program
  writing the block piecewise must write ``seq`` last), so commands must carry changing sequence
  numbers. A new command with a non-finite ``t`` or value is counted bad and not delivered.
* Bench: :meth:`ModbusBenchLink.publish` updates the register mirror under a lock that the server's
  request hook also takes, so a read sees a block either before or after a sample, never half of it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import struct
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from phystwin.errors import InvalidValueError
from phystwin.estimation.types import Measurement
from phystwin.hil._link_common import Seconds, parse_options, quoted_key, stream_width, url_port
from phystwin.hil.link import Arrival, BenchLink, Command, CommandQueue, LinkEnd, LinkError, QueueBuffer, TwinLink

__all__ = [
    "ACTUATOR_BLOCK",
    "EMPTY",
    "MAX_READ",
    "Block",
    "ModbusBenchLink",
    "ModbusOptions",
    "ModbusTwinLink",
    "RegisterMap",
    "bench_link",
    "decode_block",
    "encode_block",
    "register_map",
    "twin_link",
]

log = logging.getLogger("phystwin.hil")

EMPTY = 0xFFFF
"""Register value of a block that was never written (every register of it)."""
HEAD = 6
"""Registers of a block's head: seq (2) and t (4)."""
ACTUATOR_BLOCK = HEAD + 4
MAX_READ = 125
"""Registers one read request returns at most (Modbus limit)."""
DEFAULT_ACTUATOR_BASE = 1000
_MAX_BACKOFF = 1.0
_MAX_COMMANDS = 100_000


# ---------------------------------------------------------------------------------------- options
class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamBlockOptions(_Table):
    """``[transport.modbus.streams."<stream>"]``: where the stream's block starts and its width."""

    address: int = Field(ge=0, le=65535)
    values: int | None = Field(None, ge=1)


class ActuatorBlockOptions(_Table):
    """``[transport.modbus.actuators.<actuator>]``: where the actuator's block starts."""

    address: int = Field(ge=0, le=65535)


class ModbusOptions(_Table):
    """``[transport.modbus]`` options (see the module docstring)."""

    poll_interval: Seconds = 0.005
    unit_id: int = Field(1, ge=0, le=255)
    timeout: Seconds = 1.0
    connect_timeout: Seconds = 5.0
    reconnect_delay: Seconds = 0.1
    streams: dict[str, StreamBlockOptions] | None = None
    actuators: dict[str, ActuatorBlockOptions] | None = None


def _options(options: Mapping[str, Any]) -> ModbusOptions:
    return parse_options(ModbusOptions, options, "modbus", terse=True, key=quoted_key)


@dataclass(frozen=True)
class Block:
    """One block of holding registers: ``size`` registers from ``address``, carrying ``n`` values."""

    name: str
    address: int
    n: int

    @property
    def size(self) -> int:
        return HEAD + 4 * self.n

    @property
    def end(self) -> int:
        return self.address + self.size


@dataclass(frozen=True)
class RegisterMap:
    """The blocks of the streams and of the actuators, in the order of their tuples."""

    streams: tuple[Block, ...]
    actuators: tuple[Block, ...]

    @property
    def end(self) -> int:
        """One past the highest register used."""
        return max((b.end for b in self.streams + self.actuators), default=0)


def register_map(
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    opts: ModbusOptions,
    stream_widths: Mapping[str, int] | None = None,
) -> RegisterMap:
    """The register map of the options (or the default one); :class:`LinkError` naming the bad key.

    Parameters
    ----------
    streams, actuators : tuple of str
        Stream and actuator names.
    opts : ModbusOptions
        Validated ``[transport.modbus]`` options.
    stream_widths : Mapping[str, int], optional
        Number of values per stream when known (a ``values`` key in the table wins).
    """
    where = "[transport.modbus]"
    blocks: list[Block] = []
    if opts.streams is None:
        address = 0
        for name in streams:
            blocks.append(Block(name, address, stream_width(name, stream_widths)))
            address = blocks[-1].end
    else:
        _same_names(f"{where} streams", list(opts.streams), streams)
        for name in streams:
            o = opts.streams[name]
            blocks.append(Block(name, o.address, stream_width(name, stream_widths, o.values)))
    acts: list[Block] = []
    if opts.actuators is None:
        address = DEFAULT_ACTUATOR_BASE
        for name in actuators:
            acts.append(Block(name, address, 1))
            address = acts[-1].end
    else:
        _same_names(f"{where} actuators", list(opts.actuators), actuators)
        acts = [Block(name, opts.actuators[name].address, 1) for name in actuators]
    for b in blocks:
        if b.size > MAX_READ:
            raise LinkError(
                f'{where} streams."{b.name}": {b.n} values need {b.size} registers; one read returns at '
                f"most {MAX_READ} (at most {(MAX_READ - HEAD) // 4} values per stream)"
            )
    labelled = [(f'streams."{b.name}"', b) for b in blocks] + [(f'actuators."{b.name}"', b) for b in acts]
    for label, b in labelled:
        if b.end > 65536:
            raise LinkError(f"{where} {label}.address = {b.address}: the block ends past register 65535")
    ordered = sorted(labelled, key=lambda lb: lb[1].address)
    for (la, a), (lb, b) in itertools.pairwise(ordered):
        if b.address < a.end:
            raise LinkError(f"{where} {lb}.address = {b.address} overlaps {la} (registers {a.address}..{a.end - 1})")
    return RegisterMap(tuple(blocks), tuple(acts))


def _same_names(where: str, given: list[str], expected: tuple[str, ...]) -> None:
    unknown = [n for n in given if n not in expected]
    missing = [n for n in expected if n not in given]
    if unknown:
        raise LinkError(f'{where}."{unknown[0]}": unknown; expected one of {list(expected)}')
    if missing:
        raise LinkError(
            f'{where}: no block for "{missing[0]}" (a table that is given must list all of {list(expected)})'
        )


# ---------------------------------------------------------------------------------------- codec
def encode_block(seq: int, t: float, values: Sequence[float]) -> list[int]:
    """Registers of a block: seq (u32), t (f64), values (f64), big-endian words and bytes."""
    data = struct.pack(f">Id{len(values)}d", seq % 2**32, t, *values)
    return list(struct.unpack(f">{len(data) // 2}H", data))


def decode_block(regs: Sequence[int], n: int) -> tuple[int, float, tuple[float, ...]] | None:
    """``(seq, t, values)`` of a block of ``n`` values, or None for an empty (never written) block.

    Raises
    ------
    ValueError
        With a reason tag as message: ``"length"`` (wrong number of registers), ``"register"``
        (a value outside 0..65535) or ``"time"`` (non-finite ``t``).
    """
    if len(regs) != HEAD + 4 * n:
        raise InvalidValueError("length")
    if all(r == EMPTY for r in regs):
        return None
    try:
        data = struct.pack(f">{len(regs)}H", *regs)
    except struct.error:
        raise InvalidValueError("register") from None
    seq, t, *values = struct.unpack(f">Id{n}d", data)
    if not math.isfinite(t):
        raise InvalidValueError("time")
    return int(seq), float(t), tuple(values)


def _address(url: urllib.parse.SplitResult) -> tuple[str, int]:
    port = url_port(url)
    return url.hostname or "127.0.0.1", 502 if port is None else port


class _ModbusEnd(LinkEnd):
    """What both ends share: names, options, the register map and counters."""

    def _open(
        self,
        url: urllib.parse.SplitResult,
        streams: tuple[str, ...],
        actuators: tuple[str, ...],
        opts: ModbusOptions,
        regmap: RegisterMap,
        source: str,
    ) -> None:
        """Set names, options, map and counters; ``source`` prefixes the URL in bad-input logs."""
        self._url = url.geturl()
        self._open_end(streams, actuators, f"{source} {self._url}")
        self.options = opts
        self.map = regmap


# ---------------------------------------------------------------------------------------- twin
class ModbusTwinLink(_ModbusEnd, TwinLink):
    """The twin's end: a Modbus TCP client polling the stream blocks (see the module docstring)."""

    def __init__(
        self,
        url: urllib.parse.SplitResult,
        streams: tuple[str, ...],
        actuators: tuple[str, ...],
        opts: ModbusOptions,
        regmap: RegisterMap,
    ) -> None:
        self._open(url, streams, actuators, opts, regmap, "modbus")
        self.skipped = 0
        """Samples lost between two polls (from gaps in ``seq``)."""
        self.read_errors = 0
        """Stream reads that failed at the transport (also counted in ``stats.send_errors``)."""
        self.polls = 0
        """Completed poll cycles."""
        self._host, self._port = _address(url)
        self._buffer = QueueBuffer(self.stats, count_received="on_drain")
        self._last_raw: list[tuple[int, ...] | None] = [None] * len(regmap.streams)
        self._last_seq: list[int | None] = [None] * len(regmap.streams)
        self._last_cmd_seq: dict[str, int] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()  # the client is used by the poll thread and send_command
        self._connected = False
        self._closed = False
        self._failures = 0
        self._stop = threading.Event()
        self._client = ModbusTcpClient(
            self._host, port=self._port, timeout=opts.timeout, retries=0, reconnect_delay=0, name="phystwin"
        )
        deadline = time.monotonic() + opts.connect_timeout
        while not self._client.connect():
            if time.monotonic() >= deadline:
                self._client.close()
                raise LinkError(
                    f"{self._url}: no Modbus server answers at {self._host}:{self._port} "
                    f"(tried for {opts.connect_timeout:g} s)"
                )
            time.sleep(min(0.05, opts.connect_timeout))
        self._connected = True
        self.stats.event("connected")
        self._thread = threading.Thread(target=self._poll_loop, name=f"modbus-poll {self._url}", daemon=True)
        self._thread.start()

    # -- transport state (call with self._lock held)
    def _failed(self, what: str, exc: BaseException) -> None:
        self.stats.count("send_errors")
        self._failures += 1
        self._client.close()
        if self._connected:
            self._connected = False
            self.stats.event("disconnected")
            log.warning("%s: %s failed (%s); reconnecting", self._url, what, exc)
        elif self._failures % 100 == 0:
            log.warning("%s: still disconnected after %d failed requests", self._url, self._failures)

    def _succeeded(self) -> None:
        if not self._connected:
            self._connected = True
            self.stats.count("reconnects")
            self.stats.event("reconnected")
            log.warning("%s: reconnected", self._url)

    def _poll_loop(self) -> None:
        backoff = self.options.reconnect_delay
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                ok = self._poll_once()
            except Exception as exc:  # never let one bad answer end the poll thread
                self._bad("error", f"{type(exc).__name__}: {exc}")
                ok = True
            if ok:
                backoff = self.options.reconnect_delay
                wait = self.options.poll_interval - (time.monotonic() - start)
            else:
                wait = backoff
                backoff = min(2 * backoff, max(_MAX_BACKOFF, self.options.reconnect_delay))
            self._stop.wait(max(0.0, wait))

    def _poll_once(self) -> bool:
        """Read every stream block once; False if the transport failed."""
        unit = self.options.unit_id
        results: list[tuple[int, list[int] | None]] = []
        with self._lock:
            if self._closed:
                return True
            for k, block in enumerate(self.map.streams):
                try:
                    rr = self._client.read_holding_registers(block.address, count=block.size, device_id=unit)
                except (ModbusException, OSError, ValueError) as exc:
                    self.read_errors += 1
                    self._failed("read", exc)
                    break
                self._succeeded()
                if rr.isError():
                    results.append((k, None))
                else:
                    results.append((k, list(rr.registers)))
            else:
                self.polls += 1
        now = time.monotonic()
        for k, regs in results:
            self._take(k, regs, now)
        return self._connected

    def _take(self, k: int, regs: list[int] | None, now: float) -> None:
        block = self.map.streams[k]
        if regs is None:
            self._bad("exception", f"exception answer reading {block.name!r} at register {block.address}")
            return
        raw = tuple(regs)
        if raw == self._last_raw[k]:
            return
        self._last_raw[k] = raw
        try:
            decoded = decode_block(regs, block.n)
        except ValueError as exc:
            self._bad(str(exc), f"stream {block.name!r}: {list(raw[:8])}")
            return
        if decoded is None:
            return
        seq, t, values = decoded
        last = self._last_seq[k]
        if last is not None:
            gap = (seq - last - 1) % 2**32
            if 0 < gap < 2**31:
                self.skipped += gap
        self._last_seq[k] = seq
        self._buffer.put(Arrival(Measurement(t, block.name, np.array(values), seq), now))

    def poll(self, timeout: float) -> list[Arrival]:
        return self._buffer.drain(timeout)

    def send_command(self, command: Command) -> None:
        try:
            block = self.map.actuators[self.actuators.index(command.actuator)]
        except ValueError:
            self.stats.count("send_errors")
            log.warning("%s: no actuator %r (known: %s)", self._url, command.actuator, ", ".join(self.actuators))
            return
        if self._last_cmd_seq.get(command.actuator) == command.seq and command.actuator not in self._warned:
            self._warned.add(command.actuator)
            log.warning(
                "%s: command for %r repeats seq %d; the bench takes a command when seq changes (warned once)",
                self._url,
                command.actuator,
                command.seq,
            )
        regs = encode_block(command.seq, command.t, (command.value,))
        with self._lock:
            if self._closed or not self._connected:
                self.stats.count("send_errors")
                return
            try:
                rr = self._client.write_registers(block.address, regs, device_id=self.options.unit_id)
            except (ModbusException, OSError, ValueError) as exc:
                self._failed("write", exc)
                return
            self._succeeded()
        if rr.isError():
            self.stats.count("send_errors")
            log.warning("%s: the bench refused the write of %r (%s)", self._url, command.actuator, rr)
            return
        self._last_cmd_seq[command.actuator] = command.seq
        self.stats.count("sent")

    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()
        self._thread.join(timeout=max(2.0, 2 * self.options.timeout))
        with self._lock:
            self._closed = True
            self._client.close()


# ---------------------------------------------------------------------------------------- bench
class ModbusBenchLink(_ModbusEnd, BenchLink):
    """The bench's end: a Modbus TCP server holding the register map (see the module docstring)."""

    def __init__(
        self,
        url: urllib.parse.SplitResult,
        streams: tuple[str, ...],
        actuators: tuple[str, ...],
        opts: ModbusOptions,
        regmap: RegisterMap,
    ) -> None:
        self._open(url, streams, actuators, opts, regmap, "modbus bench")
        self._lock = threading.Lock()
        size = max(regmap.end, 1)
        self._mirror = [0] * size
        for b in regmap.streams + regmap.actuators:
            self._mirror[b.address : b.end] = [EMPTY] * b.size
        self._cmd_seq: list[int | None] = [None] * len(regmap.actuators)
        self._commands = CommandQueue(self._bad, _MAX_COMMANDS)
        self._warned: set[str] = set()
        self._closed = False
        host, port = _address(url)
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | None = None
        self._bound: tuple[str, int] = (host, port)
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"modbus-server {self._url}", daemon=True)
        self._thread.start()
        device = SimDevice(
            id=opts.unit_id,
            simdata=[SimData(address=0, count=size, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        try:
            fut = asyncio.run_coroutine_threadsafe(self._start(device, host, port), self._loop)
            fut.result(timeout=10.0)
        except Exception as exc:
            self._stop_loop()
            raise LinkError(f"{self._url}: cannot serve Modbus TCP on {host}:{port} ({exc})") from None
        self.stats.event("listening")

    async def _start(self, device: SimDevice, host: str, port: int) -> None:
        server = ModbusTcpServer(device, address=(host, port))
        self._server = server
        await server.serve_forever(background=True)
        sockets = getattr(server.transport, "sockets", None) or ()
        if sockets:
            h, p = sockets[0].getsockname()[:2]
            self._bound = (str(h), int(p))

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on."""
        return self._bound

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        """Server hook, called on the server loop before every request touches the registers."""
        lo = address - start_address
        with self._lock:
            if set_values and all(isinstance(v, int) and not isinstance(v, bool) for v in set_values):
                self._mirror[address : address + len(set_values)] = [int(v) for v in set_values]
                self._new_commands(address, address + len(set_values))
            hi = min(lo + count, len(current_registers), len(self._mirror) - start_address)
            if 0 <= lo < hi:
                current_registers[lo:hi] = self._mirror[start_address + lo : start_address + hi]

    def _new_commands(self, lo: int, hi: int) -> None:
        """Take the actuator blocks written in ``[lo, hi)`` whose seq changed (lock held)."""
        for k, block in enumerate(self.map.actuators):
            if block.end <= lo or block.address >= hi:
                continue
            regs = self._mirror[block.address : block.end]
            try:
                decoded = decode_block(regs, 1)
            except ValueError as exc:
                if self._cmd_seq[k] != _seq_of(regs):
                    self._cmd_seq[k] = _seq_of(regs)
                    self._bad(str(exc), f"actuator {block.name!r}: {regs}")
                continue
            if decoded is None:
                continue
            seq, t, (value,) = decoded
            if seq == self._cmd_seq[k]:
                continue
            self._cmd_seq[k] = seq
            if not math.isfinite(value):
                self._bad("value", f"actuator {block.name!r}: value {value!r}")
                continue
            self._commands.put(Command(t, block.name, value, seq))

    def publish(self, measurement: Measurement) -> None:
        try:
            k = self.streams.index(measurement.sensor)
        except ValueError:
            self.stats.count("send_errors")
            if measurement.sensor not in self._warned:  # once per stream: the bench publishes at 100s of Hz
                self._warned.add(measurement.sensor)
                log.warning("%s: no stream %r (known: %s)", self._url, measurement.sensor, ", ".join(self.streams))
            return
        block = self.map.streams[k]
        if measurement.value.size != block.n:
            self.stats.count("send_errors")
            if block.name in self._warned:
                return
            self._warned.add(block.name)
            log.warning(
                '%s: stream %r sample has %d values, its register block holds %d (set [transport.modbus.streams."%s"] '
                "values = %d); further refused samples are counted in send_errors",
                self._url,
                block.name,
                measurement.value.size,
                block.n,
                block.name,
                measurement.value.size,
            )
            return
        regs = encode_block(measurement.seq, measurement.t, measurement.value.tolist())
        with self._lock:
            if self._closed:
                self.stats.count("send_errors")
                return
            self._mirror[block.address : block.end] = regs
        self.stats.count("sent")

    def poll_commands(self) -> list[Command]:
        out = self._commands.drain()
        if out:
            self.stats.count("received", len(out))
        return out

    def registers(self, address: int, count: int) -> list[int]:
        """A copy of ``count`` registers from ``address`` (what a client would read)."""
        with self._lock:
            return list(self._mirror[address : address + count])

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Overwrite registers directly, as a PLC program would (tests, fault injection)."""
        with self._lock:
            self._mirror[address : address + len(values)] = [int(v) & 0xFFFF for v in values]
            self._new_commands(address, address + len(values))

    async def _shutdown(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
        for _ in range(5):  # let the closed transports finish on this loop
            await asyncio.sleep(0.01)

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5.0)
            except Exception as exc:  # the server may already be broken; still stop the loop
                log.warning("%s: error while stopping the server (%s)", self._url, exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop_loop()


def _seq_of(regs: Sequence[int]) -> int | None:
    try:
        return (int(regs[0]) << 16) | int(regs[1])
    except (IndexError, TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------- factories
def twin_link(
    url: urllib.parse.SplitResult,
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    options: Mapping[str, Any],
    stream_widths: Mapping[str, int] | None = None,
) -> ModbusTwinLink:
    """The twin's end of the Modbus link at ``url``: a client polling the bench's server.

    Parameters
    ----------
    url : urllib.parse.SplitResult
        ``modbus://HOST:PORT``.
    streams, actuators : tuple of str
        Stream and actuator names (the order sets the default register map).
    options : Mapping[str, Any]
        The ``[transport.modbus]`` table.
    stream_widths : Mapping[str, int], optional
        Number of values of each stream when known (default: a ``values`` key, else the number of
        ``+``-joined names).

    Raises
    ------
    LinkError
        Bad options or register map (the key is named), or no server answering within
        ``connect_timeout``.
    """
    opts = _options(options)
    return ModbusTwinLink(
        url, tuple(streams), tuple(actuators), opts, register_map(streams, actuators, opts, stream_widths)
    )


def bench_link(
    url: urllib.parse.SplitResult,
    streams: tuple[str, ...],
    actuators: tuple[str, ...],
    options: Mapping[str, Any],
    stream_widths: Mapping[str, int] | None = None,
) -> ModbusBenchLink:
    """The bench's end of the Modbus link at ``url``: a Modbus TCP server bound to the URL's host.

    Parameters and errors as :func:`twin_link` (a server that cannot bind raises :class:`LinkError`).
    """
    opts = _options(options)
    return ModbusBenchLink(
        url, tuple(streams), tuple(actuators), opts, register_map(streams, actuators, opts, stream_widths)
    )
