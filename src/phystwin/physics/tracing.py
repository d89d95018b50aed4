"""Call a component equation with other number types: symbols for derivatives, quantities for units.

A component equation is a small Python function (``lambda a_T, b_T, G: G * (a_T - b_T)``) that numba
compiles for floats. The same function, called with SymPy symbols, returns its symbolic expression
(so derivatives come from what the function *computes*, never from its source text); called with
pint quantities, it returns the unit of its result (so dimensions can be checked).

That only needs the function's calls into ``math`` / ``numpy`` (``math.exp``, ``np.tanh``, a name
imported with ``from math import exp``) and the builtins ``abs``, ``min``, ``max`` to go to the
other number type's functions. :func:`retarget` makes such a copy: same code, globals where those
names resolve to a *namespace* (a mapping of function names to implementations), and the helper
functions the equation calls (plain Python or numba-compiled, globals or closure cells) retargeted
the same way, recursively.

What cannot be traced raises :class:`UntraceableError` with the reason: a function the namespace does
not provide, a branch on a symbolic value (``if w > 0:``), a loop over one, a table look-up. The
callers decide what follows (a checked finite difference for a derivative, a refusal or a warning for
a unit check).
"""

from __future__ import annotations

import builtins
import math
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from phystwin.errors import PhystwinError

__all__ = ["CONSTANT_HOOK", "MATH_NAMES", "UntraceableError", "names_read", "retarget", "sympy_namespace", "trace"]

MATH_NAMES = (
    "exp", "expm1", "log", "log1p", "log10", "log2", "sqrt", "cbrt", "pow", "hypot",
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "fabs", "copysign", "floor", "ceil", "trunc", "erf", "erfc", "isnan", "isfinite", "isinf",
    "fmin", "fmax", "minimum", "maximum", "abs", "absolute", "sign", "tanh", "power", "arctan", "arctan2",
    "arcsin", "arccos", "arcsinh", "arccosh", "arctanh", "square", "clip", "where",
    "pi", "e", "inf", "nan", "tau",
)  # fmt: skip
"""Names of ``math`` / ``numpy`` that a namespace may provide (anything else is untraceable)."""

CONSTANT_HOOK = "__constant__"
"""Optional namespace entry: a function applied to every other global or closure value the equation
reads (e.g. :class:`phystwin.units.Constant` numbers become quantities for the dimension check)."""

_BUILTINS = ("abs", "min", "max", "pow")
_MODULES = (math, np)


class UntraceableError(PhystwinError, TypeError):
    """The equation cannot be called with the other number type (names the reason)."""


class _Namespace:
    """Stands in for the ``math`` / ``numpy`` module inside a retargeted function."""

    def __init__(self, impl: Mapping[str, Any], module: str) -> None:
        self._impl = impl
        self._module = module

    def __getattr__(self, name: str) -> Any:
        try:
            return self._impl[name]
        except KeyError:
            raise UntraceableError(f"{self._module}.{name} is not supported here") from None


def _module_function_name(obj: Any) -> str | None:
    """``"exp"`` for ``math.exp`` or ``numpy.exp`` (a function imported by name), else None."""
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str):
        return None
    for mod in _MODULES:
        if getattr(mod, name, None) is obj:
            return name
    return None


def _is_compiled(obj: Any) -> bool:
    return hasattr(obj, "py_func") and isinstance(obj.py_func, types.FunctionType)


def names_read(code: types.CodeType) -> set[str]:
    """Every name in ``co_names`` of ``code`` and its nested code (the globals and attributes it reads)."""
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= names_read(c)
    return names


def retarget(fn: Callable[..., Any], namespace: Mapping[str, Any], _depth: int = 0) -> Callable[..., Any]:
    """A copy of ``fn`` whose ``math``/``numpy`` calls and ``abs``/``min``/``max`` resolve to ``namespace``.

    Parameters
    ----------
    fn : callable
        A plain Python function or a numba-compiled one (its ``py_func`` is used).
    namespace : mapping
        Function name (``"exp"``, ``"abs"``, ...) to the implementation for the other number type.

    Raises
    ------
    UntraceableError
        ``fn`` is not a Python function (a builtin, a C function), or helpers nest too deeply.
    """
    py = getattr(fn, "py_func", fn) if _is_compiled(fn) else fn
    if not isinstance(py, types.FunctionType):
        raise UntraceableError(f"{fn!r} is not a Python function")
    if _depth > 8:
        raise UntraceableError(f"helper functions nest too deeply at {py.__qualname__}")
    glb: dict[str, Any] = dict(py.__globals__)
    for name in names_read(py.__code__):
        obj = glb.get(name)
        if obj is None:
            if name in _BUILTINS and name in namespace:
                glb[name] = namespace[name]
            continue
        if any(obj is m for m in _MODULES):
            glb[name] = _Namespace(namespace, obj.__name__)
        elif (fname := _module_function_name(obj)) is not None:
            glb[name] = _bound(namespace, fname)
        elif isinstance(obj, types.FunctionType) or _is_compiled(obj):
            glb[name] = retarget(obj, namespace, _depth + 1)
        elif CONSTANT_HOOK in namespace:  # a global number (a unit-carrying Constant for dimensions)
            glb[name] = namespace[CONSTANT_HOOK](obj)
    for name in _BUILTINS:  # shadow the builtins the function uses
        if name in py.__code__.co_names and name not in py.__globals__ and name in namespace:
            glb[name] = namespace[name]
    closure = None
    if py.__closure__:
        cells = []
        for cell in py.__closure__:
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                cells.append(cell)
                continue
            if isinstance(value, types.FunctionType) or _is_compiled(value):
                value = retarget(value, namespace, _depth + 1)
            elif (fname := _module_function_name(value)) is not None:
                value = _bound(namespace, fname)
            elif CONSTANT_HOOK in namespace:
                value = namespace[CONSTANT_HOOK](value)
            cells.append(types.CellType(value))
        closure = tuple(cells)
    copy = types.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, closure)
    copy.__kwdefaults__ = py.__kwdefaults__
    return copy


