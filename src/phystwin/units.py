"""Units and dimensions on pint: parsing, dimensions, conversion at the boundaries.

Inside phystwin everything is SI; a config file, a component constructor or :meth:`Model.parameters`
may say ``"5 mH"``, ``"25 degC"`` or ``"3000 rpm"``. This module reads such a unit, gives its
dimension, converts a value to the unit the model declares (``H``, ``K``, ``rad/s``) and refuses a
unit of the wrong kind with both units named.

The work is done by `pint <https://pint.readthedocs.io>`_ with a registry of phystwin's own (built
once, on first use, never at import): the units phystwin accepts are listed in :data:`DEFINITIONS`
(pint's definition format), each with the SI prefixes G M k h d c m u/µ n p when it allows them
(``mH``, ``kW``, ``mAh``, ``cm2``, ``pF``; not ``kmin``). A unit expression is written the way the
component library writes them: ``W/(m2*K)``, ``kg*m2``, ``Pa*s2/m6``, ``N m``, ``N.m``, ``m^2``,
``m**2``, ``1/s``, ``(m/s)^0.8``; the exponent suffixes (``m2``, ``s-2``) and the unicode spellings
(``°C``, ``Ω``, ``µ``, ``·``) are rewritten for pint first. Plural forms (pint's ``meters``) are off:
``Ws`` is not read as "watts".

Angle (``rad``) is a base dimension of its own here so that ``rpm`` converts to ``rad/s`` but not to
``1/s`` and ``Hz`` does not silently become ``rad/s``; a plain ``rad`` may still be dropped
(``V*s/rad`` converts to ``N*m/A``) when neither side uses ``rpm``, ``deg``, ``rev`` or ``Hz``.

Temperatures: ``degC``/``degF`` standing alone are absolute temperatures (with an offset); inside a
compound unit (``W/(m2*degC)``, ``1/degC``) they are temperature differences (no offset): pint's
``as_delta`` reading.

:class:`Constant` gives a number in an equation its unit (``SIGMA = Constant(5.67e-8, "W/(m2*K4)")``):
compiled code sees a float, the dimension check (:mod:`phystwin.physics.dimensions`) a quantity.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from phystwin.errors import PhystwinError

if TYPE_CHECKING:
    import pint

__all__ = [
    "DEFINITIONS",
    "DIMENSIONS",
    "VALUE_FORMS",
    "Constant",
    "Dim",
    "Unit",
    "UnitError",
    "conversion",
    "convert",
    "dimension_text",
    "dimensions_of",
    "is_coherent",
    "known_units",
    "parse_unit",
    "parse_value",
    "pint_unit",
    "registry",
    "same_unit",
    "si_unit",
    "to_unit",
    "value_in",
]

DIMENSIONS = ("m", "kg", "s", "A", "K", "mol", "rad")
"""The base dimensions, in the order of :attr:`Unit.dim`: length, mass, time, current, temperature,
amount of substance, angle."""
_PINT_DIMS = ("[length]", "[mass]", "[time]", "[current]", "[temperature]", "[substance]", "[angle]")
_SI_NAMES = ("meter", "kilogram", "second", "ampere", "kelvin", "mole", "radian")

Dim = tuple[float, ...]
"""Exponents of :data:`DIMENSIONS` (integers unless a unit has a fractional power, ``(m/s)^0.8``)."""
_NONE: Dim = (0, 0, 0, 0, 0, 0, 0)


class UnitError(PhystwinError, ValueError):
    """A unit string cannot be parsed, or does not convert to the unit that was expected."""


DEFINITIONS = """
# SI prefixes (every unit below takes them unless it is listed in _NOT_PREFIXABLE); no tera- (T is tesla)
giga- = 1e9 = G-
mega- = 1e6 = M-
kilo- = 1e3 = k-
hecto- = 1e2 = h-
deci- = 1e-1 = d-
centi- = 1e-2 = c-
milli- = 1e-3 = m-
micro- = 1e-6 = u- = µ- = μ-
nano- = 1e-9 = n-
pico- = 1e-12 = p-

# base dimensions; angle is one of them (see the module docstring)
meter = [length] = m
gram = [mass] = g
second = [time] = s
ampere = [current] = A
kelvin = [temperature]; offset: 0 = K
mole = [substance] = mol
radian = [angle] = rad

