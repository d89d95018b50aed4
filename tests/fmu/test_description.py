"""Model descriptions (FMI 2.0 and 3.0) read with fmpy from real FMU archives; validation; units at the boundary."""

from __future__ import annotations

import hashlib
import math
import zipfile
from pathlib import Path

import pytest

from phystwin.fmu.archive import FMUArchiveError
from phystwin.fmu.description import (
    FMUDescriptionError,
    FMUUnitError,
    from_si,
    read_description,
    si_scale_offset,
    to_si,
    validate,
)
from phystwin.units import convert

FMI2 = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="oven" guid="{8c4e810f-3df3-4a00-8276-176fa3c9f000}"
    numberOfEventIndicators="0">
  <ModelExchange modelIdentifier="oven" canGetAndSetFMUstate="true" canSerializeFMUstate="true"
      providesDirectionalDerivative="true"/>
  <CoSimulation modelIdentifier="oven" canHandleVariableCommunicationStepSize="true" canGetAndSetFMUstate="true"
      canSerializeFMUstate="false"/>
  <UnitDefinitions>
    <Unit name="K"><BaseUnit K="1"/></Unit>
    <Unit name="K/s"><BaseUnit K="1" s="-1"/></Unit>
    <Unit name="degC"><BaseUnit K="1" offset="273.15"/></Unit>
    <Unit name="rpm"><BaseUnit s="-1" rad="1" factor="0.10471975511965977"/></Unit>
    <Unit name="J/K"><BaseUnit kg="1" m="2" s="-2" K="-1"/></Unit>
    <Unit name="W"><BaseUnit kg="1" m="2" s="-3"/></Unit>
    <Unit name="furlong/fortnight"><BaseUnit m="1" s="-1" factor="1.663e-4"/></Unit>
  </UnitDefinitions>
  <DefaultExperiment startTime="0" stopTime="600" tolerance="1e-06" stepSize="0.5"/>
  <ModelVariables>
    <ScalarVariable name="T" valueReference="0" causality="output" variability="continuous" initial="exact"
        description="oven temperature"><Real unit="K" start="350" min="200" max="1000"/></ScalarVariable>
    <ScalarVariable name="der(T)" valueReference="1" causality="local" variability="continuous"
        initial="calculated"><Real unit="K/s" derivative="1"/></ScalarVariable>
    <ScalarVariable name="T_amb" valueReference="2" causality="input" variability="continuous">
        <Real unit="degC" start="20"/></ScalarVariable>
    <ScalarVariable name="fan_speed" valueReference="3" causality="input" variability="continuous">
        <Real unit="rpm" start="1500" min="0" max="3000"/></ScalarVariable>
    <ScalarVariable name="C" valueReference="4" causality="parameter" variability="fixed">
        <Real unit="J/K" start="500" min="0"/></ScalarVariable>
    <ScalarVariable name="Q" valueReference="5" causality="output" variability="continuous" initial="calculated">
        <Real unit="W"/></ScalarVariable>
    <ScalarVariable name="drift" valueReference="6" causality="output" variability="continuous"
        initial="calculated"><Real unit="furlong/fortnight"/></ScalarVariable>
    <ScalarVariable name="door_open" valueReference="7" causality="input" variability="discrete">
        <Boolean start="false"/></ScalarVariable>
  </ModelVariables>
  <ModelStructure>
    <Outputs><Unknown index="1"/><Unknown index="6"/><Unknown index="7"/></Outputs>
    <Derivatives><Unknown index="2"/></Derivatives>
    <InitialUnknowns><Unknown index="2"/><Unknown index="6"/><Unknown index="7"/></InitialUnknowns>
  </ModelStructure>
