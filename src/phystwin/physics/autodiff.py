"""Symbolic partial derivatives of one-expression kernel functions, for analytic Jacobians.

A component kernel such as ``lambda a_T, b_T, G: G * (a_T - b_T)`` or
``def f(w, tau_c, w_c): return tau_c * math.tanh(w / w_c)`` is parsed (Python ``ast``) and
differentiated with the usual rules (sum, product, quotient, power, chain rule through ``exp``,
``log``, ``sqrt``, trigonometric and hyperbolic functions, ``abs``; ``a if c else b`` by branch).
The result is Python source for each partial, written in the kernel's own argument names, which
the compiler substitutes with the model's variables.

Kernels outside that grammar (loops, table look-ups, several statements) return ``None`` and the
compiler differentiates that one relation by a compiled finite difference instead.
"""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
from collections.abc import Callable
from typing import Any

from phystwin.errors import PhystwinError

_UNARY: dict[str, Callable[[ast.expr], ast.expr | None]] = {}


class UnsupportedKernelError(PhystwinError):
    """The kernel is not a single differentiable expression."""


def _num(v: float) -> ast.expr:
    return ast.Constant(value=float(v))


def _call(fname: str, *args: ast.expr) -> ast.expr:
    mod, _, attr = fname.rpartition(".")
    func: ast.expr = (
        ast.Attribute(value=ast.Name(id=mod, ctx=ast.Load()), attr=attr, ctx=ast.Load())
        if mod
        else ast.Name(id=attr, ctx=ast.Load())
    )
    return ast.Call(func=func, args=list(args), keywords=[])


def _add(a: ast.expr | None, b: ast.expr | None) -> ast.expr | None:
    if a is None:
        return b
    if b is None:
        return a
    return ast.BinOp(a, ast.Add(), b)


def _sub(a: ast.expr | None, b: ast.expr | None) -> ast.expr | None:
    if b is None:
        return a
    if a is None:
        return ast.UnaryOp(ast.USub(), b)
    return ast.BinOp(a, ast.Sub(), b)