# derived SI units
newton = kilogram * meter / second ** 2 = N
newton_meter = newton * meter = Nm
joule = newton * meter = J
watt = joule / second = W
pascal = newton / meter ** 2 = Pa
volt = watt / ampere = V
ohm = volt / ampere = Ohm
siemens = ampere / volt = S
coulomb = ampere * second = C
farad = coulomb / volt = F
weber = volt * second = Wb
henry = weber / ampere = H
tesla = weber / meter ** 2 = T
hertz = 1 / second = Hz
liter = 1e-3 * meter ** 3 = L

# engineering units
ampere_hour = ampere * hour = Ah
watt_hour = watt * hour = Wh
minute = 60 * second = min
hour = 60 * minute = h
day = 24 * hour = d
revolution = 2 * pi * radian = rev
revolutions_per_minute = revolution / minute = rpm
degree = pi / 180 * radian = deg
bar = 1e5 * pascal
degree_Celsius = kelvin; offset: 273.15 = degC
degree_Fahrenheit = 5 / 9 * kelvin; offset: 233.15 + 200 / 9 = degF
percent = 0.01
pi = 3.1415926535897932384626433832795028841971693993751
"""
"""The units phystwin knows, in pint's definition format (symbols after the last ``=``)."""

_NOT_PREFIXABLE = frozenset(
    {
        "minute",
        "hour",
        "day",
        "revolution",
        "revolutions_per_minute",
        "degree",
        "degree_Celsius",
        "degree_Fahrenheit",
        "percent",
        "pi",
    }
)
_CYCLIC = frozenset({"revolutions_per_minute", "degree", "revolution", "hertz"})
"""Units that make a conversion keep track of angle (rpm, deg, rev, Hz and its multiples)."""

_ALIASES = (
    ("°C", "degC"),
    ("℃", "degC"),
    ("°F", "degF"),
    ("°", "deg"),
    ("Ω", "ohm"),  # U+03A9 GREEK CAPITAL LETTER OMEGA
    ("Ω", "ohm"),  # U+2126 OHM SIGN
    ("µ", "u"),  # U+00B5 MICRO SIGN
    ("μ", "u"),  # U+03BC GREEK SMALL LETTER MU
    ("·", "*"),
    ("%", "percent"),
)
_NAME = r"[A-Za-z_]\w*"
_SUFFIX_EXPONENT = re.compile(r"(?<=[A-Za-z])(-?\d+)(?![\d.])")
_DOT_PRODUCT = re.compile(r"(?<=[A-Za-z0-9)])\.(?=[A-Za-z(])")
_TOKENS = re.compile(rf"\s*(?:(?P<name>{_NAME})|(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<op>\*\*|[-*/()]))")

_LOCK = threading.Lock()
_REGISTRY: Any = None


# ---------------------------------------------------------------------------------------- registry
def registry() -> pint.UnitRegistry:
    """phystwin's pint registry (built on first use, about 10 ms; importing pint costs ~0.2 s)."""
    global _REGISTRY
    if _REGISTRY is None:
        with _LOCK:
            if _REGISTRY is None:
                import pint

                reg: Any = pint.UnitRegistry(
                    None, autoconvert_offset_to_baseunit=False, cache_folder=None, on_redefinition="raise"
                )
                reg.load_definitions(DEFINITIONS.splitlines())
                # no plural forms: pint would read "Ws" as "watts" and "As" as "amperes"
                reg._suffixes = {"": ""}
                _REGISTRY = reg
    return _REGISTRY


@lru_cache(maxsize=1)
def known_units() -> tuple[str, ...]:
    """The unit symbols of :data:`DEFINITIONS` (for messages), without prefixes."""
    symbols = {"%", "1"}
    for line in DEFINITIONS.splitlines():
        parts = [p.strip() for p in line.split("#", 1)[0].split("=")]
        if len(parts) < 2 or parts[0].endswith("-") or parts[0] == "pi":
            continue
        symbols.add(parts[-1] if len(parts) >= 3 else parts[0])
    return tuple(sorted(symbols, key=lambda u: (u.lower(), u)))


