"""Events declared by components (zero crossings with state resets), compiled and simulated."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from phystwin import Component, DormandPrince, Event, IntegrationError, Parameter, Rodas, State, System, simulate
from phystwin.physics import HeatPort, Relation, Variable
from phystwin.physics.thermal import HeatCapacitor, PrescribedTemperature, ThermalConductor

G = 9.81


class BouncingBall(Component):
    """h'' = -g; at impact (h = 0, falling) v <- -e v."""

    states = (State("h", "m", 1.0), State("v", "m/s", 0.0))
    parameters = (Parameter("e", "1", 0.8, lower=0.0, upper=1.0),)
    derivatives = {"h": lambda v: v, "v": lambda: -G}
    events = (Event("impact", lambda h: h, resets={"v": lambda v, e: -e * v}, direction=-1),)


class Thermostat(Component):
    """A heater of power P switched on below T_on and off above T_off (mode is a discrete state)."""

    states = (State("mode", "1", 1.0, "1 = heating, 0 = off"),)
    parameters = (
        Parameter("P", "W", 100.0, lower=0.0),
        Parameter("T_on", "K", 290.0),
        Parameter("T_off", "K", 300.0),
    )
    ports = (HeatPort("port"),)
    variables = (Variable("power", "W"),)
    relations = (
        Relation({"power": lambda mode, P: mode * P}),
        Relation({"port.Q_flow": lambda power: -power}),
    )
    derivatives = {"mode": lambda: 0.0}
    events = (
        Event(
            "switch_off",
            lambda port_T, T_off, mode: port_T - T_off if mode > 0.5 else -1.0,
            resets={"mode": lambda: 0.0},
            direction=1,
        ),
        Event(
            "switch_on",
            lambda port_T, T_on, mode: T_on - port_T if mode < 0.5 else -1.0,
            resets={"mode": lambda: 1.0},
            direction=1,
        ),
    )


@pytest.fixture(scope="module")
def ball_model():
    s = System("ball")
    s.add(BouncingBall("ball"))
    s.output("height", "ball.h")
    return s.compile()


@pytest.mark.parametrize("solver", [DormandPrince(rtol=1e-10, atol=1e-12), Rodas(rtol=1e-8, atol=1e-10)])
def test_bouncing_ball_impacts_at_analytic_times(ball_model, solver):
    e, h0 = 0.8, 1.0
    t1 = math.sqrt(2 * h0 / G)
    v1 = G * t1
    expected = [t1]
    for _ in range(5):  # flight time after each bounce: 2 e v / g
        v1 *= e
        expected.append(expected[-1] + 2 * v1 / G)
    traj = simulate(ball_model, (0.0, expected[-1] + 0.01), solver=solver, save=0.01)
    assert traj.event_names[:6] == ("ball.impact",) * 6
    np.testing.assert_allclose(traj.event_times[:6], expected, atol=1e-7)
    assert traj["height"].min() > -1e-6


def test_zeno_ball_stops_at_the_event_cap(ball_model):
    """The ball bounces infinitely often before t = t1 (1 + e)/(1 - e): chattering must be capped."""
    with pytest.raises(IntegrationError, match="too many events") as err:
        simulate(ball_model, (0.0, 10.0), solver=DormandPrince(max_events=50), save=0.1)
    t_zeno = math.sqrt(2 / G) * (1 + 0.8) / (1 - 0.8)
    assert err.value.t_reached < t_zeno
    assert err.value.partial is not None


def test_thermostat_switches_between_its_thresholds():
    s = System("room")
    s.add(HeatCapacitor("room", C=2.0e4, T=295.0))
    s.add(ThermalConductor("wall", G=5.0))
    s.add(PrescribedTemperature("outside"))
    s.add(Thermostat("heater", P=300.0))
    s.connect("room.port", "wall.a")
    s.connect("wall.b", "outside.port")
    s.connect("heater.port", "room.port")
    s.input("T_out", "K", "outside.T", default=270.0)
    s.output("T_room", "room.T")
    s.output("heating", "heater.power")
    model = s.compile()
    traj = simulate(model, (0.0, 50_000.0), solver=Rodas(rtol=1e-8, atol=1e-8), save=10.0)
    T = traj["T_room"]
    assert T.max() < 300.0 + 1e-4 and T.min() > 290.0 - 1e-4
    names = traj.event_names
    assert len(names) >= 4
    assert all(a != b for a, b in itertools.pairwise(names))  # strictly alternating
    # heating phase: C dT/dt = P - G (T - T_out) from 290 K to 300 K -> analytic duration
    C, Gw, P, T_out = 2.0e4, 5.0, 300.0, 270.0
    T_inf = T_out + P / Gw
    t_heat = C / Gw * math.log((T_inf - 290.0) / (T_inf - 300.0))
    t_cool = C / Gw * math.log((290.0 - T_out + 10.0) / (290.0 - T_out))
    on = [t for t, n in zip(traj.event_times, names, strict=True) if n == "heater.switch_on"]
    off = [t for t, n in zip(traj.event_times, names, strict=True) if n == "heater.switch_off"]
    assert off[1] - on[0] == pytest.approx(t_heat, rel=1e-6)
    assert on[1] - off[1] == pytest.approx(t_cool, rel=1e-6)
