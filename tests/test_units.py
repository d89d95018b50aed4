"""Unit conversion at the config boundary."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phystwin.config.resolve import resolve, to_si
from phystwin.config.schema import parse_config, parse_quantity
from phystwin.units import UnitError, conversion, convert, parse_unit, same_unit

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


@given(value=_values, pair=st.sampled_from(_UNIT_PAIRS))
def test_value_unit_si_round_trip(value: float, pair: tuple[str, str]) -> None:
    unit, si = pair
    back = convert(convert(value, unit, si), si, unit)
    assert back == pytest.approx(value, rel=1e-9, abs=1e-9 * max(1.0, abs(value)))


@given(value=_values, pair=st.sampled_from(_UNIT_PAIRS))
def test_string_and_table_forms_convert_alike(value: float, pair: tuple[str, str]) -> None:
    unit, si = pair
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