# ---------------------------------------------------------------------------------------- parsing
def _expression(text: str) -> tuple[str, list[str]]:
    """``text`` rewritten for pint, and the unit names in it; :class:`UnitError` for what is not a unit."""
    s = text.strip()
    for a, b in _ALIASES:
        s = s.replace(a, b)
    s = _DOT_PRODUCT.sub("*", s)
    s = s.replace("^", "**")
    s = _SUFFIX_EXPONENT.sub(r"**\1", s)
    names: list[str] = []
    pos = 0
    prev = ""
    depth = 0
    while pos < len(s):
        m = _TOKENS.match(s, pos)
        if m is None or m.end() == pos:
            if not s[pos:].strip():
                break
            raise UnitError(f"cannot read unit {text!r} at {s[pos:]!r}")
        kind = m.lastgroup or ""
        tok = m.group(kind)
        if kind == "name":
            names.append(tok)
        elif kind == "num":
            exponent = prev == "**" or (prev == "-" and s[: m.start()].rstrip().endswith("**-"))
            if not exponent and tok != "1":
                raise UnitError(f"cannot read unit {text!r}: a bare number {tok!r} is not a unit")
        elif tok == "-" and prev != "**":
            raise UnitError(f"cannot read unit {text!r}: '-' must be an exponent's sign")
        elif tok == "/" and prev in ("/", "*", "**", ""):
            raise UnitError(f"cannot read unit {text!r}: unexpected '/'")
        elif tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        prev = tok
        pos = m.end()
    if prev in ("**", "-", "*", "/"):
        raise UnitError(f"cannot read unit {text!r}: it ends too early")
    if depth:
        raise UnitError(f"cannot read unit {text!r}: unbalanced parentheses")
    return s, names


@dataclass(frozen=True)
class Unit:
    """A parsed unit: ``value_SI = value * scale + offset``, with its dimension."""

    text: str
    scale: float
    dim: Dim
    offset: float = 0.0
    cyclic: bool = False
    """Uses an angle or frequency unit other than ``rad`` (rpm, deg, rev, Hz)."""

    def dimension(self) -> str:
        """Human-readable SI dimension, e.g. ``m2*kg/(s3*A)`` (a volt)."""
        return dimension_text(self.dim)


def _exp_text(e: float) -> str:
    e = _clean(e)
    return str(e) if isinstance(e, int) else f"^{e:g}"


def dimension_text(dim: Sequence[float]) -> str:
    """``m2*kg/(s3*A)`` for a :data:`Dim` (``1`` for dimensionless); parses back to the same dimension."""
    num = [f"{n}{'' if e == 1 else _exp_text(e)}" for n, e in zip(DIMENSIONS, dim, strict=True) if e > 0]
    den = [f"{n}{'' if e == -1 else _exp_text(-e)}" for n, e in zip(DIMENSIONS, dim, strict=True) if e < 0]
    top = "*".join(num) or "1"
    if not den:
        return top
    return f"{top}/{den[0]}" if len(den) == 1 else f"{top}/({'*'.join(den)})"


def _clean(e: float) -> float:
    """An exponent as an int when it is one (pint gives floats for ``(m/s)**0.8``)."""
    r = round(float(e), 9)
    return int(r) if r == int(r) else r


def dimensions_of(dimensionality: Any) -> Dim:
    """A :data:`Dim` from pint's ``dimensionality`` (``{"[length]": 2, ...}``)."""
    unknown = set(dimensionality) - set(_PINT_DIMS)
    if unknown:  # pragma: no cover - the registry defines no other dimension
        raise UnitError(f"dimension(s) {sorted(unknown)} are not phystwin's")
    return tuple(_clean(dimensionality.get(d, 0)) for d in _PINT_DIMS)


@lru_cache(maxsize=256)
def pint_unit(dim: Dim) -> pint.Unit:
    """The coherent SI unit of a dimension as a pint unit (``kilogram * meter ** 2 / second ** 3``)."""
    reg = registry()
    unit = reg.Unit("")
    for name, e in zip(_SI_NAMES, dim, strict=True):
        if e:
            unit = unit * reg.Unit(name) ** e
    return unit


def _si_of(dimensionality: Any) -> pint.Unit:
    """:func:`pint_unit` with pint's own (unrounded) exponents, so ``(m/s)**0.8`` converts exactly."""
    return pint_unit(tuple(float(dimensionality.get(d, 0)) for d in _PINT_DIMS))


