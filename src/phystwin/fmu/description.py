"""What an FMU declares (FMI 2.0 and 3.0), read with fmpy; its validation; unit conversion at its boundary.

:func:`read_description` turns ``modelDescription.xml`` into frozen dataclasses that do not depend on fmpy.
:func:`validate` lists problems: fmpy's own validation plus phystwin's static checks. Units are read with
:mod:`phystwin.units`; a unit it does not know is converted with the FMU's ``<BaseUnit factor offset>``
definition, so that ``value_SI = value * factor + offset``: :func:`to_si` and :func:`from_si` convert at the
boundary (``degC``, ``rpm`` in the FMU, SI inside phystwin).
"""

from __future__ import annotations

import contextlib
import zipfile
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

from phystwin.errors import PhystwinError, UnknownNameError
from phystwin.fmu.archive import FMUArchiveError, check_archive, sha256_file
from phystwin.units import UnitError, conversion, parse_unit

Value = float | int | bool | str | tuple[float, ...] | None
_REAL = frozenset({"Real", "Float32", "Float64"})
_INT = frozenset({"Integer", "Enumeration", "Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64"})
_BASE = ("m", "kg", "s", "A", "K", "mol", "rad")  # the order of the phystwin.units dimensions
_KINDS = ("ModelExchange", "CoSimulation", "ScheduledExecution")
_FLAGS = {  # FMI 2.0 and FMI 3.0 spellings of the capability attributes
    "can_get_and_set_state": ("canGetAndSetFMUstate", "canGetAndSetFMUState"),
    "can_serialize_state": ("canSerializeFMUstate", "canSerializeFMUState"),
    "provides_directional_derivative": ("providesDirectionalDerivative", "providesDirectionalDerivatives"),
    "can_handle_variable_step": ("canHandleVariableCommunicationStepSize",),
    "completed_integrator_step_not_needed": ("completedIntegratorStepNotNeeded",),
    "needs_completed_integrator_step": ("needsCompletedIntegratorStep",),
}


class FMUDescriptionError(PhystwinError, ValueError):
    """A model description cannot be read, or (``read_description(validate=True)``) has problems."""


class FMUUnitError(PhystwinError, ValueError):
    """A variable's unit cannot be converted to SI, or not to the unit phystwin expects."""


@dataclass(frozen=True)
class FMUUnit:
    """A ``<UnitDefinitions><Unit>``: ``value_SI = value * factor + offset``; exponents of SI base units."""

    name: str
    factor: float = 1.0
    offset: float = 0.0
    exponents: tuple[tuple[str, int], ...] = ()
    has_base_unit: bool = False


@dataclass(frozen=True)
class FMUVariable:
    """One model variable; ``unit`` is the unit string of the XML (or of its declared type).

    ``derivative_of`` names the state of a state derivative; ``value_SI = value * si_scale + si_offset``
    (both None when the unit does not convert to SI).
    """

    name: str
    value_reference: int
    causality: str
    variability: str
    type: str
    unit: str | None = None
    start: Value = None
    min: float | None = None
    max: float | None = None
    nominal: float | None = None
    description: str | None = None
    initial: str | None = None
    derivative_of: str | None = None
    si_scale: float | None = None
    si_offset: float | None = None

    @property
    def is_real(self) -> bool:
        """True for ``Real`` (FMI 2.0) and ``Float32``/``Float64`` (FMI 3.0) variables."""
        return self.type in _REAL


@dataclass(frozen=True)
class FMUInterface:
    """One interface of the FMU: ``ModelExchange``, ``CoSimulation`` or ``ScheduledExecution``.

    Step completion is declared in opposite senses: FMI 2.0 ``completedIntegratorStepNotNeeded`` (default
    false: needed) and FMI 3.0 ``needsCompletedIntegratorStep`` (default false: not needed).
    """

    kind: str
    model_identifier: str
    can_get_and_set_state: bool = False
    can_serialize_state: bool = False
    provides_directional_derivative: bool = False
    can_handle_variable_step: bool = False
    completed_integrator_step_not_needed: bool = False
    needs_completed_integrator_step: bool = False


