"""Builder for N-node lumped thermal networks.

``C_i dT_i/dt = sum_j G_ij (T_j - T_i) + Q_i`` for every capacitive node ``i``; boundary nodes have
a prescribed temperature (an input of the network). The builder returns a :class:`System`, which
compiles to one fused kernel like any other and can be nested in a larger twin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from phystwin.physics.component import ModelDefinitionError
from phystwin.physics.system import System
from phystwin.physics.thermal.elements import HeatCapacitor, PrescribedTemperature, ThermalConductor


def thermal_network(
    name: str,
    capacities: Mapping[str, float],
    conductances: Iterable[tuple[str, str, float]],
    boundaries: Iterable[str] = (),
    initial_temperature: float | Mapping[str, float] = 293.15,
) -> System:
    """Build a thermal network.

    Parameters
    ----------
    name : str
        System name.
    capacities : mapping node -> C [J/K]
        Capacitive nodes (one state ``<node>.T`` [K] each).
    conductances : iterable of (node_a, node_b, G [W/K])
        Conductors between nodes (capacitive or boundary); named ``<a>_to_<b>``.
    boundaries : iterable of str
        Boundary nodes; each becomes an input ``<node>_T`` [K] of the network.
    initial_temperature : float or mapping node -> K

    Every capacitive node's port is exposed under the node name (``net.<node>``) so heat sources
    of an enclosing system can be connected, and ``<node>_T`` is an output.
    """
    net = System(name, f"thermal network with {len(capacities)} capacitive nodes")
    bset = list(boundaries)
    for node, c in capacities.items():
        t0 = initial_temperature[node] if isinstance(initial_temperature, Mapping) else initial_temperature
        net.add(HeatCapacitor(node, C=c, T=t0))
        net.expose(node, f"{node}.port")
        net.output(f"{node}_T", f"{node}.T")
    for node in bset:
        if node in capacities:
            raise ModelDefinitionError(f"thermal network {name!r}: node {node!r} is both capacitive and a boundary")
        net.add(PrescribedTemperature(node))
        net.input(f"{node}_T", "K", f"{node}.T")
    for a, b, g in conductances:
        for n in (a, b):
            if n not in capacities and n not in bset:
                raise ModelDefinitionError(f"thermal network {name!r}: conductance {a}-{b} names unknown node {n!r}")
        cname = f"{a}_to_{b}"
        net.add(ThermalConductor(cname, G=g))
        net.connect(f"{a}.port", f"{cname}.a")
        net.connect(f"{cname}.b", f"{b}.port")
    return net
