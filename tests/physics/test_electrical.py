"""Electrical elements against closed-form solutions: RC discharge, RL step, a resistor heating a
thermal mass through its heat port, a DC machine drive reaching its steady state.

Two compiled models (several independent circuits share one model to keep the compile bill low).
"""

from __future__ import annotations

import numpy as np
import pytest

from phystwin.core.inputs import InputSignal
from phystwin.core.options import Rodas
from phystwin.core.simulation import DormandPrince, simulate
from phystwin.physics import System
from phystwin.physics.electrical import Capacitor, DcMachine, Ground, Inductor, Resistor, VoltageSource
from phystwin.physics.mechanical import Damper, Fixed, Inertia
from phystwin.physics.thermal import HeatCapacitor

TIGHT = DormandPrince(rtol=1e-9, atol=1e-11)

# RC discharge
RC_R, RC_C, RC_V0 = 1000.0, 1.0e-3, 10.0
# RL step
RL_R, RL_L, RL_V, RL_T_STEP = 2.0, 0.1, 5.0, 0.2
# heated resistor
H_R, H_ALPHA, H_T0, H_C, H_V = 10.0, 4.0e-3, 293.15, 5.0, 10.0
# DC drive
M_V, M_R, M_L, M_K, M_J, M_B = 12.0, 1.0, 0.01, 0.05, 1.0e-4, 1.0e-3


def build_circuits() -> System:
    """Three independent circuits: RC discharge, RL voltage step, resistor heating a mass."""
    s = System("circuits")
    # RC: capacitor discharging through a resistor to ground
    s.add(Capacitor("C1", C=RC_C, v=RC_V0))
    s.add(Resistor("R1", R_ref=RC_R))
    s.add(Ground("g1"))
    s.connect("C1.p", "R1.p")
    s.connect("R1.n", "g1.p")
    s.connect("C1.n", "g1.p")
    s.output("v_C1", "C1.v")
    s.output("i_R1", "R1.i")
    # RL: voltage step on a resistor in series with an inductor
    s.add(VoltageSource("V2"))
    s.add(Resistor("R2", R_ref=RL_R))
    s.add(Inductor("L2", L=RL_L))
    s.add(Ground("g2"))
    s.connect("V2.p", "R2.p")
    s.connect("R2.n", "L2.p")
    s.connect("L2.n", "g2.p")
    s.connect("V2.n", "g2.p")
    s.input("V_rl", "V", "V2.V")
    s.output("i_L2", "L2.i")
    s.output("v_L2", "L2.v")
    s.output("P_V2", "V2.P")
    s.output("P_R2", "R2.P_loss")
    # resistor (temperature dependent) heating a thermal mass through its heat port
    s.add(VoltageSource("V3"))
    s.add(Resistor("R3", heat_port=True, R_ref=H_R, alpha=H_ALPHA, T_ref=H_T0))
    s.add(HeatCapacitor("body", C=H_C, T=H_T0))
    s.add(Ground("g3"))
    s.connect("V3.p", "R3.p")
    s.connect("R3.n", "g3.p")
    s.connect("V3.n", "g3.p")
    s.connect("R3.heat", "body.port")
    s.input("V_heat", "V", "V3.V", default=H_V)
    s.output("P_R3", "R3.P_loss")
    s.output("R_R3", "R3.R")
    s.output("T_R3", "R3.T")
    s.output("i_R3", "R3.i")
    return s


def build_dc_drive() -> System:
    """Voltage source - armature R - armature L - DC machine; rotor inertia with a viscous load."""
    s = System("dc_drive")
    s.add(VoltageSource("supply"))
    s.add(Resistor("Ra", R_ref=M_R))
    s.add(Inductor("La", L=M_L))
    s.add(DcMachine("emf", k=M_K))
    s.add(Ground("gnd"))
    s.add(Inertia("rotor", J=M_J))
    s.add(Damper("load", d=M_B, heat_port=True))
    s.add(Fixed("frame"))
    s.add(HeatCapacitor("housing", C=200.0, T=300.0))
    s.connect("supply.p", "Ra.p")
    s.connect("Ra.n", "La.p")
    s.connect("La.n", "emf.p")
    s.connect("emf.n", "gnd.p")
    s.connect("supply.n", "gnd.p")
    s.connect("emf.flange", "rotor.flange_a")
    s.connect("rotor.flange_b", "load.flange_a")
    s.connect("load.flange_b", "frame.flange")
    s.connect("load.heat", "housing.port")
    s.input("V", "V", "supply.V", default=M_V)
    s.output("i", "La.i")
    s.output("w", "rotor.w")
    s.output("P_supply", "supply.P")
    s.output("P_Ra", "Ra.P_loss")
    s.output("P_mech", "emf.P_mech")
    s.output("P_load", "load.P_loss")
    s.output("tau_emf", "emf.tau")
    s.output("v_emf", "emf.v_emf")
    return s


@pytest.fixture(scope="module")
def circuits():
    return build_circuits().compile()


