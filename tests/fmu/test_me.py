"""Model-exchange FMUs inside the compiled core: FMU and native versions of the same physics agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phystwin.core.model import Model
from phystwin.core.options import DormandPrince
from phystwin.core.simulation import simulate
from phystwin.fmu.me import FMUModelExchange, fmu_component, fmu_eval
from phystwin.physics.mechanical import Damper, Fixed, Friction, Inertia, SpeedSource, Spring
from phystwin.physics.system import System
from phystwin.physics.thermal import HeatCapacitor, PrescribedHeatFlow, PrescribedTemperature, ThermalConductor
from phystwin.physics.twins.dc_motor import LoadTorque

SAVE = np.linspace(0.0, 2.0, 401)
INPUTS = {"w_in": 10.0, "tau_ext": 0.5}


def _fmu_load_system(path: Path) -> tuple[Model, FMUModelExchange]:
    comp, inst = fmu_component("load", path)
    s = System("fmu_load")
    s.add(comp)
    s.input("w_in", "rad/s", "load.w_in", default=0.0)
    s.input("tau_ext", "N*m", "load.tau_ext", default=0.0)
    s.output("tau", "load.tau")
    s.output("w_load", "load.w_l")
    return s.compile(), inst


def _native_load_system() -> Model:
    """The dc_load FMU's equations from library components: speed-driven spring + damper coupling,
    load inertia with viscous friction, external torque against the motion."""
    s = System("native_load")
    for c in (
        SpeedSource("drive"),
        Spring("spring", c=50.0),
        Damper("damper", d=0.05),
        Inertia("inertia", J=2e-3),
        Friction("bearing", b=1e-3, tau_c=0.0),
        Fixed("frame"),
        LoadTorque("ext"),
    ):
        s.add(c)
    s.connect("drive.flange", "spring.flange_a")
    s.connect("drive.flange", "damper.flange_a")
    s.connect("spring.flange_b", "inertia.flange_a")
    s.connect("damper.flange_b", "inertia.flange_a")
    s.connect("inertia.flange_b", "bearing.flange_a")
    s.connect("bearing.flange_b", "frame.flange")
    s.connect("inertia.flange_b", "ext.flange")
    s.input("w_in", "rad/s", "drive.w", default=0.0)
    s.input("tau_ext", "N*m", "ext.tau_load", default=0.0)
    s.output("w_load", "inertia.w")
    return s.compile()


@pytest.fixture(scope="module")
def fmu_load(dc_load_fmu: Path) -> tuple[Model, FMUModelExchange]:
    return _fmu_load_system(dc_load_fmu)


def test_fmu_load_equals_native_components(fmu_load: tuple[Model, FMUModelExchange]) -> None:
    model, inst = fmu_load
    fmu = simulate(model, (0.0, 2.0), inputs=INPUTS, save=SAVE)
    native = simulate(_native_load_system(), (0.0, 2.0), inputs=INPUTS, save=SAVE)
    inst.check()
    w_fmu, w_nat = fmu["w_load"], native["w_load"]
    assert np.all(np.isfinite(w_fmu))
    # both from phystwin's adaptive solver at its default tolerance: agreement well inside it
    assert np.max(np.abs(w_fmu - w_nat)) < 1e-4 * np.max(np.abs(w_nat))
    # the steady state of the load: w_l -> w_in, spring torque = b w + tau_ext
    assert w_fmu[-1] == pytest.approx(10.0, abs=0.05)
    assert fmu["tau"][-1] == pytest.approx(1e-3 * 10.0 + 0.5, abs=0.02)
    assert model.estimated_parameters == ()
    assert "finite differences" in model.jacobian_kind


def test_one_evaluation_per_point_never_serves_a_stale_value(fmu_load: tuple[Model, FMUModelExchange]) -> None:
    """Every function of the component reads one cached FMU evaluation per (t, x, u); a change of any
    of them (time, one state, one input) re-evaluates. The values are dc_load's equations."""
    _, inst = fmu_load
    h = inst.handle

    def expected(x: tuple[float, float], u: tuple[float, float]) -> tuple[float, float, float, float]:
        phi, w_l = x
        w_in, tau_ext = u
        tau = 50.0 * phi + 0.05 * (w_in - w_l)
        return w_in - w_l, (tau - 1e-3 * w_l - tau_ext) / 2e-3, tau, w_l

    points = [
        (0.0, (0.1, 2.0), (10.0, 0.5)),
        (0.0, (0.1, 2.0), (10.0, 0.5)),  # the same point: served from the cache
        (0.0, (0.1, 2.0), (10.0, 0.7)),  # one input changed
        (0.0, (0.1, 2.5), (10.0, 0.7)),  # one state changed
        (1.0, (0.1, 2.5), (10.0, 0.7)),  # only the time changed
        (0.0, (0.1, 2.0), (10.0, 0.5)),  # back to the first point
    ]
    for t, x, u in points:
        got = [fmu_eval(h, t, x, u, 0, 0), fmu_eval(h, t, x, u, 0, 1), fmu_eval(h, t, x, u, 1, 0)]
        got.append(fmu_eval(h, t, x, u, 1, 1))
        assert got == pytest.approx(expected(x, u), rel=1e-12), (t, x, u)
    inst.check()
    inst.invalidate()
    assert fmu_eval(h, 0.0, (0.1, 2.0), (10.0, 0.5), 1, 0) == pytest.approx(expected((0.1, 2.0), (10.0, 0.5))[2])


