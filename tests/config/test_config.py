"""Twin config files: structure, resolution against a model, every refusal names its key."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phystwin.config.resolve import MAX_TABLE_POINTS, load_model, resolve
from phystwin.config.schema import ConfigError, parse_config, read_config
from phystwin.config.template import config_template, toml_key, toml_value
from phystwin.core.inputs import InputSignal
from phystwin.core.options import RK4, DormandPrince, Rodas

FULL = """
[twin]
type = "fake"
name = "bench_A"

[parameters]
"mass.C" = "5 kJ/K"
"wall.G" = 2.5
"coil.L" = { value = 250, unit = "uH" }
"cell.Q" = "2500 mAh"
"sink.h" = "12 W/(m2*degC)"
"sink.eps" = "80 %"
"ocv.soc" = [0.0, 0.4, 1.0]

[initial]
"mass.T" = "25 degC"
"shaft.w" = "3000 rpm"

[simulation]
duration = "1 h"
solver = "dopri5"
rtol = 1e-5
atol = 1e-7
save_interval = "30 s"

[inputs]
T_amb = { value = 20, unit = "degC" }

[inputs.voltage]
kind = "linear"
times = [0, 10, 20]
values = [24, 12000, 24]
unit = "mV"
"""


def _problems(text: str, model, **kw) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as exc:
        resolve(parse_config(text, "cfg.toml"), model, **kw)
    assert str(exc.value).startswith("cfg.toml: ")
    return exc.value.problems


def _structure_problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "cfg.toml")
    return exc.value.problems


def _one(problems: list[tuple[str, str]], path: str) -> str:
    found = [m for p, m in problems if p == path]
    assert found, f"no problem reported at {path}; got {problems}"
    return found[0]


# ---------------------------------------------------------------------------------------- accepted
def test_full_config_resolves_to_si(fake_model) -> None:  # type: ignore[no-untyped-def]
    cfg = parse_config(FULL, "full.toml")
    assert cfg.label == "bench_A" and cfg.text == FULL and cfg.source == "full.toml"
    spec = resolve(cfg, fake_model)
    assert spec.params["mass.C"] == 5000.0
    assert spec.params["wall.G"] == 2.5
    assert spec.params["coil.L"] == pytest.approx(250e-6)
    assert spec.params["cell.Q"] == pytest.approx(2.5)  # Ah stays Ah: the parameter's unit
    assert spec.params["sink.h"] == pytest.approx(12.0)
    assert spec.params["sink.eps"] == pytest.approx(0.8)
    np.testing.assert_array_equal(spec.params["ocv.soc"], [0.0, 0.4, 1.0])
    assert spec.x0 == {"mass.T": pytest.approx(298.15), "shaft.w": pytest.approx(100.0 * math.pi)}
    assert spec.duration == 3600.0 and spec.save == 30.0
    assert isinstance(spec.solver, DormandPrince) and spec.solver.rtol == 1e-5 and spec.solver.atol == 1e-7
    assert spec.inputs["T_amb"] == pytest.approx(293.15)
    v = spec.inputs["voltage"]
    assert isinstance(v, InputSignal) and v.kind == "linear"
    np.testing.assert_allclose(v.values, [0.024, 12.0, 0.024])
    assert spec.label == "bench_A" and spec.twin_type == "fake"


def test_cli_overrides_duration_and_solver(fake_model) -> None:  # type: ignore[no-untyped-def]
    spec = resolve(parse_config(FULL), fake_model, duration=5.0, solver="rodas")
    assert spec.duration == 5.0 and isinstance(spec.solver, Rodas) and spec.solver_name == "rodas"


def test_minimal_config_uses_defaults(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = '[twin]\ntype = "fake"\n[simulation]\nduration = 10\n[inputs]\nvoltage = "12 V"\n'
    spec = resolve(parse_config(text), fake_model)
    assert spec.params == {} and spec.x0 == {} and spec.inputs == {"voltage": 12.0}
    assert isinstance(spec.solver, Rodas) and spec.solver.rtol == 1e-6 and spec.solver.atol == 1e-8
    assert spec.save is None and spec.label == "fake"


def test_rk4_takes_dt(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = '[twin]\ntype = "fake"\n[simulation]\nduration = 1\nsolver = "rk4"\ndt = "2 ms"\n[inputs]\nvoltage = 1\n'
    spec = resolve(parse_config(text), fake_model)
    assert isinstance(spec.solver, RK4) and spec.solver.dt == pytest.approx(2e-3)


def test_periodic_input_repeats_until_the_end(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = """[twin]
type = "fake"
[simulation]
duration = 100
[inputs.voltage]
times = [0, 10, 20]
values = [24, 12, 0]
period = 30
"""
    sig = resolve(parse_config(text), fake_model).inputs["voltage"]
    assert isinstance(sig, InputSignal) and sig.kind == "hold"
    np.testing.assert_array_equal(sig.times, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110])
    np.testing.assert_array_equal(sig.at(np.array([5.0, 15.0, 25.0, 35.0, 95.0])), [24, 12, 0, 24, 24])


def test_config_file_is_read_with_its_path(tmp_path, fake_model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "motor.toml"
    path.write_text(FULL, encoding="utf-8")
    cfg = read_config(path)
    assert cfg.source == str(path) and cfg.text == FULL
    with pytest.raises(ConfigError, match="cannot read the config file"):
        read_config(tmp_path / "missing.toml")


# ---------------------------------------------------------------------------------------- round trips
def test_template_round_trips_to_the_defaults(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = config_template(fake_model, "fake", description="a test twin", duration=12.5)
    assert "(required: no default)" in text
    spec = resolve(parse_config(text), fake_model)
    assert spec.duration == 12.5
    for sig in fake_model.layout.parameters:
        np.testing.assert_array_equal(spec.params[sig.name], sig.default)
    assert spec.x0 == {s.name: s.default for s in fake_model.layout.states}
    assert spec.inputs == {"T_amb": 293.15, "voltage": 0.0}


_finite = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)


@settings(max_examples=50)
@given(
    C=_finite, G=st.floats(min_value=0.0, max_value=1e300), soc=st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3)
)
def test_written_values_round_trip_exactly(fake_model, C: float, G: float, soc: list[float]) -> None:  # type: ignore[no-untyped-def]
    lines = ['[twin]\ntype = "fake"\n[simulation]\nduration = 1.0\n[inputs]\nvoltage = 1.0\n[parameters]']
    lines += [f"{toml_key('mass.C')} = {toml_value(C)}", f"{toml_key('wall.G')} = {toml_value(G)}"]
    lines += [f"{toml_key('ocv.soc')} = {toml_value(soc)}"]
    spec = resolve(parse_config("\n".join(lines) + "\n"), fake_model)
    assert spec.params["mass.C"] == C and spec.params["wall.G"] == G
    np.testing.assert_array_equal(spec.params["ocv.soc"], soc)


# ---------------------------------------------------------------------------------------- structural refusals
def test_unknown_keys_are_refused_with_suggestions() -> None:
    problems = _structure_problems(
        '[twin]\ntype = "fake"\ntyp = 1\n[simulation]\nrtoll = 1e-3\n'
        "[inputs.voltage]\ntimes = [0]\nvalues = [1]\ntims = 2\n[extra]\na = 1\n"
    )
    assert "did you mean 'type'" in _one(problems, "twin.typ")
    assert "did you mean 'rtol'" in _one(problems, "simulation.rtoll")
    assert "did you mean 'times'" in _one(problems, "inputs.voltage.tims")
    assert "allowed here: twin, parameters" in _one(problems, "extra")


def test_missing_twin_type() -> None:
    assert "missing" in _one(_structure_problems("[twin]\nname = 'a'\n"), "twin.type")
    assert "missing" in _one(_structure_problems("[parameters]\n"), "twin")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"abc"', 'got "abc"'),
        ("true", "got true"),
        ('"5 furlongs"', "unknown unit 'furlongs'"),
        ('{ value = 5, units = "V" }', "unknown key(s) ['units']"),
        ('{ unit = "V" }', "no 'value'"),
        ('{ value = "x", unit = "V" }', "expected a number"),
        ("nan", "finite"),
        ("[1, true]", "element [1]"),
    ],
)
def test_non_numeric_values_are_refused(value: str, expected: str) -> None:
    msg = _one(_structure_problems(f'[twin]\ntype = "fake"\n[parameters]\n"mass.C" = {value}\n'), 'parameters."mass.C"')
    assert expected in msg


def test_wrong_types_in_simulation_section() -> None:
    problems = _structure_problems(
        '[twin]\ntype = "fake"\n[simulation]\nsolver = "euler"\natol = "1e-3"\nrtol = -1\nduration = -5\n'
    )
    assert "'rodas', 'dopri5' or 'rk4'" in _one(problems, "simulation.solver")
    assert "number" in _one(problems, "simulation.atol")
    assert "greater than 0" in _one(problems, "simulation.rtol")
    assert "> 0 s" in _one(problems, "simulation.duration")


def test_bad_input_tables() -> None:
    problems = _structure_problems(
        """[twin]
