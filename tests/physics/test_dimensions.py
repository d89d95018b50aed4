"""Compile-time dimension check of component equations (phystwin.physics.dimensions)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from phystwin import Component, Parameter, Relation, State, System, Variable
from phystwin.physics import HeatPort, Port, PortKind, electrical, mechanical, thermal
from phystwin.physics import dimensions as dimensions_module
from phystwin.physics.dimensions import DimensionError, check_component, check_dimensions
from phystwin.physics.flatten import flatten
from phystwin.physics.thermal import FixedTemperature
from phystwin.physics.twins import dc_motor, li_ion_cell
from phystwin.units import Constant


def _system(*components: Component, connect: tuple[tuple[str, str], ...] = ()) -> System:
    s = System("s")
    for c in components:
        s.add(c)
    for a, b in connect:
        s.connect(a, b)
    return s


def _refusal(*components: Component, connect: tuple[tuple[str, str], ...] = ()) -> str:
    with pytest.raises(DimensionError) as exc:
        check_dimensions(flatten(_system(*components, connect=connect)))
    return str(exc.value)


# ---------------------------------------------------------------------------------------- refused
class WrongWinding(Component):
    """The issue's example: dT/dt = C, with C in J/K and T in K (compiled silently before)."""

    states = (State("T", "K", 300.0),)
    parameters = (Parameter("C", "J/K", 50.0),)
    derivatives = {"T": lambda C: C}


def test_dimensionally_wrong_derivative_is_refused_at_compile_time_naming_both_dimensions() -> None:
    s = System("motor")
    s.add(WrongWinding("winding"))
    with pytest.raises(DimensionError) as exc:
        s.compile()
    msg = str(exc.value)
    assert msg.startswith("winding (WrongWinding): dT/dt = f(C) has unit J/K, expected K/s")
    assert "m2*kg/(s2*K) is not K/s" in msg


class Jolts(Component):
    states = (State("T", "K", 300.0),)
    parameters = (Parameter("C", "Jolts/K", 50.0),)
    derivatives = {"T": lambda: 0.0}


def test_unknown_unit_in_a_declaration_is_refused_naming_component_item_and_unit() -> None:
    msg = _refusal(Jolts("winding"))
    assert "winding (Jolts): parameter C has an unknown unit 'Jolts/K'" in msg
    assert "unknown unit 'Jolts'" in msg


def test_unknown_unit_of_a_port_kind_and_of_a_system_input_are_refused() -> None:
    odd = PortKind("odd", "p", "Pa", "q", "furlongs/s")

    class Odd(Component):
        ports = (Port("a", odd),)
        relations = (Relation({"a.p": lambda: 0.0}),)

    assert "port a (odd) variable q has an unknown unit 'furlongs/s'" in _refusal(Odd("o"))
    s = _system(FixedTemperature("amb"))
    s.input("level", "cubits", [])
    with pytest.raises(DimensionError, match=r"system input 'level' has an unknown unit 'cubits'"):
        s.compile()


class StoredHeat(Component):
    states = (State("T", "K", 300.0),)
    parameters = (Parameter("C", "J/K", 800.0),)
    variables = (Variable("E", "W", "declared in the wrong unit"),)
    relations = (Relation({"E": lambda C, T: C * T}, "stored heat"),)
    derivatives = {"T": lambda: 0.0}


def test_output_variable_in_the_wrong_unit_is_refused_with_both_dimensions() -> None:
    msg = _refusal(StoredHeat("mass"))
    assert "mass (StoredHeat): stored heat: E = f(C, T) has unit J, expected W (the unit of variable E)" in msg
    assert "[m2*kg/s2 is not m2*kg/s3]" in msg


class HotPort(Component):
    states = (State("T", "K", 300.0),)
    parameters = (Parameter("C", "J/K", 800.0),)
    ports = (HeatPort("port"),)
    relations = (Relation({"port.T": lambda T, C: C * T}, "port temperature"),)
    derivatives = {"T": lambda port_Q_flow, C: port_Q_flow / C}


def test_port_variable_in_the_wrong_unit_is_refused_with_both_dimensions() -> None:
    msg = _refusal(HotPort("mass"), FixedTemperature("amb"), connect=(("mass.port", "amb.port"),))
    assert "mass (HotPort): port temperature: port.T = f(T, C) has unit J, expected K" in msg
    assert "(the unit of port variable port.T) [m2*kg/s2 is not K]" in msg


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda T, C: (T + C) / C, "cannot add K and J/K"),
        (lambda T, C: T / C if T > C else 0.0, "cannot compare K and J/K"),
        (lambda T, C: math.exp(T) / C, "exp() of a quantity in K: its argument must be dimensionless"),
        (lambda T, C: np.tanh(T) / C, "tanh() of a quantity in K"),
        (lambda T, C: max(T, C), "max() of K and J/K"),
        (lambda T, C: T ** (C / C * T), "an exponent must be dimensionless, got K"),
    ],
)
def test_inconsistent_operations_inside_an_equation_are_refused(fn, expected: str) -> None:  # type: ignore[no-untyped-def]
    class Inconsistent(Component):
        states = (State("T", "K", 300.0),)
        parameters = (Parameter("C", "J/K", 800.0),)
        derivatives = {"T": fn}

    msg = _refusal(Inconsistent("m"))
    assert msg.startswith("m (Inconsistent): dT/dt = f(T, C): ") and expected in msg


def test_event_reset_in_the_wrong_unit_is_refused() -> None:
    from phystwin import Event

    class Ball(Component):
        states = (State("h", "m", 1.0), State("v", "m/s", 0.0))
        derivatives = {"h": lambda v: v, "v": lambda: -9.81}
        events = (Event("impact", lambda h: h, resets={"v": lambda h: -h}, direction=-1),)

    assert "event 'impact' reset of v = f(h) has unit m, expected m/s" in _refusal(Ball("b"))


