"""FMU components named in a twin config: ``[components.<name>]`` turns an FMU into a component of the twin.

::

    [twin]
    type = "dc_motor"

    [components.coupling]             # the component's name in the twin
    fmu = "loads/dc_load.fmu"         # relative to this file; or "bundled:dc_load" (phystwin's own C model)
    sha256 = "3f1c..."                # optional pin: any other file is refused
    parameters = { J_l = "0.5 g*m2", k_c = 2.0 }       # FMU parameters: SI numbers or values with units
                                                        # (Integer and Boolean ones: plain whole numbers)
    connect = { "coupling.w_in" = "rotor.w", "load.tau_load" = "coupling.tau" }   # input = signal
    inputs = { load_torque = "coupling.tau_ext" }       # rebind a twin input (or declare a new one)
    outputs = { load_speed = "coupling.w_l" }           # new twin outputs

The FMU runs as model exchange inside the compiled core (:mod:`phystwin.fmu.me`): its states join the
twin's states, so every command (simulate, estimate, bench, run) integrates and estimates them like
native ones. A signal input fed through ``connect`` loses the twin input that fed it before; rebind that
input with ``inputs`` to keep it (its unit and default are kept).

Every loaded FMU is described in the compiled model's ``Model.fmus`` (component, file, SHA-256, FMI
version, model name, GUID); the commands copy that list into the run's provenance.

All problems of all components are reported together in one :class:`~phystwin.config.schema.ConfigError`
with their TOML key paths, before anything is compiled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phystwin.config.schema import ComponentSection, ConfigError, Quantity, TwinConfig, key_path, suggest
from phystwin.errors import InvalidValueError
from phystwin.physics.component import ModelDefinitionError
from phystwin.physics.system import System
from phystwin.units import UnitError, conversion

__all__ = ["BUNDLED_PREFIX", "add_components", "fmu_path"]

BUNDLED_PREFIX = "bundled:"
_PARAMETER_TYPES = frozenset({"Real", "Float64", "Integer", "Int32", "Int64", "Boolean"})


def fmu_path(spec: str, config: TwinConfig) -> Path:
    """The ``.fmu`` file of a component's ``fmu`` value: relative paths are taken from the config file's
    folder (the working directory for a config given as a string); ``bundled:<model>`` builds one of
    phystwin's C test models (cached; see :func:`phystwin.fmu.build.build_fmu`)."""
    if spec.startswith(BUNDLED_PREFIX):
        from phystwin.fmu.build import build_fmu

        return build_fmu(spec[len(BUNDLED_PREFIX) :])
    path = Path(spec).expanduser()
    if not path.is_absolute() and config.source != "<string>":
        path = Path(config.source).resolve().parent / path
    return path


def _parameter_si(q: Quantity, unit: str | None, scale: float | None, offset: float | None, what: str) -> float:
    """A parameter value from the config in SI: a plain number is SI already; a value with a unit is
    converted to the FMU variable's unit, then to SI with the variable's factors."""
    if isinstance(q.value, tuple):
        raise InvalidValueError(f"{what} is a scalar; got a list")
    if q.unit is None:
        return float(q.value)
    if scale is None or offset is None:
        raise InvalidValueError(f"{what} is in {unit!r}, which does not convert to SI; give a plain number in SI")
    try:
        a, b = conversion(q.unit, unit or "1")
    except UnitError as exc:
        raise InvalidValueError(f"{what} is in {unit or '1'!r}: {exc}") from None
    return (q.value * a + b) * scale + offset


