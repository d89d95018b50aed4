"""The only module that imports numba: the project's compilation policy.

Every compiled kernel in phystwin is built with :func:`njit` from here, so the policy is in one place:

* ``cache=True``: compiled code is written to disk and reused by the next process;
* ``error_model="numpy"``: division by zero yields inf/nan (which kernels detect and turn into a
  status) instead of raising inside compiled code;
* ``fastmath=False``: NaN checks must survive optimisation.

Set the environment variable ``PHYSTWIN_DISABLE_JIT=1`` to run every kernel as plain Python, for
debugging with pdb or coverage.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

if os.environ.get("PHYSTWIN_DISABLE_JIT", "") not in ("", "0"):
    numba.config.DISABLE_JIT = True  # type: ignore[attr-defined]

JIT_DISABLED: bool = bool(numba.config.DISABLE_JIT)  # type: ignore[attr-defined]


def njit(fn: F | None = None, *, cache: bool = True, inline: str = "never") -> Any:
    """Compile ``fn`` with the project policy (cached on disk, numpy error model, no fastmath)."""

    def wrap(f: F) -> F:
        return numba.njit(cache=cache, error_model="numpy", fastmath=False, inline=inline)(f)  # type: ignore[call-overload, no-any-return]

    if fn is None:
        return wrap
    return wrap(fn)


def njit_inline(fn: F) -> F:
    """Compile a small scalar kernel that callers should inline at the Numba IR level.

    Used for component relations: they are one-line scalar functions, and the fused model
    right-hand side should cost no call overhead for them.
    """
    return numba.njit(cache=False, error_model="numpy", fastmath=False, inline="always")(fn)  # type: ignore[return-value]


def is_compiled(obj: object) -> bool:
    """True if ``obj`` is a numba dispatcher."""
    return isinstance(obj, numba.core.registry.CPUDispatcher)


NUMBA_ERRORS: tuple[type[Exception], ...] = (numba.core.errors.NumbaError,)
"""Numba's compile errors (``TypingError``, ``UnsupportedError``, lowering errors): what a kernel numba
cannot compile raises on its first call. Catch these, never import numba elsewhere."""
