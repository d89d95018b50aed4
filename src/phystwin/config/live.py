"""Building the live objects from a config: the virtual bench and the twin runner.

Everything a config can get wrong is reported at once in a :class:`~phystwin.config.schema.ConfigError`
naming the key, before any socket is opened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from phystwin.config.estimation import estimator_setup, sensor_specs
from phystwin.config.live_schema import INPUT_STREAM, BenchSection, RunSection, stream_table
from phystwin.config.resolve import load_model, resolve, to_si
from phystwin.config.schema import ConfigError, TwinConfig, key_path, suggest
from phystwin.core.inputs import InputSignal
from phystwin.core.model import Model
from phystwin.estimation.fusion import FusedSensor, FusionEngine
from phystwin.hil.bench import Fault, VirtualBench

if TYPE_CHECKING:  # the bench needs neither the controllers nor the envelope
    from phystwin.hil.runner import SpeedControl
    from phystwin.hil.safety import SafetyEnvelope

__all__ = ["BenchSetup", "RunnerSetup", "bench_setup", "make_runner", "runner_setup"]


@dataclass(frozen=True, eq=False)
class BenchSetup:
    bench: VirtualBench
    section: BenchSection
    streams: tuple[str, ...]
    actuators: tuple[str, ...]

    @property
    def stream_widths(self) -> dict[str, int]:
        """Values per sample of each stream (``inputs``: every model input), for the link."""
        nu = self.bench.model.layout.nu
        return {name: nu if name == INPUT_STREAM else len(self.bench.streams[name]) for name in self.streams}


def _streams(config: TwinConfig, groups: list[list[str]]) -> dict[str, tuple[str, ...]]:
    names = list(config.sensors)
    problems = []
    for g in groups:
        for s in g:
            if s not in names:
                problems.append(("groups", f"unknown sensor {s!r}{suggest(s, names)}"))
    if problems:
        raise ConfigError(problems, config.source)
    return stream_table(names, groups)


def bench_setup(config: TwinConfig, model: Model | None = None) -> BenchSetup:
    """The :class:`VirtualBench` of ``config`` (``[bench]``, ``[sensors]``, parameters, inputs)."""
    sec = config.bench
    if sec is None:
        raise ConfigError([("bench", "no [bench] section: nothing tells the bench what to play")], config.source)
    model = model or load_model(config)
    run = resolve(config, model, duration=sec.duration)
    specs = sensor_specs(config, model)
    streams = _streams(config, sec.groups)
    lay = model.layout
    params = {s.name: s for s in lay.parameters}
    faults: list[Fault] = []
    problems: list[tuple[str, str]] = []
    for k, f in enumerate(sec.faults):
        where = ("bench", "faults", k)
        value = math.nan
        if f.kind == "parameter":
            if f.parameter not in params or f.value is None:
                hint = suggest(f.parameter or "", list(params))
                problems.append((key_path(where), f"a parameter fault needs parameter (known{hint}) and value"))
                continue
            try:
                value = float(to_si(f.value, params[f.parameter].unit, f"parameter {f.parameter!r}"))
            except ValueError as exc:
                problems.append((key_path((*where, "value")), str(exc)))
                continue
        elif f.sensor not in config.sensors:
            problems.append(
                (
                    key_path((*where, "sensor")),
                    f"unknown sensor {f.sensor!r}{suggest(f.sensor or '', list(config.sensors))}",
                )
            )
            continue
        duration = math.inf if f.duration is None else f.duration
        fault = Fault(f.kind, float(f.at), duration, f.parameter, value, f.sensor, f.rate, f.probability, f.sigmas)
        faults.append(fault)
    inputs = {s.name for s in lay.inputs}
    for a in sec.actuators:
        if a not in inputs:
            problems.append(("bench.actuators", f"{a!r} is not an input of the twin{suggest(a, sorted(inputs))}"))
    if problems:
        raise ConfigError(problems, config.source)
    fastest = max(s.rate for s in specs)
    try:
        bench = VirtualBench(
            model, run.params, run.x0, run.inputs, specs, streams, sec.actuators, faults,
            step=sec.step, seed=sec.seed, input_rate=sec.input_rate or min(fastest, 10.0),
        )  # fmt: skip
    except (ValueError, KeyError) as exc:
        raise ConfigError([("bench", str(exc).strip("'\""))], config.source) from None
    return BenchSetup(bench, sec, tuple(streams), tuple(sec.actuators))


@dataclass(frozen=True, eq=False)
class RunnerSetup:
    model: Model
    engine: FusionEngine
    streams: dict[str, tuple[str, ...]]
    """Stream -> measured model outputs (``inputs`` -> empty)."""
    actuators: tuple[str, ...]
    section: RunSection
    control: SpeedControl | None
    envelope: SafetyEnvelope | None

    @property
    def stream_widths(self) -> dict[str, int]:
        """Values per sample of each stream (``inputs``: every model input), for the link."""
        nu = self.model.layout.nu
        return {name: nu if name == INPUT_STREAM else len(outputs) for name, outputs in self.streams.items()}


def runner_setup(config: TwinConfig, t0: float = 0.0) -> RunnerSetup:
    """The estimator, streams, controller and envelope of ``config`` for ``phystwin run``."""
    sec = config.run or RunSection.model_validate({})
    est = config.estimation
    estimated = list(est.parameters) if est is not None else []
    model = load_model(config, estimated)
    setup = estimator_setup(config, model, t0)
    groups = [list(g) for g in setup.sensors.values() if len(g) > 1]
    table = _streams(config, groups)
    signal_of = {name: s.signal for name, s in config.sensors.items()}
    streams = {name: tuple(signal_of[m] for m in members) for name, members in table.items()}
    noise = {s.name: s.noise_std for s in sensor_specs(config, model)}
    rate = {name: s.rate for name, s in config.sensors.items()}
    fused = {  # a slow sensor is stale only after missing about three of its samples
        name: FusedSensor(
            list(streams[name]),
            np.array([noise[m] ** 2 for m in members]),
            stale_after=max(sec.stale_after, 3.0 / min(rate[m] for m in members)),
        )
        for name, members in table.items()
        if name != INPUT_STREAM and name in setup.sensors
    }
    engine = FusionEngine(
        setup.ukf, fused, setup.initial, lag_window=sec.lag_window,
        gate_probability=setup.gate_probability or 1.0, stale_after=sec.stale_after,
    )  # fmt: skip
    # the config's [inputs] hold until the bench's first "inputs" sample arrives
    run = resolve(config, model, duration=1.0)
    engine.push_input(
        t0, {k: (v.at(np.array([t0]))[0] if isinstance(v, InputSignal) else v) for k, v in run.inputs.items()}
    )
    control, envelope, actuators = _control(config, model, sec)
    return RunnerSetup(model, engine, streams, actuators, sec, control, envelope)


def make_runner(setup: RunnerSetup, link: Any, recorder: Any = None, mode: str | None = None) -> Any:
    """The :class:`~phystwin.hil.runner.TwinRunner` of ``setup`` on ``link`` (``mode`` overrides ``[run] mode``)."""
    from phystwin.hil.runner import TwinRunner

    sec = setup.section
    return TwinRunner(
        setup.engine, link, setup.streams, mode=mode or sec.mode, control=setup.control, envelope=setup.envelope,
        watchdog=sec.watchdog, tick_rate=sec.tick_rate, recorder=recorder, record_interval=sec.record_interval,
    )  # fmt: skip


def _control(
    config: TwinConfig, model: Model, sec: RunSection
) -> tuple[SpeedControl | None, SafetyEnvelope | None, tuple[str, ...]]:
    from phystwin.hil.control import PISpeedController, ThermalDerating
    from phystwin.hil.runner import SpeedControl
    from phystwin.hil.safety import ActuatorLimits, SafetyEnvelope

    ctl = config.control
    lay = model.layout
    problems: list[tuple[str, str]] = []
    inputs = {s.name: s for s in lay.inputs}
    if sec.mode != "shadow" and ctl is None:
        problems.append(("control", f"mode {sec.mode!r} needs a [control] section"))
    if ctl is None:
        if problems:
            raise ConfigError(problems, config.source)
        return None, None, ()
    if ctl.actuator not in inputs:
        problems.append(("control.actuator", f"{ctl.actuator!r} is not an input{suggest(ctl.actuator, list(inputs))}"))
    if ctl.actuator not in config.safety:
        problems.append(
            (f"safety.{ctl.actuator}", "every commanded input needs an envelope: low, high, max_rate, safe_value")
        )
    limits = []
    for name, s in config.safety.items():
        if name not in inputs:
            problems.append((f"safety.{name}", f"{name!r} is not an input{suggest(name, list(inputs))}"))
            continue
        try:
            limits.append(
                ActuatorLimits(name, inputs[name].unit, s.low, s.high, s.max_rate, s.safe_value, s.refuse_beyond)
            )
        except ValueError as exc:
            problems.append((f"safety.{name}", str(exc)))
    states = [s.name for s in lay.states]
    derating = None
    if ctl.derating is not None and ctl.derating.band.unit not in ("", "K"):
        problems.append(("control.derating.band", 'a temperature difference: give it in K (e.g. "10 K")'))
    elif ctl.derating is not None:
        d = ctl.derating
        p = model.parameters(resolve(config, model, duration=1.0).params)

        def par(n: str) -> float:
            return float(p[lay.param_slice(n)][0])

        try:
            derating = ThermalDerating(
                T_limit=float(to_si(d.temperature_limit, "K", "temperature_limit")),
                band=float(to_si(d.band, "K", "band")),
                I_rated=d.rated_current, I_min=d.min_current,
                R_20=par("armature_R.R_ref") * (1 + par("armature_R.alpha") * (293.15 - par("armature_R.T_ref"))),
                alpha=par("armature_R.alpha"), k_e=par("emf.k"), k_sigma=d.k_sigma,
            )  # fmt: skip
        except (ValueError, KeyError) as exc:
            problems.append(("control.derating", str(exc)))
    if "rotor.w" not in states:
        problems.append(("control.kind", "pi_speed needs a state 'rotor.w' (a motor twin)"))
    if problems:
        raise ConfigError(problems, config.source)
    env = next(lim for lim in limits if lim.name == ctl.actuator)
    sp: Any = ctl.setpoint
    if isinstance(sp, float | int):
        setpoint = SpeedControl.schedule(float(sp))
    else:
        setpoint = SpeedControl.schedule(InputSignal(sp.times, sp.values, sp.kind), sp.period)
    pi = PISpeedController(ctl.kp, ctl.ki, env.low, env.high)
    control = SpeedControl(
        ctl.actuator, ctl.period, setpoint, pi, states.index("rotor.w"), derating,
        states.index("winding.T") if derating is not None else -1,
    )  # fmt: skip
    return control, SafetyEnvelope(limits), tuple(limits_name.name for limits_name in limits)
