"""Pint quantities for tracing equations: the number type and the ``math``/``numpy`` namespace that
:mod:`phystwin.physics.dimensions` calls each equation with (see its docstring for the rules: numbers are
wildcards in sums and comparisons, angles are dimensionless, transcendental functions take
dimensionless arguments). An operand clash inside an equation raises :class:`DimensionClashError`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from phystwin.physics.tracing import UntraceableError
from phystwin.units import Constant, Dim, dimension_text, dimensions_of, parse_unit, pint_unit, registry

__all__ = [
    "NUMBER_TYPES",
    "DimensionClashError",
    "cached_namespace",
    "dim_of",
    "is_quantity",
    "pint_namespace",
    "quantity",
    "same_dimension",
    "without_angle",
]


class DimensionClashError(UntraceableError):
    """Two operands of different dimensions meet inside an equation (``T + Q_flow``, ``exp(T)``).

    ``template`` names the operands ``{0}``, ``{1}``, ... with their dimensions in ``dims`` (None: a bare
    number), so the message can spell them in the component's own units. Derives from
    :class:`~phystwin.physics.tracing.UntraceableError` so that :func:`~phystwin.physics.tracing.trace`
    passes it on unchanged; :func:`check_dimensions` refuses it.
    """

    def __init__(self, template: str, *operands: Any) -> None:
        self.template = template
        self.dims = tuple(dim_of(x) if is_quantity(x) else None for x in operands)
        super().__init__(self.describe(lambda d: dimension_text(d)))

    def describe(self, spell: Callable[[Dim], str]) -> str:
        """The message with each operand's dimension written by ``spell``."""
        return self.template.format(*("a number" if d is None else spell(d) for d in self.dims))


NUMBER_TYPES = (int, float, np.integer, np.floating)


def without_angle(dim: Dim) -> Dim:
    return (*dim[:-1], 0)


def same_dimension(a: Dim, b: Dim) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-9) for x, y in zip(a[:-1], b[:-1], strict=True))


# ---------------------------------------------------------------------------------------- quantities
_TRACED: Any = None


def _traced_class() -> Any:
    """A pint ``Quantity`` that treats a bare number in a sum or comparison as a number in its own unit."""
    global _TRACED
    if _TRACED is not None:
        return _TRACED
    import pint

    base = registry().Quantity

    def adopt(self: Any, other: Any) -> Any:
        if isinstance(other, NUMBER_TYPES) and not isinstance(other, bool | np.bool_):
            return type(self)(np.float64(other), self.units)
        return other

    def clash(verb: str, a: Any, b: Any) -> DimensionClashError:
        return DimensionClashError(f"cannot {verb} {{0}} and {{1}}", a, b)

    def binary(name: str, verb: str) -> Callable[[Any, Any], Any]:
        method = getattr(base, name)

        def op(self: Any, other: Any) -> Any:
            other = adopt(self, other)
            if isinstance(other, base) and not same_dimension(dim_of(self), dim_of(other)):
                raise clash(verb, self, other)
            try:
                return method(self, other)
            except pint.DimensionalityError:
                raise clash(verb, self, other) from None

        op.__name__ = name
        return op

    def power(self: Any, other: Any) -> Any:
        if isinstance(other, base):
            if not other.dimensionless:
                raise DimensionClashError("an exponent must be dimensionless, got {0}", other)
            other = float(other.to("").magnitude)
        return base.__pow__(self, other)

    def rpower(self: Any, other: Any) -> Any:
        if not self.dimensionless:
            raise DimensionClashError("an exponent must be dimensionless, got {0}", self)
        return type(self)(np.float64(other) ** self.to("").magnitude, "")

    namespace: dict[str, Any] = {"__hash__": base.__hash__, "__pow__": power, "__rpow__": rpower}
    for name, verb in (
        ("__add__", "add"),
        ("__radd__", "add"),
        ("__sub__", "subtract"),
        ("__rsub__", "subtract"),
        ("__iadd__", "add"),
        ("__isub__", "subtract"),
        ("__lt__", "compare"),
        ("__le__", "compare"),
        ("__gt__", "compare"),
        ("__ge__", "compare"),
        ("__eq__", "compare"),
        ("__ne__", "compare"),
    ):
        namespace[name] = binary(name, verb)
    _TRACED = type("TracedQuantity", (base,), namespace)
    return _TRACED