def _load(name: str, sec: ComponentSection, config: TwinConfig, problems: list[tuple[str, str]]) -> Any:
    """``(component, instance)`` of one section, or None with its problems appended."""
    from phystwin.fmu.archive import sha256_file
    from phystwin.fmu.description import FMUDescriptionError, read_description
    from phystwin.fmu.errors import FMUError
    from phystwin.fmu.me import fmu_component

    where = ("components", name)
    n_problems = len(problems)
    try:
        path = fmu_path(sec.fmu, config)
    except Exception as exc:  # a failed gcc build of a bundled model: say which and why
        problems.append((key_path((*where, "fmu")), str(exc)))
        return None
    if not path.is_file():
        problems.append((key_path((*where, "fmu")), f"no FMU file at {str(path)!r}"))
        return None
    if sec.sha256 is not None:
        digest = sha256_file(path)
        if digest != sec.sha256:
            problems.append(
                (key_path((*where, "sha256")), f"{path.name} has SHA-256 {digest}, not the pinned {sec.sha256}")
            )
            return None
    try:
        desc = read_description(path)
    except (FMUDescriptionError, FMUError, OSError, ValueError) as exc:
        problems.append((key_path((*where, "fmu")), str(exc)))
        return None
    params: dict[str, float] = {}
    known = {v.name: v for v in desc.variables if v.causality == "parameter" and v.type in _PARAMETER_TYPES}
    for pname, q in sec.parameters.items():
        at = key_path((*where, "parameters", pname))
        var = known.get(pname)
        if var is None:
            problems.append((at, f"{desc.model_name} has no parameter {pname!r}{suggest(pname, list(known))}"))
            continue
        try:
            if var.is_real:
                params[pname] = _parameter_si(q, var.unit, var.si_scale, var.si_offset, f"FMU parameter {pname!r}")
            elif q.unit is not None or isinstance(q.value, tuple):
                raise InvalidValueError(
                    f"FMU parameter {pname!r} is of type {var.type}: give a plain number, without a unit"
                )
            else:
                params[pname] = q.value
        except ValueError as exc:
            problems.append((at, str(exc)))
    if len(problems) > n_problems:
        return None
    try:
        return fmu_component(name, path, parameters=params)
    except (FMUError, ValueError, OSError) as exc:
        problems.append((key_path((*where, "fmu")), f"{path.name} cannot be loaded for model exchange: {exc}"))
        return None


def _wire(system: System, name: str, sec: ComponentSection, problems: list[tuple[str, str]]) -> None:
    """Connections, input rebinding and outputs of one component section."""
    where = ("components", name)
    fed = set(sec.connect)
    removed = {}
    for inp in list(system.inputs.values()):
        kept = tuple(t for t in inp.targets if t not in fed)
        if kept != inp.targets:
            removed[inp.name] = system.inputs.pop(inp.name)
            if kept:
                system.input(inp.name, inp.unit, kept, default=inp.default, description=inp.description)
    for target, source in sec.connect.items():
        system.connect(source, target)
    for iname, target in sec.inputs.items():
        current = system.inputs.pop(iname, None)  # still drives the targets no connection took over
        old = current or removed.get(iname)
        kept = current.targets if current is not None else ()
        unit = old.unit if old is not None else _input_unit(system, target)
        if unit is None:
            problems.append((key_path((*where, "inputs", iname)), f"{target!r} is not an input of a component"))
            continue
        try:
            default, text = (old.default, old.description) if old is not None else (None, "")
            system.input(iname, unit, (*kept, target), default=default, description=text)
        except ModelDefinitionError as exc:
            problems.append((key_path((*where, "inputs", iname)), str(exc)))
    for oname, source in sec.outputs.items():
        try:
            system.output(oname, source)
        except ModelDefinitionError as exc:
            problems.append((key_path((*where, "outputs", oname)), str(exc)))


def _input_unit(system: System, target: str) -> str | None:
    """The unit of the signal input ``<component>.<input>`` of a direct member of ``system``."""
    comp_name, _, var = target.partition(".")
    comp = system.children.get(comp_name)
    for v in getattr(comp, "inputs", ()):
        if getattr(v, "name", None) == var:
            return str(v.unit)
    return None


def add_components(system: System, config: TwinConfig) -> list[dict[str, Any]]:
    """Add every ``[components.<name>]`` FMU of ``config`` to ``system`` and wire it; returns the
    provenance entries (one per FMU). Raises :class:`ConfigError` listing every problem."""
    problems: list[tuple[str, str]] = []
    entries: list[dict[str, Any]] = []
    for name, sec in config.components.items():
        if name in system.children:
            problems.append((key_path(("components", name)), f"the twin already has a component named {name!r}"))
            continue
        loaded = _load(name, sec, config, problems)
        if loaded is None:
            continue
        comp, inst = loaded
        system.add(comp)
        desc = inst.description
        entries.append(
            {
                "component": name,
                "fmu": str(desc.path),
                "sha256": inst.sha256,
                "fmi_version": desc.fmi_version,
                "model_name": desc.model_name,
                "guid": desc.guid,
            }
        )
        _wire(system, name, sec, problems)
    if problems:
        raise ConfigError(problems, config.source)
    return entries
