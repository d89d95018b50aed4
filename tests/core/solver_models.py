"""Test models for the solver kernels: compiled once at import (disk-cached) and shared by all tests.

Each model is a :class:`Model` of five numba functions with the kernel contract
``f(t, x, u, p, out) -> int64``; :func:`integrate` and :func:`advance` call a kernel by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numba
import numpy as np

import phystwin.core.solvers as solvers

njit = numba.njit(cache=True, error_model="numpy")

METHODS = ("rk4", "dopri5", "rodas")


class Model(NamedTuple):
    rhs: Any
    jac: Any
    out: Any
    ev: Any
    act: Any


@njit
def nothing(t, x, u, p, y):  # type: ignore[no-untyped-def]
    return 0


@njit
def no_act(t, x, u, p, k):  # type: ignore[no-untyped-def]
    return 0


@njit
def zero_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    for i in range(J.shape[0]):
        for j in range(J.shape[1]):
            J[i, j] = 0.0
    return 0


# x' = lambda x (every component), lambda = p[0]
@njit
def dahl_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        dx[i] = p[0] * x[i]
    return 0


@njit
def dahl_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        for j in range(x.shape[0]):
            J[i, j] = p[0] if i == j else 0.0
    return 0


# Harmonic oscillator x0'' = -w^2 x0, w^2 = p[0]; output y0 = x0 + x1
@njit
def osc_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[1]
    dx[1] = -p[0] * x[0]
    return 0


@njit
def osc_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = -p[0]
    J[1, 1] = 0.0
    return 0


@njit
def osc_out(t, x, u, p, y):  # type: ignore[no-untyped-def]
    y[0] = x[0] + x[1]
    return 0


# Van der Pol x'' = mu (1 - x^2) x' - x, mu = p[0] (relaxation period ~(3 - 2 ln 2) mu)
@njit
def vdp_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[1]
    dx[1] = p[0] * (1.0 - x[0] * x[0]) * x[1] - x[0]
    return 0


@njit
def vdp_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = -2.0 * p[0] * x[0] * x[1] - 1.0
    J[1, 1] = p[0] * (1.0 - x[0] * x[0])
    return 0


# Logistic growth x' = x (1 - x): smooth, nonlinear, closed form (convergence orders)
@njit
def logistic_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[0] * (1.0 - x[0])
    return 0


@njit
def logistic_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 1.0 - 2.0 * x[0]
    return 0


# Lotka-Volterra, p = [a, b, c, d]
@njit
def lv_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = p[0] * x[0] - p[1] * x[0] * x[1]
    dx[1] = -p[2] * x[1] + p[3] * x[0] * x[1]
    return 0


@njit
def lv_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = p[0] - p[1] * x[1]
    J[0, 1] = -p[1] * x[0]
    J[1, 0] = p[3] * x[1]
    J[1, 1] = -p[2] + p[3] * x[0]
    return 0


# Non-autonomous forced oscillator (explicit time dependence): x0'' = -x0 - 0.1 x0' + sin(2 t)
@njit
def forced_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[1]
    dx[1] = -x[0] - 0.1 * x[1] + math.sin(2.0 * t)
    return 0


@njit
def forced_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = -1.0
    J[1, 1] = -0.1
    return 0


# First-order lag towards the input: x' = (u0 - x) / p[0]; outputs [u0, x]
@njit
def lag_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = (u[0] - x[0]) / p[0]
    return 0


@njit
def lag_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = -1.0 / p[0]
    return 0


@njit
def lag_out(t, x, u, p, y):  # type: ignore[no-untyped-def]
    y[0] = u[0]
    y[1] = x[0]
    return 0


# Pure integrator of the input: x' = u0; output [u0]
@njit
def integ_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = u[0]
    return 0


@njit
def integ_out(t, x, u, p, y):  # type: ignore[no-untyped-def]
    y[0] = u[0]
    return 0


# Bouncing ball: x = [h, v], p = [g, e]; event 0: h = 0, reset v <- -e v
@njit
def ball_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[1]
    dx[1] = -p[0]
    return 0


@njit
def ball_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = 0.0
    J[1, 1] = 0.0
    return 0


@njit
def ball_ev(t, x, u, p, g):  # type: ignore[no-untyped-def]
    g[0] = x[0]
    return 0


@njit
def ball_act(t, x, u, p, k):  # type: ignore[no-untyped-def]
    if k == 0:
        x[1] = -p[1] * x[1]
    return 0


# Thermostat: x = [T, mode], p = [P, k, Ta, T_lo, T_hi]; T' = mode P - k (T - Ta)
# event 0: T rises through T_hi -> mode 0; event 1: T falls through T_lo -> mode 1
@njit
def thermo_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[1] * p[0] - p[1] * (x[0] - p[2])
    dx[1] = 0.0
    return 0


@njit
def thermo_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = -p[1]
    J[0, 1] = p[0]
    J[1, 0] = 0.0
    J[1, 1] = 0.0
    return 0


@njit
def thermo_ev(t, x, u, p, g):  # type: ignore[no-untyped-def]
    g[0] = x[0] - p[4]
    g[1] = x[0] - p[3]
    return 0


@njit
def thermo_act(t, x, u, p, k):  # type: ignore[no-untyped-def]
    x[1] = 0.0 if k == 0 else 1.0
    return 0


# Clock against an input threshold: x = [t, count]; event 0: x0 - u0 rises through 0 -> count += 1
@njit
def thr_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = 1.0
    dx[1] = 0.0
    return 0


@njit
def thr_ev(t, x, u, p, g):  # type: ignore[no-untyped-def]
    g[0] = x[0] - u[0]
    return 0


@njit
def thr_act(t, x, u, p, k):  # type: ignore[no-untyped-def]
    x[1] += 1.0
    return 0


# Failures: NaN derivative after t = p[0]; x' = x^2; a model error code after t = p[0]
@njit
def nan_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = -x[0]
    if t > p[0]:
        dx[0] = np.nan
    return 0


@njit
def minus_one_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = -1.0
    return 0


@njit
def blowup_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[0] * x[0]
    return 0


@njit
def blowup_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 2.0 * x[0]
    return 0


@njit
def failing_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = -x[0]
    if t > p[0]:
        return 42
    return 0


DAHLQUIST = Model(dahl_rhs, dahl_jac, nothing, nothing, no_act)
OSCILLATOR = Model(osc_rhs, osc_jac, osc_out, nothing, no_act)
VDP = Model(vdp_rhs, vdp_jac, nothing, nothing, no_act)
LOTKA = Model(lv_rhs, lv_jac, nothing, nothing, no_act)
LOGISTIC = Model(logistic_rhs, logistic_jac, nothing, nothing, no_act)
FORCED = Model(forced_rhs, forced_jac, nothing, nothing, no_act)
LAG = Model(lag_rhs, lag_jac, lag_out, nothing, no_act)
INTEGRATOR = Model(integ_rhs, zero_jac, integ_out, nothing, no_act)
BALL = Model(ball_rhs, ball_jac, nothing, ball_ev, ball_act)
THERMOSTAT = Model(thermo_rhs, thermo_jac, nothing, thermo_ev, thermo_act)
THRESHOLD = Model(thr_rhs, zero_jac, nothing, thr_ev, thr_act)
NAN = Model(nan_rhs, minus_one_jac, nothing, nothing, no_act)
BLOWUP = Model(blowup_rhs, blowup_jac, nothing, nothing, no_act)
FAILING = Model(failing_rhs, minus_one_jac, nothing, nothing, no_act)


@dataclass
class Result:
    status: int
    X: np.ndarray
    Y: np.ndarray
    ev_t: np.ndarray
    ev_k: np.ndarray
    stats: np.ndarray
    opts: np.ndarray = field(repr=False)

    @property
    def t_reached(self) -> float:
        return float(self.stats[0])


def options(
    rtol: float = 1e-8,
    atol: float = 1e-10,
    h0: float = 0.0,
    hmax: float = 0.0,
    max_steps: float = 0.0,
    max_events: float = 1000.0,
    h: float = 0.0,
    event_tol: float = 1e-12,
    extra: tuple[float, ...] = (),
) -> np.ndarray:
    """The ``opts`` vector of the kernel contract (``extra``: optional trailing entries)."""
    return np.array([rtol, atol, h0, hmax, max_steps, max_events, h, event_tol, *extra], dtype=np.float64)


def integrate(
    method: str,
    model: Model,
    x0: Any,
    p: Any,
    t_end: float,
    t_save: Any,
    *,
    t0: float = 0.0,
    ny: int = 0,
    table: tuple[Any, Any, Any] | None = None,
    ev_dir: Any = (),
    ev_cap: int = 1000,
    opts: np.ndarray | None = None,
    **kw: Any,
) -> Result:
    """Run ``<method>_integrate`` with contract-conforming arrays."""
    x0 = np.ascontiguousarray(x0, dtype=np.float64)
    p = np.ascontiguousarray(p, dtype=np.float64)
    t_save = np.ascontiguousarray(t_save, dtype=np.float64)
    if table is None:
        tab_t, tab_v, tab_kind = np.zeros(1), np.zeros((1, 0)), np.zeros(0, np.int64)
    else:
        tab_t = np.ascontiguousarray(table[0], dtype=np.float64)
        tab_v = np.ascontiguousarray(table[1], dtype=np.float64)
        tab_kind = np.ascontiguousarray(table[2], dtype=np.int64)
    ev_dir = np.ascontiguousarray(ev_dir, dtype=np.int64)
    if opts is None:
        opts = options(**kw)
    X = np.full((t_save.size, x0.size), np.nan)
    Y = np.full((t_save.size, ny), np.nan)
    ev_t = np.full(ev_cap, np.nan)
    ev_k = np.full(ev_cap, -1, dtype=np.int64)
    stats = np.zeros(8)
    kernel = getattr(solvers, f"{method}_integrate")
    status = int(
        kernel(
            model.rhs,
            model.jac,
            model.out,
            model.ev,
            model.act,
            float(t0),
            float(t_end),
            x0,
            p,
            tab_t,
            tab_v,
            tab_kind,
            t_save,
            ev_dir,
            opts,
            X,
            Y,
            ev_t,
            ev_k,
            stats,
        )
    )
    n = min(int(stats[5]), ev_cap)
    return Result(status, X, Y, ev_t[:n], ev_k[:n], stats, opts)


def advance(
    method: str,
    model: Model,
    t: float,
    x: np.ndarray,
    u: Any,
    p: Any,
    dt: float,
    opts: np.ndarray,
    work: np.ndarray,
    stats: np.ndarray,
) -> int:
    kernel = getattr(solvers, f"{method}_advance")
    return int(
        kernel(
            model.rhs,
            model.jac,
            float(t),
            x,
            np.ascontiguousarray(u, dtype=np.float64),
            np.ascontiguousarray(p, dtype=np.float64),
            float(dt),
            opts,
            work,
            stats,
        )
    )
