"""Symbolic partial derivatives of component equations, obtained by *tracing* them.

A component equation such as ``lambda a_T, b_T, G: G * (a_T - b_T)`` is called with SymPy symbols
(:func:`phystwin.physics.tracing.trace`: its ``math``/``numpy`` calls, ``abs``/``min``/``max`` and
the helper functions it calls are retargeted to SymPy). What it returns is the expression it
computes, whatever its source text looks like (a lambda continued over several lines, a helper
function, a closure). Each partial derivative

.. math::

    \\frac{\\partial f}{\\partial a_k}, \\qquad k = 1 \\dots n

is then ``sympy.diff`` of that expression, printed as plain Python over ``math`` in the equation's
own argument names (floats printed exactly with ``repr``). Non-smooth functions follow fixed
conventions, all printed as plain conditional expressions that numba compiles:

* ``d|u|/du = copysign(1, u)`` (``+1`` at ``u = +0``), the derivative of ``sign`` and of a
  ``Heaviside`` step is 0 (``DiracDelta`` -> 0);
* ``d min(a, b)/da = H(b - a)``, ``d max(a, b)/da = H(a - b)`` with ``H(z) = 1`` for ``z > 0``,
  ``0`` for ``z < 0`` and ``1/2`` at ``z = 0``.

An equation that cannot be traced (a branch on an argument's value, an equality test ``x == c``,
a loop over an argument, a table look-up, a function without a symbolic counterpart) or whose
derivative has no plain Python form gets ``None`` with the reason (:class:`Partials`); the
compiler then differentiates that one relation by a compiled finite difference and says so in the
model's ``derivative_notes``.

Results are cached in memory and on disk (``$PHYSTWIN_CACHE_DIR/partials``, keyed by the kernel's
code fingerprint and this module's version), so a warm start never imports SymPy.
"""

from __future__ import annotations

import ast
import dis
import hashlib
import json
import os
import re
import shutil
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phystwin.physics import _kernels
from phystwin.physics.tracing import UntraceableError, sympy_namespace, trace

__all__ = ["Partials", "differentiate", "partials", "substitute"]

_FORMAT = "partials-3"
"""Version of the generated derivative code: part of the disk-cache key (bump on any change of form)."""

_ALLOWED_CALLS = frozenset({"abs", "min", "max"})


@dataclass(frozen=True)
class Partials:
    """The partial derivatives of one equation, or why there are none.

    Attributes
    ----------
    sources : mapping or None
        Argument name -> Python source of ``d f / d arg`` (in the equation's own argument names,
        over ``math``); arguments with a zero partial are left out. ``None``: not traceable.
    reason : str
        Why ``sources`` is ``None`` (empty otherwise).
    """

    sources: Mapping[str, str] | None
    reason: str = ""


def partials(fn: Callable[..., Any], args: tuple[str, ...]) -> dict[str, str] | None:
    """Source of ``d fn / d arg`` for every argument with a non-zero partial, or ``None`` when
    ``fn`` cannot be traced (:func:`differentiate` gives the reason)."""
    res = differentiate(fn, args)
    return None if res.sources is None else dict(res.sources)


_MEMO: dict[int, tuple[Callable[..., Any], tuple[tuple[str, ...], str], Partials]] = {}


def differentiate(fn: Callable[..., Any], args: tuple[str, ...], *, cache: bool = True) -> Partials:
    """Trace ``fn`` with one SymPy symbol per argument (named ``args``) and differentiate it.

    Parameters
    ----------
    fn : callable
        The equation (plain Python or numba-compiled).
    args : tuple of str
        Its argument names, in order.
    cache : bool
        Reuse and keep the result (in memory and on disk); ``False`` traces afresh and keeps nothing.

    Returns
    -------
    Partials
        The source of each non-zero partial, or ``None`` with the reason.
    """
    if not cache:
        return _differentiate(fn, args)
    try:
        key = _kernels.register(fn)
    except Exception:  # an unregistrable function: trace it every time
        key = None
    hit = _MEMO.get(id(fn))
    if key is not None and hit is not None and hit[0] is fn and hit[1] == (args, key):
        return hit[2]
    path = _disk_path(key, args)
    res = _disk_load(path) if path is not None else None
    if res is None:
        res = _differentiate(fn, args)
        if path is not None:
            _disk_store(path, res)
    if key is not None:
        _MEMO[id(fn)] = (fn, (args, key), res)
    return res