type = "fake"
[inputs.a]
times = [0, 20, 10]
values = [1, 2, 3]
[inputs.b]
times = [0, 10]
values = [1, 2, 3]
[inputs.c]
times = [0, 10, 20]
values = [1, 2, 3]
period = 15
[inputs.d]
kind = "spline"
times = [0]
values = [1]
[inputs.e]
times = []
values = []
[inputs.f]
times = [0, 1]
values = [1, 2]
unit = "bananas"
"""
    )
    assert "strictly increasing" in _one(problems, "inputs.a.times")
    assert "as many values as times (2), got 3" in _one(problems, "inputs.b.values")
    assert "longer than the table's span (20.0 s)" in _one(problems, "inputs.c.period")
    assert "'hold' or 'linear'" in _one(problems, "inputs.d.kind")
    assert _one(problems, "inputs.e.times")
    assert "unknown unit" in _one(problems, "inputs.f.unit")


def test_invalid_toml_names_the_line() -> None:
    msg = _one(_structure_problems('[twin\ntype = "x"\n'), "")
    assert "not valid TOML" in msg and "line 1" in msg


# ---------------------------------------------------------------------------------------- model refusals
def test_typo_in_parameter_suggests_the_real_name(fake_model) -> None:  # type: ignore[no-untyped-def]
    problems = _problems('[twin]\ntype = "fake"\n[parameters]\n"mass.c" = 1\n"mas.C" = 2\n', fake_model, duration=1)
    assert "did you mean 'mass.C'" in _one(problems, 'parameters."mass.c"')
    assert "did you mean 'mass.C'" in _one(problems, 'parameters."mas.C"')


def test_unknown_name_without_close_match_lists_the_names(fake_model) -> None:  # type: ignore[no-untyped-def]
    problems = _problems('[twin]\ntype = "fake"\n[inputs]\nvoltage = 1\nzzz = 3\n', fake_model, duration=1)
    assert "the model's inputs are: T_amb, voltage" in _one(problems, "inputs.zzz")


def test_name_in_the_wrong_section_points_to_the_right_one(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = '[twin]\ntype = "fake"\n[parameters]\n"mass.T" = 300\n[initial]\nT_amb = 3\n[inputs]\nvoltage = 1\n'
    problems = _problems(text, fake_model, duration=1)
    assert "is a state: give it in [initial]" in _one(problems, 'parameters."mass.T"')
    assert "is an input: give it in [inputs]" in _one(problems, "initial.T_amb")


def test_wrong_units_name_key_given_and_expected_unit(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = """[twin]
type = "fake"
[parameters]
"coil.L" = "5 mohm"
[initial]
"mass.T" = "25 V"
[inputs]
voltage = "3 K"
T_amb = { value = 3, unit = "Hz" }
"""
    problems = _problems(text, fake_model, duration=1)
    msg = _one(problems, 'parameters."coil.L"')
    assert "'mohm'" in msg and "'H'" in msg and "parameter 'coil.L'" in msg
    assert "'V' does not convert to 'K'" in _one(problems, 'initial."mass.T"')
    assert "'K' does not convert to 'V'" in _one(problems, "inputs.voltage")
    assert "'Hz' does not convert to 'K'" in _one(problems, "inputs.T_amb")


def test_negative_capacitance_is_refused_by_the_model_bounds(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = '[twin]\ntype = "fake"\n[parameters]\n"mass.C" = "-5 kJ/K"\n"sink.eps" = 1.5\n[inputs]\nvoltage = 1\n'
    problems = _problems(text, fake_model, duration=1)
    assert _one(problems, 'parameters."mass.C"') == "expected a value > 0 J/K, got -5000 J/K (given as -5.0 kJ/K)"
    assert "expected a value >= 0 and <= 1, got 1.5" in _one(problems, 'parameters."sink.eps"')


def test_vector_size_and_scalar_mismatch(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = '[twin]\ntype = "fake"\n[parameters]\n"ocv.soc" = [1, 2]\n"mass.C" = [1, 2]\n[initial]\n"mass.T" = [1, 2]\n'
    text += "[inputs]\nvoltage = [1, 2]\n"
    problems = _problems(text, fake_model, duration=1)
    assert "expected 3 value(s), got 2" in _one(problems, 'parameters."ocv.soc"')
    assert "expected 1 value(s), got 2" in _one(problems, 'parameters."mass.C"')
    assert "single start value" in _one(problems, 'initial."mass.T"')
    assert "single constant value" in _one(problems, "inputs.voltage")


def test_state_bounds(fake_model) -> None:  # type: ignore[no-untyped-def]
    problems = _problems('[twin]\ntype = "fake"\n[initial]\n"mass.T" = "-5 K"\n', fake_model, duration=1)
    assert "outside [0, inf] K" in _one(problems, 'initial."mass.T"')
    # an offset unit below 0 K is refused before the bounds, naming the value (the units' own check)
    problems = _problems('[twin]\ntype = "fake"\n[initial]\n"mass.T" = "-300 degC"\n', fake_model, duration=1)
    assert "-300 degC is below absolute zero (-26.85 K)" in _one(problems, 'initial."mass.T"')


def test_missing_required_input_duration_and_dt(fake_model) -> None:  # type: ignore[no-untyped-def]
    problems = _problems('[twin]\ntype = "fake"\n[simulation]\nsolver = "rk4"\n', fake_model)
    assert "no default" in _one(problems, "inputs.voltage") and "[V]" in _one(problems, "inputs.voltage")
    assert "command line" in _one(problems, "simulation.duration")
    assert "fixed step dt" in _one(problems, "simulation.dt")
    assert len(problems) == 3  # everything reported at once


def test_too_many_periodic_points_are_refused(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = '[twin]\ntype = "fake"\n[inputs.voltage]\ntimes = [0, 1e-3]\nvalues = [1, 0]\nperiod = 2e-3\n'
    msg = _one(_problems(text, fake_model, duration=1e4), "inputs.voltage")
    assert str(MAX_TABLE_POINTS) in msg


def test_error_message_is_one_line_per_problem(fake_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as exc:
        resolve(parse_config('[twin]\ntype = "fake"\n[parameters]\n"mass.c" = 1\n', "m.toml"), fake_model)
    text = str(exc.value)
    assert text.splitlines()[0] == "m.toml: 3 problems:"
    assert '  parameters."mass.c": unknown parameter' in text


# ---------------------------------------------------------------------------------------- registered twins
def test_unknown_twin_type_is_refused_with_suggestion(thermal_twin) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as exc:
        load_model(parse_config('[twin]\ntype = "test_thermall"\n', "x.toml"))
    path, msg = exc.value.problems[0]
    assert path == "twin.type" and f"did you mean {thermal_twin!r}" in msg


@pytest.fixture(scope="module")
def thermal_model(thermal_twin):  # type: ignore[no-untyped-def]
    return load_model(parse_config(f'[twin]\ntype = "{thermal_twin}"\n'))


def test_registered_twin_runs_from_a_config(thermal_model, thermal_twin) -> None:  # type: ignore[no-untyped-def]
    text = f"""[twin]