</fmiModelDescription>
"""

FMI3 = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="3.0" modelName="spinner" instantiationToken="{5d1e7c35-1b0b-4d6a-9d3e-0a7b2f1c9e21}">
  <ModelExchange modelIdentifier="spinner" canGetAndSetFMUState="true" canSerializeFMUState="true"
      providesDirectionalDerivatives="true"/>
  <CoSimulation modelIdentifier="spinner_cs" canGetAndSetFMUState="true" canSerializeFMUState="true"
      providesDirectionalDerivatives="true" canHandleVariableCommunicationStepSize="true"/>
  <UnitDefinitions>
    <Unit name="s"><BaseUnit s="1"/></Unit>
    <Unit name="rad"><BaseUnit rad="1"/></Unit>
    <Unit name="rad/s"><BaseUnit s="-1" rad="1"/></Unit>
    <Unit name="rad/s2"><BaseUnit s="-2" rad="1"/></Unit>
    <Unit name="rpm"><BaseUnit s="-1" rad="1" factor="0.10471975511965977"/></Unit>
    <Unit name="N.m"><BaseUnit kg="1" m="2" s="-2"/></Unit>
    <Unit name="kg.m2"><BaseUnit kg="1" m="2"/></Unit>
  </UnitDefinitions>
  <DefaultExperiment startTime="0" stopTime="10" stepSize="0.01"/>
  <ModelVariables>
    <Float64 name="time" valueReference="0" causality="independent" variability="continuous" unit="s"/>
    <Float64 name="phi" valueReference="1" causality="local" variability="continuous" initial="exact" start="0"
        unit="rad"/>
    <Float64 name="w" valueReference="2" causality="local" variability="continuous" initial="exact" start="0"
        unit="rad/s"/>
    <Float64 name="der(phi)" valueReference="3" causality="local" variability="continuous" initial="calculated"
        unit="rad/s" derivative="1"/>
    <Float64 name="der(w)" valueReference="4" causality="local" variability="continuous" initial="calculated"
        unit="rad/s2" derivative="2"/>
    <Float64 name="speed" valueReference="5" causality="output" variability="continuous" initial="calculated"
        unit="rpm"/>
    <Float64 name="torque" valueReference="6" causality="input" variability="continuous" start="0" unit="N.m"/>
    <Float64 name="J" valueReference="7" causality="parameter" variability="fixed" start="0.01" min="1e-6"
        unit="kg.m2"/>
  </ModelVariables>
  <ModelStructure>
    <Output valueReference="5"/>
    <ContinuousStateDerivative valueReference="3"/>
    <ContinuousStateDerivative valueReference="4"/>
    <InitialUnknown valueReference="3"/>
    <InitialUnknown valueReference="4"/>
    <InitialUnknown valueReference="5"/>
  </ModelStructure>
</fmiModelDescription>
"""


def make_fmu(path: Path, xml: str, **replace: str) -> Path:
    """A real FMU archive (no binaries: fmpy reads the model description only) with edits applied to the XML."""
    for old, new in replace.items():
        assert old in xml, old
        xml = xml.replace(old, new)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("modelDescription.xml", xml)
        zf.writestr("documentation/index.html", "<html/>")
    return path


@pytest.fixture
def fmi2(tmp_path: Path) -> Path:
    return make_fmu(tmp_path / "oven.fmu", FMI2)


@pytest.fixture
def fmi3(tmp_path: Path) -> Path:
    return make_fmu(tmp_path / "spinner.fmu", FMI3)


def test_fmi2_description(fmi2: Path) -> None:
    d = read_description(fmi2)
    assert (d.fmi_version, d.model_name) == ("2.0", "oven")
    assert d.guid == d.instantiation_token == "{8c4e810f-3df3-4a00-8276-176fa3c9f000}"
    assert d.model_identifiers == {"ModelExchange": "oven", "CoSimulation": "oven"}
    assert d.supports_model_exchange and d.supports_co_simulation
    me, cs = d.interfaces
    assert me.kind == "ModelExchange" and me.can_serialize_state and me.provides_directional_derivative
    assert cs.kind == "CoSimulation" and cs.can_handle_variable_step and not cs.can_serialize_state
    assert d.can_get_and_set_state and not d.can_serialize_state and not d.provides_directional_derivative
    assert (d.n_states, d.n_event_indicators) == (1, 0)
    assert [tuple(p) for p in d.states] == [("T", "der(T)")]
    de = d.default_experiment
    assert (de.start, de.stop, de.tolerance, de.step) == (0.0, 600.0, 1e-6, 0.5)
    assert d.inputs == ("T_amb", "fan_speed", "door_open")
    assert d.outputs == ("T", "Q", "drift")
    assert d.parameters == ("C",)
    units = {v.name: v.unit for v in d.variables}
    assert units == {
        "T": "K",
        "der(T)": "K/s",
        "T_amb": "degC",
        "fan_speed": "rpm",
        "C": "J/K",
        "Q": "W",
        "drift": "furlong/fortnight",
        "door_open": None,
    }
    t = d.variable("T")
    assert (t.start, t.min, t.max, t.type, t.causality, t.variability) == (
        350.0,
        200.0,
        1000.0,
        "Real",
        "output",
        "continuous",
    )
    assert t.description == "oven temperature" and t.value_reference == 0
    assert d.variable("der(T)").derivative_of == "T"
    assert d.variable("door_open").start is False
    assert d.sha256 == hashlib.sha256(fmi2.read_bytes()).hexdigest() and d.path == fmi2
    with pytest.raises(KeyError, match="no variable 'T_ambient'"):
        d.variable("T_ambient")


