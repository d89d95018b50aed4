"""Thermal elements.

Sign convention: a port's ``Q_flow`` [W] is the heat flowing *into* the component through that
port; at a node the ``Q_flow`` of all connected ports sum to zero.
"""

from __future__ import annotations

from phystwin.physics.component import Component, Parameter, Relation, State, Variable
from phystwin.physics.ports import HeatPort
from phystwin.units import Constant

SIGMA = Constant(5.670374419e-8, "W/(m2*K4)")
"""Stefan-Boltzmann constant [W/(m2 K4)] (a float; its unit is read by the dimension check)."""


def _opposite_flow(a_Q_flow):  # type: ignore[no-untyped-def]
    return -a_Q_flow


def _opposite_flow_b(b_Q_flow):  # type: ignore[no-untyped-def]
    return -b_Q_flow


_LOSSLESS_TWO_PORT = Relation(
    {"b.Q_flow": _opposite_flow, "a.Q_flow": _opposite_flow_b},
    "heat leaving through b equals heat entering through a",
)


class HeatCapacitor(Component):
    """Lumped thermal mass.

    ``C dT/dt = port.Q_flow``;  ``port.T = T``.

    States: ``T`` [K]. Parameters: ``C`` [J/K] > 0. Ports: ``port`` (heat).
    """

    states = (State("T", "K", 293.15, "temperature"),)
    parameters = (Parameter("C", "J/K", 1000.0, "heat capacity", lower=0.0, strict=True),)
    ports = (HeatPort("port"),)
    relations = (Relation({"port.T": lambda T: T}, "port temperature is the mass temperature"),)
    derivatives = {"T": lambda port_Q_flow, C: port_Q_flow / C}


class ThermalConductor(Component):
    """Linear conduction between two ports.

    ``a.Q_flow = G (a.T - b.T)``;  ``b.Q_flow = -a.Q_flow``.

    Parameters: ``G`` [W/K] >= 0 (thermal conductance). Ports: ``a``, ``b`` (heat).
    """

    parameters = (Parameter("G", "W/K", 1.0, "thermal conductance", lower=0.0),)
    ports = (HeatPort("a"), HeatPort("b"))
    relations = (
        Relation(
            {
                "a.Q_flow": lambda a_T, b_T, G: G * (a_T - b_T),
                "a.T": lambda b_T, a_Q_flow, G: b_T + a_Q_flow / G,
                "b.T": lambda a_T, a_Q_flow, G: a_T - a_Q_flow / G,
            },
            "Fourier conduction",
        ),
        _LOSSLESS_TWO_PORT,
    )


class ThermalResistor(Component):
    """Linear conduction given as a thermal resistance.

    ``a.Q_flow = (a.T - b.T) / R``;  ``b.Q_flow = -a.Q_flow``.

    Parameters: ``R`` [K/W] > 0. Ports: ``a``, ``b`` (heat).
    """

    parameters = (Parameter("R", "K/W", 1.0, "thermal resistance", lower=0.0, strict=True),)
    ports = (HeatPort("a"), HeatPort("b"))
    relations = (
        Relation(
            {
                "a.Q_flow": lambda a_T, b_T, R: (a_T - b_T) / R,
                "a.T": lambda b_T, a_Q_flow, R: b_T + a_Q_flow * R,
                "b.T": lambda a_T, a_Q_flow, R: a_T - a_Q_flow * R,
            },
            "Fourier conduction",
        ),
        _LOSSLESS_TWO_PORT,
    )


class Convection(Component):
    """Newton convection from a solid surface to a fluid.

    ``solid.Q_flow = h A (solid.T - fluid.T)``;  ``fluid.Q_flow = -solid.Q_flow``.

    Parameters: ``h`` [W/(m2 K)] >= 0 (film coefficient), ``A`` [m2] > 0 (area).
    Ports: ``solid``, ``fluid`` (heat).
    """

    parameters = (
        Parameter("h", "W/(m2*K)", 10.0, "convective heat transfer coefficient", lower=0.0),
        Parameter("A", "m2", 1.0, "surface area", lower=0.0, strict=True),
    )
    ports = (HeatPort("solid"), HeatPort("fluid"))
    relations = (
        Relation(
            {
                "solid.Q_flow": lambda solid_T, fluid_T, h, A: h * A * (solid_T - fluid_T),
                "solid.T": lambda fluid_T, solid_Q_flow, h, A: fluid_T + solid_Q_flow / (h * A),
            },
            "Newton's law of cooling",
        ),
        Relation(
            {"fluid.Q_flow": lambda solid_Q_flow: -solid_Q_flow, "solid.Q_flow": lambda fluid_Q_flow: -fluid_Q_flow},
            "heat leaving the surface enters the fluid",
        ),
    )


class BodyRadiation(Component):
    """Grey-body radiation between two surfaces.

    ``a.Q_flow = sigma * Gr * (a.T^4 - b.T^4)``, ``Gr = epsilon * A`` (radiative exchange
    area); ``b.Q_flow = -a.Q_flow``.

    Parameters: ``epsilon`` [1] in [0, 1], ``A`` [m2] > 0. Ports: ``a``, ``b`` (heat).
    """

    parameters = (
        Parameter("epsilon", "1", 0.9, "emissivity (view factor included)", lower=0.0, upper=1.0),
        Parameter("A", "m2", 1.0, "radiating area", lower=0.0, strict=True),
    )
    ports = (HeatPort("a"), HeatPort("b"))
    relations = (
        Relation(
            {"a.Q_flow": lambda a_T, b_T, epsilon, A: SIGMA * epsilon * A * (a_T**4 - b_T**4)},
            "Stefan-Boltzmann",
        ),
        _LOSSLESS_TWO_PORT,
    )


class PrescribedTemperature(Component):
    """A boundary whose temperature is an input signal (e.g. ambient).

    ``port.T = T``. Inputs: ``T`` [K]. Ports: ``port`` (heat). ``Q_in`` [W] is the heat the
    boundary absorbs from the system.
    """

    inputs = (Variable("T", "K", "boundary temperature"),)
    variables = (Variable("Q_in", "W", "heat flowing into the boundary"),)
    ports = (HeatPort("port"),)
    relations = (
        Relation({"port.T": lambda T: T}, "prescribed temperature"),
        Relation({"Q_in": lambda port_Q_flow: port_Q_flow}, "heat absorbed"),
    )


class FixedTemperature(Component):
    """A boundary at a constant temperature parameter ``T`` [K]. Ports: ``port`` (heat)."""

    parameters = (Parameter("T", "K", 293.15, "boundary temperature", lower=0.0, strict=True),)
    variables = (Variable("Q_in", "W", "heat flowing into the boundary"),)
    ports = (HeatPort("port"),)
    relations = (
        Relation({"port.T": lambda T: T}, "fixed temperature"),
        Relation({"Q_in": lambda port_Q_flow: port_Q_flow}, "heat absorbed"),
    )


class PrescribedHeatFlow(Component):
    """A heat source whose power is an input signal.

    ``port.Q_flow = -Q_flow`` (the power ``Q_flow`` [W] flows out of the source into the node).
    Inputs: ``Q_flow`` [W]. Ports: ``port`` (heat).
    """

    inputs = (Variable("Q_flow", "W", "heat injected into the connected node"),)
    ports = (HeatPort("port"),)
    relations = (Relation({"port.Q_flow": lambda Q_flow: -Q_flow}, "prescribed heat flow"),)