def _differentiate(fn: Callable[..., Any], args: tuple[str, ...]) -> Partials:
    try:
        return Partials(_trace_partials(fn, args))
    except UntraceableError as exc:
        # the reason may quote the dummy symbols: show the equation's own argument names
        reason = re.sub(
            r"\b_a(\d+)\b", lambda m: args[int(m.group(1))] if int(m.group(1)) < len(args) else m.group(0), str(exc)
        )
        return Partials(None, reason)


def _trace_partials(fn: Callable[..., Any], args: tuple[str, ...]) -> dict[str, str]:
    import sympy as sp

    for a in args:
        if a in ("math", *_ALLOWED_CALLS):
            raise UntraceableError(f"argument named {a!r} shadows a function the derivative code uses")
    if (why := _untraceable_branch(fn)) is not None:
        # SymPy answers `x == 0.0` structurally (False) and a symbol's truth (`if flag:`) as True
        # instead of failing: the trace would silently follow one branch, so such an equation is
        # not traced at all
        raise UntraceableError(f"{why}: tracing cannot tell which branch it takes")
    # Dummy names: the arguments' own names could be read by SymPy as something else (E, I, S, N).
    symbols = [sp.Symbol(f"_a{k}", real=True) for k in range(len(args))]
    value = _as_expression(trace(fn, symbols, sympy_namespace()))
    rename = {f"_a{k}": name for k, name in enumerate(args)}
    out: dict[str, str] = {}
    for name, sym in zip(args, symbols, strict=True):
        d = _plain(sp.diff(value, sym))
        if d == 0:
            continue
        out[name] = substitute(_print(d), rename) if rename else _print(d)
        _check_source(out[name], args)
    return out


_TRUTH_JUMPS = frozenset(
    {
        "POP_JUMP_IF_TRUE",
        "POP_JUMP_IF_FALSE",
        "POP_JUMP_FORWARD_IF_TRUE",
        "POP_JUMP_FORWARD_IF_FALSE",
        "POP_JUMP_BACKWARD_IF_TRUE",
        "POP_JUMP_BACKWARD_IF_FALSE",
        "JUMP_IF_TRUE_OR_POP",
        "JUMP_IF_FALSE_OR_POP",
    }
)
"""Conditional jumps on a value's truth (Python 3.11 / 3.12 names)."""

_COMPARISONS = frozenset({"COMPARE_OP", "IS_OP", "CONTAINS_OP"})
"""A truth jump right after one of these tests a comparison, which SymPy refuses to decide."""


def _branch_in_code(code: types.CodeType) -> str | None:
    """The first untraceable branch of ``code`` (nested code included), else None."""
    todo = [code]
    while todo:
        c = todo.pop()
        prev = None
        for ins in dis.get_instructions(c):
            if ins.opname == "COMPARE_OP" and ins.argval in ("==", "!="):
                return f"tests a value for equality ({c.co_qualname}: {ins.argval})"
            if ins.opname in _TRUTH_JUMPS and (prev is None or prev.opname not in _COMPARISONS):
                line = ins.positions.lineno if ins.positions is not None else None
                return f"tests a value's truth ({c.co_qualname}, line {line}: if/and/or/not on a number)"
            if ins.opname not in ("CACHE", "EXTENDED_ARG", "NOP"):
                prev = ins
        todo += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    return None