def _fmu_rc_system(path: Path, name: str) -> tuple[Model, FMUModelExchange]:
    comp, inst = fmu_component("rc", path)
    s = System(name)
    s.add(comp)
    s.input("Q_in", "W", "rc.Q_in", default=0.0)
    s.input("T_amb", "K", "rc.T_amb", default=298.15)
    s.output("T1", "rc.T1")
    s.output("T2", "rc.T2")
    s.output("Q_amb", "rc.Q_amb")
    return s.compile(), inst


def _native_rc_system() -> Model:
    n = System("native_rc")
    for c in (
        HeatCapacitor("c1", C=100.0, T=298.15),
        ThermalConductor("g12", G=2.0),
        HeatCapacitor("c2", C=400.0, T=298.15),
        ThermalConductor("g2a", G=0.5),
        PrescribedTemperature("ambient"),
        PrescribedHeatFlow("heater"),
    ):
        n.add(c)
    n.connect("heater.port", "c1.port")
    n.connect("c1.port", "g12.a")
    n.connect("g12.b", "c2.port")
    n.connect("c2.port", "g2a.a")
    n.connect("g2a.b", "ambient.port")
    n.input("Q_in", "W", "heater.Q_flow", default=0.0)
    n.input("T_amb", "K", "ambient.T", default=298.15)
    n.output("T1", "c1.T")
    n.output("T2", "c2.T")
    return n.compile()


RC_SAVE = np.linspace(0.0, 2000.0, 201)


def test_thermal_rc_fmu_equals_native_network(thermal_rc_fmu: Path) -> None:
    model, inst = _fmu_rc_system(thermal_rc_fmu, "fmu_rc")
    a = simulate(model, (0.0, 2000.0), inputs={"Q_in": 50.0}, save=RC_SAVE)
    b = simulate(_native_rc_system(), (0.0, 2000.0), inputs={"Q_in": 50.0}, save=RC_SAVE)
    inst.check()
    for name in ("T1", "T2"):
        assert np.max(np.abs(a[name] - b[name])) < 1e-3
    # steady state: T2 = T_amb + Q/G2a, T1 = T2 + Q/G12 (not reached yet at 2000 s, but bounded by it)
    assert 298.15 < a["T2"][-1] < 298.15 + 50.0 / 0.5


