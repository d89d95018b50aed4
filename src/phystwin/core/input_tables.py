"""Input signals as tables: piecewise-constant (zero-order hold) or piecewise-linear per channel.

A table is three arrays shared by all input channels:

* ``tab_t``  (m,)    strictly increasing breakpoint times [s], ``m >= 1``;
* ``tab_v``  (m, nu) values at the breakpoints, in SI units;
* ``tab_kind`` (nu,) int64: :data:`HOLD` (value ``tab_v[k]`` on ``[t_k, t_{k+1})``) or
  :data:`LINEAR` (linear interpolation between breakpoints).

Before the first breakpoint the first row applies; after the last, the last row (both held).

Solvers never step across a breakpoint: they integrate segment by segment, and inside a segment
they evaluate the inputs with :func:`eval_inputs` for that segment index, so a step at ``t_k`` is
seen exactly at ``t_k`` and never smeared over a step.
"""

from __future__ import annotations

import numpy as np

from phystwin._jit import njit

HOLD = 0
LINEAR = 1


@njit
def segment_of(tab_t, t):  # type: ignore[no-untyped-def]
    """Index ``k`` of the segment ``[t_k, t_{k+1})`` that contains ``t`` (``-1`` before the first breakpoint)."""
    m = tab_t.shape[0]
    if m == 0 or t < tab_t[0]:
        return -1
    lo = 0
    hi = m - 1
    if t >= tab_t[hi]:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tab_t[mid] <= t:
            lo = mid
        else:
            hi = mid
    return lo


@njit
def segment_end(tab_t, seg, t_stop):  # type: ignore[no-untyped-def]
    """End time of segment ``seg``, capped at ``t_stop`` (the next breakpoint a solver must stop at)."""
    nxt = seg + 1
    if nxt < tab_t.shape[0] and tab_t[nxt] < t_stop:
        return tab_t[nxt]
    return t_stop


@njit
def eval_inputs(tab_t, tab_v, tab_kind, seg, t, u):  # type: ignore[no-untyped-def]
    """Write the inputs at time ``t`` for segment ``seg`` into ``u``.

    Inside segment ``k`` a HOLD channel equals ``tab_v[k]``; a LINEAR channel is
    ``v_k + (v_{k+1} - v_k) (t - t_k) / (t_{k+1} - t_k)``. Using the segment index (not ``t``
    alone) makes a HOLD input's left value apply at the segment end, as an integrator needs.
    """
    nu = u.shape[0]
    m = tab_t.shape[0]
    if nu == 0:
        return
    if seg < 0:
        for j in range(nu):
            u[j] = tab_v[0, j]
        return
    if seg >= m - 1:
        for j in range(nu):
            u[j] = tab_v[m - 1, j]
        return
    t0 = tab_t[seg]
    t1 = tab_t[seg + 1]
    w = (t - t0) / (t1 - t0)
    if w < 0.0:
        w = 0.0
    elif w > 1.0:
        w = 1.0
    for j in range(nu):
        if tab_kind[j] == LINEAR:
            u[j] = tab_v[seg, j] + w * (tab_v[seg + 1, j] - tab_v[seg, j])
        else:
            u[j] = tab_v[seg, j]


def constant_table(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A table holding ``values`` (nu,) forever."""
    v = np.asarray(values, dtype=np.float64).reshape(1, -1)
    return np.zeros(1), v, np.zeros(v.shape[1], dtype=np.int64)