@dataclass(frozen=True)
class DefaultExperiment:
    """``<DefaultExperiment>``; a field the FMU does not set is None."""

    start: float | None = None
    stop: float | None = None
    tolerance: float | None = None
    step: float | None = None


class StatePair(NamedTuple):
    """A continuous state and its derivative (variable names)."""

    state: str
    derivative: str


@dataclass(frozen=True)
class FMUDescription:
    """The model description of one FMU file.

    ``can_get_and_set_state``, ``can_serialize_state`` and ``provides_directional_derivative`` are True only
    when every interface declares them (``interfaces`` has them per interface). ``guid`` is the FMI 3.0
    ``instantiationToken`` too. ``inputs``, ``outputs`` and ``parameters`` are variable names.
    """

    fmi_version: str
    model_name: str
    guid: str | None
    model_identifiers: dict[str, str] = field(hash=False)
    supports_model_exchange: bool
    supports_co_simulation: bool
    can_get_and_set_state: bool
    can_serialize_state: bool
    provides_directional_derivative: bool
    n_states: int
    n_event_indicators: int
    default_experiment: DefaultExperiment
    variables: tuple[FMUVariable, ...]
    states: tuple[StatePair, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    parameters: tuple[str, ...]
    sha256: str
    path: Path
    interfaces: tuple[FMUInterface, ...] = ()
    unit_definitions: tuple[FMUUnit, ...] = ()

    @property
    def instantiation_token(self) -> str | None:
        """The FMI 3.0 name of :attr:`guid`."""
        return self.guid

    def variable(self, name: str) -> FMUVariable:
        """The variable called ``name``; :class:`KeyError` naming the known ones otherwise."""
        for v in self.variables:
            if v.name == name:
                return v
        known = ", ".join(v.name for v in self.variables)
        raise UnknownNameError(f"{self.model_name} has no variable {name!r} (variables: {known})")

    def conversion_to(self, name: str, target: str) -> tuple[float, float]:
        """``(scale, offset)`` so that ``value_in_target = fmu_value * scale + offset`` for variable ``name``.

        Raises :class:`FMUUnitError` naming both units when the FMU's unit is not of the kind ``target`` is.
        """
        var = self.variable(name)
        unit = var.unit or "1"
        try:
            scale, offset, dims, known = _si(unit, self.unit_definitions)
            if known:
                return conversion(unit, target)
            dst = parse_unit(target)
        except (UnitError, FMUUnitError) as exc:
            raise FMUUnitError(f"FMU variable {name!r}: {exc}") from None
        if dims[:-1] != dst.dim[:-1]:  # tools often leave rad out of a <BaseUnit>: compare without angle
            raise FMUUnitError(f"FMU variable {name!r} in {unit!r} does not convert to {target!r} ({dst.dimension()})")
        return scale / dst.scale, (offset - dst.offset) / dst.scale


def _si(unit: str | None, defs: tuple[FMUUnit, ...]) -> tuple[float, float, tuple[float, ...], bool]:
    """``(scale, offset, dims, known_to_units_py)`` of a unit; :class:`FMUUnitError` when nobody knows it."""
    if not unit:
        return 1.0, 0.0, (0,) * len(_BASE), True
    try:
        u = parse_unit(unit)
        return u.scale, u.offset, tuple(u.dim), True
    except UnitError as exc:
        d = next((d for d in defs if d.name == unit and d.has_base_unit), None)
        exps = dict(d.exponents) if d is not None else {}
        if d is None or exps.get("cd"):
            raise FMUUnitError(
                f"unit {unit!r} cannot be converted to SI: phystwin does not know it ({exc}) and the FMU gives no "
                f"usable <BaseUnit> for it (expected <Unit name={unit!r}><BaseUnit ... factor= offset=/></Unit>)"
            ) from None
        return d.factor, d.offset, tuple(float(exps.get(k, 0)) for k in _BASE), False


def si_scale_offset(unit: str | None, unit_definitions: tuple[FMUUnit, ...] = ()) -> tuple[float, float]:
    """``(scale, offset)`` with ``value_SI = value * scale + offset`` for an FMU unit string.

    Parameters
    ----------
    unit
        The unit as the FMU writes it (``"degC"``, ``"rpm"``, ``"kW"``); None or ``""`` is dimensionless.
    unit_definitions
        The FMU's unit definitions, used when :mod:`phystwin.units` does not know ``unit``.

    Returns
    -------
    tuple of float
        ``(scale, offset)``; e.g. ``(1.0, 273.15)`` for ``degC`` and ``(2*pi/60, 0.0)`` for ``rpm``.

    Raises
    ------
    FMUUnitError
        The unit is unknown to phystwin and has no ``<BaseUnit>`` in ``unit_definitions``.
    """
    scale, offset, _, _ = _si(unit, unit_definitions)
    return scale, offset


def _checked(var: FMUVariable) -> tuple[float, float]:
    if var.si_scale is None or var.si_offset is None:
        raise FMUUnitError(f"FMU variable {var.name!r}: unit {var.unit!r} cannot be converted to SI")
    return var.si_scale, var.si_offset


def to_si(variable: FMUVariable, value: float) -> float:
    """A value the FMU gives for ``variable`` (in its unit), in SI: ``25 degC -> 298.15``, ``60 rpm -> 2*pi``."""
    scale, offset = _checked(variable)
    return float(value) * scale + offset


def from_si(variable: FMUVariable, value: float) -> float:
    """An SI value in the unit the FMU expects for ``variable``: ``298.15 -> 25`` for a ``degC`` input."""
    scale, offset = _checked(variable)
    return (float(value) - offset) / scale


def _float(text: Any, what: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        raise FMUDescriptionError(f"{what}: expected a number, got {text!r}") from None


def _start(vtype: str, text: str | None, what: str) -> Value:
    if text is None:
        return None
    if vtype in _REAL or (vtype in _INT and len(text.split()) > 1):
        vals = tuple(float(_float(p, what) or 0.0) for p in text.split())
        return vals[0] if len(vals) == 1 else vals
    if vtype in _INT:
        try:
            return int(text)
        except ValueError:
            raise FMUDescriptionError(f"{what}: expected an integer, got {text!r}") from None
    return text.strip() in ("true", "1") if vtype == "Boolean" else text


def _variable(v: Any, defs: tuple[FMUUnit, ...]) -> FMUVariable:
    dt, what = v.declaredType, f"variable {v.name!r}"
    unit = v.unit or getattr(dt, "unit", None)
    scale: float | None = None
    offset: float | None = None
    if v.type in _REAL:
        with contextlib.suppress(FMUUnitError):  # validate() reports it; to_si() refuses the variable
            scale, offset = si_scale_offset(unit, defs)

    def attr(a: str) -> float | None:
        return _float(getattr(v, a) if getattr(v, a) is not None else getattr(dt, a, None), f"{what} {a}")

    return FMUVariable(
        name=str(v.name),
        value_reference=int(v.valueReference),
        causality=str(v.causality),
        variability=str(v.variability),
        type=str(v.type),
        unit=unit,
        start=_start(v.type, v.start, f"{what} start"),
        min=attr("min"),
        max=attr("max"),
        nominal=attr("nominal"),
        description=v.description,
        initial=v.initial,
        derivative_of=getattr(v.derivative, "name", None) if v.type in _REAL else None,
        si_scale=scale,
        si_offset=offset,
    )


def _xml(path: Path) -> Any:
    """The root element of ``modelDescription.xml`` (lxml; no entities, no network), or None if unreadable."""
    from lxml import etree

    with zipfile.ZipFile(path) as zf:
        xml = zf.read("modelDescription.xml")
    try:
        return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None


def _load(path: Path) -> Any:
    """fmpy's ModelDescription, after the archive checks; errors name the file and what is wrong."""
    if "modelDescription.xml" not in check_archive(path):
        raise FMUArchiveError(f"{path}: no modelDescription.xml at the archive root (is it an FMU?)")
    from fmpy import read_model_description

    try:
        md = read_model_description(str(path), validate=False)
    except Exception as exc:  # fmpy raises bare Exception, lxml its own errors
        raise FMUDescriptionError(f"{path}: cannot read modelDescription.xml: {exc}") from None
    if md.fmiMajorVersion not in (2, 3):
        raise FMUDescriptionError(f"{path}: FMI {md.fmiVersion} is not supported (expected FMI 2.0 or 3.0)")
    return md


def read_description(fmu_path: str | PathLike[str], *, validate: bool = False) -> FMUDescription:
    """Read an FMU's model description (FMI 2.0 or 3.0) without extracting the archive.

    Parameters
    ----------
    fmu_path
        The ``.fmu`` file; its members are checked as by :func:`~phystwin.fmu.archive.safe_extract`.
    validate
        Also run :func:`validate` and raise when it finds problems.

    Returns
    -------
    FMUDescription

    Raises
    ------
    FMUArchiveError
        Missing file, not a ZIP archive, refused member, or no ``modelDescription.xml``.
    FMUDescriptionError
        fmpy cannot read the model description, or (``validate=True``) it has problems, all listed.
    """
    path = Path(fmu_path)
    md = _load(path)
    from phystwin.fmu.validation import _problems  # the checks need this module's readers

    if validate and (problems := _problems(path)):
        raise FMUDescriptionError(f"{path} has {len(problems)} problem(s):\n- " + "\n- ".join(problems))
    return _describe(md, path)


def _describe(md: Any, path: Path) -> FMUDescription:
    defs = tuple(
        FMUUnit(str(u.name))
        if (b := u.baseUnit) is None
        else FMUUnit(
            str(u.name),
            float(b.factor),
            float(b.offset),
            tuple((k, int(getattr(b, k))) for k in (*_BASE, "cd") if getattr(b, k)),
            True,
        )
        for u in md.unitDefinitions
    )
    variables = tuple(_variable(v, defs) for v in md.modelVariables)
    root = _xml(path)
    interfaces = []
    for kind in _KINDS:
        it = getattr(md, kind[0].lower() + kind[1:])
        if it is not None:
            el = root.find(kind) if root is not None else None
            raw = dict(el.attrib) if el is not None else {}
            flags = {k: any(raw.get(n) in ("true", "1") for n in names) for k, names in _FLAGS.items()}
            interfaces.append(FMUInterface(kind, str(it.modelIdentifier), **flags))
    states = tuple(
        StatePair(u.variable.derivative.name, u.variable.name)
        for u in md.derivatives
        if getattr(getattr(u.variable, "derivative", None), "name", None) is not None
    )
    de = md.defaultExperiment
    times = (
        _float(getattr(de, a, None), f"DefaultExperiment {a}")
        for a in ("startTime", "stopTime", "tolerance", "stepSize")
    )
    return FMUDescription(
        fmi_version=str(md.fmiVersion),
        model_name=str(md.modelName),
        guid=md.guid,
        model_identifiers={i.kind: i.model_identifier for i in interfaces},
        supports_model_exchange=md.modelExchange is not None,
        supports_co_simulation=md.coSimulation is not None,
        can_get_and_set_state=bool(interfaces) and all(i.can_get_and_set_state for i in interfaces),
        can_serialize_state=bool(interfaces) and all(i.can_serialize_state for i in interfaces),
        provides_directional_derivative=bool(interfaces) and all(i.provides_directional_derivative for i in interfaces),
        n_states=int(md.numberOfContinuousStates),
        n_event_indicators=int(md.numberOfEventIndicators or 0),
        default_experiment=DefaultExperiment(*times),
        variables=variables,
        states=states,
        inputs=tuple(v.name for v in variables if v.causality == "input"),
        outputs=tuple(v.name for v in variables if v.causality == "output"),
        parameters=tuple(v.name for v in variables if v.causality in ("parameter", "structuralParameter")),
        sha256=sha256_file(path),
        path=path,
        interfaces=tuple(interfaces),
        unit_definitions=defs,
    )


def validate(fmu_path: str | PathLike[str]) -> list[str]:
    """Problems of an FMU: fmpy's validation plus phystwin's static checks (see :mod:`phystwin.fmu.validation`)."""
    from phystwin.fmu.validation import validate as _validate

    return _validate(fmu_path)
