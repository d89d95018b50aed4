"""Declared state ranges (``State(lower=, upper=)``) are enforced, never silently ignored.

A state that passes a bound stops the run at the located crossing with status ``STATE_BOUND``,
naming the state, the bound and the time; an initial value outside the range is refused. A state
sitting on its bound (within the rounding slack) is fine.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from phystwin import RK4, DormandPrince, InputSignal, Rodas, simulate
from phystwin.core.model import BOUND_TOLERANCE, StateRangeError
from phystwin.core.simulation import Stepper, integrate_held
from phystwin.core.status import STATE_BOUND, IntegrationError, describe
from phystwin.physics import Component, Event, ModelDefinitionError, Parameter, State, System, Variable
from phystwin.physics.twins import li_ion_cell

A = 0.5  # tank cross-section [m2]
H_MAX = 2.0  # tank height [m]


class Tank(Component):
    """An open tank: A dh/dt = q, 0 <= h <= H_MAX."""

    states = (State("h", "m", 1.0, "level", lower=0.0, upper=H_MAX),)
    parameters = (Parameter("A", "m2", A, lower=0.0, strict=True),)
    inputs = (Variable("q", "m3/s"),)
    derivatives = {"h": lambda q, A: q / A}


class Bouncer(Component):
    """A state reset out of its range by an event: x' = 1 from 0; at x = 0.5 the reset sets x = 3."""

    states = (State("x", "1", 0.0, lower=-1.0, upper=1.0),)
    derivatives = {"x": lambda: 1.0}
    events = (Event("jump", lambda x: x - 0.5, resets={"x": lambda x: 3.0}, direction=1),)


def _tank_system(**values: float) -> System:
    s = System("tank_rig")
    s.add(Tank("tank", **values))
    s.input("inflow", "m3/s", "tank.q", default=0.0)
    s.output("level", "tank.h")
    return s


@pytest.fixture(scope="module")
def tank():  # type: ignore[no-untyped-def]
    return _tank_system().compile()


SOLVERS = [DormandPrince(), Rodas(), RK4(0.01)]


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: type(s).__name__)
def test_filling_past_the_upper_bound_stops_at_the_crossing(tank, solver) -> None:  # type: ignore[no-untyped-def]
    q = 0.1  # m3/s: from h = 1 m the level reaches 2 m at t = (2 - 1) A / q = 5 s
    with pytest.raises(IntegrationError) as err:
        simulate(tank, (0.0, 20.0), inputs={"inflow": q}, solver=solver, save=0.5)
    exc = err.value
    assert exc.status == STATE_BOUND
    t_cross = (H_MAX * (1 + BOUND_TOLERANCE) - 1.0) * A / q
    assert exc.t_reached == pytest.approx(t_cross, abs=1e-8)
    msg = str(exc)
    assert f"integration failed at t = {exc.t_reached:.9g} s: a state left its declared range" in msg
    assert "state tank.h [m] passed its upper bound 2 (declared range [0, 2])" in msg
    part = exc.partial
    assert part.status == STATE_BOUND and part.t[-1] <= t_cross and part.t.size == 11  # saves up to 5 s
    assert part.event_names == ("tank.h above its upper bound 2",)
    assert np.all(part["level"] <= H_MAX * (1 + BOUND_TOLERANCE))


def test_draining_below_the_lower_bound_returns_the_partial_result_when_asked(tank) -> None:  # type: ignore[no-untyped-def]
    traj = simulate(tank, (0.0, 60.0), inputs={"inflow": -0.05}, save=1.0, raise_on_failure=False)
    assert not traj.ok and traj.status == STATE_BOUND
    assert traj.stats["t_reached"] == pytest.approx(1.0 * A / 0.05, rel=1e-6)
    assert traj.message == (
        f"{describe(STATE_BOUND)} (state tank.h [m] passed its lower bound 0 (declared range [0, 2]))"
    )
    assert traj.event_names == ("tank.h below its lower bound 0",)


def test_a_state_on_its_bound_or_inside_runs_to_the_end(tank) -> None:  # type: ignore[no-untyped-def]
    full = simulate(tank, (0.0, 100.0), x0={"tank.h": H_MAX}, save=10.0)  # on the bound, no flow
    assert full.ok and np.all(full["level"] == H_MAX)
    # filling up to exactly the top, then stopping: an input step at the crossing time
    t_full = (H_MAX - 1.0) * A / 0.1
    ok = simulate(tank, (0.0, 20.0), inputs={"inflow": InputSignal([0.0, t_full], [0.1, 0.0])}, save=1.0)
    assert ok.ok and ok["level"][-1] == pytest.approx(H_MAX, rel=1e-12)


def test_initial_values_outside_the_range_are_refused(tank) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        StateRangeError, match=r"initial value: state tank\.h = 2\.5 m is outside its declared range \[0, 2\]"
    ):
        simulate(tank, (0.0, 1.0), x0={"tank.h": 2.5})
    with pytest.raises(StateRangeError, match=r"x0: state tank\.h = -0\.1 m is outside"):
        simulate(tank, (0.0, 1.0), x0=np.array([-0.1]))
    with pytest.raises(StateRangeError, match=r"tank\.h"):
        Stepper(tank, x0=np.array([3.0]))
    with pytest.raises(ModelDefinitionError, match=r"start value 3(\.0)? is outside"):
        Tank("tank", h=3.0)  # checked where the component is made
    # within the rounding slack is accepted (e.g. the last state of a previous run)
    assert simulate(tank, (0.0, 1.0), x0=np.array([H_MAX * (1 + BOUND_TOLERANCE / 2)])).ok


