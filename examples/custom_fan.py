"""A user-defined domain: a cooling fan blowing air through a heat sink duct.

Shows how to write your own components in a few lines of numba-compatible Python and compose
them with the built-in thermal library. Run: ``python examples/custom_fan.py``.

Physics
-------
Air-flow port (user-defined kind): gauge pressure ``p`` [Pa] across, volume flow ``V_flow``
[m3/s] through (into the component).

* ``Fan``: pressure rise ``dp = a n^2 - c V|V|`` at speed ``n`` [rad/s] (quadratic fan curve).
* ``Duct``: air inertance and quadratic loss, ``I dV/dt = dp - K V|V|`` with
  ``dp = inlet.p - outlet.p``; the flow ``V`` is its state.
* ``AirAmbient``: the open atmosphere, ``p = 0`` (gauge).
* ``FlowCooledSurface``: convection whose film coefficient rises with the air speed through the
  duct, ``h = h0 + h1 (V/A_duct)^0.8`` (a Dittus-Boelter-like law), ``Q = h A (T_s - T_air)``.
"""

from __future__ import annotations

import math

from phystwin import Component, Parameter, PortKind, Relation, State, System, Variable, simulate
from phystwin.physics import HeatPort, Port
from phystwin.physics.thermal import HeatCapacitor, PrescribedHeatFlow, PrescribedTemperature

AIRFLOW = PortKind("airflow", across="p", across_unit="Pa", through="V_flow", through_unit="m3/s")


def AirPort(name: str) -> Port:
    return Port(name, AIRFLOW)


class Fan(Component):
    """Quadratic fan curve ``outlet.p - inlet.p = a n^2 - c V|V|``; ``V = inlet.V_flow``."""

    inputs = (Variable("n", "rad/s", "fan speed"),)
    parameters = (
        Parameter("a", "Pa*s2/rad2", 2.0e-3, "pressure coefficient", lower=0.0),
        Parameter("c", "Pa*s2/m6", 4.0e4, "flow loss coefficient", lower=0.0),
    )
    variables = (Variable("dp", "Pa", "pressure rise"),)
    ports = (AirPort("inlet"), AirPort("outlet"))
    relations = (
        Relation({"dp": lambda n, inlet_V_flow, a, c: a * n * n - c * inlet_V_flow * abs(inlet_V_flow)}),
        Relation({"outlet.p": lambda inlet_p, dp: inlet_p + dp, "inlet.p": lambda outlet_p, dp: outlet_p - dp}),
        Relation(
            {"inlet.V_flow": lambda outlet_V_flow: -outlet_V_flow, "outlet.V_flow": lambda inlet_V_flow: -inlet_V_flow}
        ),
    )


class Duct(Component):
    """Air column with inertance [Pa*s2/m3] and loss ``K`` [Pa*s2/m6]: ``inertance dV/dt = dp - K V|V|``."""

    states = (State("V", "m3/s", 0.0, "volume flow"),)
    parameters = (
        Parameter("inertance", "Pa*s2/m3", 50.0, "air inertance rho*L/A", lower=0.0, strict=True),
        Parameter("K", "Pa*s2/m6", 1.0e5, "quadratic loss coefficient", lower=0.0),
    )
    ports = (AirPort("inlet"), AirPort("outlet"))
    relations = (
        Relation({"inlet.V_flow": lambda V: V}),
        Relation({"outlet.V_flow": lambda V: -V}),
    )
    derivatives = {"V": lambda inlet_p, outlet_p, V, inertance, K: (inlet_p - outlet_p - K * V * abs(V)) / inertance}


class AirAmbient(Component):
    """Open atmosphere: gauge pressure 0 Pa."""

    ports = (AirPort("port"),)
    relations = (Relation({"port.p": lambda: 0.0}),)


class FlowCooledSurface(Component):
    """Convection with a flow-dependent film coefficient ``h = h0 + h1 (V/A_duct)^0.8``."""

    inputs = (Variable("V_flow", "m3/s", "air flow over the surface"),)
    parameters = (
        Parameter("h0", "W/(m2*K)", 5.0, "natural convection", lower=0.0),
        Parameter("h1", "W/(m2*K)/(m/s)^0.8", 12.0, "forced convection gain per (m/s)^0.8", lower=0.0),
        Parameter("A_duct", "m2", 2.0e-3, "duct cross section", lower=0.0, strict=True),
        Parameter("A", "m2", 0.05, "cooled surface area", lower=0.0, strict=True),
    )
    variables = (Variable("h", "W/(m2*K)", "film coefficient"),)
    ports = (HeatPort("solid"), HeatPort("air"))
    relations = (
        Relation({"h": lambda V_flow, h0, h1, A_duct: h0 + h1 * (abs(V_flow) / A_duct) ** 0.8}),
        Relation({"solid.Q_flow": lambda solid_T, air_T, h, A: h * A * (solid_T - air_T)}),
        Relation({"air.Q_flow": lambda solid_Q_flow: -solid_Q_flow}),
    )


def build() -> System:
    """A 40 W electronics block cooled by a fan through a duct."""
    s = System("fan_cooled_block")
    s.add(Fan("fan"))
    s.add(Duct("duct"))
    s.add(AirAmbient("atmosphere"))
    s.add(HeatCapacitor("block", C=400.0, T=298.15))
    s.add(FlowCooledSurface("fins"))
    s.add(PrescribedTemperature("air"))
    s.add(PrescribedHeatFlow("electronics"))
    s.connect("atmosphere.port", "fan.inlet")
    s.connect("fan.outlet", "duct.inlet")
    s.connect("duct.outlet", "atmosphere.port")
    s.connect("duct.V", "fins.V_flow")  # a signal: the duct's flow state drives the film coefficient
    s.connect("block.port", "fins.solid")
    s.connect("fins.air", "air.port")
    s.connect("electronics.port", "block.port")
    s.input("fan_speed", "rad/s", "fan.n")
    s.input("power", "W", "electronics.Q_flow")
    s.input("T_air", "K", "air.T", default=298.15)
    s.output("flow", "duct.V")
    s.output("T_block", "block.T")
    s.output("h", "fins.h")
    return s


def steady_flow(n: float, a: float = 2.0e-3, c: float = 4.0e4, K: float = 1.0e5) -> float:
    """Operating point where the fan curve meets the duct loss: ``a n^2 = (c + K) V^2``."""
    return n * math.sqrt(a / (c + K))


if __name__ == "__main__":
    model = build().compile()
    traj = simulate(model, (0.0, 3600.0), inputs={"fan_speed": 300.0, "power": 40.0}, save=60.0)
    print(model)
    print(f"steady flow {traj['flow'][-1]:.5f} m3/s (fan curve x duct: {steady_flow(300.0):.5f} m3/s)")
    print(f"block temperature after 1 h: {traj['T_block'][-1] - 273.15:.2f} degC, h = {traj['h'][-1]:.1f} W/(m2 K)")
