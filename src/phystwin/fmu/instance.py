"""A thin, safe wrapper over one fmpy FMU instance (FMI 2.0 and 3.0, co-simulation or model exchange).

:class:`FMUInstance` extracts the archive with :func:`~phystwin.fmu.archive.safe_extract` into a private
temporary folder (removed on :meth:`~FMUInstance.close`), instantiates it with fmpy, and routes every FMI call
through status checking (:func:`~phystwin.fmu.errors.check_status`): Discard, Error and Fatal become
:class:`~phystwin.fmu.errors.FMUDiscard`, :class:`~phystwin.fmu.errors.FMUCallError` and
:class:`~phystwin.fmu.errors.FMUFatal`, each naming the function and the time. After Fatal the instance
refuses every further call (:class:`~phystwin.fmu.errors.FMURefused`) without touching the FMU.

Real variables are set and read by *name* in SI units (``value_SI = value * scale + offset``, see
:func:`~phystwin.fmu.description.to_si`); ``si=False`` passes the FMU's own unit through.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from phystwin.errors import InvalidTypeError, UnknownNameError
from phystwin.fmu.archive import safe_extract
from phystwin.fmu.description import FMUDescription, FMUVariable, read_description
from phystwin.fmu.errors import (
    FMUCallError,
    FMUError,
    FMUNonFinite,
    FMURefused,
    FMUStateUnsupported,
    check_status,
)
from phystwin.fmu.fmu_logging import instantiate_quietly
from phystwin.fmu.native import component_address, function_address

__all__ = ["FMUInstance", "FMUStateSnapshot"]

T = TypeVar("T")
_KIND_FLAG = {
    "get": ("can_get_and_set_state", "canGetAndSetFMUstate"),
    "ser": ("can_serialize_state", "canSerializeFMUstate"),
}


@dataclass
class FMUStateSnapshot:
    """An FMU state taken by :meth:`FMUInstance.get_state`; restore it with :meth:`FMUInstance.set_state`.

    ``time`` [s] is the simulation time at which it was taken. Free it with :meth:`FMUInstance.free_state`
    (or let :meth:`FMUInstance.close` free every snapshot still alive).
    """

    time: float
    handle: Any = field(repr=False)
    owner: int = field(repr=False)
    freed: bool = False


class FMUInstance:
    """One instantiated FMU.

    Parameters
    ----------
    path
        The ``.fmu`` archive.
    kind
        ``"CoSimulation"`` or ``"ModelExchange"``.
    instance_name
        Name given to ``fmi2Instantiate`` and used in error messages (default: the model name).

    Attributes
    ----------
    description : FMUDescription
    sha256 : str
        SHA-256 of the archive bytes.
    time : float
        Current simulation time [s] as tracked by the master (start time, then end of the last step).
    fmu : object
        The underlying fmpy ``FMU2Slave`` / ``FMU2Model`` / ``FMU3Slave`` / ``FMU3Model``.
    """

    def __init__(
        self, path: str | PathLike[str], *, kind: str = "CoSimulation", instance_name: str | None = None
    ) -> None:
        self.description: FMUDescription = read_description(path)
        self.sha256: str = self.description.sha256
        self.path = Path(path)
        self.kind = kind
        self.name = instance_name or self.description.model_name
        self.time = 0.0
        self.fmi3 = self.description.fmi_version.startswith("3")
        self._fatal = False
        self._closed = False
        self._initialized = False
        self._stop_time: float | None = None
        self._tolerance: float | None = None
        self._snapshots: list[FMUStateSnapshot] = []
        if kind not in self.description.model_identifiers:
            raise FMUError(
                f"FMU {self.name!r} does not provide {kind!r} "
                f"(expected one of {sorted(self.description.model_identifiers)})",
                fmu=self.name,
            )
        self._interface = next(i for i in self.description.interfaces if i.kind == kind)
        self._variables = {v.name: v for v in self.description.variables}
        self._checked = tuple(v for v in self.description.variables if v.is_real and v.causality == "output")
        self._tmp = tempfile.mkdtemp(prefix="phystwin-fmu-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp, True)
        try:
            safe_extract(path, self._tmp)
            self.fmu = self._load()
            self._wrap("instantiate", lambda: instantiate_quietly(self.fmu, fmi3=self.fmi3))
        except BaseException:
            self._cleanup()
            raise

    def _load(self) -> Any:
        import fmpy.fmi2
        import fmpy.fmi3

        cs = self.kind == "CoSimulation"
        classes = (
            (fmpy.fmi3.FMU3Slave, fmpy.fmi3.FMU3Model) if self.fmi3 else (fmpy.fmi2.FMU2Slave, fmpy.fmi2.FMU2Model)
        )
        return (classes[0] if cs else classes[1])(
            guid=self.description.guid,
            modelIdentifier=self._interface.model_identifier,
            unzipDirectory=self._tmp,
            instanceName=self.name,
        )

    # ------------------------------------------------------------------ calls
    def _fn(self, name: str) -> str:
        return ("fmi3" if self.fmi3 else "fmi2") + name

    def _wrap(self, function: str, call: Callable[..., T], *args: Any) -> T:
        """Call fmpy, turning its exceptions and the FMI status into phystwin errors; refuse after Fatal."""
        fname = self._fn(function[0].upper() + function[1:])
        if self._fatal:
            raise FMURefused(
                f"FMU {self.name!r}: {fname} refused: the instance returned Fatal earlier and accepts no further FMI "
                "call (no FMI call after Fatal); create a new FMUInstance",
                fmu=self.name,
                function=fname,
                status=4,
                time=self.time,
            )
        if self._closed:
            raise FMUCallError(f"FMU {self.name!r}: {fname} called after close()", fmu=self.name, function=fname)
        from fmpy.fmi1 import FMICallException

        try:
            return call(*args)
        except FMICallException as exc:
            if exc.status == 4:
                self._fatal = True
            check_status(exc.status, self.name, exc.function, self.time)
            raise  # an FMICallException with status OK/Warning does not happen; keep it visible if it does
        except FMUError:
            raise
        except Exception as exc:  # fmpy raises bare Exception (e.g. "Failed to instantiate model")
            raise FMUCallError(f"FMU {self.name!r}: {fname} failed: {exc}", fmu=self.name, function=fname) from exc

    def mark_fatal(self) -> None:
        """Record that a call made outside this wrapper (compiled loop) returned Fatal: refuse every later call."""
        self._fatal = True

    @property
    def is_fatal(self) -> bool:
        """True once any FMI call returned Fatal."""
        return self._fatal

    # ------------------------------------------------------------------ initialisation
    def setup_experiment(
        self, start_time: float = 0.0, stop_time: float | None = None, tolerance: float | None = None
    ) -> None:
        """``fmi2SetupExperiment`` (FMI 3.0: remembered for ``fmi3EnterInitializationMode``); sets :attr:`time`."""
        self.time = float(start_time)
        self._stop_time, self._tolerance = stop_time, tolerance
        if not self.fmi3:
            self._wrap("setupExperiment", self.fmu.setupExperiment, tolerance, self.time, stop_time)

    def enter_initialization_mode(self) -> None:
        """``fmi2EnterInitializationMode``."""
        if self.fmi3:
            self._wrap(
                "enterInitializationMode", self.fmu.enterInitializationMode, self._tolerance, self.time, self._stop_time
            )
        else:
            self._wrap("enterInitializationMode", self.fmu.enterInitializationMode)

    def exit_initialization_mode(self) -> None:
        """``fmi2ExitInitializationMode``."""
        self._wrap("exitInitializationMode", self.fmu.exitInitializationMode)
        self._initialized = True

    def initialize(
        self,
        start_time: float = 0.0,
        stop_time: float | None = None,
        *,
        tolerance: float | None = None,
        values: Mapping[str, float] | None = None,
        integers: Mapping[str, int] | None = None,
    ) -> None:
        """Setup experiment, enter initialisation, set ``values`` (Real, SI) and ``integers``, exit initialisation."""
        self.setup_experiment(start_time, stop_time, tolerance)
        self.enter_initialization_mode()
        for name, ival in (integers or {}).items():
            self.set_integer(name, ival)
        if values:
            self.set(values)
        self.exit_initialization_mode()

    # ------------------------------------------------------------------ values
    def variable(self, name: str) -> FMUVariable:
        """The variable ``name``; :class:`KeyError` naming the known variables otherwise."""
        var = self._variables.get(name)
        if var is None:
            raise UnknownNameError(
                f"FMU {self.name!r} has no variable {name!r} (variables: {', '.join(self._variables)})"
            )
        return var

    def _real(self, name: str) -> FMUVariable:
        var = self.variable(name)
        if not var.is_real:
            raise InvalidTypeError(
                f"FMU {self.name!r}: variable {name!r} is {var.type}, expected a Real (Float64) variable"
            )
        return var

    def set_reals_vr(self, vrs: Iterable[int], values: Iterable[float]) -> None:
        """Set Real variables by value reference, in the FMU's units (no conversion)."""
        setter = self.fmu.setFloat64 if self.fmi3 else self.fmu.setReal
        self._wrap("setFloat64" if self.fmi3 else "setReal", setter, list(vrs), [float(v) for v in values])

    def get_reals_vr(self, vrs: Iterable[int]) -> np.ndarray:
        """Real variables by value reference, in the FMU's units (no conversion, no finiteness check)."""
        getter = self.fmu.getFloat64 if self.fmi3 else self.fmu.getReal
        return np.array(self._wrap("getFloat64" if self.fmi3 else "getReal", getter, list(vrs)), dtype=np.float64)

    def set(self, values: Mapping[str, float], *, si: bool = True) -> None:
        """Set Real variables by name; values in SI (converted to the FMU's unit) unless ``si=False``."""
        vars_ = [self._real(n) for n in values]
        vals = [self._from_si(v, float(x)) if si else float(x) for v, x in zip(vars_, values.values(), strict=True)]
        self.set_reals_vr([v.value_reference for v in vars_], vals)

    def get(self, names: Iterable[str], *, si: bool = True) -> np.ndarray:
        """Real variables by name, in SI unless ``si=False``.

        Raises
        ------
        FMUNonFinite
            An output or derivative is NaN or Inf (the message names them).
        """
        vars_ = [self._real(n) for n in names]
        raw = self.get_reals_vr([v.value_reference for v in vars_])
        self._check_finite(vars_, raw, "getReal")
        if si:
            return np.array([self._to_si(v, float(x)) for v, x in zip(vars_, raw, strict=True)])
        return raw

    def set_integer(self, name: str, value: int) -> None:
        """Set an Integer (FMI 3.0: Int32) variable by name."""
        vr = self.variable(name).value_reference
        if self.fmi3:
            self._wrap("setInt32", self.fmu.setInt32, [vr], [int(value)])
        else:
            self._wrap("setInteger", self.fmu.setInteger, [vr], [int(value)])

    def get_integer(self, name: str) -> int:
        """An Integer (FMI 3.0: Int32) variable by name."""
        vr = self.variable(name).value_reference
        if self.fmi3:
            return int(self._wrap("getInt32", self.fmu.getInt32, [vr])[0])
        return int(self._wrap("getInteger", self.fmu.getInteger, [vr])[0])

    def _to_si(self, var: FMUVariable, value: float) -> float:
        return value * var.si_scale + (var.si_offset or 0.0) if var.si_scale is not None else value

    def _from_si(self, var: FMUVariable, value: float) -> float:
        return (value - (var.si_offset or 0.0)) / var.si_scale if var.si_scale is not None else value

    def _check_finite(self, vars_: list[FMUVariable], raw: np.ndarray, function: str) -> None:
        bad = tuple(
            v.name
            for v, x in zip(vars_, raw, strict=True)
            if not math.isfinite(x) and (v.causality == "output" or v.derivative_of)
        )
        if bad:
            raise FMUNonFinite(
                f"FMU {self.name!r}: non-finite value (NaN or Inf) of {', '.join(bad)} at t = {self.time:.9g} s "
                f"(after {self._fn(function[0].upper() + function[1:])}); expected finite outputs and derivatives",
                variables=bad,
                fmu=self.name,
                function=function,
                time=self.time,
            )

    # ------------------------------------------------------------------ stepping
    def do_step(self, step: float, *, check_outputs: bool = True) -> None:
        """``fmi2DoStep(time, step)`` and advance :attr:`time` by ``step`` [s].

        With ``check_outputs`` the Real outputs are read afterwards and :class:`FMUNonFinite` is raised
        (naming them) when any is NaN or Inf. Errors carry the step's start time.
        """
        if self.kind != "CoSimulation":
            raise FMUError(f"FMU {self.name!r}: do_step needs a CoSimulation instance, this one is {self.kind}")
        self._wrap("doStep", self.fmu.doStep, self.time, float(step), True)
        self.time += float(step)
        if check_outputs and self._checked:
            raw = self.get_reals_vr([v.value_reference for v in self._checked])
            self._check_finite(list(self._checked), raw, "doStep")

    # ------------------------------------------------------------------ FMU state
    def _require(self, which: str) -> None:
        attr, flag = _KIND_FLAG[which]
        if not getattr(self._interface, attr):
            raise FMUStateUnsupported(
                f'FMU {self.name!r} ({self.kind}) declares {flag}="false" in its modelDescription.xml; '
                f'expected {flag}="true" to {"get/set" if which == "get" else "serialize"} the FMU state',
                fmu=self.name,
                function=f"{'get' if which == 'get' else 'serialize'}_state",
                time=self.time,
            )

    def get_state(self) -> FMUStateSnapshot:
        """``fmi2GetFMUstate``: a snapshot that :meth:`set_state` restores (bit for bit for a deterministic FMU)."""
        self._require("get")
        handle = self._wrap("getFMUState", self.fmu.getFMUState)
        snap = FMUStateSnapshot(time=self.time, handle=handle, owner=id(self))
        self._snapshots.append(snap)
        return snap

    def set_state(self, snapshot: FMUStateSnapshot) -> None:
        """``fmi2SetFMUstate``: restore a snapshot of this instance; :attr:`time` returns to its time."""
        self._require("get")
        if snapshot.owner != id(self) or snapshot.freed:
            raise FMUError(f"FMU {self.name!r}: the snapshot is freed or belongs to another instance", fmu=self.name)
        self._wrap("setFMUState", self.fmu.setFMUState, snapshot.handle)
        self.time = snapshot.time

    def free_state(self, snapshot: FMUStateSnapshot) -> None:
        """``fmi2FreeFMUstate``; a freed snapshot cannot be restored."""
        if not snapshot.freed and snapshot.owner == id(self):
            snapshot.freed = True
            if snapshot in self._snapshots:
                self._snapshots.remove(snapshot)
            if not self._fatal and not self._closed:
                self._wrap("freeFMUState", self.fmu.freeFMUState, snapshot.handle)

    def serialize_state(self) -> bytes:
        """The current FMU state as bytes (``fmi2SerializeFMUstate``); the time is not included."""
        self._require("get")
        self._require("ser")
        snap = self.get_state()
        try:
            return bytes(self._wrap("serializeFMUState", self.fmu.serializeFMUState, snap.handle))
        finally:
            self.free_state(snap)

    def deserialize_state(self, data: bytes, *, time: float | None = None) -> None:
        """Restore a state from :meth:`serialize_state` bytes; ``time`` [s] sets :attr:`time` when given."""
        self._require("get")
        self._require("ser")
        handle = self._wrap("deSerializeFMUState", self.fmu.deserializeFMUState, bytes(data))
        try:
            self._wrap("setFMUState", self.fmu.setFMUState, handle)
        finally:
            self._wrap("freeFMUState", self.fmu.freeFMUState, handle)
        if time is not None:
            self.time = float(time)

    # ------------------------------------------------------------------ addresses for compiled callers
    def function_address(self, name: str) -> int:
        """Address of an exported FMI function (``"fmi2DoStep"``), for :func:`phystwin.fmu.native.c_call`."""
        return function_address(self.fmu.dll, name)

    @property
    def component_address(self) -> int:
        """The ``fmi2Component`` pointer as an int, for :func:`phystwin.fmu.native.c_call`."""
        return component_address(self.fmu.component)

    # ------------------------------------------------------------------ end
    def terminate(self) -> None:
        """``fmi2Terminate`` (once initialised; a no-op otherwise)."""
        if self._initialized:
            self._initialized = False
            self._wrap("terminate", self.fmu.terminate)

    def close(self) -> None:
        """Free the snapshots and the instance, unload the library and remove the extracted files.

        After Fatal the instance is not freed (no FMI call after Fatal) and the library stays loaded.
        Idempotent; errors while freeing are not raised.
        """
        if self._closed:
            return
        try:
            if not self._fatal:
                for snap in list(self._snapshots):
                    self.free_state(snap)
                with contextlib.suppress(FMUError):
                    self.terminate()
                if not self._fatal:
                    self.fmu.freeInstance()  # fmi2FreeInstance + unload the library
        finally:
            self._closed = True
            self._cleanup()

    def __enter__(self) -> FMUInstance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("fatal" if self._fatal else "open")
        return f"FMUInstance({self.name!r}, FMI {self.description.fmi_version} {self.kind}, t={self.time:g} s, {state})"
