"""Reference twins: equations as documented, energy balance, agreement with scipy at rtol 1e-10."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from phystwin import Component, InputSignal, Parameter, Rodas, State, Variable, simulate
from phystwin.physics.twins import dc_motor, li_ion_cell

rng = np.random.default_rng(20261122)


class EnergyMeter(Component):
    """E = integral of P dt (a test instrument: exact to integration accuracy)."""

    inputs = (Variable("P", "W"),)
    states = (State("E", "J", 0.0),)
    parameters = (Parameter("scale", "1", 1.0),)
    relations = ()
    derivatives = {"E": lambda P, scale: scale * P}


# ---------------------------------------------------------------------- DC motor
MOTOR_P = {
    "R_ref": 0.5,
    "alpha": 3.93e-3,
    "T_ref": 293.15,
    "L": 5e-3,
    "k": 0.05,
    "J": 1e-4,
    "b": 1e-5,
    "tau_c": 0.01,
    "w_c": 1.0,
    "C_w": 50.0,
    "C_s": 300.0,
    "C_h": 800.0,
    "R_ws": 0.5,
    "R_sh": 0.3,
    "hA": 25.0 * 0.04,
}


def motor_reference_rhs(x: np.ndarray, u: np.ndarray, q: dict[str, float] = MOTOR_P) -> np.ndarray:
    """The equations of the dc_motor docstring, written out by hand (the slow obvious reference)."""
    i, _phi, w, T_w, T_s, T_h = x
    V, tau_load, T_amb = u
    R = q["R_ref"] * (1 + q["alpha"] * (T_w - q["T_ref"]))
    fric = q["b"] * w + q["tau_c"] * np.tanh(w / q["w_c"])
    return np.array(
        [
            (V - R * i - q["k"] * w) / q["L"],
            w,
            (q["k"] * i - fric - tau_load) / q["J"],
            (R * i * i - (T_w - T_s) / q["R_ws"]) / q["C_w"],
            ((T_w - T_s) / q["R_ws"] - (T_s - T_h) / q["R_sh"]) / q["C_s"],
            ((T_s - T_h) / q["R_sh"] + fric * w - q["hA"] * (T_h - T_amb)) / q["C_h"],
        ]
    )


MOTOR_STATES = ["armature_L.i", "rotor.phi", "rotor.w", "winding.T", "stator.T", "housing.T"]


@pytest.fixture(scope="module")
def motor_model():
    return dc_motor.build().compile()


def _perm(model):
    return [model.layout.state_index(n) for n in MOTOR_STATES]


def test_motor_rhs_equals_the_documented_equations(motor_model):
    perm = _perm(motor_model)
    p = motor_model.default_parameters()
    for _ in range(50):
        xr = np.array(
            [
                rng.uniform(-20, 20),
                rng.uniform(-10, 10),
                rng.uniform(-500, 500),
                rng.uniform(280, 420),
                rng.uniform(280, 400),
                rng.uniform(280, 380),
            ]
        )
        u = np.array([rng.uniform(-30, 30), rng.uniform(-1, 1), rng.uniform(260, 320)])
        x = np.empty(6)
        x[perm] = xr
        dx = np.empty(6)
        assert motor_model.kernels.rhs(0.0, x, u, p, dx) == 0
        np.testing.assert_allclose(dx[perm], motor_reference_rhs(xr, u), rtol=1e-12, atol=1e-12)


def test_motor_jacobian_is_analytic_and_correct(motor_model):
    assert motor_model.jacobian_kind == "analytic"
    perm = _perm(motor_model)
    p = motor_model.default_parameters()
    xr = np.array([3.0, 0.2, 300.0, 330.0, 320.0, 310.0])
    x = np.empty(6)
    x[perm] = xr
    u = np.array([24.0, 0.2, 298.15])
    J = np.empty((6, 6))
    assert motor_model.kernels.jac(0.0, x, u, p, J) == 0
    # central differences of the hand-written reference
    Jref = np.empty((6, 6))
    for j in range(6):
        h = 1e-6 * max(1.0, abs(xr[j]))
        e = np.zeros(6)
        e[j] = h
        Jref[:, j] = (motor_reference_rhs(xr + e, u) - motor_reference_rhs(xr - e, u)) / (2 * h)
    np.testing.assert_allclose(J[np.ix_(perm, perm)], Jref, rtol=1e-6, atol=1e-6)


def test_motor_steady_state_matches_closed_form(motor_model):
    """Without Coulomb friction: w_ss = k V / (k^2 + R b), i_ss = (b w_ss + tau_load) / k."""
    V, tau = 24.0, 0.2
    params = {"friction.tau_c": 0.0, "armature_R.alpha": 0.0}
    traj = simulate(
        motor_model,
        (0.0, 2.0),
        inputs={"voltage": V, "load_torque": tau},
        params=params,
        solver=Rodas(rtol=1e-9, atol=1e-10),
        save=np.array([2.0]),
    )
    R, k, b = 0.5, 0.05, 1e-5
    w_ss = (k * V - R * tau) / (k * k + R * b)
    i_ss = (b * w_ss + tau) / k
    assert traj["speed"][-1] == pytest.approx(w_ss, rel=1e-7)
    assert traj["current"][-1] == pytest.approx(i_ss, rel=1e-7)


def _motor_duty_inputs(period: float = 10.0):
    times = np.arange(0.0, 60.0, period / 2)
    volts = np.resize([24.0, 12.0, 20.0, 0.0, 24.0, 6.0], times.size)
    loads = np.resize([0.1, 0.3, 0.0, 0.2, 0.4, 0.05], times.size)
    return {
        "voltage": InputSignal(times, volts),
        "load_torque": InputSignal(times, loads),
        "ambient_temperature": InputSignal([0.0, 60.0], [298.15, 303.15], kind="linear"),
    }


def test_motor_energy_balance_closes():
    """Electrical energy in = mechanical energy out + heat stored + heat to ambient (+ kinetic, magnetic)."""
    s = dc_motor.build()
    for name, source in (("E_in", "supply.P"), ("E_load", "load.P"), ("E_amb", "ambient.Q_in")):
        s.add(EnergyMeter(name))
        s.connect(source, f"{name}.P")
    model = s.compile()
    x0 = model.initial_state()
    traj = simulate(
        model,
        (0.0, 60.0),
        inputs=_motor_duty_inputs(),
        solver=Rodas(rtol=1e-10, atol=1e-10),
        save=np.array([0.0, 60.0]),
    )
    end = {n: traj[n][-1] for n in traj.names()}
    start = {s.name: x0[k] for k, s in enumerate(model.layout.states)}
    heat_stored = sum(
        C * (end[f"{n}.T"] - start[f"{n}.T"]) for n, C in (("winding", 50.0), ("stator", 300.0), ("housing", 800.0))
    )
    kinetic = 0.5 * 1e-4 * end["rotor.w"] ** 2
    magnetic = 0.5 * 5e-3 * end["armature_L.i"] ** 2
    e_in = end["E_in.E"]
    balance = e_in - (end["E_load.E"] + end["E_amb.E"] + heat_stored + kinetic + magnetic)
    assert e_in > 1000.0  # a real amount of energy went through
    assert abs(balance) < 1e-7 * e_in


@pytest.mark.parametrize("stiff", [False, True])
def test_motor_agrees_with_solve_ivp_at_tight_tolerance(motor_model, stiff):
    q = dict(MOTOR_P)
    params = {}
    if stiff:
        q["L"] = 5e-5
        params = dict(dc_motor.STIFF_PARAMETERS)
    perm = _perm(motor_model)
    x0r = np.array([0.0, 0.0, 0.0, 298.15, 298.15, 298.15])
    breaks = [0.0, 2.0, 5.0]
    us = [np.array([24.0, 0.1, 298.15]), np.array([12.0, 0.3, 298.15]), np.array([24.0, 0.0, 298.15])]
    ts = np.linspace(0.0, 8.0, 81)
    # reference: Radau segment by segment at rtol 1e-12
    ref = []
    xs = x0r.copy()
    edges = [*breaks[1:], 8.0]
    for k, (a, b) in enumerate(zip(breaks, edges, strict=True)):
        sel = ts[(ts >= a) & (ts <= b)]
        sol = solve_ivp(
            lambda t, x, uk=us[k]: motor_reference_rhs(x, uk, q),
            (a, b),
            xs,
            method="Radau",
            rtol=1e-12,
            atol=1e-12,
            t_eval=sel,
            dense_output=False,
        )
        keep = sel < b if k < len(breaks) - 1 else np.ones(sel.size, bool)
        ref.append(sol.y.T[keep])
        xs = sol.y[:, -1]
    ref = np.vstack(ref)
    inputs = {
        "voltage": InputSignal(breaks, [u[0] for u in us]),
        "load_torque": InputSignal(breaks, [u[1] for u in us]),
    }
    traj = simulate(
        motor_model, (0.0, 8.0), inputs=inputs, params=params, solver=Rodas(rtol=1e-10, atol=1e-10), save=ts
    )
    got = traj.x[:, perm]
    scale = np.maximum(np.abs(ref).max(axis=0), 1.0)
    err = np.abs(got - ref).max(axis=0) / scale
    assert err.max() < 5e-9, err


# ---------------------------------------------------------------------- Li-ion cell
@pytest.fixture(scope="module")
def cell_model():
    return li_ion_cell.build().compile()


def test_cell_agrees_with_solve_ivp_at_tight_tolerance(cell_model):
    from phystwin.physics.electrical.battery import DEFAULT_OCV_TABLE, DEFAULT_SOC_TABLE

    Q, R0, R1, C1, R2, C2 = 2.5, 0.02, 0.015, 2000.0, 0.02, 30000.0
    Cc, Cs, Rcs, hA = 40.0, 5.0, 2.0, 10.0 * 4.2e-3

    def ref_rhs(x, i, T_amb):
        _soc, v1, v2, Tc, Ts = x
        loss = R0 * i * i + v1 * v1 / R1 + v2 * v2 / R2
        return np.array(
            [
                -i / (3600 * Q),
                (i - v1 / R1) / C1,
                (i - v2 / R2) / C2,
                (loss - (Tc - Ts) / Rcs) / Cc,
                ((Tc - Ts) / Rcs - hA * (Ts - T_amb)) / Cs,
            ]
        )

    names = ["cell.SOC", "cell.v1", "cell.v2", "core.T", "surface.T"]
    perm = [cell_model.layout.state_index(n) for n in names]
    breaks, currents = [0.0, 300.0, 600.0], [5.0, 0.0, 2.5]
    ts = np.linspace(0.0, 900.0, 91)
    xs = np.array([1.0, 0.0, 0.0, 298.15, 298.15])
    ref = []
    edges = [*breaks[1:], 900.0]
    for k, (a, b) in enumerate(zip(breaks, edges, strict=True)):
        sel = ts[(ts >= a) & (ts <= b)]
        sol = solve_ivp(
            lambda t, x, i=currents[k]: ref_rhs(x, i, 298.15),
            (a, b),
            xs,
            method="DOP853",
            rtol=1e-12,
            atol=1e-13,
            t_eval=sel,
        )
        keep = sel < b if k < len(breaks) - 1 else np.ones(sel.size, bool)
        ref.append(sol.y.T[keep])
        xs = sol.y[:, -1]
    ref = np.vstack(ref)
    traj = simulate(
        cell_model,
        (0.0, 900.0),
        inputs={"current": InputSignal(breaks, currents)},
        solver=Rodas(rtol=1e-10, atol=1e-12),
        save=ts,
    )
    got = traj.x[:, perm]
    scale = np.maximum(np.abs(ref).max(axis=0), 1e-3)
    assert (np.abs(got - ref).max(axis=0) / scale).max() < 5e-9
    # terminal voltage as documented
    ocv = np.interp(got[:, 0], DEFAULT_SOC_TABLE, DEFAULT_OCV_TABLE)
    i = InputSignal(breaks, currents).at(ts)
    np.testing.assert_allclose(traj["terminal_voltage"], ocv - got[:, 1] - got[:, 2] - R0 * i, atol=1e-9)
