"""Solver options: small frozen objects instead of dozens of keywords.

Each packs itself into the float64 ``opts`` vector the compiled kernels read:
``[rtol, atol, h0, hmax, max_steps, max_events, h_fixed, event_tol]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from phystwin.errors import InvalidValueError


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) or value == math.inf) or not ok:
        raise InvalidValueError(f"solver option {name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


@dataclass(frozen=True)
class _Adaptive:
    rtol: float = 1e-6
    atol: float = 1e-8
    h0: float = 0.0
    hmax: float = math.inf
    max_steps: int = 10_000_000
    max_events: int = 1000
    event_tol: float = 1e-10

    def __post_init__(self) -> None:
        _positive("rtol", self.rtol)
        _positive("atol", self.atol)
        _positive("h0", self.h0, allow_zero=True)
        _positive("hmax", self.hmax)
        _positive("max_steps", self.max_steps)
        _positive("max_events", self.max_events, allow_zero=True)
        _positive("event_tol", self.event_tol)

    def opts(self) -> np.ndarray:
        hmax = 0.0 if self.hmax == math.inf else self.hmax
        return np.array(
            [self.rtol, self.atol, self.h0, hmax, self.max_steps, self.max_events, 0.0, self.event_tol],
            dtype=np.float64,
        )


@dataclass(frozen=True)
class DormandPrince(_Adaptive):
    """Explicit Dormand-Prince 5(4), PI step-size control, 4th-order dense output. For non-stiff models."""

    kernel = "dopri5"


@dataclass(frozen=True)
class Rodas(_Adaptive):
    """Rosenbrock Rodas4 (L-stable, stiffly accurate) with the model's compiled Jacobian. For stiff models."""

    kernel = "rodas"


@dataclass(frozen=True)
class RK4:
    """Classical fixed-step Runge-Kutta of order 4 with step ``dt`` [s] (deterministic, bit for bit)."""

    dt: float
    max_steps: int = 100_000_000
    max_events: int = 1000
    event_tol: float = 1e-10
    kernel = "rk4"

    def __post_init__(self) -> None:
        _positive("dt", self.dt)
        _positive("max_steps", self.max_steps)

    def opts(self) -> np.ndarray:
        return np.array(
            [1e-6, 1e-8, 0.0, 0.0, self.max_steps, self.max_events, self.dt, self.event_tol], dtype=np.float64
        )


Solver = DormandPrince | Rodas | RK4
