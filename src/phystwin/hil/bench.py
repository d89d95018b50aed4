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
whole when any of its sensors drops out. Each random quantity of each sensor draws from its own
seeded generator in sample order (:mod:`phystwin.hil.bench_sensors`), so a run is reproducible from
its seed whatever the chunking of the steps (which follows the wall clock).

Cost: the steps between two pacing ticks are one compiled call (:mod:`phystwin.hil.bench_plant`),
the sensors are sampled a block at a time, and the samples of a tick go to the link's
``publish_samples`` as plain tuples (UDP sends them without building a
:class:`~phystwin.estimation.types.Measurement` per sample).

Pacing: the bench ticks every ``max(step / rate_factor, 2 ms)`` of wall time on absolute deadlines
(:class:`~phystwin.hil.pacing.Pacer`), advancing ``rate_factor * tick`` of bench time per tick. The
compiled code is loaded before the first deadline. Deadlines the pacer skips (a tick late by more
than a period: the process was descheduled) are made up by the next ticks, at most
``_MAX_CATCH_UP`` ticks' worth of steps per tick, so that bench time keeps to ``rate_factor`` times
wall time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from phystwin.core.input_tables import LINEAR
from phystwin.core.inputs import prepare_inputs
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.core.simulation import integrate_held
from phystwin.errors import InvalidValueError
from phystwin.estimation.measurements import SensorSpec
from phystwin.estimation.types import Measurement
from phystwin.hil.bench_plant import PlantStepper
from phystwin.hil.bench_sensors import SensorModel
from phystwin.hil.link import INPUT_STREAM, BenchLink, Command
from phystwin.hil.pacing import Pacer
from phystwin.records.hdf5 import SignalInfo, signal_infos

__all__ = ["BenchSummary", "Fault", "VirtualBench"]

_MIN_TICK = 2e-3  # s of wall time; a tick costs ~0.1 ms + ~10 us per step and published sample (UDP)
_MAX_CATCH_UP = 8  # ticks' worth of steps a tick may run to make up for skipped deadlines

Sample = tuple[str, float, Sequence[float], int]
"""What the bench publishes: ``(stream, t, values, seq)`` (a :class:`Measurement` of quality 0)."""
Emit = Callable[[list[Sample]], None]
Rows = Callable[[str, np.ndarray, dict[str, np.ndarray]], None]
"""``rows(stream, t, columns)``: record many samples of a stream (``Recorder.append_rows``)."""


