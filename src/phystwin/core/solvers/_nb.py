"""The numba-specific pieces of the solver kernels (kept in one place next to :mod:`phystwin._jit`).

* :func:`borrow` — an array view without a reference-counted owner. Numba increments and
  decrements the (atomic) reference count of every array argument at every call of a compiled
  function; in a step loop that calls helpers and model functions with ~15 arrays this costs as
  much as the model itself. Views without owner make those operations a null check. The kernels
  allocate their buffers in an outer function, keep them alive until it returns, and run the
  step loop on borrowed views.
* The model-function signatures and :func:`typed_kernel`: the public kernels are compiled once
  for model functions typed as first-class function values (``numba.types.FunctionType``) and
  cached on disk, so a new model costs no solver compilation. Kernels specialised on the
  dispatcher objects themselves (the ``*_spec`` variants) cannot be disk-cached (numba keys a
  dispatcher argument by object identity) and take ~10 s to compile per model and process.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numba
from numba.core import types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.core.typing.typeof import typeof_impl
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from phystwin._jit import JIT_DISABLED

_f8 = types.float64
_vec = types.Array(types.float64, 1, "C")
_mat = types.Array(types.float64, 2, "C")
_ivec = types.Array(types.int64, 1, "C")

RHS_SIG = types.int64(_f8, _vec, _vec, _vec, _vec)
"""``rhs(t, x, u, p, dx)``; also the signature of ``out(t, x, u, p, y)`` and ``ev(t, x, u, p, g)``."""
JAC_SIG = types.int64(_f8, _vec, _vec, _vec, _mat)
"""``jac(t, x, u, p, J)``."""
ACT_SIG = types.int64(_f8, _vec, _vec, _vec, types.int64)
"""``act(t, x, u, p, k)``."""

_RHS_T = types.FunctionType(RHS_SIG)
_JAC_T = types.FunctionType(JAC_SIG)
_ACT_T = types.FunctionType(ACT_SIG)

INTEGRATE_SIG = types.int64(
    _RHS_T,
    _JAC_T,
    _RHS_T,
    _RHS_T,
    _ACT_T,  # rhs, jac, out, ev, act
    _f8,
    _f8,
    _vec,
    _vec,  # t0, t_end, x0, p
    _vec,
    _mat,
    _ivec,  # tab_t, tab_v, tab_kind
    _vec,
    _ivec,
    _vec,  # t_save, ev_dir, opts
    _mat,
    _mat,
    _vec,
    _ivec,
    _vec,  # X, Y, ev_t, ev_k, stats
)
"""Signature of the typed ``*_integrate`` kernels (all arrays C-contiguous)."""
ADVANCE_SIG = types.int64(_RHS_T, _JAC_T, _f8, _vec, _vec, _vec, _f8, _vec, _vec, _vec)
"""Signature of the typed ``*_advance`` kernels: ``(rhs, jac, t, x, u, p, dt, opts, work, stats)``."""


if JIT_DISABLED:

    def borrow(arr: Any) -> Any:
        """Identity when running as plain Python."""
        return arr

else:

    @intrinsic
    def borrow(typingctx, arr):  # type: ignore[no-untyped-def]
        """View of ``arr`` without owner (no reference counting); non-arrays pass through.

        The caller must keep the owner alive while the view is used.
        """
        if not isinstance(arr, types.Array):

            def codegen_id(context, builder, signature, args):  # type: ignore[no-untyped-def]
                context.nrt.incref(builder, arr, args[0])
                return args[0]

            return arr(arr), codegen_id

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            src = make_array(arr)(context, builder, value=args[0])
            dst = make_array(arr)(context, builder)
            populate_array(
                dst, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize, meminfo=None
            )
            return dst._getvalue()

        return arr(arr), codegen


def _dependency_stamp(depends: Sequence[str] = ()) -> tuple[tuple[str, float, int], ...]:
    """Modification time and size of every source file compiled into a kernel.

    Numba's disk cache only checks the file that defines the kernel; a kernel also contains the
    helpers of :mod:`common`, the input-table code etc., so an edit there must invalidate it.
    ``depends`` adds the files of kernels built outside the solvers (e.g. the filter kernels).
    """
    core = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = [os.path.join(core, "solvers", f) for f in sorted(os.listdir(os.path.join(core, "solvers")))]
    files += [
        os.path.join(core, "input_tables.py"),
        os.path.join(core, "status.py"),
        os.path.join(os.path.dirname(core), "_jit.py"),
        *depends,
    ]
    out = []
    for f in files:
        if f.endswith(".py") and os.path.isfile(f):
            st = os.stat(f)
            out.append((os.path.basename(f), st.st_mtime, st.st_size))
    return tuple(out)


def typed_kernel(spec: Any, sig: Any, depends: Sequence[str] = ()) -> Any:
    """Compile the Python function behind ``spec`` for ``sig`` with the project policy, cached on disk.

    The cache entry is keyed on all the solver sources and on ``depends`` (see :func:`_dependency_stamp`).
    """
    if JIT_DISABLED:
        return spec
    k = numba.njit(cache=False, error_model="numpy", fastmath=False)(spec.py_func)
    k.enable_caching()
    try:
        cf = k._cache._cache_file  # type: ignore[attr-defined]
        cf._source_stamp = (cf._source_stamp, _dependency_stamp(depends))
    except AttributeError:  # numba internals moved: fall back to numba's own stamp
        pass
    with warnings.catch_warnings():
        # First-class function types are "experimental" in numba; they are what makes a
        # model-independent, disk-cached kernel possible.
        warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
        k.compile(sig)
    k.disable_compile()
    k.__doc__ = spec.__doc__
    return k


def lazy_kernels(
    module_name: str, table: dict[str, tuple[Any, Any]], depends: Sequence[str] = ()
) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that builds typed kernels on first access.

    ``depends``: source files, besides the defining module and the solvers, compiled into the kernels.

    Importing a solver module then costs nothing; the first access to a kernel name compiles it
    (about 10-20 s, once per machine) or loads it from numba's disk cache (well under a second).
    """
    import sys

    def __getattr__(name: str) -> Any:  # noqa: N807  (the PEP 562 hook must have this name)
        if name not in table:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        spec, sig = table[name]
        k = typed_kernel(spec, sig, depends)
        setattr(sys.modules[module_name], name, k)
        return k

    return __getattr__


