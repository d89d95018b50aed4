"""Call FMI C functions from numba-compiled code through their addresses (no Python, no ctypes per call).

Each intrinsic below takes the function's address (an ``int64``, from :func:`function_address`) and the
``fmi2Component`` (an ``int64``, from :func:`component_address`), then the C arguments, and emits
``inttoptr`` + ``call`` with the matching LLVM signature. The status (``int32``) is returned unchanged;
check it with :func:`phystwin.fmu.errors.check_status` once back in Python.

Pointer arguments (``const uint32*``, ``double*``, ``int32*``) accept either a numpy array (its data pointer
is passed; the caller guarantees its dtype: ``uint32`` value references, ``float64`` values, ``int32`` flags)
or an ``int64`` address (e.g. ``arr.ctypes.data + 8 * offset`` to pass a slice of a larger buffer).

================================ ============================================ =================================
intrinsic                        C shape                                      FMI 2.0 functions
================================ ============================================ =================================
:func:`call_c`                   ``int32 f(void*)``                           fmi2EnterEventMode,
                                                                              fmi2EnterContinuousTimeMode,
                                                                              fmi2Terminate
:func:`call_c_d`                 ``int32 f(void*, double)``                   fmi2SetTime
:func:`call_c_d_d_i`             ``int32 f(void*, double, double, int32)``    fmi2DoStep
:func:`call_c_vr_n_d`            ``int32 f(void*, const uint32*, size_t,      fmi2GetReal, fmi2SetReal
                                 double*)``
:func:`call_c_d_n`               ``int32 f(void*, double*, size_t)``          fmi2GetDerivatives,
                                                                              fmi2GetContinuousStates,
                                                                              fmi2SetContinuousStates,
                                                                              fmi2GetEventIndicators
:func:`call_c_i_pi_pi`           ``int32 f(void*, int32, int32*, int32*)``    fmi2CompletedIntegratorStep
================================ ============================================ =================================

These are numba intrinsics: they can only be called from ``@numba.njit`` code. Keep addresses out of globals
(pass them as arguments) so that compiled callers can be cached on disk.
"""

from __future__ import annotations

import ctypes
from typing import Any

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = [
    "call_c",
    "call_c_d",
    "call_c_d_d_i",
    "call_c_d_n",
    "call_c_i_pi_pi",
    "call_c_vr_n_d",
    "component_address",
    "function_address",
]

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VOIDP = ir.IntType(8).as_pointer()
_DBL = ir.DoubleType()


def function_address(dll: Any, name: str) -> int:
    """Address of the exported C function ``name`` in a loaded ``ctypes.CDLL``.

    Raises
    ------
    AttributeError
        The library does not export ``name`` (the message names the function).
    """
    try:
        fn = getattr(dll, name)
    except AttributeError:
        raise AttributeError(f"the FMU library {getattr(dll, '_name', dll)!r} does not export {name!r}") from None
    address = ctypes.cast(fn, ctypes.c_void_p).value
    if not address:
        raise AttributeError(f"{name!r} resolved to a NULL address")
    return int(address)


def component_address(component: Any) -> int:
    """The ``fmi2Component`` / ``fmi3Instance`` pointer of an fmpy instance (``fmu.component``) as an int."""
    value = component.value if isinstance(component, ctypes.c_void_p) else component
    if not value:
        raise ValueError("the FMU is not instantiated (its component pointer is NULL)")
    return int(value)


def _pointer_arg(ty: Any, what: str) -> None:
    if not isinstance(ty, (types.Integer, types.Array)):
        raise TypeError(f"{what}: expected an int64 address or a numpy array, got {ty}")


def _as_ptr(context: Any, builder: Any, ty: Any, value: Any, llty: Any) -> Any:
    """An LLVM pointer of type ``llty`` from an integer address or the data pointer of an array."""
    if isinstance(ty, types.Array):
        data = context.make_array(ty)(context, builder, value).data
        return builder.bitcast(data, llty)
    return builder.inttoptr(context.cast(builder, value, ty, types.int64), llty)


def _addr(context: Any, builder: Any, ty: Any, value: Any, llty: Any) -> Any:
    return builder.inttoptr(context.cast(builder, value, ty, types.int64), llty)


@intrinsic
def call_c(typingctx: Any, fn: Any, comp: Any) -> Any:
    """``int32 fn(void* comp)``; ``fn`` and ``comp`` are int64 addresses."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        fnty = ir.FunctionType(_I32, [_VOIDP])
        f = _addr(context, builder, sig.args[0], args[0], fnty.as_pointer())
        return builder.call(f, [_addr(context, builder, sig.args[1], args[1], _VOIDP)])

    return types.int32(fn, comp), codegen


@intrinsic
def call_c_d(typingctx: Any, fn: Any, comp: Any, x: Any) -> Any:
    """``int32 fn(void* comp, double x)``: e.g. ``fmi2SetTime(c, t)``."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        fnty = ir.FunctionType(_I32, [_VOIDP, _DBL])
        f = _addr(context, builder, sig.args[0], args[0], fnty.as_pointer())
        c = _addr(context, builder, sig.args[1], args[1], _VOIDP)
        return builder.call(f, [c, context.cast(builder, args[2], sig.args[2], types.float64)])

    return types.int32(fn, comp, x), codegen


