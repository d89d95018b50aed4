"""The compiled co-simulation macro-step loop for FMI 2.0 co-simulation FMUs (used by :mod:`phystwin.fmu.cosim`).

All values live in two flat vectors in the FMUs' own units: ``y`` (every unit's Real outputs) and ``u`` (every
unit's Real inputs). Before unit ``i`` is stepped its inputs are recomputed:

.. math:: u[d_j] = a_j \\, y[s_j] + b_j \\quad (\\text{connections}), \\qquad u[e_j] = E[k, j] \\quad (\\text{external})

with :math:`a_j, b_j` the unit conversion through SI. Jacobi computes every unit's inputs before stepping any;
Gauss-Seidel just before each unit's step. The FMI functions are called through their C addresses
(:func:`phystwin.fmu.native.c_call`), so the loop never returns to Python.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from phystwin._jit import njit
from phystwin.fmu.native import c_call

__all__ = ["FN_GET", "FN_NAMES", "FN_SET", "FN_STEP", "NONFINITE", "Tables", "compiled_loop", "unit_inputs"]

FN_NAMES = ("fmi2SetReal", "fmi2DoStep", "fmi2GetReal")
"""Functions whose addresses are passed per unit (columns 0..2 of ``addr``; column 3 is the component)."""
FN_SET, FN_STEP, FN_GET = 0, 1, 2
NONFINITE = -1
"""Status reported by the loop when a unit's outputs are NaN or Inf after its step."""


class Tables(NamedTuple):
    """Index and conversion tables of a co-simulation (see the module docstring)."""

    order: np.ndarray  # int64[n_units], stepping order
    gauss_seidel: bool
    in_off: np.ndarray  # int64[n_units + 1], unit i's inputs are u[in_off[i]:in_off[i + 1]]
    out_off: np.ndarray  # int64[n_units + 1]
    vr_in: np.ndarray  # uint32[n_in], value references of the inputs
    vr_out: np.ndarray  # uint32[n_out]
    c_off: np.ndarray  # int64[n_units + 1], connections into unit i: c_off[i]:c_off[i + 1]
    c_src: np.ndarray  # int64, index into y
    c_dst: np.ndarray  # int64, index into u
    c_a: np.ndarray  # float64, u = a * y + b
    c_b: np.ndarray
    e_off: np.ndarray  # int64[n_units + 1], external inputs of unit i
    e_dst: np.ndarray  # int64, index into u
    E: np.ndarray  # float64[n_steps + 1, n_ext], external input values in the FMU's unit
    sc_in: np.ndarray  # SI scale and offset of u and y (value_SI = value * sc + of)
    of_in: np.ndarray
    sc_out: np.ndarray
    of_out: np.ndarray
    n_in: int


def unit_inputs(i: int, k: int, tab: Tables, y: np.ndarray, u: np.ndarray) -> None:
    """Recompute unit ``i``'s inputs in ``u`` from the outputs ``y`` and the external row ``k`` (Python)."""
    for j in range(int(tab.c_off[i]), int(tab.c_off[i + 1])):
        u[tab.c_dst[j]] = tab.c_a[j] * y[tab.c_src[j]] + tab.c_b[j]
    for j in range(int(tab.e_off[i]), int(tab.e_off[i + 1])):
        u[tab.e_dst[j]] = tab.E[k, j]


@njit
def _inputs(i, k, c_off, c_src, c_dst, c_a, c_b, e_off, e_dst, E, y, u):  # type: ignore[no-untyped-def]
    for j in range(c_off[i], c_off[i + 1]):
        u[c_dst[j]] = c_a[j] * y[c_src[j]] + c_b[j]
    for j in range(e_off[i], e_off[i + 1]):
        u[e_dst[j]] = E[k, j]


@njit
def _loop(  # type: ignore[no-untyped-def]
    addr, order, gs, in_off, out_off, vr_in, vr_out, c_off, c_src, c_dst, c_a, c_b, e_off, e_dst, E,
    t0, h, n, y, u, Y, U, info,
):  # fmt: skip
    """Run ``n`` macro steps; returns early with ``info = (status, step, unit, function)`` on a failure."""
    nu = order.shape[0]
    for k in range(n):
        tk = t0 + k * h
        if not gs:
            for i in range(nu):
                _inputs(i, k, c_off, c_src, c_dst, c_a, c_b, e_off, e_dst, E, y, u)
        for m in range(nu):
            i = order[m]
            if gs:
                _inputs(i, k, c_off, c_src, c_dst, c_a, c_b, e_off, e_dst, E, y, u)
            comp = addr[i, 3]
            a, b = in_off[i], in_off[i + 1]
            if b > a:
                st = c_call(addr[i, 0], (comp, vr_in[a:b].ctypes.data, b - a, u[a:b].ctypes.data))
                if st > 1:
                    info[0], info[1], info[2], info[3] = st, k, i, 0
                    return
            st = c_call(addr[i, 1], (comp, tk, h, 1))
            if st > 1:
                info[0], info[1], info[2], info[3] = st, k, i, 1
                return
            a, b = out_off[i], out_off[i + 1]
            if b > a:
                st = c_call(addr[i, 2], (comp, vr_out[a:b].ctypes.data, b - a, y[a:b].ctypes.data))
                if st > 1:
                    info[0], info[1], info[2], info[3] = st, k, i, 2
                    return
                for j in range(a, b):
                    if not np.isfinite(y[j]):
                        info[0], info[1], info[2], info[3] = -1, k, i, 2
                        return
        U[k, :] = u
        Y[k + 1, :] = y


def compiled_loop(
    addr: np.ndarray, tab: Tables, t0: float, h: float, n: int, y: np.ndarray, u: np.ndarray, Y: Any, U: Any, info: Any
) -> None:
    """Run the compiled loop; ``addr[i] = (fmi2SetReal, fmi2DoStep, fmi2GetReal, component)`` of unit ``i``."""
    _loop(
        addr, tab.order, tab.gauss_seidel, tab.in_off, tab.out_off, tab.vr_in, tab.vr_out, tab.c_off, tab.c_src,
        tab.c_dst, tab.c_a, tab.c_b, tab.e_off, tab.e_dst, tab.E, float(t0), float(h), int(n), y, u, Y, U, info,
    )  # fmt: skip
