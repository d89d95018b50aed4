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


BRANCH = ": only the branches reached from the start values (and one argument at a time moved) were checked"


def _fully_checked(notes: tuple[str, ...] | list[str]) -> list[str]:
    """The notes other than "only one branch was checked" (an equation with an ``if``)."""
    return [n for n in notes if not n.endswith(BRANCH)]


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

    assert check_component("m", Lenient("m")) == []  # both sides of T_c's branch reached and checked


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
    assert _fully_checked(check_component(comp.name, comp)) == []


@pytest.mark.parametrize("build", [dc_motor.build, li_ion_cell.build], ids=["dc_motor", "li_ion_cell"])
def test_reference_twins_pass_with_every_equation_checked(build) -> None:  # type: ignore[no-untyped-def]
    assert _fully_checked(check_dimensions(flatten(build()))) == []


def test_the_custom_fan_example_passes() -> None:
    import custom_fan  # examples/ is on sys.path (conftest)

    assert _fully_checked(check_dimensions(flatten(custom_fan.build()))) == []


def test_a_passing_check_is_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notes = check_dimensions(flatten(dc_motor.build()), tmp_path)
    assert _fully_checked(notes) == []
    assert len(list(tmp_path.glob("units_*.json"))) == 1
    checked: list[str] = []
    real = dimensions_module.check_component

    def spy(path: str, comp: Component) -> list[str]:
        checked.append(path)
        return real(path, comp)

    monkeypatch.setattr(dimensions_module, "check_component", spy)
    assert check_dimensions(flatten(dc_motor.build()), tmp_path) == notes  # branch notes are cached too
    assert checked == []  # the same structure: read from the cache, nothing traced
    assert _fully_checked(check_dimensions(flatten(li_ion_cell.build()), tmp_path)) == []
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


# ---------------------------------------------------------------------------------------- coherent SI units only
def _declaring(kind: str, unit: str) -> Component:
    """A component declaring one item of ``kind`` in ``unit`` (its equations would read the raw number)."""

    if kind == "parameter":

        class P(Component):
            states = (State("x", "1", 0.0),)
            parameters = (Parameter("L", unit, 2.0),)
            derivatives = {"x": lambda: 0.0}

        return P("c")
    if kind == "state":

        class S(Component):
            states = (State("T", unit, 20.0),)
            derivatives = {"T": lambda: 0.0}

        return S("c")
    if kind == "input":

        class I(Component):  # noqa: E742
            inputs = (Variable("u", unit),)
            variables = (Variable("y", unit),)
            relations = (Relation({"y": lambda u: u}),)

        return I("c")
    if kind == "variable":

        class V(Component):
            variables = (Variable("y", unit),)
            relations = (Relation({"y": lambda: 1.0}),)

        return V("c")
    kind_ = PortKind("odd", "p", unit, "f", "W")  # a port kind's across unit

    class Q(Component):
        ports = (Port("a", kind_),)
        relations = (Relation({"a.f": lambda: 0.0}),)

    return Q("c")


@pytest.mark.parametrize(
    ("kind", "unit", "si", "factor"),
    [
        ("parameter", "mH", "H", "(0.001 H)"),
        ("parameter", "kJ/K", "J/K", "(1000 J/K)"),
        ("parameter", "degC", "K", "(1 K per degC, 0 degC = 273.15 K)"),
        ("parameter", "rpm", "rad/s", "(0.10472 rad/s)"),
        ("parameter", "Ah", "C", "(3600 C)"),
        ("parameter", "min", "s", "(60 s)"),
        ("state", "degC", "K", "(1 K per degC, 0 degC = 273.15 K)"),
        ("state", "deg", "rad", "(0.0174533 rad)"),
        ("state", "g", "kg", "(0.001 kg)"),
        ("input", "%", "1", "(0.01 1)"),
        ("input", "bar", "Pa", "(100000 Pa)"),
        ("variable", "mm", "m", "(0.001 m)"),
        ("port", "kW", "W", "(1000 W)"),
    ],
)
def test_a_declared_unit_that_is_not_coherent_si_is_refused_naming_the_si_unit(
    kind: str, unit: str, si: str, factor: str
) -> None:
    comp = _declaring(kind, unit)
    msg = _refusal(comp)
    item = {"parameter": "parameter L", "state": "state T", "input": "input u", "variable": "variable y"}.get(
        kind, "port a (odd) variable p"
    )
    assert msg.startswith(f"c ({type(comp).__name__}): {item} is declared in {unit!r} {factor}: "), msg
    assert f"declare it in the SI unit {si!r} (equations compute in SI)" in msg
    assert "in configs and the Python API" in msg


def test_the_refusal_message_shows_the_value_in_the_declared_unit() -> None:
    class RL(Component):
        states = (State("i", "A", 0.0),)
        parameters = (Parameter("L", "mH", 2.0), Parameter("R", "Ohm", 1.0), Parameter("V", "V", 1.0))
        derivatives = {"i": lambda i, L, R, V: (V - R * i) / L}

    s = _system(RL("c"))
    with pytest.raises(DimensionError) as exc:
        s.compile()
    assert str(exc.value) == (
        "c (RL): parameter L is declared in 'mH' (0.001 H): declare it in the SI unit 'H' (equations compute in SI); "
        'give values as "2 mH" in configs and the Python API'
    )


