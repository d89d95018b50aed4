r"""Compiled kernels of model-exchange FMUs: :func:`fmu_eval` and the handle and cache it works on.

:mod:`phystwin.fmu.me` is the user-facing side (loading an FMU, building its component); this module is
what the generated component functions call from compiled code. Nothing here returns to Python or
allocates during a simulation: every FMI function is called through its address with
:func:`phystwin.fmu.native.c_call`.

The handle
----------
``fmu_handle`` is a float64 vector parameter of the component (so the compiled model holds no
process-specific constant and is cached on disk like any other). Its first ``len(HANDLE_SLOTS)`` cells are
the fixed slots of :data:`HANDLE_SLOTS`:

* ``instance``: the FMU instance pointer;
* the addresses of the eleven FMI functions of :data:`FMI_FUNCTIONS` for the FMU's version, in that order
  (slots 1..11);
* ``status_cells``: address of an ``int64[2]`` that receives ``(status, failing slot)`` of the first failed
  call; ``memcpy``: libc's ``memcpy``, used to write it;
* ``cache``, ``u_vr``, ``y_vr``, ``flags``: addresses of arrays owned by
  :class:`~phystwin.fmu.me.FMUModelExchange` (the float64 cache below, the uint32 value references of the
  inputs and outputs, two int32 cells for the out-arguments of ``fmi2CompletedIntegratorStep`` /
  ``fmi3CompletedIntegratorStep``);
* ``nx``, ``nu``, ``ny``, ``n_indicators``: counts of states, inputs, outputs and FMU event indicators;
* ``fmi_version``: 2 or 3, selecting the calling convention where the versions differ.

Then the unit factors to SI (``v_SI = v_FMU * scale + offset``): ``x_scale[nx]``, ``x_offset[nx]``,
``u_scale[nu]``, ``u_offset[nu]``, ``y_scale[ny]``, ``y_offset[ny]``. Addresses are exact in float64
(user-space addresses are below 2^48).

The cache
---------
A float64 array of :func:`cache_size` cells. A header of seven cells:

======================  ===================================================================================
``C_VALID`` (0)         1 when the evaluation cells hold the values at the evaluation key
``_C_T`` (1)            time of the evaluation key [s]
``C_NEXT_EVENT`` (2)    the FMU's ``nextEventTime`` [s] (:data:`NO_TIME_EVENT` when none is scheduled)
``C_RESET_VALID`` (3)   1 when the post-event cells hold the event iteration at the reset key
``_C_RESET_T`` (4)      time of the reset key [s]
``C_STEP_EVENT`` (5)    time of the step end at which the FMU asked for event mode [s] (NaN: none)
``C_LAST_STEP`` (6)     time of the last ``CompletedIntegratorStep`` call [s]
======================  ===================================================================================

then, in SI unless said otherwise: the evaluation key ``x[nx], u[nu]``; its values ``der[nx], y[ny],
g[ng]``; the reset key ``x[nx], u[nu]``; the post-event states ``x[nx]``; scratch in FMU units ``x[nx],
u[nu]``; and 4 cells for one ``fmi2EventInfo`` (FMI 2.0) or the six out-arguments of
``fmi3UpdateDiscreteStates`` (FMI 3.0).
"""

from __future__ import annotations

import numpy as np

from phystwin._jit import njit
from phystwin.fmu.native import c_call, float64_array_at

__all__ = [
    "C_LAST_STEP",
    "C_NEXT_EVENT",
    "C_RESET_VALID",
    "C_STEP_EVENT",
    "C_VALID",
    "FMI_FUNCTIONS",
    "HANDLE_SLOTS",
    "MAX_EVENT_ITERATIONS",
    "NO_TIME_EVENT",
    "STATUS_TERMINATE",
    "cache_size",
    "fmu_eval",
]

