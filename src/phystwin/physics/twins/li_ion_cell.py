"""Reference twin: a cylindrical Li-ion cell (18650 class) with core and surface thermal nodes.

Composed from library components:

* ``cell`` (LiIonCell: OCV(SOC) table, series resistance ``R0``, two RC pairs, coulomb counting; its
  Joule loss heats the core) discharged by ``load`` (CurrentSource, input ``current``, positive =
  discharge) with both negative terminals on ``ground``;
* thermal: ``core`` -> ``core_to_surface`` -> ``surface`` -> ``surface_convection`` (h A) ->
  ``ambient`` (input ``ambient_temperature``).

Governing equations (states ``SOC``, ``v1``, ``v2``, ``T_core``, ``T_surf``)::

    dSOC/dt = -i / Q                       (Q = 2.5 A*h = 9000 A*s)
    C1 dv1/dt = i - v1 / R1,   C2 dv2/dt = i - v2 / R2
    v = OCV(SOC) - v1 - v2 - R0 i
    C_core dT_core/dt = R0 i^2 + v1^2/R1 + v2^2/R2 - (T_core - T_surf) / R_cs
    C_surf dT_surf/dt = (T_core - T_surf) / R_cs - h A (T_surf - T_amb)
"""

from __future__ import annotations

from phystwin.physics.electrical import CurrentSource, Ground, LiIonCell
from phystwin.physics.system import System
from phystwin.physics.thermal import Convection, HeatCapacitor, PrescribedTemperature, ThermalResistor
from phystwin.physics.twins import BUILTIN, TwinSpec, register_twin

T0 = 298.15
"""Default initial and ambient temperature [K]."""


def build() -> System:
    """The Li-ion cell twin (2.5 Ah, 18650 class)."""
    s = System(
        "li_ion_cell", "Li-ion cell: 2-RC equivalent circuit, OCV(SOC), coulomb counting, core/surface thermal nodes"
    )
    s.add(LiIonCell("cell", heat_port=True, Q="2.5 A*h", R0=0.02, R1=0.015, C1=2000.0, R2=0.02, C2=30000.0, SOC=1.0))
    s.add(CurrentSource("load"))
    s.add(Ground("ground"))
    s.connect("cell.p", "load.p")
    s.connect("load.n", "ground.p")
    s.connect("cell.n", "ground.p")
    s.add(HeatCapacitor("core", C=40.0, T=T0))
    s.add(ThermalResistor("core_to_surface", R=2.0))
    s.add(HeatCapacitor("surface", C=5.0, T=T0))
    s.add(Convection("surface_convection", h=10.0, A=4.2e-3))
    s.add(PrescribedTemperature("ambient"))
    s.connect("cell.heat", "core.port")
    s.connect("core.port", "core_to_surface.a")
    s.connect("core_to_surface.b", "surface.port")
    s.connect("surface.port", "surface_convection.solid")
    s.connect("surface_convection.fluid", "ambient.port")
    s.input("current", "A", "load.I", description="cell current, positive = discharge")
    s.input("ambient_temperature", "K", "ambient.T", default=T0, description="ambient air temperature")
    s.output("terminal_voltage", "cell.v", description="terminal voltage")
    s.output("surface_temperature", "surface.T", description="can surface temperature")
    s.output("SOC", "cell.SOC", description="state of charge")
    s.output("core_temperature", "core.T", description="core temperature (not measurable in service)")
    s.output("ocv", "cell.ocv", description="open-circuit voltage at the present SOC")
    s.output("joule_loss", "cell.P_loss", description="heat generated in the cell")
    s.output("heat_to_ambient", "ambient.Q_in", description="heat convected to ambient")
    return s


SPEC = register_twin(
    TwinSpec(
        name="li_ion_cell",
        build=build,
        description="Li-ion cell: 2-RC equivalent circuit with OCV(SOC), coulomb counting, core/surface thermal nodes",
        main_outputs=("terminal_voltage", "SOC", "surface_temperature", "core_temperature"),
        kind=BUILTIN,
        origin="phystwin.physics.twins.li_ion_cell:build",
    )
)
