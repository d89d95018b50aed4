"""Unconnected ports: legal while their zero flow is consistent, named first when it is not.

An unconnected port's through variable is zero (an insulated heat port, a free flange, an open pin).
When that contradicts the component's own equations the compiler refuses the system with
:class:`UnconnectedPortError`, whose message starts with ``port <component>.<port> is not connected``
before the over-/under-determined analysis.
"""

from __future__ import annotations

import numpy as np
import pytest

from phystwin import simulate
from phystwin.physics import (
    Component,
    Flange,
    Parameter,
    Relation,
    StructuralError,
    System,
    UnconnectedPortError,
)
from phystwin.physics.mechanical import Inertia
from phystwin.physics.thermal import HeatCapacitor, PrescribedTemperature, ThermalConductor
from phystwin.physics.twins import dc_motor


class Pump(Component):
    """A centrifugal load: the shaft takes in the torque ``k w |w|``."""

    parameters = (Parameter("k", "N*m*s2/rad2", 1e-4),)
    ports = (Flange("shaft"),)
    relations = (Relation({"shaft.tau": lambda shaft_w, k: k * shaft_w * abs(shaft_w)}),)


def _compile_error(system: System) -> StructuralError:
    with pytest.raises(StructuralError) as err:
        system.compile()
    return err.value


def test_unconnected_pump_shaft_is_named_first() -> None:
    s = System("j1")
    s.add(Pump("pump"))
    s.add(Inertia("rotor"))
    err = _compile_error(s)
    assert isinstance(err, UnconnectedPortError)
    assert err.ports == ("pump.shaft",)
    lines = str(err).splitlines()
    assert lines[0] == "port pump.shaft is not connected (rotational port: w [rad/s] across, tau [N*m] through)"
    text = str(err)
    # the structural analysis still follows, after the port
    assert text.index("not connected") < text.index("structurally singular") < text.index("over-determined")
    # the inertia's free flanges are legal and said to be so
    assert "also not connected (zero flow, not part of the conflict): rotor.flange_a (rotational)" in text


def test_motor_with_its_shaft_left_unconnected() -> None:
    """The issue's case: the DC machine's shaft not joined to the rotor reported 'over-determined ...
    compete for 6 variable(s)' and only hinted at a port."""
    s = dc_motor.build()
    s.port_links = [link for link in s.port_links if "emf.flange" not in link]
    err = _compile_error(s)
    assert isinstance(err, UnconnectedPortError)
    assert err.ports == ("emf.flange",)
    assert str(err).startswith("port emf.flange is not connected (rotational port")
    assert "connect this port" in str(err)
    # its would-be partner is listed among the other open ports
    assert "rotor.flange_a (rotational)" in str(err)


def test_open_electrical_pin_of_an_inductor() -> None:
    s = dc_motor.build()
    s.port_links = [link for link in s.port_links if "armature_L.n" not in link]
    err = _compile_error(s)
    assert isinstance(err, UnconnectedPortError)
    assert err.ports == ("armature_L.n",)
    assert str(err).startswith("port armature_L.n is not connected (electrical port: v [V] across, i [A] through)")


def test_several_ports_are_all_named() -> None:
    s = System("two_pumps")
    s.add(Pump("p1"))
    s.add(Pump("p2"))
    err = _compile_error(s)
    assert isinstance(err, UnconnectedPortError)
    assert err.ports == ("p1.shaft", "p2.shaft")
    lines = str(err).splitlines()
    assert lines[0].startswith("port p1.shaft is not connected") and lines[1].startswith("port p2.shaft is not")
    assert "connect these ports" in lines[2]


def test_unconnected_port_in_a_subsystem_is_named_by_its_path() -> None:
    inner = System("unit")
    inner.add(Pump("pump"))
    inner.expose("shaft", "pump.shaft")
    outer = System("plant")
    outer.add(inner)
    err = _compile_error(outer)
    assert isinstance(err, UnconnectedPortError)
    assert str(err).startswith("port unit.pump.shaft is not connected")


def test_a_legal_open_port_still_compiles_and_carries_no_flow() -> None:
    s = System("dangling")
    s.add(HeatCapacitor("mass", C=10.0, T=350.0))
    s.add(ThermalConductor("wall", G=2.0))
    s.connect("mass.port", "wall.a")
    s.output("Q", "wall.a.Q_flow")
    traj = simulate(s.compile(), (0.0, 1.0), save=0.5)
    np.testing.assert_array_equal(traj["Q"], 0.0)


def test_failure_without_an_open_port_in_the_conflict_lists_open_ports_as_a_note() -> None:
    """Two sources on one node: over-determined; an unrelated open port is mentioned, not blamed."""
    s = System("fight")
    s.add(PrescribedTemperature("hot"))
    s.add(PrescribedTemperature("cold"))
    s.add(ThermalConductor("spare"))
    s.connect("hot.port", "cold.port")
    s.connect("hot.port", "spare.a")
    s.input("T1", "K", "hot.T")
    s.input("T2", "K", "cold.T")
    err = _compile_error(s)
    assert not isinstance(err, UnconnectedPortError)
    text = str(err)
    assert text.startswith("also not connected (zero flow, not part of the conflict): spare.b (heat)")
    assert "over-determined" in text
