"""Dimension check of every component equation, at compile time.

Each equation is a small Python function (``lambda port_Q_flow, C: port_Q_flow / C``). Called with pint
quantities that carry its arguments' declared units (through :func:`~phystwin.physics.tracing.trace`,
which sends its ``math`` / ``numpy`` calls and ``abs`` / ``min`` / ``max`` to :func:`pint_namespace`),
it returns the unit of its result. :func:`check_dimensions` compares that with what the result must be:

* the derivative of a state: the state's unit per second;
* a relation's solution: the unit of its target (an algebraic variable, an output, or a port variable,
  whose unit is the port kind's);
* an event's reset of a state: the state's unit;
* an event indicator: anything, but consistent inside (no ``T + Q_flow``).

A mismatch is refused with :class:`DimensionError` naming the component, the equation and both
dimensions; so is an unknown unit anywhere in a component's declaration (``"Jolts/K"``), naming the
item, and so is a declared unit that is not coherent SI (``mH``, ``degC``, ``rpm``, ``%``: factor 1 and
offset 0 to SI are required, because equations read the numbers as SI; values may still be given in those
units at the boundaries), naming the SI unit to declare instead. Equations are then checked on the SI
dimension (``N*m`` and ``J`` agree).

Rules that keep real equations checkable:

* **Numbers are wildcards when added, subtracted or compared**: ``T - 273.15``, ``abs(w) + 1e-9``,
  ``x if w > 0.5 else 0.0`` take the other operand's unit. In products they are pure numbers, so a
  physical constant needs its unit: :class:`phystwin.units.Constant` (``SIGMA``), read here as a quantity.
  An equation returning a bare number (``lambda: 0.0``, ``lambda: -9.81``) is accepted for any target.
* **Angles are dimensionless** (SI: rad = m/m), so ``rad/s`` and ``1/s`` agree inside equations; the
  boundaries still refuse ``Hz`` for ``rad/s`` (see :mod:`phystwin.units`).
* ``exp``, ``log``, ``sin``, ``tanh``, ... take dimensionless arguments and return dimensionless values;
  ``sqrt``, ``abs``, ``min``, ``max``, ``copysign``, ``hypot``, ``clip``, ``where`` keep or combine units.
* A branching equation (a conditional jump in its bytecode or its helpers', :func:`has_branch`) is traced
  at the start values (states, parameter defaults; 1.0-ish for algebraic variables) and again with one
  argument at a time moved (negated, zero, x0.1, x10), recording the jumps taken; every result is
  judged. ``Model.unit_notes`` names an equation only if some jump was never seen both ways.

What cannot be traced (a ``numpy`` function the namespace lacks, ``float(x)`` of a quantity, an FMU call)
is not refused: the model lists it in ``Model.unit_notes`` ("not dimension-checked: ...").

A passing check is remembered beside the compiled models (see :func:`check_dimensions`), so a warm
compile of the same structure costs a hash, not a trace.
"""

from __future__ import annotations

import contextlib
import dis
import hashlib
import importlib.metadata
import itertools
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phystwin.core.model import is_internal_parameter
from phystwin.physics import _kernels
from phystwin.physics.component import Component, ModelDefinitionError, arg_names
from phystwin.physics.dimension_tracing import (
    NUMBER_TYPES,
    DimensionClashError,
    cached_namespace,
    dim_of,
    is_quantity,
    pint_namespace,
    quantity,
    same_dimension,
    without_angle,
)
from phystwin.physics.flatten import Flat
from phystwin.physics.tracing import UntraceableError, names_read, trace
from phystwin.units import Constant, Dim, UnitError, dimension_text, is_coherent, parse_unit, si_unit

__all__ = [
    "DimensionClashError",
    "DimensionError",
    "check_component",
    "check_dimensions",
    "has_branch",
    "not_si",
    "pint_namespace",
    "quantity",
]


class DimensionError(ModelDefinitionError):
    """An equation's result has the wrong dimension, or a declaration uses an unknown unit."""


# ---------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class _Equation:
    label: str  # "dT/dt", "relation 'Fourier conduction': a.Q_flow", ...
    fn: Callable[..., Any]
    expected: str | None  # the unit the result must have (None: only consistency)
    expected_text: str  # how the expected unit is shown ("K/s", "W (port variable a.Q_flow)")


