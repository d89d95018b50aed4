"""The live Stepper API and the README's example, run as a user would."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from phystwin import RK4, DormandPrince, IntegrationError, Rodas, Stepper, simulate

ROOT = Path(__file__).resolve().parents[2]


def test_rk4_stepper_is_bit_for_bit_deterministic(thermal_rc_model):
    def run() -> np.ndarray:
        st = Stepper(thermal_rc_model, solver=RK4(dt=0.05))
        out = []
        for k in range(200):
            st.step(0.1, {"T_amb": 280.0 + (k % 7)})
            out.append(st.x.copy())
        return np.array(out)

    a, b = run(), run()
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("solver", [DormandPrince(rtol=1e-10, atol=1e-10), Rodas(rtol=1e-9, atol=1e-9)])
def test_stepper_matches_batch_simulation(thermal_rc_model, solver):
    """Stepping with held inputs equals simulate() with the same piecewise-constant table."""
    from phystwin import InputSignal

    times = np.arange(0.0, 100.0, 10.0)
    temps = 280.0 + 3.0 * np.sin(times / 17.0)
    traj = simulate(
        thermal_rc_model,
        (0.0, 100.0),
        inputs={"T_amb": InputSignal(times, temps)},
        solver=solver,
        save=np.append(times[1:], 100.0),
    )
    st = Stepper(thermal_rc_model, solver=solver)
    got = []
    for T in temps:
        got.append(st.step(10.0, {"T_amb": float(T)}).copy())
    np.testing.assert_allclose(np.array(got)[:, 0], traj["T_mass"], rtol=1e-8)
    assert st.t == pytest.approx(100.0)
    assert st.outputs()[0] == pytest.approx(traj["T_mass"][-1], rel=1e-8)


def test_stepper_refuses_bad_input_and_keeps_its_state(thermal_rc_model):
    st = Stepper(thermal_rc_model, solver=RK4(dt=0.1))
    st.step(1.0, {"T_amb": 290.0})
    x_before, t_before = st.x.copy(), st.t
    with pytest.raises(ValueError, match="expected 1 input"):
        st.step(1.0, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="dt must be > 0"):
        st.step(0.0, {"T_amb": 290.0})
    with pytest.raises(KeyError, match=r"unknown input\(s\) \['T_ambient'\]"):
        st.step(1.0, {"T_ambient": 3.0})
    with pytest.raises(ValueError, match=r"non-finite input value\(s\) for \['T_amb'\]"):
        st.step(1.0, {"T_amb": float("nan")})
    np.testing.assert_array_equal(st.x, x_before)
    assert st.t == t_before


def test_failed_live_step_keeps_the_last_good_state():
    """A model that blows up (x' = x^2 from 1 reaches infinity at t = 1) fails with the state kept."""
    from phystwin import Component, State, System

    class Blowup(Component):
        # x is a rate [1/s], so x' = x^2 [1/s2] is dimensionally consistent (the compiler checks it)
        states = (State("x", "1/s", 1.0),)
        derivatives = {"x": lambda x: x * x}

    s = System("blowup")
    s.add(Blowup("b"))
    model = s.compile()
    st = Stepper(model, solver=DormandPrince(rtol=1e-8, atol=1e-8, max_steps=10_000))
    st.step(0.5, np.zeros(0))
    x_good, t_good = st.x.copy(), st.t
    with pytest.raises(IntegrationError) as err:
        st.step(1.0, np.zeros(0))
    assert 0.99 < err.value.t_reached <= 1.0 + 1e-9
    np.testing.assert_array_equal(st.x, x_good)
    assert st.t == t_good


def test_readme_example_runs():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Compose and simulate a twin\s+```python\n(.*?)```", text, re.S)
    assert block, "README lost its example"
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    traj = namespace["traj"]
    final = traj["T_core"][-1]  # type: ignore[index]
    assert 298.15 < final < 320.0
