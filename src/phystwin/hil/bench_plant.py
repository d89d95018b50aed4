r"""The virtual bench's plant kernel: fixed-step RK4 on the step grid, inputs held over each step.

:func:`plant_steps` advances the plant ``n`` steps of size ``h`` from step index ``k0`` (bench time
``t_j = (k0 + j) h``) with the input row ``U[j]`` held over step ``j``, and stores the state before
each step and the state reached (``X``, ``n + 1`` rows) and the outputs ``y(t_j) = g(t_j, x_j, U[j])``
(``Y``, ``n`` rows). It is :func:`~phystwin.core.simulation.integrate_held` with an
:class:`~phystwin.core.options.RK4` solver of step ``h`` restricted to what the bench needs (no
events, no dense output, no saving grid), at a fraction of its call cost: the bench calls it once
per pacing tick, i.e. every few steps.

The kernel is compiled once for model functions typed as first-class function values and cached
on disk (:func:`~phystwin.core.solvers._nb.typed_kernel`), so a new model costs no compilation.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba.core import types

from phystwin._jit import njit
from phystwin.core.model import Model
from phystwin.core.solvers._nb import RHS_SIG, borrow, typed_kernel
from phystwin.core.solvers.common import all_finite, model_status
from phystwin.core.solvers.rk4 import rk4_step
from phystwin.core.status import BAD_ARGUMENT, NONFINITE, OK, STATE_BOUND, IntegrationError

__all__ = ["PlantStepper", "plant_steps"]


@njit(cache=False)
def _run(rhs, out, k0, h, p, U, X, Y, where, x, xn, xs, k1, k2, k3, k4, tab_t, tab_v, tab_kind):  # type: ignore[no-untyped-def]
    """The step loop of :func:`plant_steps_spec` (arrays borrowed: see :mod:`phystwin.core.solvers._nb`)."""
    p = borrow(p)
    U = borrow(U)
    X = borrow(X)
    Y = borrow(Y)
    x = borrow(x)
    xn = borrow(xn)
    xs = borrow(xs)
    k1 = borrow(k1)
    k2 = borrow(k2)
    k3 = borrow(k3)
    k4 = borrow(k4)
    nx = x.shape[0]
    for j in range(U.shape[0]):
        t = (k0 + j) * h
        u = U[j]
        for i in range(nx):
            X[j, i] = x[i]
        s = out(t, x, u, p, Y[j])
        if s == 0:
            s = rhs(t, x, u, p, k1)
        if s == 0:
            s = rk4_step(rhs, t, x, h, u, p, k1, k2, k3, k4, xs, xn, tab_t, tab_v, tab_kind, 0, False)
        if s != 0 and s != NONFINITE:
            where[0] = t
            return model_status(s)
        if s == NONFINITE or not all_finite(xn):
            where[0] = t
            return NONFINITE
        for i in range(nx):
            x[i] = xn[i]
    for i in range(nx):
        X[U.shape[0], i] = x[i]
    where[0] = (k0 + U.shape[0]) * h
    return OK


@njit(cache=False)
def plant_steps_spec(rhs, out, k0, h, x0, p, U, X, Y, where):  # type: ignore[no-untyped-def]
    """Advance ``U.shape[0]`` RK4 steps of size ``h`` from ``x0`` at step ``k0`` (module docstring).

    Returns a status of :mod:`phystwin.core.status`; ``where[0]`` is the time reached (on a failure,
    the start of the failing step). ``X`` (n + 1, nx) and ``Y`` (n, ny) are written; ``x0`` is not.
    """
    n = U.shape[0]
    nx = x0.shape[0]
    if not (h > 0.0 and h < np.inf) or n < 1 or where.shape[0] < 1:
        return BAD_ARGUMENT
    if X.shape[0] != n + 1 or X.shape[1] != nx or Y.shape[0] != n:
        return BAD_ARGUMENT
    W = np.empty((7, nx))
    for i in range(nx):
        W[0, i] = x0[i]
    nu = U.shape[1]
    tab_t = np.zeros(1)
    tab_v = np.zeros((1, nu))
    tab_kind = np.zeros(nu, np.int64)
    # fmt: off
    return _run(rhs, out, k0, h, p, U, X, Y, where, W[0], W[1], W[2], W[3], W[4], W[5], W[6],
                tab_t, tab_v, tab_kind)
    # fmt: on


_vec = types.Array(types.float64, 1, "C")
_mat = types.Array(types.float64, 2, "C")
_RHS_T = types.FunctionType(RHS_SIG)
PLANT_SIG = types.int64(_RHS_T, _RHS_T, types.int64, types.float64, _vec, _vec, _mat, _mat, _mat, _vec)
"""``plant_steps(rhs, out, k0, h, x0, p, U, X, Y, where)``."""


@functools.cache
def _kernel() -> Any:
    return typed_kernel(plant_steps_spec, PLANT_SIG)


def plant_steps(rhs: Any, out: Any, k0: int, h: float, x0: Any, p: Any, U: Any, X: Any, Y: Any, where: Any) -> int:
    """The typed, disk-cached :func:`plant_steps_spec` (compiled or loaded on the first call)."""
    return int(_kernel()(rhs, out, k0, h, x0, p, U, X, Y, where))


class PlantStepper:
    """Runs :func:`plant_steps` for one model and step; raises :class:`IntegrationError` on a failure."""

    def __init__(self, model: Model, step: float) -> None:
        lay = model.layout
        self.name = model.name
        self.step = float(step)
        self.nx, self.ny, self.nu = lay.nx, lay.ny, lay.nu
        rhs, _jac, out, _ev, _act = model.functions()
        self._rhs, self._out = rhs, out
        self._kernel = _kernel()
        self._where = np.zeros(1)
        self._layout = lay

    def run(self, k0: int, x0: np.ndarray, p: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """States (n + 1, nx) and outputs (n, ny) of ``n = len(U)`` steps from ``x0`` at step ``k0``."""
        n = U.shape[0]
        X = np.empty((n + 1, self.nx))
        Y = np.empty((n, self.ny))
        status = int(self._kernel(self._rhs, self._out, k0, self.step, x0, p, U, X, Y, self._where))
        if status != OK:
            raise IntegrationError(status, float(self._where[0]), f"bench plant {self.name!r}")
        if self._layout.bounds:
            self._check_bounds(k0, X)
        return X, Y

    def _check_bounds(self, k0: int, X: np.ndarray) -> None:
        """Declared state ranges, checked on the states reached after each step (the lean kernel
        locates no events): the first step that ends outside one raises ``STATE_BOUND``."""
        first, which = X.shape[0], None
        for b in self._layout.bounds:
            col = X[1:, b.index]
            hit = np.flatnonzero(col <= b.limit if b.side == "lower" else col >= b.limit)
            if hit.size and hit[0] < first:
                first, which = int(hit[0]), b
        if which is not None:
            s = self._layout.states[which.index]
            t0 = (k0 + first) * self.step
            raise IntegrationError(
                STATE_BOUND,
                t0,
                f"state {s.name} [{s.unit}] passed its {which.side} bound {which.value:g} (declared range "
                f"[{s.lower:g}, {s.upper:g}]) in the step to t = {t0 + self.step:.9g} s; bench plant {self.name!r}",
            )