def _equations(comp: Component) -> Iterable[_Equation]:
    units = comp.local_units()
    for k, rel in enumerate(comp.relations):
        name = rel.description or f"relation {k}"
        for target, fn in rel.solves.items():
            key = comp.arg_key(target)
            kind = "port variable" if "." in target else "variable"
            yield _Equation(f"{name}: {target} = f(...)", fn, units[key], f"{units[key]} (the unit of {kind} {target})")
    for s in comp.states:
        der = comp.derivatives.get(s.name)
        if der is not None:
            yield _Equation(f"d{s.name}/dt = f(...)", der, f"({s.unit})/s", f"{_per_second(s.unit)}")
    for ev in comp.events:
        yield _Equation(f"event {ev.name!r} indicator = f(...)", ev.indicator, None, "")
        for sname, fn in ev.resets.items():
            unit = units[sname]
            yield _Equation(
                f"event {ev.name!r} reset of {sname} = f(...)", fn, unit, f"{unit} (the unit of state {sname})"
            )


def _per_second(unit: str) -> str:
    u = unit.strip()
    if u in ("", "1"):
        return "1/s"
    return f"{u}/s" if "/" not in u and " " not in u and "*" not in u else f"({u})/s"


def _declared(comp: Component) -> list[tuple[str, str]]:
    items = [(f"state {s.name}", s.unit) for s in comp.states]
    items += [(f"parameter {p.name}", p.unit) for p in comp.parameters]
    items += [(f"input {v.name}", v.unit) for v in comp.inputs]
    items += [(f"variable {v.name}", v.unit) for v in comp.variables]
    for port in comp.ports:
        items.append((f"port {port.name} ({port.kind.name}) variable {port.kind.across}", port.kind.across_unit))
        items.append((f"port {port.name} ({port.kind.name}) variable {port.kind.through}", port.kind.through_unit))
    return items


def _who(path: str, comp: Component) -> str:
    return f"{path} ({type(comp).__name__})"


def check_declared_units(path: str, comp: Component) -> dict[str, Dim]:
    """The dimension of every name an equation of ``comp`` may read; :class:`DimensionError` for an unknown
    unit or one that is not coherent SI (``mH``, ``degC``, ``rpm``: equations compute in SI)."""
    examples = _examples(comp)
    for item, unit in _declared(comp):
        try:
            parsed = parse_unit(unit)
        except UnitError as exc:
            raise DimensionError(f"{_who(path, comp)}: {item} has an unknown unit {unit!r}: {exc}") from None
        if not is_coherent(parsed):
            raise DimensionError(f"{_who(path, comp)}: {not_si(item, unit, examples.get(item))}")
    return {name: parse_unit(unit).dim for name, unit in comp.local_units().items()}


def not_si(item: str, unit: str, example: Any = None) -> str:
    """Why a declared unit that is not coherent SI is refused, with the SI unit to declare instead."""
    u = parse_unit(unit)
    si = si_unit(unit)
    factor = f"{u.scale:g} {si}" if not u.offset else f"{u.scale:g} {si} per {unit}, 0 {unit} = {u.offset:g} {si}"
    shown = f"{example:g}" if isinstance(example, float | int) and not isinstance(example, bool) else "1"
    return (
        f"{item} is declared in {unit!r} ({factor}): declare it in the SI unit {si!r} (equations compute in SI); "
        f'give values as "{shown} {unit}" in configs and the Python API'
    )


def _examples(comp: Component) -> dict[str, Any]:
    """A value to show in the message of each state and scalar parameter (its start value or default)."""
    out: dict[str, Any] = {f"state {s.name}": s.start for s in comp.states}
    out.update({f"parameter {p.name}": p.default for p in comp.parameters})
    return out


def _start_values(comp: Component) -> dict[str, Any]:
    """Magnitudes to trace with: start values and parameter values (SI), distinct values elsewhere."""
    values: dict[str, Any] = {}
    for k, name in enumerate(comp.local_units()):
        values[name] = 1.0 + 0.125 * (k % 7)
    values["t"] = 1.0
    for s in comp.states:
        values[s.name] = comp.state_starts.get(s.name, s.start)
    for p in comp.parameters:
        v = comp.parameter_values.get(p.name)
        if v is not None:
            values[p.name] = v if v.ndim else float(v)
    return values


_COMMON = ("J", "W", "N", "Pa", "V", "A", "Ohm", "F", "H", "C", "Wb", "J/K", "W/K", "K/W", "1/s", "m/s", "kg*m2")
"""Spellings tried after the component's own units when a dimension is named in a message."""


