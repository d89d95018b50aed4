"""Resolve a structurally valid :class:`~phystwin.config.schema.TwinConfig` against a compiled Model.

Every name is checked against the model's layout (close matches suggested; a name given in the wrong
section is pointed to the right one), values are converted to the SI unit the model declares, and the
model's bounds are applied. All problems are collected and raised together in one
:class:`~phystwin.config.schema.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phystwin.config.schema import (
    ConfigError,
    InputTable,
    Quantity,
    SimulationSection,
    TwinConfig,
    key_path,
    suggest,
)
from phystwin.core.inputs import MAX_TABLE_POINTS, InputSignal
from phystwin.core.model import Model, Signal, is_internal_parameter
from phystwin.core.options import RK4, DormandPrince, Rodas, Solver
from phystwin.core.simulation import simulate
from phystwin.core.trajectory import Trajectory
from phystwin.errors import InvalidValueError
from phystwin.physics.component import ModelDefinitionError
from phystwin.units import to_unit

SOLVERS = ("rodas", "dopri5", "rk4")
"""Solver names accepted in ``[simulation] solver`` and by the CLI."""

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class RunSpec:
    """A config resolved against a compiled model, in SI units: what :func:`simulate` needs."""

    twin_type: str
    label: str
    duration: float
    solver: Solver
    solver_name: str
    params: Mapping[str, float | np.ndarray] = field(default_factory=dict)
    x0: Mapping[str, float] = field(default_factory=dict)
    inputs: Mapping[str, float | InputSignal] = field(default_factory=dict)
    save: float | None = None

    def simulate(self, model: Model, *, raise_on_failure: bool = True) -> Trajectory:
        """Run ``model`` from t = 0 to ``duration`` with this run's parameters, start values and inputs."""
        return simulate(
            model,
            (0.0, self.duration),
            inputs=self.inputs,
            params=self.params,
            x0=self.x0,
            solver=self.solver,
            save=self.save,
            raise_on_failure=raise_on_failure,
        )


# ---------------------------------------------------------------------------------------- helpers
def to_si(q: Quantity, declared: str, what: str) -> float | np.ndarray:
    """The value of ``q`` in the ``declared`` unit of ``what``; ``ValueError`` naming both units otherwise
    (:func:`phystwin.units.to_unit`: the Python API converts with the same function and messages)."""
    if q.unit is None:
        return np.asarray(q.value, dtype=np.float64) if isinstance(q.value, tuple) else q.value
    return to_unit(q.value, q.unit, declared, what)  # type: ignore[no-any-return]


def _bounds(spec: Signal) -> str:
    parts = []
    if spec.lower > -math.inf:
        parts.append(f"{'>' if spec.strict else '>='} {spec.lower:g}")
    if spec.upper < math.inf:
        parts.append(f"<= {spec.upper:g}")
    return " and ".join(parts)


_NOUN = {"parameters": "a parameter", "initial": "a state", "inputs": "an input"}
_WHAT = {"parameters": "parameter", "initial": "state", "inputs": "input"}


