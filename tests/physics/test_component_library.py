"""Structural checks of the mechanical and electrical libraries (code generation only, no Numba
compile): every component in a minimal system, with and without its heat port; the declared
parameter bounds; and the refusals (kind mismatch, over-determined sources, bad values)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from phystwin.physics import ModelDefinitionError, StructuralError, System
from phystwin.physics.compiler import _Compiler
from phystwin.physics.electrical import (
    Capacitor,
    CurrentSource,
    DcMachine,
    Ground,
    Inductor,
    LiIonCell,
    Resistor,
    VoltageSource,
)
from phystwin.physics.mechanical import (
    Damper,
    Fixed,
    ForceSource,
    Friction,
    IdealGear,
    Inertia,
    Mass,
    SpeedSource,
    Spring,
    TorqueSource,
    TranslationalDamper,
    TranslationalFixed,
    TranslationalSpring,
)
from phystwin.physics.thermal import FixedTemperature, HeatCapacitor


def generate(s: System) -> str:
    c = _Compiler(s)
    c.build_classes()
    c.build_equations()
    src, _ = c.generate()
    return src


def chain(name: str, *members, links: list[tuple[str, str]], inputs=(), outputs=()) -> System:
    s = System(name)
    for m in members:
        s.add(m)
    for a, b in links:
        s.connect(a, b)
    for iname, unit, target in inputs:
        s.input(iname, unit, target, default=1.0)
    for oname, ref in outputs:
        s.output(oname, ref)
    return s


def _lossy_rot(cls, heat: bool) -> System:
    members = [TorqueSource("src"), Inertia("J"), cls("el", heat_port=heat), Fixed("gnd")]
    links = [("src.flange", "J.flange_a"), ("J.flange_b", "el.flange_a"), ("el.flange_b", "gnd.flange")]
    if heat:
        members.append(HeatCapacitor("hc"))
        links.append(("el.heat", "hc.port"))
    return chain("lossy_rot", *members, links=links, inputs=[("tau", "N*m", "src.tau")], outputs=[("P", "el.P_loss")])


def _gear(heat: bool) -> System:
    members = [TorqueSource("src"), IdealGear("gear", heat_port=heat, ratio=3.0, eta=0.95), Inertia("J"), Fixed("g")]
    links = [("src.flange", "gear.flange_a"), ("gear.flange_b", "J.flange_a")]
    if heat:
        members.append(FixedTemperature("amb"))
        links.append(("gear.heat", "amb.port"))
    return chain("gear", *members, links=links, inputs=[("tau", "N*m", "src.tau")], outputs=[("P", "gear.P_loss")])


def _spring() -> System:
    return chain(
        "spring",
        SpeedSource("drive"),
        Spring("k"),
        Inertia("J"),
        links=[("drive.flange", "k.flange_a"), ("k.flange_b", "J.flange_a")],
        inputs=[("w", "rad/s", "drive.w")],
        outputs=[("tau", "k.tau"), ("E", "k.E"), ("P", "drive.P")],
    )


def _msd(heat: bool) -> System:
    members = [ForceSource("F"), Mass("m"), TranslationalSpring("k"), TranslationalDamper("d", heat_port=heat)]
    members.append(TranslationalFixed("wall"))
    links = [
        ("F.flange", "m.flange_a"),
        ("m.flange_b", "k.flange_a"),
        ("m.flange_b", "d.flange_a"),
        ("k.flange_b", "wall.flange"),
        ("d.flange_b", "wall.flange"),
    ]
    if heat:
        members.append(HeatCapacitor("hc"))
        links.append(("d.heat", "hc.port"))
    return chain("msd", *members, links=links, inputs=[("f", "N", "F.f")], outputs=[("P", "d.P_loss")])


def _rc(heat: bool) -> System:
    members = [VoltageSource("V"), Resistor("R", heat_port=heat), Capacitor("C"), Ground("g")]
    links = [("V.p", "R.p"), ("R.n", "C.p"), ("C.n", "g.p"), ("V.n", "g.p")]
    if heat:
        members.append(HeatCapacitor("hc"))
        links.append(("R.heat", "hc.port"))
    return chain("rc", *members, links=links, inputs=[("V", "V", "V.V")], outputs=[("P", "R.P_loss"), ("T", "R.T")])


def _rl_current() -> System:
    return chain(
        "rl",
        CurrentSource("I"),
        Inductor("L"),
        Resistor("R"),
        Ground("g"),
        links=[("I.n", "L.p"), ("L.n", "g.p"), ("I.p", "g.p"), ("R.p", "L.p"), ("R.n", "g.p")],
        inputs=[("I", "A", "I.I")],
        outputs=[("v", "I.v"), ("E", "L.E")],
    )


def _generator() -> System:
    # a DC machine on a speed source feeding a resistor through an inductor: the EMF is computed
    # from the speed and the torque from the current
    return chain(
        "generator",
        SpeedSource("prime"),
        DcMachine("gen"),
        Inductor("L"),
        Resistor("R"),
        Ground("g"),
        links=[("prime.flange", "gen.flange"), ("gen.p", "L.p"), ("L.n", "R.p"), ("R.n", "g.p"), ("gen.n", "g.p")],
        inputs=[("w", "rad/s", "prime.w")],
        outputs=[("P", "gen.P_mech"), ("tau", "gen.tau")],
    )


def _cell(heat: bool) -> System:
    members = [LiIonCell("cell", heat_port=heat), CurrentSource("load"), Ground("g")]
    links = [("cell.p", "load.p"), ("load.n", "cell.n"), ("cell.n", "g.p")]
    if heat:
        members.append(HeatCapacitor("hc"))
        links.append(("cell.heat", "hc.port"))
    return chain(
        "cell", *members, links=links, inputs=[("I", "A", "load.I")], outputs=[("v", "cell.v"), ("P", "cell.P_loss")]
    )


def _charger() -> System:
    # voltage-driven cell: a voltage source through an inductor (the cell computes its own current)
    return chain(
        "charger",
        VoltageSource("V"),
        Inductor("L"),
        LiIonCell("cell"),
        Ground("g"),
        links=[("V.p", "L.p"), ("L.n", "cell.p"), ("cell.n", "g.p"), ("V.n", "g.p")],
        inputs=[("V", "V", "V.V")],
        outputs=[("i", "cell.i_dis")],
    )


def _friction_static() -> System:
    return chain(
        "creep",
        TorqueSource("push"),
        Friction("f", tau_c=1.0),
        Fixed("g"),
        links=[("push.flange", "f.flange_a"), ("f.flange_b", "g.flange")],
        inputs=[("tau", "N*m", "push.tau")],
        outputs=[("w", "f.w_rel")],
    )


CASES: dict[str, Callable[[], System]] = {
    "damper": lambda: _lossy_rot(Damper, False),
    "damper+heat": lambda: _lossy_rot(Damper, True),
    "friction": lambda: _lossy_rot(Friction, False),
    "friction+heat": lambda: _lossy_rot(Friction, True),
    "friction-static": _friction_static,
    "gear": lambda: _gear(False),
    "gear+heat": lambda: _gear(True),
    "spring": _spring,
    "msd": lambda: _msd(False),
    "msd+heat": lambda: _msd(True),
    "rc": lambda: _rc(False),
    "rc+heat": lambda: _rc(True),
    "rl-current": _rl_current,
    "generator": _generator,
    "cell": lambda: _cell(False),
    "cell+heat": lambda: _cell(True),
    "charger": _charger,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_generates(case):
    src = generate(CASES[case]())
    assert "def rhs(t, x, u, p, dx):" in src


def chosen(s: System) -> dict[tuple[str, str], str]:
    """(component, relation description) -> the variable the compiler solves that relation for."""
    c = _Compiler(s)
    c.build_classes()
    c.build_equations()
    choice = c.match()
    return {(c.eqs[e].owner, c.eqs[e].label): c.where(c.eqs[e].alts[a].target) for e, a in choice.items()}


def test_inverse_alternatives_are_used():
    # torque source on a friction without inertia: the friction law is solved for the speed
    assert chosen(_friction_static())[("f", "viscous + smoothed Coulomb friction")] == "f.w_rel"
    # generator on a speed source: EMF from the speed, torque from the current
    gen = chosen(_generator())
    assert gen[("gen", "back-EMF v_emf = k w")] == "gen.v_emf"
    assert gen[("gen", "torque tau = k i")] == "gen.tau"
    # a cell fed through an inductor (current known): terminal voltage from the current ...
    assert chosen(_cell(False))[("cell", "terminal voltage v = ocv - v1 - v2 - R0 i_dis")] == "cell.v"
    # ... but the same law solved for the current when a source and a capacitor fix the voltage
    s = chain(
        "clamped",
        LiIonCell("cell"),
        Capacitor("C", v=3.7),
        Ground("g"),
        links=[("cell.p", "C.p"), ("cell.n", "g.p"), ("C.n", "g.p")],
    )
    assert chosen(s)[("cell", "terminal voltage v = ocv - v1 - v2 - R0 i_dis")] == "cell.i_dis"
    # a resistor between two known potentials computes its current; in series with an inductor,
    # a pin potential
    assert chosen(_rc(False))[("R", "Ohm's law v = R i")] == "R.i"
    assert chosen(_rl_current())[("R", "Ohm's law v = R i")] == "R.v"


def test_port_sets_follow_the_flag():
    for cls in (Damper, Friction, IdealGear, TranslationalDamper, Resistor, LiIonCell):
        assert "heat" not in {p.name for p in cls("x").ports}
        assert "heat" in {p.name for p in cls("x", heat_port=True).ports}
        assert "P_loss" in {v.name for v in cls("x").variables}
    # the class declaration is untouched by a heat-port instance
    assert "heat" not in {p.name for p in Resistor.ports}


# ---------------------------------------------------------------------------- refusals


def test_pin_to_flange_is_refused():
    s = chain("bad", DcMachine("m"), Inertia("J"), Ground("g"), links=[("m.n", "g.p"), ("m.p", "J.flange_a")])
    with pytest.raises(ModelDefinitionError, match=r"'m\.p'.*electrical.*'J\.flange_a'.*rotational"):
        generate(s)


def test_parallel_voltage_sources_are_refused():
    s = chain(
        "parallel",
        VoltageSource("V1"),
        VoltageSource("V2"),
        Resistor("R"),
        Ground("g"),
        links=[("V1.p", "V2.p"), ("V1.p", "R.p"), ("V1.n", "g.p"), ("V2.n", "g.p"), ("R.n", "g.p")],
        inputs=[("V1", "V", "V1.V"), ("V2", "V", "V2.V")],
    )
    with pytest.raises(StructuralError, match="structurally singular") as err:
        generate(s)
    # the compiler names whichever equation lost the matching (here the ground's), not yet the whole
    # over-determined set {V1, V2, ground}
    assert "over-determined" in str(err.value)


def test_rigidly_coupled_inertias_are_refused():
    s = chain(
        "rigid",
        TorqueSource("t"),
        Inertia("J1"),
        Inertia("J2"),
        links=[("t.flange", "J1.flange_a"), ("J1.flange_b", "J2.flange_a")],
        inputs=[("tau", "N*m", "t.tau")],
    )
    with pytest.raises(StructuralError, match="over-determined"):
        generate(s)


def test_open_heat_port_is_refused():
    s = chain(
        "open",
        VoltageSource("V"),
        Resistor("R", heat_port=True),
        Ground("g"),
        links=[("V.p", "R.p"), ("R.n", "g.p"), ("V.n", "g.p")],
        inputs=[("V", "V", "V.V")],
    )
    with pytest.raises(StructuralError, match=r"R\.heat\.T"):
        generate(s)


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda: Capacitor("C1", C=-1e-6), r"C1\.C \[F\]"),
        (lambda: Capacitor("C1", C=0.0), r"C1\.C \[F\]"),
        (lambda: Inductor("L1", L=-1.0), r"L1\.L \[H\]"),
        (lambda: Inertia("J1", J=0.0), r"J1\.J \[kg\*m2\]"),
        (lambda: Mass("m1", m=-2.0), r"m1\.m \[kg\]"),
        (lambda: Resistor("R1", R_ref=0.0), r"R1\.R_ref \[Ohm\]"),
        (lambda: IdealGear("g1", eta=1.2), r"g1\.eta"),
        (lambda: IdealGear("g1", eta=0.0), r"g1\.eta"),
        (lambda: Friction("f1", w_c=0.0), r"f1\.w_c"),
        (lambda: Damper("d1", d=-1.0), r"d1\.d"),
        (lambda: LiIonCell("b1", C1=-5.0), r"b1\.C1 \[F\]"),
        (lambda: LiIonCell("b1", SOC=1.5), r"b1\.SOC"),
        (lambda: Resistor("R1", R=5.0), r"unknown parameter or state 'R'.*R_ref"),
    ],
)
def test_bad_values_name_the_parameter(make, where):
    with pytest.raises(ModelDefinitionError, match=where):
        make()