def _spell_dim(dim: Dim, declared: Mapping[str, str]) -> str:
    """A unit for ``dim``: one the component declares with that dimension, a common one, else the SI dimension."""
    for unit in (*declared.values(), *_COMMON):
        try:
            u = parse_unit(unit)
        except UnitError:
            continue
        if u.scale == 1.0 and u.offset == 0.0 and same_dimension(u.dim, dim):
            return unit
    return dimension_text(without_angle(dim))


Verdict = tuple[str, str] | None
"""None (consistent), ``("note", why not checked)``, ``("clash", what)`` or ``("mismatch", what)``."""

_CACHE: dict[tuple[Any, ...], Verdict] = {}
"""(function, argument dimensions, expected unit) -> verdict, for the life of the process."""


def _check(comp: Component, eq: _Equation, dims: Mapping[str, Dim], values: Mapping[str, Any]) -> Verdict:
    names = arg_names(eq.fn)
    key = (eq.fn, tuple(dims.get(a, (0,) * 7) for a in names), eq.expected, eq.expected_text)
    if key in _CACHE:
        return _CACHE[key]
    result: Verdict
    args = [quantity(values[a], dims[a]) for a in names]
    codes = _branch_codes(eq.fn) if has_branch(eq.fn) else set()
    seen: dict[Any, set[int]] = {}
    try:
        out = _traced(eq.fn, args, codes, seen)
    except DimensionClashError as exc:
        result = ("clash", exc.describe(lambda d: _spell_dim(d, comp.local_units())))
    except UntraceableError as exc:
        result = ("note", f"cannot trace it ({exc})")
    else:
        result = _judge(comp, eq, out)
        if result is None and codes:
            result = _other_branches(comp, eq, names, values, dims, codes, seen)
    _CACHE[key] = result
    return result


_VARIANTS = (-1.0, 0.0, 0.1, 10.0)
"""Factors applied to one argument's start value at a time to reach the other side of a branch."""


def _other_branches(
    comp: Component,
    eq: _Equation,
    names: tuple[str, ...],
    values: Mapping[str, Any],
    dims: Mapping[str, Dim],
    codes: set[Any],
    seen: dict[Any, set[int]],
) -> Verdict:
    """Trace a branching equation again with one argument at a time moved (negated, zero, x0.1, x10;
    +-1 where it is zero) and judge every result: a branch the start values do not take is checked
    too (a zero result passes in any unit). Returns the first refusal, ``None`` when every branch was
    reached and passed, else the note that some branch was not reached."""
    for k, name in enumerate(names):
        start = np.asarray(values[name], dtype=float)
        moved = [start * f for f in _VARIANTS] if np.any(start != 0.0) else [start + 1.0, start - 1.0]
        for v in moved:
            args = [quantity(v if j == k else values[a], dims[a]) for j, a in enumerate(names)]
            try:
                out = _traced(eq.fn, args, codes, seen)
            except DimensionClashError as exc:
                return ("clash", exc.describe(lambda d: _spell_dim(d, comp.local_units())))
            except UntraceableError:
                continue  # outside the equation's domain (log of a negative, a table's range)
            verdict = _judge(comp, eq, out)
            # a zero result (a bare 0.0 scaled by a parameter: "x if x > 0 else 0.0") is right in any unit
            if verdict is not None and verdict[0] == "mismatch" and np.any(_magnitude(out) != 0.0):
                return verdict
    if _every_branch_reached(codes, seen):
        return None
    return ("branch", "only the branches reached from the start values (and one argument at a time moved) were checked")


def _magnitude(out: Any) -> Any:
    return getattr(out, "magnitude", out)