def test_fmi3_thermal_rc_equals_fmi2_and_native_network(thermal_rc_fmu: Path, thermal_rc_fmi3_fmu: Path) -> None:
    """The same C equations behind FMI 3.0 and FMI 2.0 model exchange give the same trajectories under the
    same solver, and both match the native thermal network."""
    m3, inst3 = _fmu_rc_system(thermal_rc_fmi3_fmu, "fmu3_rc")
    m2, inst2 = _fmu_rc_system(thermal_rc_fmu, "fmu2_rc")
    assert inst3.fmi_version == 3 and inst2.fmi_version == 2
    assert m3.layout.events == m2.layout.events == ()  # no indicators; neither FMU needs step completion
    u = {"Q_in": 50.0, "T_amb": 293.15}
    a = simulate(m3, (0.0, 2000.0), inputs=u, save=RC_SAVE)
    b = simulate(m2, (0.0, 2000.0), inputs=u, save=RC_SAVE)
    c = simulate(_native_rc_system(), (0.0, 2000.0), inputs=u, save=RC_SAVE)
    inst3.check()
    inst2.check()
    assert a.ok and b.ok and c.ok
    for name in ("T1", "T2", "Q_amb"):
        assert np.all(np.isfinite(a[name]))
        assert np.max(np.abs(a[name] - b[name])) <= 1e-9 * np.max(np.abs(b[name]))
    for name in ("T1", "T2"):
        assert np.max(np.abs(a[name] - c[name])) < 1e-3
    np.testing.assert_allclose(a["Q_amb"], 0.5 * (a["T2"] - 293.15), rtol=1e-12, atol=1e-12)
    assert a["T1"][0] == 298.15 and a["T1"][-1] > a["T2"][-1] > 293.15


def _rc_expected(
    x: tuple[float, float], u: tuple[float, float], C1: float = 100.0
) -> tuple[float, float, float, float, float]:
    """thermal_rc's equations: der(T1), der(T2), T1_out, T2_out, Q_amb."""
    T1, T2 = x
    Q_in, T_amb = u
    q12, q_amb = 2.0 * (T1 - T2), 0.5 * (T2 - T_amb)
    return (Q_in - q12) / C1, (q12 - q_amb) / 400.0, T1, T2, q_amb


def _rc_values(h: np.ndarray, t: float, x: tuple[float, float], u: tuple[float, float]) -> list[float]:
    return [fmu_eval(h, t, x, u, 0, 0), fmu_eval(h, t, x, u, 0, 1), *(fmu_eval(h, t, x, u, 1, k) for k in range(3))]


def test_fmi3_one_evaluation_per_point_never_serves_a_stale_value(thermal_rc_fmi3_fmu: Path) -> None:
    """The one-evaluation cache on an FMI 3.0 FMU (fmi3SetFloat64 / fmi3GetFloat64 with their extra count):
    a change of the time, one state or one input re-evaluates; FMU parameters set in SI reach the FMU."""
    _, inst = fmu_component("rc3", thermal_rc_fmi3_fmu)
    h = inst.handle
    points = [
        (0.0, (300.0, 299.0), (50.0, 298.15)),
        (0.0, (300.0, 299.0), (50.0, 298.15)),  # the same point: served from the cache
        (0.0, (300.0, 299.0), (20.0, 298.15)),  # one input changed
        (0.0, (300.0, 299.0), (20.0, 290.0)),  # the other input changed
        (0.0, (310.0, 299.0), (20.0, 290.0)),  # one state changed
        (5.0, (310.0, 299.0), (20.0, 290.0)),  # only the time changed
        (0.0, (300.0, 299.0), (50.0, 298.15)),  # back to the first point
    ]
    for t, x, u in points:
        assert _rc_values(h, t, x, u) == pytest.approx(_rc_expected(x, u), rel=1e-12, abs=1e-15), (t, x, u)
    inst.check()
    inst.invalidate()
    assert fmu_eval(h, 0.0, (300.0, 299.0), (50.0, 298.15), 1, 2) == pytest.approx(0.5 * (299.0 - 298.15))

    _, heavier = fmu_component("rc3_c1", thermal_rc_fmi3_fmu, parameters={"C1": 200.0})
    x, u = (300.0, 299.0), (50.0, 298.15)
    assert _rc_values(heavier.handle, 0.0, x, u) == pytest.approx(_rc_expected(x, u, C1=200.0), rel=1e-12)
    heavier.check()


