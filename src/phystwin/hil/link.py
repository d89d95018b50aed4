"""The two ends of a live connection between a twin and a test bench, independent of the transport.

A **twin link** (:class:`TwinLink`) is the twin's side: a feed of :class:`~phystwin.estimation.types.Measurement`
values (each stamped with its arrival on the monotonic clock) and a sink for actuator
:class:`Command` values. A **bench link** (:class:`BenchLink`) is the bench's side: it publishes
measurements and collects the commands that reached it.

Streams
-------
Both ends are built with the same tuple of stream names (``streams``); a stream carries one
measurement vector per sample (for example ``"current+speed"`` with two values, or ``"inputs"``
with the applied inputs). Transports with numeric identifiers (UDP stream id, CAN arbitration id,
Modbus register blocks) use the position of the name in that tuple.

Robustness
----------
A link never raises on bad data from the wire: undecodable packets, wrong magic or version, unknown
streams, wrong payload lengths and non-finite timestamps are counted in :class:`LinkStats` by reason
and logged at most once per second per reason (:class:`BadInputLog`), and the loop goes on.
Transport events (connected, disconnected, reconnected) are kept with their monotonic time in
``stats.events`` so a runner can flag the gap in its record.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Self

import numpy as np

from phystwin.errors import InvalidValueError, PhystwinError
from phystwin.estimation.types import Measurement

__all__ = [
    "Arrival",
    "BadInputLog",
    "BenchLink",
    "Command",
    "CommandQueue",
    "LinkEnd",
    "LinkError",
    "LinkStats",
    "QueueBuffer",
    "TwinLink",
]

log = logging.getLogger("phystwin.hil")

INPUT_STREAM = "inputs"
"""The stream that carries the twin's model inputs (every other stream is a sensor group)."""


class LinkError(PhystwinError, RuntimeError):
    """A link cannot be opened or used (bad address, refused connection, bad credentials)."""


@dataclass(frozen=True)
class Command:
    """One actuator command.

    Parameters
    ----------
    t : float
        Twin time [s] of the state the command was computed from.
    actuator : str
        The bench input it sets (a model input name, e.g. ``"voltage"``).
    value : float
        Commanded value in SI units of that input.
    seq : int
        Sequence number assigned by the sender (the receiver applies a command once).
    """

    t: float
    actuator: str
    value: float
    seq: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.actuator, str) or not self.actuator:
            raise InvalidValueError(f"Command: actuator must be a non-empty string, got {self.actuator!r}")
        if not math.isfinite(float(self.t)):
            raise InvalidValueError(f"Command for {self.actuator!r}: t must be finite, got {self.t!r}")
        object.__setattr__(self, "t", float(self.t))
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "seq", int(self.seq))


class Arrival(NamedTuple):
    """A measurement and the moment it was decoded [s, ``time.monotonic()``]."""

    measurement: Measurement
    received_at: float