def _traced(fn: Any, args: list[Any], codes: set[Any], seen: dict[Any, set[int]]) -> Any:
    """``trace(fn, args)``, recording the bytecode offsets executed in ``codes`` (the equation's own
    code and its helpers'), so that the branches taken can be told."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not codes:
            return trace(fn, args, cached_namespace())

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            if frame.f_code in codes:
                frame.f_trace_opcodes = True
                if event == "opcode":
                    seen.setdefault(frame.f_code, set()).add(frame.f_lasti)
                return tracer
            return None

        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            return trace(fn, args, cached_namespace())
        finally:
            sys.settrace(previous)


def _every_branch_reached(codes: set[Any], seen: Mapping[Any, set[int]]) -> bool:
    """True when every conditional jump of ``codes`` that ran was seen to fall through and to jump."""
    for code in codes:
        done = seen.get(code)
        if not done:
            continue  # a helper that never ran: its branches are not this equation's
        instructions = list(dis.get_instructions(code))
        for ins, after in itertools.pairwise(instructions):
            branching = "JUMP" in ins.opname and "_IF_" in ins.opname and ins.offset in done
            if branching and (after.offset not in done or ins.argval not in done):
                return False
    return True


def _branch_codes(fn: Any, depth: int = 0) -> set[Any]:
    """The code objects of ``fn``, its nested functions and the helpers it calls (three levels down)."""
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    if code is None or depth > 3:
        return set()
    found = {code}
    stack = [code]
    while stack:
        c = stack.pop()
        for k in c.co_consts:
            if hasattr(k, "co_code") and k not in found:
                found.add(k)
                stack.append(k)
    helpers = [getattr(py, "__globals__", {}).get(n) for n in sorted(names_read(code))]
    for cell in py.__closure__ or ():
        with contextlib.suppress(ValueError):
            helpers.append(cell.cell_contents)
    for h in helpers:
        if callable(h) and hasattr(getattr(h, "py_func", h), "__code__"):
            found |= _branch_codes(h, depth + 1)
    return found


def _judge(comp: Component, eq: _Equation, out: Any) -> Verdict:
    if eq.expected is None:
        return None
    if isinstance(out, NUMBER_TYPES) and not isinstance(out, bool | np.bool_):
        return None  # a bare number: a wildcard like any literal
    if not is_quantity(out):
        return ("note", f"it returns {type(out).__name__}, not a number")
    got = dim_of(out)
    want = without_angle(parse_unit(eq.expected).dim)
    if same_dimension(got, want):
        return None
    spelled = _spell_dim(got, comp.local_units())
    dims = f"{dimension_text(got)} is not {dimension_text(want)}"
    plain = spelled == dimension_text(got) and eq.expected_text.split(" ")[0] == dimension_text(want)
    return ("mismatch", f"has unit {spelled}, expected {eq.expected_text}" + ("" if plain else f" [{dims}]"))


def check_component(path: str, comp: Component) -> list[str]:
    """Check every equation of one component; return the notes (equations not checked).

    Raises
    ------
    DimensionError
        An unknown unit in the declaration, a constant with an unknown unit, or an equation whose result
        has the wrong dimension or that combines different dimensions inside.
    """
    dims = check_declared_units(path, comp)
    if any(is_internal_parameter(p.name) for p in comp.parameters):  # an FMU: its equations call the FMU
        return [f"{path}: the FMU's equations are not dimension-checked (their units are the FMU's declarations)"]
    values = _start_values(comp)
    notes: list[str] = []
    for eq in _equations(comp):
        label = eq.label.replace("(...)", _args(eq.fn))
        try:
            verdict = _check(comp, eq, dims, values)
        except UnitError as exc:  # a Constant with a unit that does not parse
            raise DimensionError(f"{_who(path, comp)}: {label}: {exc}") from None
        if verdict is None:
            continue
        kind, text = verdict
        if kind == "branch":
            notes.append(f"{path}: {label}: {text}")
            continue
        if kind == "mismatch":
            raise DimensionError(f"{_who(path, comp)}: {label} {text}")
        if kind == "clash":
            raise DimensionError(f"{_who(path, comp)}: {label}: {text}")
        notes.append(f"{path}: {label} not dimension-checked: {text}")
    return notes


def _args(fn: Callable[..., Any]) -> str:
    return f"({', '.join(arg_names(fn))})"


def check_dimensions(flat: Flat, cache: Path | None = None) -> tuple[str, ...]:
    """Check every leaf component of a flattened system and the units of the system's inputs and outputs.

    Parameters
    ----------
    flat : Flat
        The flattened system (:func:`~phystwin.physics.flatten.flatten`).
    cache : Path, optional
        A folder where a passing check is remembered (``units_<hash>.json`` with its notes), keyed by the
        code of every equation, the constants it reads, every declared unit and the rules themselves, so a
        later process compiling the same structure neither imports pint nor traces anything.

    Returns
    -------
    tuple of str
        Notes on the equations that could not be checked (``Model.unit_notes``).

    Raises
    ------
    DimensionError
        See :func:`check_component`; an unknown unit of a system input or output names it.
    """
    marker = cache / f"units_{_fingerprint(flat)}.json" if cache is not None else None
    if marker is not None and marker.exists():
        try:
            return tuple(str(n) for n in json.loads(marker.read_text()))
        except (OSError, ValueError):
            pass  # unreadable: check again
    roles = {"ext": "input", "virtual_in": "input", "virtual_out": "output"}
    defaults = {key: default for _, _, default, _, key in flat.ext_inputs}
    for key, info in flat.vars.items():
        if info.role in roles and info.unit:
            try:
                parsed = parse_unit(info.unit)
            except UnitError as exc:
                raise DimensionError(
                    f"system {roles[info.role]} {info.where!r} has an unknown unit {info.unit!r}: {exc}"
                ) from None
            if not is_coherent(parsed):
                raise DimensionError(
                    f"system {not_si(f'{roles[info.role]} {info.where!r}', info.unit, defaults.get(key))}"
                )
    notes: list[str] = []
    for path, comp in flat.leaves.items():
        notes += check_component(path, comp)
    if marker is not None:
        with contextlib.suppress(OSError):
            marker.parent.mkdir(parents=True, exist_ok=True)
            tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(notes))
            os.replace(tmp, marker)
    return tuple(notes)


# ---------------------------------------------------------------------------------------- cache key
_RULES: str | None = None


def _rules() -> str:
    """The code of the check (this module, its quantities, units, tracing) and pint's version: a change
    re-checks."""
    global _RULES
    if _RULES is None:
        from phystwin import units
        from phystwin.physics import dimension_tracing, tracing

        h = hashlib.sha256(importlib.metadata.version("pint").encode())
        for mod in (units, tracing, dimension_tracing, sys.modules[__name__]):
            h.update(Path(str(mod.__file__)).read_bytes())
        _RULES = h.hexdigest()
    return _RULES


def _constants(fn: Any, depth: int = 0) -> list[str]:
    """``name=value[unit]`` of every :class:`~phystwin.units.Constant` ``fn`` (or a helper it calls) reads."""
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    if code is None or depth > 3:
        return []
    out = []
    values = [(n, py.__globals__.get(n)) for n in sorted(names_read(code))]
    for cell in py.__closure__ or ():
        with contextlib.suppress(ValueError):
            values.append(("<closure>", cell.cell_contents))
    for name, obj in values:
        if isinstance(obj, Constant):
            out.append(f"{name}={float(obj)!r}[{obj.unit}]")
        elif callable(obj) and hasattr(getattr(obj, "py_func", obj), "__code__"):
            out += _constants(obj, depth + 1)
    return out


_BRANCHES: dict[Any, bool] = {}


def has_branch(fn: Any, depth: int = 0) -> bool:
    """True if ``fn`` (or a helper it calls, three levels down) has a conditional jump in its bytecode:
    ``if``/``else``, ``x if c else y``, ``and``/``or``, ``while``; the trace follows one branch only."""
    if fn in _BRANCHES:
        return _BRANCHES[fn]
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    found = False
    if code is not None and depth <= 3:
        found = _code_branches(code)
        if not found:
            helpers = [getattr(py, "__globals__", {}).get(n) for n in sorted(names_read(code))]
            for cell in py.__closure__ or ():
                with contextlib.suppress(ValueError):
                    helpers.append(cell.cell_contents)
            found = any(
                callable(h) and hasattr(getattr(h, "py_func", h), "__code__") and has_branch(h, depth + 1)
                for h in helpers
            )
    with contextlib.suppress(TypeError):  # an unhashable callable: not remembered
        _BRANCHES[fn] = found
    return found


def _code_branches(code: Any) -> bool:
    # POP_JUMP_IF_FALSE, POP_JUMP_FORWARD_IF_TRUE (3.11), JUMP_IF_FALSE_OR_POP, ...: not JUMP_FORWARD
    if any("JUMP" in ins.opname and "_IF_" in ins.opname for ins in dis.get_instructions(code)):
        return True
    return any(_code_branches(c) for c in code.co_consts if hasattr(c, "co_code"))


def _fingerprint(flat: Flat) -> str:
    h = hashlib.sha256(_rules().encode())
    for key in sorted(flat.vars, key=str):
        info = flat.vars[key]
        h.update(f"|{info.where}:{info.role}:{info.unit}".encode())
    for path, comp in flat.leaves.items():
        h.update(f"|{path}:{type(comp).__module__}.{type(comp).__qualname__}".encode())
        for item, unit in _declared(comp):
            h.update(f"|{item}:{unit}".encode())
        for eq in _equations(comp):
            h.update(f"|{eq.label}:{eq.expected}:{_kernels.register(eq.fn)}".encode())
            h.update(";".join(_constants(eq.fn)).encode())
    return h.hexdigest()[:24]