type = "{thermal_twin}"
[parameters]
"mass.C" = "1 kJ/K"
"wall.G" = "4 W/K"
[initial]
"mass.T" = "80 degC"
[simulation]
duration = "10 min"
solver = "dopri5"
rtol = 1e-9
atol = 1e-9
save_interval = 60
[inputs]
T_amb = "20 degC"
"""
    spec = resolve(parse_config(text), thermal_model)
    traj = spec.simulate(thermal_model)
    assert traj.ok and traj.t[-1] == 600.0 and traj.t.size == 11
    expected = 293.15 + 60.0 * np.exp(-traj.t * 4.0 / 1000.0)
    np.testing.assert_allclose(traj["T_mass"], expected, rtol=1e-7)


def test_unquoted_dotted_names_are_read_as_full_names(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = '[twin]\ntype = "fake"\n[parameters]\nmass.C = "2 kJ/K"\ncoil.L = { value = 1, unit = "mH" }\n'
    text += '[initial]\nmass.T = "30 degC"\n[inputs]\nvoltage = 1\n'
    spec = resolve(parse_config(text), fake_model, duration=1)
    assert spec.params == {"mass.C": 2000.0, "coil.L": pytest.approx(1e-3)}
    assert spec.x0 == {"mass.T": pytest.approx(303.15)}
    msg = _one(_structure_problems('[twin]\ntype = "fake"\n[parameters]\n"mass.C" = 1\nmass.C = 2\n'), "")
    assert msg == 'parameters."mass.C" is given twice'