def test_fmi3_description(fmi3: Path) -> None:
    d = read_description(fmi3)
    assert (d.fmi_version, d.model_name) == ("3.0", "spinner")
    assert d.instantiation_token == d.guid == "{5d1e7c35-1b0b-4d6a-9d3e-0a7b2f1c9e21}"  # noqa: S105
    assert d.model_identifiers == {"ModelExchange": "spinner", "CoSimulation": "spinner_cs"}
    # FMI 3.0 spells the capabilities canGetAndSetFMUState / providesDirectionalDerivatives
    assert d.can_get_and_set_state and d.can_serialize_state and d.provides_directional_derivative
    assert all(i.can_get_and_set_state and i.provides_directional_derivative for i in d.interfaces)
    assert d.n_states == 2
    assert [tuple(p) for p in d.states] == [("phi", "der(phi)"), ("w", "der(w)")]
    assert d.inputs == ("torque",) and d.outputs == ("speed",) and d.parameters == ("J",)
    assert d.variable("speed").unit == "rpm" and d.variable("torque").unit == "N.m"
    assert d.variable("J").min == 1e-6 and d.variable("J").type == "Float64"
    assert d.default_experiment.tolerance is None and d.default_experiment.step == 0.01


def test_good_descriptions_validate_clean(fmi2: Path, fmi3: Path) -> None:
    assert validate(fmi2) == []
    assert validate(fmi3) == []
    assert read_description(fmi2, validate=True).model_name == "oven"


def test_broken_fmi2_reports_every_problem(tmp_path: Path) -> None:
    bad = make_fmu(
        tmp_path / "bad.fmu",
        FMI2,
        **{
            '<Real unit="W"/>': "<Real/>",  # an output without unit
            'start="350" min="200"': 'start="1500" min="200"',  # start above max=1000
            '<Real unit="degC" start="20"/>': '<Real unit="degC"/>',  # input without start: fmpy finds it
        },
    )
    problems = validate(bad)
    text = "\n".join(problems)
    assert "output 'Q' has no unit" in text
    assert "variable 'T': start=1500 is outside [min, max] = [200, 1000]" in text
    assert 'Variable "T_amb"' in text and "no start value" in text  # fmpy's own finding, not swallowed
    assert len(problems) == 3, problems
    with pytest.raises(FMUDescriptionError, match="3 problem"):
        read_description(bad, validate=True)
    assert read_description(bad).variable("Q").unit is None  # still readable without validate=True


def test_schema_error_is_a_problem(tmp_path: Path) -> None:
    bad = make_fmu(tmp_path / "schema.fmu", FMI2, **{'causality="parameter"': 'causality="sideways"'})
    problems = validate(bad)
    assert any("sideways" in p for p in problems), problems


@pytest.mark.parametrize(
    ("xml", "edit", "expected"),
    [
        (FMI2, {'derivative="1"': 'derivative="99"'}, "has derivative='99', which is the index of no variable"),
        (FMI2, {'<Derivatives><Unknown index="2"/>': '<Derivatives><Unknown index="42"/>'}, "index='42', which is no"),
        (FMI2, {'<Derivatives><Unknown index="2"/>': '<Derivatives><Unknown index="3"/>'}, "'T_amb' in ModelStructure"),
        (
            FMI3,
            {'<ContinuousStateDerivative valueReference="4"/>': '<ContinuousStateDerivative valueReference="42"/>'},
            "valueReference='42', which is no variable",
        ),
        (
            FMI3,
            {'derivative="2"': 'derivative="77"'},
            "has derivative='77', which is the valueReference of no variable",
        ),
    ],
)
def test_derivatives_must_refer_to_existing_variables(
    tmp_path: Path, xml: str, edit: dict[str, str], expected: str
) -> None:
    bad = make_fmu(tmp_path / "der.fmu", xml, **edit)
    problems = validate(bad)
    assert any(expected in p for p in problems), problems


def test_unreadable_description_raises_but_validates_to_problems(tmp_path: Path) -> None:
    bad = make_fmu(tmp_path / "der.fmu", FMI2, **{'derivative="1"': 'derivative="99"'})
    with pytest.raises(FMUDescriptionError, match=r"cannot read modelDescription\.xml"):
        read_description(bad)
    broken_xml = make_fmu(tmp_path / "syntax.fmu", FMI2, **{"</ModelVariables>": "</ModelVariable>"})
    with pytest.raises(FMUDescriptionError, match=r"syntax\.fmu"):
        read_description(broken_xml)
    assert validate(broken_xml)