@lru_cache(maxsize=1024)
def parse_unit(text: str) -> Unit:
    """Parse a unit expression; :class:`UnitError` if it cannot be read or uses an unknown symbol.

    Units read before (by any process) come from a small file in phystwin's cache folder, keyed by this
    module's code and pint's version, so a warm run that only converts known units does not import pint.
    """
    if not isinstance(text, str):
        raise UnitError(f"a unit must be a string, got {text!r}")
    known = _parsed().get(text)
    if known is not None:
        scale, dim, offset, cyclic = known
        return Unit(text.strip(), float(scale), tuple(_clean(d) for d in dim), float(offset), bool(cyclic))
    unit = _parse_with_pint(text)
    _remember(text, unit)
    return unit


def _parse_with_pint(text: str) -> Unit:
    expr, names = _expression(text)
    reg = registry()
    cyclic = False
    for name in names:
        candidates = reg.parse_unit_name(name)
        usable = [(p, u) for p, u, _ in candidates if not (p and u in _NOT_PREFIXABLE)]
        if not usable:
            raise UnitError(
                f"unknown unit {name!r} in {text!r}; known units: {', '.join(known_units())} (with SI prefixes)"
            )
        cyclic = cyclic or usable[0][1] in _CYCLIC
    try:
        units = reg.parse_units(expr) if expr else reg.Unit("")
    except Exception as exc:  # pint's parser: syntax, undefined names, non-unit factors
        raise UnitError(f"cannot read unit {text!r} ({type(exc).__name__}: {exc})") from None
    dim = dimensions_of(units.dimensionality)
    si = _si_of(units.dimensionality)
    try:
        offset = float(reg.Quantity(0.0, units).to(si).magnitude)
        if offset:  # a lone absolute temperature (pint reads one inside a compound as a difference)
            (_, lone, _), *_ = reg.parse_unit_name(names[0])
            scale = float(reg.Quantity(1.0, reg.Unit(f"delta_{lone}")).to(si).magnitude)
        else:
            scale = float(reg.Quantity(1.0, units).to(si).magnitude)
    except Exception as exc:  # pragma: no cover - pint refusing an offset unit in a compound
        raise UnitError(f"cannot use unit {text!r} ({type(exc).__name__}: {exc})") from None
    return Unit(text.strip(), scale, dim, offset, cyclic)


_PARSED: dict[str, list[Any]] | None = None


def _parsed_file() -> Path:
    base = os.environ.get("PHYSTWIN_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "phystwin"
    h = hashlib.sha256(Path(__file__).read_bytes())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        h.update(importlib.metadata.version("pint").encode())
    return root / "units" / f"parsed_{h.hexdigest()[:16]}.json"


def _parsed() -> dict[str, list[Any]]:
    """Units parsed by earlier processes (empty when the file is missing or unreadable)."""
    global _PARSED
    if _PARSED is None:
        try:
            data = json.loads(_parsed_file().read_text())
            _PARSED = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            _PARSED = {}
    return _PARSED


def _remember(text: str, unit: Unit) -> None:
    """Add a parsed unit to :func:`_parsed`; the file is written once, when the process exits."""
    global _DIRTY
    _parsed()[text] = [unit.scale, list(unit.dim), unit.offset, unit.cyclic]
    if not _DIRTY:
        _DIRTY = True
        atexit.register(_save_parsed)


_DIRTY = False


def _save_parsed() -> None:
    with contextlib.suppress(OSError):
        path = _parsed_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # another process may have added units meanwhile: keep them
            merged = {**json.loads(path.read_text()), **_parsed()}
        except (OSError, ValueError):
            merged = dict(_parsed())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged))
        os.replace(tmp, path)


# ---------------------------------------------------------------------------------------- coherent SI
def is_coherent(unit: Unit) -> bool:
    """True for a coherent SI unit: factor 1 and offset 0 to its SI base form (``H``, ``W/(m2*K)``,
    ``rad/s``, ``Hz``, ``kg*m2``, ``1``); false for ``mH``, ``kJ/K``, ``degC``, ``rpm``, ``%``, ``bar``, ``g``."""
    return unit.offset == 0.0 and math.isclose(unit.scale, 1.0, rel_tol=1e-12)