@dataclass
class LinkStats:
    """Counters of one link (thread-safe increments through :meth:`count`)."""

    received: int = 0
    """Measurements (twin side) or commands (bench side) decoded and delivered."""
    sent: int = 0
    """Measurements (bench side) or commands (twin side) sent."""
    bad: int = 0
    """Packets or payloads rejected by the codec."""
    bad_reasons: Counter[str] = field(default_factory=Counter)
    send_errors: int = 0
    reconnects: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)
    """(monotonic time [s], text) of transport events: connected, disconnected, reconnected."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + n)

    def event(self, text: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), text))
            del self.events[:-1000]  # bounded

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "sent": self.sent,
                "bad": self.bad,
                "bad_reasons": dict(self.bad_reasons),
                "send_errors": self.send_errors,
                "reconnects": self.reconnects,
                "events": len(self.events),
            }


class BadInputLog:
    """Counts rejected input in ``stats`` and logs each reason at most once per ``interval`` seconds."""

    def __init__(self, stats: LinkStats, source: str, interval: float = 1.0) -> None:
        self.stats = stats
        self.source = source
        self.interval = interval
        self._last: dict[str, float] = {}

    def __call__(self, reason: str, raw: bytes | str | None = None) -> None:
        with self.stats._lock:
            self.stats.bad += 1
            self.stats.bad_reasons[reason] += 1
            n = self.stats.bad_reasons[reason]
        now = time.monotonic()
        if now - self._last.get(reason, -math.inf) >= self.interval:
            self._last[reason] = now
            head = "" if raw is None else f"; first bytes {bytes(raw[:16]) if isinstance(raw, bytes) else raw[:40]!r}"
            log.warning("%s: bad input (%s), %d so far%s", self.source, reason, n, head)


class LinkEnd(ABC):
    """What both ends of every transport share: names, counters and closing as a context manager."""

    streams: tuple[str, ...]
    actuators: tuple[str, ...]
    stats: LinkStats
    _bad: BadInputLog

    def _open_end(self, streams: tuple[str, ...], actuators: tuple[str, ...], source: str) -> None:
        """Set ``streams`` and ``actuators`` (as tuples), fresh ``stats`` and the bad-input log ``_bad``.

        Parameters
        ----------
        streams, actuators : tuple of str
            Stream and actuator names of the link.
        source : str
            How log lines about rejected input name this end (e.g. ``"udp bench -> 127.0.0.1:5005"``).
        """
        self.streams = tuple(streams)
        self.actuators = tuple(actuators)
        self.stats = LinkStats()
        self._bad = BadInputLog(self.stats, source)

    @abstractmethod
    def close(self) -> None:
        """Release sockets, threads and connections; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TwinLink(LinkEnd):
    """The twin's end: measurements in, commands out. Use as a context manager."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Arrival]:
        """Measurements that arrived, waiting at most ``timeout`` seconds for the first one.

        Returns an empty list on timeout; never raises on bad data (it is counted instead).
        """

    @abstractmethod
    def send_command(self, command: Command) -> None:
        """Send one command to the bench (counted in ``stats.sent``; failures in ``send_errors``)."""


class BenchLink(LinkEnd):
    """The bench's end: measurements out, commands in. Use as a context manager."""

    @abstractmethod
    def publish(self, measurement: Measurement) -> None:
        """Publish one sample of the stream ``measurement.sensor`` (one of ``streams``)."""

    def publish_samples(self, samples: Iterable[tuple[str, float, Sequence[float], int]]) -> None:
        """:meth:`publish` of many ``(stream, t, values, seq)`` samples (quality 0), in order. A transport
        with a cheaper batched path (UDP) overrides it."""
        for stream, t, values, seq in samples:
            self.publish(Measurement(t, stream, np.asarray(values, dtype=np.float64), seq))

    @abstractmethod
    def poll_commands(self) -> list[Command]:
        """Commands received since the last call (non-blocking)."""


class QueueBuffer:
    """Thread-safe bounded queue of arrivals for transports whose client delivers on its own thread.

    When full, the oldest arrival is dropped and counted as ``bad`` with reason ``overflow`` (memory
    stays bounded whatever the sender does). With ``count_received`` the queue also counts the
    arrivals in ``stats.received``: ``"on_put"`` as each one is queued (dropped ones included),
    ``"on_drain"`` as they are handed to the twin; ``None`` leaves that count to the caller.
    """

    def __init__(
        self, stats: LinkStats, maxlen: int = 100_000, count_received: Literal["on_put", "on_drain"] | None = None
    ) -> None:
        self._q: deque[Arrival] = deque()
        self._maxlen = maxlen
        self._cv = threading.Condition()
        self._stats = stats
        self._count_received = count_received

    def put(self, item: Arrival) -> None:
        with self._cv:
            if len(self._q) >= self._maxlen:
                self._q.popleft()
                with self._stats._lock:
                    self._stats.bad += 1
                    self._stats.bad_reasons["overflow"] += 1
            self._q.append(item)
            self._cv.notify()
        if self._count_received == "on_put":
            self._stats.count("received")

    def drain(self, timeout: float) -> list[Arrival]:
        """Everything queued, waiting at most ``timeout`` seconds (none if not positive) for a first arrival."""
        with self._cv:
            if not self._q and timeout > 0:
                self._cv.wait(timeout)
            out = list(self._q)
            self._q.clear()
        if out and self._count_received == "on_drain":
            self._stats.count("received", len(out))
        return out


class CommandQueue:
    """Thread-safe bounded queue of the commands a bench end received, until its next poll.

    When full, the oldest command is dropped and reported to ``bad`` with reason ``overflow``.
    Delivering a command does not count it in ``stats.received``: each transport counts where it
    always has (on arrival, or when polled).
    """

    def __init__(self, bad: BadInputLog, maxlen: int) -> None:
        self._q: deque[Command] = deque()
        self._maxlen = maxlen
        self._lock = threading.Lock()
        self._bad = bad

    def put(self, command: Command) -> None:
        """Append ``command``, dropping (and counting) the oldest one when the queue is full."""
        with self._lock:
            if len(self._q) >= self._maxlen:
                self._q.popleft()
                self._bad("overflow")
            self._q.append(command)

    def drain(self) -> list[Command]:
        """The queued commands in arrival order, leaving the queue empty (non-blocking)."""
        with self._lock:
            out = list(self._q)
            self._q.clear()
        return out