def test_the_review_reproductions_are_refused() -> None:
    """/tmp/review/u2.py: an ambient in degC read as 20 K, a set speed in rpm read as rad/s."""

    class Room(Component):
        states = (State("T", "K", "20 degC"),)
        parameters = (Parameter("Ta", "degC", 20.0, "ambient"), Parameter("tau", "s", 100.0))
        derivatives = {"T": lambda T, Ta, tau: (Ta - T) / tau}

    class Wheel(Component):
        states = (State("w", "rad/s", 0.0),)
        parameters = (Parameter("n_set", "rpm", 1000.0), Parameter("tau", "s", 1.0))
        derivatives = {"w": lambda w, n_set, tau: (n_set - w) / tau}

    assert "r (Room): parameter Ta is declared in 'degC'" in _refusal(Room("r"))
    assert "declare it in the SI unit 'rad/s'" in _refusal(Wheel("wh"))


def test_a_state_in_degc_on_a_heat_port_is_refused() -> None:
    class Body(Component):
        ports = (HeatPort("port"),)
        states = (State("T", "degC", 20.0),)
        parameters = (Parameter("C", "J/K", 10.0),)
        derivatives = {"T": lambda port_Q_flow, C: port_Q_flow / C}
        relations = (Relation({"port.T": lambda T: T}),)

    assert "b (Body): state T is declared in 'degC'" in _refusal(Body("b"))


@pytest.mark.parametrize("unit", ["degC", "rpm", "mA"])
def test_a_system_input_or_output_not_in_coherent_si_is_refused(unit: str) -> None:
    s = System("s")
    s.add(FixedTemperature("amb", T=300.0))
    s.input("x", unit, (), default=1.0)
    with pytest.raises(DimensionError, match=rf"^system input 'x' is declared in '{unit}' .*declare it in the SI unit"):
        check_dimensions(flatten(s))
    s = System("s")
    s.add(FixedTemperature("amb", T=300.0))
    s.output("T", "amb.port.T", unit="degC")
    with pytest.raises(Exception, match="degC"):  # flatten or the check: never silently
        check_dimensions(flatten(s))


@pytest.mark.parametrize("unit", ["rad", "1", "W/(m2*K)", "kg*m2", "N*m", "Hz", "rad/s", "V*s/rad", "(m/s)^0.8"])
def test_coherent_si_units_are_accepted(unit: str) -> None:
    assert check_component("c", _declaring("parameter", unit)) == []


def test_values_in_other_units_convert_to_the_declared_si_unit_at_the_boundary() -> None:
    """The fixed reproduction of /tmp/review/u4.py: L declared in H, given as "2 mH"."""
    from phystwin import simulate

    class RL(Component):
        states = (State("i", "A", 0.0),)
        parameters = (Parameter("L", "H", "2 mH"), Parameter("R", "Ohm", 1.0), Parameter("V", "V", 1.0))
        derivatives = {"i": lambda i, L, R, V: (V - R * i) / L}

    s = _system(RL("c"))
    s.output("i", "c.i")
    m = s.compile()
    assert m.parameters()[0] == pytest.approx(2e-3)
    assert m.parameters({"c.L": "2 mH"})[0] == pytest.approx(2e-3)
    assert float(RL("d", L="2 mH").parameter_values["L"]) == pytest.approx(2e-3)
    tr = simulate(m, (0.0, 0.002), params={"c.L": "2 mH"})
    assert tr["i"][-1] == pytest.approx(1.0 - math.exp(-1.0), rel=1e-3)


def test_the_example_twins_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples" / "user_twin"))
    for name in ("custom_fan", "pump_twin"):  # examples/ is on sys.path (conftest)
        assert _fully_checked(importlib.import_module(name).build().compile().unit_notes) == []
    for build in (dc_motor.build, li_ion_cell.build):
        assert _fully_checked(build().compile().unit_notes) == []


# ---------------------------------------------------------------------------------------- branches
def _ramp(x: float) -> float:
    return x if x > 0.0 else 0.0


def test_every_branch_reached_is_checked_and_an_unreached_one_is_noted() -> None:
    class Branchy(Component):
        states = (State("T", "K", 300.0),)
        parameters = (Parameter("tau", "s", 10.0),)
        derivatives = {"T": lambda T, tau: T / tau if T > 0 else T}  # the else branch is wrong (K, not K/s)

    class Helper(Component):
        states = (State("T", "K", 300.0),)
        parameters = (Parameter("tau", "s", 10.0),)
        derivatives = {"T": lambda T, tau: _ramp(T) / tau}  # else 0.0: zero is right in any unit

    class Hidden(Component):
        states = (State("T", "K", 300.0),)
        parameters = (Parameter("tau", "s", 10.0),)
        derivatives = {"T": lambda T, tau: T / tau if T < 1e6 else T}  # no start-based move reaches 1e6 K

    # the start values take the right branch; moving T to -300 K reaches the wrong one: refused
    assert "dT/dt = f(T, tau) has unit K, expected K/s" in _refusal(Branchy("b"))
    assert check_component("h", Helper("h")) == []  # the branch is in a helper, both sides reached
    assert check_component("d", Hidden("d")) == [f"d: dT/dt = f(T, tau){BRANCH}"]
    model = _system(Hidden("d")).compile()
    assert model.unit_notes == (f"d: dT/dt = f(T, tau){BRANCH}",)
    assert "unit notes: d: dT/dt" in repr(model)
    assert dimensions_module.has_branch(lambda T, tau: T / tau) is False