def test_unit_problems(tmp_path: Path) -> None:
    no_base = make_fmu(
        tmp_path / "nobase.fmu",
        FMI2,
        **{'<BaseUnit m="1" s="-1" factor="1.663e-4"/></Unit>': "</Unit>"},
    )
    (problem,) = validate(no_base)
    assert "'drift'" in problem and "'furlong/fortnight' cannot be converted to SI" in problem
    drift = read_description(no_base).variable("drift")
    assert drift.si_scale is None
    with pytest.raises(FMUUnitError, match="'drift'"):
        to_si(drift, 1.0)
    wrong = make_fmu(tmp_path / "wrong.fmu", FMI2, **{'factor="0.10471975511965977"': 'factor="1"'})
    (problem,) = validate(wrong)
    assert "'fan_speed'" in problem and "unit 'rpm' as factor=1" in problem and "phystwin's reading is used" in problem


def test_unit_conversion_at_the_boundary(fmi2: Path, fmi3: Path) -> None:
    d = read_description(fmi2)
    t_amb, fan, drift = d.variable("T_amb"), d.variable("fan_speed"), d.variable("drift")
    assert to_si(t_amb, 25.0) == pytest.approx(298.15)
    assert from_si(t_amb, 298.15) == pytest.approx(25.0)
    assert to_si(fan, 60.0) == pytest.approx(2 * math.pi)
    assert from_si(fan, 2 * math.pi) == pytest.approx(60.0)
    assert to_si(fan, 3000.0) == pytest.approx(convert(3000.0, "rpm", "rad/s"))  # the same numbers as units.py
    assert to_si(drift, 1000.0) == pytest.approx(0.1663)  # unknown to units.py: the FMU's BaseUnit factor
    assert d.conversion_to("T_amb", "K") == pytest.approx((1.0, 273.15))
    assert d.conversion_to("T_amb", "degF")[0] == pytest.approx(1.8)
    assert d.conversion_to("drift", "km/h") == pytest.approx((1.663e-4 * 3.6, 0.0))
    with pytest.raises(FMUUnitError, match="'degC' does not convert to 'rad/s'"):
        d.conversion_to("T_amb", "rad/s")
    with pytest.raises(FMUUnitError, match="'furlong/fortnight' does not convert to 'K'"):
        d.conversion_to("drift", "K")
    with pytest.raises(FMUUnitError, match="'door_open'"):
        to_si(d.variable("door_open"), 1.0)
    speed = read_description(fmi3).variable("speed")
    assert to_si(speed, 30.0) == pytest.approx(math.pi)
    assert si_scale_offset("degC") == (1.0, 273.15)
    assert si_scale_offset("rpm") == pytest.approx((2 * math.pi / 60, 0.0))
    assert si_scale_offset(None) == (1.0, 0.0)
    with pytest.raises(FMUUnitError, match="'furlong/fortnight' cannot be converted to SI"):
        si_scale_offset("furlong/fortnight")


def test_archive_problems_are_archive_errors(tmp_path: Path) -> None:
    evil = tmp_path / "evil.fmu"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("modelDescription.xml", FMI2)
        zf.writestr("../../evil.sh", "rm -rf /")
    with pytest.raises(FMUArchiveError, match=r"'\.\./\.\./evil\.sh'"):
        read_description(evil)
    with pytest.raises(FMUArchiveError, match=r"'\.\./\.\./evil\.sh'"):
        validate(evil)
    empty = tmp_path / "empty.fmu"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("resources/x.txt", "x")
    with pytest.raises(FMUArchiveError, match=r"no modelDescription\.xml"):
        read_description(empty)
    with pytest.raises(FMUArchiveError, match="no such FMU file"):
        validate(tmp_path / "missing.fmu")


@pytest.mark.parametrize("fmi_version", ["2.0", "3.0"])
def test_compiled_test_fmu(tmp_path: Path, fmi_version: str) -> None:
    """The project's own compiled thermal_rc FMU: reads, validates clean, extracts with its binary."""
    from phystwin.fmu.archive import safe_extract
    from phystwin.fmu.build import build_fmu

    fmu = build_fmu("thermal_rc", fmi_version=fmi_version)
    d = read_description(fmu)
    assert d.fmi_version.startswith(fmi_version[0]) and d.n_states == 2 == len(d.states)
    assert d.variable("T_amb").unit == "K" and d.variable("Q_in").unit == "W"
    assert validate(fmu) == []
    out = safe_extract(fmu, tmp_path / "x")
    assert (out / "modelDescription.xml").is_file()
    assert any(p.suffix in (".so", ".dll", ".dylib") for p in (out / "binaries").rglob("*"))