_SI_OF = {
    "gram": "kg",
    "minute": "s",
    "hour": "s",
    "day": "s",
    "revolution": "rad",
    "revolutions_per_minute": "(rad/s)",
    "degree": "rad",
    "bar": "Pa",
    "degree_Celsius": "K",
    "degree_Fahrenheit": "K",
    "percent": "1",
    "liter": "m**3",
    "ampere_hour": "C",
    "watt_hour": "J",
}
"""The coherent SI unit that replaces a non-SI one in :func:`si_unit` (a prefixed unit loses its prefix)."""
_NAME_IN_EXPR = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


def si_unit(text: str) -> str:
    """The coherent SI unit of the same kind as ``text`` (``"mH"`` -> ``"H"``, ``"kJ/K"`` -> ``"J/K"``,
    ``"degC"`` -> ``"K"``, ``"rpm"`` -> ``"rad/s"``, ``"%"`` -> ``"1"``); ``text`` itself when it is one.

    The unit a component or a System declares must be one (:func:`is_coherent`): equations compute in SI.
    """
    unit = parse_unit(text)
    if is_coherent(unit):
        return text.strip()
    expr, _ = _expression(text)
    reg = registry()

    def swap(m: re.Match[str]) -> str:
        name = m.group(0)
        if is_coherent(parse_unit(name)):
            return name
        usable = [(p, u) for p, u, _ in reg.parse_unit_name(name) if not (p and u in _NOT_PREFIXABLE)]
        lone = usable[0][1]
        return _SI_OF.get(lone) or str(reg.get_symbol(lone))

    spelled = _NAME_IN_EXPR.sub(swap, expr)
    spelled = re.sub(r"(?<=[A-Za-z])\*\*(-?\d+)(?![\d.])", r"\1", spelled).replace("**", "^")
    if spelled.startswith("(") and spelled.endswith(")") and spelled.count("(") == 1:
        spelled = spelled[1:-1]
    try:
        candidate = parse_unit(spelled)
    except UnitError:  # pragma: no cover - every replacement above parses
        return dimension_text(unit.dim)
    if is_coherent(candidate) and candidate.dim == unit.dim:
        return spelled
    return dimension_text(unit.dim)  # pragma: no cover - a safe spelling (kg, not g, so it is coherent)


def _above_absolute_zero(value: Any, unit: Unit, what: str | None) -> None:
    """Refuse a temperature given in an offset unit (``degC``, ``degF``) that lies below 0 K."""
    if not unit.offset:
        return
    given = np.asarray(value, dtype=np.float64)
    kelvin = given * unit.scale + unit.offset
    below = np.flatnonzero(np.reshape(kelvin < -1e-9, -1))
    if below.size:
        k = int(below[0])
        v, si = float(given.reshape(-1)[k]), float(kelvin.reshape(-1)[k])
        where = f"{what}: " if what else ""
        raise UnitError(f"{where}{v:g} {unit.text} is below absolute zero ({si:g} K); a temperature is at least 0 K")


def conversion(unit: str, target: str) -> tuple[float, float]:
    """``(scale, offset)`` so that ``value_in_target = value * scale + offset``.

    Raises :class:`UnitError` naming both units if they are not of the same kind.
    """
    src, dst = parse_unit(unit), parse_unit(target)
    only_angle = src.dim[:-1] == dst.dim[:-1] and not (src.cyclic or dst.cyclic)
    if src.dim != dst.dim and not only_angle:
        raise UnitError(f"unit {unit!r} does not convert to {target!r} ({src.dimension()} is not {dst.dimension()})")
    scale = src.scale / dst.scale
    offset = (src.offset - dst.offset) / dst.scale
    return scale, offset


def convert(value: float, unit: str, target: str) -> float:
    """``value`` given in ``unit``, expressed in ``target`` (e.g. ``convert(25, "degC", "K") == 298.15``)."""
    scale, offset = conversion(unit, target)
    _above_absolute_zero(value, parse_unit(unit), None)
    return float(value) * scale + offset


