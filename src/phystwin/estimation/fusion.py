r"""Asynchronous multi-sensor fusion around one filter: gating, out-of-sequence replay, health.

:class:`FusionEngine` owns the current :class:`GaussianState` and takes :class:`Measurement` values
one at a time (:meth:`FusionEngine.push`). Each measurement predicts the state to its own timestamp
and updates only the rows of the measurement model its sensor measures (:class:`FusedSensor`).
``push`` never raises on data: every measurement gets an :class:`FusionOutcome` with a :class:`FusionReason`.

Row subsets
-----------
The filters of this package have one fixed measurement model. The engine builds, per sensor, a
shallow copy of the filter that shares the process model (and every compiled kernel) but measures
only that sensor's rows: for :class:`KalmanFilter` the rows of ``H``; for
:class:`UnscentedKalmanFilter` and :class:`ExtendedKalmanFilter` the chosen model outputs
(``measured_outputs`` / ``idx``). Prediction always uses the filter given to the engine. Inputs are
not handled here: predictions and updates use the filters' defaults (``u = None``).

Ordering and out-of-sequence measurements
-----------------------------------------
Measurements are applied in the canonical order of the key ``(t, sensor, seq)``. The engine keeps a
history of the measurements of the last ``lag_window`` seconds (each with the state after it); a
measurement whose key is earlier than the newest one (or whose time is before the current state) is
inserted and the history re-run from the insertion point, with gating re-decided, so the result
equals in-order arrival. Measurements older than ``state.t - lag_window`` are dropped and counted.

Gating and rejection
--------------------
An update whose normalised innovation squared exceeds ``chi2.ppf(gate_probability, m)`` is rejected
and the state is left exactly as it was (not even predicted). NaN/Inf values, a wrong length, a
non-zero quality flag, an unknown sensor and a repeated ``(sensor, seq)`` are rejected and counted
the same way.

Health
------
A sensor is stale when its last *accepted* sample is more than its ``stale_after`` older than the
time asked about (or, never having delivered, the engine's start). :meth:`FusionEngine.health`
reports IN_SYNC (no stale sensor), DEGRADED (some) or LOST (all). :meth:`FusionEngine.advance`
predicts without data (covariance grows); the status recovers as soon as accepted data resumes.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from scipy.stats import chi2

from phystwin.estimation.filters import KalmanFilter, _covariance
from phystwin.estimation.types import GaussianState, Measurement

__all__ = [
    "FusedSensor",
    "FusionEngine",
    "FusionHealth",
    "FusionOutcome",
    "FusionReason",
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


class SyncStatus(Enum):
    """Overall health: no stale sensor, some stale, all stale."""

    IN_SYNC = "in_sync"
    DEGRADED = "degraded"
    LOST = "lost"


@dataclass(frozen=True)
class FusedSensor:
    """A sensor feeding the engine.

    Parameters
    ----------
    rows : sequence of int or str
        The measured quantities, in the order of the measurement's values. Integers index the
        filter's measurement vector (rows of ``H`` / entries of ``measured_outputs``); strings name
        them (a :class:`KalmanFilter`'s ``measurement_names``, or any output of the model of a
        UKF/EKF).
    R : (m, m) or (m,)
        Measurement-noise covariance in SI units squared (a vector means a diagonal).
    stale_after : float, optional
        Seconds without an accepted sample before the sensor counts as stale (engine default when
        omitted).
    """

    rows: Sequence[int | str]
    R: Any
    stale_after: float | None = None


@dataclass
class SensorCounters:
    """Per-sensor counts of outcomes (``out_of_sequence`` counts insertions that caused a replay)."""

    accepted: int = 0
    gated: int = 0
    invalid: int = 0
    bad_quality: int = 0
    duplicate: int = 0
    too_old: int = 0
    filter_error: int = 0
    out_of_sequence: int = 0

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
}


@dataclass(frozen=True)
class FusionOutcome:
    """Result of one :meth:`FusionEngine.push`.

    ``nis`` is NaN unless an innovation was formed; ``replayed`` is the number of later measurements
    re-run because this one arrived out of sequence.
    """

    reason: FusionReason
    sensor: str
    t: float
    nis: float = math.nan
    replayed: int = 0
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.reason is FusionReason.ACCEPTED


@dataclass(frozen=True)
class FusionHealth:
    """Health at time ``t``: per-sensor stale flags, seconds since the last accepted sample."""

    t: float
    status: SyncStatus
    stale: Mapping[str, bool]
    age: Mapping[str, float]


@dataclass
class _Entry:
    key: tuple[float, str, int]
    meas: Measurement
    post: GaussianState
    reason: FusionReason = FusionReason.ACCEPTED
    nis: float = math.nan


@dataclass
class _Sensor:
    spec: FusedSensor
    filter: Any
    R: np.ndarray
    m: int
    stale_after: float
    counters: SensorCounters = field(default_factory=SensorCounters)
    threshold: float = math.inf


def _row_filter(base: Any, rows: Sequence[int | str]) -> Any:
    """Shallow copy of ``base`` measuring only ``rows`` (see the module docstring)."""
    f = copy.copy(base)
    if isinstance(base, KalmanFilter):
        labels = list(base.labels)
        idx = [labels.index(r) if isinstance(r, str) else int(r) for r in rows]
        for i in idx:
            if not 0 <= i < base.H.shape[0]:
                raise ValueError(f"row {i} out of range for a filter measuring {base.H.shape[0]} quantities")
        f.H = np.ascontiguousarray(base.H[idx])
        f.R = base.R[np.ix_(idx, idx)]
        f.labels = tuple(labels[i] for i in idx)
        return f
    if hasattr(base, "measured_outputs") and hasattr(base, "model"):
        lay = base.model.layout
        names = tuple(base.measured_outputs[r] if isinstance(r, int) else str(r) for r in rows)
        f.measured_outputs = names
        f.idx = np.array([lay.output_index(nm) for nm in names], dtype=np.int64)
        f._labels = tuple(f"{nm} [{lay.unit(nm)}]" for nm in names)
        return f
    raise TypeError(f"cannot build a row subset of a {type(base).__name__}; use KalmanFilter, UKF or EKF")


class FusionEngine:
    """Fuses asynchronous measurements of several sensors into one state (see the module docstring).

    Parameters
    ----------
    filter : KalmanFilter, UnscentedKalmanFilter or ExtendedKalmanFilter
        Process model (its ``predict``) and measurement model (row subsets per sensor).
    sensors : mapping of name -> FusedSensor
        The sensors; measurements from other names are rejected (UNKNOWN_SENSOR).
    initial : GaussianState
        Starting belief; measurements before ``initial.t`` are dropped as TOO_OLD.
    lag_window : float
        How far back [s] from the current state time an out-of-sequence measurement is still fused.
    gate_probability : float
        Gate at the ``gate_probability`` quantile of chi-square with m dof (false-rejection rate
        ``1 - gate_probability`` for a consistent filter); ``1.0`` disables gating.
    stale_after : float
        Default staleness timeout [s] for sensors that do not set their own.
    """

    def __init__(
        self,
        filter: Any,
        sensors: Mapping[str, FusedSensor],
        initial: GaussianState,
        lag_window: float,
        gate_probability: float = 0.9999,
        stale_after: float = 1.0,
    ) -> None:
        if not sensors:
            raise ValueError("FusionEngine needs at least one sensor")
        if not (math.isfinite(lag_window) and lag_window >= 0.0):
            raise ValueError(f"lag_window must be finite and >= 0 s, got {lag_window!r}")
        if not (0.0 < gate_probability <= 1.0):
            raise ValueError(f"gate_probability must be in (0, 1], got {gate_probability!r}")
        if initial.n != filter.n:
            raise ValueError(f"initial state has {initial.n} entries, the filter has {filter.n} states")
        self.filter = filter
        self.lag_window = float(lag_window)
        self.gate_probability = float(gate_probability)
        self._sensors: dict[str, _Sensor] = {}
        for name, spec in sensors.items():
            if not spec.rows:
                raise ValueError(f"sensor {name!r} measures no rows")
            f = _row_filter(filter, spec.rows)
            m = len(spec.rows)
            R = _covariance(f"R of sensor {name!r}", spec.R, m)
            st = float(stale_after if spec.stale_after is None else spec.stale_after)
            if not (st > 0.0):
                raise ValueError(f"stale_after of sensor {name!r} must be > 0 s, got {st!r}")
            thr = math.inf if gate_probability >= 1.0 else float(chi2.ppf(gate_probability, m))
            self._sensors[name] = _Sensor(spec, f, R, m, st, threshold=thr)
        self._state = initial
        self._t0 = initial.t
        self._anchor = initial  # state before the first history entry
        self._history: list[_Entry] = []
        self._seen: dict[tuple[str, int], float] = {}
        self._last_accepted: dict[str, float] = {}

    # ------------------------------------------------------------------ read-only views
    @property
    def state(self) -> GaussianState:
        """The current belief."""
        return self._state

    @property
    def sensors(self) -> tuple[str, ...]:
        return tuple(self._sensors)

    def counters(self, sensor: str) -> SensorCounters:
        """A copy of the counters of ``sensor``."""
        return copy.copy(self._sensors[sensor].counters)

    # ------------------------------------------------------------------ time without data
    def advance(self, t: float) -> GaussianState:
        """Predict the current state to ``t`` [s] without data (no-op if ``t`` is not later)."""
        if float(t) > self._state.t:
            self._state = self.filter.predict(self._state, float(t))
            self._prune()
        return self._state

    def health(self, t: float | None = None) -> FusionHealth:
        """Stale flags and overall status at ``t`` [s] (default: the current state time)."""
        tq = self._state.t if t is None else float(t)
        stale: dict[str, bool] = {}
        age: dict[str, float] = {}
        for name, s in self._sensors.items():
            last = self._last_accepted.get(name)
            a = tq - (self._t0 if last is None else last)
            age[name] = a if last is not None else math.inf
            stale[name] = a > s.stale_after
        n_stale = sum(stale.values())
        status = (
            SyncStatus.IN_SYNC if n_stale == 0 else SyncStatus.LOST if n_stale == len(stale) else SyncStatus.DEGRADED
        )
        return FusionHealth(tq, status, stale, age)

    # ------------------------------------------------------------------ measurements
    def push(self, meas: Measurement) -> FusionOutcome:
        """Fuse one measurement; never raises on bad data (see :class:`FusionReason`)."""
        name = meas.sensor
        s = self._sensors.get(name)
        if s is None:
            return FusionOutcome(FusionReason.UNKNOWN_SENSOR, name, meas.t, message=f"unknown sensor {name!r}")
        if (name, meas.seq) in self._seen:
            return self._count(
                s, FusionOutcome(FusionReason.DUPLICATE, name, meas.t, message=f"seq {meas.seq} already received")
            )
        horizon = max(self._state.t - self.lag_window, self._anchor.t)
        if meas.t < horizon:
            msg = f"t = {meas.t:.9g} s is before the window start {horizon:.9g} s"
            return self._count(s, FusionOutcome(FusionReason.TOO_OLD, name, meas.t, message=msg))
        self._seen[(name, meas.seq)] = meas.t
        v = meas.value
        if v.shape != (s.m,) or not np.all(np.isfinite(v)):
            msg = f"expected {s.m} finite value(s), got {v.tolist()}"
            return self._count(s, FusionOutcome(FusionReason.INVALID, name, meas.t, message=msg))
        if meas.quality != 0:
            return self._count(
                s, FusionOutcome(FusionReason.BAD_QUALITY, name, meas.t, message=f"quality {meas.quality}")
            )
        try:
            out = self._insert(s, meas)
        except Exception as exc:
            return self._count(
                s, FusionOutcome(FusionReason.FILTER_ERROR, name, meas.t, message=f"{type(exc).__name__}: {exc}")
            )
        self._prune()
        return out

    def _count(self, s: _Sensor, out: FusionOutcome) -> FusionOutcome:
        s.counters.add(out.reason)
        return out

    def _step(self, prev: GaussianState, meas: Measurement) -> tuple[GaussianState, FusionReason, float]:
        s = self._sensors[meas.sensor]
        prior = self.filter.predict(prev, meas.t)
        post, info = s.filter.update(prior, meas.value, R=s.R)
        if not info.accepted:
            return prev, FusionReason.FILTER_ERROR, math.nan
        if info.nis > s.threshold:
            return prev, FusionReason.GATED, info.nis
        return post, FusionReason.ACCEPTED, info.nis

    def _insert(self, s: _Sensor, meas: Measurement) -> FusionOutcome:
        key = (meas.t, meas.sensor, meas.seq)
        hist = self._history
        i = bisect.bisect_right([e.key for e in hist], key)
        in_order = i == len(hist) and meas.t >= self._state.t
        start = self._state if in_order else (hist[i - 1].post if i > 0 else self._anchor)
        # work on new entries; commit only if every step succeeds
        new = _Entry(key, meas, start)
        tail = [new] + [_Entry(e.key, e.meas, e.post, e.reason, e.nis) for e in hist[i:]]
        state = start
        for e in tail:
            state, e.reason, e.nis = self._step(state, e.meas)
            e.post = state
        if not in_order and state.t < self._state.t:
            state = self.filter.predict(state, self._state.t)
        # commit: counters of re-decided entries, history, state
        for old, e in zip(hist[i:], tail[1:], strict=True):
            if old.reason is not e.reason:
                self._sensors[e.meas.sensor].counters.add(old.reason, -1)
                self._sensors[e.meas.sensor].counters.add(e.reason)
        self._history = hist[:i] + tail
        self._state = state
        self._recompute_last_accepted(tail)
        if not in_order:
            s.counters.out_of_sequence += 1
        return self._count(s, FusionOutcome(new.reason, meas.sensor, meas.t, new.nis, len(tail) - 1))

    def _recompute_last_accepted(self, entries: Sequence[_Entry]) -> None:
        for e in entries:
            if e.reason is FusionReason.ACCEPTED:
                prev = self._last_accepted.get(e.meas.sensor, -math.inf)
                self._last_accepted[e.meas.sensor] = max(prev, e.meas.t)

    def _prune(self) -> None:
        horizon = self._state.t - self.lag_window
        k = 0
        while k < len(self._history) and self._history[k].key[0] < horizon:
            k += 1
        if k:
            self._anchor = self._history[k - 1].post
            del self._history[:k]
        if len(self._seen) > 4 * (len(self._history) + 16):
            self._seen = {kk: tt for kk, tt in self._seen.items() if tt >= horizon}
