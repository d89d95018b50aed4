"""Unit conversion at the boundaries: engineering units in config files to the SI unit a model declares.

Inside phystwin everything is SI; a config file may say ``"5 mH"``, ``"25 degC"`` or ``"3000 rpm"``.
This module converts such a value to the unit the model declares for the name (``H``, ``K``,
``rad/s``), and refuses a unit of the wrong kind with both units named.

A unit expression is a product of *atoms* with optional integer exponents, written the way the
component library writes them: ``W/(m2*K)``, ``kg*m2``, ``Pa*s2/m6``, ``N m``, ``m^2``, ``1/s``.
Each atom comes from one explicit table (:data:`ATOMS`), optionally with an SI prefix (:data:`PREFIXES`)
when the atom allows one (``mH``, ``kW``, ``mAh``, ``cm2``). Two expressions convert into each other
when their dimensions agree. Angle (``rad``) is tracked as its own dimension so that ``rpm`` converts
to ``rad/s`` but not to ``1/s`` and ``Hz`` does not silently become ``rad/s``; a plain ``rad`` may still
be dropped (``V*s/rad`` converts to ``N*m/A``) when neither side uses ``rpm``, ``deg``, ``rev`` or ``Hz``.

Temperatures: ``degC``/``degF`` standing alone are absolute temperatures (with an offset); inside a
compound unit (``W/(m2*degC)``) they are temperature differences (no offset).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from phystwin.errors import PhystwinError

# Base dimensions: length, mass, time, current, temperature, amount, angle.
_DIMS = ("m", "kg", "s", "A", "K", "mol", "rad")
Dim = tuple[int, int, int, int, int, int, int]
_NONE: Dim = (0, 0, 0, 0, 0, 0, 0)


class UnitError(PhystwinError, ValueError):
    """A unit string cannot be parsed, or does not convert to the unit that was expected."""


def _d(m: int = 0, kg: int = 0, s: int = 0, A: int = 0, K: int = 0, mol: int = 0, rad: int = 0) -> Dim:
    return (m, kg, s, A, K, mol, rad)


@dataclass(frozen=True)
class _Atom:
    scale: float
    dim: Dim
    prefixable: bool = True
    offset: float = 0.0  # only for absolute temperatures standing alone


_N = _d(m=1, kg=1, s=-2)
_J = _d(m=2, kg=1, s=-2)
_W = _d(m=2, kg=1, s=-3)
_V = _d(m=2, kg=1, s=-3, A=-1)

ATOMS: dict[str, _Atom] = {
    # base and derived SI units
    "m": _Atom(1.0, _d(m=1)),
    "g": _Atom(1e-3, _d(kg=1)),
    "s": _Atom(1.0, _d(s=1)),
    "A": _Atom(1.0, _d(A=1)),
    "K": _Atom(1.0, _d(K=1)),
    "mol": _Atom(1.0, _d(mol=1)),
    "rad": _Atom(1.0, _d(rad=1)),
    "N": _Atom(1.0, _N),
    "Nm": _Atom(1.0, _J),  # torque as engineers write it ("N m" and "N*m" parse too)
    "J": _Atom(1.0, _J),
    "W": _Atom(1.0, _W),
    "Pa": _Atom(1.0, _d(m=-1, kg=1, s=-2)),
    "V": _Atom(1.0, _V),
    "ohm": _Atom(1.0, _d(m=2, kg=1, s=-3, A=-2)),
    "Ohm": _Atom(1.0, _d(m=2, kg=1, s=-3, A=-2)),
    "Ω": _Atom(1.0, _d(m=2, kg=1, s=-3, A=-2)),
    "S": _Atom(1.0, _d(m=-2, kg=-1, s=3, A=2)),
    "F": _Atom(1.0, _d(m=-2, kg=-1, s=4, A=2)),
    "H": _Atom(1.0, _d(m=2, kg=1, s=-2, A=-2)),
    "C": _Atom(1.0, _d(s=1, A=1)),
    "Hz": _Atom(1.0, _d(s=-1)),
    "T": _Atom(1.0, _d(kg=1, s=-2, A=-1)),
    "Wb": _Atom(1.0, _d(m=2, kg=1, s=-2, A=-1)),
    "L": _Atom(1e-3, _d(m=3)),
    # engineering units
    "Ah": _Atom(3600.0, _d(s=1, A=1)),
    "Wh": _Atom(3600.0, _J),
    "min": _Atom(60.0, _d(s=1), prefixable=False),
    "h": _Atom(3600.0, _d(s=1), prefixable=False),
    "d": _Atom(86400.0, _d(s=1), prefixable=False),
    "rpm": _Atom(2.0 * math.pi / 60.0, _d(s=-1, rad=1), prefixable=False),
    "deg": _Atom(math.pi / 180.0, _d(rad=1), prefixable=False),
    "rev": _Atom(2.0 * math.pi, _d(rad=1), prefixable=False),
    "bar": _Atom(1e5, _d(m=-1, kg=1, s=-2)),
    "degC": _Atom(1.0, _d(K=1), prefixable=False, offset=273.15),
    "degF": _Atom(5.0 / 9.0, _d(K=1), prefixable=False, offset=459.67 * 5.0 / 9.0),
    "%": _Atom(0.01, _NONE, prefixable=False),
    "1": _Atom(1.0, _NONE, prefixable=False),
}
"""Every unit symbol the converter knows, with its scale to SI and its dimension."""

PREFIXES: dict[str, float] = {
    "G": 1e9,
    "M": 1e6,
    "k": 1e3,
    "h": 1e2,
    "c": 1e-2,
    "m": 1e-3,
    "u": 1e-6,
    "µ": 1e-6,
    "n": 1e-9,
}
"""SI prefixes accepted in front of a prefixable atom (``mH``, ``kW``, ``uF``, ``cm``)."""

_CYCLIC = re.compile(r"^(rpm|deg|rev|.?Hz)$")
_ALIASES = {"°C": "degC", "°F": "degF", "°": "deg", "℃": "degC", "μ": "µ"}
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+)|(?P<atom>[A-Za-zµΩ%]+)|(?P<op>\*\*|[*/^()·.])|(?P<neg>-))")


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
        """Human-readable SI dimension, e.g. ``kg*m2/(s3*A)``."""
        num = [f"{n}{'' if e == 1 else e}" for n, e in zip(_DIMS, self.dim, strict=True) if e > 0]
        den = [f"{n}{'' if e == -1 else -e}" for n, e in zip(_DIMS, self.dim, strict=True) if e < 0]
        top = "*".join(num) or "1"
        if not den:
            return top
        return f"{top}/{den[0]}" if len(den) == 1 else f"{top}/({'*'.join(den)})"


def _lookup_atom(sym: str, text: str) -> _Atom:
    if sym in ATOMS:
        return ATOMS[sym]
    if len(sym) > 1 and sym[0] in PREFIXES:
        base = ATOMS.get(sym[1:])
        if base is not None and base.prefixable:
            return _Atom(base.scale * PREFIXES[sym[0]], base.dim, True)
    raise UnitError(f"unknown unit {sym!r} in {text!r}; known units: {', '.join(sorted(ATOMS))} (with SI prefixes)")


class _Parser:
    """Recursive descent: expr := factor (('*' | '/' | ' ') factor)*; factor := primary [exp]."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        s = text
        for a, b in _ALIASES.items():
            s = s.replace(a, b)
        s = s.strip()
        pos = 0
        while pos < len(s):
            m = _TOKEN.match(s, pos)
            if m is None or m.end() == pos:
                if s[pos:].strip() == "":
                    break
                raise UnitError(f"cannot read unit {text!r} at {s[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> tuple[float, list[int]]:
        if not self.tokens:
            return 1.0, list(_NONE)
        scale, dim = self.expr()
        if (tok := self.peek()) is not None:
            raise UnitError(f"cannot read unit {self.text!r}: unexpected {tok[1]!r}")
        return scale, dim

    def expr(self) -> tuple[float, list[int]]:
        scale, dim = self.factor()
        while (tok := self.peek()) is not None and (tok[1] in ("*", "/", "·", ".", "(") or tok[0] in ("atom", "num")):
            sign = 1
            if tok[0] == "op" and tok[1] != "(":
                self.take()
                sign = -1 if tok[1] == "/" else 1
            s2, d2 = self.factor()
            scale *= s2**sign
            dim = [a + sign * b for a, b in zip(dim, d2, strict=True)]
        return scale, dim

    def factor(self) -> tuple[float, list[int]]:
        tok = self.peek()
        if tok is None:
            raise UnitError(f"cannot read unit {self.text!r}: it ends too early")
        self.take()
        if tok[1] == "(":
            scale, dim = self.expr()
            if self.peek() != ("op", ")"):
                raise UnitError(f"cannot read unit {self.text!r}: missing ')'")
            self.take()
        elif tok[0] == "num":
            if tok[1] != "1":
                raise UnitError(f"cannot read unit {self.text!r}: a bare number {tok[1]!r} is not a unit")
            return 1.0, list(_NONE)
        elif tok[0] == "atom":
            atom = _lookup_atom(tok[1], self.text)
            scale, dim = atom.scale, list(atom.dim)
        else:
            raise UnitError(f"cannot read unit {self.text!r}: unexpected {tok[1]!r}")
        exp = self.exponent()
        return scale**exp, [d * exp for d in dim]

    def exponent(self) -> int:
        tok = self.peek()
        explicit = tok is not None and tok[1] in ("^", "**")
        if explicit:
            self.take()
            tok = self.peek()
        sign = 1
        if tok is not None and tok[0] == "neg":
            self.take()
            sign = -1
            tok = self.peek()
            if tok is None or tok[0] != "num":
                raise UnitError(f"cannot read unit {self.text!r}: '-' must be followed by an exponent")
        if tok is not None and tok[0] == "num":
            self.take()
            return sign * int(tok[1])
        if explicit:
            raise UnitError(f"cannot read unit {self.text!r}: '^' must be followed by an integer exponent")
        return 1


@lru_cache(maxsize=512)
def parse_unit(text: str) -> Unit:
    """Parse a unit expression; :class:`UnitError` if it cannot be read or uses an unknown symbol."""
    if not isinstance(text, str):
        raise UnitError(f"a unit must be a string, got {text!r}")
    parser = _Parser(text)
    scale, dim = parser.parse()
    offset = 0.0
    cyclic = any(k == "atom" and _CYCLIC.search(v) for k, v in parser.tokens)
    if len(parser.tokens) == 1 and parser.tokens[0][0] == "atom":
        # an absolute temperature only when the unit stands alone; in a compound it is a difference
        offset = ATOMS.get(parser.tokens[0][1], _Atom(1.0, _NONE)).offset
    return Unit(text.strip(), scale, tuple(dim), offset, cyclic)  # type: ignore[arg-type]


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
    return float(value) * scale + offset


def same_unit(a: str, b: str) -> bool:
    """True if two unit strings mean the same unit (same dimension, scale and offset)."""
    try:
        ua, ub = parse_unit(a), parse_unit(b)
    except UnitError:
        return a.replace(" ", "") == b.replace(" ", "")
    return ua.dim == ub.dim and math.isclose(ua.scale, ub.scale, rel_tol=1e-12) and ua.offset == ub.offset


__all__ = ["ATOMS", "PREFIXES", "Unit", "UnitError", "conversion", "convert", "parse_unit", "same_unit"]