def is_quantity(x: Any) -> bool:
    return isinstance(x, registry().Quantity)


def dim_of(q: Any) -> Dim:
    return without_angle(dimensions_of(q.dimensionality))


def quantity(value: Any, dim: Dim) -> Any:
    """A traced quantity of ``value`` (SI magnitude, float or array) in the SI unit of ``dim`` (angle dropped)."""
    mag = np.asarray(value, dtype=np.float64)
    return _traced_class()(mag if mag.ndim else np.float64(mag), pint_unit(without_angle(dim)))


# ---------------------------------------------------------------------------------------- namespace
def _dimensionless(x: Any, fname: str) -> Any:
    """The plain magnitude of a dimensionless argument of ``fname``; :class:`DimensionClashError` otherwise."""
    if is_quantity(x):
        if not same_dimension(dim_of(x), (0,) * 7):
            raise DimensionClashError(f"{fname}() of a quantity in {{0}}: its argument must be dimensionless", x)
        return x.to("").magnitude
    return x


def _unify(fname: str, *xs: Any) -> list[Any]:
    """``xs`` as quantities of one unit: bare numbers take it, another dimension is a clash."""
    first = next((x for x in xs if is_quantity(x)), None)
    if first is None:
        return list(xs)
    out = []
    for x in xs:
        if is_quantity(x):
            if not same_dimension(dim_of(x), dim_of(first)):
                raise DimensionClashError(f"{fname}() of {{0}} and {{1}}", first, x)
            out.append(x.to(first.units))
        else:
            out.append(_traced_class()(np.float64(x), first.units))
    return out


def _magnitude_op(fn: Callable[..., Any], fname: str) -> Callable[..., Any]:
    """A dimensionless function: checks its arguments, returns a dimensionless quantity."""

    def apply(*args: Any) -> Any:
        mags = [_dimensionless(a, fname) for a in args]
        return _traced_class()(np.float64(fn(*mags)), "")

    return apply