class _Checker:
    """Collects problems while resolving one config against one model."""

    def __init__(self, config: TwinConfig, model: Model) -> None:
        self.config = config
        self.model = model
        lay = model.layout
        self.groups: dict[str, Sequence[Signal]] = {
            "parameters": lay.parameters,
            "initial": lay.states,
            "inputs": lay.inputs,
        }
        self.problems: Problems = []

    def add(self, loc: tuple[str, ...] | str, message: str) -> None:
        self.problems.append((loc if isinstance(loc, str) else key_path(loc), message))

    def lookup(self, section: str, name: str) -> Signal | None:
        """The layout entry ``name`` of ``section``, or None after reporting it with a suggestion."""
        for sig in self.groups[section]:
            if sig.name == name:
                return sig
        hint = ""
        for other, sigs in self.groups.items():
            if other != section and any(s.name == name for s in sigs):
                hint = f"; {name!r} is {_NOUN[other]}: give it in [{other}]"
        names = [s.name for s in self.groups[section]]
        hint = hint or suggest(name, names)
        listing = "" if hint else f"; the model's {_WHAT[section]}s are: {', '.join(names) or '(none)'}"
        twin = self.config.twin.reference
        self.add((section, name), f"unknown {_WHAT[section]} of twin {twin!r}{hint}{listing}")
        return None

    # ------------------------------------------------------------------ sections
    def parameters(self) -> dict[str, float | np.ndarray]:
        out: dict[str, float | np.ndarray] = {}
        for name, q in self.config.parameters.items():
            spec = self.lookup("parameters", name)
            if spec is None:
                continue
            if is_internal_parameter(name):
                self.add(("parameters", name), "an internal parameter (the FMU's function addresses) cannot be set")
                continue
            try:
                v = to_si(q, spec.unit, f"parameter {name!r}")
            except ValueError as exc:
                self.add(("parameters", name), str(exc))
                continue
            try:
                self.model.parameters({name: v})
            except ValueError as exc:
                self.add(("parameters", name), self._parameter_message(spec, q, v, exc))
                continue
            out[name] = v
        for spec in self.model.layout.parameters:
            required = not np.all(np.isfinite(np.asarray(spec.default, dtype=np.float64)))
            if required and spec.name not in self.config.parameters:
                self.add(("parameters", spec.name), f"required parameter is missing (no default) [{spec.unit}]")
        return out

    @staticmethod
    def _parameter_message(spec: Signal, q: Quantity, v: Any, exc: ValueError) -> str:
        arr = np.asarray(v).reshape(-1)
        if arr.size == spec.size and np.all(np.isfinite(arr)):
            shown = f"{arr[0]:g}" if arr.size == 1 else np.array2string(arr, precision=6)
            given = f" (given as {q})" if q.unit else ""
            unit = "" if spec.unit in ("", "1") else f" {spec.unit}"
            return f"expected a value {_bounds(spec)}{unit}, got {shown}{unit}{given}"
        return re.sub(r"^parameter '[^']*'( \[[^\]]*\])?: ", "", str(exc)) + f" [{spec.unit}]"

    def initial(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, q in self.config.initial.items():
            st = self.lookup("initial", name)
            if st is None:
                continue
            where = ("initial", name)
            if isinstance(q.value, tuple):
                self.add(where, f"expected a single start value [{st.unit}], got {len(q.value)} values")
                continue
            try:
                x = float(to_si(q, st.unit, f"state {name!r}"))
            except ValueError as exc:
                self.add(where, str(exc))
                continue
            if not st.lower <= x <= st.upper:
                self.add(where, f"start value {x:g} {st.unit} is outside [{st.lower:g}, {st.upper:g}] {st.unit}")
                continue
            out[name] = x
        return out

    def inputs(self, t_end: float | None) -> dict[str, float | InputSignal]:
        out: dict[str, float | InputSignal] = {}
        for name, given in self.config.inputs.items():
            sig = self.lookup("inputs", name)
            if sig is None:
                continue
            try:
                out[name] = _input_value(name, sig, given, t_end)
            except ValueError as exc:
                self.add(("inputs", name), str(exc))
        for sig in self.model.layout.inputs:
            if sig.name not in self.config.inputs and not math.isfinite(float(sig.default)):  # type: ignore[arg-type]
                self.add(
                    ("inputs", sig.name),
                    f"required input is missing (no default): give a number [{sig.unit}] or a table",
                )
        return out


def _input_value(name: str, sig: Signal, given: Quantity | InputTable, t_end: float | None) -> float | InputSignal:
    if isinstance(given, Quantity):
        if isinstance(given.value, tuple):
            raise InvalidValueError(f"expected a single constant value [{sig.unit}] or a table with times and values")
        return float(to_si(given, sig.unit, f"input {name!r}"))
    times = np.asarray(given.times, dtype=np.float64)
    values = to_si(Quantity(tuple(given.values), given.unit), sig.unit, f"input {name!r}")
    values = np.asarray(values, dtype=np.float64)
    if t_end is not None:
        times, values = expand_period(given, times, values, t_end)
    return InputSignal(times, values, given.kind)


def expand_period(
    table: InputTable, times: np.ndarray, values: np.ndarray, t_end: float
) -> tuple[np.ndarray, np.ndarray]:
    """The table repeated every ``table.period`` seconds until ``t_end`` (unchanged if not periodic);
    :meth:`phystwin.core.inputs.InputSignal.repeated`, which the Python API uses too."""
    sig = InputSignal(times, values, table.kind, period=table.period).repeated(t_end)
    return sig.times, sig.values


def make_solver(sim: SimulationSection, name: str, problems: Problems) -> Solver:
    """The solver options object for ``name`` with the config's tolerances or step."""
    extra = {} if sim.max_steps is None else {"max_steps": sim.max_steps}
    if name == "rk4":
        if sim.dt is None:
            problems.append(("simulation.dt", "required key is missing: the rk4 solver needs a fixed step dt [s]"))
            return RK4(1.0)
        return RK4(sim.dt, **extra)
    if name not in SOLVERS:
        problems.append(("simulation.solver", f"expected one of {', '.join(SOLVERS)}, got {name!r}"))
    cls = Rodas if name == "rodas" else DormandPrince
    return cls(rtol=sim.rtol, atol=sim.atol, **extra)


# ---------------------------------------------------------------------------------------- API
def resolve(
    config: TwinConfig,
    model: Model,
    *,
    duration: float | None = None,
    solver: str | None = None,
) -> RunSpec:
    """Check ``config`` against the compiled ``model`` and convert it to SI.

    ``duration`` [s] and ``solver`` (``"rodas"``, ``"dopri5"``, ``"rk4"``) override the config's
    ``[simulation]`` values (the CLI's ``--duration`` and ``--solver``). Every problem found is
    reported in one :class:`ConfigError`.
    """
    chk = _Checker(config, model)
    params = chk.parameters()
    x0 = chk.initial()
    sim = config.simulation
    t_end = duration if duration is not None else sim.duration
    if t_end is None:
        chk.add("simulation.duration", "required key is missing: give the duration [s] here or on the command line")
    elif not (math.isfinite(t_end) and t_end > 0):
        chk.add("simulation.duration", f"expected a duration > 0 s, got {t_end!r}")
        t_end = None
    solver_name = solver or sim.solver
    solver_obj = make_solver(sim, solver_name, chk.problems)
    inputs = chk.inputs(t_end)
    if chk.problems or t_end is None:
        raise ConfigError(chk.problems, config.source)
    return RunSpec(
        twin_type=config.twin.reference,
        label=config.label,
        duration=float(t_end),
        solver=solver_obj,
        solver_name=solver_name,
        params=params,
        x0=x0,
        inputs=inputs,
        save=sim.save_interval,
    )


def load_model(config: TwinConfig, estimated_parameters: Sequence[str] = ()) -> Model:
    """Build and compile the twin ``config`` names (see :mod:`phystwin.config.twin`).

    ``estimated_parameters`` become random-walk states (joint estimation, see :func:`compile_system`).
    A twin that cannot be found, loaded, built or compiled is a :class:`ConfigError` at the key it came
    from (``twin.type``, ``twin.file``, ``twin.function``, ``components``, ``estimation.parameters``)."""
    from phystwin.config.twin import build_system, twin_key

    spec, system = build_system(config)
    fmus: list[dict[str, Any]] = []
    if config.components:
        from phystwin.config.components import add_components

        fmus = add_components(system, config)
    try:
        model = system.compile(estimated_parameters=estimated_parameters)
    except ModelDefinitionError as exc:
        if config.components:
            where = "components"
        elif any(repr(name) in str(exc) for name in estimated_parameters):
            where = "estimation.parameters"
        else:
            where = twin_key(config, "function")  # the System the twin's function built
        raise ConfigError([(where, _compile_message(spec, exc))], config.source) from None
    if fmus:
        instances = tuple(c.fmu for c in system.children.values() if hasattr(c, "fmu"))
        model = dataclasses.replace(model, fmus=tuple(fmus), fmu_instances=instances)
    return model


def _compile_message(spec: Any, exc: Exception) -> str:
    if spec.kind in ("built-in", "registered"):
        return str(exc)
    return f"the System built by {spec.origin} does not compile: {exc}"


def fmu_failure(model: Model, t: float | None = None) -> str | None:
    """What an FMU component reported, if any of its FMI calls failed during the last simulation or filter
    step (the compiled code returned NaN and recorded the call and its status); None otherwise. Clears
    the record (see :meth:`phystwin.fmu.me.FMUModelExchange.check`)."""
    from phystwin.fmu.errors import FMUError

    messages = []
    for inst in model.fmu_instances:
        try:
            inst.check(t)
        except FMUError as exc:
            messages.append(str(exc))
    return "; ".join(messages) or None


def fmu_provenance(model: Model) -> list[dict[str, Any]]:
    """The FMUs compiled into ``model`` (component, file, SHA-256, FMI version, model name, GUID), for a
    run's provenance; empty for a model without FMU components."""
    return [dict(e) for e in model.fmus]


__all__ = [
    "MAX_TABLE_POINTS",
    "SOLVERS",
    "RunSpec",
    "expand_period",
    "fmu_failure",
    "fmu_provenance",
    "load_model",
    "make_solver",
    "resolve",
    "to_si",
]