def _untraceable_branch(fn: Any, seen: set[int] | None = None) -> str | None:
    """Why ``fn`` or a helper it calls branches in a way tracing cannot follow, else None.

    Two such branches: an equality test (``x == c``, which SymPy answers structurally) and a truth
    test that is not on a comparison (``if flag:``, ``a or b``, ``not x``: a SymPy expression is
    always truthy). A branch on a comparison (``if x > 0:``) needs no scan: SymPy refuses it.
    """
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    seen = set() if seen is None else seen
    if code is None or id(code) in seen:
        return None
    seen.add(id(code))
    if (why := _branch_in_code(code)) is not None:
        return why
    glb = getattr(py, "__globals__", {})
    helpers = [glb.get(n) for n in code.co_names]
    for cell in getattr(py, "__closure__", None) or ():
        try:
            helpers.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for h in helpers:
        is_function = isinstance(h, types.FunctionType) or isinstance(getattr(h, "py_func", None), types.FunctionType)
        if is_function and (why := _untraceable_branch(h, seen)) is not None:
            return why
    return None


def _as_expression(value: Any) -> Any:
    """The traced result as a real SymPy expression, or :class:`UntraceableError`."""
    import numpy as np
    import sympy as sp

    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    truth = (
        bool,
        np.bool_,
        sp.core.relational.Relational,
        sp.logic.boolalg.BooleanAtom,
        sp.logic.boolalg.BooleanFunction,
    )
    if isinstance(value, truth):
        raise UntraceableError("returns a truth value, not a number")
    if isinstance(value, int | float | np.integer | np.floating):
        return sp.Float(float(value))
    if isinstance(value, sp.Expr):
        if value.has(sp.I) or value.is_real is False:
            raise UntraceableError(f"complex result {value}")
        return value
    raise UntraceableError(f"returns {type(value).__name__}, not a number")


def _plain(d: Any) -> Any:
    """Drop derivative terms of steps (``DiracDelta`` -> 0); refuse what has no plain Python form."""
    import sympy as sp

    if d.has(sp.DiracDelta):
        d = d.replace(sp.DiracDelta, lambda *_: sp.S.Zero)
    if d.has(sp.Derivative, sp.Subs):
        bad = sorted({str(f.expr.func) for f in d.atoms(sp.Derivative)})
        raise UntraceableError(f"no symbolic derivative of {', '.join(bad) or 'a function'}")
    if d.has(sp.zoo, sp.nan):
        raise UntraceableError(f"derivative is undefined ({d})")
    if d.has(sp.re, sp.im, sp.arg, sp.I):
        raise UntraceableError(f"complex derivative ({d})")
    return d


_PRINTER: Any = None


def _print(expr: Any) -> str:
    global _PRINTER
    if _PRINTER is None:
        _PRINTER = _make_printer()
    try:
        return str(_PRINTER.doprint(expr))
    except Exception as exc:  # PrintMethodNotImplementedError and kin: no plain Python form
        raise UntraceableError(f"derivative has no plain Python form: {str(exc).splitlines()[0]}") from None


