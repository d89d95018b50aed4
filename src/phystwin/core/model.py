"""Model: the compiled, immutable object that solvers and estimators use.

A Model is a set of compiled kernels over flat vectors plus a :class:`Layout` that maps names to
indices. It knows nothing of physics: a composed System compiles to one, and so can a hand-written
kernel module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from phystwin.errors import InvalidValueError, PhystwinError, UnknownNameError
from phystwin.units import parse_value, value_in

INTERNAL_PARAMETERS = frozenset({"fmu_handle"})
"""Parameter names (the last part of the full name) that carry process-specific data rather than
physics, e.g. the FMU function addresses of :mod:`phystwin.fmu.me`: configs cannot set them and records
do not store them."""


def is_internal_parameter(name: str) -> bool:
    """True for a parameter such as ``coupling.fmu_handle`` (see :data:`INTERNAL_PARAMETERS`)."""
    return name.rsplit(".", 1)[-1] in INTERNAL_PARAMETERS


BOUND_TOLERANCE = 1e-9
"""Relative slack of state bounds: a state has left its range ``[lower, upper]`` once it is beyond a
bound by more than ``BOUND_TOLERANCE * max(1, |bound|)`` (rounding, not physics)."""


def out_of_bounds(spec: Any, arr: np.ndarray, given: Any = None) -> str:
    """``expected a value > 0 H, got -0.002 H (given as -2.0 mH)``: the message of a value outside
    ``spec``'s bounds (a :class:`Signal`, or anything with ``unit``, ``lower``, ``upper``, ``strict``),
    the same for a config file and the Python API; ``given`` is the value as the user wrote it."""
    parts = []
    if spec.lower > -math.inf:
        parts.append(f"{'>' if spec.strict else '>='} {spec.lower:g}")
    if spec.upper < math.inf:
        parts.append(f"<= {spec.upper:g}")
    unit = "" if spec.unit in ("", "1") else f" {spec.unit}"
    shown = f"{arr[0]:g}" if arr.size == 1 else np.array2string(arr, precision=6)
    value, given_unit = parse_value(given) if isinstance(given, str | Mapping) else (None, None)
    note = ""
    if given_unit is not None:
        note = f" (given as {value.tolist() if isinstance(value, np.ndarray) else value} {given_unit})"
    return f"expected a value {' and '.join(parts)}{unit}, got {shown}{unit}{note}"


@dataclass(frozen=True)
class Signal:
    """A named vector entry with SI unit; ``size`` > 1 for vector parameters (tables)."""

    name: str
    unit: str
    default: float | tuple[float, ...] = 0.0
    description: str = ""
    lower: float = -math.inf
    upper: float = math.inf
    strict: bool = False
    size: int = 1


class StateRangeError(PhystwinError, ValueError):
    """A state value (an initial value, a state handed to a stepper) lies outside its declared range."""


@dataclass(frozen=True)
class StateBound:
    """A finite bound of a state, enforced during integration (status ``STATE_BOUND``).

    Attributes
    ----------
    index : int
        Position of the state in the layout.
    side : str
        ``"lower"`` or ``"upper"``.
    value : float
        The declared bound, in the state's SI unit.
    """

    index: int
    side: str
    value: float

    @property
    def slack(self) -> float:
        """How far the state may pass the bound before it counts as out of range (see :data:`BOUND_TOLERANCE`)."""
        return BOUND_TOLERANCE * max(1.0, abs(self.value))

    @property
    def limit(self) -> float:
        """The value at which the state has left its range: the bound widened by :attr:`slack`."""
        return self.value - self.slack if self.side == "lower" else self.value + self.slack


def state_bounds(states: tuple[Signal, ...]) -> tuple[StateBound, ...]:
    """The finite bounds of ``states``, in state order (lower before upper)."""
    out = []
    for i, s in enumerate(states):
        if math.isfinite(s.lower):
            out.append(StateBound(i, "lower", float(s.lower)))
        if math.isfinite(s.upper):
            out.append(StateBound(i, "upper", float(s.upper)))
    return tuple(out)


@dataclass(frozen=True)
class Layout:
    """Names, units and positions of states, parameters, inputs and outputs."""

    states: tuple[Signal, ...]
    parameters: tuple[Signal, ...]
    inputs: tuple[Signal, ...]
    outputs: tuple[Signal, ...]
    events: tuple[tuple[str, int], ...] = ()
    _param_slices: dict[str, slice] = field(default_factory=dict, compare=False, repr=False)
    _bounds: tuple[StateBound, ...] = field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        pos = 0
        for p in self.parameters:
            self._param_slices[p.name] = slice(pos, pos + p.size)
            pos += p.size
        object.__setattr__(self, "_bounds", state_bounds(self.states))

    @property
    def bounds(self) -> tuple[StateBound, ...]:
        """The finite state bounds. A compiled System checks each as an extra event indicator after
        the model's own events (see :meth:`event_directions`)."""
        return self._bounds

    def event_directions(self) -> np.ndarray:
        """Directions of every event indicator the solvers watch: the model's events, then one per
        state bound (falling: the distance to the bound reaching zero)."""
        return np.array([d for _, d in self.events] + [-1] * len(self._bounds), dtype=np.int64)

    def event_name(self, k: int) -> str:
        """Name of event indicator ``k`` (a model event, or ``"<state> above its upper bound 1"``)."""
        if k < len(self.events):
            return self.events[k][0]
        b = self._bounds[k - len(self.events)]
        where = "above its upper" if b.side == "upper" else "below its lower"
        return f"{self.states[b.index].name} {where} bound {b.value:g}"

    def bound_violations(self, x: np.ndarray) -> list[str]:
        """Descriptions of the bounds the state vector ``x`` is outside of (empty if inside)."""
        out = []
        for b in self._bounds:
            v = float(x[b.index])
            if (v <= b.limit) if b.side == "lower" else (v >= b.limit):
                s = self.states[b.index]
                out.append(
                    f"state {s.name} = {v:.9g} {s.unit} is outside its declared range [{s.lower:g}, {s.upper:g}]"
                )
        return out

    @property
    def nx(self) -> int:
        return len(self.states)

    @property
    def np(self) -> int:
        return sum(p.size for p in self.parameters)

    @property
    def nu(self) -> int:
        return len(self.inputs)

    @property
    def ny(self) -> int:
        return len(self.outputs)

    @staticmethod
    def _index(items: tuple[Signal, ...], name: str, what: str) -> int:
        for k, s in enumerate(items):
            if s.name == name:
                return k
        raise UnknownNameError(
            f"unknown {what} {name!r}; expected one of {', '.join(s.name for s in items) or '(none)'}"
        )

    def state_index(self, name: str) -> int:
        return self._index(self.states, name, "state")

    def input_index(self, name: str) -> int:
        return self._index(self.inputs, name, "input")

    def output_index(self, name: str) -> int:
        return self._index(self.outputs, name, "output")

    def param_slice(self, name: str) -> slice:
        if name not in self._param_slices:
            raise UnknownNameError(
                f"unknown parameter {name!r}; expected one of {', '.join(p.name for p in self.parameters)}"
            )
        return self._param_slices[name]

    def unit(self, name: str) -> str:
        """Unit of any named state, parameter, input or output."""
        for group in (self.states, self.outputs, self.inputs, self.parameters):
            for s in group:
                if s.name == name:
                    return s.unit
        raise UnknownNameError(f"unknown signal {name!r}")