def test_fmi3_event_iteration_and_step_completion(thermal_rc_fmi3_fmu: Path) -> None:
    """The FMI 3.0 event iteration (fmi3EnterEventMode, fmi3UpdateDiscreteStates with its six out-arguments,
    fmi3EnterContinuousTimeMode, fmi3GetContinuousStates) and fmi3CompletedIntegratorStep (one-byte
    fmi3Boolean out-arguments) called from compiled code: stale bytes in the out-argument cells are not
    read as flags, and the FMU is back in continuous-time mode afterwards."""
    inst = FMUModelExchange(thermal_rc_fmi3_fmu, "rc3_events")
    h = inst.handle
    ng = inst.description.n_event_indicators
    x, u = (305.0, 300.0), (10.0, 298.15)
    inst.cache[-4:] = np.frombuffer(b"\xff" * 32, np.float64)  # the event-iteration out-argument cells
    inst._flags[:] = -1  # the step-completion out-argument cells
    assert [fmu_eval(h, 1.0, x, u, 3, k) for k in range(2)] == [305.0, 300.0]  # no reinitialisation
    inst.check()  # the 0xff bytes were not taken for "terminate" or "update again"
    assert fmu_eval(h, 1.0, x, u, 2, ng) < -1e299  # no time event defined: the time indicator stays negative
    assert fmu_eval(h, 1.0, x, u, 2, ng + 1) == -1.0  # step completed, no event requested, no termination
    assert fmu_eval(h, 2.0, x, u, 2, ng + 1) == -1.0
    inst.check()
    assert _rc_values(h, 2.0, x, u) == pytest.approx(_rc_expected(x, u), rel=1e-12)  # continuous-time mode again
    inst.check()


def test_fmi3_failed_call_names_the_fmi3_function_and_status(thermal_rc_fmi3_fmu: Path) -> None:
    from phystwin.fmu import errors

    inst = FMUModelExchange(thermal_rc_fmi3_fmu, "rc3_failing")
    inst._fmu.enterEventMode()  # fmi3SetContinuousStates is refused outside continuous-time mode
    assert np.isnan(fmu_eval(inst.handle, 0.0, (300.0, 299.0), (0.0, 298.15), 0, 0))
    with pytest.raises(errors.FMUCallError, match=r"fmi3SetContinuousStates near t = 0 s returned Error"):
        inst.check(0.0)
    inst._fmu.enterContinuousTimeMode()
    assert fmu_eval(inst.handle, 0.0, (300.0, 299.0), (0.0, 298.15), 0, 0) == pytest.approx(-0.02)
    inst.check()


def test_fmi3_without_model_exchange_is_refused_with_a_pointer_to_cosimulation(
    thermal_rc_fmi3_cs_only_fmu: Path,
) -> None:
    with pytest.raises(ValueError, match=r"FMI 3\.0 FMU has no ModelExchange interface .*phystwin\.fmu\.cosim"):
        fmu_component("rc3", thermal_rc_fmi3_cs_only_fmu)


def test_fmi3_parameters_must_be_float64_parameters(thermal_rc_fmi3_fmu: Path) -> None:
    with pytest.raises(ValueError, match=r"'T1_out' is not a parameter \(output Float64\)"):
        fmu_component("rc3", thermal_rc_fmi3_fmu, parameters={"T1_out": 1.0})


FMI_VERSIONS = pytest.mark.parametrize("fmi_version", [2, 3], ids=["fmi2", "fmi3"])


def _variant(request: pytest.FixtureRequest, name: str, fmi_version: int) -> Path:
    """The session-built FMU of model ``name`` in FMI version 2 or 3 (fixtures of conftest.py)."""
    path: Path = request.getfixturevalue(f"{name}_fmu" if fmi_version == 2 else f"{name}_fmi3_fmu")
    return path