FMI_FUNCTIONS = {  # by FMI major version, in the order of their handle slots
    2: (
        "fmi2SetTime",
        "fmi2SetContinuousStates",
        "fmi2GetDerivatives",
        "fmi2SetReal",
        "fmi2GetReal",
        "fmi2GetEventIndicators",
        "fmi2EnterEventMode",
        "fmi2NewDiscreteStates",
        "fmi2EnterContinuousTimeMode",
        "fmi2GetContinuousStates",
        "fmi2CompletedIntegratorStep",
    ),
    3: (
        "fmi3SetTime",
        "fmi3SetContinuousStates",
        "fmi3GetContinuousStateDerivatives",
        "fmi3SetFloat64",
        "fmi3GetFloat64",
        "fmi3GetEventIndicators",
        "fmi3EnterEventMode",
        "fmi3UpdateDiscreteStates",
        "fmi3EnterContinuousTimeMode",
        "fmi3GetContinuousStates",
        "fmi3CompletedIntegratorStep",
    ),
}
HANDLE_SLOTS = (
    "instance",
    "set_time",
    "set_continuous_states",
    "get_derivatives",
    "set_float64",
    "get_float64",
    "get_event_indicators",
    "enter_event_mode",
    "update_discrete_states",
    "enter_continuous_time_mode",
    "get_continuous_states",
    "completed_integrator_step",
    "status_cells",
    "memcpy",
    "cache",
    "u_vr",
    "y_vr",
    "flags",
    "nx",
    "nu",
    "ny",
    "n_indicators",
    "fmi_version",
)
"""Fixed slots of ``fmu_handle``, in order (see the module docstring); the unit factors follow them."""
_FIXED = len(HANDLE_SLOTS)
_SLOT = {name: i for i, name in enumerate(HANDLE_SLOTS)}
_SET_TIME, _SET_STATES, _GET_DER, _SET_REAL, _GET_REAL, _GET_IND = 1, 2, 3, 4, 5, 6
_ENTER_EVENT, _NEW_DISCRETE, _ENTER_CONT, _GET_STATES, _COMPLETED = 7, 8, 9, 10, 11
_STATUS, _MEMCPY, _CACHE = _SLOT["status_cells"], _SLOT["memcpy"], _SLOT["cache"]
_U_VR, _Y_VR, _FLAGS = _SLOT["u_vr"], _SLOT["y_vr"], _SLOT["flags"]
_NX, _NU, _NY, _NG = _SLOT["nx"], _SLOT["nu"], _SLOT["ny"], _SLOT["n_indicators"]
_VERSION = _SLOT["fmi_version"]
MAX_EVENT_ITERATIONS = 100
STATUS_TERMINATE = 6  # recorded when the FMU asks to terminate the simulation (not an FMI status)

# cache header cells (the layout is in the module docstring)
C_VALID, _C_T, C_NEXT_EVENT, C_RESET_VALID, _C_RESET_T, C_STEP_EVENT, C_LAST_STEP = 0, 1, 2, 3, 4, 5, 6
_C_HEADER = 7
NO_TIME_EVENT = 1e300
"""``nextEventTime`` stored when the FMU defines none (the time-event indicator ``t - next`` stays negative)."""


def cache_size(nx: int, nu: int, ny: int, ng: int) -> int:
    """Length of the evaluation cache (float64 cells, layout in the module docstring) of an FMU with ``nx``
    states, ``nu`` inputs, ``ny`` outputs and ``ng`` event indicators."""
    return _C_HEADER + 5 * nx + 3 * nu + ny + ng + 4


@njit(inline="always")
def _same_key(c, at, t_cell, t, x, u, nx, nu):  # type: ignore[no-untyped-def]
    """The cache holds the key ``(t, x, u)`` at offset ``at`` (time in cell ``t_cell``)."""
    if c[t_cell] != t:
        return False
    for i in range(nx):
        if c[at + i] != x[i]:
            return False
    for i in range(nu):  # noqa: SIM110  (explicit loop: no generator in compiled code)
        if c[at + nx + i] != u[i]:
            return False
    return True


