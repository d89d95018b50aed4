r"""Model-exchange FMUs as phystwin components, evaluated from compiled code.

:func:`fmu_component` loads an FMI 2.0 or FMI 3.0 model-exchange FMU and returns a
:class:`~phystwin.physics.component.Component` that a :class:`~phystwin.physics.system.System` connects
like any native one:

* the FMU's continuous states are the component's states (integrated by phystwin's solvers together
  with every other state of the system);
* its Real (FMI 2.0) or Float64 (FMI 3.0) inputs are the component's causal inputs, its Real / Float64
  outputs (that are not states) its variables; names are the FMU's with characters other than letters,
  digits and ``_`` replaced by ``_``;
* units are converted at the boundary: every value crosses as ``v_SI = v_FMU * scale + offset`` with
  the FMU's declared unit (``degC``, ``rpm``, ...), so the system sees SI;
* each FMU event indicator is a component event; at a crossing the FMU's event iteration
  (``fmi2EnterEventMode``, ``fmi2NewDiscreteStates`` until no new discrete states are needed,
  ``fmi2EnterContinuousTimeMode``; in FMI 3.0 ``fmi3UpdateDiscreteStates`` until
  ``discreteStatesNeedUpdate`` is false) gives the re-initialised states;
* time events: an FMU that schedules one (``nextEventTime`` after initialisation) or has event
  indicators gets one more indicator, ``time_event = t - nextEventTime`` (rising), so the solver locates
  the scheduled time like any crossing and fires at or just past it; every event iteration updates
  ``nextEventTime``;
* step completion: when the FMU needs it (FMI 2.0: unless it declares ``completedIntegratorStepNotNeeded``;
  FMI 3.0: if it declares ``needsCompletedIntegratorStep``), a ``step_event`` indicator calls
  ``fmi2CompletedIntegratorStep`` / ``fmi3CompletedIntegratorStep`` at the end of every accepted solver
  step; when the FMU asks to enter event mode there the event fires at that step end (the FMU only sees
  step ends, so the solver's ``hmax`` bounds how late), and a request to terminate becomes an
  :class:`~phystwin.fmu.errors.FMUError`.

How the compiled core calls the FMU
-----------------------------------
Every component function (a derivative, an output, an event indicator, a reset) is a small generated
function that passes its scalar arguments as tuples to :func:`fmu_eval`, which calls the FMU's C
functions through their addresses with :func:`phystwin.fmu.native.c_call`. Nothing returns to Python
during a simulation or a filter step, and nothing is allocated.

One evaluation per point: the first function asked at a point ``(t, x, u)`` sets the time, states and
inputs and reads every derivative, output and indicator into the instance's cache
(``fmi2SetTime``, ``fmi2SetContinuousStates``, ``fmi2SetReal``, ``fmi2GetDerivatives``, ``fmi2GetReal``,
``fmi2GetEventIndicators``; in FMI 3.0 ``fmi3SetTime``, ``fmi3SetContinuousStates``, ``fmi3SetFloat64``,
``fmi3GetContinuousStateDerivatives``, ``fmi3GetFloat64``, ``fmi3GetEventIndicators``); the others at
the same point read the cache. The resets of one event run the event iteration once. A right-hand side
therefore costs one FMU evaluation, not one per state and output.

The addresses, value references, unit factors and the cache's address travel in a hidden vector
parameter ``fmu_handle`` (layout in :mod:`phystwin.fmu._me_kernels`), so the compiled model holds no
process-specific constant and is cached on disk like any other. The FMI version is a handle slot too:
one compiled :func:`fmu_eval` serves both versions and branches where their calls differ
(``fmi3SetFloat64`` and ``fmi3GetFloat64`` also take the number of values; ``fmi3UpdateDiscreteStates``
returns six out-arguments instead of one ``fmi2EventInfo``; ``fmi3Boolean`` is a one-byte C ``bool``,
``fmi2Boolean`` an ``int``). The instance is evaluated at whatever state the solver asks for (the FMU
holds no integration state in model exchange), so sigma points and ensemble members need no FMU state
copies.

A call that returns ``fmi2Discard``, ``fmi2Error`` or ``fmi2Fatal`` (``fmi3Discard``, ... in FMI 3.0)
makes the function return NaN (the solver then stops with its non-finite status) and records the status
and the FMI function in the instance's status cells; :meth:`FMUModelExchange.check` turns that into the
matching error of :mod:`phystwin.fmu.errors`.

Limitations (said here rather than discovered): FMI 2.0 and FMI 3.0 only, and only FMUs with a
ModelExchange interface (any other gets a clear error; run it as co-simulation, :mod:`phystwin.fmu.cosim`);
in FMI 3.0 only scalar Float64 variables cross the boundary (array states, inputs or outputs are refused;
Float32, integer, Boolean and clock inputs and outputs are not exposed) and clocks, Configuration Mode and
nominals of continuous states are not used; one FMU instance per component, so two systems built from one
component share it (and its cache: not for concurrent use from several threads); FMU parameters are set
once, before initialisation (``parameters=``), not estimated; the filters (UKF, EKF, EnKF) integrate
between samples without events, so an FMU's discrete switching is not replayed inside a filter's
prediction; the Jacobian of FMU relations is taken by finite differences.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from phystwin.errors import InvalidValueError, OperationError
from phystwin.fmu._me_kernels import (
    C_LAST_STEP,
    C_NEXT_EVENT,
    C_RESET_VALID,
    C_STEP_EVENT,
    C_VALID,
    FMI_FUNCTIONS,
    HANDLE_SLOTS,
    MAX_EVENT_ITERATIONS,
    NO_TIME_EVENT,
    STATUS_TERMINATE,
    cache_size,
    fmu_eval,
)
from phystwin.fmu.archive import safe_extract
from phystwin.fmu.description import FMUDescription, FMUUnit, FMUVariable, _si, read_description
from phystwin.fmu.errors import FMUError, check_status
from phystwin.fmu.fmu_logging import instantiate_quietly
from phystwin.fmu.native import function_address
from phystwin.physics.component import Component, Event, Parameter, Relation, State, Variable
from phystwin.units import UnitError, dimension_text, parse_unit

__all__ = ["HANDLE_SLOTS", "NO_TIME_EVENT", "FMUModelExchange", "cache_size", "fmu_component", "fmu_eval"]

_IDENT_BAD = re.compile(r"[^A-Za-z0-9_]")
_FLOAT_TYPES = frozenset({"Real", "Float64"})  # the FMI 2.0 / 3.0 type of the values that cross the boundary
_LIVE: list[FMUModelExchange] = []  # compiled models hold raw addresses: instances live for the process


_RESERVED = frozenset({"t", "np", "fmu_eval", "fmu_handle"})


def _ident(name: str) -> str:
    """A component name for FMU variable ``name``: other characters than letters, digits and ``_``
    become ``_``; a leading digit or a name the generated kernels use gets a ``v_`` prefix."""
    out = _IDENT_BAD.sub("_", name)
    return out if out and not out[0].isdigit() and out not in _RESERVED else f"v_{out}"


def _si_unit(var: FMUVariable, defs: tuple[FMUUnit, ...] = ()) -> tuple[str, float, float]:
    """The SI unit string the component declares for ``var`` and ``(scale, offset)`` to SI.

    The declared unit is one phystwin reads (the compile-time dimension check parses it): the FMU's own
    spelling when it is SI, else its SI dimension; for a unit only the FMU's ``<BaseUnit>`` in ``defs``
    defines, the dimension given there (without ``defs``: ``"1"``, for callers that only need the scale).
    """
    unit = var.unit or "1"
    scale = 1.0 if var.si_scale is None else float(var.si_scale)
    offset = 0.0 if var.si_offset is None else float(var.si_offset)
    if var.si_scale is None:
        raise InvalidValueError(f"FMU variable {var.name!r}: unit {unit!r} does not convert to SI")
    try:
        dimension = parse_unit(unit).dimension()
    except UnitError:
        return (dimension_text(_si(unit, defs)[2]) if defs else "1"), scale, offset
    if scale == 1.0 and offset == 0.0:
        return unit.replace(".", "*"), scale, offset
    return dimension, scale, offset


class FMUModelExchange:
    """One instantiated FMI 2.0 or FMI 3.0 model-exchange FMU in continuous-time mode (see the module
    docstring).

    Parameters
    ----------
    fmu_path : path
        The ``.fmu`` archive (extracted with :func:`~phystwin.fmu.archive.safe_extract`).
    instance_name : str
        FMI instance name.
    parameters : mapping, optional
        FMU parameter values by FMU variable name, set before initialisation: Real (FMI 2.0) or Float64
        (FMI 3.0) ones in SI (converted to the FMU's units); Integer, Int32, Int64 and Boolean ones as whole
        numbers or bools.
    start_time : float
        Start time [s] (``fmi2SetupExperiment``, ``fmi3EnterInitializationMode``).
    """

    def __init__(
        self,
        fmu_path: str | Path,
        instance_name: str = "fmu",
        parameters: Mapping[str, float] | None = None,
        start_time: float = 0.0,
    ) -> None:
        desc = read_description(fmu_path)
        version = int(desc.fmi_version.split(".")[0])
        if version not in FMI_FUNCTIONS:  # pragma: no cover - read_description accepts FMI 2.0 and 3.0 only
            raise InvalidValueError(f"{desc.path.name}: FMI {desc.fmi_version} is not supported (FMI 2.0 or 3.0)")
        me = next((i for i in desc.interfaces if i.kind == "ModelExchange"), None)
        if not desc.supports_model_exchange or me is None:
            raise InvalidValueError(
                f"{desc.path.name}: this FMI {desc.fmi_version} FMU has no ModelExchange interface "
                "(co-simulation only: run it with phystwin.fmu.cosim)"
            )
        self.description: FMUDescription = desc
        self.fmi_version = version
        """FMI major version, 2 or 3."""
        self.sha256 = desc.sha256
        self.states = [desc.variable(p.state) for p in desc.states]
        self.inputs = [desc.variable(n) for n in desc.inputs if desc.variable(n).type in _FLOAT_TYPES]
        state_names = {v.name for v in self.states}
        self.outputs = [
            desc.variable(n) for n in desc.outputs if desc.variable(n).type in _FLOAT_TYPES and n not in state_names
        ]
        if version == 3:
            _refuse_arrays(desc, [*self.states, *self.inputs, *self.outputs])
        self._dir = Path(tempfile.mkdtemp(prefix="phystwin_fmu_"))
        try:
            info = self._initialise(Path(safe_extract(desc.path, self._dir)), instance_name, parameters, start_time)
        except BaseException:
            fmu = getattr(self, "_fmu", None)
            if fmu is not None and getattr(fmu, "component", None):
                with contextlib.suppress(Exception):  # the original error is the one to report
                    fmu.freeInstance()  # a refused parameter or a failed initialisation: free the instance
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.first_time_event = float(info[5]) if info[4] else None
        """``nextEventTime`` after initialisation (None: no time event scheduled)."""
        self.status_cells = np.zeros(2, np.int64)
        ng = desc.n_event_indicators
        self.cache = np.zeros(cache_size(len(self.states), len(self.inputs), len(self.outputs), ng))
        self.cache[C_NEXT_EVENT] = NO_TIME_EVENT if self.first_time_event is None else self.first_time_event
        self.cache[C_STEP_EVENT] = np.nan
        self.cache[C_LAST_STEP] = -np.inf
        if version == 3:
            self.needs_step_completion = me.needs_completed_integrator_step
        else:
            self.needs_step_completion = not me.completed_integrator_step_not_needed
        """True when the FMU needs ``fmi2CompletedIntegratorStep`` / ``fmi3CompletedIntegratorStep`` (FMI 2.0:
        unless it declares ``completedIntegratorStepNotNeeded``; FMI 3.0: if it declares
        ``needsCompletedIntegratorStep``): a step event then calls it at the end of every accepted solver step."""
        self.has_time_events = ng > 0 or self.first_time_event is not None
        """A time-event indicator is added when the FMU can schedule time events: it scheduled one at
        initialisation, or it has state events (whose event iterations may schedule one)."""
        self._u_vr = np.array([v.value_reference for v in self.inputs] or [0], np.uint32)
        self._y_vr = np.array([v.value_reference for v in self.outputs] or [0], np.uint32)
        self._flags = np.zeros(2, np.int32)
        self.handle = self._build_handle()
        x0 = np.zeros(len(self.states))
        if x0.size:
            self._fmu.getContinuousStates(x0.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), x0.size)
        self.initial_states = {
            v.name: float(x0[i]) * _si_unit(v)[1] + _si_unit(v)[2] for i, v in enumerate(self.states)
        }
        _LIVE.append(self)

    def _initialise(
        self, unzipped: Path, instance_name: str, parameters: Mapping[str, float] | None, start_time: float
    ) -> tuple[Any, ...]:
        """Instantiate with fmpy, set ``parameters``, initialise, settle the initial event iteration and
        enter continuous-time mode; returns the last event-iteration flags (``nextEventTimeDefined`` at
        index 4, ``nextEventTime`` at 5, the same in both fmpy versions of the call)."""
        desc = self.description
        fmi3 = self.fmi_version == 3
        kwargs = {
            "guid": desc.guid,
            "unzipDirectory": str(unzipped),
            "modelIdentifier": desc.model_identifiers["ModelExchange"],
            "instanceName": instance_name,
        }
        if fmi3:
            from fmpy.fmi3 import FMU3Model

            self._fmu: Any = FMU3Model(**kwargs)
            instantiate_quietly(self._fmu, fmi3=True)
        else:
            from fmpy.fmi2 import FMU2Model

            self._fmu = FMU2Model(**kwargs)
            instantiate_quietly(self._fmu, fmi3=False)
            self._fmu.setupExperiment(startTime=start_time)
        for name, value in (parameters or {}).items():
            self._set_parameter(desc.variable(name), value)
        if fmi3:
            self._fmu.enterInitializationMode(startTime=start_time)
        else:
            self._fmu.enterInitializationMode()
        self._fmu.exitInitializationMode()
        update = self._fmu.updateDiscreteStates if fmi3 else self._fmu.newDiscreteStates
        info: tuple[Any, ...] = update()
        for _ in range(MAX_EVENT_ITERATIONS):
            if not info[0]:
                break
            info = update()
        if info[1]:
            raise InvalidValueError(f"{desc.model_name}: the FMU asked to terminate during initialisation")
        self._fmu.enterContinuousTimeMode()
        return info

    def _set_parameter(self, var: FMUVariable, value: float | int | bool) -> None:
        """Set one parameter before initialisation: a Real / Float64 one from SI (converted to the FMU's
        unit), an Integer / Int32 / Int64 or Boolean one from an integral number or a bool."""
        fmi3 = self.fmi_version == 3
        where = f"{self.description.model_name}: {var.name!r}"
        if var.causality != "parameter":
            raise InvalidValueError(f"{where} is not a parameter ({var.causality} {var.type})")
        if var.type in _FLOAT_TYPES:
            _, scale, offset = _si_unit(var)
            setter = self._fmu.setFloat64 if fmi3 else self._fmu.setReal
            setter([var.value_reference], [(float(value) - offset) / scale])
            return
        setters = {"Boolean": "setBoolean", "Integer": "setInteger", "Int32": "setInt32", "Int64": "setInt64"}
        if var.type not in setters:
            raise InvalidValueError(
                f"{where} is of type {var.type}; expected a Real, Float64, Integer, Int32, Int64 or Boolean"
            )
        number = float(value)
        if not number.is_integer() or (var.type == "Boolean" and number not in (0.0, 1.0)):
            wanted = "true/false (1/0)" if var.type == "Boolean" else "a whole number"
            raise InvalidValueError(f"{where} ({var.type}) expects {wanted}, got {value!r}")
        getattr(self._fmu, setters[var.type])(
            [var.value_reference], [bool(number) if var.type == "Boolean" else int(number)]
        )

    def _build_handle(self) -> np.ndarray:
        dll = self._fmu.dll
        libc = ctypes.CDLL(None)
        xs = [_si_unit(v) for v in self.states]
        us = [_si_unit(v) for v in self.inputs]
        ys = [_si_unit(v) for v in self.outputs]
        h = [
            float(self._fmu.component or 0),
            *(float(function_address(dll, f)) for f in FMI_FUNCTIONS[self.fmi_version]),
            float(self.status_cells.ctypes.data),
            float(function_address(libc, "memcpy")),
            float(self.cache.ctypes.data),
            float(self._u_vr.ctypes.data),
            float(self._y_vr.ctypes.data),
            float(self._flags.ctypes.data),
            float(len(self.states)),
            float(len(self.inputs)),
            float(len(self.outputs)),
            float(self.description.n_event_indicators),
            float(self.fmi_version),
            *(s for _, s, _ in xs),
            *(o for _, _, o in xs),
            *(s for _, s, _ in us),
            *(o for _, _, o in us),
            *(s for _, s, _ in ys),
            *(o for _, _, o in ys),
        ]
        if any(v >= 2.0**53 for v in h):  # pragma: no cover - no 64-bit user space goes this high today
            raise OperationError("an FMU function address does not fit a float64 exactly")
        return np.array(h)

    def check(self, t: float | None = None) -> None:
        """Raise if a compiled evaluation recorded a failed FMI call (then clear the record)."""
        status, fn = (int(v) for v in self.status_cells)
        if status == 0:
            return
        self.status_cells[:] = 0
        self.invalidate()
        functions = FMI_FUNCTIONS[self.fmi_version]
        name = functions[fn - 1] if 1 <= fn <= len(functions) else "?"
        if status == STATUS_TERMINATE:
            when = "" if t is None else f" near t = {t:.9g} s"
            raise FMUError(f"FMU {self.description.model_name!r} asked to terminate the simulation ({name}){when}")
        check_status(status, self.description.model_name, name, t, near=True)

    def invalidate(self) -> None:
        """Forget the cached evaluation and event iteration (the next call evaluates the FMU again)."""
        self.cache[C_VALID] = 0.0
        self.cache[C_RESET_VALID] = 0.0

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


def _refuse_arrays(desc: FMUDescription, variables: list[FMUVariable]) -> None:
    """FMI 3.0 array variables cross the boundary as scalars nowhere here: refuse them by name."""
    from fmpy import read_model_description

    md = read_model_description(str(desc.path), validate=False)
    arrays = {str(v.name) for v in md.modelVariables if getattr(v, "dimensions", None)}
    used = [v.name for v in variables if v.name in arrays]
    if used:
        raise InvalidValueError(
            f"{desc.model_name}: array variables are not supported in model exchange ({', '.join(used)})"
        )


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
    """A scalar kernel ``fname(t, *x, *u, fmu_handle)`` calling ``fmu_eval`` with its states and inputs as
    tuples (no allocation; a placeholder ``0.0`` stands for an empty list)."""
    args = ", ".join(["t", *x, *u, "fmu_handle"])
    xs = "".join(f"{n}, " for n in x) or "0.0, "
    us = "".join(f"{n}, " for n in u) or "0.0, "
    source = f"def {fname}({args}):\n    return fmu_eval(fmu_handle, t, ({xs}), ({us}), {call})\n"
    return _kernel(source, fname)


def _make_component(inst: FMUModelExchange, name: str) -> Component:
    desc = inst.description
    defs = desc.unit_definitions
    xn = [_ident(v.name) for v in inst.states]
    un = [_ident(v.name) for v in inst.inputs]
    states = tuple(
        State(_ident(v.name), _si_unit(v, defs)[0], inst.initial_states[v.name], v.description or "")
        for v in inst.states
    )
    inputs = tuple(Variable(_ident(v.name), _si_unit(v, defs)[0], v.description or "") for v in inst.inputs)
    variables = tuple(Variable(_ident(v.name), _si_unit(v, defs)[0], v.description or "") for v in inst.outputs)
    derivatives = {n: _function(f"fmu_der_{i}", xn, un, f"0, {i}") for i, n in enumerate(xn)}
    relations = []
    for k, v in enumerate(inst.outputs):
        fn = _function(f"fmu_out_{_ident(v.name)}", xn, un, f"1, {k}")
        relations.append(Relation({_ident(v.name): fn}, f"FMU output {v.name}"))
    resets = {n: _function(f"fmu_reset_{i}", xn, un, f"3, {i}") for i, n in enumerate(xn)}
    ng = desc.n_event_indicators
    indicators = [(f"indicator_{j}", j, 0) for j in range(ng)]
    if inst.has_time_events:
        indicators.append(("time_event", ng, 1))
    if inst.needs_step_completion:
        indicators.append(("step_event", ng + 1, 1))
    events = tuple(
        Event(label, _function(f"fmu_{label}", xn, un, f"2, {j}"), resets, direction)
        for label, j, direction in indicators
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
