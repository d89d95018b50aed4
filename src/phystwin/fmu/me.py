r"""Model-exchange FMUs as phystwin components, evaluated from compiled code.

:func:`fmu_component` loads an FMI 2.0 model-exchange FMU and returns a
:class:`~phystwin.physics.component.Component` that a :class:`~phystwin.physics.system.System` connects
like any native one:

* the FMU's continuous states are the component's states (integrated by phystwin's solvers together
  with every other state of the system);
* its Real inputs are the component's causal inputs, its Real outputs (that are not states) its
  variables; names are the FMU's with characters other than letters, digits and ``_`` replaced by ``_``;
* units are converted at the boundary: every value crosses as ``v_SI = v_FMU * scale + offset`` with
  the FMU's declared unit (``degC``, ``rpm``, ...), so the system sees SI;
* each FMU event indicator is a component event; at a crossing the FMU's event iteration
  (``fmi2EnterEventMode``, ``fmi2NewDiscreteStates`` until no new discrete states are needed,
  ``fmi2EnterContinuousTimeMode``) gives the re-initialised states.

How the compiled core calls the FMU
-----------------------------------
Every component function (a derivative, an output, an event indicator) is a small generated function
that packs its scalar arguments and calls :func:`fmu_eval`, which calls the FMU's C functions
(``fmi2SetTime``, ``fmi2SetContinuousStates``, ``fmi2SetReal`` of the inputs, then ``fmi2GetDerivatives``,
``fmi2GetReal`` or ``fmi2GetEventIndicators``) through their addresses with
:func:`phystwin.fmu.native.c_call`. Nothing returns to Python during a simulation or a filter step. The
addresses, value references and unit factors travel in a hidden vector parameter ``fmu_handle`` (layout
in :data:`HANDLE_SLOTS`), so the compiled model holds no process-specific constant and is cached on
disk like any other. The instance is evaluated at whatever state the solver asks for (the FMU holds no
integration state in model exchange), so sigma points and ensemble members need no FMU state copies.

A call that returns ``fmi2Discard``, ``fmi2Error`` or ``fmi2Fatal`` makes the function return NaN (the
solver then stops with its non-finite status) and records the status and the FMI function in the
instance's status cells; :meth:`FMUModelExchange.check` turns that into the matching error of
:mod:`phystwin.fmu.errors` (or a ``RuntimeError`` naming the status if that module is absent).

Limitations (said here rather than discovered): FMI 2.0 only (an FMI 3.0 FMU gets a clear error; run it
as co-simulation); one FMU instance per component, so two systems built from one component share it;
FMU parameters are set once, before initialisation (``parameters=``), not estimated; time events
(``nextEventTime``) and ``fmi2CompletedIntegratorStep`` requests are not acted on, so an FMU that
relies on them must run as co-simulation; the Jacobian of FMU relations is taken by finite differences.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from phystwin._jit import njit
from phystwin.fmu.archive import safe_extract
from phystwin.fmu.description import FMUDescription, FMUVariable, read_description
from phystwin.fmu.native import c_call, function_address
from phystwin.physics.component import Component, Event, Parameter, Relation, State, Variable
from phystwin.records.units import parse_unit

__all__ = ["HANDLE_SLOTS", "FMUModelExchange", "fmu_component", "fmu_eval"]

_FUNCTIONS = (
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
)
HANDLE_SLOTS = ("instance", *_FUNCTIONS, "status_cells", "memcpy", "nx", "nu", "n_indicators")
"""Fixed slots of ``fmu_handle``; then ``u_vr[nu]``, ``x_scale[nx]``, ``x_offset[nx]``, ``u_scale[nu]``,
``u_offset[nu]`` (addresses are exact in float64: user-space addresses are below 2^48)."""
_FIXED = len(HANDLE_SLOTS)
_KIND_DERIVATIVE, _KIND_OUTPUT, _KIND_INDICATOR, _KIND_RESET = 0, 1, 2, 3
_MAX_EVENT_ITERATIONS = 100


@njit
def fmu_eval(h, t, x, u, kind, k, out_vr, out_scale, out_offset):  # type: ignore[no-untyped-def]
    """Value ``k`` of ``kind`` (0 derivative, 1 output with value reference ``out_vr``, 2 event
    indicator, 3 state after the event iteration) of the FMU of handle ``h`` at ``t`` [s], states
    ``x`` and inputs ``u`` (SI). Returns NaN when an FMI call fails (see the module docstring)."""
    inst = np.int64(h[0])
    nx = np.int64(h[13])
    nu = np.int64(h[14])
    n_ind = np.int64(h[15])
    base = 16
    xb = np.empty(max(nx, 1))
    for i in range(nx):
        xb[i] = (x[i] - h[base + nu + nx + i]) / h[base + nu + i]
    st = c_call(np.int64(h[1]), (inst, t))
    if st > 1:
        return _record(h, st, 1)
    if nx > 0:
        st = c_call(np.int64(h[2]), (inst, xb.ctypes.data, nx))
        if st > 1:
            return _record(h, st, 2)
    if nu > 0:
        vr = np.empty(nu, np.uint32)
        ub = np.empty(nu)
        for i in range(nu):
            vr[i] = np.uint32(h[base + i])
            ub[i] = (u[i] - h[base + nu + 2 * nx + nu + i]) / h[base + nu + 2 * nx + i]
        st = c_call(np.int64(h[4]), (inst, vr.ctypes.data, nu, ub.ctypes.data))
        if st > 1:
            return _record(h, st, 4)
    if kind == 0:
        d = np.empty(max(nx, 1))
        st = c_call(np.int64(h[3]), (inst, d.ctypes.data, nx))
        if st > 1:
            return _record(h, st, 3)
        return d[k] * h[base + nu + k]
    if kind == 1:
        vr1 = np.empty(1, np.uint32)
        vr1[0] = np.uint32(out_vr)
        v = np.empty(1)
        st = c_call(np.int64(h[5]), (inst, vr1.ctypes.data, 1, v.ctypes.data))
        if st > 1:
            return _record(h, st, 5)
        return v[0] * out_scale + out_offset
    if kind == 2:
        g = np.empty(max(n_ind, 1))
        st = c_call(np.int64(h[6]), (inst, g.ctypes.data, n_ind))
        if st > 1:
            return _record(h, st, 6)
        return g[k]
    # kind 3: event iteration, then the re-initialised state k
    st = c_call(np.int64(h[7]), (inst,))
    if st > 1:
        return _record(h, st, 7)
    info = np.zeros(8, np.int32)  # fmi2EventInfo: 5 fmi2Booleans, padding, fmi2Real nextEventTime
    for _ in range(_MAX_EVENT_ITERATIONS):
        info[0] = 0
        st = c_call(np.int64(h[8]), (inst, info.ctypes.data))
        if st > 1:
            return _record(h, st, 8)
        if info[0] == 0:
            break
    st = c_call(np.int64(h[9]), (inst,))
    if st > 1:
        return _record(h, st, 9)
    st = c_call(np.int64(h[10]), (inst, xb.ctypes.data, nx))
    if st > 1:
        return _record(h, st, 10)
    return xb[k] * h[base + nu + k] + h[base + nu + nx + k]


@njit
def _record(h, status, fn):  # type: ignore[no-untyped-def]
    """Copy ``(status, fn)`` into the instance's status cells (an ``int64[2]`` owned by
    :class:`FMUModelExchange`) with libc ``memcpy``, first failure only; return NaN."""
    buf = np.empty(2, np.int64)
    buf[0] = status
    buf[1] = fn
    old = np.zeros(2, np.int64)
    c_call(np.int64(h[12]), (old.ctypes.data, np.int64(h[11]), 16))
    if old[0] == 0:
        c_call(np.int64(h[12]), (np.int64(h[11]), buf.ctypes.data, 16))
    return np.nan


# ----------------------------------------------------------------------------------------- Python side
_IDENT_BAD = re.compile(r"[^A-Za-z0-9_]")
_FMI_STATUS = {2: "fmi2Discard", 3: "fmi2Error", 4: "fmi2Fatal", 5: "fmi2Pending"}
_LIVE: list[FMUModelExchange] = []  # compiled models hold raw addresses: instances live for the process


_RESERVED = frozenset({"t", "np", "fmu_eval", "fmu_handle", "fmu_x_", "fmu_u_"})


def _ident(name: str) -> str:
    """A component name for FMU variable ``name``: other characters than letters, digits and ``_``
    become ``_``; a leading digit or a name the generated kernels use gets a ``v_`` prefix."""
    out = _IDENT_BAD.sub("_", name)
    return out if out and not out[0].isdigit() and out not in _RESERVED else f"v_{out}"


def _si_unit(var: FMUVariable) -> tuple[str, float, float]:
    """The SI unit string the component declares for ``var`` and ``(scale, offset)`` to SI."""
    unit = var.unit or "1"
    scale = 1.0 if var.si_scale is None else float(var.si_scale)
    offset = 0.0 if var.si_offset is None else float(var.si_offset)
    if var.si_scale is None:
        raise ValueError(f"FMU variable {var.name!r}: unit {unit!r} does not convert to SI")
    if scale == 1.0 and offset == 0.0:
        return unit.replace(".", "*"), scale, offset
    return parse_unit(unit).dimension(), scale, offset


class FMUModelExchange:
    """One instantiated FMI 2.0 model-exchange FMU in continuous-time mode (see the module docstring).

    Parameters
    ----------
    fmu_path : path
        The ``.fmu`` archive (extracted with :func:`~phystwin.fmu.archive.safe_extract`).
    instance_name : str
        FMI instance name.
    parameters : mapping, optional
        FMU parameter values by FMU variable name, in SI (converted to the FMU's units), set before
        initialisation.
    start_time : float
        ``fmi2SetupExperiment`` start time [s].
    """

    def __init__(
        self,
        fmu_path: str | Path,
        instance_name: str = "fmu",
        parameters: Mapping[str, float] | None = None,
        start_time: float = 0.0,
    ) -> None:
        from fmpy.fmi2 import FMU2Model

        desc = read_description(fmu_path)
        if desc.fmi_version.split(".")[0] != "2":
            raise ValueError(
                f"{desc.path.name}: model exchange inside the compiled core supports FMI 2.0, this FMU is "
                f"FMI {desc.fmi_version}; run it as co-simulation (phystwin.fmu.cosim)"
            )
        if not desc.supports_model_exchange:
            raise ValueError(f"{desc.path.name}: the FMU has no ModelExchange interface (co-simulation only)")
        self.description: FMUDescription = desc
        self.sha256 = desc.sha256
        self._dir = Path(tempfile.mkdtemp(prefix="phystwin_fmu_"))
        unzipped = safe_extract(desc.path, self._dir)
        self._fmu = FMU2Model(
            guid=desc.guid,
            unzipDirectory=str(unzipped),
            modelIdentifier=desc.model_identifiers["ModelExchange"],
            instanceName=instance_name,
        )
        self._fmu.instantiate()
        self._fmu.setupExperiment(startTime=start_time)
        for name, value in (parameters or {}).items():
            var = desc.variable(name)
            if var.causality != "parameter" or not var.is_real:
                raise ValueError(f"{desc.model_name}: {name!r} is not a Real parameter ({var.causality} {var.type})")
            _, scale, offset = _si_unit(var)
            self._fmu.setReal([var.value_reference], [(float(value) - offset) / scale])
        self._fmu.enterInitializationMode()
        self._fmu.exitInitializationMode()
        for _ in range(_MAX_EVENT_ITERATIONS):
            if not self._fmu.newDiscreteStates()[0]:
                break
        self._fmu.enterContinuousTimeMode()
        self.states = [desc.variable(p.state) for p in desc.states]
        self.inputs = [desc.variable(n) for n in desc.inputs if desc.variable(n).is_real]
        state_names = {v.name for v in self.states}
        self.outputs = [desc.variable(n) for n in desc.outputs if desc.variable(n).is_real and n not in state_names]
        self.status_cells = np.zeros(2, np.int64)
        self.handle = self._build_handle()
        x0 = np.zeros(len(self.states))
        if x0.size:
            self._fmu.getContinuousStates(x0.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), x0.size)
        self.initial_states = {
            v.name: float(x0[i]) * _si_unit(v)[1] + _si_unit(v)[2] for i, v in enumerate(self.states)
        }
        _LIVE.append(self)

    def _build_handle(self) -> np.ndarray:
        dll = self._fmu.dll
        libc = ctypes.CDLL(None)
        xs = [_si_unit(v) for v in self.states]
        us = [_si_unit(v) for v in self.inputs]
        h = [
            float(self._fmu.component or 0),
            *(float(function_address(dll, f)) for f in _FUNCTIONS),
            float(self.status_cells.ctypes.data),
            float(function_address(libc, "memcpy")),
            float(len(self.states)),
            float(len(self.inputs)),
            float(self.description.n_event_indicators),
            *(float(v.value_reference) for v in self.inputs),
            *(s for _, s, _ in xs),
            *(o for _, _, o in xs),
            *(s for _, s, _ in us),
            *(o for _, _, o in us),
        ]
        if any(v >= 2.0**53 for v in h):  # pragma: no cover - no 64-bit user space goes this high today
            raise RuntimeError("an FMU function address does not fit a float64 exactly")
        return np.array(h)

    def check(self, t: float | None = None) -> None:
        """Raise if a compiled evaluation recorded a failed FMI call (then clear the record)."""
        status, fn = (int(v) for v in self.status_cells)
        if status == 0:
            return
        self.status_cells[:] = 0
        name = _FUNCTIONS[fn - 1] if 1 <= fn <= len(_FUNCTIONS) else "?"
        when = "" if t is None else f" near t = {t:.9g} s"
        msg = f"FMU {self.description.model_name!r}: {name} returned {_FMI_STATUS.get(status, status)}{when}"
        try:
            from phystwin.fmu import errors
        except ImportError:  # pragma: no cover - errors.py ships with the package
            raise RuntimeError(msg) from None
        cls = {2: errors.FMUDiscard, 3: errors.FMUCallError, 4: errors.FMUFatal}.get(status, errors.FMUError)
        raise cls(msg)

    def component(self, name: str) -> Component:
        """A :class:`Component` named ``name`` for this FMU (see the module docstring)."""
        return _make_component(self, name)

    def close(self) -> None:
        """Free the FMU instance. Any model compiled with its component must not be used afterwards."""
        if self in _LIVE:
            _LIVE.remove(self)
            self._fmu.terminate()
            self._fmu.freeInstance()
            shutil.rmtree(self._dir, ignore_errors=True)


def fmu_component(
    name: str, fmu_path: str | Path, *, parameters: Mapping[str, float] | None = None
) -> tuple[Component, FMUModelExchange]:
    """Load ``fmu_path`` for model exchange and return ``(component, instance)``: the component to
    add to a System, and the instance (its description, SHA-256 for provenance, :meth:`~FMUModelExchange.check`)."""
    inst = FMUModelExchange(fmu_path, instance_name=name, parameters=parameters)
    return inst.component(name), inst


def _kernel(source: str, fname: str) -> Callable[..., float]:
    namespace: dict[str, Any] = {"np": np, "fmu_eval": fmu_eval}
    exec(compile(source, f"<fmu kernel {fname}>", "exec"), namespace)  # noqa: S102 - generated from identifiers only
    fn: Callable[..., float] = namespace[fname]
    return fn


def _function(fname: str, x: list[str], u: list[str], call: str) -> Callable[..., float]:
    """A scalar kernel ``fname(t, *x, *u, fmu_handle)`` packing its arguments and calling ``fmu_eval``."""
    args = ", ".join(["t", *x, *u, "fmu_handle"])
    lines = [f"def {fname}({args}):"]
    lines += [f"    fmu_x_ = np.empty({max(len(x), 1)})", f"    fmu_u_ = np.empty({max(len(u), 1)})"]
    lines += [f"    fmu_x_[{i}] = {n}" for i, n in enumerate(x)] + [f"    fmu_u_[{i}] = {n}" for i, n in enumerate(u)]
    lines.append(f"    return fmu_eval(fmu_handle, t, fmu_x_, fmu_u_, {call})")
    return _kernel("\n".join(lines) + "\n", fname)


def _make_component(inst: FMUModelExchange, name: str) -> Component:
    desc = inst.description
    xn = [_ident(v.name) for v in inst.states]
    un = [_ident(v.name) for v in inst.inputs]
    states = tuple(
        State(_ident(v.name), _si_unit(v)[0], inst.initial_states[v.name], v.description or "") for v in inst.states
    )
    inputs = tuple(Variable(_ident(v.name), _si_unit(v)[0], v.description or "") for v in inst.inputs)
    variables = tuple(Variable(_ident(v.name), _si_unit(v)[0], v.description or "") for v in inst.outputs)
    derivatives = {n: _function(f"fmu_der_{i}", xn, un, f"0, {i}, 0, 1.0, 0.0") for i, n in enumerate(xn)}
    relations = []
    for v in inst.outputs:
        _, scale, offset = _si_unit(v)
        fn = _function(f"fmu_out_{_ident(v.name)}", xn, un, f"1, 0, {v.value_reference}, {scale!r}, {offset!r}")
        relations.append(Relation({_ident(v.name): fn}, f"FMU output {v.name}"))
    events = tuple(
        Event(
            f"indicator_{j}",
            _function(f"fmu_indicator_{j}", xn, un, f"2, {j}, 0, 1.0, 0.0"),
            {n: _function(f"fmu_reset_{i}", xn, un, f"3, {i}, 0, 1.0, 0.0") for i, n in enumerate(xn)},
        )
        for j in range(desc.n_event_indicators)
    )
    cls = type(
        f"FMU_{_ident(desc.model_name)}",
        (Component,),
        {
            "__doc__": f"Model-exchange FMU {desc.model_name!r} (SHA-256 {desc.sha256}); see phystwin.fmu.me.",
            "states": states,
            "inputs": inputs,
            "variables": variables,
            "parameters": (
                Parameter("fmu_handle", "1", tuple(inst.handle), "FMU addresses (internal)", size=inst.handle.size),
            ),
            "relations": tuple(relations),
            "derivatives": derivatives,
            "events": events,
        },
    )
    comp: Component = cls(name)
    comp.fmu = inst  # type: ignore[attr-defined]
    return comp