def test_declared_ranges_are_checked_at_compile_time() -> None:
    class Inverted(Component):
        states = (State("x", "1", 0.0, lower=1.0, upper=-1.0),)
        derivatives = {"x": lambda: 0.0}

    class StartsOutside(Component):
        states = (State("soc", "1", 1.5, lower=0.0, upper=1.0),)
        derivatives = {"soc": lambda: 0.0}

    for cls, expected in ((Inverted, r"lower bound 1 is not <= upper bound -1"), (StartsOutside, r"start value 1\.5")):
        s = System("bad")
        s.add(cls("c"))
        with pytest.raises(ModelDefinitionError, match=expected):
            s.compile()


def test_a_reset_out_of_the_range_fails_the_run() -> None:
    s = System("jumper")
    s.add(Bouncer("b"))
    with pytest.raises(IntegrationError) as err:
        simulate(s.compile(), (0.0, 2.0), save=0.1)
    assert err.value.status == STATE_BOUND
    assert err.value.t_reached == pytest.approx(0.5, abs=1e-9)
    assert "the reset of event 'b.jump' put a state outside its declared range" in str(err.value)


def test_live_stepper_keeps_the_state_and_names_the_bound(tank) -> None:  # type: ignore[no-untyped-def]
    st = Stepper(tank, x0={"tank.h": 1.9}, solver=RK4(0.1))
    st.step(0.5, {"inflow": 0.1})  # 1.9 -> 2.0: on the bound
    assert st.x[0] == pytest.approx(2.0)
    with pytest.raises(IntegrationError) as err:
        st.step(0.5, {"inflow": 0.1})
    assert err.value.status == STATE_BOUND and err.value.t_reached == pytest.approx(0.5)
    assert "state tank.h = 2.1 m is outside its declared range [0, 2] at the end of the step to t = 1 s" in str(
        err.value
    )
    assert st.x[0] == pytest.approx(2.0) and st.t == pytest.approx(0.5)  # state kept


def test_live_plant_path_names_the_bound(tank) -> None:  # type: ignore[no-untyped-def]
    times = np.arange(0.0, 10.0, 1.0)
    U = np.full((times.size, 1), 0.1)
    with pytest.raises(IntegrationError, match=r"passed its upper bound 2"):
        integrate_held(tank, tank.parameters(), np.array([1.0]), times, U, 10.0, DormandPrince())


def test_bench_plant_kernel_checks_the_bounds(tank) -> None:  # type: ignore[no-untyped-def]
    from phystwin.hil.bench_plant import PlantStepper

    plant = PlantStepper(tank, 0.5)
    X, _ = plant.run(0, np.array([1.0]), tank.parameters(), np.full((4, 1), 0.1))  # 1.0 -> 1.4 m
    assert X[-1, 0] == pytest.approx(1.4)
    with pytest.raises(IntegrationError) as err:
        plant.run(0, np.array([1.0]), tank.parameters(), np.full((20, 1), 0.1))  # 2 m after step 10, then beyond
    assert err.value.status == STATE_BOUND and err.value.t_reached == pytest.approx(5.0)
    assert "state tank.h [m] passed its upper bound 2" in str(err.value)


def test_layout_lists_the_bounds_after_the_events(tank) -> None:  # type: ignore[no-untyped-def]
    lay = tank.layout
    assert [(b.index, b.side, b.value) for b in lay.bounds] == [(0, "lower", 0.0), (0, "upper", 2.0)]
    assert lay.event_directions().tolist() == [-1, -1]
    assert lay.events == ()
    source = Path(tank.source_path).read_text()
    assert "# tank.h upper bound" in source


def test_models_without_bounds_generate_no_indicator(thermal_rc_model) -> None:  # type: ignore[no-untyped-def]
    assert thermal_rc_model.layout.bounds == ()
    assert thermal_rc_model.layout.event_directions().size == 0
    assert "bound" not in Path(thermal_rc_model.source_path).read_text()


def test_charging_a_full_cell_is_refused() -> None:
    """The Li-ion cell declares 0 <= SOC <= 1 and starts full: charging it is an input error."""
    model = li_ion_cell.build().compile()
    with pytest.raises(IntegrationError) as err:
        simulate(model, (0.0, 60.0), inputs={"current": -2.5}, save=1.0)
    assert err.value.status == STATE_BOUND
    assert "state cell.SOC [1] passed its upper bound 1" in str(err.value)
    # 2.5 A from a 2.5 Ah cell: SOC 1 + 1e-9 is reached after 3.6e-6 s
    assert err.value.t_reached == pytest.approx(3600 * 2.5 * BOUND_TOLERANCE / 2.5, rel=1e-3)
    assert math.isfinite(err.value.t_reached)