@njit(inline="always")
def _store_key(c, at, t_cell, t, x, u, nx, nu):  # type: ignore[no-untyped-def]
    c[t_cell] = t
    for i in range(nx):
        c[at + i] = x[i]
    for i in range(nu):
        c[at + nx + i] = u[i]


@njit
def _set_point(h, c, t, x, u):  # type: ignore[no-untyped-def]
    """``fmi2SetTime``, ``fmi2SetContinuousStates`` and ``fmi2SetReal`` (FMI 3.0: ``fmi3SetFloat64``) of the
    inputs (converted from SI into the cache's scratch cells); 0 or the failing function's slot (after
    :func:`_record`)."""
    inst = np.int64(h[0])
    nx, nu, ny, ng = np.int64(h[_NX]), np.int64(h[_NU]), np.int64(h[_NY]), np.int64(h[_NG])
    scratch = _C_HEADER + 4 * nx + 2 * nu + ny + ng
    st = c_call(np.int64(h[_SET_TIME]), (inst, t))
    if st > 1:
        return _record(h, st, _SET_TIME)
    if nx > 0:
        for i in range(nx):
            c[scratch + i] = (x[i] - h[_FIXED + nx + i]) / h[_FIXED + i]
        st = c_call(np.int64(h[_SET_STATES]), (inst, c[scratch:].ctypes.data, nx))
        if st > 1:
            return _record(h, st, _SET_STATES)
    if nu > 0:
        for i in range(nu):
            c[scratch + nx + i] = (u[i] - h[_FIXED + 2 * nx + nu + i]) / h[_FIXED + 2 * nx + i]
        values = c[scratch + nx :].ctypes.data
        if h[_VERSION] == 3.0:  # fmi3SetFloat64 takes the number of values too (arrays)
            st = c_call(np.int64(h[_SET_REAL]), (inst, np.int64(h[_U_VR]), nu, values, nu))
        else:
            st = c_call(np.int64(h[_SET_REAL]), (inst, np.int64(h[_U_VR]), nu, values))
        if st > 1:
            return _record(h, st, _SET_REAL)
    return 0


@njit
def _evaluate(h, c, t, x, u):  # type: ignore[no-untyped-def]
    """Fill the cache with the derivatives, outputs and indicators at ``(t, x, u)`` (SI) unless it
    holds them already: one FMU evaluation serves every function of the component at one point.
    Returns 0, or the failing function's slot with the cache left invalid."""
    nx, nu, ny, ng = np.int64(h[_NX]), np.int64(h[_NU]), np.int64(h[_NY]), np.int64(h[_NG])
    if c[C_VALID] == 1.0 and _same_key(c, _C_HEADER, _C_T, t, x, u, nx, nu):
        return 0
    c[C_VALID] = 0.0
    fail = _set_point(h, c, t, x, u)
    if fail != 0:
        return fail
    inst = np.int64(h[0])
    at = _C_HEADER + nx + nu
    if nx > 0:
        st = c_call(np.int64(h[_GET_DER]), (inst, c[at:].ctypes.data, nx))
        if st > 1:
            return _record(h, st, _GET_DER)
        for i in range(nx):
            c[at + i] *= h[_FIXED + i]
    if ny > 0:
        values = c[at + nx :].ctypes.data
        if h[_VERSION] == 3.0:
            st = c_call(np.int64(h[_GET_REAL]), (inst, np.int64(h[_Y_VR]), ny, values, ny))
        else:
            st = c_call(np.int64(h[_GET_REAL]), (inst, np.int64(h[_Y_VR]), ny, values))
        if st > 1:
            return _record(h, st, _GET_REAL)
        ys = _FIXED + 2 * nx + 2 * nu
        for i in range(ny):
            c[at + nx + i] = c[at + nx + i] * h[ys + i] + h[ys + ny + i]
    if ng > 0:
        st = c_call(np.int64(h[_GET_IND]), (inst, c[at + nx + ny :].ctypes.data, ng))
        if st > 1:
            return _record(h, st, _GET_IND)
    _store_key(c, _C_HEADER, _C_T, t, x, u, nx, nu)
    c[C_VALID] = 1.0
    return 0