def test_a_rate_law_on_a_dimensionless_state_needs_its_rate_constant() -> None:
    class Blowup(Component):
        states = (State("x", "1", 1.0),)
        derivatives = {"x": lambda x: x * x}

    assert "dx/dt = f(x) has unit 1, expected 1/s" in _refusal(Blowup("b"))


# ---------------------------------------------------------------------------------------- accepted
def test_numbers_are_wildcards_in_sums_and_comparisons_and_constants_carry_units() -> None:
    class Lenient(Component):
        states = (State("T", "K", 300.0), State("w", "rad/s", 1.0))
        parameters = (Parameter("C", "J/K", 800.0), Parameter("k", "1/s", 2.0))
        variables = (Variable("T_c", "K"), Variable("rate", "1/s"), Variable("g", "m/s2"))
        relations = (
            Relation({"T_c": lambda T: T - 273.15 if T > 273.15 else 0.0}),  # a bare number takes K
            Relation({"rate": lambda w, k: abs(w) + 1e-9 + k}),  # rad/s and 1/s agree (rad is 1)
            Relation({"g": lambda: 9.81}),  # a constant result: any unit
        )
        derivatives = {
            "T": lambda T, k: (min(T, 400.0) - 300.0) * k,
            "w": lambda w, k: -k * math.sqrt(w * w) * math.copysign(1.0, w),
        }

    assert check_component("m", Lenient("m")) == []


def test_a_physical_constant_needs_its_unit() -> None:
    sigma = 5.670374419e-8

    class BareRadiation(thermal.BodyRadiation):
        relations = (
            Relation({"a.Q_flow": lambda a_T, b_T, epsilon, A: sigma * epsilon * A * (a_T**4 - b_T**4)}),
            thermal.BodyRadiation.relations[1],
        )

    msg = _refusal(BareRadiation("r"))
    assert "has unit m2*K4, expected W" in msg
    assert isinstance(thermal.elements.SIGMA, Constant) and thermal.elements.SIGMA.unit == "W/(m2*K4)"
    assert check_component("r", thermal.BodyRadiation("r")) == []


def test_an_equation_that_cannot_be_traced_is_noted_not_refused() -> None:
    class Table(Component):
        states = (State("T", "K", 300.0),)
        parameters = (Parameter("rates", "K/s", (1.0, 2.0), size=2), Parameter("temps", "K", (250.0, 350.0), size=2))
        derivatives = {"T": lambda T, temps, rates: np.interp(T, temps, rates)}

    model = _system(Table("tab")).compile()
    assert model.unit_notes == (
        "tab: dT/dt = f(T, temps, rates) not dimension-checked: cannot trace it (numpy.interp is not supported here)",
    )
    assert "unit notes: tab: dT/dt" in repr(model)


def _library_components() -> list[Component]:
    out = []
    for mod in (thermal, electrical, mechanical):
        for name in sorted(mod.__all__):
            cls = getattr(mod, name)
            if not (inspect.isclass(cls) and issubclass(cls, Component)):
                continue
            out.append(cls(name.lower()))
            if "heat_port" in inspect.signature(cls.__init__).parameters:
                out.append(cls(name.lower() + "_hot", heat_port=True))
    return out


@pytest.mark.parametrize("comp", _library_components(), ids=lambda c: c.name)
def test_every_library_component_is_dimensionally_consistent_and_fully_checked(comp: Component) -> None:
    assert check_component(comp.name, comp) == []


@pytest.mark.parametrize("build", [dc_motor.build, li_ion_cell.build], ids=["dc_motor", "li_ion_cell"])
def test_reference_twins_pass_with_every_equation_checked(build) -> None:  # type: ignore[no-untyped-def]
    assert check_dimensions(flatten(build())) == ()


def test_the_custom_fan_example_passes() -> None:
    import custom_fan  # examples/ is on sys.path (conftest)

    assert check_dimensions(flatten(custom_fan.build())) == ()


def test_a_passing_check_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_dimensions(flatten(dc_motor.build()), tmp_path) == ()
    assert len(list(tmp_path.glob("units_*.json"))) == 1
    checked: list[str] = []
    real = dimensions_module.check_component

    def spy(path: str, comp: Component) -> list[str]:
        checked.append(path)
        return real(path, comp)

    monkeypatch.setattr(dimensions_module, "check_component", spy)
    assert check_dimensions(flatten(dc_motor.build()), tmp_path) == ()
    assert checked == []  # the same structure: read from the cache, nothing traced
    assert check_dimensions(flatten(li_ion_cell.build()), tmp_path) == ()
    assert checked  # another structure is checked
    with pytest.raises(DimensionError):  # and a refusal is never cached
        check_dimensions(flatten(_system(WrongWinding("w"))), tmp_path)
    assert len(list(tmp_path.glob("units_*.json"))) == 2


def test_fmu_units_unknown_to_phystwin_are_declared_by_their_dimension() -> None:
    from phystwin.fmu.description import FMUUnit, FMUVariable
    from phystwin.fmu.me import _si_unit

    speed = FMUUnit("furlong_per_fortnight", 1.663e-4, 0.0, (("m", 1), ("s", -1)), has_base_unit=True)
    var = FMUVariable("v", 1, "output", "continuous", "Real", unit=speed.name, si_scale=1.663e-4, si_offset=0.0)
    assert _si_unit(var, (speed,)) == ("m/s", 1.663e-4, 0.0)
    plain = FMUVariable("n", 2, "output", "continuous", "Real", unit=None, si_scale=1.0, si_offset=0.0)
    assert _si_unit(plain, (speed,))[0] == "1"
