"""Mechanical elements against closed forms and power balances, in one compiled model holding four
independent mechanisms:

* gear: torque source -> lossy gear (heat port -> gearbox mass) -> drum inertia -> viscous drag;
  the torque reverses at t = 10 s so the gear is first driven from a, then back-driven from b,
  then driven from a again in the other direction;
* shaft: speed source -> torsion spring -> rotor inertia -> bearing friction;
* creep: a torque source on a friction with no inertia (the compiler inverts the friction law);
* msd: force source on a mass with a spring and a damper to a wall.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from phystwin.core.inputs import InputSignal
from phystwin.core.simulation import DormandPrince, simulate
from phystwin.physics import System
from phystwin.physics.mechanical import (
    Damper,
    Fixed,
    ForceSource,
    Friction,
    IdealGear,
    Inertia,
    Mass,
    SpeedSource,
    Spring,
    TorqueSource,
    TranslationalDamper,
    TranslationalFixed,
    TranslationalSpring,
)
from phystwin.physics.mechanical.rotational import friction_speed, gear_factor
from phystwin.physics.thermal import HeatCapacitor

# gear
G_RATIO, G_ETA, G_WC, G_J, G_D, G_C = 4.0, 0.9, 1.0e-2, 0.5, 0.2, 100.0
G_TAU1, G_TAU2, G_T_SWITCH, T_END = 2.0, -3.0, 10.0, 20.0
# shaft
S_W, S_C, S_J, S_B, S_TC, S_WC = 10.0, 50.0, 0.01, 0.05, 0.1, 0.05
# creep
C_B, C_TC, C_WC, C_TAU = 0.5, 1.0, 0.1, 1.3
# mass-spring-damper
M_M, M_C, M_D, M_S0, M_F = 1.0, 100.0, 2.0, 0.1, 5.0


def build_mechanics() -> System:
    s = System("mechanics")
    # gear train
    s.add(TorqueSource("motor"))
    s.add(IdealGear("gear", heat_port=True, ratio=G_RATIO, eta=G_ETA, w_c=G_WC))
    s.add(Inertia("drum", J=G_J))
    s.add(Damper("drag", d=G_D))
    s.add(Fixed("ground1"))
    s.add(HeatCapacitor("gearbox", C=G_C, T=300.0))
    s.connect("motor.flange", "gear.flange_a")
    s.connect("gear.flange_b", "drum.flange_a")
    s.connect("drum.flange_b", "drag.flange_a")
    s.connect("drag.flange_b", "ground1.flange")
    s.connect("gear.heat", "gearbox.port")
    s.input("tau_motor", "N*m", "motor.tau")
    for name, ref in {
        "tau_a": "gear.flange_a.tau",
        "w_a": "gear.flange_a.w",
        "tau_b": "gear.flange_b.tau",
        "w_b": "gear.flange_b.w",
        "P_gear": "gear.P_loss",
        "P_motor": "motor.P",
    }.items():
        s.output(name, ref)
    # speed-driven shaft
    s.add(SpeedSource("drive"))
    s.add(Spring("shaft", c=S_C))
    s.add(Inertia("rotor", J=S_J))
    s.add(Friction("bearing", b=S_B, tau_c=S_TC, w_c=S_WC))
    s.add(Fixed("ground2"))
    s.connect("drive.flange", "shaft.flange_a")
    s.connect("shaft.flange_b", "rotor.flange_a")
    s.connect("rotor.flange_b", "bearing.flange_a")
    s.connect("bearing.flange_b", "ground2.flange")
    s.input("w_drive", "rad/s", "drive.w", default=S_W)
    s.output("tau_shaft", "shaft.tau")
    s.output("P_drive", "drive.P")
    s.output("P_bearing", "bearing.P_loss")
    s.output("E_shaft", "shaft.E")
    # friction with the speed as the unknown
    s.add(TorqueSource("push"))
    s.add(Friction("creep", b=C_B, tau_c=C_TC, w_c=C_WC))
    s.add(Fixed("ground3"))
    s.connect("push.flange", "creep.flange_a")
    s.connect("creep.flange_b", "ground3.flange")
    s.input("tau_push", "N*m", "push.tau", default=C_TAU)
    s.output("w_creep", "creep.w_rel")
    # mass-spring-damper
    s.add(ForceSource("force"))
    s.add(Mass("mass", m=M_M, s=M_S0))
    s.add(TranslationalSpring("spring", c=M_C, s_rel=M_S0))
    s.add(TranslationalDamper("damper", d=M_D))
    s.add(TranslationalFixed("wall"))
    s.connect("force.flange", "mass.flange_a")
    s.connect("mass.flange_b", "spring.flange_a")
    s.connect("mass.flange_b", "damper.flange_a")
    s.connect("spring.flange_b", "wall.flange")
    s.connect("damper.flange_b", "wall.flange")
    s.input("F", "N", "force.f", default=M_F)
    s.output("P_damper", "damper.P_loss")
    s.output("P_force", "force.P")
    s.output("E_mass", "mass.E")
    s.output("E_spring", "spring.E")
    return s


@pytest.fixture(scope="module")
def mechanics():
    return build_mechanics().compile()


@pytest.fixture(scope="module")
def run(mechanics):
    # save just before and from the torque switch so integrals do not straddle the jump
    times = np.concatenate([np.linspace(0.0, G_T_SWITCH - 1e-9, 4001), np.linspace(G_T_SWITCH, T_END, 4001)])
    tau = InputSignal([0.0, G_T_SWITCH], [G_TAU1, G_TAU2])
    return simulate(
        mechanics, (0.0, T_END), inputs={"tau_motor": tau}, solver=DormandPrince(rtol=1e-9, atol=1e-11), save=times
    )


def test_gear_kinematics_and_first_phase(run):
    tr = run
    np.testing.assert_allclose(tr["w_a"], G_RATIO * tr["w_b"], rtol=1e-13, atol=1e-13)
    first = tr.t < G_T_SWITCH
    # J dw/dt = ratio eta tau - d w (the lossless blend below |w_a| ~ w_c lasts < 1 ms)
    w_inf = G_RATIO * G_ETA * G_TAU1 / G_D
    expected = w_inf * (1.0 - np.exp(-G_D * tr.t[first] / G_J))
    np.testing.assert_allclose(tr["drum.w"][first], expected, rtol=2e-4, atol=2e-4)


def test_gear_power_flow_both_directions(run):
    tr = run
    p_a = tr["tau_a"] * tr["w_a"]  # power entering at a
    p_b = tr["tau_b"] * tr["w_b"]  # power entering at b
    np.testing.assert_allclose(tr["P_gear"], p_a + p_b, rtol=1e-9, atol=1e-9)
    assert np.all(tr["P_gear"] >= -1e-12)
    away = np.abs(tr["w_a"]) > 100.0 * G_WC  # outside the direction-blend band
    a_drives = away & (p_a > 0.0)
    b_drives = away & (p_b > 0.0)
    assert a_drives.sum() > 100 and b_drives.sum() > 100  # both regimes visited
    np.testing.assert_allclose(tr["P_gear"][a_drives], (1.0 - G_ETA) * p_a[a_drives], rtol=1e-9)
    np.testing.assert_allclose(tr["P_gear"][b_drives], (1.0 - G_ETA) * p_b[b_drives], rtol=1e-9)
    # the motor's power is what enters the gear at a
    np.testing.assert_allclose(tr["P_motor"], p_a, rtol=1e-12, atol=1e-12)


def test_gear_heat_port_energy(run):
    tr = run
    T = tr["gearbox.T"]
    before = tr.t < G_T_SWITCH
    loss = np.trapezoid(tr["P_gear"][before], tr.t[before]) + np.trapezoid(tr["P_gear"][~before], tr.t[~before])
    assert loss > 10.0
    assert G_C * (T[-1] - T[0]) == pytest.approx(loss, rel=1e-5)


def test_gear_torque_is_continuous_through_speed_reversal():
    tau = 1.5
    w = np.linspace(-5 * G_WC, 5 * G_WC, 201)
    g = np.array([gear_factor(tau, x, G_ETA, G_WC) for x in w])
    assert np.max(np.abs(np.diff(g))) < 0.01  # no jump between eta and 1/eta
    assert gear_factor(tau, 0.0, G_ETA, G_WC) == pytest.approx(1.0)
    assert gear_factor(tau, 1.0, G_ETA, G_WC) == pytest.approx(G_ETA)
    assert gear_factor(tau, -1.0, G_ETA, G_WC) == pytest.approx(1.0 / G_ETA)


def test_speed_driven_shaft_steady_state(run):
    tr = run
    tau_ss = S_B * S_W + S_TC * math.tanh(S_W / S_WC)
    assert tr["rotor.w"][-1] == pytest.approx(S_W, rel=1e-6)
    assert tr["tau_shaft"][-1] == pytest.approx(tau_ss, rel=1e-6)
    assert tr["shaft.phi_rel"][-1] == pytest.approx(tau_ss / S_C, rel=1e-6)
    assert tr["P_drive"][-1] == pytest.approx(tr["P_bearing"][-1], rel=1e-6)
    assert tr["E_shaft"][-1] == pytest.approx(0.5 * tau_ss**2 / S_C, rel=1e-6)


def test_friction_inverted_for_speed(run):
    w = run["w_creep"]
    np.testing.assert_allclose(C_B * w + C_TC * np.tanh(w / C_WC), C_TAU, rtol=1e-12)
    assert w[0] > 0.0
    # the inverse kernel directly, both signs and the Coulomb-only case
    for tau in (-3.0, -0.2, 0.0, 0.7, 2.5):
        x = friction_speed(tau, 0.5, 1.0, 0.1)
        assert 0.5 * x + math.tanh(x / 0.1) == pytest.approx(tau, abs=1e-12)
    x = friction_speed(0.5, 0.0, 1.0, 0.1)
    assert math.tanh(x / 0.1) == pytest.approx(0.5, abs=1e-12)
    assert friction_speed(1.5, 0.0, 1.0, 0.1) == math.inf


def test_mass_spring_damper(run):
    tr = run
    wn = math.sqrt(M_C / M_M)
    zeta = M_D / (2.0 * math.sqrt(M_C * M_M))
    wd = wn * math.sqrt(1.0 - zeta**2)
    s_eq = M_F / M_C
    a = M_S0 - s_eq
    t = tr.t
    expected = s_eq + np.exp(-zeta * wn * t) * (a * np.cos(wd * t) + zeta * wn * a / wd * np.sin(wd * t))
    np.testing.assert_allclose(tr["mass.s"], expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(tr["spring.s_rel"], tr["mass.s"], rtol=0, atol=1e-12)
    # energy: work of the force = stored energy change + damper loss
    e = tr["E_mass"] + tr["E_spring"]
    work = np.trapezoid(tr["P_force"] - tr["P_damper"], t)
    assert e[-1] - e[0] == pytest.approx(work, rel=1e-4)  # trapezoid rule error ~1e-5 J


def test_every_mechanical_equation_has_an_analytic_derivative(mechanics) -> None:  # type: ignore[no-untyped-def]
    # the gear's sign(tau) is written with copysign, so tracing differentiates it (no finite differences)
    assert mechanics.jacobian_kind == "analytic"
    assert mechanics.derivative_notes == ()
