"""Lumped thermal components: capacitors, conductors, convection, radiation, boundaries, networks.

All temperatures in K, heat flows in W (positive into the component through the port).
"""

from phystwin.physics.thermal.elements import (
    BodyRadiation as BodyRadiation,
)
from phystwin.physics.thermal.elements import (
    Convection as Convection,
)
from phystwin.physics.thermal.elements import (
    FixedTemperature as FixedTemperature,
)
from phystwin.physics.thermal.elements import (
    HeatCapacitor as HeatCapacitor,
)
from phystwin.physics.thermal.elements import (
    PrescribedHeatFlow as PrescribedHeatFlow,
)
from phystwin.physics.thermal.elements import (
    PrescribedTemperature as PrescribedTemperature,
)
from phystwin.physics.thermal.elements import (
    ThermalConductor as ThermalConductor,
)
from phystwin.physics.thermal.elements import (
    ThermalResistor as ThermalResistor,
)
from phystwin.physics.thermal.network import thermal_network as thermal_network

__all__ = [
    "BodyRadiation",
    "Convection",
    "FixedTemperature",
    "HeatCapacitor",
    "PrescribedHeatFlow",
    "PrescribedTemperature",
    "ThermalConductor",
    "ThermalResistor",
    "thermal_network",
]