def _bound(namespace: Mapping[str, Any], name: str) -> Any:
    if name in namespace:
        return namespace[name]

    def missing(*_args: Any, **_kw: Any) -> Any:
        raise UntraceableError(f"function {name} is not supported here")

    return missing


def trace(fn: Callable[..., Any], args: Sequence[Any], namespace: Mapping[str, Any]) -> Any:
    """Call ``fn`` retargeted to ``namespace`` with ``args``; any failure becomes :class:`UntraceableError`.

    A branch on a symbolic value (``TypeError: cannot determine truth value``), an unsupported
    function, an exception inside the equation: each is reported with the function's name and the
    reason, so the caller can name the component and equation.
    """
    try:
        return retarget(fn, namespace)(*args)
    except UntraceableError:
        raise
    except RecursionError:
        raise UntraceableError("recursion while tracing") from None
    except Exception as exc:  # the equation's own code ran on a foreign number type
        raise UntraceableError(_reason(exc)) from None


_REASONS = (
    ("truth value", "branch on a symbolic value (if/while, and/or, a chained comparison)"),
    ("not subscriptable", "indexes an argument (a table look-up?)"),
    ("__getitem__", "indexes an argument (a table look-up?)"),
    ("not iterable", "iterates over an argument (a table or a loop?)"),
    ("convert expression to", "converts a symbolic value to a plain number (float(), int(), a C function?)"),
    ("cannot be interpreted as an integer", "uses an argument as an integer (a loop bound or an index?)"),
)


def _reason(exc: Exception) -> str:
    """A short reason a user can act on, with the original error appended."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    original = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    for needle, reason in _REASONS:
        if needle in text:
            return f"{reason} [{original}]"
    return original


def sympy_namespace() -> dict[str, Any]:
    """``math``/``numpy`` functions and constants as SymPy functions (for symbolic derivatives)."""
    import sympy as sp

    def copysign(a: Any, b: Any) -> Any:
        return sp.Abs(a) * sp.sign(b)

    ns: dict[str, Any] = {
        "exp": sp.exp,
        "expm1": lambda a: sp.exp(a) - 1,
        "log": lambda a, base=None: sp.log(a) if base is None else sp.log(a, base),
        "log1p": lambda a: sp.log(1 + a),
        "log10": lambda a: sp.log(a, 10),
        "log2": lambda a: sp.log(a, 2),
        "sqrt": sp.sqrt,
        "cbrt": sp.cbrt,
        "pow": lambda a, b: a**b,
        "power": lambda a, b: a**b,
        "square": lambda a: a**2,
        "hypot": lambda a, b: sp.sqrt(a**2 + b**2),
        "sin": sp.sin,
        "cos": sp.cos,
        "tan": sp.tan,
        "asin": sp.asin,
        "acos": sp.acos,
        "atan": sp.atan,
        "atan2": sp.atan2,
        "arcsin": sp.asin,
        "arccos": sp.acos,
        "arctan": sp.atan,
        "arctan2": sp.atan2,
        "sinh": sp.sinh,
        "cosh": sp.cosh,
        "tanh": sp.tanh,
        "asinh": sp.asinh,
        "acosh": sp.acosh,
        "atanh": sp.atanh,
        "arcsinh": sp.asinh,
        "arccosh": sp.acosh,
        "arctanh": sp.atanh,
        "erf": sp.erf,
        "erfc": sp.erfc,
        "fabs": sp.Abs,
        "abs": sp.Abs,
        "absolute": sp.Abs,
        "sign": sp.sign,
        "copysign": copysign,
        "min": sp.Min,
        "max": sp.Max,
        "fmin": sp.Min,
        "fmax": sp.Max,
        "minimum": sp.Min,
        "maximum": sp.Max,
        "pi": sp.pi,
        "e": sp.E,
        "tau": 2 * sp.pi,
    }
    return ns


_ = builtins  # the builtins abs/min/max are shadowed by name (see retarget)
