"""Lumped electrical elements (pin: potential ``v`` [V], current ``i`` [A] into the component).

Two-pin elements: ``v = p.v - n.v``, ``i = p.i`` (from p to n through the element). Dissipative
elements (:class:`Resistor`, :class:`LiIonCell`) expose ``P_loss`` [W] and, built with
``heat_port=True``, deliver it to a heat port ``heat``.
"""

from phystwin.physics.electrical.battery import LiIonCell as LiIonCell
from phystwin.physics.electrical.elements import Capacitor as Capacitor
from phystwin.physics.electrical.elements import CurrentSource as CurrentSource
from phystwin.physics.electrical.elements import Ground as Ground
from phystwin.physics.electrical.elements import Inductor as Inductor
from phystwin.physics.electrical.elements import Resistor as Resistor
from phystwin.physics.electrical.elements import VoltageSource as VoltageSource
from phystwin.physics.electrical.machines import DcMachine as DcMachine

__all__ = [
    "Capacitor",
    "CurrentSource",
    "DcMachine",
    "Ground",
    "Inductor",
    "LiIonCell",
    "Resistor",
    "VoltageSource",
]
