"""Lithium-ion cell equivalent circuit (second-order Thevenin model)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phystwin._jit import njit
from phystwin.physics.component import Component, ModelDefinitionError, Parameter, Relation, State, Variable
from phystwin.physics.electrical.elements import CONTINUITY, PINS, VOLTAGE
from phystwin.physics.mechanical._common import HEAT_RELATION
from phystwin.physics.ports import HeatPort, Port

DEFAULT_SOC_TABLE: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""State-of-charge breakpoints [1] of the default OCV curve (generic NMC/graphite cell)."""

DEFAULT_OCV_TABLE: tuple[float, ...] = (3.0, 3.3, 3.45, 3.55, 3.61, 3.66, 3.71, 3.79, 3.88, 3.97, 4.07, 4.2)
"""Open-circuit voltage [V] at :data:`DEFAULT_SOC_TABLE`."""


@njit
def interp_table(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """Piecewise-linear ``y(x)`` through ``(xs, ys)`` (``xs`` increasing), held constant outside."""
    n = xs.shape[0]
    if x <= xs[0]:
        return ys[0]
    if x >= xs[n - 1]:
        return ys[n - 1]
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid
        else:
            hi = mid
    w = (x - xs[lo]) / (xs[hi] - xs[lo])
    return ys[lo] + w * (ys[hi] - ys[lo])


def _ocv(SOC, soc_table, ocv_table):  # type: ignore[no-untyped-def]
    return interp_table(SOC, soc_table, ocv_table)


def _i_dis_from_p(p_i):  # type: ignore[no-untyped-def]
    return -p_i


def _p_i_from_i_dis(i_dis):  # type: ignore[no-untyped-def]
    return -i_dis


def _terminal_voltage(ocv, v1, v2, i_dis, R0):  # type: ignore[no-untyped-def]
    return ocv - v1 - v2 - R0 * i_dis


def _discharge_current(ocv, v1, v2, v, R0):  # type: ignore[no-untyped-def]
    return (ocv - v1 - v2 - v) / R0


def _joule(i_dis, v1, v2, R0, R1, R2):  # type: ignore[no-untyped-def]
    return R0 * i_dis * i_dis + v1 * v1 / R1 + v2 * v2 / R2


class LiIonCell(Component):
    """Li-ion cell: OCV(SOC) source, series resistance and two RC pairs, with coulomb counting.

    Sign convention: ``i_dis`` is the *discharge* current, leaving the cell at ``p`` and returning
    at ``n`` (``i_dis = -p.i = n.i``; negative while charging); ``v = p.v - n.v`` is the terminal
    voltage.

    Equations::

        ocv    = OCV(SOC)        (piecewise linear through (soc_table, ocv_table), held outside)
        v      = ocv - v1 - v2 - R0 * i_dis
        dSOC/dt = -i_dis / Q
        C1 dv1/dt = i_dis - v1 / R1
        C2 dv2/dt = i_dis - v2 / R2
        P_loss = R0 i_dis^2 + v1^2 / R1 + v2^2 / R2          (Joule loss)
        heat.Q_flow = -P_loss                                (heat_port=True only)

    Energy: ``ocv * i_dis = v * i_dis + P_loss + d/dt (C1 v1^2/2 + C2 v2^2/2)``. The internal law
    is solvable for ``v`` (current-driven: load given as a current) or for ``i_dis``
    (voltage-driven: charger as a voltage source), so the cell composes either way. SOC is not
    clamped: below 0 or above 1 the OCV is held at the table ends and SOC keeps counting, so
    watch SOC (or add an event) to stop a simulation at the cut-off. Parameters are isothermal;
    the heat port only carries the loss out.

    Parameters
    ----------
    Q : A*s, > 0
        Capacity (charge; SI, so give it as ``Q="2.5 A*h"`` or ``"cell.Q" = "2.5 A*h"``).
    R0 : Ohm, > 0
        Series (ohmic) resistance.
    R1, R2 : Ohm, > 0
        Resistances of the two RC pairs (fast and slow polarisation).
    C1, C2 : F, > 0
        Capacitances of the RC pairs (time constants ``R1 C1``, ``R2 C2``).
    soc_table : 1, vector of N, strictly increasing
        OCV breakpoints in SOC.
    ocv_table : V, vector of N
        Open-circuit voltage at the breakpoints.

    The table length N is fixed when the component is built (from the ``soc_table`` given, default
    12 points); it is part of the compiled structure, the values are parameters.

    States
    ------
    SOC : 1
        State of charge (start value in [0, 1]).
    v1, v2 : V
        RC-pair voltages (positive while discharging).

    Ports
    -----
    p, n : electrical
        Positive and negative terminals.
    heat : heat
        Only with ``heat_port=True``.

    Variables
    ---------
    v : V
        Terminal voltage ``p.v - n.v``.
    i_dis : A
        Discharge current.
    ocv : V
        Open-circuit voltage at the present SOC.
    P_loss : W
        Joule loss in R0, R1 and R2.
    """

    states = (
        State("SOC", "1", 1.0, "state of charge", lower=0.0, upper=1.0),
        State("v1", "V", 0.0, "voltage of RC pair 1 (R1 || C1)"),
        State("v2", "V", 0.0, "voltage of RC pair 2 (R2 || C2)"),
    )
    ports: tuple[Port, ...] = PINS
    variables = (
        Variable("v", "V", "terminal voltage p.v - n.v"),
        Variable("i_dis", "A", "discharge current (out of p, into n)"),
        Variable("ocv", "V", "open-circuit voltage OCV(SOC)"),
        Variable("P_loss", "W", "Joule loss in R0, R1, R2"),
    )
    relations: tuple[Relation, ...] = (
        Relation({"ocv": _ocv}, "OCV(SOC) table"),
        VOLTAGE,
        Relation({"i_dis": _i_dis_from_p, "p.i": _p_i_from_i_dis}, "discharge current i_dis = -p.i"),
        CONTINUITY,
        Relation(
            {"v": _terminal_voltage, "i_dis": _discharge_current},
            "terminal voltage v = ocv - v1 - v2 - R0 i_dis",
        ),
        Relation({"P_loss": _joule}, "Joule loss"),
    )
    derivatives = {
        "SOC": lambda i_dis, Q: -i_dis / Q,
        "v1": lambda i_dis, v1, R1, C1: (i_dis - v1 / R1) / C1,
        "v2": lambda i_dis, v2, R2, C2: (i_dis - v2 / R2) / C2,
    }

    def __init__(
        self,
        name: str,
        heat_port: bool = False,
        soc_table: Sequence[float] | np.ndarray = DEFAULT_SOC_TABLE,
        ocv_table: Sequence[float] | np.ndarray = DEFAULT_OCV_TABLE,
        **values: float | str,
    ) -> None:
        soc = np.asarray(soc_table, dtype=np.float64).reshape(-1)
        ocv = np.asarray(ocv_table, dtype=np.float64).reshape(-1)
        if soc.size < 2:
            raise ModelDefinitionError(f"parameter {name}.soc_table [1]: needs at least 2 breakpoints, got {soc.size}")
        if ocv.size != soc.size:
            raise ModelDefinitionError(
                f"parameter {name}.ocv_table [V]: expected {soc.size} values (one per soc_table breakpoint), "
                f"got {ocv.size}"
            )
        if np.all(np.isfinite(soc)) and np.any(np.diff(soc) <= 0.0):
            k = int(np.argmax(np.diff(soc) <= 0.0))
            raise ModelDefinitionError(
                f"parameter {name}.soc_table [1]: breakpoints must be strictly increasing "
                f"(soc_table[{k}] = {soc[k]:g} >= soc_table[{k + 1}] = {soc[k + 1]:g})"
            )
        n = int(soc.size)
        self.parameters = (
            Parameter("Q", "A*s", 9000.0, "capacity (2.5 A*h)", lower=0.0, strict=True),
            Parameter("R0", "Ohm", 0.02, "series resistance", lower=0.0, strict=True),
            Parameter("R1", "Ohm", 0.015, "RC pair 1 resistance", lower=0.0, strict=True),
            Parameter("C1", "F", 2000.0, "RC pair 1 capacitance", lower=0.0, strict=True),
            Parameter("R2", "Ohm", 0.02, "RC pair 2 resistance", lower=0.0, strict=True),
            Parameter("C2", "F", 30000.0, "RC pair 2 capacitance", lower=0.0, strict=True),
            Parameter("soc_table", "1", tuple(float(x) for x in soc), "OCV breakpoints in SOC", size=n),
            Parameter("ocv_table", "V", tuple(float(x) for x in ocv), "OCV at the breakpoints", lower=0.0, size=n),
        )
        self.heat_port = bool(heat_port)
        if self.heat_port:
            self.ports = (*PINS, HeatPort("heat", "cell body: receives P_loss"))
            self.relations = (*type(self).relations, HEAT_RELATION)
        super().__init__(name, **values)


__all__ = ["DEFAULT_OCV_TABLE", "DEFAULT_SOC_TABLE", "LiIonCell", "interp_table"]
