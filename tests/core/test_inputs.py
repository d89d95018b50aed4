"""InputSignal takes what a config's [inputs.<name>] table takes: period and unit."""

from __future__ import annotations

import numpy as np
import pytest

from phystwin.config.resolve import resolve
from phystwin.config.schema import ConfigError, parse_config
from phystwin.core.inputs import MAX_TABLE_POINTS, InputSignal, prepare_inputs
from phystwin.core.simulation import simulate
from phystwin.units import UnitError

TABLE = """[twin]
type = "fake"
[inputs.voltage]
kind = "{kind}"
times = [0, 10, 20]
values = [24, 12, 0]
period = {period}
unit = "{unit}"
"""


@pytest.mark.parametrize("kind", ["hold", "linear"])
@pytest.mark.parametrize(("period", "python_period"), [("30", 30.0), ('"0.5 min"', "0.5 min"), ('"30 s"', "30 s")])
@pytest.mark.parametrize("duration", [5.0, 45.0, 100.0])
def test_periodic_table_equals_the_config_periodic_table(
    fake_model, kind: str, period: str, python_period: object, duration: float
) -> None:  # type: ignore[no-untyped-def]
    text = TABLE.format(kind=kind, period=period, unit="mV")
    from_toml = resolve(parse_config(text), fake_model, duration=duration).inputs["voltage"]
    sig = InputSignal([0, 10, 20], [24, 12, 0], kind, period=python_period, unit="mV")
    a = prepare_inputs(fake_model, {"voltage": sig}, t_end=duration)
    b = prepare_inputs(fake_model, {"voltage": from_toml}, t_end=duration)
    np.testing.assert_array_equal(a.tab_t, b.tab_t)
    np.testing.assert_array_equal(a.tab_v, b.tab_v)
    np.testing.assert_array_equal(a.tab_kind, b.tab_kind)
    ts = np.linspace(-5.0, duration + 20.0, 97)
    np.testing.assert_array_equal(a.at(ts), b.at(ts))


def test_periodic_signal_repeats_and_converts_its_unit(fake_model) -> None:  # type: ignore[no-untyped-def]
    sig = InputSignal([0.0, 10.0, 20.0], [24.0, 12.0, 0.0], period="30 s")
    assert sig.period == 30.0
    np.testing.assert_array_equal(sig.at(np.array([5.0, 15.0, 25.0, 35.0, 95.0])), [24, 12, 0, 24, 24])
    table = prepare_inputs(fake_model, {"voltage": InputSignal([0.0], [1500.0], unit="mV")})
    assert table.tab_v[0, 1] == pytest.approx(1.5)  # voltage [V] is the model's second input


def test_period_and_unit_are_validated_with_the_config_messages(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = TABLE.format(kind="hold", period="15", unit="V")
    with pytest.raises(ConfigError) as exc:
        parse_config(text)
    (toml,) = [m for p, m in exc.value.problems if p.endswith("period")]
    with pytest.raises(ValueError) as err:
        InputSignal([0, 10, 20], [24, 12, 0], period=15)
    assert str(err.value) == toml
    with pytest.raises(ValueError, match="period: expected a time > 0 s"):
        InputSignal([0.0], [1.0], period=0.0)
    with pytest.raises(UnitError, match=r"^unit 'V' does not convert to 's', the unit of period"):
        InputSignal([0.0], [1.0], period="3 V")
    with pytest.raises(UnitError, match="unknown unit 'Jolts'"):
        InputSignal([0.0], [1.0], unit="Jolts")
    with pytest.raises(UnitError, match=r"unit 'K' does not convert to 'V', the unit of input 'voltage'"):
        prepare_inputs(fake_model, {"voltage": InputSignal([0.0], [1.0], unit="K")})


def test_periodic_table_needs_the_end_of_the_run(fake_model) -> None:  # type: ignore[no-untyped-def]
    sig = InputSignal([0.0, 1.0], [1.0, 0.0], period=2.0)
    with pytest.raises(ValueError, match=r"input 'voltage' \[V\]: a periodic table needs the end of the run"):
        prepare_inputs(fake_model, {"voltage": sig})
    with pytest.raises(ValueError, match=str(MAX_TABLE_POINTS)):
        prepare_inputs(fake_model, {"voltage": InputSignal([0.0, 1e-3], [1.0, 0.0], period=2e-3)}, t_end=1e4)


def test_simulate_repeats_a_periodic_input_like_the_config(thermal_rc_model) -> None:  # type: ignore[no-untyped-def]
    sig = InputSignal([0.0, 50.0], [20.0, 40.0], period="100 s", unit="degC")
    expanded = InputSignal([0.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 350.0], [293.15, 313.15] * 4)
    a = simulate(thermal_rc_model, (0.0, 300.0), inputs={"T_amb": sig}, save=10.0)
    b = simulate(thermal_rc_model, (0.0, 300.0), inputs={"T_amb": expanded}, save=10.0)
    np.testing.assert_allclose(a.x, b.x, rtol=1e-12)
    np.testing.assert_allclose(a.u, b.u, rtol=1e-12)
    c = simulate(thermal_rc_model, (0.0, 300.0), inputs={"T_amb": "30 degC"}, save=100.0)
    assert c.u[0, 0] == pytest.approx(303.15)
