"""The Component protocol: what a physical model declares so that a System can compose it.

A component declares, with SI units on everything:

* ``states``: :class:`State` (differential variables) with start values;
* ``parameters``: :class:`Parameter` with defaults and bounds (scalars or fixed-size vectors, e.g.
  an OCV table);
* ``ports``: :class:`~phystwin.physics.ports.Port` (heat ports, flanges, pins, user kinds);
* ``inputs``: causal signal inputs (:class:`Variable`), fed by a system input or another
  component's variable;
* ``variables``: internal algebraic variables and signal outputs (:class:`Variable`);
* ``relations``: :class:`Relation`, one equation each, given as one or more explicit solutions
  ("alternatives") so the compiler can pick the causality the topology needs;
* ``derivatives``: one function per state giving ``dx/dt``;
* ``events``: optional :class:`Event` (zero crossing plus state resets).

Every function is a small scalar, numba-compatible Python function. Its **argument names say
what it reads**: ``t`` (time), a state, parameter, input or variable name, or a port variable
written ``<port>_<var>`` (``a_T``, ``flange_tau``, ``p_v``). The compiler wires arguments by name,
orders all relations of the composed system (block-lower-triangular sort) and fuses them into one
compiled right-hand side, so a component costs what its arithmetic costs.

Example, a linear thermal conductor::

    class ThermalConductor(Component):
        ports = (HeatPort("a"), HeatPort("b"))
        parameters = (Parameter("G", "W/K", 1.0, lower=0.0),)
        relations = (
            Relation({"a.Q_flow": lambda a_T, b_T, G: G * (a_T - b_T)}),
            Relation({"b.Q_flow": lambda a_Q_flow: -a_Q_flow,
                      "a.Q_flow": lambda b_Q_flow: -b_Q_flow}),
        )
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phystwin.core.model import out_of_bounds
from phystwin.errors import PhystwinError
from phystwin.physics.ports import Port
from phystwin.units import UnitError, value_in

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ModelDefinitionError(PhystwinError, ValueError):
    """A component or system definition is inconsistent (names the offending item)."""


@dataclass(frozen=True)
class State:
    """A differential state ``x`` with its SI unit and start value."""

    name: str
    unit: str
    start: float
    description: str = ""
    lower: float = -math.inf
    upper: float = math.inf


@dataclass(frozen=True)
class Parameter:
    """A parameter with SI unit, default, and bounds.

    ``lower``/``upper`` are inclusive unless ``strict`` is set, in which case ``lower`` is exclusive
    (``strict=True, lower=0`` means "strictly positive", as for a capacitance). ``size`` > 0 makes it
    a vector of that length (e.g. table abscissae).
    """

    name: str
    unit: str
    default: float | tuple[float, ...]
    description: str = ""
    lower: float = -math.inf
    upper: float = math.inf
    strict: bool = False
    size: int = 0

    def check(self, value: Any, owner: str) -> np.ndarray:
        """Validate ``value``; return it as a float64 array (0-d for scalars).

        ``value`` is SI, or says its unit as a config file does (``"2 mH"``, ``{"value": 2, "unit": "mH"}``).
        """
        where = f"parameter {owner}.{self.name} [{self.unit}]"
        given, value = value, _in_unit(value, self.unit, f"parameter '{owner}.{self.name}'")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ModelDefinitionError(f"{where}: expected a number, got {value!r}") from None
        if self.size:
            if arr.shape != (self.size,):
                raise ModelDefinitionError(f"{where}: expected a vector of {self.size} values, got shape {arr.shape}")
        elif arr.shape != ():
            raise ModelDefinitionError(f"{where}: expected a single number, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ModelDefinitionError(f"{where}: expected a finite value, got {value!r}")
        low_ok = arr > self.lower if self.strict else arr >= self.lower
        if not np.all(low_ok) or not np.all(arr <= self.upper):
            raise ModelDefinitionError(f"{where}: {out_of_bounds(self, arr.reshape(-1), given)}")
        return arr


@dataclass(frozen=True)
class Variable:
    """An algebraic variable or causal signal with its SI unit."""

    name: str
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Relation:
    """One equation, given as explicit solutions for one or more of its variables.

    ``solves`` maps a target (a variable name or a port variable ``"port.var"``) to a function
    computing it from the others. The compiler uses exactly one of them.
    """

    solves: Mapping[str, Callable[..., float]]
    description: str = ""


@dataclass(frozen=True)
class Event:
    """A zero-crossing event: ``indicator`` crosses zero in ``direction`` (-1, 0, +1), then each
    state in ``resets`` takes the value its function returns (evaluated before any reset)."""

    name: str
    indicator: Callable[..., float]
    resets: Mapping[str, Callable[..., float]] = field(default_factory=dict)
    direction: int = 0


def _in_unit(value: Any, unit: str, what: str) -> Any:
    """``value`` in ``unit``: a string or table with a unit is converted (:func:`phystwin.units.value_in`),
    anything else is taken as SI."""
    if not isinstance(value, str | Mapping):
        return value
    try:
        return value_in(value, unit, what)
    except UnitError as exc:
        raise ModelDefinitionError(str(exc)) from None


def arg_names(fn: Callable[..., Any]) -> tuple[str, ...]:
    """Positional argument names of a kernel function (they say what it reads)."""
    sig = inspect.signature(fn)
    names = []
    for prm in sig.parameters.values():
        if prm.kind not in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD):
            raise ModelDefinitionError(
                f"kernel {getattr(fn, '__qualname__', fn)!r}: only plain positional arguments are "
                f"allowed (got {prm.name!r} of kind {prm.kind.description})"
            )
        names.append(prm.name)
    return tuple(names)


class Component:
    """Base class of every physical component (see the module docstring for the protocol).

    Parameters
    ----------
    name : str
        Instance name, unique inside its System (a Python identifier).
    **values
        Parameter values and state start values by name: SI numbers, or strings and tables with a unit
        as a config file gives them (``C="800 J/K"``, ``T="25 degC"``, ``L={"value": 2, "unit": "mH"}``).
    """

    states: tuple[State, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    ports: tuple[Port, ...] = ()
    inputs: tuple[Variable, ...] = ()
    variables: tuple[Variable, ...] = ()
    relations: tuple[Relation, ...] = ()
    derivatives: Mapping[str, Callable[..., float]] = {}
    events: tuple[Event, ...] = ()

    def __init__(self, name: str, **values: Any) -> None:
        if not isinstance(name, str) or not _IDENT.match(name):
            raise ModelDefinitionError(
                f"{type(self).__name__}: name {name!r} is not a valid identifier "
                "(letters, digits and underscores, not starting with a digit)"
            )
        self.name = name
        self._check_declaration()
        params = {p.name: p for p in self.parameters}
        states = {s.name: s for s in self.states}
        self.parameter_values: dict[str, np.ndarray] = {p.name: p.check(p.default, name) for p in self.parameters}
        self.state_starts: dict[str, float] = {
            s.name: float(_in_unit(s.start, s.unit, f"state '{name}.{s.name}'")) for s in self.states
        }
        for key, value in values.items():
            if key in params:
                self.parameter_values[key] = params[key].check(value, name)
            elif key in states:
                st = states[key]
                value = _in_unit(value, st.unit, f"state '{name}.{key}'")
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    raise ModelDefinitionError(
                        f"state {name}.{key} [{st.unit}]: expected a number for the start value, got {value!r}"
                    ) from None
                if not math.isfinite(v) or not st.lower <= v <= st.upper:
                    raise ModelDefinitionError(
                        f"state {name}.{key} [{st.unit}]: start value {value!r} is outside "
                        f"[{st.lower:g}, {st.upper:g}] or not finite"
                    )
                self.state_starts[key] = v
            else:
                known = sorted(params) + sorted(states)
                raise ModelDefinitionError(
                    f"{type(self).__name__} {name!r}: unknown parameter or state {key!r}; "
                    f"expected one of {', '.join(known) or '(none)'}"
                )

    # ------------------------------------------------------------------ name resolution
    def local_units(self) -> dict[str, str]:
        """Unit of every name a kernel argument may use (``t``, states, parameters, ... , ``port_var``)."""
        units: dict[str, str] = {"t": "s"}
        for s in self.states:
            units[s.name] = s.unit
        for p in self.parameters:
            units[p.name] = p.unit
        for v in (*self.inputs, *self.variables):
            units[v.name] = v.unit
        for port in self.ports:
            units[f"{port.name}_{port.kind.across}"] = port.kind.across_unit
            units[f"{port.name}_{port.kind.through}"] = port.kind.through_unit
        return units

    @staticmethod
    def arg_key(target: str) -> str:
        """Kernel-argument spelling of a target: ``"a.T"`` -> ``"a_T"``."""
        return target.replace(".", "_")

    def _check_declaration(self) -> None:
        cls = type(self).__name__
        seen: dict[str, str] = {}
        groups: list[tuple[str, list[str]]] = [
            ("state", [s.name for s in self.states]),
            ("parameter", [p.name for p in self.parameters]),
            ("input", [v.name for v in self.inputs]),
            ("variable", [v.name for v in self.variables]),
            ("port", [p.name for p in self.ports]),
        ]
        for port in self.ports:
            groups.append(("port variable", [f"{port.name}_{port.kind.across}", f"{port.name}_{port.kind.through}"]))
        for what, names in groups:
            for n in names:
                if not _IDENT.match(n) or n == "t":
                    raise ModelDefinitionError(f"{cls}: {what} name {n!r} is not allowed")
                if n in seen:
                    raise ModelDefinitionError(f"{cls}: {what} {n!r} clashes with {seen[n]} of the same name")
                seen[n] = what
        units = self.local_units()
        readable = set(units)
        state_names = {s.name for s in self.states}
        fixed = state_names | {p.name for p in self.parameters} | {v.name for v in self.inputs} | {"t"}
        for k, rel in enumerate(self.relations):
            if not rel.solves:
                raise ModelDefinitionError(f"{cls}: relation {k} solves nothing")
            for target, fn in rel.solves.items():
                key = self.arg_key(target)
                if key not in readable or key in fixed:
                    raise ModelDefinitionError(
                        f"{cls}: relation {k} solves {target!r}, which is not an algebraic variable or "
                        "port variable of this component"
                    )
                self._check_args(fn, readable, f"relation {k} ({target})")
        missing = state_names - set(self.derivatives)
        if missing:
            raise ModelDefinitionError(f"{cls}: no derivative given for state(s) {sorted(missing)}")
        for sname, fn in self.derivatives.items():
            if sname not in state_names:
                raise ModelDefinitionError(f"{cls}: derivative given for unknown state {sname!r}")
            self._check_args(fn, readable, f"derivative of {sname}")
        for ev in self.events:
            if ev.direction not in (-1, 0, 1):
                raise ModelDefinitionError(f"{cls}: event {ev.name!r} direction must be -1, 0 or +1")
            self._check_args(ev.indicator, readable, f"event {ev.name!r} indicator")
            for sname, fn in ev.resets.items():
                if sname not in state_names:
                    raise ModelDefinitionError(f"{cls}: event {ev.name!r} resets unknown state {sname!r}")
                self._check_args(fn, readable, f"event {ev.name!r} reset of {sname}")

    def _check_args(self, fn: Callable[..., Any], readable: set[str], what: str) -> None:
        for a in arg_names(fn):
            if a not in readable:
                raise ModelDefinitionError(
                    f"{type(self).__name__}: {what} reads {a!r}, which is not a name of this component; "
                    f"expected one of {', '.join(sorted(readable))}"
                )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