def same_unit(a: str, b: str) -> bool:
    """True if two unit strings mean the same unit (same dimension, scale and offset)."""
    try:
        ua, ub = parse_unit(a), parse_unit(b)
    except UnitError:
        return a.replace(" ", "") == b.replace(" ", "")
    return ua.dim == ub.dim and math.isclose(ua.scale, ub.scale, rel_tol=1e-12) and ua.offset == ub.offset


# ---------------------------------------------------------------------------------------- values
_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
VALUE_FORMS = 'a number (SI), a string like "5 mH" or a table like { value = 5, unit = "mH" }'
"""The forms a value with a unit may take (a TOML table; a dict in Python)."""


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        raise UnitError(f"{what}: expected a number, got {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise UnitError(f"{what}: expected a finite number, got {v!r}")
    return f


def parse_value(v: Any) -> tuple[Any, str | None]:
    """``(number or array, unit or None)`` of a value in one of the config forms (:data:`VALUE_FORMS`).

    ``3.0`` and ``[1, 2]`` are SI (unit None); ``"5 mH"`` and ``{"value": 5, "unit": "mH"}`` carry their
    unit, which must parse. A number without a unit, a numpy array or a sequence passes through.
    """
    if isinstance(v, str):
        m = _NUMBER_UNIT.match(v)
        if m is None:
            raise UnitError(f"expected {VALUE_FORMS}, got {v!r}")
        unit = m.group(2) or None
        if unit is not None:
            parse_unit(unit)
        return float(m.group(1)), unit
    if isinstance(v, Mapping):
        unknown = sorted(set(v) - {"value", "unit"})
        if unknown or "value" not in v:
            what = f"unknown key(s) {unknown}" if unknown else "no 'value'"
            raise UnitError(f'a value table has {what}; expected {{ value = ..., unit = "..." }}')
        unit = v.get("unit")
        if unit is not None:
            if not isinstance(unit, str):
                raise UnitError(f'unit must be a string like "mH", got {unit!r}')
            parse_unit(unit)
            unit = unit.strip()
        inner = v["value"]
        if isinstance(inner, list | tuple | np.ndarray):
            return np.array([_number(x, f"value[{k}]") for k, x in enumerate(inner)], dtype=np.float64), unit
        return _number(inner, "value"), unit
    return v, None


def to_unit(value: Any, unit: str | None, declared: str, what: str) -> Any:
    """``value`` given in ``unit`` (None: already in ``declared``) expressed in ``declared``, the unit of ``what``.

    Arrays convert element-wise. Raises :class:`UnitError` naming both units and both dimensions.
    """
    if unit is None:
        return value
    try:
        target = parse_unit(declared)
    except UnitError:
        raise UnitError(
            f"the unit {declared!r} of {what} is not in phystwin's unit table; give a plain number in {declared}"
        ) from None
    try:
        scale, offset = conversion(unit, declared)
    except UnitError:
        raise UnitError(
            f"unit {unit!r} does not convert to {declared!r}, the unit of {what} "
            f"({parse_unit(unit).dimension()} is not {target.dimension()})"
        ) from None
    _above_absolute_zero(value, parse_unit(unit), what)
    if isinstance(value, np.ndarray | list | tuple):
        return np.asarray(value, dtype=np.float64) * scale + offset
    return float(value) * scale + offset


def value_in(v: Any, declared: str, what: str) -> Any:
    """A value in any of the config forms (``2e-3``, ``"2 mH"``, ``{"value": 2, "unit": "mH"}``) in ``declared``.

    What the Python API does with a value a config file could give: numbers are SI and pass through
    unchanged; a unit is converted exactly as :func:`phystwin.config.resolve.to_si` does for the TOML.
    """
    try:
        value, unit = parse_value(v)
    except UnitError as exc:
        raise UnitError(f"{what}: {exc}") from None
    return to_unit(value, unit, declared, what)


# ---------------------------------------------------------------------------------------- constants
class Constant(float):
    """A number with a unit for use in equations: ``SIGMA = Constant(5.670374419e-8, "W/(m2*K4)")``.

    It *is* a float (numba compiles it as a constant, arithmetic is float arithmetic); the dimension
    check reads its ``unit``. The unit must parse (:func:`parse_unit`) and is SI by convention.
    """

    unit: str

    def __new__(cls, value: float, unit: str) -> Constant:
        obj = super().__new__(cls, value)
        obj.unit = unit
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Constant, (float(self), self.unit))
