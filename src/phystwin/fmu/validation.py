"""Static validation of an FMU: fmpy's ``validate_fmu`` plus phystwin's own checks.

phystwin's checks: every Real input, output and state has a unit that converts to SI; start values lie
inside ``[min, max]`` and ``min <= max``; declared derivatives refer to existing variables; an FMU's own
unit definition agrees with how :mod:`phystwin.units` reads the unit. Problems are returned as
sentences, never swallowed.

:func:`check_run` checks a finished run instead: it reached the stop time, and every recorded variable is
finite and inside its declared ``[min, max]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from phystwin.fmu.archive import FMUArchiveError, check_archive
from phystwin.fmu.description import (
    _BASE,
    FMUDescription,
    FMUDescriptionError,
    FMUUnit,
    FMUUnitError,
    FMUVariable,
    _describe,
    _load,
    _si,
    _xml,
)
from phystwin.units import parse_unit

__all__ = ["check_run", "validate"]


def validate(fmu_path: str | PathLike[str]) -> list[str]:
    """All problems of an FMU's model description, as readable strings (an empty list: none found).

    Parameters
    ----------
    fmu_path
        The ``.fmu`` file.

    Returns
    -------
    list of str
        fmpy's findings (:func:`fmpy.validation.validate_fmu`: schema, names, start values, causality and
        variability, model structure, unit definitions), then phystwin's: derivatives that refer to existing
        variables, a unit on every real input, output and state, units that convert to SI (and agree with
        the FMU's ``<BaseUnit>``), start values inside ``[min, max]``.

    Raises
    ------
    FMUArchiveError
        Missing file, not a ZIP archive, or a refused member (an archive that is not opened is not validated).
    """
    return _problems(Path(fmu_path))


def _problems(path: Path) -> list[str]:
    from fmpy.validation import validate_fmu

    if "modelDescription.xml" not in check_archive(path):
        raise FMUArchiveError(f"{path}: no modelDescription.xml at the archive root (is it an FMU?)")
    problems = [str(p) for p in validate_fmu(str(path))]
    problems += [p for p in _derivative_problems(_xml(path)) if p not in problems]
    try:
        desc = _describe(_load(path), path)
    except FMUDescriptionError as exc:
        return problems or [str(exc)]
    return problems + _static_problems(desc)


def _derivative_problems(root: Any) -> list[str]:
    """Derivatives that refer to no variable, read from the XML itself (fmpy stops at the first one)."""
    if root is None:
        return []  # fmpy reports the syntax error
    fmi2 = root.get("fmiVersion") == "2.0"
    elems = [e for e in root.findall("ModelVariables/*") if isinstance(e.tag, str)]
    key = "index" if fmi2 else "valueReference"
    refs = {str(i + 1) if fmi2 else str(e.get(key, "")).strip(): e for i, e in enumerate(elems)}

    def state_ref(e: Any) -> str | None:
        real = e.find("Real") if fmi2 else e
        return None if real is None or real.get("derivative") is None else str(real.get("derivative")).strip()

    problems = []
    for u in root.findall("ModelStructure/Derivatives/Unknown" if fmi2 else "ModelStructure/ContinuousStateDerivative"):
        der = refs.get(str(u.get(key, "")).strip())
        if der is None:
            problems.append(f"ModelStructure declares a derivative with {key}={u.get(key)!r}, which is no variable")
        elif state_ref(der) is None:
            problems.append(
                f"derivative {der.get('name')!r} in ModelStructure has no derivative attribute "
                f"(expected the {key} of its state)"
            )
    for e in elems:
        if (ref := state_ref(e)) is not None and ref not in refs:
            problems.append(f"variable {e.get('name')!r} has derivative={ref!r}, which is the {key} of no variable")
    return problems


def _static_problems(desc: FMUDescription) -> list[str]:
    problems: list[str] = []
    state_names = {p.state for p in desc.states}
    for v in desc.variables:
        role = "state" if v.name in state_names else v.causality
        if v.is_real and role in ("input", "output", "state") and not v.unit:
            problems.append(f'{role} {v.name!r} has no unit (expected a unit attribute, e.g. unit="K")')
        if v.is_real and v.unit:
            problems += _unit_problems(v, desc.unit_definitions)
        if v.min is not None and v.max is not None and v.min > v.max:
            problems.append(f"variable {v.name!r}: min={v.min:g} is greater than max={v.max:g}")
        starts = v.start if isinstance(v.start, tuple) else (v.start,)
        nums = [float(s) for s in starts if isinstance(s, int | float) and not isinstance(s, bool)]
        for s in nums:
            if (v.min is not None and s < v.min) or (v.max is not None and s > v.max):
                lo, hi = ("-inf" if v.min is None else f"{v.min:g}"), ("inf" if v.max is None else f"{v.max:g}")
                problems.append(f"variable {v.name!r}: start={s:g} is outside [min, max] = [{lo}, {hi}]")
    return problems


def _unit_problems(v: FMUVariable, defs: tuple[FMUUnit, ...]) -> list[str]:
    try:
        scale, offset, dims, known = _si(v.unit, defs)
    except FMUUnitError as exc:
        return [f"variable {v.name!r}: {exc}"]
    d = next((d for d in defs if d.name == v.unit and d.has_base_unit), None)
    if not known or d is None:
        return []
    exps = dict(d.exponents)
    same_dim = tuple(exps.get(k, 0) for k in _BASE[:-1]) == dims[:-1] and not exps.get("cd")
    if same_dim and math.isclose(d.factor, scale, rel_tol=1e-9) and math.isclose(d.offset, offset, abs_tol=1e-9):
        return []
    return [
        f"variable {v.name!r}: the FMU defines unit {v.unit!r} as factor={d.factor:g}, offset={d.offset:g}, "
        f"exponents {exps or 'none'}, but phystwin reads {v.unit!r} as scale={scale:g}, offset={offset:g} "
        f"({parse_unit(str(v.unit)).dimension()}); phystwin's reading is used"
    ]


def check_run(
    desc: FMUDescription,
    time: np.ndarray,
    values: Mapping[str, np.ndarray],
    stop_time: float | None = None,
) -> list[str]:
    """Problems of a finished FMU run, as sentences (an empty list: none).

    The run must reach ``stop_time`` [s] (to a relative 1e-9), and every recorded Real variable in ``values``
    (in the FMU's own units, as fmpy returns them) must be finite and inside the ``[min, max]`` the FMU
    declares for it; each violation names the variable, the first time it happened, the value and the bound.
    """
    problems: list[str] = []
    t = np.asarray(time, dtype=np.float64)
    if stop_time is not None:
        reached = float(t[-1]) if t.size else -math.inf
        if not reached >= stop_time - 1e-9 * max(1.0, abs(stop_time)):
            problems.append(f"the run ended at t = {reached:.9g} s, before the stop time {stop_time:.9g} s")
    known = {v.name: v for v in desc.variables}
    for name, raw in values.items():
        var = known.get(name)
        if var is None or not var.is_real:
            continue
        v = np.asarray(raw, dtype=np.float64)
        unit = f" {var.unit}" if var.unit else ""
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            k = int(bad[0])
            problems.append(f"{name} is {v[k]} at t = {t[k]:.9g} s ({bad.size} of {v.size} samples not finite)")
        for bound, side in ((var.min, "min"), (var.max, "max")):
            if bound is None:
                continue
            slack = 1e-9 * max(1.0, abs(bound))
            hits = np.flatnonzero(v < bound - slack if side == "min" else v > bound + slack)
            if hits.size:
                k = int(hits[0])
                worst = float(np.min(v[hits]) if side == "min" else np.max(v[hits]))
                problems.append(
                    f"{name} = {v[k]:.6g}{unit} at t = {t[k]:.9g} s is outside its declared {side} = {bound:g}{unit} "
                    f"({hits.size} of {v.size} samples; extreme {worst:.6g}{unit})"
                )
    return problems
