r"""Asynchronous multi-sensor fusion around one filter: gating, out-of-sequence replay, health.

:class:`FusionEngine` owns the current :class:`GaussianState` and takes :class:`Measurement` values
one at a time (:meth:`FusionEngine.push`). Each measurement predicts the state to its own timestamp
and updates only the rows of the measurement model its sensor measures (:class:`FusedSensor`).
``push`` never raises on data: every measurement gets an :class:`FusionOutcome` with a :class:`FusionReason`.

The filter
----------
The engine works with any :class:`~phystwin.estimation.base.Filter` and uses only that interface
(``predict``, ``update``, ``predict_update``, ``select_measurements``, ``input_vector``, ``n``).
Each measurement with no input change since the state it starts from is one
``predict_update`` call (for the UKF, one compiled call); otherwise the prediction is split at
the input times (``predict`` per piece) and followed by ``update``.

Row subsets
-----------
A filter has one fixed measurement model. The engine asks it, per sensor, for a filter that
shares the process model (and every compiled kernel) but measures only that sensor's rows with the
sensor's ``R`` (:meth:`~phystwin.estimation.base.Filter.select_measurements`: for
:class:`KalmanFilter` the rows of ``H``; for the filters on a model the chosen model outputs).
Prediction always uses the filter given to the engine.

Inputs
------
Known inputs (a HIL rig's commanded voltage, a valve setpoint) are pushed as they are applied:
:meth:`FusionEngine.push_input` ``(t, u)`` with ``u`` whatever the filter's
:meth:`~phystwin.estimation.base.Filter.input_vector` takes (a vector, or for a filter on a model
also a name -> value mapping). The engine holds each input sample piecewise constant from its
time until the next one: a prediction from ``t0`` to ``t1`` is split at every input time inside
``(t0, t1)`` and each piece uses the last input sample at or before its start (before the first
input sample: the filter's defaults, ``u = None``). Updates see the input in effect at the
measurement time (outputs with feed-through). An input sample at or after the
current state time only affects later predictions; an earlier one (within the lag window) re-runs
the history after it, exactly like an out-of-sequence measurement, so the result does not depend
on whether inputs or measurements arrived first. A sample at the time of an existing one replaces it.

Ordering and out-of-sequence measurements
-----------------------------------------
Measurements are applied in the canonical order of the key ``(t, sensor, seq)``. The engine keeps a
history of the measurements of the last ``lag_window`` seconds (each with the state after it); a
measurement whose key is earlier than the newest one (or whose time is before the current state) is
inserted and the history re-run from the insertion point, with gating re-decided, so the result
equals in-order arrival. Measurements older than ``state.t - lag_window`` are dropped and counted.

Clock jumps
-----------
Every sample time is first checked against the sensor's own stream and the engine's time (see
:mod:`phystwin.estimation.fusion_health`): a jump far forward (default more than ten staleness
timeouts) or far backward is dropped with reason ``CLOCK_JUMP``, counted and reported by
:meth:`FusionEngine.health`; after ``reanchor_after`` consecutive consistent samples on the new
timebase the sensor is re-anchored (its samples are shifted by a clock offset onto the engine's
timebase) instead of being rejected forever. Outcomes report the sample time as pushed; states
and the history are on the engine's timebase.

Gating and rejection
--------------------
An update whose normalised innovation squared exceeds ``chi2.ppf(gate_probability, m)`` is rejected
and the state is left exactly as it was (not even predicted). The gate reopens for a sensor whose
last accepted sample is older than its ``stale_after``: such a measurement is applied whatever its
NIS, so a filter that drifted away from a real change (a fault, a model error) cannot lock itself
out of its sensors forever. NaN/Inf values, a wrong length, a
non-zero quality flag, an unknown sensor and a repeated ``(sensor, seq)`` are rejected and counted
the same way.

Health
------
A sensor is stale when its last *accepted* sample is more than its ``stale_after`` older than the
time asked about (or, never having delivered, the engine's start). :meth:`FusionEngine.health`
reports IN_SYNC (no stale sensor), DEGRADED (some) or LOST (all), and per sensor the clock jumps,
the size of the last one and the clock offset. :meth:`FusionEngine.advance` predicts without data
(covariance grows); the status recovers as soon as accepted data resumes.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import chi2

from phystwin.errors import InvalidValueError
from phystwin.estimation._filter_common import covariance
from phystwin.estimation.base import Filter
from phystwin.estimation.fusion_health import (
    FusionHealth,
    FusionOutcome,
    FusionReason,
    SensorClock,
    SensorCounters,
    SyncStatus,
)
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


@dataclass(frozen=True)
class FusedSensor:
    """A sensor feeding the engine.

    Parameters
    ----------
    rows : sequence of int or str
        The measured quantities, in the order of the measurement's values. Integers index the
        filter's measurement vector (its ``measurement_names``); strings name them (for a filter on a
        model, any output of the model).
    R : (m, m) or (m,)
        Measurement-noise covariance in SI units squared (a vector means a diagonal).
    stale_after : float, optional
        Seconds without an accepted sample before the sensor counts as stale (engine default when
        omitted).
    max_forward_jump : float, optional
        A sample more than this [s] ahead of the engine's newest time is a clock jump (engine
        default when omitted; that default is ``10 * stale_after``).
    """

    rows: Sequence[int | str]
    R: Any
    stale_after: float | None = None
    max_forward_jump: float | None = None


@dataclass(slots=True)
class _Entry:
    key: tuple[float, str, int]
    meas: Measurement
    post: GaussianState
    reason: FusionReason = FusionReason.ACCEPTED
    nis: float = math.nan
    innovation: np.ndarray | None = None
    S: np.ndarray | None = None


@dataclass
class _Sensor:
    spec: FusedSensor
    filter: Filter[GaussianState]
    m: int
    stale_after: float
    clock: SensorClock
    counters: SensorCounters = field(default_factory=SensorCounters)
    threshold: float = math.inf


class FusionEngine:
    """Fuses asynchronous measurements of several sensors into one state (see the module docstring).

    Parameters
    ----------
    filter : Filter
        Process model (its ``predict``) and measurement model (row subsets per sensor, see
        :meth:`~phystwin.estimation.base.Filter.select_measurements`); any :class:`~phystwin.estimation.base.Filter`.
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
    max_forward_jump : float, optional
        Default forward clock-jump threshold [s] (``10 * stale_after`` of each sensor when omitted).
    max_backward_jump : float, optional
        Backward clock-jump threshold [s] against the sensor's own newest sample
        (``max(10 * lag_window, stale_after)`` of each sensor when omitted).
    reanchor_after : int
        Consecutive consistent samples on a new timebase that re-anchor a jumped sensor.
    """

    def __init__(
        self,
        filter: Filter[GaussianState],
        sensors: Mapping[str, FusedSensor],
        initial: GaussianState,
        lag_window: float,
        gate_probability: float = 0.9999,
        stale_after: float = 1.0,
        max_forward_jump: float | None = None,
        max_backward_jump: float | None = None,
        reanchor_after: int = 3,
    ) -> None:
        if not sensors:
            raise InvalidValueError("FusionEngine needs at least one sensor")
        if not (math.isfinite(lag_window) and lag_window >= 0.0):
            raise InvalidValueError(f"lag_window must be finite and >= 0 s, got {lag_window!r}")
        if not (0.0 < gate_probability <= 1.0):
            raise InvalidValueError(f"gate_probability must be in (0, 1], got {gate_probability!r}")
        if initial.n != filter.n:
            raise InvalidValueError(f"initial state has {initial.n} entries, the filter has {filter.n} states")
        self.filter = filter
        self.lag_window = float(lag_window)
        self.gate_probability = float(gate_probability)
        self._sensors: dict[str, _Sensor] = {}
        for name, spec in sensors.items():
            if not spec.rows:
                raise InvalidValueError(f"sensor {name!r} measures no rows")
            m = len(spec.rows)
            R = covariance(f"R of sensor {name!r}", spec.R, m)
            try:
                f = filter.select_measurements(spec.rows, R)
            except ValueError as exc:
                raise InvalidValueError(f"sensor {name!r}: {exc}") from exc
            st = float(stale_after if spec.stale_after is None else spec.stale_after)
            if not (st > 0.0):
                raise InvalidValueError(f"stale_after of sensor {name!r} must be > 0 s, got {st!r}")
            fwd = spec.max_forward_jump if spec.max_forward_jump is not None else max_forward_jump
            bwd = max(10.0 * self.lag_window, st) if max_backward_jump is None else max_backward_jump
            try:
                clock = SensorClock(float(10.0 * st if fwd is None else fwd), float(bwd), int(reanchor_after))
            except ValueError as exc:
                raise InvalidValueError(f"sensor {name!r}: {exc}") from exc
            thr = math.inf if gate_probability >= 1.0 else float(chi2.ppf(gate_probability, m))
            self._sensors[name] = _Sensor(spec, f, m, st, clock, threshold=thr)
        self._state = initial
        self._t0 = initial.t
        self._now = initial.t  # newest engine time seen (clock-jump reference)
        self._anchor = initial  # state before the first history entry
        self._history: list[_Entry] = []
        self._seen: dict[tuple[str, int], float] = {}
        self._last_accepted: dict[str, float] = {}
        self._u_times: list[float] = []
        self._u_values: list[np.ndarray] = []

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

    def input_at(self, t: float) -> np.ndarray | None:
        """The input held at engine time ``t`` [s] (the last input sample at or before it), or None."""
        i = bisect.bisect_right(self._u_times, float(t)) - 1
        return None if i < 0 else self._u_values[i]

    # ------------------------------------------------------------------ time without data
    def advance(self, t: float) -> GaussianState:
        """Predict the current state to ``t`` [s] without data (no-op if ``t`` is not later)."""
        if float(t) > self._state.t:
            self._state = self._predict(self._state, float(t))
            self._now = max(self._now, self._state.t)
            self._prune()
        return self._state

    def health(self, t: float | None = None) -> FusionHealth:
        """Stale flags, clock jumps and overall status at ``t`` [s] (default: the current state time)."""
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
        clocks = {name: s.clock for name, s in self._sensors.items()}
        return FusionHealth(
            tq,
            status,
            stale,
            age,
            clock_jumps={n: c.jumps for n, c in clocks.items()},
            last_jump={n: c.last_jump for n, c in clocks.items()},
            clock_offset={n: c.offset for n, c in clocks.items()},
        )

    def warm_up(self, dt: float = 1e-3) -> None:
        """Run one prediction and every sensor's update once on a copy of the state, committing
        nothing, so the compiled kernels are loaded before the first live measurement arrives."""
        u = self.input_at(self._state.t)
        prior = self.filter.predict(self._state, self._state.t + dt, u)
        for s in self._sensors.values():
            z = np.zeros(s.m)
            s.filter.update(prior, z, u=u)
            s.filter.predict_update(self._state, self._state.t + dt, z, u=u)

    # ------------------------------------------------------------------ inputs
    def push_input(self, t: float, u: Any) -> int:
        """Hold input ``u`` from engine time ``t`` [s] until the next input sample (module docstring).

        Returns the number of history measurements re-run because ``t`` is before the current state.

        Raises
        ------
        ValueError
            If ``t`` is not finite or older than the lag window (the predictions it would change
            are no longer kept), or ``u`` has the wrong length or non-finite values (the message
            names the inputs).
        KeyError
            A mapping with unknown input names, or without an input that has no default.
        Exception
            Whatever the filter raises while re-running the history (e.g. :class:`EstimationError`,
            or a fixed-step filter refusing the split step); the input is then not kept and the
            state and history are unchanged.
        """
        t = float(t)
        if not math.isfinite(t):
            raise InvalidValueError(f"input time must be finite, got {t!r}")
        uv = self._input_vector(u, t)
        horizon = max(self._state.t - self.lag_window, self._anchor.t)
        if t < horizon:
            raise InvalidValueError(
                f"input at t = {t:.9g} s is older than the lag window (start {horizon:.9g} s, state at "
                f"{self._state.t:.9g} s, lag_window {self.lag_window:g} s); refused"
            )
        saved = (list(self._u_times), list(self._u_values))
        k = bisect.bisect_left(self._u_times, t)
        if k < len(self._u_times) and self._u_times[k] == t:
            self._u_values[k] = uv
        else:
            self._u_times.insert(k, t)
            self._u_values.insert(k, uv)
        i = bisect.bisect_right([e.key[0] for e in self._history], t)
        if i == len(self._history) and t >= self._state.t:
            return 0
        try:
            return len(self._rerun(i, None))
        except Exception:
            self._u_times, self._u_values = saved  # the re-run commits nothing unless it succeeds
            raise

    def _input_vector(self, u: Any, t: float) -> np.ndarray:
        try:
            uv = np.array(self.filter.input_vector(u), dtype=np.float64)
        except ValueError as exc:
            raise InvalidValueError(f"input at t = {t:.9g} s: {exc}") from exc
        uv.setflags(write=False)
        return uv

    def _predict(self, state: GaussianState, t: float) -> GaussianState:
        """Predict to ``t``, split at the input times in ``(state.t, t)``."""
        times = self._u_times
        i = bisect.bisect_right(times, state.t)
        while True:
            u = self._u_values[i - 1] if i > 0 else None
            t_next = times[i] if i < len(times) and times[i] < t else t
            state = self.filter.predict(state, t_next, u)
            if t_next >= t:
                return state
            i += 1

    # ------------------------------------------------------------------ measurements
    def push(self, meas: Measurement) -> FusionOutcome:
        """Fuse one measurement; never raises on bad data (see :class:`FusionReason`)."""
        name = meas.sensor
        t_raw = meas.t
        s = self._sensors.get(name)
        if s is None:
            return FusionOutcome(FusionReason.UNKNOWN_SENSOR, name, t_raw, message=f"unknown sensor {name!r}")
        horizon = max(self._state.t - self.lag_window, self._anchor.t)
        clk = s.clock.check(t_raw, self._now, horizon)
        if clk.jump:
            msg = (
                f"clock jump of {clk.size:+.6g} s (sample at {t_raw:.9g} s, engine time {self._now:.9g} s); dropped, "
                f"{len(s.clock.run)}/{s.clock.reanchor_after} consistent samples on the new timebase"
            )
            return self._count(s, FusionOutcome(FusionReason.CLOCK_JUMP, name, t_raw, message=msg))
        note = ""
        if clk.reanchored:
            s.counters.reanchored += 1
            self._seen = {k: tt for k, tt in self._seen.items() if k[0] != name}
            note = f"clock re-anchored after a jump of {clk.size:+.6g} s: offset {s.clock.offset:+.9g} s"
        if clk.t != t_raw:
            meas = Measurement(clk.t, name, meas.value, meas.seq, meas.quality)
        self._now = max(self._now, meas.t)
        out = self._push(s, meas)
        if out.t != t_raw or note:
            out = dataclasses.replace(out, t=t_raw, message="; ".join(m for m in (out.message, note) if m))
        return out

    def _push(self, s: _Sensor, meas: Measurement) -> FusionOutcome:
        name = meas.sensor
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
        if v.shape != (s.m,) or not all(map(math.isfinite, v.tolist())):
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

    def _step(self, prev: GaussianState, e: _Entry) -> GaussianState:
        """Predict from ``prev`` to the entry's time and update; sets the entry's decision, NIS,
        innovation and S; returns the state after the entry (``prev`` when not accepted)."""
        state, e.reason, e.nis, e.innovation, e.S = self._update(prev, e.meas)
        e.post = state
        return state

    def _update(
        self, prev: GaussianState, meas: Measurement
    ) -> tuple[GaussianState, FusionReason, float, np.ndarray | None, np.ndarray | None]:
        s = self._sensors[meas.sensor]
        times = self._u_times
        k = bisect.bisect_right(times, prev.t)
        if meas.t > prev.t and (k == len(times) or times[k] > meas.t):
            # no input change in (prev.t, meas.t]: one predict_update with the held input (the
            # filter's fast path: for the UKF one compiled call)
            post, info = s.filter.predict_update(prev, meas.t, meas.value, u=self._u_values[k - 1] if k > 0 else None)
        else:
            post, info = s.filter.update(self._predict(prev, meas.t), meas.value, u=self.input_at(meas.t))
        if not info.accepted:
            return prev, FusionReason.FILTER_ERROR, math.nan, None, None
        if info.nis > s.threshold and meas.t - self._last_accepted.get(meas.sensor, self._t0) <= s.stale_after:
            return prev, FusionReason.GATED, info.nis, info.innovation, info.S
        return post, FusionReason.ACCEPTED, info.nis, info.innovation, info.S

    def _insert(self, s: _Sensor, meas: Measurement) -> FusionOutcome:
        key = (meas.t, meas.sensor, meas.seq)
        hist = self._history
        last = not hist or key > hist[-1].key
        state = self._state
        new = _Entry(key, meas, state)
        if last and meas.t >= state.t:
            # in-order arrival (the live case): what _rerun does for a one-entry tail after the
            # current state, without its copies; nothing is committed if the step raises
            self._step(state, new)
            hist.append(new)
            self._state = new.post
            if new.reason is FusionReason.ACCEPTED:
                self._last_accepted[meas.sensor] = max(self._last_accepted.get(meas.sensor, -math.inf), meas.t)
            replayed = 0
        else:
            # a late sample searches the history's keys and re-runs everything after it
            i = len(hist) if last else bisect.bisect_right([e.key for e in hist], key)
            replayed = len(self._rerun(i, new)) - 1
            s.counters.out_of_sequence += 1
        out = FusionOutcome(new.reason, meas.sensor, meas.t, new.nis, replayed, "", new.innovation, new.S)
        return self._count(s, out)

    def _rerun(self, i: int, new: _Entry | None) -> list[_Entry]:
        """Re-run the history from index ``i`` (with ``new`` inserted there) and commit only if every
        step succeeds: re-decided counters, history, state (predicted back up to the current time)."""
        hist = self._history
        start = hist[i - 1].post if i > 0 else self._anchor
        tail = ([new] if new is not None else []) + [dataclasses.replace(e) for e in hist[i:]]
        state = start
        for e in tail:
            state = self._step(state, e)
        if state.t < self._state.t:
            state = self._predict(state, self._state.t)
        for old, e in zip(hist[i:], tail[len(tail) - len(hist) + i :], strict=True):
            if old.reason is not e.reason:
                self._sensors[e.meas.sensor].counters.add(old.reason, -1)
                self._sensors[e.meas.sensor].counters.add(e.reason)
        self._history = hist[:i] + tail
        self._state = state
        self._recompute_last_accepted(tail)
        return tail

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
        # inputs: keep the one in effect at the anchor and everything after it (replays start there)
        j = bisect.bisect_right(self._u_times, self._anchor.t) - 1
        if j > 0:
            del self._u_times[:j], self._u_values[:j]
        if len(self._seen) > 4 * (len(self._history) + 16):
            self._seen = {kk: tt for kk, tt in self._seen.items() if tt >= horizon}
