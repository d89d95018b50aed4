"""The System compiler: structure checks, hierarchy, generated Jacobian, on-disk cache."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from phystwin import simulate
from phystwin.physics import (
    AlgebraicLoopError,
    Component,
    ModelDefinitionError,
    Parameter,
    Relation,
    StructuralError,
    System,
    Variable,
)
from phystwin.physics.compiler import _Compiler
from phystwin.physics.thermal import (
    BodyRadiation,
    HeatCapacitor,
    PrescribedHeatFlow,
    PrescribedTemperature,
    ThermalConductor,
    thermal_network,
)


class Gain(Component):
    """y = k u (a causal block, used to build an algebraic loop)."""

    inputs = (Variable("u", "1"),)
    variables = (Variable("y", "1"),)
    parameters = (Parameter("k", "1", 0.5),)
    relations = (Relation({"y": lambda u, k: k * u}),)


def _generate(system: System) -> tuple[str, _Compiler]:
    comp = _Compiler(system)
    comp.build_classes()
    comp.build_equations()
    src, _ = comp.generate()
    return src, comp


def test_algebraic_loop_is_refused_with_member_names():
    s = System("loop")
    s.add(Gain("a"))
    s.add(Gain("b"))
    s.connect("a.y", "b.u")
    s.connect("b.y", "a.u")
    with pytest.raises(AlgebraicLoopError) as err:
        _generate(s)
    assert "a" in str(err.value) and "b" in str(err.value)
    assert "a.u = b.y" in str(err.value) and "a.y = b.u" in str(err.value)


def test_port_kind_mismatch_names_both_ends():
    from phystwin.physics import Flange, Port  # noqa: F401

    class Shaft(Component):
        ports = (Flange("flange"),)
        relations = (Relation({"flange.w": lambda: 0.0}),)

    s = System("bad")
    s.add(HeatCapacitor("mass"))
    s.add(Shaft("shaft"))
    s.connect("mass.port", "shaft.flange")
    with pytest.raises(ModelDefinitionError, match=r"mass\.port.*heat.*shaft\.flange.*rotational"):
        _generate(s)


def test_signal_unit_mismatch_names_both_ends():
    s = System("units")
    s.add(HeatCapacitor("mass"))
    s.add(PrescribedHeatFlow("heater"))
    s.connect("mass.T", "heater.Q_flow")  # K into W
    with pytest.raises(ModelDefinitionError, match=r"unit mismatch.*mass\.T.*\[K\].*heater\.Q_flow.*\[W\]"):
        _generate(s)


def test_unknown_port_lists_what_exists():
    s = System("typo")
    s.add(HeatCapacitor("mass"))
    s.add(ThermalConductor("wall"))
    s.connect("mass.prot", "wall.a")
    with pytest.raises(ModelDefinitionError, match=r"no port or variable 'prot'.*expected one of port"):
        _generate(s)


def test_unknown_member_lists_members():
    s = System("typo")
    s.add(HeatCapacitor("mass"))
    s.connect("mas.port", "mass.port")
    with pytest.raises(ModelDefinitionError, match=r"unknown member 'mas'.*members are mass"):
        _generate(s)


def test_unconnected_signal_input_is_refused():
    s = System("open")
    s.add(HeatCapacitor("mass"))
    s.add(PrescribedTemperature("ambient"))
    s.add(ThermalConductor("wall"))
    s.connect("mass.port", "wall.a")
    s.connect("wall.b", "ambient.port")
    with pytest.raises(StructuralError, match=r"ambient\.T not connected"):
        _generate(s)


def test_unconnected_port_carries_no_flow(thermal_rc_model):
    """An unconnected heat port is insulated: zero heat flow, its temperature follows its neighbour."""
    s = System("dangling")
    s.add(HeatCapacitor("mass", C=10.0, T=350.0))
    s.add(ThermalConductor("wall", G=2.0))
    s.connect("mass.port", "wall.a")
    s.output("T_far_end", "wall.b.T")
    s.output("Q", "wall.a.Q_flow")
    traj = simulate(s.compile(), (0.0, 10.0), save=1.0)
    np.testing.assert_array_equal(traj["Q"], 0.0)
    np.testing.assert_allclose(traj["T_far_end"], 350.0)


def test_circuit_without_ground_is_refused():
    from phystwin.physics.electrical import Resistor, VoltageSource

    s = System("floating")
    s.add(VoltageSource("src"))
    s.add(Resistor("r", R_ref=10.0))
    s.connect("src.p", "r.p")
    s.connect("r.n", "src.n")
    s.input("V", "V", "src.V")
    # potentials of a floating loop are only defined up to a constant: refused, naming the members
    with pytest.raises(ModelDefinitionError, match=r"\br\b.*\bsrc\b"):
        _generate(s)


def test_two_sources_on_one_node_are_over_determined():
    s = System("fight")
    s.add(PrescribedTemperature("hot"))
    s.add(PrescribedTemperature("cold"))
    s.connect("hot.port", "cold.port")
    s.input("T1", "K", "hot.T")
    s.input("T2", "K", "cold.T")
    with pytest.raises(StructuralError, match="over-determined"):
        _generate(s)


def test_bad_parameter_value_names_parameter_and_bound():
    with pytest.raises(ModelDefinitionError, match=r"parameter mass\.C \[J/K\]: expected a value > 0"):
        HeatCapacitor("mass", C=-5.0)
    with pytest.raises(ModelDefinitionError, match=r"unknown parameter or state 'Cp'.*expected one of C, T"):
        HeatCapacitor("mass", Cp=5.0)


def test_component_reading_an_unknown_name_is_refused_at_definition():
    class Broken(Component):
        variables = (Variable("y", "1"),)
        relations = (Relation({"y": lambda nope: nope}),)

    with pytest.raises(ModelDefinitionError, match=r"reads 'nope'"):
        Broken("b")


def test_nested_system_compiles_like_a_flat_one(thermal_rc_model):
    inner = System("inner")
    inner.add(HeatCapacitor("mass", C=500.0, T=350.0))
    inner.add(ThermalConductor("wall", G=2.0))
    inner.connect("mass.port", "wall.a")
    inner.expose("outside", "wall.b")
    inner.output("T", "mass.T")
    outer = System("outer")
    outer.add(inner)
    outer.add(PrescribedTemperature("ambient"))
    outer.connect("inner.outside", "ambient.port")
    outer.input("T_amb", "K", "ambient.T", default=293.15)
    outer.output("T_mass", "inner.T")
    model = outer.compile()
    assert [s.name for s in model.layout.states] == ["inner.mass.T"]
    a = simulate(model, (0.0, 600.0), save=60.0)
    b = simulate(thermal_rc_model, (0.0, 600.0), save=60.0)
    np.testing.assert_allclose(a["T_mass"], b["T_mass"], rtol=1e-12)


def test_lumped_thermal_mass_matches_exponential(thermal_rc_model):
    from phystwin import DormandPrince

    tau = 500.0 / 2.0
    exact = lambda t: 293.15 + (350.0 - 293.15) * np.exp(-t / tau)
    for rtol in (1e-6, 1e-9):
        traj = simulate(thermal_rc_model, (0.0, 2000.0), save=10.0, solver=DormandPrince(rtol=rtol, atol=rtol))
        err = np.abs(traj["T_mass"] / exact(traj.t) - 1.0).max()
        assert err < 10 * rtol
    # heat into the ambient equals the mass's loss of stored heat
    np.testing.assert_allclose(traj["Q_to_ambient"], 2.0 * (traj["T_mass"] - 293.15), rtol=1e-12)


def _jacobian_pair(model, x, u):
    p = model.default_parameters()
    ja = np.zeros((model.layout.nx, model.layout.nx))
    assert model.kernels.jac(0.0, x, u, p, ja) == 0
    from phystwin.core.jacobian import fd_jacobian

    jf = np.zeros_like(ja)
    assert fd_jacobian(model.kernels.rhs, 0.0, x, u, p, jf) == 0
    return ja, jf


def test_generated_jacobian_is_analytic_and_matches_finite_differences():
    net = thermal_network(
        "net", {"a": 10.0, "b": 20.0, "c": 30.0}, [("a", "b", 1.0), ("b", "c", 2.0), ("c", "amb", 3.0)], ["amb"]
    )
    net.add(BodyRadiation("rad", epsilon=0.8, A=0.1))
    net.connect("a.port", "rad.a")
    net.connect("rad.b", "amb.port")
    model = net.compile()
    assert model.jacobian_kind == "analytic"
    ja, jf = _jacobian_pair(model, np.array([400.0, 350.0, 320.0]), np.array([290.0]))
    np.testing.assert_allclose(ja, jf, rtol=1e-6, atol=1e-9)
    assert ja[0, 2] == 0.0 and ja[2, 0] == 0.0  # exact sparsity


def test_custom_component_example_compiles_and_reaches_operating_point():
    import custom_fan

    model = custom_fan.build().compile()
    assert model.jacobian_kind == "analytic"
    traj = simulate(model, (0.0, 3600.0), inputs={"fan_speed": 300.0, "power": 40.0}, save=60.0)
    assert traj["flow"][-1] == pytest.approx(custom_fan.steady_flow(300.0), rel=1e-6)
    h = traj["h"][-1]
    expected_h = 5.0 + 12.0 * (custom_fan.steady_flow(300.0) / 2.0e-3) ** 0.8
    assert h == pytest.approx(expected_h, rel=1e-6)
    # steady state of the block: 40 W leave through h A (T - T_air); C = 400 J/K, tau = C/(hA) << 3600 s
    t_ss = 298.15 + 40.0 / (h * 0.05)
    tau = 400.0 / (h * 0.05)
    assert tau < 600.0
    assert traj["T_block"][-1] == pytest.approx(t_ss, abs=1e-3)
    ja, jf = _jacobian_pair(model, np.array([0.01, 320.0]), np.array([300.0, 40.0, 298.15]))
    np.testing.assert_allclose(ja, jf, rtol=1e-5, atol=1e-6)
    assert math.isfinite(float(ja.sum()))


def test_second_process_loads_compiled_code_from_disk(tmp_path):
    """A second process simulating the same model must not recompile (numba cache hit)."""
    script = textwrap.dedent(
        """
        import json, os, sys
        os.environ["PHYSTWIN_CACHE_DIR"] = sys.argv[1]
        from phystwin import System, simulate
        from phystwin.physics.thermal import HeatCapacitor, ThermalConductor, PrescribedTemperature
        s = System("cache_probe")
        s.add(HeatCapacitor("m", C=10.0, T=300.0)); s.add(ThermalConductor("g", G=0.7))
        s.add(PrescribedTemperature("amb"))
        s.connect("m.port", "g.a"); s.connect("g.b", "amb.port")
        s.input("T_amb", "K", "amb.T", default=280.0); s.output("T", "m.T")
        model = s.compile()
        simulate(model, (0.0, 10.0))
        from phystwin.core import solvers
        fns = [model.kernels.rhs, model.kernels.jac, model.kernels.out, solvers.dopri5_integrate]
        print(json.dumps({"hits": sum(sum(f.stats.cache_hits.values()) for f in fns),
                          "misses": sum(sum(f.stats.cache_misses.values()) for f in fns)}))
        """
    )
    runs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=600, check=True
        )
        import json

        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["misses"] >= 3  # the model functions compiled in the first process
    assert runs[1] == {"hits": 4, "misses": 0}  # and were loaded, with the solver, in the second
