"""A twin of your own, outside the library: a canned-motor coolant pump.

A 24 V DC motor drives a centrifugal pump that circulates coolant through a pipe loop and a
radiator. The coolant also cools the motor winding, so the electrical, mechanical, hydraulic and
thermal parts all feed back on each other:

* **electrical**: ``supply`` (input ``voltage``) -> ``armature_R`` (resistance rising with the winding
  temperature, its Joule loss heating the winding) -> ``armature_L`` -> ``emf`` (DcMachine) -> ``ground``;
* **mechanical**: ``rotor`` (motor and impeller inertia) with ``bearings`` friction (heating the coolant);
* **hydraulic** (user-defined :class:`CentrifugalPump`): the impeller's pressure rise against the pipe
  loss drives the flow; the pipe loss falls as the warm coolant gets thinner, and grows with fouling;
* **thermal**: ``winding`` -> ``winding_to_coolant`` -> ``coolant`` -> ``radiator`` (h A) -> ``ambient``
  (input ``ambient_temperature``); the coolant receives the pump's and the bearings' losses.

Nothing here is part of phystwin: the configs name this file, and every command works with it::

    phystwin twins --config examples/user_twin/pump.toml
    phystwin simulate examples/user_twin/pump.toml --out truth.h5
    phystwin generate examples/user_twin/pump.toml --truth truth.h5 --out sensors.h5
    phystwin estimate examples/user_twin/pump.toml --data sensors.h5 --out estimate.h5
    phystwin bench serve examples/user_twin/pump_bench.toml --url udp://127.0.0.1:5005 &
    phystwin run examples/user_twin/pump.toml --feed udp://127.0.0.1:5005 --out run.h5
    phystwin template --file examples/user_twin/pump_twin.py

Run it as a script to print the operating point: ``python examples/user_twin/pump_twin.py``.
"""

from __future__ import annotations

from phystwin import Component, Parameter, Relation, State, System, Variable, simulate
from phystwin.physics import Flange, HeatPort
from phystwin.physics.electrical import DcMachine, Ground, Inductor, Resistor, VoltageSource
from phystwin.physics.mechanical import Fixed, Friction, Inertia
from phystwin.physics.thermal import Convection, HeatCapacitor, PrescribedTemperature, ThermalResistor

T0 = 298.15
"""Start and ambient temperature [K]."""


def pipe_loss(heat_T, K_ref, fouling, beta, T_ref):
    """Pipe loss coefficient [Pa*s2/m6] at the coolant temperature: thinner when warm, higher when fouled."""
    return K_ref * fouling * (1.0 - beta * (heat_T - T_ref))


class CentrifugalPump(Component):
    """A centrifugal pump and the pipe loop it drives (a user-defined component).

    Equations::

        dp      = a w^2 - c Q|Q|                           pressure rise of the impeller
        K       = K_ref fouling (1 - beta (T - T_ref))       pipe loss at the coolant temperature T
        I dQ/dt = dp - K Q|Q|                              the water column of the loop
        tau     = a w Q / eta                              torque the impeller takes from the shaft
        P_loss  = w tau - (dp - K Q|Q|) Q                  heat into the coolant (all but the kinetic
                                                           energy stored in the moving water)

    States
    ------
    Q : m3/s
        Volume flow through the loop.

    Ports
    -----
    shaft : rotational
        Impeller shaft (``w`` its speed, ``tau`` the torque the pump takes in).
    heat : heat
        The coolant: its temperature sets the pipe loss, it receives ``P_loss``.
    """

    states = (State("Q", "m3/s", 0.0, "volume flow through the loop"),)
    parameters = (
        Parameter("a", "Pa*s2/rad2", 0.75, "pressure coefficient of the impeller", lower=0.0),
        Parameter("c", "Pa*s2/m6", 2.0e10, "internal flow loss of the pump", lower=0.0),
        Parameter("K_ref", "Pa*s2/m6", 1.0e11, "pipe loss coefficient at T_ref, clean", lower=0.0, strict=True),
        Parameter("fouling", "1", 1.0, "pipe fouling factor (1 = clean)", lower=0.0, strict=True),
        Parameter("beta", "1/K", 5.0e-3, "fall of the pipe loss per kelvin (viscosity)", lower=0.0, upper=0.01),
        Parameter("T_ref", "K", 293.15, "reference temperature of K_ref", lower=0.0, strict=True),
        Parameter("eta", "1", 0.75, "hydraulic efficiency", lower=0.0, upper=1.0, strict=True),
        Parameter("inertance", "Pa*s2/m3", 1.0e7, "water column rho L / A", lower=0.0, strict=True),
    )
    variables = (
        Variable("dp", "Pa", "pressure rise"),
        Variable("K", "Pa*s2/m6", "pipe loss coefficient at the coolant temperature"),
        Variable("P_hyd", "W", "hydraulic power dp Q"),
        Variable("P_loss", "W", "heat delivered to the coolant"),
    )
    ports = (Flange("shaft", "impeller shaft"), HeatPort("heat", "the coolant"))
    relations = (
        Relation({"dp": lambda shaft_w, Q, a, c: a * shaft_w * shaft_w - c * Q * abs(Q)}, "impeller pressure rise"),
        Relation({"K": pipe_loss}, "pipe loss at the coolant temperature"),
        Relation({"shaft.tau": lambda shaft_w, Q, a, eta: a * shaft_w * Q / eta}, "impeller torque"),
        Relation({"P_hyd": lambda dp, Q: dp * Q}, "hydraulic power"),
        Relation(
            {"P_loss": lambda shaft_w, shaft_tau, dp, K, Q: shaft_w * shaft_tau - (dp - K * Q * abs(Q)) * Q},
            "shaft power not stored in the moving water",
        ),
        Relation({"heat.Q_flow": lambda P_loss: -P_loss}, "losses heat the coolant"),
    )
    derivatives = {"Q": lambda dp, K, Q, inertance: (dp - K * Q * abs(Q)) / inertance}