@intrinsic
def call_c_d_d_i(typingctx: Any, fn: Any, comp: Any, a: Any, b: Any, flag: Any) -> Any:
    """``int32 fn(void* comp, double a, double b, int32 flag)``: ``fmi2DoStep(c, t, h, noSetFMUStatePrior)``."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        fnty = ir.FunctionType(_I32, [_VOIDP, _DBL, _DBL, _I32])
        f = _addr(context, builder, sig.args[0], args[0], fnty.as_pointer())
        c = _addr(context, builder, sig.args[1], args[1], _VOIDP)
        av = context.cast(builder, args[2], sig.args[2], types.float64)
        bv = context.cast(builder, args[3], sig.args[3], types.float64)
        fl = context.cast(builder, args[4], sig.args[4], types.int32)
        return builder.call(f, [c, av, bv, fl])

    return types.int32(fn, comp, a, b, flag), codegen


@intrinsic
def call_c_vr_n_d(typingctx: Any, fn: Any, comp: Any, vr: Any, n: Any, values: Any) -> Any:
    """``int32 fn(void* comp, const uint32* vr, size_t n, double* values)``: ``fmi2GetReal`` / ``fmi2SetReal``.

    ``vr`` is a ``uint32`` array (or address) of ``n`` value references, ``values`` a ``float64`` array
    (or address) of ``n`` values, read (set) or written (get).
    """
    _pointer_arg(vr, "vr")
    _pointer_arg(values, "values")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        fnty = ir.FunctionType(_I32, [_VOIDP, _I32.as_pointer(), _I64, _DBL.as_pointer()])
        f = _addr(context, builder, sig.args[0], args[0], fnty.as_pointer())
        c = _addr(context, builder, sig.args[1], args[1], _VOIDP)
        pv = _as_ptr(context, builder, sig.args[2], args[2], _I32.as_pointer())
        nv = context.cast(builder, args[3], sig.args[3], types.int64)
        pd = _as_ptr(context, builder, sig.args[4], args[4], _DBL.as_pointer())
        return builder.call(f, [c, pv, nv, pd])

    return types.int32(fn, comp, vr, n, values), codegen


@intrinsic
def call_c_d_n(typingctx: Any, fn: Any, comp: Any, values: Any, n: Any) -> Any:
    """``int32 fn(void* comp, double* values, size_t n)``: ``fmi2GetDerivatives``, ``fmi2SetContinuousStates``,
    ``fmi2GetContinuousStates``, ``fmi2GetEventIndicators``."""
    _pointer_arg(values, "values")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        fnty = ir.FunctionType(_I32, [_VOIDP, _DBL.as_pointer(), _I64])
        f = _addr(context, builder, sig.args[0], args[0], fnty.as_pointer())
        c = _addr(context, builder, sig.args[1], args[1], _VOIDP)
        pd = _as_ptr(context, builder, sig.args[2], args[2], _DBL.as_pointer())
        return builder.call(f, [c, pd, context.cast(builder, args[3], sig.args[3], types.int64)])

    return types.int32(fn, comp, values, n), codegen


@intrinsic
def call_c_i_pi_pi(typingctx: Any, fn: Any, comp: Any, flag: Any, out1: Any, out2: Any) -> Any:
    """``int32 fn(void* comp, int32 flag, int32* out1, int32* out2)``: ``fmi2CompletedIntegratorStep(c,
    noSetFMUStatePriorToCurrentPoint, &enterEventMode, &terminateSimulation)``; ``out1``/``out2`` are
    ``int32`` arrays (element 0 written) or addresses."""
    _pointer_arg(out1, "out1")
    _pointer_arg(out2, "out2")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        fnty = ir.FunctionType(_I32, [_VOIDP, _I32, _I32.as_pointer(), _I32.as_pointer()])
        f = _addr(context, builder, sig.args[0], args[0], fnty.as_pointer())
        c = _addr(context, builder, sig.args[1], args[1], _VOIDP)
        fl = context.cast(builder, args[2], sig.args[2], types.int32)
        p1 = _as_ptr(context, builder, sig.args[3], args[3], _I32.as_pointer())
        p2 = _as_ptr(context, builder, sig.args[4], args[4], _I32.as_pointer())
        return builder.call(f, [c, fl, p1, p2])

    return types.int32(fn, comp, flag, out1, out2), codegen