def _make_printer() -> Any:
    """A SymPy printer for numba: ``math.f`` calls, exact float literals, no SymPy objects."""
    import sympy as sp
    from sympy.printing.precedence import precedence
    from sympy.printing.pycode import PythonCodePrinter

    class _MathPrinter(PythonCodePrinter):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__({"fully_qualified_modules": True, "strict": True})

        def _print_Float(self, e: Any) -> str:
            return repr(float(e))

        def _print_Integer(self, e: Any) -> str:
            return repr(float(e))

        def _print_Rational(self, e: Any) -> str:
            return repr(float(e))

        def _print_Half(self, e: Any) -> str:
            return "0.5"

        def _print_Pow(self, e: Any, rational: bool = False) -> str:
            base = self.parenthesize(e.base, precedence(e))
            n = e.exp
            if n == sp.S.Half:
                return f"math.sqrt({self._print(e.base)})"
            if n == -sp.S.Half:
                return f"(1.0 / math.sqrt({self._print(e.base)}))"
            if n.is_Integer:
                k = int(n)
                # an integer literal exponent: numba expands it into multiplications
                if k < 0:
                    return f"(1.0 / {base})" if k == -1 else f"(1.0 / {base}**{-k})"
                return f"{base}**{k}"
            return f"{base}**{self.parenthesize(n, precedence(e))}"

        def _print_sign(self, e: Any) -> str:
            # the derivative of abs(u): +1 at u = +0, as math.copysign
            return f"math.copysign(1.0, {self._print(e.args[0])})"

        def _print_Heaviside(self, e: Any) -> str:
            z = self._print(e.args[0])
            h0 = self._print(e.args[1]) if len(e.args) > 1 else "0.5"
            return f"(1.0 if {z} > 0.0 else (0.0 if {z} < 0.0 else {h0}))"

        def _print_Piecewise(self, e: Any) -> str:
            *pieces, (last, cond) = e.args
            if cond != sp.true:
                raise UntraceableError("piecewise derivative without an 'otherwise' branch")
            out = self._print(last)
            for value, c in reversed(pieces):
                out = f"({self._print(value)} if {self._print(c)} else {out})"
            return out

    return _MathPrinter()


def _check_source(src: str, args: tuple[str, ...]) -> None:
    """The printed partial reads only its arguments, ``math`` and ``abs``/``min``/``max``."""
    allowed = set(args) | {"math"} | _ALLOWED_CALLS
    for node in ast.walk(ast.parse(src, mode="eval")):
        if isinstance(node, ast.Name) and node.id not in allowed:
            raise UntraceableError(f"derivative code reads {node.id!r}")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id != "math":
            raise UntraceableError(f"derivative code uses {node.value.id}.{node.attr}")


def substitute(expr_src: str, mapping: dict[str, str]) -> str:
    """Replace argument names in ``expr_src`` by expressions (parenthesised)."""
    tree = ast.parse(expr_src, mode="eval")

    class _Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            if node.id in mapping:
                return ast.parse(f"({mapping[node.id]})", mode="eval").body
            return node

    return ast.unparse(_Sub().visit(tree))


# ---------------------------------------------------------------------------------------- disk cache
_FINGERPRINT: str | None = None


def _code_version() -> str:
    """This module, the tracer and SymPy's version: a change to any of them invalidates the cache."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        from importlib.metadata import version

        here = Path(__file__).resolve().parent
        h = hashlib.sha256(_FORMAT.encode())
        for name in ("autodiff.py", "tracing.py"):
            h.update((here / name).read_bytes())
        try:
            h.update(version("sympy").encode())
        except Exception:  # pragma: no cover - sympy is a dependency
            h.update(b"sympy?")
        _FINGERPRINT = h.hexdigest()[:16]
    return _FINGERPRINT


def _disk_path(key: str | None, args: tuple[str, ...]) -> Path | None:
    """Cache file of the partials of the kernel ``key`` (its code fingerprint) in ``args``."""
    if key is None or os.environ.get("PHYSTWIN_PARTIALS_CACHE", "1") == "0":
        return None
    base = os.environ.get("PHYSTWIN_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "phystwin"
    arg_hash = hashlib.sha256(",".join(args).encode()).hexdigest()[:8]
    return root / "partials" / _code_version() / f"{key}_{arg_hash}.json"


def _disk_load(path: Path) -> Partials | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    sources = data.get("sources")
    if sources is not None and not isinstance(sources, dict):
        return None
    return Partials(sources, str(data.get("reason", "")))


def _disk_store(path: Path, res: Partials) -> None:
    try:
        if not path.parent.exists():  # a new version of the differentiator: drop the old results
            for old in path.parent.parent.glob("*"):
                if old.is_dir() and old.name != path.parent.name:
                    shutil.rmtree(old, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        sources = None if res.sources is None else dict(res.sources)
        tmp.write_text(json.dumps({"sources": sources, "reason": res.reason}))
        os.replace(tmp, path)
    except OSError:  # a read-only cache folder: trace again next time
        pass