@dataclass(frozen=True)
class Model:
    """A compiled model.

    Attributes
    ----------
    name : str
    layout : Layout
    kernels : module
        The compiled functions ``rhs(t, x, u, p, dx)``, ``jac(t, x, u, p, J)``,
        ``out(t, x, u, p, y)``, ``ev(t, x, u, p, g)``, ``act(t, x, u, p, k)``; each returns an int
        status. The solvers in :mod:`phystwin.core.solvers` take them as arguments. A compiled
        System also has ``jac_p(t, x, u, p, Jp)``: ``Jp[i, k] = df_i/dp_k`` (nx by the length of ``p``).
    structure_hash : str
        Identifies the compiled structure (the on-disk cache key).
    jacobian_kind : str
        ``"analytic"``, ``"analytic (N relation(s) by finite differences)"`` or ``"finite-difference"``.
    source_path : str
        The generated module (readable; one line per relation with the variable it computes).
    n_equations : int
        Equations of the composed system (relations and node balances).
    uses_time : bool
        The right-hand side reads ``t`` itself (besides its inputs). False lets Rodas skip ``df/dt``
        when only held inputs vary in time.
    estimated_parameters : tuple of str
        Parameters appended as random-walk states for joint estimation (the last states, in order).
    derivative_notes : tuple of str
        Where the Jacobians are not analytic or not checked: one line per equation differentiated by
        finite differences (component, equation, why it could not be traced), per table parameter
        of ``jac_p``, and what the compile-time check could not evaluate. Empty: every entry is
        analytic and was checked against finite differences.
    unit_notes : tuple of str
        Equations the compile-time dimension check could not evaluate (component, equation, why: a
        table look-up, an FMU call, a function the check does not know). Every other equation was
        checked (see :mod:`phystwin.physics.dimensions`).
    fmus : tuple of mappings
        Provenance of each FMU compiled into the model (component, file, SHA-256, FMI version, model
        name, GUID).
    fmu_instances : tuple
        The live FMU instances behind the FMU components (checked after each run for FMI failures);
        process-specific, never recorded.
    """

    name: str
    layout: Layout
    kernels: ModuleType
    structure_hash: str
    jacobian_kind: str = "finite-difference"
    source_path: str = ""
    n_equations: int = 0
    uses_time: bool = True
    estimated_parameters: tuple[str, ...] = ()
    derivative_notes: tuple[str, ...] = ()
    unit_notes: tuple[str, ...] = ()
    fmus: tuple[Mapping[str, Any], ...] = ()
    fmu_instances: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    _functions: Any = field(default=None, init=False, compare=False, repr=False)

    def functions(self) -> tuple[Any, Any, Any, Any, Any]:
        """``(rhs, jac, out, ev, act)`` as first-class function values for the solver kernels
        (built once per model, then cheap to pass on every call)."""
        cached = self._functions
        if cached is None:
            from phystwin.core.solvers._nb import ACT_SIG, JAC_SIG, RHS_SIG, function_pointer

            k = self.kernels
            cached = (
                function_pointer(k.rhs, RHS_SIG),
                function_pointer(k.jac, JAC_SIG),
                function_pointer(k.out, RHS_SIG),
                function_pointer(k.ev, RHS_SIG),
                function_pointer(k.act, ACT_SIG),
            )
            object.__setattr__(self, "_functions", cached)  # a cache, not state: the model stays immutable
        return cached  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ vectors
    def default_parameters(self) -> np.ndarray:
        """Parameter vector p with every default (a new array)."""
        p = np.empty(self.layout.np)
        for s in self.layout.parameters:
            p[self.layout.param_slice(s.name)] = s.default
        return p

    def parameters(self, values: Mapping[str, Any] | None = None) -> np.ndarray:
        """Parameter vector with ``values`` (by full name) over the defaults, validated.

        A value is SI (a number, a vector) or says its unit as in a config file (``"2 mH"``,
        ``{"value": [1, 2], "unit": "V"}``); it is converted to the parameter's unit, and refused (with
        the message a config file gets) when the unit is of another kind or the value out of bounds.
        """
        p = self.default_parameters()
        for name, value in (values or {}).items():
            sl = self.layout.param_slice(name)
            spec = self.layout.parameters[[s.name for s in self.layout.parameters].index(name)]
            arr = np.asarray(value_in(value, spec.unit, f"parameter {name!r}"), dtype=np.float64).reshape(-1)
            if arr.size != spec.size:
                raise InvalidValueError(f"parameter {name!r}: expected {spec.size} value(s), got {arr.size}")
            if not np.all(np.isfinite(arr)):
                raise InvalidValueError(f"parameter {name!r} [{spec.unit}]: expected finite values, got {value!r}")
            low_ok = np.all(arr > spec.lower) if spec.strict else np.all(arr >= spec.lower)
            if not low_ok or not np.all(arr <= spec.upper):
                raise InvalidValueError(f"parameter {name!r}: {out_of_bounds(spec, arr, value)}")
            p[sl] = arr
        return p

    def initial_state(self, values: Mapping[str, float] | None = None) -> np.ndarray:
        """State vector with the declared start values, overridden by ``values`` (by name).

        Refuses a non-finite value and a value outside the state's declared range.
        """
        x = np.array([float(s.default) for s in self.layout.states])  # type: ignore[arg-type]
        for name, value in (values or {}).items():
            unit = self.layout.states[self.layout.state_index(name)].unit
            v = float(value_in(value, unit, f"state {name!r}"))
            if not math.isfinite(v):
                raise InvalidValueError(f"initial value of state {name!r} must be finite, got {value!r}")
            x[self.layout.state_index(name)] = v
        self.check_state(x, "initial value")
        return x

    def check_state(self, x: np.ndarray, what: str = "state") -> None:
        """Raise :class:`StateRangeError` if ``x`` lies outside a declared state range (see :attr:`Layout.bounds`)."""
        bad = self.layout.bound_violations(x)
        if bad:
            raise StateRangeError(f"{what}: " + "; ".join(bad))

    def input_vector(self, u: Any = None) -> np.ndarray:
        """Input vector from a vector, a name -> value mapping, or None (every input's default).

        Refuses unknown names, missing inputs without a default, a wrong length and non-finite
        values, naming the input and its unit.
        """
        lay = self.layout
        names = [s.name for s in lay.inputs]
        if u is None or isinstance(u, Mapping):
            values = dict(u or {})
            unknown = sorted(set(values) - set(names))
            if unknown:
                raise UnknownNameError(f"unknown input(s) {unknown}; the model's inputs are {names or '(none)'}")
            uv = np.empty(lay.nu)
            for k, s in enumerate(lay.inputs):
                if s.name in values:
                    v = values[s.name]
                    uv[k] = v if isinstance(v, float | int) else float(value_in(v, s.unit, f"input {s.name!r}"))
                elif isinstance(s.default, float) and not math.isnan(s.default):
                    uv[k] = s.default
                else:
                    raise UnknownNameError(f"input {s.name!r} [{s.unit}] not given and has no default")
        else:
            uv = np.array(u, dtype=np.float64).reshape(-1)
            if uv.shape != (lay.nu,):
                raise InvalidValueError(f"expected {lay.nu} input values ({names}), got shape {uv.shape}")
        if not np.all(np.isfinite(uv)):
            bad = [s.name for s, v in zip(lay.inputs, uv, strict=True) if not np.isfinite(v)]
            raise InvalidValueError(f"non-finite input value(s) for {bad}")
        return uv

    def output_inputs(self, u: Any = None) -> np.ndarray:
        """Inputs for evaluating outputs: :meth:`input_vector` when given, else the defaults with 0 for
        inputs that have none (outputs that do not depend on them stay exact)."""
        if u is not None or self.layout.nu == 0:
            return self.input_vector(u)
        return np.array(
            [
                s.default if isinstance(s.default, float) and not math.isnan(s.default) else 0.0
                for s in self.layout.inputs
            ]
        )

    def default_inputs(self) -> dict[str, float]:
        """Inputs that declare a default value."""
        return {
            s.name: float(s.default)  # type: ignore[arg-type]
            for s in self.layout.inputs
            if s.default is not None and not (isinstance(s.default, float) and math.isnan(s.default))
        }

    def __repr__(self) -> str:
        lay = self.layout
        return (
            f"Model({self.name!r}: {lay.nx} states, {lay.np} parameters, {lay.nu} inputs, "
            f"{lay.ny} outputs, {len(lay.events)} events, jacobian={self.jacobian_kind}"
            + (f"; derivative notes: {'; '.join(self.derivative_notes)}" if self.derivative_notes else "")
            + (f"; unit notes: {'; '.join(self.unit_notes)}" if self.unit_notes else "")
            + ")"
        )
