"""Reference twin: a DC motor drive with its thermal network.

Composed from library components (nothing hand-written as one function):

* armature circuit: ``supply`` (VoltageSource, input ``voltage``) -> ``armature_R`` (Resistor with
  temperature coefficient, its Joule loss heating the winding) -> ``armature_L`` (Inductor) ->
  ``emf`` (DcMachine: back-EMF ``k w``, torque ``k i``) -> ``ground``;
* mechanics: ``rotor`` (Inertia of rotor and load together), ``friction`` (viscous plus smoothed
  Coulomb, its loss heating the housing through the bearings), ``load`` (load torque, input
  ``load_torque``, opposing the motor);
* thermal network: ``winding`` -> ``winding_to_stator`` -> ``stator`` -> ``stator_to_housing`` ->
  ``housing`` -> ``housing_convection`` (h A) -> ``ambient`` (input ``ambient_temperature``).

Governing equations (states ``i``, ``phi``, ``w``, ``T_w``, ``T_s``, ``T_h``)::

    R(T_w) = R_ref (1 + alpha (T_w - T_ref))
    L di/dt   = V - R(T_w) i - k w
    dphi/dt   = w
    J dw/dt   = k i - b w - tau_c tanh(w / w_c) - tau_load
    C_w dT_w/dt = R(T_w) i^2 - (T_w - T_s) / R_ws
    C_s dT_s/dt = (T_w - T_s) / R_ws - (T_s - T_h) / R_sh
    C_h dT_h/dt = (T_s - T_h) / R_sh + b w^2 + tau_c tanh(w / w_c) w - h A (T_h - T_amb)

Nominal parameters describe a ~200 W, 24 V servo motor with L/R = 1e-2 s; the *stiff* variant sets
``armature_L.L = 5e-5`` H (L/R = 1e-4 s against thermal time constants of ~1000 s).
"""

from __future__ import annotations

from phystwin.physics.component import Component, Relation, Variable
from phystwin.physics.electrical import DcMachine, Ground, Inductor, Resistor, VoltageSource
from phystwin.physics.mechanical import Fixed, Friction, Inertia
from phystwin.physics.ports import Flange
from phystwin.physics.system import System
from phystwin.physics.thermal import Convection, HeatCapacitor, PrescribedTemperature, ThermalResistor
from phystwin.physics.twins import BUILTIN, TwinSpec, register_twin

T0 = 298.15
"""Default initial and ambient temperature [K]."""

STIFF_PARAMETERS = {"armature_L.L": 5.0e-5}
"""Parameter overrides of the stiff benchmark variant (L/R = 1e-4 s)."""


class LoadTorque(Component):
    """A load absorbing the torque ``tau_load`` [N*m] from the shaft: ``flange.tau = tau_load``
    (positive load torque opposes positive rotation). Its mechanical power ``P = tau_load w`` [W]
    leaves the twin."""

    inputs = (Variable("tau_load", "N*m", "load torque"),)
    variables = (Variable("P", "W", "mechanical power delivered to the load"),)
    ports = (Flange("flange"),)
    relations = (
        Relation({"flange.tau": lambda tau_load: tau_load}, "the load absorbs tau_load"),
        Relation({"P": lambda tau_load, flange_w: tau_load * flange_w}, "shaft power to the load"),
    )


def build() -> System:
    """The DC motor drive twin (nominal, non-stiff parameters)."""
    s = System("dc_motor", "DC motor drive with armature R(T), L, back-EMF, friction and a 3-node thermal network")
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
    # mechanical
    s.add(Inertia("rotor", J=1.0e-4))
    s.add(Friction("friction", b=1.0e-5, tau_c=0.01, w_c=1.0, heat_port=True))
    s.add(Fixed("frame"))
    s.add(LoadTorque("load"))
    s.connect("emf.flange", "rotor.flange_a")
    s.connect("rotor.flange_b", "friction.flange_a")
    s.connect("friction.flange_b", "frame.flange")
    s.connect("rotor.flange_b", "load.flange")
    # thermal
    s.add(HeatCapacitor("winding", C=50.0, T=T0))
    s.add(ThermalResistor("winding_to_stator", R=0.5))
    s.add(HeatCapacitor("stator", C=300.0, T=T0))
    s.add(ThermalResistor("stator_to_housing", R=0.3))
    s.add(HeatCapacitor("housing", C=800.0, T=T0))
    s.add(Convection("housing_convection", h=25.0, A=0.04))
    s.add(PrescribedTemperature("ambient"))
    s.connect("armature_R.heat", "winding.port")
    s.connect("winding.port", "winding_to_stator.a")
    s.connect("winding_to_stator.b", "stator.port")
    s.connect("stator.port", "stator_to_housing.a")
    s.connect("stator_to_housing.b", "housing.port")
    s.connect("friction.heat", "housing.port")
    s.connect("housing.port", "housing_convection.solid")
    s.connect("housing_convection.fluid", "ambient.port")
    # interface
    s.input("voltage", "V", "supply.V", description="armature supply voltage")
    s.input(
        "load_torque",
        "N*m",
        "load.tau_load",
        default=0.0,
        description="load torque, positive against positive rotation (an active load)",
    )
    s.input("ambient_temperature", "K", "ambient.T", default=T0, description="ambient air temperature")
    s.output("current", "armature_L.i", description="armature current")
    s.output("speed", "rotor.w", description="rotor speed")
    s.output("housing_temperature", "housing.T", description="housing temperature")
    s.output("winding_temperature", "winding.T", description="winding temperature (not measurable in service)")
    s.output("copper_loss", "armature_R.P_loss", description="Joule loss in the armature")
    s.output("friction_loss", "friction.P_loss", description="bearing and brush friction loss")
    s.output("load_power", "load.P", description="mechanical power to the load")
    s.output("heat_to_ambient", "ambient.Q_in", description="heat convected to ambient")
    return s


SPEC = register_twin(
    TwinSpec(
        name="dc_motor",
        build=build,
        description=(
            "DC motor drive: armature R(T)-L-EMF, rotor with friction and load, winding/stator/housing thermal network"
        ),
        main_outputs=("current", "speed", "winding_temperature", "housing_temperature"),
        kind=BUILTIN,
        origin="phystwin.physics.twins.dc_motor:build",
    )
)
