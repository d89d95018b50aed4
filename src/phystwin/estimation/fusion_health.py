r"""Reporting of :class:`~phystwin.estimation.fusion.FusionEngine`: outcomes and counters of pushed
samples, sync health, and the clock-jump detector.

Clock jumps
-----------
A feed's timestamps can jump: a device clock reset, an NTP step, a wrapped counter. Fusing such a
sample would predict the filter hours ahead (or try to re-run hours of history), so each sensor has
a :class:`SensorClock` that checks every sample time *before* anything else is done with it.

The engine works on its own timebase; a sensor's sample at ``t`` is at engine time
``t + offset`` (``offset = 0`` until the sensor has been re-anchored, see below). With ``now`` the
newest engine time the engine has seen (state time, newest sample that passed this check, or
:meth:`~phystwin.estimation.fusion.FusionEngine.advance`), a sample is a **clock jump** when

* forward: ``t + offset - now > max_forward_jump``; or
* backward: ``t + offset < last - max_backward_jump`` *and* older than the lag window, where
  ``last`` is the newest engine time of a sample of the same sensor that passed the check (late
  samples of a slow feed are therefore not jumps: they are compared with their own stream).

A jumped sample is not applied (reason ``CLOCK_JUMP``): the state is untouched, the sample counted
(``FusionHealth.clock_jumps``, ``SensorCounters.clock_jump``) and the signed size [s] of the jump
kept (``FusionHealth.last_jump``).

Re-anchoring. Jumped samples of a sensor form a *candidate run* while their own times keep
increasing by at most ``max_forward_jump`` from one to the next; a sample that again fits the old
timebase ends the run (the jump was a glitch). When the run reaches ``reanchor_after`` samples the
sensor is re-anchored: its offset is set so that the newest candidate lands at

.. math::

    t_{anchor} = \max\bigl(now,\; last + (t_{run,newest} - t_{run,first}) + period\bigr),

i.e. the run continues the stream's old timeline one sampling period (the spacing of its last two
good samples, at most ``max_forward_jump``, 0 if unknown) after its last good sample, and never
before ``now``. That sample is then fused at ``t_anchor`` (its outcome message says so and
``SensorCounters.reanchored`` counts it); the previous candidates stay dropped. ``t_anchor - now``
is bounded by ``reanchor_after * max_forward_jump``, so a re-based clock costs at most that much
prediction, never the size of the jump. Sequence numbers seen before a re-anchoring are forgotten
for that sensor (a rebooted device restarts them).

Defaults (per sensor): ``max_forward_jump = 10 * stale_after`` (ten staleness timeouts ahead of
everything the engine has seen is not a plausible sample of a live feed); ``max_backward_jump =
max(10 * lag_window, stale_after)``; ``reanchor_after = 3``. When *every* feed can be silent for
longer than ``max_forward_jump``, call ``advance(t)`` with the wall clock during the silence:
otherwise the first samples after it are treated as a clock jump, and the feeds are then
re-anchored with an offset of about the length of the silence (the engine cannot tell a silent
hour from a clock step without a clock of its own).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from phystwin.errors import InvalidValueError

__all__ = [
    "ClockVerdict",
    "FusionHealth",
    "FusionOutcome",
    "FusionReason",
    "SensorClock",
    "SensorCounters",
    "SyncStatus",
]


class FusionReason(Enum):
    """Why :meth:`FusionEngine.push` did what it did."""

    ACCEPTED = "accepted"
    GATED = "rejected by the chi-square innovation gate"
    INVALID = "non-finite value or wrong length"
    BAD_QUALITY = "quality flag not 0"
    UNKNOWN_SENSOR = "sensor not configured"
    DUPLICATE = "(sensor, seq) already received"
    TOO_OLD = "older than the lag window"
    FILTER_ERROR = "the filter failed; state unchanged"
    CLOCK_JUMP = "the sample time jumped far from its stream and the engine time"


@dataclass
class SensorCounters:
    """Per-sensor counts of outcomes (``out_of_sequence`` counts insertions that caused a replay,
    ``reanchored`` the re-anchorings of the sensor's clock after a jump)."""

    accepted: int = 0
    gated: int = 0
    invalid: int = 0
    bad_quality: int = 0
    duplicate: int = 0
    too_old: int = 0
    filter_error: int = 0
    clock_jump: int = 0
    out_of_sequence: int = 0
    reanchored: int = 0

    def add(self, reason: FusionReason, k: int = 1) -> None:
        name = _COUNTER[reason]
        setattr(self, name, getattr(self, name) + k)


_COUNTER = {
    FusionReason.ACCEPTED: "accepted",
    FusionReason.GATED: "gated",
    FusionReason.INVALID: "invalid",
    FusionReason.BAD_QUALITY: "bad_quality",
    FusionReason.DUPLICATE: "duplicate",
    FusionReason.TOO_OLD: "too_old",
    FusionReason.FILTER_ERROR: "filter_error",
    FusionReason.CLOCK_JUMP: "clock_jump",
}


@dataclass(frozen=True)
class FusionOutcome:
    """Result of one :meth:`FusionEngine.push`.

    ``t`` is the sample time as pushed (the sensor's clock); ``nis`` is NaN unless an innovation was
    formed; ``replayed`` is the number of later measurements re-run because this one arrived out of
    sequence; ``innovation`` (m,) and ``S`` (m, m) are the update's innovation ``z - h(x^-)`` and its
    covariance when one was formed (accepted or gated), else None.
    """

    reason: FusionReason
    sensor: str
    t: float
    nis: float = math.nan
    replayed: int = 0
    message: str = ""
    innovation: np.ndarray | None = None
    S: np.ndarray | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is FusionReason.ACCEPTED


class SyncStatus(Enum):
    """Overall health: no stale sensor, some stale, all stale."""

    IN_SYNC = "in_sync"
    DEGRADED = "degraded"
    LOST = "lost"


@dataclass(frozen=True)
class FusionHealth:
    """Health at time ``t``.

    Attributes
    ----------
    t : float
        Engine time asked about [s].
    status : SyncStatus
        IN_SYNC (no stale sensor), DEGRADED (some) or LOST (all).
    stale : mapping sensor -> bool
        Last accepted sample older than the sensor's ``stale_after``.
    age : mapping sensor -> float
        Seconds since the last accepted sample (inf if none yet).
    clock_jumps : mapping sensor -> int
        Samples dropped as clock jumps so far.
    last_jump : mapping sensor -> float
        Signed size [s] of the most recent clock jump (NaN if none).
    clock_offset : mapping sensor -> float
        Engine time minus sample time [s]; non-zero after a re-anchoring.
    """

    t: float
    status: SyncStatus
    stale: Mapping[str, bool]
    age: Mapping[str, float]
    clock_jumps: Mapping[str, int] = field(default_factory=dict)
    last_jump: Mapping[str, float] = field(default_factory=dict)
    clock_offset: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClockVerdict:
    """Result of :meth:`SensorClock.check`: the engine time of the sample, or a jump of ``size`` [s]."""

    jump: bool
    t: float
    size: float = math.nan
    reanchored: bool = False


@dataclass
class SensorClock:
    """Clock-jump detector and timebase of one sensor (see the module docstring)."""

    max_forward_jump: float
    max_backward_jump: float
    reanchor_after: int
    offset: float = 0.0
    last: float | None = None
    period: float = 0.0
    jumps: int = 0
    reanchors: int = 0
    last_jump: float = math.nan
    run: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("max_forward_jump", "max_backward_jump"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise InvalidValueError(f"{name} must be finite and > 0 s, got {v!r}")
        if int(self.reanchor_after) < 1:
            raise InvalidValueError(f"reanchor_after must be >= 1, got {self.reanchor_after!r}")

    def check(self, t_raw: float, now: float, horizon: float) -> ClockVerdict:
        """Classify a sample taken at ``t_raw`` (the sensor's clock) given the engine's ``now`` and
        lag-window start ``horizon``; updates the stream's bookkeeping."""
        t = t_raw + self.offset
        size = math.nan
        if t - now > self.max_forward_jump:
            size = t - now
        elif self.last is not None and t < self.last - self.max_backward_jump and t < horizon:
            size = t - self.last
        if math.isnan(size):
            self.run.clear()
            self._good(t)
            return ClockVerdict(False, t)
        self.last_jump = size
        if self.run and t_raw > self.run[-1] and t_raw - self.run[-1] <= self.max_forward_jump:
            self.run.append(t_raw)
        elif not (self.run and t_raw == self.run[-1]):
            self.run = [t_raw]
        if len(self.run) < self.reanchor_after:
            self.jumps += 1
            return ClockVerdict(True, t, size)
        base = now if self.last is None else self.last + (self.run[-1] - self.run[0]) + self.period
        t_anchor = max(now, base)
        self.offset = t_anchor - t_raw
        self.reanchors += 1
        self.run.clear()
        self.last = None
        self._good(t_anchor)
        return ClockVerdict(False, t_anchor, size, reanchored=True)

    def _good(self, t: float) -> None:
        if self.last is not None and t > self.last:
            self.period = min(t - self.last, self.max_forward_jump)
        self.last = t if self.last is None else max(self.last, t)