@njit
def _step_indicator(h, c, t, x, u):  # type: ignore[no-untyped-def]
    """Indicator of a step event: at the first evaluation past the last completed step's time (the end
    of an accepted solver step) call ``fmi2CompletedIntegratorStep``; +1 from the step end on if the FMU
    asked to enter event mode there, else -1 (so the root finder converges to the step end).

    The two out-arguments (enter event mode, terminate) go to the instance's 8-byte flag cells: two
    ``fmi2Boolean`` (int32) in FMI 2.0, two ``fmi3Boolean`` (C ``bool``, one byte) in FMI 3.0."""
    if t > c[C_LAST_STEP]:
        c[C_VALID] = 0.0
        if _set_point(h, c, t, x, u) != 0:
            return np.nan
        flags = np.int64(h[_FLAGS])
        if h[_VERSION] == 3.0:
            b = float64_array_at(flags, 1).view(np.uint8)
            b[0] = 0
            b[1] = 0
            st = c_call(np.int64(h[_COMPLETED]), (np.int64(h[0]), 1, flags, flags + 1))
            enter, terminate = b[0] != 0, b[1] != 0
        else:
            st = c_call(np.int64(h[_COMPLETED]), (np.int64(h[0]), 1, flags, flags + 4))
            f = float64_array_at(flags, 1).view(np.int32)
            enter, terminate = f[0] != 0, f[1] != 0
        if st > 1:
            _record(h, st, _COMPLETED)
            return np.nan
        if terminate:
            _record(h, STATUS_TERMINATE, _COMPLETED)
            return np.nan
        c[C_LAST_STEP] = t
        if enter:
            c[C_STEP_EVENT] = t
    if c[C_STEP_EVENT] == c[C_STEP_EVENT] and t >= c[C_STEP_EVENT]:
        return 1.0
    return -1.0


@njit
def _event_iteration(h, c, t, x, u):  # type: ignore[no-untyped-def]
    """Event mode at ``(t, x, u)``: ``fmi2NewDiscreteStates`` (FMI 3.0: ``fmi3UpdateDiscreteStates``) until
    settled, back to continuous time, the re-initialised states (SI) into the cache's post-event cells.
    Cached by its key, so the resets of every state of one event run the iteration once. Returns 0 or the
    failing slot."""
    nx, nu, ny, ng = np.int64(h[_NX]), np.int64(h[_NU]), np.int64(h[_NY]), np.int64(h[_NG])
    key = _C_HEADER + 2 * nx + nu + ny + ng
    if c[C_RESET_VALID] == 1.0 and _same_key(c, key, _C_RESET_T, t, x, u, nx, nu):
        return 0
    c[C_RESET_VALID] = 0.0
    c[C_VALID] = 0.0
    fail = _set_point(h, c, t, x, u)
    if fail != 0:
        return fail
    inst = np.int64(h[0])
    st = c_call(np.int64(h[_ENTER_EVENT]), (inst,))
    if st > 1:
        return _record(h, st, _ENTER_EVENT)
    # FMI 2.0: one fmi2EventInfo (5 fmi2Booleans (int32), padding, fmi2Real nextEventTime in info[3]);
    # FMI 3.0: six out-arguments, the 5 fmi3Booleans (one byte each) in info[0], nextEventTime in info[1]
    at = key + 3 * nx + 2 * nu
    info = c[at : at + 4]
    flags = info.view(np.int32)
    bools = info.view(np.uint8)
    p = info.ctypes.data
    fmi3 = h[_VERSION] == 3.0
    for _ in range(MAX_EVENT_ITERATIONS):
        if fmi3:
            info[0] = 0.0  # all five flags false
            st = c_call(np.int64(h[_NEW_DISCRETE]), (inst, p, p + 1, p + 2, p + 3, p + 4, p + 8))
            again, terminate = bools[0] != 0, bools[1] != 0
        else:
            flags[0] = 0
            st = c_call(np.int64(h[_NEW_DISCRETE]), (inst, p))
            again, terminate = flags[0] != 0, flags[1] != 0
        if st > 1:
            return _record(h, st, _NEW_DISCRETE)
        if terminate:
            return _record(h, STATUS_TERMINATE, _NEW_DISCRETE)
        if not again:
            break
    if fmi3:
        c[C_NEXT_EVENT] = info[1] if bools[4] != 0 else NO_TIME_EVENT
    else:
        c[C_NEXT_EVENT] = info[3] if flags[4] != 0 else NO_TIME_EVENT
    c[C_STEP_EVENT] = np.nan
    st = c_call(np.int64(h[_ENTER_CONT]), (inst,))
    if st > 1:
        return _record(h, st, _ENTER_CONT)
    post = key + nx + nu
    if nx > 0:
        st = c_call(np.int64(h[_GET_STATES]), (inst, c[post:].ctypes.data, nx))
        if st > 1:
            return _record(h, st, _GET_STATES)
        for i in range(nx):
            c[post + i] = c[post + i] * h[_FIXED + i] + h[_FIXED + nx + i]
    _store_key(c, key, _C_RESET_T, t, x, u, nx, nu)
    c[C_RESET_VALID] = 1.0
    return 0


