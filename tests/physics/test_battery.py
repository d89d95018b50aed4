"""Li-ion cell equivalent circuit: a 1C constant-current discharge pulse then rest.

Checks the coulomb-counting slope, the terminal voltage OCV - i R0 at t = 0+, the RC build-up
during the pulse and the two-exponential relaxation after it, and that the Joule loss routed
through the heat port ends up in the can's heat capacity.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from phystwin.core.inputs import InputSignal
from phystwin.core.simulation import DormandPrince, simulate
from phystwin.physics import ModelDefinitionError, System
from phystwin.physics.electrical import CurrentSource, Ground, LiIonCell
from phystwin.physics.electrical.battery import DEFAULT_OCV_TABLE, DEFAULT_SOC_TABLE, interp_table
from phystwin.physics.thermal import HeatCapacitor

Q_AH, R0, R1, C1, R2, C2 = 2.5, 0.02, 0.015, 2000.0, 0.02, 30000.0
SOC0, I_DIS, T_OFF, T_END, C_CAN = 0.9, 2.5, 600.0, 2400.0, 50.0


def ocv(soc: float) -> float:
    return float(np.interp(soc, DEFAULT_SOC_TABLE, DEFAULT_OCV_TABLE))


def build_cell_bench() -> System:
    s = System("cell_bench")
    s.add(LiIonCell("cell", heat_port=True, Q=f"{Q_AH} A*h", R0=R0, R1=R1, C1=C1, R2=R2, C2=C2, SOC=SOC0))
    s.add(CurrentSource("load"))
    s.add(Ground("gnd"))
    s.add(HeatCapacitor("can", C=C_CAN, T=298.15))
    # the load draws I from the cell's + terminal: current enters the load at p
    s.connect("cell.p", "load.p")
    s.connect("load.n", "cell.n")
    s.connect("cell.n", "gnd.p")
    s.connect("cell.heat", "can.port")
    s.input("I_load", "A", "load.I")
    s.output("v", "cell.v")
    s.output("i_dis", "cell.i_dis")
    s.output("ocv", "cell.ocv")
    s.output("P_loss", "cell.P_loss")
    return s


@pytest.fixture(scope="module")
def run():
    model = build_cell_bench().compile()
    times = np.concatenate([np.linspace(0.0, T_OFF - 1e-9, 601), np.linspace(T_OFF, T_END, 1801)])
    current = InputSignal([0.0, T_OFF], [I_DIS, 0.0])
    return simulate(
        model, (0.0, T_END), inputs={"I_load": current}, solver=DormandPrince(rtol=1e-10, atol=1e-12), save=times
    )


def test_soc_slope(run):
    tr = run
    on = tr.t < T_OFF
    soc = tr["cell.SOC"]
    np.testing.assert_allclose(soc[on], SOC0 - I_DIS * tr.t[on] / (3600.0 * Q_AH), rtol=0, atol=1e-10)
    np.testing.assert_allclose(soc[~on], SOC0 - I_DIS * T_OFF / (3600.0 * Q_AH), rtol=0, atol=1e-10)
    np.testing.assert_allclose(tr["i_dis"][on], I_DIS, rtol=1e-14)


def test_terminal_voltage_at_start(run):
    tr = run
    assert tr.t[0] == 0.0
    assert tr["v"][0] == pytest.approx(ocv(SOC0) - I_DIS * R0, rel=1e-12)


def test_rc_build_up_and_relaxation(run):
    tr = run
    tau1, tau2 = R1 * C1, R2 * C2
    on = tr.t < T_OFF
    t_on = tr.t[on]
    v1 = I_DIS * R1 * (1.0 - np.exp(-t_on / tau1))
    v2 = I_DIS * R2 * (1.0 - np.exp(-t_on / tau2))
    np.testing.assert_allclose(tr["cell.v1"][on], v1, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(tr["cell.v2"][on], v2, rtol=1e-7, atol=1e-10)
    ocv_on = np.interp(SOC0 - I_DIS * t_on / (3600.0 * Q_AH), DEFAULT_SOC_TABLE, DEFAULT_OCV_TABLE)
    np.testing.assert_allclose(tr["v"][on], ocv_on - v1 - v2 - I_DIS * R0, rtol=1e-8)
    # rest: terminal voltage relaxes towards the OCV with both time constants
    v1_off = I_DIS * R1 * (1.0 - math.exp(-T_OFF / tau1))
    v2_off = I_DIS * R2 * (1.0 - math.exp(-T_OFF / tau2))
    soc_off = SOC0 - I_DIS * T_OFF / (3600.0 * Q_AH)
    dt = tr.t[~on] - T_OFF
    expected = ocv(soc_off) - v1_off * np.exp(-dt / tau1) - v2_off * np.exp(-dt / tau2)
    np.testing.assert_allclose(tr["v"][~on], expected, rtol=1e-8)
    # the instantaneous jump at the current step is exactly i R0
    k = int(np.argmax(~on))
    assert tr["v"][k] - tr["v"][k - 1] == pytest.approx(I_DIS * R0, rel=1e-6)


def test_joule_loss_heats_the_can(run):
    tr = run
    on = tr.t < T_OFF
    v1, v2 = tr["cell.v1"], tr["cell.v2"]
    np.testing.assert_allclose(tr["P_loss"], R0 * tr["i_dis"] ** 2 + v1**2 / R1 + v2**2 / R2, rtol=1e-12)
    joule = sum(np.trapezoid(tr["P_loss"][m], tr.t[m]) for m in (on, ~on))
    T = tr["can.T"]
    assert joule > 50.0
    assert C_CAN * (T[-1] - T[0]) == pytest.approx(joule, rel=1e-5)


def test_interp_table_matches_numpy():
    rng = np.random.default_rng(7)
    xs = np.sort(rng.uniform(0.0, 1.0, 9))
    ys = rng.uniform(3.0, 4.2, 9)
    for x in np.concatenate([rng.uniform(-0.2, 1.2, 200), xs]):
        assert interp_table(x, xs, ys) == pytest.approx(np.interp(x, xs, ys), abs=1e-14)


def test_table_validation():
    with pytest.raises(ModelDefinitionError, match=r"c\.ocv_table"):
        LiIonCell("c", soc_table=[0.0, 0.5, 1.0], ocv_table=[3.0, 4.0])
    with pytest.raises(ModelDefinitionError, match=r"c\.soc_table.*strictly increasing"):
        LiIonCell("c", soc_table=[0.0, 0.5, 0.5], ocv_table=[3.0, 3.5, 4.0])
    cell = LiIonCell("c", soc_table=[0.0, 0.5, 1.0], ocv_table=[3.0, 3.6, 4.1])
    assert cell.parameter_values["ocv_table"].shape == (3,)