if JIT_DISABLED:

    def function_pointer(dispatcher: Any, sig: Any) -> Any:
        """Identity when running as plain Python."""
        return dispatcher

else:

    class _FunctionPointer(types.WrapperAddressProtocol):
        """A compiled model function as a first-class function value with a precomputed address.

        Passing a dispatcher to a typed kernel makes numba look up (and box) its address on every
        call, about 70 us per function; this object hands numba the address directly.
        """

        def __init__(self, dispatcher: Any, sig: Any) -> None:
            dispatcher.compile(sig.args)
            cres = dispatcher.get_compile_result(sig)
            self._address = cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)
            self._sig = sig
            self._numba_type = types.FunctionType(sig)
            self._dispatcher = dispatcher  # keeps the compiled code alive

        def __wrapper_address__(self) -> int:
            return int(self._address)

        def signature(self) -> Any:
            return self._sig

    @typeof_impl.register(_FunctionPointer)
    def _typeof_function_pointer(val: _FunctionPointer, c: Any) -> Any:
        """The precomputed type: numba's generic rule builds a new ``FunctionType`` (a few
        microseconds of Python) for every argument of every kernel call."""
        return val._numba_type

    def function_pointer(dispatcher: Any, sig: Any) -> Any:
        """``dispatcher`` compiled for ``sig`` as a cheap-to-pass first-class function value."""
        return _FunctionPointer(dispatcher, sig)
