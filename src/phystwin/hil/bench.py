r"""The virtual test bench: a truth plant that plays the hardware.

:class:`VirtualBench` integrates the twin's own model, with the parameters of the bench config
(perturbed from the twin's), by fixed-step RK4 on the grid ``t_k = k * step``, applies scripted
faults, samples noisy multi-rate sensors and publishes them through a :class:`~phystwin.hil.link.BenchLink`
at real time, N x real time (``rate_factor``) or as fast as possible (``rate_factor = 0``). Actuator
commands that reach it override the scripted value of that input from the next step on.

Per step ``k`` (bench time ``t = k step``):

1. inputs ``u(t)``: the scripted tables, overridden by the last command of each actuator;
2. the ``inputs`` stream is published when ``u`` changes and at least every ``1 / input_rate``;
3. every sensor stream due at ``t`` is sampled from the outputs ``y(t) = g(x(t), u(t))``;
4. the truth is recorded every ``record_interval``;
5. the state is advanced to ``t + step`` with ``u`` held.

Sensor model (per sample of sensor ``s`` at ``t``)::

    z = scale * y_s(t) + b(t) + d(t) + sigma * e,        e ~ N(0, 1)
    b(t_k) = b(t_{k-1}) + sqrt(q_b (t_k - t_{k-1})) * N(0, 1)       (bias random walk)
    d(t) = rate * (t - t_fault)                                      (scripted bias drift)

plus dropouts (probability per sample, and scripted windows) and outliers (``+- sigmas * sigma``,
probability per sample, and scripted windows). A stream that groups several sensors is dropped as a
whole when any of its sensors drops out.

Pacing: the bench ticks every ``max(step / rate_factor, 1 ms)`` of wall time on absolute deadlines
(:class:`~phystwin.hil.pacing.Pacer`), advancing ``rate_factor * tick`` of bench time per tick.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phystwin.core.inputs import prepare_inputs
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.core.simulation import integrate_held
from phystwin.estimation.measurements import SensorSpec
from phystwin.estimation.types import Measurement
from phystwin.hil.link import BenchLink, Command
from phystwin.hil.pacing import Pacer
from phystwin.records.hdf5 import SignalInfo, signal_infos
from phystwin.records.live_config import INPUT_STREAM, FaultSection

__all__ = ["BenchSummary", "Fault", "VirtualBench"]

_MIN_TICK = 2e-3  # s of wall time: each tick is one compiled integration call (~0.3 ms of overhead)


@dataclass(frozen=True)
class Fault:
    """A scripted fault in SI units (see :class:`~phystwin.records.live_config.FaultSection`)."""

    kind: str
    at: float
    duration: float = math.inf
    parameter: str | None = None
    value: float = math.nan
    sensor: str | None = None
    rate: float = 0.0
    probability: float = 1.0
    sigmas: float = 20.0

    def active(self, t: float) -> bool:
        return self.at <= t < self.at + self.duration

    @classmethod
    def from_section(cls, sec: FaultSection, value: float = math.nan) -> Fault:
        return cls(
            sec.kind, float(sec.at), math.inf if sec.duration is None else sec.duration, sec.parameter, value,
            sec.sensor, sec.rate, sec.probability, sec.sigmas,
        )  # fmt: skip


@dataclass
class _LiveSensor:
    spec: SensorSpec
    index: int  # into the output vector
    every: int  # steps between samples
    rng: np.random.Generator
    faults: list[Fault]
    bias: float = 0.0
    t_last: float = math.nan

    def sample(self, t: float, truth: float) -> float | None:
        s = self.spec
        rng = self.rng
        if not math.isnan(self.t_last) and s.bias_psd > 0:
            self.bias += math.sqrt(s.bias_psd * (t - self.t_last)) * rng.standard_normal()
        self.t_last = t
        z = s.scale * truth + self.bias + s.noise_std * rng.standard_normal()
        drop = rng.random() < s.dropout_prob
        if rng.random() < s.outlier_prob:
            z += math.copysign(s.outlier_sigmas * s.noise_std, rng.random() - 0.5)
        for f in self.faults:
            if not f.active(t):
                continue
            if f.kind == "bias_drift":
                z += f.rate * (t - f.at)
            elif f.kind == "dropout":
                drop = True
            elif f.kind == "outliers" and rng.random() < f.probability:
                z += math.copysign(f.sigmas * max(s.noise_std, 1e-12), rng.random() - 0.5)
        if s.quantization:
            z = round(z / s.quantization) * s.quantization
        return None if drop else z


@dataclass
class BenchSummary:
    """What a bench run did."""

    duration: float
    steps: int
    published: dict[str, int]
    dropped: dict[str, int]
    commands: dict[str, int]
    faults_applied: list[str]
    wall_time: float
    pacing: dict[str, Any] = field(default_factory=dict)
    link: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class VirtualBench:
    """A truth plant publishing sensor streams and taking actuator commands (module docstring).

    Parameters
    ----------
    model : Model
        The plant (the twin's model without estimated parameters).
    params : mapping
        Plant parameter values (SI), over the model's defaults.
    x0 : mapping
        Initial state values (SI) by name.
    inputs : mapping
        Scripted inputs by name: constants or :class:`~phystwin.core.inputs.InputSignal` tables.
    sensors : sequence of SensorSpec
        The sensors; each samples a model output or state.
    streams : mapping of stream -> sensor names
        Publishing groups (see :func:`~phystwin.records.live_config.stream_table`); the stream
        ``"inputs"`` carries the applied input vector.
    actuators : sequence of str
        Inputs a command may set.
    faults : sequence of Fault
    step : float
        Plant step and publishing grid [s].
    seed : int
        Seed of every random draw (sensor noise, bias walks, dropouts, outliers).
    input_rate : float
        Minimum rate [Hz] of the ``inputs`` stream (it is also published at every change).
    """

    def __init__(
        self,
        model: Model,
        params: Mapping[str, Any],
        x0: Mapping[str, float],
        inputs: Mapping[str, Any],
        sensors: Sequence[SensorSpec],
        streams: Mapping[str, Sequence[str]],
        actuators: Sequence[str] = (),
        faults: Sequence[Fault] = (),
        *,
        step: float = 1e-3,
        seed: int = 0,
        input_rate: float = 10.0,
    ) -> None:
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"bench step must be > 0 s, got {step!r}")
        lay = model.layout
        self.model = model
        self.step = float(step)
        self.x = model.initial_state(dict(x0))
        self.params: dict[str, Any] = dict(params)
        self._p: np.ndarray | None = model.parameters(self.params)
        self._solver = RK4(dt=self.step)
        self.prepared = prepare_inputs(model, dict(inputs))
        input_names = [s.name for s in lay.inputs]
        for a in actuators:
            if a not in input_names:
                raise ValueError(f"actuator {a!r} is not an input of {model.name!r}; inputs: {input_names}")
        self.actuators = tuple(actuators)
        self._act_index = {a: input_names.index(a) for a in actuators}
        self._override: dict[int, float] = {}
        self.faults = list(faults)
        self._pending_param = [f for f in self.faults if f.kind == "parameter"]
        for f in self._pending_param:
            if f.parameter is None:
                raise ValueError(f"parameter fault at {f.at} s names no parameter")
            lay.param_slice(f.parameter)  # KeyError naming it if unknown
        signals = {s.name: ("y", k) for k, s in enumerate(lay.outputs)}
        signals.update({s.name: ("x", k) for k, s in enumerate(lay.states)})
        by_name = {s.name: s for s in sensors}
        self._sensors: dict[str, _LiveSensor] = {}
        for spec in sensors:
            if spec.signal not in {s.name for s in lay.outputs}:
                raise ValueError(f"sensor {spec.name!r}: {spec.signal!r} is not an output of {model.name!r}")
            every = round(1.0 / (spec.rate * self.step))
            if every < 1 or abs(every * spec.rate * self.step - 1.0) > 1e-9:
                raise ValueError(
                    f"sensor {spec.name!r}: rate {spec.rate:g} Hz is not a whole divisor of the bench step "
                    f"rate {1 / self.step:g} Hz; choose a rate like {1 / (self.step * max(every, 1)):g} Hz"
                )
            rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(spec.name.encode())]))
            mine = [f for f in self.faults if f.sensor == spec.name]
            self._sensors[spec.name] = _LiveSensor(spec, lay.output_index(spec.signal), every, rng, mine, spec.bias0)
        for f in self.faults:
            if f.kind != "parameter" and f.sensor not in by_name:
                raise ValueError(f"{f.kind} fault at {f.at} s: unknown sensor {f.sensor!r}; sensors: {list(by_name)}")
        self.streams: dict[str, tuple[str, ...]] = {}
        for name, members in streams.items():
            if name == INPUT_STREAM:
                continue
            unknown = [m for m in members if m not in self._sensors]
            if unknown or not members:
                raise ValueError(f"stream {name!r}: unknown sensor(s) {unknown}; sensors: {list(self._sensors)}")
            rates = {self._sensors[m].every for m in members}
            if len(rates) != 1:
                raise ValueError(f"stream {name!r}: its sensors {list(members)} must share one rate")
            self.streams[name] = tuple(members)
        self.stream_names = (*self.streams, INPUT_STREAM)
        self._input_every = max(1, round(1.0 / (input_rate * self.step)))
        self._seq = dict.fromkeys(self.stream_names, 0)
        self.published = dict.fromkeys(self.stream_names, 0)
        self.dropped = dict.fromkeys(self.stream_names, 0)
        self.commands_applied: dict[str, int] = dict.fromkeys(self.actuators, 0)
        self.faults_applied: list[str] = []
        self._k = 0
        self._u_last: np.ndarray | None = None
        self._last_input_k = -(10**18)
        self.command_log: list[tuple[float, Command]] = []

    # ------------------------------------------------------------------ recording layout
    def record_streams(self) -> dict[str, list[SignalInfo]]:
        """Streams a bench record holds: ``truth``, ``published/<stream>``, ``commands/<actuator>``."""
        lay = self.model.layout
        units = {s.name: s.unit for s in lay.outputs}
        out: dict[str, list[SignalInfo]] = {"truth": signal_infos(lay)}
        for name, members in self.streams.items():
            sig = [SignalInfo(m, units[self._sensors[m].spec.signal], "measurement") for m in members]
            out[f"published/{name}"] = [*sig, SignalInfo("seq", "1", "counter")]
        for a in self.actuators:
            unit = lay.inputs[self._act_index[a]].unit
            out[f"commands/{a}"] = [
                SignalInfo("value", unit, "command", "commanded value applied from this bench time"),
                SignalInfo("command_t", "s", "time", "twin time the command was computed at"),
                SignalInfo("seq", "1", "counter"),
            ]
        return out

    # ------------------------------------------------------------------ running
    @property
    def t(self) -> float:
        return self._k * self.step

    def apply(self, commands: Sequence[Command]) -> None:
        """Take commands (from the link): each sets its actuator from the current step on."""
        for c in commands:
            k = self._act_index.get(c.actuator)
            if k is None or not math.isfinite(c.value):
                continue
            self._override[k] = c.value
            self.commands_applied[c.actuator] += 1
            self.command_log.append((self.t, c))

    def advance(
        self,
        n_steps: int,
        publish: Callable[[Measurement], None],
        record: Callable[[str, float, Mapping[str, float]], None] | None = None,
        record_every: int = 10,
    ) -> None:
        """Run ``n_steps`` plant steps, publishing every sample due and recording the truth.

        The steps are integrated by one compiled call (fixed-step RK4 on the step grid, inputs held
        over each step); a parameter fault splits the chunk at its time.
        """
        lay = self.model.layout
        while n_steps > 0:
            k0 = self._k
            t0 = k0 * self.step
            for f in self._pending_param:
                if t0 >= f.at - 1e-12:
                    self.params[f.parameter or ""] = f.value
                    self._p = None
                    self.faults_applied.append(f"{t0:.6g} s: {f.parameter} = {f.value:g}")
            self._pending_param = [f for f in self._pending_param if t0 < f.at - 1e-12]
            n = n_steps
            for f in self._pending_param:  # stop the chunk at the next fault
                n = min(n, max(1, math.ceil((f.at - t0) / self.step - 1e-9)))
            self._chunk(n, publish, record, record_every, lay)
            n_steps -= n

    def _chunk(self, n: int, publish: Any, record: Any, record_every: int, lay: Any) -> None:
        k0 = self._k
        times = (k0 + np.arange(n)) * self.step
        U = self.prepared.at(times)
        for idx, v in self._override.items():
            U[:, idx] = v
        t1 = (k0 + n) * self.step
        if self._p is None:
            self._p = self.model.parameters(self.params)
        X, Y = integrate_held(self.model, self._p, self.x, times, U, t1, self._solver)
        prev = U[0] if self._u_last is None else self._u_last
        changed = np.any(np.vstack([prev, U[:-1]]) != U, axis=1)
        for j in range(n):
            k = k0 + j
            t = float(times[j])
            u = U[j]
            if self._u_last is None or changed[j] or k - self._last_input_k >= self._input_every:
                self._u_last = u.copy()
                self._last_input_k = k
                self._emit(INPUT_STREAM, t, u.copy(), publish)
            for name, members in self.streams.items():
                sensors = [self._sensors[m] for m in members]
                if k % sensors[0].every:
                    continue
                values = [s.sample(t, float(Y[j, s.index])) for s in sensors]
                if any(v is None for v in values):
                    self.dropped[name] += 1
                    self._seq[name] += 1  # a lost sample leaves a gap in the sequence
                    continue
                z = np.array(values, dtype=np.float64)
                self._emit(name, t, z, publish)
                if record is not None:
                    rec = dict(zip(members, z.tolist(), strict=True))
                    rec["seq"] = float(self._seq[name] - 1)
                    record(f"published/{name}", t, rec)
            if record is not None and k % record_every == 0:
                row = {s.name: float(X[j, i]) for i, s in enumerate(lay.states)}
                row.update({s.name: float(Y[j, i]) for i, s in enumerate(lay.outputs)})
                row.update({s.name: float(u[i]) for i, s in enumerate(lay.inputs)})
                record("truth", t, row)
        self.x = np.array(X[-1])
        self._k = k0 + n

    def _emit(self, stream: str, t: float, value: np.ndarray, publish: Callable[[Measurement], None]) -> None:
        seq = self._seq[stream]
        self._seq[stream] = seq + 1
        publish(Measurement(t, stream, value, seq))
        self.published[stream] += 1

    def run(
        self,
        link: BenchLink,
        duration: float,
        *,
        rate_factor: float = 1.0,
        recorder: Any = None,
        record_interval: float | None = 0.01,
        stop: Callable[[], bool] | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> BenchSummary:
        """Play ``duration`` seconds of bench time through ``link`` (module docstring for pacing)."""
        if not (math.isfinite(duration) and duration > 0):
            raise ValueError(f"bench duration must be > 0 s, got {duration!r}")
        if not (math.isfinite(rate_factor) and rate_factor >= 0):
            raise ValueError(f"rate_factor must be >= 0 (0 = as fast as possible), got {rate_factor!r}")
        n_total = round(duration / self.step)
        if rate_factor > 0:
            tick = max(self.step / rate_factor, _MIN_TICK)
            per_tick = max(1, round(tick * rate_factor / self.step))
            tick = per_tick * self.step / rate_factor
        else:
            tick, per_tick = 0.0, max(1, round(0.01 / self.step))
        pacer = Pacer(tick) if tick > 0 else None
        record_every = max(1, round((record_interval or self.step) / self.step))
        rec = None
        if recorder is not None:
            rec = recorder.append
            logged = 0
        start = time.monotonic()
        while self._k < n_total and not (stop is not None and stop()):
            self.apply(link.poll_commands())
            if recorder is not None:
                for bt, c in self.command_log[logged:]:
                    recorder.append(
                        f"commands/{c.actuator}", bt, {"value": c.value, "command_t": c.t, "seq": float(c.seq)}
                    )
                logged = len(self.command_log)
            self.advance(min(per_tick, n_total - self._k), link.publish, rec, record_every)
            if recorder is not None:
                recorder.maybe_flush(background=True)
            if progress is not None:
                progress(self.t)
            if pacer is not None:
                pacer.wait()
        wall = time.monotonic() - start
        return BenchSummary(
            duration=self.t,
            steps=self._k,
            published=dict(self.published),
            dropped=dict(self.dropped),
            commands=dict(self.commands_applied),
            faults_applied=list(self.faults_applied),
            wall_time=wall,
            pacing=pacer.summary() if pacer is not None else {},
            link=link.stats.as_dict(),
        )
