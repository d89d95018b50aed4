"""Registry of component kernel functions for generated model modules.

Generated model code refers to component functions as ``KERNELS["<key>"]``; the key includes a
hash of the function's code (and of the helper functions and closure values it uses), so a change
to a component changes the structure hash of every model using it and never loads stale
compiled code.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from phystwin._jit import is_compiled, njit
from phystwin.physics.tracing import names_read

KERNELS: dict[str, Any] = {}


def _code_text(code: types.CodeType) -> str:
    """Deterministic text of a code object (bytecode, constants, names), nested code included."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return "|".join([code.co_code.hex(), ",".join(consts), ",".join(code.co_names), ",".join(code.co_varnames)])


def _value_text(obj: Any, depth: int = 0) -> str | None:
    """Deterministic text of a value that compiled code may freeze: numbers, strings, numpy arrays
    (dtype, shape, hash of the bytes), tuples / lists / sets / dicts of them; None for anything else."""
    if isinstance(obj, bool | int | float | complex | str | bytes | np.generic):
        return repr(obj)
    if isinstance(obj, np.ndarray):
        data = np.ascontiguousarray(obj)
        digest = hashlib.sha256(data.view(np.uint8).tobytes() if data.dtype != object else repr(obj).encode())
        return f"ndarray({data.dtype.str}, {data.shape}, {digest.hexdigest()[:16]})"
    if depth > 4:
        return repr(obj)
    if isinstance(obj, tuple | list):
        return f"{type(obj).__name__}({','.join(str(_value_text(v, depth + 1)) for v in obj)})"
    if isinstance(obj, set | frozenset):
        return f"{type(obj).__name__}({','.join(sorted(str(_value_text(v, depth + 1)) for v in obj))})"
    if isinstance(obj, dict):
        items = sorted(f"{k!r}:{_value_text(v, depth + 1)}" for k, v in obj.items())
        return f"dict({','.join(items)})"
    return None


def _code_fingerprint(fn: Callable[..., Any], depth: int = 0) -> str:
    """Code of ``fn`` (bytecode, so two lambdas on one source line differ), the values it closes
    over, the global values it reads (numbers, strings, arrays, containers, and the simple attributes
    of global modules / objects that it names) and, two levels deep, the functions it calls.

    Compiled code freezes global values, and the disk caches (compiled modules, partials, the
    Jacobian check's record) are keyed by this fingerprint: everything that changes what the
    function computes must be in it.
    """
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    parts = [getattr(py, "__module__", "") or "", getattr(py, "__qualname__", "")]
    parts.append(_code_text(code) if code is not None else repr(py))
    helpers: list[tuple[str, Any]] = []
    for k, cell in enumerate(getattr(py, "__closure__", None) or ()):
        try:
            val = cell.cell_contents
        except ValueError:  # empty cell
            parts.append("<empty>")
            continue
        text = _value_text(val)
        parts.append(text if text is not None else repr(val))
        helpers.append((f"<cell {k}>", val))
    if code is None:
        return "\n".join(parts)
    names = names_read(code)
    glb = getattr(py, "__globals__", {})
    helpers += [(name, glb[name]) for name in sorted(names) if name in glb]
    for name, obj in helpers:
        if isinstance(obj, types.FunctionType) or is_compiled(obj):
            if depth < 2:
                parts.append(_code_fingerprint(obj, depth + 1))
            continue
        text = _value_text(obj)
        if text is not None:
            if not name.startswith("<cell"):
                parts.append(f"{name}={text}")
            continue
        if isinstance(obj, type) or callable(obj):
            continue
        # a module or an object: the simple values among its attributes that the code names (cfg.K)
        for attr in sorted(names):
            # static look-up: no property or __getattr__ code runs while fingerprinting
            val = inspect.getattr_static(obj, attr, None)
            if isinstance(val, types.FunctionType) or is_compiled(val):
                if depth < 2:
                    parts.append(f"{name}.{attr}:" + _code_fingerprint(val, depth + 1))
                continue
            text = _value_text(val)
            if text is not None:
                parts.append(f"{name}.{attr}={text}")
    return "\n".join(parts)


def register(fn: Callable[..., Any]) -> str:
    """Register ``fn`` (compiling it lazily with the project policy); return its key."""
    # fingerprinted at every call, not memoised by identity: a global the function reads may have
    # changed since (numba froze the old value into the kernel compiled under the old key)
    digest = hashlib.sha256(_code_fingerprint(fn).encode()).hexdigest()[:16]
    qual = getattr(fn, "__qualname__", "fn").replace("<", "").replace(">", "").replace(".", "_")
    key = f"{qual}_{digest}"
    if key not in KERNELS:
        KERNELS[key] = fn if is_compiled(fn) else njit(fn, cache=False)
    return key
