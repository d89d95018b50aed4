"""PI speed controller (closed loop, anti-windup) and thermal derating."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phystwin.hil.control import DC_MOTOR, T_20C, PISpeedController, ThermalDerating

# first-order speed plant of the nominal dc_motor twin: dw/dt = b V - a w - load   [rad/s^2]
B = DC_MOTOR["k_e"] / (DC_MOTOR["R_20"] * DC_MOTOR["J"])  # 1000 rad/s^2 per V
A = DC_MOTOR["k_e"] ** 2 / (DC_MOTOR["R_20"] * DC_MOTOR["J"])  # 50 1/s


def simulate(pi, w_ref, T=3.0, dt=1e-3, sub=10, load=lambda t: 0.0, u_limit=lambda t: None):
    """Controller at 1/dt, plant by explicit Euler with `sub` substeps; rows (t, w, u)."""
    w, rows = 0.0, []
    for k in range(round(T / dt)):
        t = k * dt
        u = pi.update(t, w_ref(t), w, u_limit(t))
        h = dt / sub
        for _ in range(sub):
            w += h * (B * u - A * w - load(t))
        rows.append((t, w, u))
    return np.array(rows)


def test_dc_motor_constants_match_the_twin() -> None:
    from phystwin.physics.twins.dc_motor import build

    comps = dict(build().walk())
    R = comps["armature_R"].parameter_values
    assert float(R["T_ref"]) == T_20C
    assert float(R["R_ref"]) == DC_MOTOR["R_20"]
    assert float(R["alpha"]) == DC_MOTOR["alpha"]
    assert float(comps["emf"].parameter_values["k"]) == DC_MOTOR["k_e"]
    assert float(comps["rotor"].parameter_values["J"]) == DC_MOTOR["J"]


def test_pi_closed_loop_reaches_setpoint() -> None:
    pi = PISpeedController.for_dc_motor(bandwidth=100.0)
    assert pi.kp == pytest.approx(0.1) and pi.ki == pytest.approx(5.0)
    r = simulate(pi, lambda t: 300.0, T=1.0)
    t, w, u = r.T
    assert w[-1] == pytest.approx(300.0, abs=0.01)
    assert w.max() < 300.0 * 1.01  # pole cancellation: first-order response, no overshoot
    assert t[np.argmax(w >= 270.0)] < 0.05  # ~ 2.3 / 100 rad/s
    assert np.all((u >= 0.0) & (u <= 24.0))
    assert u[-1] == pytest.approx(300.0 * A / B, rel=1e-3)  # steady state: V = w a / b = 15 V


def test_pi_rejects_a_load_step() -> None:
    pi = PISpeedController.for_dc_motor()
    r = simulate(pi, lambda t: 200.0, T=2.0, load=lambda t: 3000.0 if t >= 1.0 else 0.0)
    assert r[-1, 1] == pytest.approx(200.0, abs=0.01)  # integral action removes the offset
    assert r[-1, 2] == pytest.approx((200.0 * A + 3000.0) / B, rel=1e-3)


@pytest.mark.parametrize("scenario", ["stall", "unreachable_setpoint"])
def test_pi_anti_windup(scenario: str) -> None:
    """A long saturation (1 s) winds up the plain PI; with anti-windup the recovery is prompt.

    ``stall``: a heavy load holds the motor below 200 rad/s, then lets go: the overshoot above the
    set-point stays < 1 % with anti-windup (20 % without). ``unreachable_setpoint``: 300 rad/s needs
    15 V > 12 V, then the set-point drops to 200 rad/s: the output leaves saturation at once with
    anti-windup (after ~1.5 s of unwinding without).
    """
    if scenario == "stall":
        kw = {"w_ref": lambda t: 200.0, "load": lambda t: 6000.0 if t < 1.0 else 0.0}
    else:
        kw = {"w_ref": lambda t: 300.0 if t < 1.0 else 200.0}
    res = {}
    for aw in (True, False):
        pi = PISpeedController(0.1, 5.0, 0.0, 12.0, anti_windup=aw)
        r = simulate(pi, T=3.0, **kw)
        after = r[r[:, 0] >= 1.0]
        settled = after[np.abs(after[:, 1] - 200.0) > 2.0]
        res[aw] = {
            "overshoot": float(after[:, 1].max() - 200.0),
            "settling": float(settled[-1, 0] - 1.0) if len(settled) else 0.0,
            "stuck": float(after[np.argmax(after[:, 2] < 12.0), 0] - 1.0),  # time to leave u_max
            "integral_part": 5.0 * pi.integral,
        }
    print(scenario, "anti-windup:", res[True], "plain:", res[False])
    if scenario == "stall":
        assert res[True]["overshoot"] < 2.0  # < 1 % of the set-point
        assert res[False]["overshoot"] > 30.0  # the plain PI winds up: a meaningful comparison
    else:
        assert res[True]["stuck"] < 0.01
        assert res[False]["stuck"] > 0.5
    assert res[True]["settling"] < 0.2 < 1.0 < res[False]["settling"]
    assert res[True]["integral_part"] <= 12.0 + 1e-9  # the integral part never exceeds the output range


def test_pi_dropping_limit_leaves_no_windup() -> None:
    """A limit that falls (thermal derating) clamps the integral part; when it recovers, no overshoot."""
    pi = PISpeedController(0.1, 5.0, 0.0, 24.0)
    r = simulate(pi, lambda t: 300.0, T=3.0, u_limit=lambda t: 8.0 if 1.0 <= t < 2.0 else None)
    mid = r[(r[:, 0] > 1.5) & (r[:, 0] < 2.0)]
    assert np.all(mid[:, 2] <= 8.0)
    assert mid[-1, 1] == pytest.approx(8.0 * B / A, rel=1e-3)  # held at the limited speed
    after = r[r[:, 0] >= 2.0]
    assert after[:, 1].max() < 300.0 * 1.01
    assert after[-1, 1] == pytest.approx(300.0, abs=0.1)


def test_pi_limits_reset_and_bad_input() -> None:
    pi = PISpeedController(1.0, 10.0, -5.0, 5.0)
    assert pi.update(0.0, 100.0, 0.0) == 5.0  # first call: dt = 0, saturated
    assert pi.saturated and pi.integral == 0.0
    assert pi.update(0.1, 100.0, 0.0, u_limit_high=2.0) == 2.0
    assert pi.update(0.2, 100.0, 0.0, u_limit_high=-10.0) == -5.0  # the limit cannot go below u_min
    assert pi.update(0.3, 100.0, 0.0, u_limit_high=math.nan) == -5.0  # NaN limit: most conservative
    assert pi.update(0.4, -100.0, 0.0) == -5.0
    before = pi.integral
    assert math.isnan(pi.update(0.5, 1.0, math.nan))  # refused downstream by the envelope
    assert pi.integral == before  # state untouched
    pi.reset()
    assert pi.integral == 0.0
    assert pi.update(10.0, 0.1, 0.0) == pytest.approx(0.1)  # dt = 0 after reset
    assert pi.update(10.1, 0.1, 0.0) == pytest.approx(0.1 + 10.0 * 0.1 * 0.1)
    with pytest.raises(ValueError, match="u_min"):
        PISpeedController(1.0, 1.0, 5.0, 5.0)
    with pytest.raises(ValueError, match="kp"):
        PISpeedController(-1.0, 1.0, 0.0, 5.0)
    with pytest.raises(ValueError, match="ki"):
        PISpeedController(1.0, math.nan, 0.0, 5.0)


# ---------------------------------------------------------------- thermal derating


@pytest.fixture
def derating() -> ThermalDerating:
    return ThermalDerating(T_limit=393.15, band=20.0, I_rated=8.0, I_min=1.0, R_20=0.5, alpha=3.93e-3, k_e=0.05)


def test_current_limit_shape(derating: ThermalDerating) -> None:
    d = derating
    assert d.current_limit(300.0, 0.0) == 8.0  # far below the limit
    assert d.current_limit(373.15, 0.0) == 8.0  # start of the band
    assert d.current_limit(383.15, 0.0) == pytest.approx(4.5)  # middle of the band
    assert d.current_limit(393.15, 0.0) == pytest.approx(1.0)  # at the limit
    assert d.current_limit(500.0, 0.0) == 1.0  # beyond
    # conservative temperature T + 2 sd: an uncertain estimate derates earlier
    assert d.current_limit(373.15, 5.0) == pytest.approx(d.current_limit(383.15, 0.0))
    T = np.linspace(250.0, 450.0, 2001)
    for sd in (0.0, 1.0, 10.0):
        I_T = np.array([d.current_limit(x, sd) for x in T])
        assert np.all(np.diff(I_T) <= 0.0)  # monotone non-increasing in T
        assert np.all((I_T >= 1.0) & (I_T <= 8.0))
    I_sd = np.array([[d.current_limit(380.0, sd) for sd in np.linspace(0.0, 10.0, 11)]])
    assert np.all(np.diff(I_sd) <= 0.0)  # and in the uncertainty


def test_voltage_limit_formula(derating: ThermalDerating) -> None:
    d = derating
    for T_w, w in ((293.15, 0.0), (350.0, 200.0), (385.0, -50.0)):
        R = 0.5 * (1.0 + 3.93e-3 * (T_w - 293.15))
        assert d.voltage_limit(T_w, 0.0, w) == pytest.approx(R * d.current_limit(T_w, 0.0) + 0.05 * w)
    # with uncertainty: R at the lower bound T - 2 sd (lowest plausible resistance)
    T_w, sd, w = 380.0, 3.0, 100.0
    R_low = 0.5 * (1.0 + 3.93e-3 * (T_w - 2 * sd - 293.15))
    v_lim = d.voltage_limit(T_w, sd, w)
    assert v_lim == pytest.approx(R_low * d.current_limit(T_w, sd) + 0.05 * w)
    # the current it drives stays under I_max for any true temperature within 2 sd
    for T_true in np.linspace(T_w - 2 * sd, T_w + 2 * sd, 9):
        I_true = (v_lim - 0.05 * w) / d.resistance(T_true)
        assert I_true <= d.current_limit(T_w, sd) * (1 + 1e-12)
    assert d.voltage_limit(450.0, 0.0, 0.0) == pytest.approx(d.resistance(450.0) * 1.0)


def test_derating_bad_input(derating: ThermalDerating) -> None:
    assert derating.current_limit(math.nan, 1.0) == 1.0  # no usable estimate: I_min
    assert derating.voltage_limit(math.nan, 1.0, 10.0) == pytest.approx(0.5 * 1.0 + 0.05 * 10.0)
    with pytest.raises(ValueError, match="standard deviation"):
        derating.current_limit(300.0, -1.0)
    with pytest.raises(ValueError, match="band"):
        ThermalDerating(393.15, 0.0, 8.0, 1.0, 0.5, 3.93e-3, 0.05)
    with pytest.raises(ValueError, match="I_min"):
        ThermalDerating(393.15, 10.0, 1.0, 8.0, 0.5, 3.93e-3, 0.05)
    with pytest.raises(ValueError, match="R_20"):
        ThermalDerating(393.15, 10.0, 8.0, 1.0, 0.0, 3.93e-3, 0.05)
    d = ThermalDerating.for_dc_motor()
    assert (d.R_20, d.alpha, d.k_e) == (0.5, 3.93e-3, 0.05)


def test_derating_with_pi_keeps_current_under_limit(derating: ThermalDerating) -> None:
    """PI + derating on the plant: the steady current respects I_max at a hot winding."""
    pi = PISpeedController.for_dc_motor()
    T_w = 390.0  # hot: I_max ~ 2.1 A
    R = derating.resistance(T_w)
    k, J = DC_MOTOR["k_e"], DC_MOTOR["J"]
    c = 0.2 / 450.0  # viscous load [N m s/rad]: 4 A needed at the set-point
    rows, w = [], 0.0
    for n in range(2500):  # mechanical time constant J / c = 0.225 s under current limit
        t = n * 1e-3
        u = pi.update(t, 450.0, w, derating.voltage_limit(T_w, 0.0, w))
        i = (u - 0.05 * w) / R
        rows.append(i)
        for _ in range(10):
            w += 1e-4 * (k * (u - k * w) / R - c * w) / J  # the hot motor: J dw/dt = k i - c w
    assert max(rows) <= derating.current_limit(T_w, 0.0) * (1 + 1e-9)
    assert rows[-1] == pytest.approx(derating.current_limit(T_w, 0.0), rel=1e-3)  # limited, set-point out of reach
    assert w == pytest.approx(k * derating.current_limit(T_w, 0.0) / c, rel=1e-3)  # held by the derating
