"""``phystwin fmu info``: a good FMU, a bad one, and files that are not FMUs (exit status 0, 1 and 2)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phystwin.cli import app

XML = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="fan_heater" guid="{1f0c2b4e-8a55-4d5e-9a61-3d2c5e7f9b10}">
  <CoSimulation modelIdentifier="fan_heater" canHandleVariableCommunicationStepSize="true"
      canGetAndSetFMUstate="true"/>
  <UnitDefinitions>
    <Unit name="K"><BaseUnit K="1"/></Unit>
    <Unit name="degC"><BaseUnit K="1" offset="273.15"/></Unit>
    <Unit name="rpm"><BaseUnit s="-1" rad="1" factor="0.10471975511965977"/></Unit>
    <Unit name="W"><BaseUnit kg="1" m="2" s="-3"/></Unit>
  </UnitDefinitions>
  <DefaultExperiment startTime="0" stopTime="120" stepSize="0.1"/>
  <ModelVariables>
    <ScalarVariable name="T_in" valueReference="0" causality="input" variability="continuous">
        <Real unit="degC" start="20" min="-40" max="80"/></ScalarVariable>
    <ScalarVariable name="fan_speed" valueReference="1" causality="input" variability="continuous">
        <Real unit="rpm" start="1200" min="0" max="3000"/></ScalarVariable>
    <ScalarVariable name="T_out" valueReference="2" causality="output" variability="continuous"
        initial="calculated"><Real unit="K"/></ScalarVariable>
    <ScalarVariable name="P_el" valueReference="3" causality="output" variability="continuous"
        initial="calculated"><Real unit="W"/></ScalarVariable>
  </ModelVariables>
  <ModelStructure>
    <Outputs><Unknown index="3"/><Unknown index="4"/></Outputs>
    <InitialUnknowns><Unknown index="3"/><Unknown index="4"/></InitialUnknowns>
  </ModelStructure>
</fmiModelDescription>
"""


def _fmu(path: Path, **replace: str) -> Path:
    xml = XML
    for old, new in replace.items():
        assert old in xml, old
        xml = xml.replace(old, new)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("modelDescription.xml", xml)
    return path


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and 'File "' not in output, output


def test_info_on_a_good_fmu(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fmu = _fmu(tmp_path / "fan_heater.fmu")
    result = runner.invoke(app, ["fmu", "info", str(fmu)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "FMI version: 2.0" in out and "model name: fan_heater" in out
    assert "CoSimulation (model identifier fan_heater): get/set state yes" in out and "variable step yes" in out
    assert "default experiment: start 0 s, stop 120 s, step 0.1 s" in out
    for name, unit in (("T_in", "degC"), ("fan_speed", "rpm"), ("T_out", "K"), ("P_el", "W")):
        (row,) = [line for line in out.splitlines() if f" {name} " in line]
        assert f" {unit} " in row, row
    assert "validation: no problems found" in out
    assert f"SHA-256: {hashlib.sha256(fmu.read_bytes()).hexdigest()}" in out


def test_info_on_a_bad_fmu_lists_findings_and_exits_1(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fmu = _fmu(
        tmp_path / "bad.fmu",
        **{'<Real unit="W"/>': "<Real/>", 'start="1200"': 'start="4500"', 'unit="degC" start="20"': 'unit="degC"'},
    )
    result = runner.invoke(app, ["fmu", "info", str(fmu)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "validation: 3 problem(s) found" in out
    assert "output 'P_el' has no unit" in out
    assert "variable 'fan_speed': start=4500 is outside [min, max] = [0, 3000]" in out
    assert 'Variable "T_in"' in out and "no start value" in out  # fmpy's finding
    assert " rpm " in out and " degC " in out  # the variables are still listed with their units
    _no_traceback(out)


def test_info_json(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fmu = _fmu(tmp_path / "fan_heater.fmu")
    result = runner.invoke(app, ["fmu", "info", str(fmu), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["valid"] is True and data["problems"] == []
    assert data["fmi_version"] == "2.0" and data["supports_co_simulation"] and not data["supports_model_exchange"]
    assert {v["name"]: v["unit"] for v in data["variables"]}["fan_speed"] == "rpm"
    assert data["sha256"] == hashlib.sha256(fmu.read_bytes()).hexdigest()
    bad = _fmu(tmp_path / "bad.fmu", **{'<Real unit="W"/>': "<Real/>"})
    result = runner.invoke(app, ["fmu", "info", str(bad), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        "output 'P_el' has no unit (expected a unit attribute, e.g. unit=\"K\")"
    ]


def test_info_on_an_unreadable_description_exits_1_with_findings(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fmu = _fmu(tmp_path / "der.fmu", **{'<Real unit="K"/>': '<Real unit="K" derivative="9"/>'})
    result = runner.invoke(app, ["fmu", "info", str(fmu)])
    assert result.exit_code == 1, result.output
    assert "model description: cannot be read" in result.output
    assert "has derivative='9', which is the index of no variable" in result.output
    _no_traceback(result.output)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "no such FMU file"),
        ("not_zip", "expected a ZIP archive"),
        ("traversal", "refused, member '../../evil.sh' contains a '..' component"),
        ("no_description", "no modelDescription.xml"),
    ],
)
def test_info_errors_exit_2_with_one_line(runner, tmp_path, kind: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{kind}.fmu"
    if kind == "not_zip":
        path.write_text("not an archive")
    elif kind in ("traversal", "no_description"):
        with zipfile.ZipFile(path, "w") as zf:
            if kind == "traversal":
                zf.writestr("modelDescription.xml", XML)
            zf.writestr("../../evil.sh" if kind == "traversal" else "resources/a.txt", "x")
    result = runner.invoke(app, ["fmu", "info", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and expected in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    _no_traceback(result.output)


def test_info_as_a_real_process(tmp_path: Path) -> None:
    fmu = _fmu(tmp_path / "fan_heater.fmu")
    proc = subprocess.run(
        [sys.executable, "-m", "phystwin.cli", "fmu", "info", str(fmu)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "degC" in proc.stdout and "no problems found" in proc.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "phystwin.cli", "fmu", "info", str(tmp_path / "nope.fmu")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and missing.stderr.startswith("error: no such FMU file")
    _no_traceback(missing.stderr)


def test_fmu_run_exit_status_follows_the_check(tmp_path: Path) -> None:
    """``phystwin fmu run``: 0 for a clean run, 1 when an output leaves its declared range, 2 when the run
    fails (a hanging FMU killed at its wall-clock limit, the caller still answering)."""
    from phystwin.fmu.build import build_fmu

    runner = CliRunner()
    ball = build_fmu("bouncing_ball", cache_dir=tmp_path)
    res = runner.invoke(app, ["fmu", "run", str(ball), "--stop-time", "1", "--step", "0.01", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["problems"] == [] and doc["reached"] == pytest.approx(1.0) and doc["outputs"]["h"]["unit"] == "m"
    heater = build_fmu("pwm_heater", cache_dir=tmp_path)
    args = [
        "fmu",
        "run",
        str(heater),
        "--interface",
        "me",
        "--stop-time",
        "60",
        "--set",
        "P=5000",
        "--set",
        "T_max=1e3",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "outside its declared max = 423.15 K" in res.output
    hang = build_fmu("fault_injector", cache_dir=tmp_path)
    args = ["fmu", "run", str(hang), "--stop-time", "3", "--set", "fault_mode=5", "--timeout", "3"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "did not finish within 3 s" in res.output
