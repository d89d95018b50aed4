"""Port kinds: what components connect by.

A port carries one *across* variable (equal at every port of a connection) and one *through*
variable (positive into the component; the through variables of a connection sum to zero):

==================  ===========  =========  ============  =========
kind                across       unit       through       unit
==================  ===========  =========  ============  =========
heat                ``T``        K          ``Q_flow``    W
rotational          ``w``        rad/s      ``tau``       N*m
translational       ``v``        m/s        ``f``         N
electrical          ``v``        V          ``i``         A
==================  ===========  =========  ============  =========

Users add their own kinds with :class:`PortKind` (for instance an air-flow port with pressure [Pa]
across and volume flow [m3/s] through); connections between different kinds are refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PortKind:
    """A physical domain: names and SI units of its across and through variables."""

    name: str
    across: str
    across_unit: str
    through: str
    through_unit: str


HEAT = PortKind("heat", "T", "K", "Q_flow", "W")
ROTATIONAL = PortKind("rotational", "w", "rad/s", "tau", "N*m")
TRANSLATIONAL = PortKind("translational", "v", "m/s", "f", "N")
ELECTRICAL = PortKind("electrical", "v", "V", "i", "A")


@dataclass(frozen=True)
class Port:
    """A named port of a component, of one :class:`PortKind`."""

    name: str
    kind: PortKind
    description: str = ""

    @property
    def across(self) -> str:
        """Qualified across-variable name inside the component, e.g. ``a.T``."""
        return f"{self.name}.{self.kind.across}"

    @property
    def through(self) -> str:
        """Qualified through-variable name inside the component, e.g. ``a.Q_flow``."""
        return f"{self.name}.{self.kind.through}"


def HeatPort(name: str, description: str = "") -> Port:
    """Thermal port: temperature ``T`` [K] across, heat flow ``Q_flow`` [W] into the component."""
    return Port(name, HEAT, description)


def Flange(name: str, description: str = "") -> Port:
    """Rotational flange: speed ``w`` [rad/s] across, torque ``tau`` [N*m] into the component."""
    return Port(name, ROTATIONAL, description)


def TranslationalFlange(name: str, description: str = "") -> Port:
    """Translational flange: velocity ``v`` [m/s] across, force ``f`` [N] into the component."""
    return Port(name, TRANSLATIONAL, description)


def Pin(name: str, description: str = "") -> Port:
    """Electrical pin: potential ``v`` [V] across, current ``i`` [A] into the component."""
    return Port(name, ELECTRICAL, description)