@FMI_VERSIONS
def test_bouncing_ball_events_from_the_fmu(request: pytest.FixtureRequest, fmi_version: int) -> None:
    """State events from the FMU's event indicator (FMI 2.0 fmi2GetEventIndicators / FMI 3.0
    fmi3GetEventIndicators) and the reinitialisation from its event iteration."""
    comp, inst = fmu_component("ball", _variant(request, "bouncing_ball", fmi_version))
    assert inst.fmi_version == fmi_version
    s = System("fmu_ball")
    s.add(comp)
    s.output("height", "ball.h")
    model = s.compile()
    # the FMU's state-event indicator, and the time-event indicator an FMU with state events gets
    assert [name for name, _ in model.layout.events] == ["ball.indicator_0", "ball.time_event"]
    tr = simulate(model, (0.0, 2.0), save=np.linspace(0.0, 2.0, 2001))
    inst.check()
    h = tr["height"]
    assert np.min(h) > -1e-6  # the event put it back up: it never falls through the floor
    first = np.sqrt(2.0 / 9.81)
    k = int(np.argmax(np.diff(h[: int(1.5 * first * 1000)]) > 0))  # first rising sample after the impact
    assert abs(k / 1000.0 - first) < 5e-3
    assert 0.5 < np.max(h[k:]) < 0.7  # apex after one bounce: e^2 h0 = 0.64 m


def _heater(path: Path, **parameters: float) -> tuple[Model, FMUModelExchange]:
    comp, inst = fmu_component("heater", path, parameters=parameters)
    s = System(f"fmu_heater_{len(parameters)}")
    s.add(comp)
    s.input("T_amb", "K", "heater.T_amb", default=293.15)
    s.output("T", "heater.T")
    s.output("Q", "heater.Q_heat")
    return s.compile(), inst


def _first_order(t: np.ndarray, t0: float, T0: float, T_inf: float, tau: float) -> np.ndarray:
    return T_inf + (T0 - T_inf) * np.exp(-(t - t0) / tau)


@FMI_VERSIONS
def test_time_events_switch_the_fmu_exactly_on_schedule(request: pytest.FixtureRequest, fmi_version: int) -> None:
    """The FMU's nextEventTime (fmi2NewDiscreteStates / fmi3UpdateDiscreteStates) drives the PWM switching;
    between switchings the temperature is a first-order response, so the whole run is known in closed form."""
    model, inst = _heater(_variant(request, "pwm_heater", fmi_version))
    assert inst.fmi_version == fmi_version
    assert [name for name, _ in model.layout.events] == ["heater.time_event", "heater.step_event"]
    save = np.linspace(0.0, 60.0, 601)
    tr = simulate(model, (0.0, 60.0), save=save)
    inst.check()
    switch_times = 5.0 * np.arange(1, 13)  # the last one falls on the end time and fires there
    assert tr.event_names == ("heater.time_event",) * 12
    assert np.max(np.abs(tr.event_times - switch_times)) < 1e-8
    expected = np.empty_like(save)
    T0, tau = 293.15, 500.0 / 2.0
    for k, t0 in enumerate(np.concatenate(([0.0], switch_times[:-1]))):
        T_inf = 293.15 + (100.0 / 2.0 if k % 2 == 0 else 0.0)
        seg = (save >= t0) & (save <= t0 + 5.0)
        expected[seg] = _first_order(save[seg], t0, T0, T_inf, tau)
        T0 = float(_first_order(np.array([t0 + 5.0]), t0, T0, T_inf, tau)[0])
    assert np.max(np.abs(tr["T"] - expected)) < 1e-5
    inside = np.abs((save + 1e-9) % 10.0 - 5.0) > 1e-6  # away from the switching instants
    on = (save % 10.0) < 5.0
    assert np.array_equal(tr["Q"][inside], np.where(on, 100.0, 0.0)[inside])


@FMI_VERSIONS
def test_step_completion_trips_the_cutout_at_the_end_of_the_step(
    request: pytest.FixtureRequest, fmi_version: int
) -> None:
    """The cutout is seen only by fmi2CompletedIntegratorStep / fmi3CompletedIntegratorStep (no state-event
    indicator): the event fires at the end of the accepted step that crossed T_max and the heater stays off
    afterwards."""
    model, inst = _heater(_variant(request, "pwm_heater", fmi_version), P=1000.0, T_max=310.0, period=100.0)
    assert inst.fmi_version == fmi_version
    assert inst.needs_step_completion  # FMI 2.0: no completedIntegratorStepNotNeeded; FMI 3.0: declared
    save = np.linspace(0.0, 30.0, 3001)
    tr = simulate(model, (0.0, 30.0), save=save, solver=DormandPrince(hmax=0.1))
    inst.check()
    assert tr.event_names == ("heater.step_event",)  # the first PWM switching would be at 50 s
    t_trip = float(tr.event_times[0])
    # analytic crossing of the heating curve towards T_inf = 293.15 + 1000/2 with tau = C/G = 250 s
    tau = 250.0
    t_cross = tau * np.log((793.15 - 293.15) / (793.15 - 310.0))
    assert t_cross < t_trip <= t_cross + 0.1  # at the end of the solver step (at most hmax) that crossed
    after = save > t_trip + 1e-9
    assert np.all(tr["Q"][after] == 0.0)
    T_trip = float(_first_order(np.array([t_trip]), 0.0, 293.15, 793.15, tau)[0])  # heated until the trip
    assert T_trip >= 310.0
    assert np.max(np.abs(tr["T"][after] - _first_order(save[after], t_trip, T_trip, 293.15, tau))) < 1e-3