def build() -> System:
    """Canned-motor coolant pump: DC motor, centrifugal pump and pipe loop, winding and coolant temperatures."""
    s = System("coolant_pump", "24 V DC motor driving a centrifugal coolant pump; the coolant cools the motor")
    # electrical
    s.add(VoltageSource("supply"))
    s.add(Ground("ground"))
    s.add(Resistor("armature_R", R_ref=0.5, alpha=3.93e-3, T_ref=293.15, heat_port=True))
    s.add(Inductor("armature_L", L=5.0e-3))
    s.add(DcMachine("emf", k=0.05))
    s.connect("supply.p", "armature_R.p")
    s.connect("armature_R.n", "armature_L.p")
    s.connect("armature_L.n", "emf.p")
    s.connect("emf.n", "ground.p")
    s.connect("supply.n", "ground.p")
    # mechanical and hydraulic
    s.add(Inertia("rotor", J=2.0e-4))
    s.add(Friction("bearings", b=2.0e-5, tau_c=5.0e-3, w_c=1.0, heat_port=True))
    s.add(Fixed("frame"))
    s.add(CentrifugalPump("pump"))
    s.connect("emf.flange", "rotor.flange_a")
    s.connect("rotor.flange_b", "pump.shaft")
    s.connect("rotor.flange_b", "bearings.flange_a")
    s.connect("bearings.flange_b", "frame.flange")
    # thermal
    s.add(HeatCapacitor("winding", C=40.0, T=T0))
    s.add(ThermalResistor("winding_to_coolant", R=0.4))
    s.add(HeatCapacitor("coolant", C=8000.0, T=T0))
    s.add(Convection("radiator", h=50.0, A=0.2))
    s.add(PrescribedTemperature("ambient"))
    s.connect("armature_R.heat", "winding.port")
    s.connect("winding.port", "winding_to_coolant.a")
    s.connect("winding_to_coolant.b", "coolant.port")
    s.connect("pump.heat", "coolant.port")
    s.connect("bearings.heat", "coolant.port")
    s.connect("coolant.port", "radiator.solid")
    s.connect("radiator.fluid", "ambient.port")
    # interface
    s.input("voltage", "V", "supply.V", description="motor supply voltage")
    s.input("ambient_temperature", "K", "ambient.T", default=T0, description="air temperature at the radiator")
    s.output("current", "armature_L.i", description="motor current")
    s.output("speed", "rotor.w", description="pump speed")
    s.output("flow", "pump.Q", description="coolant flow")
    s.output("pressure", "pump.dp", description="pump pressure rise")
    s.output("coolant_temperature", "coolant.T", description="coolant temperature")
    s.output("winding_temperature", "winding.T", description="motor winding temperature (not measured)")
    s.output("hydraulic_power", "pump.P_hyd", description="hydraulic power dp Q")
    s.output("heat_to_ambient", "ambient.Q_in", description="heat the radiator gives off")
    return s


if __name__ == "__main__":
    model = build().compile()
    traj = simulate(model, (0.0, 3600.0), inputs={"voltage": 24.0}, save=60.0)
    print(model)
    for name, unit in (("speed", "rad/s"), ("current", "A"), ("flow", "m3/s"), ("pressure", "Pa")):
        print(f"{name:>20s}: {traj[name][-1]:.5g} {unit}")
    for name in ("coolant_temperature", "winding_temperature"):
        print(f"{name:>20s}: {traj[name][-1] - 273.15:.2f} degC after 1 h")