@njit
def fmu_eval(h, t, x, u, kind, k):  # type: ignore[no-untyped-def]
    """Value ``k`` of ``kind`` of the FMU of handle ``h`` at ``t`` [s], states ``x`` and inputs ``u`` (SI;
    tuples of floats, at least one element each: the counts come from ``h``):

    * kind 0: derivative of state ``k``; kind 1: output ``k``; kind 2: event indicator ``k`` (``k = ng``:
      the time event ``t - nextEventTime``; ``k = ng + 1``: the step event, see :func:`_step_indicator`);
      kind 3: state ``k`` after the event iteration.

    Derivatives, outputs and indicators come from one FMU evaluation per point ``(t, x, u)``
    (:func:`_evaluate`), and the event iteration runs once per event (:func:`_event_iteration`); nothing
    is allocated. Returns NaN when an FMI call fails, with the status recorded in the instance's status cells
    (:meth:`phystwin.fmu.me.FMUModelExchange.check` raises it).
    """
    nx, nu, ny, ng = np.int64(h[_NX]), np.int64(h[_NU]), np.int64(h[_NY]), np.int64(h[_NG])
    c = float64_array_at(np.int64(h[_CACHE]), _C_HEADER + 5 * nx + 3 * nu + ny + ng + 4)
    if kind == 3:
        if _event_iteration(h, c, t, x, u) != 0:
            return np.nan
        return c[_C_HEADER + 3 * nx + 2 * nu + ny + ng + k]
    if kind == 2 and k == ng:
        return t - c[C_NEXT_EVENT]
    if kind == 2 and k == ng + 1:
        return _step_indicator(h, c, t, x, u)
    if _evaluate(h, c, t, x, u) != 0:
        return np.nan
    at = _C_HEADER + nx + nu
    if kind == 0:
        return c[at + k]
    if kind == 1:
        return c[at + nx + k]
    return c[at + nx + ny + k]


@njit
def _record(h, status, fn):  # type: ignore[no-untyped-def]
    """Copy ``(status, fn)`` into the instance's status cells (an ``int64[2]`` owned by
    :class:`~phystwin.fmu.me.FMUModelExchange`) with libc ``memcpy``, first failure only; return the slot ``fn``."""
    buf = np.empty(2, np.int64)
    buf[0] = status
    buf[1] = fn
    old = np.zeros(2, np.int64)
    c_call(np.int64(h[_MEMCPY]), (old.ctypes.data, np.int64(h[_STATUS]), 16))
    if old[0] == 0:
        c_call(np.int64(h[_MEMCPY]), (np.int64(h[_STATUS]), buf.ctypes.data, 16))
    return fn