def test_fault_injector_discard_becomes_a_clear_error(fault_injector_fmu: Path) -> None:
    from phystwin.fmu import errors

    inst = FMUModelExchange(fault_injector_fmu, "faulty")
    inst._fmu.setInteger([0], [1])  # fault_mode = 1 (Discard) from fault_time = 1 s
    s = System("faulty")
    s.add(inst.component("inj"))
    s.input("u", "1", "inj.u", default=1.0)
    s.output("y", "inj.x")
    tr = simulate(s.compile(), (0.0, 2.0), raise_on_failure=False)
    assert not tr.ok
    with pytest.raises(
        errors.FMUDiscard, match=r"FMU 'fault_injector': fmi2GetDerivatives near t = \S+ s returned Discard"
    ):
        inst.check(tr.t[-1])
    inst.check()  # reported once, then cleared


def test_ukf_estimates_the_unmeasured_load_speed_inside_an_fmu(dc_load_fmu: Path) -> None:
    """The DC motor twin with its load as an FMU (spring coupling to a load inertia): a UKF on motor
    current and speed tracks the load's speed, which no sensor measures and only the FMU computes."""
    from phystwin.estimation import GaussianState, UnscentedKalmanFilter
    from phystwin.physics.twins import dc_motor

    s = dc_motor.build()
    comp, inst = fmu_component("coupling", dc_load_fmu, parameters={"J_l": 5e-4, "k_c": 2.0, "d_c": 1e-3})
    s.add(comp)
    del s.inputs["load_torque"]  # the load torque now comes from the FMU's coupling
    s.connect("coupling.tau", "load.tau_load")
    s.connect("rotor.w", "coupling.w_in")
    s.input("load_torque", "N*m", "coupling.tau_ext", default=0.0)
    s.output("load_speed", "coupling.w_l")
    model = s.compile()
    lay = model.layout
    u = {"voltage": 12.0, "load_torque": 0.02}
    dt, n = 2e-3, 400
    save = np.arange(1, n + 1) * dt
    truth = simulate(model, (0.0, n * dt), inputs=u, save=save)
    inst.check()
    rng = np.random.default_rng(7)
    z_i = truth["current"] + rng.normal(0.0, 0.05, n)
    z_w = truth["speed"] + rng.normal(0.0, 0.2, n)
    qc = np.full(lay.nx, 1e-6)
    ukf = UnscentedKalmanFilter(model, ["current", "speed"], [0.05**2, 0.2**2], Qc=qc)
    x0 = model.initial_state()
    sd = np.full(lay.nx, 1e-3)
    sd[lay.state_index("coupling.w_l")] = 5.0  # the filter starts far from the load's speed
    x0[lay.state_index("coupling.w_l")] = 20.0
    state = GaussianState(0.0, x0, np.diag(sd**2))
    est = np.empty(n)
    for k in range(n):
        state, info = ukf.predict_update(state, save[k], [z_i[k], z_w[k]], u=u)
        assert info.accepted
        est[k] = state.x[lay.state_index("coupling.w_l")]
    inst.check()
    err = np.abs(est - truth["load_speed"])
    assert err[0] > 5.0  # it did start far off ...
    assert np.sqrt(np.mean(err[-100:] ** 2)) < 0.5  # ... and ends tracking the unmeasured load speed