@pytest.fixture(scope="module")
def circuits_run(circuits):
    times = np.linspace(0.0, 5.0, 5001)
    step = InputSignal([0.0, RL_T_STEP], [0.0, RL_V])
    return simulate(circuits, (0.0, 5.0), inputs={"V_rl": step}, solver=TIGHT, save=times)


@pytest.fixture(scope="module")
def dc_drive():
    return build_dc_drive().compile()


def test_rc_discharge(circuits_run):
    tr = circuits_run
    expected = RC_V0 * np.exp(-tr.t / (RC_R * RC_C))
    np.testing.assert_allclose(tr["v_C1"], expected, rtol=1e-7, atol=1e-9)
    # the capacitor's current leaves at p into the resistor's p: R1.i = +v/R
    np.testing.assert_allclose(tr["i_R1"], expected / RC_R, rtol=1e-7, atol=1e-12)


def test_rl_voltage_step(circuits_run):
    tr = circuits_run
    tau = RL_L / RL_R
    after = np.clip(tr.t - RL_T_STEP, 0.0, None)
    expected = np.where(tr.t >= RL_T_STEP, RL_V / RL_R * (1.0 - np.exp(-after / tau)), 0.0)
    np.testing.assert_allclose(tr["i_L2"], expected, rtol=1e-6, atol=1e-9)
    # the source delivers what the resistor dissipates plus what the inductor stores
    p_store = tr["v_L2"] * tr["i_L2"]
    np.testing.assert_allclose(tr["P_V2"], tr["P_R2"] + p_store, rtol=1e-9, atol=1e-9)


def test_resistor_heat_port_energy(circuits_run):
    tr = circuits_run
    T = tr["body.T"]
    # the resistor runs at the temperature of the mass it heats, with R(T) = R_ref (1 + alpha (T - T_ref))
    np.testing.assert_allclose(tr["T_R3"], T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr["R_R3"], H_R * (1.0 + H_ALPHA * (T - H_T0)), rtol=1e-12)
    np.testing.assert_allclose(tr["P_R3"], H_V**2 / tr["R_R3"], rtol=1e-12)
    np.testing.assert_allclose(tr["P_R3"], tr["i_R3"] ** 2 * tr["R_R3"], rtol=1e-12)
    # all the Joule heat ends up in the mass: integral of i^2 R dt = C dT
    joule = np.trapezoid(tr["P_R3"], tr.t)
    assert T[-1] - T[0] > 5.0  # the test is not vacuous
    assert H_C * (T[-1] - T[0]) == pytest.approx(joule, rel=1e-6)
    assert tr["R_R3"][-1] > H_R  # positive alpha: resistance rose with temperature


def test_dc_drive_steady_state(dc_drive):
    tr = simulate(dc_drive, (0.0, 1.0), solver=TIGHT, save=np.linspace(0.0, 1.0, 101))
    den = M_K**2 + M_R * M_B
    i_ss, w_ss = M_B * M_V / den, M_K * M_V / den
    assert tr["i"][-1] == pytest.approx(i_ss, rel=1e-7)
    assert tr["w"][-1] == pytest.approx(w_ss, rel=1e-7)
    # machine relations along the whole run: v_emf = k w, tau = k i, lossless conversion
    np.testing.assert_allclose(tr["v_emf"], M_K * tr["w"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tr["tau_emf"], M_K * tr["i"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tr["P_mech"], tr["v_emf"] * tr["i"], rtol=1e-12, atol=1e-12)
    # steady-state power balance: supply = armature loss + load loss
    assert tr["P_supply"][-1] == pytest.approx(tr["P_Ra"][-1] + tr["P_load"][-1], rel=1e-7)
    assert tr["P_load"][-1] == pytest.approx(M_B * w_ss**2, rel=1e-7)
    # the load's loss heats the housing
    assert tr["housing.T"][-1] > 300.0


def test_dc_drive_start_from_speed(dc_drive):
    """A spinning rotor at the no-load speed with no supply current change: the machine generates
    (P_mech < 0) while the rotor is above the loaded steady speed."""
    den = M_K**2 + M_R * M_B
    w_ss = M_K * M_V / den
    tr = simulate(
        dc_drive,
        (0.0, 0.05),
        x0={"rotor.w": 1.2 * M_V / M_K, "La.i": 0.0},
        solver=TIGHT,
        save=np.linspace(0.0, 0.05, 51),
    )
    assert tr["i"][5] < 0.0  # back-EMF above the supply: current reverses
    assert tr["P_mech"][5] < 0.0
    assert np.all(tr["w"] > w_ss)


def test_dc_drive_stiff_solver_agrees(dc_drive):
    """Rodas uses the generated analytic Jacobian of these elements; it must land on the same
    trajectory as the explicit solver."""
    times = np.linspace(0.0, 0.2, 41)
    ref = simulate(dc_drive, (0.0, 0.2), solver=TIGHT, save=times)
    stiff = simulate(dc_drive, (0.0, 0.2), solver=Rodas(rtol=1e-8, atol=1e-10), save=times)
    np.testing.assert_allclose(stiff["i"], ref["i"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stiff["w"], ref["w"], rtol=1e-5, atol=1e-4)
