"""The safety envelope in front of every actuator, and the watchdog that triggers the fallback.

Every :class:`~phystwin.hil.link.Command` a twin computes passes :meth:`SafetyEnvelope.check`
before it is sent. For an actuator with limits :math:`[u_{lo}, u_{hi}]` [unit], maximum rate
:math:`r` [unit/s] and refusal distance :math:`b` [unit], a request :math:`u^*` at twin time
:math:`t` is

1. **refused** (nothing sent) when the actuator is unknown, :math:`u^*` is NaN or infinite,
   :math:`u^* < u_{lo} - b` or :math:`u^* > u_{hi} + b`, or :math:`t` is older than the last
   applied command of that actuator;
2. otherwise **clamped**: :math:`u_c = \\min(\\max(u^*, u_{lo}), u_{hi})`;
3. then **rate-limited** against the last applied value :math:`u_{k-1}` at time :math:`t_{k-1}`:

   .. math::

       u_k = u_{k-1} + \\operatorname{clip}\\bigl(u_c - u_{k-1},\\; -r\\,(t - t_{k-1}),\\; r\\,(t - t_{k-1})\\bigr)

   so :math:`|u_k - u_{k-1}| \\le r\\,(t - t_{k-1})` between consecutive applied commands.

Before its first command an actuator has no reference value unless the envelope is built with
``t0``: then every actuator is taken to be at its ``safe_value`` at ``t0`` and the first commands
ramp from there. :meth:`SafetyEnvelope.fallback` returns every actuator's ``safe_value`` (not
rate-limited: reaching the safe state has priority) and makes it the reference for the next ramp.

Every refusal is logged on the ``phystwin.hil.safety`` logger (WARNING) and counted per actuator
and :class:`Decision` in :attr:`SafetyEnvelope.counters`.

:class:`Watchdog` decides when to fall back: no accepted measurement within ``timeout`` seconds of
wall time, or told that the twin lost sync (:meth:`Watchdog.trip`).
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from phystwin.errors import InvalidTypeError, InvalidValueError
from phystwin.hil.link import Command

__all__ = ["UNKNOWN_ACTUATOR", "ActuatorLimits", "Decision", "SafetyEnvelope", "Verdict", "Watchdog"]

log = logging.getLogger("phystwin.hil.safety")

UNKNOWN_ACTUATOR = "<unknown>"
"""Key of :attr:`SafetyEnvelope.counters` under which requests for unknown actuators are counted."""


@dataclass(frozen=True)
class ActuatorLimits:
    """The envelope of one actuator.

    Parameters
    ----------
    name : str
        Actuator (model input) name, e.g. ``"voltage"``.
    unit : str
        Unit of its values, e.g. ``"V"``.
    low, high : float
        Allowed range :math:`[u_{lo}, u_{hi}]` [unit], finite, ``low < high``.
    max_rate : float
        Largest :math:`|du/dt|` [unit/s] between consecutive applied commands (twin time); > 0,
        ``inf`` for no rate limit.
    safe_value : float
        The fallback command [unit], within ``[low, high]``.
    refuse_beyond : float, optional
        Requests further than this [unit] outside ``[low, high]`` are refused (not clamped); >= 0.
        ``None``: every finite request is clamped.
    """

    name: str
    unit: str
    low: float
    high: float
    max_rate: float = math.inf
    safe_value: float = 0.0
    refuse_beyond: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidValueError(f"ActuatorLimits: name must be a non-empty string, got {self.name!r}")
        what = f"ActuatorLimits {self.name!r}"
        if not isinstance(self.unit, str):
            raise InvalidValueError(f"{what}: unit must be a string, got {self.unit!r}")
        for attr in ("low", "high", "max_rate", "safe_value"):
            try:
                object.__setattr__(self, attr, float(getattr(self, attr)))
            except (TypeError, ValueError):
                raise InvalidValueError(f"{what}: {attr} must be a number, got {getattr(self, attr)!r}") from None
        for attr in ("low", "high", "safe_value"):
            if not math.isfinite(getattr(self, attr)):
                raise InvalidValueError(f"{what}: {attr} must be finite, got {getattr(self, attr)!r} {self.unit}")
        if not self.low < self.high:
            raise InvalidValueError(f"{what}: low must be < high, got low={self.low} high={self.high} {self.unit}")
        if not self.max_rate > 0.0:  # also NaN
            raise InvalidValueError(f"{what}: max_rate must be > 0 {self.unit}/s (inf for none), got {self.max_rate!r}")
        if not self.low <= self.safe_value <= self.high:
            raise InvalidValueError(
                f"{what}: safe_value {self.safe_value} {self.unit} lies outside [{self.low}, {self.high}] {self.unit}"
            )
        if self.refuse_beyond is not None:
            try:
                rb = float(self.refuse_beyond)
            except (TypeError, ValueError):
                raise InvalidValueError(
                    f"{what}: refuse_beyond must be a number or None, got {self.refuse_beyond!r}"
                ) from None
            if not (math.isfinite(rb) and rb >= 0.0):
                raise InvalidValueError(f"{what}: refuse_beyond must be finite and >= 0 {self.unit}, got {rb!r}")
            object.__setattr__(self, "refuse_beyond", rb)


class Decision(enum.IntEnum):
    """What the envelope did with a request."""

    APPLIED = 0
    """Sent as requested."""
    CLAMPED = 1
    """Sent clamped to ``[low, high]``."""
    RATE_LIMITED = 2
    """Sent limited by ``max_rate`` (possibly also clamped)."""
    REFUSED = 3
    """Nothing sent: unknown actuator, non-finite value, beyond ``refuse_beyond``, or out of order."""
    FALLBACK = 4
    """The safe value was sent by :meth:`SafetyEnvelope.fallback`."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of :meth:`SafetyEnvelope.check`.

    Parameters
    ----------
    requested : float
        The requested value [unit].
    applied : float or None
        The value to send [unit]; None when nothing is to be sent (refused).
    decision : Decision
    reason : str
        Why the value was changed or refused ("" when applied as requested).
    """

    requested: float
    applied: float | None
    decision: Decision
    reason: str

    @property
    def sent(self) -> bool:
        """True when a command is to be sent."""
        return self.applied is not None

    def command(self, original: Command) -> Command | None:
        """The command to send (``original`` with the applied value), or None when refused."""
        if self.applied is None:
            return None
        return Command(original.t, original.actuator, self.applied, original.seq)


class SafetyEnvelope:
    """Clamps, rate-limits or refuses actuator commands (see the module documentation).

    Parameters
    ----------
    limits : sequence of ActuatorLimits
        One per actuator; names must be unique.
    t0 : float, optional
        Twin time [s] at which every actuator is taken to be at its ``safe_value`` (the reference of
        the first rate-limited ramp). Default: no reference, the first command of an actuator is only
        clamped.

    Attributes
    ----------
    counters : dict[str, collections.Counter[Decision]]
        Decisions per actuator name (requests for unknown actuators under :data:`UNKNOWN_ACTUATOR`).
    """

    def __init__(self, limits: Sequence[ActuatorLimits], *, t0: float | None = None) -> None:
        self.limits: dict[str, ActuatorLimits] = {}
        for lim in limits:
            if not isinstance(lim, ActuatorLimits):
                raise InvalidTypeError(f"SafetyEnvelope: expected ActuatorLimits, got {type(lim).__name__}")
            if lim.name in self.limits:
                raise InvalidValueError(f"SafetyEnvelope: actuator {lim.name!r} is listed twice")
            self.limits[lim.name] = lim
        if not self.limits:
            raise InvalidValueError("SafetyEnvelope: at least one actuator is needed")
        self.counters: dict[str, Counter[Decision]] = {name: Counter() for name in self.limits}
        self.counters[UNKNOWN_ACTUATOR] = Counter()
        self._last: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        if t0 is not None:
            self.reset(t0)

    def reset(self, t: float | None = None) -> None:
        """Forget the last applied values; with ``t`` [s], take every actuator at its safe value at ``t``."""
        with self._lock:
            self._last.clear()
            if t is not None:
                for name, lim in self.limits.items():
                    self._last[name] = (float(t), lim.safe_value)

    def last_applied(self, actuator: str) -> tuple[float, float] | None:
        """(twin time [s], value [unit]) of the last applied command of ``actuator``, or None."""
        return self._last.get(actuator)

    def _refuse(self, key: str, command: Command, reason: str) -> Verdict:
        self.counters[key][Decision.REFUSED] += 1
        log.warning(
            "refused command %r = %r at t=%.6g s (seq %d): %s",
            command.actuator,
            command.value,
            command.t,
            command.seq,
            reason,
        )
        return Verdict(command.value, None, Decision.REFUSED, reason)

    def check(self, command: Command) -> Verdict:
        """Decide what to send for ``command`` (see the module documentation for the rules).

        An applied (clamped, rate-limited) value becomes the reference of the next rate limit.
        """
        with self._lock:
            lim = self.limits.get(command.actuator)
            if lim is None:
                return self._refuse(
                    UNKNOWN_ACTUATOR,
                    command,
                    f"unknown actuator {command.actuator!r} (known: {', '.join(sorted(self.limits))})",
                )
            name, u, unit = lim.name, command.value, lim.unit
            if not math.isfinite(u):
                return self._refuse(name, command, f"non-finite value {u!r} requested for {name!r}")
            rb = lim.refuse_beyond
            if rb is not None and (u < lim.low - rb or u > lim.high + rb):
                return self._refuse(
                    name,
                    command,
                    f"{u:g} {unit} is more than {rb:g} {unit} outside [{lim.low:g}, {lim.high:g}] {unit}",
                )
            last = self._last.get(name)
            if last is not None and command.t < last[0]:
                return self._refuse(
                    name, command, f"out of order: t={command.t:g} s is before the last applied t={last[0]:g} s"
                )
            decision, reasons = Decision.APPLIED, []
            v = min(max(u, lim.low), lim.high)
            if v != u:
                decision = Decision.CLAMPED
                reasons.append(f"clamped {u:g} -> {v:g} {unit} to [{lim.low:g}, {lim.high:g}] {unit}")
            if last is not None and math.isfinite(lim.max_rate):
                t_last, v_last = last
                step = lim.max_rate * (command.t - t_last)
                if abs(v - v_last) > step:
                    target = v
                    v = v_last + step if v > v_last else v_last - step
                    v = min(max(v, lim.low), lim.high)
                    decision = Decision.RATE_LIMITED
                    reasons.append(
                        f"rate-limited {target:g} -> {v:g} {unit} (max {lim.max_rate:g} {unit}/s over "
                        f"{command.t - t_last:g} s from {v_last:g} {unit})"
                    )
            self._last[name] = (command.t, v)
            self.counters[name][decision] += 1
            reason = "; ".join(reasons)
            if reasons:
                log.debug("command %r at t=%.6g s: %s", name, command.t, reason)
            return Verdict(u, v, decision, reason)

    def fallback(self, t: float, *, seq: int = 0, reason: str = "") -> list[Command]:
        """The safe value of every actuator at twin time ``t`` [s] (no rate limit).

        The safe values become the reference of the next rate-limited ramp. Counted as
        :attr:`Decision.FALLBACK` and logged (WARNING) with ``reason``.
        """
        t = float(t)
        with self._lock:
            cmds = []
            for name, lim in self.limits.items():
                cmds.append(Command(t, name, lim.safe_value, seq))
                self._last[name] = (t, lim.safe_value)
                self.counters[name][Decision.FALLBACK] += 1
        log.warning(
            "fallback at t=%.6g s%s: %s",
            t,
            f" ({reason})" if reason else "",
            ", ".join(f"{c.actuator}={c.value:g} {self.limits[c.actuator].unit}" for c in cmds),
        )
        return cmds

    def summary(self) -> dict[str, dict[str, int]]:
        """Counters as plain ``{actuator: {decision name: count}}``."""
        with self._lock:
            return {name: {d.name: n for d, n in c.items()} for name, c in self.counters.items()}


class Watchdog:
    """Falls back when the twin loses sync: no accepted measurement within ``timeout`` seconds of wall
    time, or told lost.

    Parameters
    ----------
    timeout : float
        Longest allowed gap [s] between two :meth:`feed` calls (> 0), on ``clock``.
    clock : callable, optional
        Monotonic clock [s] (default ``time.monotonic``).
    recover_after : int, optional
        Consecutive feeds (each within ``timeout`` of the previous) needed to leave the tripped
        state (>= 1, default 1).

    Notes
    -----
    The watchdog starts fed at construction. Thread-safe: a receiver thread may :meth:`feed` while
    the control loop asks :meth:`expired`.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic, *, recover_after: int = 1) -> None:
        timeout = float(timeout)
        if not (math.isfinite(timeout) and timeout > 0.0):
            raise InvalidValueError(f"Watchdog: timeout must be a finite number of seconds > 0, got {timeout!r}")
        if int(recover_after) < 1:
            raise InvalidValueError(f"Watchdog: recover_after must be >= 1, got {recover_after!r}")
        self.timeout = timeout
        self.recover_after = int(recover_after)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_feed = clock()
        self._reason: str | None = None
        self._good = 0
        self._trips = 0

    def _trip_locked(self, reason: str) -> None:
        if self._reason is None:
            self._trips += 1
            log.warning("watchdog tripped: %s", reason)
        self._reason = reason
        self._good = 0

    def feed(self) -> None:
        """An accepted measurement / in-sync tick."""
        with self._lock:
            now = self._clock()
            if self._reason is not None:
                gap_ok = now - self._last_feed <= self.timeout
                self._good = self._good + 1 if gap_ok else 1
                if self._good >= self.recover_after:
                    log.info("watchdog recovered after %d feeds (was: %s)", self._good, self._reason)
                    self._reason = None
                    self._good = 0
            self._last_feed = now

    def trip(self, reason: str) -> None:
        """Declare the twin out of sync (e.g. its status is lost); cleared by ``recover_after`` feeds."""
        with self._lock:
            self._trip_locked(str(reason))

    def expired(self) -> bool:
        """True while tripped; trips when the last feed is more than ``timeout`` seconds old."""
        with self._lock:
            age = self._clock() - self._last_feed
            if age > self.timeout:
                self._trip_locked(f"no accepted measurement for {age:.3g} s (timeout {self.timeout:g} s)")
            return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why the watchdog is tripped, or None."""
        return self._reason

    @property
    def trips(self) -> int:
        """Number of transitions into the tripped state."""
        return self._trips

    def seconds_since_feed(self) -> float:
        """Age [s] of the last feed."""
        return self._clock() - self._last_feed
