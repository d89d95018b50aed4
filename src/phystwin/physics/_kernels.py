"""Registry of component kernel functions for generated model modules.

Generated model code refers to component functions as ``KERNELS["<key>"]``; the key includes a
hash of the function's code (and of the helper functions and closure values it uses), so a change
to a component changes the structure hash of every model using it and never loads stale
compiled code.
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable
from typing import Any

from phystwin._jit import is_compiled, njit

KERNELS: dict[str, Any] = {}
_BY_FUNCTION: dict[int, tuple[Callable[..., Any], str]] = {}


def _code_text(code: types.CodeType) -> str:
    """Deterministic text of a code object (bytecode, constants, names), nested code included."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return "|".join([code.co_code.hex(), ",".join(consts), ",".join(code.co_names), ",".join(code.co_varnames)])


def _code_fingerprint(fn: Callable[..., Any], depth: int = 0) -> str:
    """Code of ``fn`` (bytecode, so two lambdas on one source line differ), the values it closes
    over and, two levels deep, the global functions it calls."""
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    parts = [getattr(py, "__module__", "") or "", getattr(py, "__qualname__", "")]
    parts.append(_code_text(code) if code is not None else repr(py))
    for cell in getattr(py, "__closure__", None) or ():
        try:
            parts.append(repr(cell.cell_contents))
        except ValueError:  # empty cell
            parts.append("<empty>")
    if depth < 2 and code is not None:
        glb = getattr(py, "__globals__", {})
        for name in code.co_names:
            obj = glb.get(name)
            if obj is not None and (isinstance(obj, types.FunctionType) or is_compiled(obj)):
                parts.append(_code_fingerprint(obj, depth + 1))
            elif isinstance(obj, int | float | str | tuple):
                parts.append(f"{name}={obj!r}")
    return "\n".join(parts)


def register(fn: Callable[..., Any]) -> str:
    """Register ``fn`` (compiling it lazily with the project policy); return its key."""
    hit = _BY_FUNCTION.get(id(fn))
    if hit is not None and hit[0] is fn:
        return hit[1]
    digest = hashlib.sha256(_code_fingerprint(fn).encode()).hexdigest()[:16]
    qual = getattr(fn, "__qualname__", "fn").replace("<", "").replace(">", "").replace(".", "_")
    key = f"{qual}_{digest}"
    if key not in KERNELS:
        KERNELS[key] = fn if is_compiled(fn) else njit(fn, cache=False)
    _BY_FUNCTION[id(fn)] = (fn, key)
    return key