def _keep(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A function that keeps its argument's unit (``floor``, ``fabs``)."""

    def apply(x: Any) -> Any:
        if is_quantity(x):
            return type(x)(fn(x.magnitude), x.units)
        return fn(x)

    return apply


def _extreme(pick: Callable[..., Any], fname: str) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        xs = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else list(args)
        qs = _unify(fname, *xs)
        if not any(is_quantity(q) for q in qs):
            return pick(*qs)
        mags = [q.magnitude for q in qs]
        return type(qs[0])(pick(*mags), qs[0].units)

    return apply


def _pow(a: Any, b: Any) -> Any:
    if is_quantity(b):
        b = _dimensionless(b, "pow")
    return a**b


def _sqrt(a: Any) -> Any:
    return a**0.5 if is_quantity(a) else np.sqrt(a)


def _cbrt(a: Any) -> Any:
    return a ** (1.0 / 3.0) if is_quantity(a) else np.cbrt(a)


def _hypot(a: Any, b: Any) -> Any:
    a, b = _unify("hypot", a, b)
    return _sqrt(a * a + b * b)


def _atan2(a: Any, b: Any) -> Any:
    a, b = _unify("atan2", a, b)
    mags = [x.magnitude if is_quantity(x) else x for x in (a, b)]
    return _traced_class()(np.float64(np.arctan2(*mags)), "")


def _copysign(a: Any, b: Any) -> Any:
    sign = np.copysign(1.0, b.magnitude if is_quantity(b) else b)
    return a * sign if sign < 0 else a


def _sign(a: Any) -> Any:
    return _traced_class()(np.float64(np.sign(a.magnitude if is_quantity(a) else a)), "")


def _test(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(x: Any) -> Any:
        return bool(fn(x.magnitude if is_quantity(x) else x))

    return apply


def _clip(a: Any, lo: Any, hi: Any) -> Any:
    a, lo, hi = _unify("clip", a, lo, hi)
    if is_quantity(a):
        return type(a)(np.clip(a.magnitude, lo.magnitude, hi.magnitude), a.units)
    return np.clip(a, lo, hi)


def _where(c: Any, a: Any, b: Any) -> Any:
    a, b = _unify("where", a, b)
    cond = c.magnitude if is_quantity(c) else c
    return a if bool(np.all(cond)) else b


def _log(a: Any, base: Any = None) -> Any:
    x = _dimensionless(a, "log")
    v = np.log(x) if base is None else np.log(x) / np.log(_dimensionless(base, "log"))
    return _traced_class()(np.float64(v), "")


def pint_namespace() -> dict[str, Any]:
    """``math``/``numpy`` functions and constants for :func:`~phystwin.physics.tracing.trace` on pint quantities."""
    ns: dict[str, Any] = {
        name: _magnitude_op(getattr(np, npname), name)
        for name, npname in (
            ("exp", "exp"),
            ("expm1", "expm1"),
            ("log1p", "log1p"),
            ("log10", "log10"),
            ("log2", "log2"),
            ("sin", "sin"),
            ("cos", "cos"),
            ("tan", "tan"),
            ("asin", "arcsin"),
            ("acos", "arccos"),
            ("atan", "arctan"),
            ("arcsin", "arcsin"),
            ("arccos", "arccos"),
            ("arctan", "arctan"),
            ("sinh", "sinh"),
            ("cosh", "cosh"),
            ("tanh", "tanh"),
            ("asinh", "arcsinh"),
            ("acosh", "arccosh"),
            ("atanh", "arctanh"),
            ("arcsinh", "arcsinh"),
            ("arccosh", "arccosh"),
            ("arctanh", "arctanh"),
        )
    }
    ns["erf"] = _magnitude_op(np.vectorize(math.erf, otypes=[float]), "erf")
    ns["erfc"] = _magnitude_op(np.vectorize(math.erfc, otypes=[float]), "erfc")
    ns.update(
        log=_log,
        sqrt=_sqrt,
        cbrt=_cbrt,
        pow=_pow,
        power=_pow,
        square=lambda a: a * a,
        hypot=_hypot,
        atan2=_atan2,
        arctan2=_atan2,
        fabs=_keep(np.abs),
        abs=_keep(np.abs),
        absolute=_keep(np.abs),
        floor=_keep(np.floor),
        ceil=_keep(np.ceil),
        trunc=_keep(np.trunc),
        copysign=_copysign,
        sign=_sign,
        isnan=_test(np.isnan),
        isfinite=_test(np.isfinite),
        isinf=_test(np.isinf),
        min=_extreme(min, "min"),
        max=_extreme(max, "max"),
        fmin=_extreme(min, "fmin"),
        fmax=_extreme(max, "fmax"),
        minimum=_extreme(min, "minimum"),
        maximum=_extreme(max, "maximum"),
        clip=_clip,
        where=_where,
        pi=math.pi,
        e=math.e,
        tau=math.tau,
        inf=math.inf,
        nan=math.nan,
    )
    ns["__constant__"] = _constant
    return ns


_NAMESPACE: dict[str, Any] | None = None


def cached_namespace() -> dict[str, Any]:
    global _NAMESPACE
    if _NAMESPACE is None:
        _NAMESPACE = pint_namespace()
    return _NAMESPACE


def _constant(value: Any) -> Any:
    """A :class:`~phystwin.units.Constant` the equation reads, as a quantity; other values unchanged."""
    if isinstance(value, Constant):
        return quantity(float(value), parse_unit(value.unit).dim)
    return value