def _is_one(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == 1.0


def _mul(a: ast.expr | None, b: ast.expr | None) -> ast.expr | None:
    if a is None or b is None:
        return None
    if _is_one(a):
        return b
    if _is_one(b):
        return a
    return ast.BinOp(a, ast.Mult(), b)


def _div(a: ast.expr | None, b: ast.expr) -> ast.expr | None:
    if a is None:
        return None
    return ast.BinOp(a, ast.Div(), b)


# d/du f(u) for the supported one-argument functions, as f'(u)
_DERIV: dict[str, Callable[[ast.expr], ast.expr]] = {
    "exp": lambda u: _call("math.exp", u),
    "log": lambda u: ast.BinOp(_num(1.0), ast.Div(), u),
    "sqrt": lambda u: ast.BinOp(_num(0.5), ast.Div(), _call("math.sqrt", u)),
    "sin": lambda u: _call("math.cos", u),
    "cos": lambda u: ast.UnaryOp(ast.USub(), _call("math.sin", u)),
    "tan": lambda u: ast.BinOp(_num(1.0), ast.Add(), ast.BinOp(_call("math.tan", u), ast.Pow(), _num(2.0))),
    "tanh": lambda u: ast.BinOp(_num(1.0), ast.Sub(), ast.BinOp(_call("math.tanh", u), ast.Pow(), _num(2.0))),
    "sinh": lambda u: _call("math.cosh", u),
    "cosh": lambda u: _call("math.sinh", u),
    "atan": lambda u: ast.BinOp(_num(1.0), ast.Div(), ast.BinOp(_num(1.0), ast.Add(), ast.BinOp(u, ast.Mult(), u))),
    "fabs": lambda u: _call("math.copysign", _num(1.0), u),
    "abs": lambda u: _call("math.copysign", _num(1.0), u),
}
_CANONICAL = {"np": "math", "numpy": "math", "math": "math"}


class _Differentiator:
    def __init__(self, args: tuple[str, ...], glb: dict[str, Any]) -> None:
        self.args = set(args)
        self.glb = glb

    def canon(self, node: ast.expr) -> ast.expr:
        """Resolve globals: numeric constants inlined, math/numpy functions spelled ``math.f``."""
        if isinstance(node, ast.Name) and node.id not in self.args:
            val = self.glb.get(node.id)
            if isinstance(val, int | float) and not isinstance(val, bool):
                return _num(val)
            raise UnsupportedKernelError(f"global name {node.id!r}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise UnsupportedKernelError("non-numeric constant")
        if isinstance(node, ast.Call):
            fname = self.func_name(node)
            return _call(f"math.{fname}" if fname != "abs" else "abs", *[self.canon(a) for a in node.args])
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(node, field, self.canon(value))
            elif isinstance(value, list):
                setattr(node, field, [self.canon(v) if isinstance(v, ast.expr) else v for v in value])
        return node

    def func_name(self, node: ast.Call) -> str:
        f = node.func
        if node.keywords or len(node.args) != 1:
            if isinstance(f, ast.Attribute) and f.attr == "copysign":
                raise UnsupportedKernelError("copysign")
            raise UnsupportedKernelError("call with several arguments")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in _CANONICAL:
            name = f.attr
        elif isinstance(f, ast.Name) and f.id == "abs":
            name = "abs"
        else:
            raise UnsupportedKernelError(f"call to {ast.unparse(f)}")
        if name not in _DERIV:
            raise UnsupportedKernelError(f"function {name}")
        return name

    def d(self, node: ast.expr, var: str) -> ast.expr | None:
        if isinstance(node, ast.Constant):
            return None
        if isinstance(node, ast.Name):
            return _num(1.0) if node.id == var else None
        if isinstance(node, ast.UnaryOp):
            inner = self.d(node.operand, var)
            if isinstance(node.op, ast.USub):
                return None if inner is None else ast.UnaryOp(ast.USub(), inner)
            if isinstance(node.op, ast.UAdd):
                return inner
            raise UnsupportedKernelError("unary operator")
        if isinstance(node, ast.BinOp):
            a, b = node.left, node.right
            da, db = self.d(a, var), self.d(b, var)
            if isinstance(node.op, ast.Add):
                return _add(da, db)
            if isinstance(node.op, ast.Sub):
                return _sub(da, db)
            if isinstance(node.op, ast.Mult):
                return _add(_mul(da, b), _mul(a, db))
            if isinstance(node.op, ast.Div):
                return _sub(_div(da, b), _div(_mul(a, db), ast.BinOp(b, ast.Mult(), b)))
            if isinstance(node.op, ast.Pow):
                if db is None:
                    if da is None:
                        return None
                    n_minus_1 = ast.BinOp(b, ast.Sub(), _num(1.0))
                    return _mul(_mul(b, ast.BinOp(a, ast.Pow(), n_minus_1)), da)
                # a**b = exp(b log a)
                term = _add(_mul(db, _call("math.log", a)), _div(_mul(b, da), a))
                return _mul(node, term)
            raise UnsupportedKernelError("binary operator")
        if isinstance(node, ast.Call):
            # canon() already spelled it math.f(u)
            fname = node.func.attr if isinstance(node.func, ast.Attribute) else "abs"  # type: ignore[union-attr]
            u = node.args[0]
            du = self.d(u, var)
            return None if du is None else _mul(_DERIV[fname](u), du)
        if isinstance(node, ast.IfExp):
            d_body, d_else = self.d(node.body, var), self.d(node.orelse, var)
            if d_body is None and d_else is None:
                return None
            return ast.IfExp(node.test, d_body or _num(0.0), d_else or _num(0.0))
        raise UnsupportedKernelError(type(node).__name__)


def _expression_of(fn: Callable[..., Any]) -> ast.expr:
    py = getattr(fn, "py_func", fn)
    try:
        src = textwrap.dedent(inspect.getsource(py))
    except (OSError, TypeError) as exc:
        raise UnsupportedKernelError("no source") from exc
    code = py.__code__
    if code.co_name == "<lambda>":
        tree = None
        body = src.strip().rstrip(",")
        # a lambda inside a larger expression (a dict entry, a call argument): try enclosing forms
        for text in (src, f"({body})", f"{{{body}}}", f"[{body}]", f"f({body})"):
            try:
                tree = ast.parse(text)
                break
            except SyntaxError:
                continue
        if tree is None:
            raise UnsupportedKernelError("unparsable lambda")
        # Match the lambda by its compiled code; bytecode alone can differ with the enclosing
        # module's imports (global look-ups), so fall back to names, variables and constants.
        exact, similar = [], []
        for node in ast.walk(tree):
            if not isinstance(node, ast.Lambda):
                continue
            try:
                compiled = compile(ast.Expression(node), "<kernel>", "eval")
            except (SyntaxError, ValueError):
                continue
            inner = next((c for c in compiled.co_consts if hasattr(c, "co_code")), None)
            if inner is None:
                continue
            if inner.co_varnames != code.co_varnames:
                continue
            if inner.co_code == code.co_code and inner.co_consts == code.co_consts:
                exact.append(node)
            elif (inner.co_varnames, inner.co_names, inner.co_consts) == (
                code.co_varnames,
                code.co_names,
                code.co_consts,
            ):
                similar.append(node)
        if len(exact) == 1:
            return exact[0].body
        if not exact and len(similar) == 1:
            return similar[0].body
        raise UnsupportedKernelError("lambda not found in its source line")
    module = ast.parse(src)
    fdef = module.body[0]
    if not isinstance(fdef, ast.FunctionDef):
        raise UnsupportedKernelError("not a function")
    statements = [s for s in fdef.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(statements) != 1 or not isinstance(statements[0], ast.Return) or statements[0].value is None:
        raise UnsupportedKernelError("more than one statement")
    return statements[0].value


def partials(fn: Callable[..., Any], args: tuple[str, ...]) -> dict[str, str] | None:
    """Source of ``d fn / d arg`` for every argument with a non-zero partial, or ``None`` when
    ``fn`` is not a single differentiable expression."""
    py = getattr(fn, "py_func", fn)
    try:
        expr = _expression_of(fn)
        diff = _Differentiator(args, getattr(py, "__globals__", {}))
        expr = diff.canon(expr)
        out: dict[str, str] = {}
        for a in args:
            d = diff.d(expr, a)
            if d is not None:
                out[a] = ast.unparse(ast.fix_missing_locations(d))
        return out
    except (UnsupportedKernelError, SyntaxError):
        return None


def substitute(expr_src: str, mapping: dict[str, str]) -> str:
    """Replace argument names in ``expr_src`` by expressions (parenthesised)."""
    tree = ast.parse(expr_src, mode="eval")

    class _Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            if node.id in mapping:
                return ast.parse(f"({mapping[node.id]})", mode="eval").body
            return node

    return ast.unparse(_Sub().visit(tree))


_ = math  # generated partials use ``math``; keep the import visible to readers
