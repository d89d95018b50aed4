"""Units of a co-simulation (FMUs and native models) and their slots in the master's flat vectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.core.simulation import Stepper
from phystwin.errors import InvalidTypeError, InvalidValueError
from phystwin.fmu.instance import FMUInstance
from phystwin.units import UnitError, parse_unit

__all__ = ["CoSimUnit", "NativeUnit", "Port"]


@dataclass
class NativeUnit:
    """A compiled phystwin :class:`~phystwin.core.model.Model` used as a co-simulation unit.

    Advanced over each macro step with fixed-step RK4 (substep ``dt`` [s], default the macro step) and its
    inputs held. ``params`` and ``x0`` are passed to :class:`~phystwin.core.simulation.Stepper`.
    """

    model: Model
    params: Mapping[str, Any] | None = None
    x0: Mapping[str, float] | np.ndarray | None = None
    dt: float | None = None


CoSimUnit = FMUInstance | NativeUnit | Model


def _si_label(unit: str | None, scale: float, offset: float) -> str:
    if not unit:
        return "1"
    if scale == 1.0 and offset == 0.0:
        return unit
    try:
        return parse_unit(unit).dimension()
    except UnitError:
        return f"SI({unit})"


class Port:
    """A unit's slots in the flat input / output vectors, in the unit's own units (FMU: its units; native: SI)."""

    def __init__(self, name: str, unit: CoSimUnit) -> None:
        self.name = name
        self.fmu = unit if isinstance(unit, FMUInstance) else None
        self.native = NativeUnit(unit) if isinstance(unit, Model) else unit if isinstance(unit, NativeUnit) else None
        if self.fmu is None and self.native is None:
            raise InvalidTypeError(
                f"unit {name!r}: expected an FMUInstance, a NativeUnit or a Model, got {type(unit).__name__}"
            )
        if self.fmu is not None:
            d = self.fmu.description
            if self.fmu.kind != "CoSimulation":
                raise InvalidValueError(f"unit {name!r}: FMU instances must be CoSimulation, got {self.fmu.kind}")
            ins = [d.variable(n) for n in d.inputs if d.variable(n).is_real]
            outs = [d.variable(n) for n in d.outputs if d.variable(n).is_real]
            self.inputs = [v.name for v in ins]
            self.outputs = [v.name for v in outs]
            self.vr_in = np.array([v.value_reference for v in ins], dtype=np.uint32)
            self.vr_out = np.array([v.value_reference for v in outs], dtype=np.uint32)
            conv = [(v.si_scale or 1.0, v.si_offset or 0.0, v.unit) for v in (*ins, *outs)]
        else:
            lay = cast(NativeUnit, self.native).model.layout
            self.inputs = [s.name for s in lay.inputs]
            self.outputs = [s.name for s in lay.outputs]
            self.vr_in = np.zeros(len(self.inputs), dtype=np.uint32)
            self.vr_out = np.zeros(len(self.outputs), dtype=np.uint32)
            conv = [(1.0, 0.0, s.unit) for s in (*lay.inputs, *lay.outputs)]
        self.scale = np.array([c[0] for c in conv])
        self.offset = np.array([c[1] for c in conv])
        self.labels = [_si_label(*c[2:], c[0], c[1]) for c in conv]
        self.stepper: Stepper | None = None

    def start(self, t0: float, t_end: float, h: float) -> None:
        if self.fmu is not None:
            if not self.fmu._initialized:
                self.fmu.initialize(t0, t_end)
            elif abs(self.fmu.time - t0) > 1e-9 * (1.0 + abs(t0)):
                raise InvalidValueError(
                    f"unit {self.name!r}: the FMU is at t = {self.fmu.time:g} s, expected t0 = {t0:g} s"
                )
        else:
            nat = cast(NativeUnit, self.native)
            self.stepper = Stepper(nat.model, t0, x0=nat.x0, params=nat.params, solver=RK4(nat.dt or h))

    def set_inputs(self, u: np.ndarray) -> None:
        if self.fmu is not None and u.size:
            self.fmu.set_reals_vr(self.vr_in.tolist(), u.tolist())

    def step(self, t: float, h: float, u: np.ndarray) -> None:
        if self.fmu is not None:
            self.fmu.time = t
            self.fmu.do_step(h, check_outputs=False)
        else:
            stepper = cast(Stepper, self.stepper)
            stepper.t = t
            stepper.step(h, u)

    def read(self, u: np.ndarray) -> np.ndarray:
        if self.fmu is not None:
            return self.fmu.get_reals_vr(self.vr_out.tolist()) if self.vr_out.size else np.zeros(0)
        stepper = cast(Stepper, self.stepper)
        stepper._u[:] = u  # outputs with the inputs just applied
        return stepper.outputs()
