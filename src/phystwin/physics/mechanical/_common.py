"""Helpers shared by the mechanical elements: heat-port routing of losses, smooth sign functions.

Every dissipative element declares a ``P_loss`` [W] variable. Built with ``heat_port=True`` it also
gets a :func:`~phystwin.physics.ports.HeatPort` named ``heat`` through which that loss leaves the
element: ``heat.Q_flow = -P_loss`` (``Q_flow`` is positive *into* a component, so a negative value
is heat delivered to the connected thermal node).
"""

from __future__ import annotations

from phystwin.physics.component import Component, Relation
from phystwin.physics.ports import HeatPort


def _heat_out(P_loss):  # type: ignore[no-untyped-def]
    return -P_loss


HEAT_RELATION = Relation({"heat.Q_flow": _heat_out}, "the dissipated power leaves through the heat port")
"""``heat.Q_flow = -P_loss``."""


def add_heat_port(component: Component, description: str = "dissipated power leaves here") -> None:
    """Give ``component`` (before ``Component.__init__`` runs) a ``heat`` port carrying its ``P_loss``."""
    cls = type(component)
    component.ports = (*cls.ports, HeatPort("heat", description))
    component.relations = (*cls.relations, HEAT_RELATION)


class LossyElement(Component):
    """Base of dissipative elements: ``heat_port=True`` routes ``P_loss`` [W] into a ``heat`` port.

    Parameters
    ----------
    name : str
        Instance name.
    heat_port : bool, default False
        Add the heat port ``heat`` with ``heat.Q_flow = -P_loss``. It must then be connected (to a
        heat capacitor, a boundary, ...): an open heat port leaves its temperature undetermined.
    **values
        Parameter values and state start values (SI units).
    """

    def __init__(self, name: str, heat_port: bool = False, **values: float) -> None:
        self.heat_port = bool(heat_port)
        if self.heat_port:
            add_heat_port(self)
        super().__init__(name, **values)
