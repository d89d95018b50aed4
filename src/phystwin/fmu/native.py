"""Calling C functions by address from compiled code: the bridge between numba kernels and FMU binaries.

FMI functions are plain C functions in the FMU's shared library. Their addresses (from ctypes) are
passed to compiled kernels as ``int64`` values and called with :func:`c_call`, so no evaluation
returns to Python and the compiled code carries no process-specific constant (numba can cache it on
disk). :func:`c_call` passes every integer argument as a 64-bit integer and every float as a double:
on the x86-64 System V and AArch64 calling conventions a pointer, a ``size_t`` and an ``int``
(``fmi2Boolean``) all travel in one integer register, so one generic intrinsic serves every FMI
signature (``fmi2SetTime(c, t)``, ``fmi2GetReal(c, vr, n, values)``, ``fmi2DoStep(c, t, h, flag)``, ...).
The return value is the function's ``int`` status. Arrays are passed as ``arr.ctypes.data``.
"""

from __future__ import annotations

import ctypes
import platform
from typing import Any

from phystwin._jit import JIT_DISABLED
from phystwin.errors import InvalidValueError

__all__ = ["c_call", "component_address", "float64_array_at", "function_address"]

if platform.machine() not in ("x86_64", "AMD64", "aarch64", "arm64"):  # pragma: no cover - other hosts
    raise ImportError(f"phystwin.fmu.native supports x86-64 and AArch64 hosts, not {platform.machine()!r}")


def function_address(library: Any, name: str) -> int:
    """Address of the exported C function ``name`` of a loaded ctypes ``library``.

    Raises
    ------
    AttributeError
        The library does not export ``name``, or it resolves to NULL (the message names both).
    """
    try:
        fn = getattr(library, name)
    except AttributeError:
        raise AttributeError(f"the library {getattr(library, '_name', library)!r} does not export {name!r}") from None
    address = ctypes.cast(fn, ctypes.c_void_p).value
    if not address:
        raise AttributeError(f"{name!r} resolved to a NULL address")
    return int(address)


def component_address(component: Any) -> int:
    """The ``fmi2Component`` / ``fmi3Instance`` pointer of an fmpy instance (``fmu.component``) as an int."""
    value = component.value if isinstance(component, ctypes.c_void_p) else component
    if not value:
        raise InvalidValueError("the FMU is not instantiated (its component pointer is NULL)")
    return int(value)


if JIT_DISABLED:

    def float64_array_at(address: int, n: int) -> Any:
        """Plain-Python fallback: a float64 array view of ``n`` values at ``address``."""
        import numpy as np

        return np.ctypeslib.as_array((ctypes.c_double * int(n)).from_address(int(address)))

    def c_call(address: int, args: tuple[Any, ...]) -> int:
        """Plain-Python fallback: ctypes call with the same argument convention."""
        argtypes = [ctypes.c_double if isinstance(a, float) else ctypes.c_int64 for a in args]
        fn = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(int(address))
        return int(fn(*args))

else:
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def c_call(typingctx, address, args):  # type: ignore[no-untyped-def]
        """``int32 f(args...)`` for the C function at ``address`` (int); ``args`` a tuple of
        integers (passed as int64: pointers, sizes, booleans) and floats (passed as double)."""
        if not isinstance(address, types.Integer) or not isinstance(args, types.BaseTuple):
            return None
        if not all(isinstance(a, types.Integer | types.Float | types.Boolean) for a in args):
            return None
        sig = types.int32(address, args)

        def codegen(context, builder, signature, llargs):  # type: ignore[no-untyped-def]
            addr, tup = llargs
            values, lltypes = [], []
            for i, a in enumerate(args):
                v = builder.extract_value(tup, i)
                target = types.float64 if isinstance(a, types.Float) else types.int64
                values.append(context.cast(builder, v, a, target))
                lltypes.append(ir.DoubleType() if target is types.float64 else ir.IntType(64))
            fnty = ir.FunctionType(ir.IntType(32), lltypes)
            fptr = builder.inttoptr(context.cast(builder, addr, address, types.int64), fnty.as_pointer())
            return builder.call(fptr, values)

        return sig, codegen

    @intrinsic
    def _address_as_pointer(typingctx, address):  # type: ignore[no-untyped-def]
        """The integer ``address`` as a ``float64*`` (for :func:`numba.carray`)."""
        if not isinstance(address, types.Integer):
            return None
        sig = types.CPointer(types.float64)(address)

        def codegen(context, builder, signature, llargs):  # type: ignore[no-untyped-def]
            value = context.cast(builder, llargs[0], address, types.int64)
            return builder.inttoptr(value, context.get_value_type(signature.return_type))

        return sig, codegen

    from numba import carray

    from phystwin._jit import njit

    @njit
    def float64_array_at(address, n):  # type: ignore[no-untyped-def]
        """A float64 array view of ``n`` values at ``address`` (memory the caller keeps alive, e.g. a
        NumPy array owned by a Python object whose ``arr.ctypes.data`` was passed as an int)."""
        return carray(_address_as_pointer(address), (n,))
