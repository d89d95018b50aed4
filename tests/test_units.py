"""Unit conversion at the config boundary."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from phystwin.config.resolve import resolve, to_si
from phystwin.config.schema import parse_config, parse_quantity
from phystwin.units import (
    Constant,
    UnitError,
    conversion,
    convert,
    dimension_text,
    is_coherent,
    parse_unit,
    same_unit,
    si_unit,
    to_unit,
    value_in,
)

CONVERSIONS = [
    # (value, unit, SI unit, expected SI value)
    (25.0, "degC", "K", 298.15),
    (-273.15, "degC", "K", 0.0),
    (32.0, "degF", "K", 273.15),
    (5.0, "mH", "H", 5e-3),
    (250.0, "uH", "H", 250e-6),
    (50.0, "mohm", "ohm", 0.05),
    (2.0, "kΩ", "ohm", 2000.0),
    (1.5, "min", "s", 90.0),
    (2.0, "h", "s", 7200.0),
    (3000.0, "rpm", "rad/s", 3000.0 * 2.0 * math.pi / 60.0),
    (250.0, "mA", "A", 0.25),
    (500.0, "mV", "V", 0.5),
    (1.5, "kW", "W", 1500.0),
    (3.0, "kJ/K", "J/K", 3000.0),
    (1.0, "g*cm2", "kg*m2", 1e-7),
    (2500.0, "mAh", "Ah", 2.5),
    (3600.0, "C", "Ah", 1.0),
    (1.0, "Ah", "C", 3600.0),
    (100.0, "cm2", "m2", 0.01),
    (10.0, "W/(m2*degC)", "W/(m2*K)", 10.0),
    (10.0, "W/m2/K", "W/(m2*K)", 10.0),
    (2.0, "N m", "N*m", 2.0),
    (20.0, "mNm", "N*m", 0.02),
    (50.0, "%", "1", 0.5),
    (0.05, "V*s/rad", "N*m/A", 0.05),
    (90.0, "deg", "rad", math.pi / 2.0),
    (1.0, "kWh", "J", 3.6e6),
    (2.0, "bar", "Pa", 2e5),
    (3.0, "L", "m3", 3e-3),
    (4.0, "Pa*s2/m6", "Pa*s^2/m^6", 4.0),
]


@pytest.mark.parametrize(("value", "unit", "si", "expected"), CONVERSIONS)
def test_conversion_table(value: float, unit: str, si: str, expected: float) -> None:
    assert convert(value, unit, si) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("unit", "target"),
    [("mH", "ohm"), ("V", "K"), ("W", "W/K"), ("Hz", "rad/s"), ("rpm", "1/s"), ("deg", "1"), ("Ah", "J")],
)
def test_incompatible_units_are_refused_naming_both(unit: str, target: str) -> None:
    with pytest.raises(UnitError) as exc:
        conversion(unit, target)
    assert repr(unit) in str(exc.value) and repr(target) in str(exc.value)


@pytest.mark.parametrize("bad", ["mfoo", "m(", "2 m", "kmin", "W//K", "K^", "m-"])
def test_unreadable_units_are_refused(bad: str) -> None:
    with pytest.raises(UnitError, match="unit"):
        parse_unit(bad)


def test_spellings_of_the_same_unit() -> None:
    assert same_unit("N m", "N*m") and same_unit("Nm", "N*m") and same_unit("N·m", "N*m")
    assert same_unit("W/m2/K", "W/(m2*K)") and same_unit("m^2", "m2") and same_unit("m**2", "m2")
    assert same_unit("°C", "degC") and not same_unit("degC", "K")  # offset differs
    assert not same_unit("mH", "H")


def test_offset_only_for_a_lone_temperature() -> None:
    assert convert(1.0, "1/degC", "1/K") == 1.0
    assert convert(1.0, "W/(m2*degC)", "W/(m2*K)") == 1.0
    assert convert(20.0, "degC", "K") == pytest.approx(293.15)


# ---------------------------------------------------------------------------------------- properties
_UNIT_PAIRS = [(u, si) for _, u, si, _ in CONVERSIONS]
_values = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


def _physical(value: float, unit: str) -> bool:
    """False for a temperature below absolute zero (refused: see the tests at the end)."""
    u = parse_unit(unit)
    return not u.offset or value * u.scale + u.offset >= 0.0


@given(value=_values, pair=st.sampled_from(_UNIT_PAIRS))
def test_value_unit_si_round_trip(value: float, pair: tuple[str, str]) -> None:
    unit, si = pair
    assume(_physical(value, unit))
    back = convert(convert(value, unit, si), si, unit)
    assert back == pytest.approx(value, rel=1e-9, abs=1e-9 * max(1.0, abs(value)))


@given(value=_values, pair=st.sampled_from(_UNIT_PAIRS))
def test_string_and_table_forms_convert_alike(value: float, pair: tuple[str, str]) -> None:
    unit, si = pair
    assume(_physical(value, unit))
    expected = convert(value, unit, si)
    from_string = to_si(parse_quantity(f"{value!r} {unit}"), si, "x")
    from_table = to_si(parse_quantity({"value": value, "unit": unit}), si, "x")
    assert from_string == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert from_table == expected


@given(value=st.floats(min_value=1e-6, max_value=1e6), unit=st.sampled_from(["mH", "uH", "H", "nH"]))
def test_inductance_in_a_config_file_round_trips(fake_model, value: float, unit: str) -> None:  # type: ignore[no-untyped-def]
    text = f'[twin]\ntype = "fake"\n[parameters]\n"coil.L" = "{value!r} {unit}"\n[inputs]\nvoltage = 1.0\n'
    spec = resolve(parse_config(text), fake_model, duration=1.0)
    assert spec.params["coil.L"] == pytest.approx(convert(value, unit, "H"), rel=1e-12)


# ---------------------------------------------------------------------------------------- pint behaviours
@pytest.mark.parametrize("plural", ["Ws", "As", "Ns", "Ks", "Vs"])
def test_no_plural_forms(plural: str) -> None:
    """pint reads "Ws" as "watts" by default; phystwin refuses it (write W*s)."""
    with pytest.raises(UnitError, match=f"unknown unit '{plural}'"):
        parse_unit(plural)


@pytest.mark.parametrize(
    ("unit", "target", "scale"),
    [
        ("m.s-2", "m/s2", 1.0),  # Modelica / FMU spelling
        ("N.m", "J", 1.0),
        ("pF", "F", 1e-12),
        ("dm", "m", 0.1),
        ("hPa", "bar", 1e-3),
        ("µF", "uF", 1.0),
        ("Ω", "ohm", 1.0),
        ("W/(m2*K)/(m/s)^0.8", "W*s^0.8/(m^2.8*K)", 1.0),
        ("%/s", "1/s", 0.01),
        ("kHz", "1/s", 1e3),
    ],
)
def test_more_spellings(unit: str, target: str, scale: float) -> None:
    assert conversion(unit, target) == pytest.approx((scale, 0.0), rel=1e-12)


def test_unknown_unit_message_lists_the_known_ones() -> None:
    with pytest.raises(UnitError) as exc:
        parse_unit("Jolts/K")
    assert "unknown unit 'Jolts' in 'Jolts/K'; known units: " in str(exc.value)
    assert "degC" in str(exc.value) and "(with SI prefixes)" in str(exc.value)


def test_dimension_text_parses_back() -> None:
    for unit in ("W/(m2*K)", "N*m/A", "rpm", "(m/s)^0.8", "1", "Pa*s2/m6"):
        u = parse_unit(unit)
        assert parse_unit(u.dimension()).dim == u.dim
        assert dimension_text(u.dim) == u.dimension()


def test_a_constant_is_a_float_with_a_unit() -> None:
    sigma = Constant(5.670374419e-8, "W/(m2*K4)")
    assert sigma == 5.670374419e-8 and isinstance(sigma, float) and repr(sigma) == "5.670374419e-08"
    assert sigma.unit == "W/(m2*K4)" and 2.0 * sigma == 2.0 * 5.670374419e-8


def test_pint_is_imported_only_for_a_unit_no_earlier_process_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    code = (
        "import sys, phystwin.units as u; assert 'pint' not in sys.modules; "
        "assert u.parse_unit('mH').scale == 1e-3; print('pint' in sys.modules)"
    )
    env = {**os.environ, "PHYSTWIN_CACHE_DIR": str(tmp_path)}
    run = [sys.executable, "-c", code]
    first = subprocess.run(run, check=True, env=env, capture_output=True, text=True).stdout.strip()
    second = subprocess.run(run, check=True, env=env, capture_output=True, text=True).stdout.strip()
    assert (first, second) == ("True", "False")  # the second process reads the parsed unit from the cache
    assert len(list((tmp_path / "units").glob("parsed_*.json"))) == 1


_PREFIXES = ["", "k", "m", "u", "n", "M", "c"]
_PREFIXABLE = ["m", "g", "s", "A", "V", "W", "J", "Pa", "Ohm", "F", "H", "N", "Wh", "Ah", "L", "bar"]


@given(
    value=_values,
    unit=st.sampled_from(_PREFIXABLE),
    pa=st.sampled_from(_PREFIXES),
    pb=st.sampled_from(_PREFIXES),
    per=st.sampled_from(["", "/s", "/(m2*K)", "*s2", "/min"]),
)
def test_prefixed_units_round_trip(value: float, unit: str, pa: str, pb: str, per: str) -> None:
    a, b = f"{pa}{unit}{per}", f"{pb}{unit}{per}"
    back = convert(convert(value, a, b), b, a)
    assert back == pytest.approx(value, rel=1e-9, abs=1e-300)


# ---------------------------------------------------------------------------------------- Python API = TOML
def test_value_forms_convert_like_the_config() -> None:
    assert value_in("2 mH", "H", "x") == pytest.approx(2e-3)
    assert value_in({"value": 25, "unit": "degC"}, "K", "x") == pytest.approx(298.15)
    np.testing.assert_allclose(value_in({"value": [1, 2], "unit": "mV"}, "V", "x"), [1e-3, 2e-3])
    assert value_in(3.0, "H", "x") == 3.0  # a number is SI
    with pytest.raises(UnitError, match=r"^x: expected a number \(SI\), a string like"):
        value_in("lots", "H", "x")


def test_component_constructors_take_unit_strings() -> None:
    from phystwin.physics.electrical import Inductor
    from phystwin.physics.thermal import HeatCapacitor

    core = HeatCapacitor("core", C="800 J/K", T="25 degC")
    assert float(core.parameter_values["C"]) == 800.0 and core.state_starts["T"] == pytest.approx(298.15)
    assert float(Inductor("coil", L="2 mH").parameter_values["L"]) == pytest.approx(2e-3)
    assert float(Inductor("coil", L={"value": 2, "unit": "mH"}).parameter_values["L"]) == pytest.approx(2e-3)


def _toml_problem(fake_model, section: str, name: str, value: str) -> str:  # type: ignore[no-untyped-def]
    from phystwin.config.schema import ConfigError

    text = f'[twin]\ntype = "fake"\n[{section}]\n"{name}" = "{value}"\n'
    if section != "inputs":
        text += "[inputs]\nvoltage = 1\n"
    with pytest.raises(ConfigError) as exc:
        resolve(parse_config(text), fake_model, duration=1.0)
    (msg,) = [m for p, m in exc.value.problems if name in p]
    return msg


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("parameters", "coil.L", "2 mV"),
        ("parameters", "mass.C", "-5 kJ/K"),
        ("parameters", "sink.eps", "150 %"),
        ("initial", "mass.T", "25 V"),
        ("inputs", "voltage", "12 K"),
    ],
)
def test_python_api_refuses_what_the_config_refuses_with_the_same_message(
    fake_model, section: str, name: str, value: str
) -> None:  # type: ignore[no-untyped-def]
    toml = _toml_problem(fake_model, section, name, value)
    call = {"parameters": fake_model.parameters, "initial": fake_model.initial_state}.get(
        section, fake_model.input_vector
    )
    with pytest.raises(ValueError) as exc:
        call({name: value})
    assert str(exc.value).endswith(toml)


def test_python_api_takes_what_the_config_takes(fake_model) -> None:  # type: ignore[no-untyped-def]
    text = """[twin]