@dataclass(frozen=True)
class Fault:
    """A scripted fault in SI units (a config's ``[[bench.faults]]``: ``phystwin.config.live_schema.FaultSection``)."""

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
        Publishing groups (see :func:`~phystwin.config.live_schema.stream_table`); the stream
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
            raise InvalidValueError(f"bench step must be > 0 s, got {step!r}")
        lay = model.layout
        self.model = model
        self.step = float(step)
        self.x = model.initial_state(dict(x0))
        self.params: dict[str, Any] = dict(params)
        self._p: np.ndarray | None = model.parameters(self.params)
        self._solver = RK4(dt=self.step)
        self.prepared = prepare_inputs(model, dict(inputs))
        self._linear_inputs = np.flatnonzero(self.prepared.tab_kind == LINEAR).tolist()
        input_names = [s.name for s in lay.inputs]
        for a in actuators:
            if a not in input_names:
                raise InvalidValueError(f"actuator {a!r} is not an input of {model.name!r}; inputs: {input_names}")
        self.actuators = tuple(actuators)
        self._act_index = {a: input_names.index(a) for a in actuators}
        self._override: dict[int, float] = {}
        self.faults = list(faults)
        self._pending_param = [f for f in self.faults if f.kind == "parameter"]
        for f in self._pending_param:
            if f.parameter is None:
                raise InvalidValueError(f"parameter fault at {f.at} s names no parameter")
            lay.param_slice(f.parameter)  # KeyError naming it if unknown
        signals = {s.name: ("y", k) for k, s in enumerate(lay.outputs)}
        signals.update({s.name: ("x", k) for k, s in enumerate(lay.states)})
        by_name = {s.name: s for s in sensors}
        self._sensors: dict[str, SensorModel] = {}
        for spec in sensors:
            if spec.signal not in {s.name for s in lay.outputs}:
                raise InvalidValueError(f"sensor {spec.name!r}: {spec.signal!r} is not an output of {model.name!r}")
            every = round(1.0 / (spec.rate * self.step))
            if every < 1 or abs(every * spec.rate * self.step - 1.0) > 1e-9:
                raise InvalidValueError(
                    f"sensor {spec.name!r}: rate {spec.rate:g} Hz is not a whole divisor of the bench step "
                    f"rate {1 / self.step:g} Hz; choose a rate like {1 / (self.step * max(every, 1)):g} Hz"
                )
            mine = [f for f in self.faults if f.sensor == spec.name]
            self._sensors[spec.name] = SensorModel(spec, lay.output_index(spec.signal), every, mine, seed)
        for f in self.faults:
            if f.kind != "parameter" and f.sensor not in by_name:
                raise InvalidValueError(
                    f"{f.kind} fault at {f.at} s: unknown sensor {f.sensor!r}; sensors: {list(by_name)}"
                )
        self.streams: dict[str, tuple[str, ...]] = {}
        for name, members in streams.items():
            if name == INPUT_STREAM:
                continue
            unknown = [m for m in members if m not in self._sensors]
            if unknown or not members:
                raise InvalidValueError(f"stream {name!r}: unknown sensor(s) {unknown}; sensors: {list(self._sensors)}")
            rates = {self._sensors[m].every for m in members}
            if len(rates) != 1:
                raise InvalidValueError(f"stream {name!r}: its sensors {list(members)} must share one rate")
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
        # the lean plant kernel has no event handling: a model with events takes the general path
        self._plant = None if lay.events else PlantStepper(model, self.step)

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

        ``publish`` takes one :class:`Measurement` per sample and ``record`` one row per sample
        (``record(stream, t, {signal: value})``); :meth:`run` uses the batched forms.
        """

        def emit(samples: list[Sample]) -> None:
            for stream, t, values, seq in samples:
                publish(Measurement(t, stream, np.array(values), seq))

        self._advance(n_steps, emit, None if record is None else _row_by_row(record), record_every)

    def _advance(self, n_steps: int, emit: Emit, rows: Rows | None, record_every: int) -> None:
        """:meth:`advance` with the samples of each chunk in one ``emit`` call and batched ``rows``.

        Each chunk of steps is integrated by one compiled call (fixed-step RK4 on the step grid,
        inputs held over each step); a parameter fault splits the chunk at its time.
        """
        while n_steps > 0:
            k0 = self._k
            t0 = k0 * self.step
            if self._pending_param:
                for f in self._pending_param:
                    if t0 >= f.at - 1e-12:
                        self.params[f.parameter or ""] = f.value
                        self._p = None
                        self.faults_applied.append(f"{t0:.6g} s: {f.parameter} = {f.value:g}")
                self._pending_param = [f for f in self._pending_param if t0 < f.at - 1e-12]
            n = n_steps
            for f in self._pending_param:  # stop the chunk at the next fault
                n = min(n, max(1, math.ceil((f.at - t0) / self.step - 1e-9)))
            self._chunk(n, emit, rows, record_every)
            n_steps -= n

    def _inputs_at(self, times: np.ndarray) -> tuple[np.ndarray, bool]:
        """Input rows at ``times`` (:meth:`PreparedInputs.at`) with the commanded overrides, and
        whether they may differ from one row to the next (a breakpoint or a linear input)."""
        prep = self.prepared
        idx = np.searchsorted(prep.tab_t, times, side="right") - 1
        if idx[0] < 0:
            np.maximum(idx, 0, out=idx)
        U = prep.tab_v[idx]
        for j in self._linear_inputs:
            U[:, j] = np.interp(times, prep.tab_t, prep.tab_v[:, j])
        for j, v in self._override.items():
            U[:, j] = v
        return U, bool(self._linear_inputs) or idx[0] != idx[-1]

    def _integrate(self, k0: int, n: int, times: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._p is None:
            self._p = self.model.parameters(self.params)
        if self._plant is not None:
            return self._plant.run(k0, self.x, self._p, U)
        return integrate_held(self.model, self._p, self.x, times, U, (k0 + n) * self.step, self._solver)

    def _input_samples(self, k0: int, U: np.ndarray, varying: bool) -> list[int]:
        """Steps of the chunk at which the ``inputs`` stream is published (at a change, or when due);
        ``varying``: the rows may differ from one another (else only the first may differ from the
        last published one)."""
        n = U.shape[0]
        prev = U[0] if self._u_last is None else self._u_last
        if varying:
            changed = np.flatnonzero(np.any(np.vstack([prev, U[:-1]]) != U, axis=1)).tolist()
        else:
            changed = [0] if U[0].tolist() != prev.tolist() else []
        out: list[int] = []
        j = 0
        c = 0
        last = self._last_input_k
        every = self._input_every
        while j < n:
            while c < len(changed) and changed[c] < j:
                c += 1
            nxt = min(max(j, last + every - k0), changed[c] if c < len(changed) else n)
            if nxt >= n:
                break
            out.append(nxt)
            last = k0 + nxt
            j = nxt + 1
        if out:
            self._last_input_k = last
            self._u_last = U[out[-1]].copy()
        return out

    def _chunk(self, n: int, emit: Emit, rows: Rows | None, record_every: int) -> None:
        k0 = self._k
        times = (k0 + np.arange(n)) * self.step
        U, varying = self._inputs_at(times)
        X, Y = self._integrate(k0, n, times, U)
        samples: list[Sample] = []
        sources = 0
        due = self._input_samples(k0, U, varying)
        if due:
            seq0 = self._seq[INPUT_STREAM]
            self._seq[INPUT_STREAM] = seq0 + len(due)
            self.published[INPUT_STREAM] += len(due)
            samples.extend(
                zip(repeat(INPUT_STREAM), times[due].tolist(), U[due].tolist(), range(seq0, seq0 + len(due)))
            )
            sources += 1
        for name, members in self.streams.items():
            got = self._sample_stream(name, members, k0, times, Y, rows)
            if got:
                samples.extend(got)
                sources += 1
        if sources > 1:  # per step: inputs first, then the streams in order (the sort is stable)
            samples.sort(key=_sample_time)
        if samples:
            emit(samples)
        if rows is not None:
            first = (-k0) % record_every
            if first < n:
                lay = self.model.layout
                truth = {s.name: X[first:n:record_every, i] for i, s in enumerate(lay.states)}
                truth.update({s.name: Y[first::record_every, i] for i, s in enumerate(lay.outputs)})
                truth.update({s.name: U[first::record_every, i] for i, s in enumerate(lay.inputs)})
                rows("truth", times[first::record_every], truth)
        self.x = np.array(X[-1])
        self._k = k0 + n

    def _sample_stream(
        self, name: str, members: tuple[str, ...], k0: int, times: np.ndarray, Y: np.ndarray, rows: Rows | None
    ) -> list[Sample]:
        """The published samples of stream ``name`` in the chunk of ``times`` (outputs ``Y``)."""
        sensors = [self._sensors[m] for m in members]
        every = sensors[0].every
        first = (-k0) % every
        if first >= times.size:
            return []
        ts = times[first::every]
        m = ts.size
        cols = []
        drop = None
        for s in sensors:
            z, d = s.sample(ts, Y[first::every, s.index])
            cols.append(z)
            if d is not None:
                drop = d if drop is None else drop | d
        seq0 = self._seq[name]
        self._seq[name] = seq0 + m  # a lost sample leaves a gap in the sequence
        seqs = np.arange(seq0, seq0 + m)
        if drop is not None and drop.any():
            keep = ~drop
            self.dropped[name] += m - int(np.count_nonzero(keep))
            ts, seqs = ts[keep], seqs[keep]
            cols = [z[keep] for z in cols]
            if ts.size == 0:
                return []
        self.published[name] += ts.size
        if rows is not None:
            values = dict(zip(members, cols, strict=True))
            values["seq"] = seqs.astype(np.float64)
            rows(f"published/{name}", ts, values)
        return list(zip(repeat(name), ts.tolist(), zip(*[z.tolist() for z in cols], strict=True), seqs.tolist()))

    def warm_up(self) -> None:
        """Load the compiled plant code (from the disk cache) without advancing the bench."""
        if self._p is None:
            self._p = self.model.parameters(self.params)
        times = np.array([self.t])
        U = self._inputs_at(times)[0]
        if self._plant is not None:
            self._plant.run(self._k, self.x, self._p, U)
        else:
            integrate_held(self.model, self._p, self.x, times, U, self.t + self.step, self._solver)

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
            raise InvalidValueError(f"bench duration must be > 0 s, got {duration!r}")
        if not (math.isfinite(rate_factor) and rate_factor >= 0):
            raise InvalidValueError(f"rate_factor must be >= 0 (0 = as fast as possible), got {rate_factor!r}")
        n_total = round(duration / self.step)
        if rate_factor > 0:
            tick = max(self.step / rate_factor, _MIN_TICK)
            per_tick = max(1, round(tick * rate_factor / self.step))
            tick = per_tick * self.step / rate_factor
        else:
            tick, per_tick = 0.0, max(1, round(0.01 / self.step))
        emit = link.publish_samples
        record_every = max(1, round((record_interval or self.step) / self.step))
        rows = None
        if recorder is not None:
            rows = getattr(recorder, "append_rows", None) or _row_by_row(recorder.append)
            logged = 0
        self.warm_up()
        pacer = Pacer(tick) if tick > 0 else None
        owed = 0  # steps of skipped deadlines still to be made up
        start = time.monotonic()
        while self._k < n_total and not (stop is not None and stop()):
            self.apply(link.poll_commands())
            if recorder is not None:
                for bt, c in self.command_log[logged:]:
                    recorder.append(
                        f"commands/{c.actuator}", bt, {"value": c.value, "command_t": c.t, "seq": float(c.seq)}
                    )
                logged = len(self.command_log)
            n = min(per_tick + owed, _MAX_CATCH_UP * per_tick, n_total - self._k)
            owed = max(0, per_tick + owed - n)
            self._advance(n, emit, rows, record_every)
            if recorder is not None:
                recorder.maybe_flush(background=True)
            if progress is not None:
                progress(self.t)
            if pacer is not None:
                skipped = pacer.skipped
                pacer.wait()
                owed += (pacer.skipped - skipped) * per_tick
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


def _sample_time(sample: Sample) -> float:
    return sample[1]


def _row_by_row(record: Callable[[str, float, Mapping[str, float]], None]) -> Rows:
    """Batched rows for a recorder that takes one ``record(stream, t, {signal: value})`` per row."""

    def rows(stream: str, t: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        names = list(columns)
        for ti, row in zip(t.tolist(), np.column_stack([columns[c] for c in names]).tolist(), strict=True):
            record(stream, ti, dict(zip(names, row, strict=True)))

    return rows
