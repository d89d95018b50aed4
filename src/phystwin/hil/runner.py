r"""The twin runner: the one loop that owns the live state, the clocks and the I/O.

::

    link.poll ──> FusionEngine.push / push_input ──> recorder ──> controller ──> SafetyEnvelope ──> link.send_command
                                   │                                                  ▲
    Pacer tick (wall clock) ──> health, watchdog ─────────────────────────── fallback ┘

Every measurement is fused as soon as it is decoded (the measurement-to-estimate latency is the
time from decoding to the updated estimate, on the monotonic clock). Independently, a
:class:`~phystwin.hil.pacing.Pacer` ticks at ``tick_rate`` on absolute wall-clock deadlines: each
tick checks sync health and the watchdog, records health and timing, and flushes the recorder.

Modes
-----
``shadow``
    estimate only; no controller runs.
``advisory``
    the controller runs every ``[control] period`` of twin time and its commands pass the safety
    envelope, but they are only recorded (``sent = 0``); the link never carries a command.
``closed_loop``
    the enveloped commands are sent. When the twin loses sync (the watchdog gets no accepted
    measurement for ``[run] watchdog`` seconds of wall time, or the fusion health is LOST), every
    actuator gets its safe value (recorded with ``fallback = 1``) and the controller is reset; it
    resumes when accepted data resumes.

Record (``kind = "run"``): ``meas/<stream>`` (sample time, values, seq, latency [s], outcome
code), ``estimate`` (states and their sd every ``record_interval`` of twin time), ``innovation/<stream>``
(innovation, its variance S, NIS, dof), ``health`` and ``timing`` (wall time since start), and
``commands/<actuator>`` (wall time; twin time, requested, applied, sent, clamped, fallback).
Outcome codes are the positions in :data:`OUTCOME_CODES`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phystwin.core.inputs import InputSignal
from phystwin.errors import InvalidValueError
from phystwin.estimation.fusion import FusionEngine, FusionReason, SyncStatus
from phystwin.estimation.types import GaussianState
from phystwin.hil.control import PISpeedController, ThermalDerating
from phystwin.hil.link import INPUT_STREAM, Arrival, Command, TwinLink
from phystwin.hil.pacing import Pacer, TimingStats
from phystwin.hil.safety import Decision, SafetyEnvelope, Watchdog
from phystwin.records.hdf5 import SignalInfo

__all__ = ["MODES", "OUTCOME_CODES", "RunSummary", "SpeedControl", "TwinRunner"]

MODES = ("shadow", "advisory", "closed_loop")
OUTCOME_CODES: tuple[FusionReason, ...] = tuple(FusionReason)
_STATUS_CODE = {SyncStatus.IN_SYNC: 0, SyncStatus.DEGRADED: 1, SyncStatus.LOST: 2}
_OUTCOME_CODE = {r: k for k, r in enumerate(OUTCOME_CODES)}
_COUNT_KEY = {r: r.name.lower() for r in FusionReason}


@dataclass
class SpeedControl:
    """PI speed control of a motor twin with optional thermal derating, on the estimated state.

    ``V = PI(w_ref(t) - w_est)`` limited above by the derating voltage
    ``V_max = R(T_w) I_max(T_w + k sd) + k_e w_est`` (see :mod:`phystwin.hil.control`).
    """

    actuator: str
    period: float
    setpoint: Callable[[float], float]
    pi: PISpeedController
    speed_index: int
    derating: ThermalDerating | None = None
    temperature_index: int = -1

    def command(self, t: float, x: np.ndarray, sd: np.ndarray) -> float:
        w = float(x[self.speed_index])
        high = None
        if self.derating is not None:
            k = self.temperature_index
            high = self.derating.voltage_limit(float(x[k]), float(sd[k]), w)
        return self.pi.update(t, self.setpoint(t), w, high)

    @staticmethod
    def schedule(value: float | InputSignal, period: float | None = None) -> Callable[[float], float]:
        """A setpoint function of twin time: a constant or a table, repeated every ``period`` [s]."""
        if isinstance(value, InputSignal):
            t0 = float(value.times[0])
            if period:
                return lambda t: float(value.at(np.array([t0 + (t - t0) % period]))[0])
            return lambda t: float(value.at(np.array([t]))[0])
        v = float(value)
        return lambda t: v


@dataclass
class RunSummary:
    """What a run did; also stored as JSON in the record's ``summary`` attribute."""

    status: str
    mode: str
    wall_time: float
    twin_time: float
    measurements: dict[str, dict[str, int]]
    latency: dict[str, float]
    lateness: dict[str, float]
    ticks: int
    deadline_misses: int
    health_fraction: dict[str, float]
    commands: dict[str, dict[str, int]]
    link: dict[str, Any]
    final_estimate: dict[str, tuple[float, float]]
    recorder: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class TwinRunner:
    """Feed -> estimate -> record -> actuate (module docstring).

    Parameters
    ----------
    engine : FusionEngine
        The estimator with one :class:`FusedSensor` per fused stream.
    link : TwinLink
        Where measurements come from and commands go.
    streams : mapping of stream -> sensor signal names
        Every stream of the link's table (fused or not) with the model output each value measures;
        ``"inputs"`` carries the applied model inputs.
    mode : {"shadow", "advisory", "closed_loop"}
    control : SpeedControl, optional
        Required unless ``mode == "shadow"``.
    envelope : SafetyEnvelope, optional
        Required unless ``mode == "shadow"``: every command passes it.
    watchdog : float
        Seconds of wall time without an accepted measurement before the closed loop falls back.
    tick_rate : float
        Health/watchdog/flush ticks per second of wall time.
    recorder : Recorder, optional
        Live HDF5 recorder (streams are declared by the runner before it starts).
    record_interval : float, optional
        Interval [s of twin time] of the recorded estimates (None: after every measurement).
    """

    def __init__(
        self,
        engine: FusionEngine,
        link: TwinLink,
        streams: Mapping[str, Sequence[str]],
        *,
        mode: str = "shadow",
        control: SpeedControl | None = None,
        envelope: SafetyEnvelope | None = None,
        watchdog: float = 0.5,
        tick_rate: float = 100.0,
        recorder: Any = None,
        record_interval: float | None = 0.01,
    ) -> None:
        if mode not in MODES:
            raise InvalidValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode != "shadow" and (control is None or envelope is None):
            raise InvalidValueError(f"mode {mode!r} needs a controller ([control]) and a safety envelope ([safety])")
        self.engine = engine
        self.link = link
        self.mode = mode
        self.control = control
        self.envelope = envelope
        self.watchdog = Watchdog(watchdog)
        self.tick_rate = float(tick_rate)
        self.recorder = recorder
        self.record_interval = record_interval
        model = engine.filter.model
        if model is None:  # the records name states, outputs and inputs from the model's layout
            raise InvalidValueError(
                "the twin runner needs a filter on a compiled model (a KalmanFilter on matrices has none)"
            )
        self.layout = model.layout
        self.streams = {k: tuple(v) for k, v in streams.items()}
        self._meas_stream = {k: f"meas/{k}" for k in self.streams}
        self._innovation_stream = {k: f"innovation/{k}" for k in self.streams}
        self.fused = set(engine.sensors)
        self.n_inputs = self.layout.nu
        self.latency = TimingStats()
        self._counts: dict[str, dict[str, int]] = {s: {} for s in self.streams}
        self._seq = 0
        self._next_record = -math.inf
        self._next_control = -math.inf
        self._u_pushed: np.ndarray | None = None
        self._health_ticks = {"in_sync": 0, "degraded": 0, "lost": 0}
        self._cmd_counts: dict[str, dict[str, int]] = {}
        self._fallback_active = False
        self._t0 = time.monotonic()
        self._last_data = self._t0
        self._got_data = False
        if recorder is not None:
            self._declare()

    # ------------------------------------------------------------------ record layout
    def _declare(self) -> None:
        lay = self.layout
        units = {s.name: s.unit for s in (*lay.outputs, *lay.states)}
        rec = self.recorder
        extra = [
            SignalInfo("seq", "1", "counter"),
            SignalInfo("latency", "s", "timing", "decoding to updated estimate"),
            SignalInfo("outcome", "1", "code", "; ".join(f"{k}={r.name}" for k, r in enumerate(OUTCOME_CODES))),
        ]
        for name, signals in self.streams.items():
            if name == INPUT_STREAM:
                sig = [SignalInfo(s.name, s.unit, "input") for s in lay.inputs]
                rec.add_stream(f"meas/{name}", [*sig, extra[0]])
                continue
            sig = [SignalInfo(s, units.get(s, ""), "measurement") for s in signals]
            rec.add_stream(f"meas/{name}", [*sig, *extra])
            if name in self.fused:
                inn = [SignalInfo(s, units.get(s, ""), "innovation") for s in signals]
                inn += [SignalInfo(f"{s}.S", f"({units.get(s, '')})^2", "variance") for s in signals]
                inn += [SignalInfo("nis", "1", "nis"), SignalInfo("dof", "1", "dof")]
                rec.add_stream(f"innovation/{name}", inn)
        est = [SignalInfo(s.name, s.unit, "state", s.description) for s in lay.states]
        est += [SignalInfo(f"{s.name}.sd", s.unit, "sd") for s in lay.states]
        rec.add_stream("estimate", est)
        rec.add_stream(
            "health",
            [
                SignalInfo("twin_t", "s", "time", "estimate time"),
                SignalInfo("status", "1", "status", "0 in sync, 1 degraded, 2 lost"),
                SignalInfo("stale_sensors", "1", "count"),
                SignalInfo("trace_P", "1", "trace", "trace of the covariance (mixed units)"),
                SignalInfo("watchdog", "1", "flag", "1 while the watchdog is expired"),
            ],
        )
        rec.add_stream(
            "timing",
            [SignalInfo("lateness", "s", "timing"), SignalInfo("busy", "s", "timing", "work of the tick")],
        )
        if self.mode != "shadow" and self.control is not None:
            a = self.control.actuator
            unit = lay.inputs[[s.name for s in lay.inputs].index(a)].unit
            rec.add_stream(
                f"commands/{a}",
                [
                    SignalInfo("twin_t", "s", "time"),
                    SignalInfo("requested", unit, "command"),
                    SignalInfo("applied", unit, "command", "NaN when refused"),
                    SignalInfo("sent", "1", "flag"),
                    SignalInfo("clamped", "1", "flag"),
                    SignalInfo("fallback", "1", "flag"),
                ],
            )

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        *,
        duration: float | None = None,
        idle_timeout: float = 5.0,
        stop: Callable[[], bool] | None = None,
    ) -> RunSummary:
        """Run until ``duration`` [s wall] passes, no data came for ``idle_timeout`` [s], or ``stop()``.

        BLAS is limited to one thread for the run: the filter's small matrix functions (the Van Loan
        ``expm`` of every prediction) are ~100x slower when OpenBLAS threads fight the feed's and the
        bench's threads for two cores.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return self._run(duration, idle_timeout, stop)

    def _run(self, duration: float | None, idle_timeout: float, stop: Callable[[], bool] | None) -> RunSummary:
        self.engine.warm_up()  # load the compiled kernels now, not on the first measurement
        pacer = Pacer(1.0 / self.tick_rate)
        self._t0 = self._last_data = time.monotonic()
        status, message = "completed", ""
        try:
            while True:
                now = time.monotonic()
                if duration is not None and now - self._t0 >= duration:
                    message = f"duration {duration:g} s reached"
                    break
                if now - self._last_data >= idle_timeout:
                    message = f"no data for {idle_timeout:g} s" if self._got_data else "no data arrived"
                    status = "completed" if self._got_data else "no_data"
                    break
                if stop is not None and stop():
                    message = "stopped"
                    break
                for arrival in self.link.poll(max(0.0, min(pacer.time_to_next(), 0.05))):
                    self._handle(arrival)
                if pacer.time_to_next() <= 0:
                    lateness = pacer.wait()
                    t_start = time.monotonic()
                    self._tick()
                    if self.recorder is not None:
                        self.recorder.append(
                            "timing", t_start - self._t0, {"lateness": lateness, "busy": time.monotonic() - t_start}
                        )
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted by the user"
        return self._summary(status, message, pacer)

    def _handle(self, arrival: Arrival) -> None:
        meas = arrival.measurement
        name = meas.sensor
        self._got_data = True
        self._last_data = time.monotonic()
        rec = self.recorder
        # records are appended as rows in the order _declare gave the streams' signals
        if name == INPUT_STREAM:
            self._push_input(meas.t, meas.value)
            if rec is not None and meas.value.size == self.n_inputs:
                rec.append_row(self._meas_stream[name], meas.t, (*meas.value.tolist(), float(meas.seq)))
            return
        counts = self._counts.setdefault(name, {})
        if name not in self.fused:
            counts["recorded_only"] = counts.get("recorded_only", 0) + 1
            self._record_meas(name, meas, math.nan, -1)
            return
        out = self.engine.push(meas)
        latency = time.monotonic() - arrival.received_at
        self.latency.add(latency)
        reason = out.reason
        key = _COUNT_KEY[reason]
        counts[key] = counts.get(key, 0) + 1
        if reason is FusionReason.ACCEPTED:
            self.watchdog.feed()
        if rec is not None:
            self._record_meas(name, meas, latency, _OUTCOME_CODE[reason])
            inn, S = out.innovation, out.S
            # a late sample fused by a replay has an innovation at its own time like any other (each
            # sensor's stream stays in time order; rows of other sensors recorded before the replay
            # keep the values computed at their arrival)
            if inn is not None and S is not None:
                row = (*inn.tolist(), *S.diagonal().tolist(), out.nis, float(len(self.streams[name])))
                rec.append_row(self._innovation_stream[name], meas.t, row)
        state = self.engine.state
        if rec is not None and state.t >= self._next_record:
            self._record_estimate(state)
        if self.mode != "shadow" and self.control is not None and state.t >= self._next_control:
            self._next_control = state.t + self.control.period
            if not self._fallback_active:
                self._control(state)

    def _push_input(self, t: float, u: np.ndarray) -> None:
        counts = self._counts.setdefault(INPUT_STREAM, {})
        if u.size != self.n_inputs or not np.all(np.isfinite(u)):
            counts["invalid"] = counts.get("invalid", 0) + 1
            return
        if self._u_pushed is not None and np.array_equal(u, self._u_pushed):
            counts["unchanged"] = counts.get("unchanged", 0) + 1
            return
        try:
            self.engine.push_input(t, u)
        except ValueError:
            counts["too_old"] = counts.get("too_old", 0) + 1
            return
        self._u_pushed = u
        counts["applied"] = counts.get("applied", 0) + 1

    def _record_meas(self, name: str, meas: Any, latency: float, outcome: int) -> None:
        if self.recorder is None:
            return
        signals = self.streams.get(name, ())
        if meas.value.size != len(signals):
            return  # a wrong-length sample is counted (INVALID), not recordable in the stream's columns
        row = (*meas.value.tolist(), float(meas.seq), latency, float(outcome))
        self.recorder.append_row(self._meas_stream.get(name) or f"meas/{name}", meas.t, row)

    def _record_estimate(self, state: GaussianState) -> None:
        sd = np.sqrt(np.maximum(np.diag(state.P), 0.0))
        self.recorder.append_row("estimate", state.t, (*state.x.tolist(), *sd.tolist()))
        self._next_record = state.t + (self.record_interval or 0.0)

    # ------------------------------------------------------------------ actuation
    def _control(self, state: GaussianState) -> None:
        if self.control is None:
            return
        sd = np.sqrt(np.maximum(np.diag(state.P), 0.0))
        requested = self.control.command(state.t, state.x, sd)
        self._issue(Command(state.t, self.control.actuator, requested, self._next_seq()), fallback=False)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _issue(self, cmd: Command, *, fallback: bool) -> None:
        if self.envelope is None:
            return
        if fallback:
            applied: float | None = cmd.value
            decision = Decision.FALLBACK
        else:
            verdict = self.envelope.check(cmd)
            applied, decision = verdict.applied, verdict.decision
        send = self.mode == "closed_loop" and applied is not None
        if send:
            self.link.send_command(Command(cmd.t, cmd.actuator, float(applied), cmd.seq))  # type: ignore[arg-type]
        c = self._cmd_counts.setdefault(cmd.actuator, {})
        c[decision.name.lower()] = c.get(decision.name.lower(), 0) + 1
        c["sent"] = c.get("sent", 0) + int(send)
        if self.recorder is not None:
            self.recorder.append(
                f"commands/{cmd.actuator}",
                time.monotonic() - self._t0,
                {
                    "twin_t": cmd.t,
                    "requested": cmd.value,
                    "applied": math.nan if applied is None else float(applied),
                    "sent": float(send),
                    "clamped": float(decision in (Decision.CLAMPED, Decision.RATE_LIMITED)),
                    "fallback": float(fallback),
                },
            )

    # ------------------------------------------------------------------ ticks
    def _tick(self) -> None:
        state = self.engine.state
        health = self.engine.health(state.t)
        self._health_ticks[health.status.value] += 1
        lost = health.status is SyncStatus.LOST or self.watchdog.expired()
        if self.mode != "shadow" and self.envelope is not None:
            if lost and not self._fallback_active:
                self._fallback_active = True
                self.watchdog.trip("lost sync" if health.status is SyncStatus.LOST else "no accepted data")
                for cmd in self.envelope.fallback(state.t):
                    self._issue(Command(cmd.t, cmd.actuator, cmd.value, self._next_seq()), fallback=True)
                if self.control is not None:
                    self.control.pi.reset()
            elif not lost and self._fallback_active:
                self._fallback_active = False
        if self.recorder is not None:
            self.recorder.append(
                "health",
                time.monotonic() - self._t0,
                {
                    "twin_t": state.t,
                    "status": float(_STATUS_CODE[health.status]),
                    "stale_sensors": float(sum(health.stale.values())),
                    "trace_P": float(np.trace(state.P)),
                    "watchdog": float(self.watchdog.expired()),
                },
            )
            self.recorder.maybe_flush(background=True)  # a ~10 ms HDF5 flush must not stall the loop

    def _summary(self, status: str, message: str, pacer: Pacer) -> RunSummary:
        state = self.engine.state
        sd = np.sqrt(np.maximum(np.diag(state.P), 0.0))
        n_ticks = max(1, sum(self._health_ticks.values()))
        ps = pacer.summary()
        return RunSummary(
            status=status,
            mode=self.mode,
            wall_time=time.monotonic() - self._t0,
            twin_time=state.t,
            measurements={k: dict(v) for k, v in self._counts.items()},
            latency=self.latency.summary(),
            lateness={k: float(ps[k]) for k in ps if k.startswith("lateness")},
            ticks=int(ps.get("ticks", 0)),
            deadline_misses=int(ps.get("misses", 0)),
            health_fraction={k: v / n_ticks for k, v in self._health_ticks.items()},
            commands=self._cmd_counts,
            link=self.link.stats.as_dict(),
            final_estimate={s.name: (float(state.x[i]), float(sd[i])) for i, s in enumerate(self.layout.states)},
            message=message,
        )