type = "fake"
[parameters]
"coil.L" = "2 mH"
"mass.C" = { value = 1.5, unit = "kJ/K" }
"ocv.soc" = { value = [0, 50, 100], unit = "%" }
[initial]
"mass.T" = "25 degC"
"shaft.w" = "3000 rpm"
[inputs]
voltage = "12000 mV"
"""
    spec = resolve(parse_config(text), fake_model, duration=1.0)
    given = {
        "coil.L": "2 mH",
        "mass.C": {"value": 1.5, "unit": "kJ/K"},
        "ocv.soc": {"value": [0, 50, 100], "unit": "%"},
    }
    np.testing.assert_array_equal(fake_model.parameters(given), fake_model.parameters(spec.params))
    x0 = fake_model.initial_state({"mass.T": "25 degC", "shaft.w": "3000 rpm"})
    np.testing.assert_array_equal(x0, fake_model.initial_state(spec.x0))
    u = fake_model.input_vector({"voltage": "12000 mV"})
    np.testing.assert_array_equal(u, fake_model.input_vector(dict(spec.inputs)))


# ---------------------------------------------------------------------------------------- coherent SI
@pytest.mark.parametrize(
    ("unit", "si"),
    [
        ("mH", "H"),
        ("kJ/K", "J/K"),
        ("degC", "K"),
        ("degF", "K"),
        ("rpm", "rad/s"),
        ("deg", "rad"),
        ("%", "1"),
        ("Ah", "C"),
        ("bar", "Pa"),
        ("min", "s"),
        ("g", "kg"),
        ("mm", "m"),
        ("L", "m3"),
        ("mm/min", "m/s"),
        ("mg/L", "kg/m3"),
    ],
)
def test_a_unit_that_is_not_coherent_si_names_the_si_unit_to_declare(unit: str, si: str) -> None:
    assert not is_coherent(parse_unit(unit))
    assert si_unit(unit) == si
    assert is_coherent(parse_unit(si)) and parse_unit(si).dim == parse_unit(unit).dim


@pytest.mark.parametrize("unit", ["rad", "1", "W/(m2*K)", "kg*m2", "N*m", "Hz", "rad/s", "Pa*s2/m6", "(m/s)^0.8", "kg"])
def test_coherent_si_units(unit: str) -> None:
    assert is_coherent(parse_unit(unit))
    assert si_unit(unit) == unit


# ---------------------------------------------------------------------------------------- below absolute zero
@pytest.mark.parametrize(("value", "unit"), [(-300.0, "degC"), (-500.0, "degF"), (-273.2, "degC")])
def test_a_temperature_below_absolute_zero_is_refused_naming_the_value(value: float, unit: str) -> None:
    with pytest.raises(UnitError, match=rf"{value:g} {unit} is below absolute zero \(-[\d.]+ K\)"):
        convert(value, unit, "K")
    with pytest.raises(UnitError, match=rf"^input 'T_amb': {value:g} {unit} is below absolute zero"):
        value_in(f"{value} {unit}", "K", "input 'T_amb'")
    with pytest.raises(UnitError, match="below absolute zero"):
        to_unit([20.0, value], unit, "K", "x")
    assert convert(-273.15, "degC", "K") == pytest.approx(0.0, abs=1e-9)  # absolute zero itself is fine
    assert convert(-459.67, "degF", "K") == pytest.approx(0.0, abs=1e-9)
    assert convert(-300.0, "K", "K") == -300.0  # no offset unit: not this check's business


def test_below_absolute_zero_is_refused_at_every_boundary(fake_model) -> None:  # type: ignore[no-untyped-def]
    from phystwin.physics.thermal import HeatCapacitor

    with pytest.raises(ValueError, match=r"-300 degC is below absolute zero \(-26.85 K\)"):
        fake_model.initial_state({"mass.T": "-300 degC"})
    with pytest.raises(ValueError, match=r"-500 degC is below absolute zero"):
        fake_model.input_vector({"T_amb": "-500 degC"})
    with pytest.raises(ValueError, match=r"-500 degC is below absolute zero"):
        HeatCapacitor("core", T="-500 degC")
    assert "-500 degC is below absolute zero" in _toml_problem(fake_model, "inputs", "T_amb", "-500 degC")
    assert "-300 degC is below absolute zero" in _toml_problem(fake_model, "initial", "mass.T", "-300 degC")
