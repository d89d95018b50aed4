"""The phystwin command line: in-process with CliRunner, and once as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from phystwin import __version__
from phystwin.cli import app
from phystwin.config.schema import parse_config
from phystwin.records.hdf5 import read_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and 'File "' not in output, output


def test_version(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"phystwin {__version__}"


def test_twins_lists_registered_twins(runner, cli_twin) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["twins"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{cli_twin}: thermal mass cooling" in out
    assert "T_amb [K] = 293.15" in out and "T_mass [K]" in out
    assert "dc_motor:" in out and "voltage [V]" in out and "speed [rad/s]" in out


def test_template_is_a_valid_config(runner, cli_twin, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["template", cli_twin])
    assert result.exit_code == 0, result.output
    cfg = parse_config(result.stdout)
    assert cfg.twin.type == cli_twin and '"mass.C" = 500.0' in result.stdout
    out = tmp_path / "t.toml"
    assert runner.invoke(app, ["template", cli_twin, "--out", str(out)]).exit_code == 0
    assert out.read_text() == result.stdout
    bad = runner.invoke(app, ["template", cli_twin + "x"])
    assert bad.exit_code == 2 and f"did you mean {cli_twin!r}" in bad.output


def test_simulate_writes_record_plot_and_summary(runner, write_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config()
    h5 = tmp_path / "runs" / "oven.h5"
    result = runner.invoke(app, ["simulate", str(cfg), "--out", str(h5)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("oven_3: completed", "rodas", "rhs evaluations", "real-time factor", "T_mass", "Q_to_ambient"):
        assert text in out, text
    assert f"record: {h5}" in out and f"plot:   {h5.with_suffix('.png')}" in out
    assert h5.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    rec = read_record(h5)
    t, T, unit = rec.signal("T_mass")
    assert unit == "K" and t[-1] == 600.0 and np.all(np.diff(t) > 0)
    # ambient steps from 20 degC to 40 degC at 300 s; tau = C/G = 250 s
    T300 = 293.15 + 60.0 * np.exp(-300.0 / 250.0)
    expected = np.where(
        t <= 300.0, 293.15 + 60.0 * np.exp(-t / 250.0), 313.15 + (T300 - 313.15) * np.exp(-(t - 300.0) / 250.0)
    )
    np.testing.assert_allclose(T, expected, rtol=1e-6)
    assert rec.config_text == cfg.read_text()
    prov = rec.provenance
    assert prov["twin_name"] == "oven_3" and prov["config_path"] == str(cfg.resolve()) and prov["solver"] == "rodas"
    # how the model was checked: an analytic Jacobian, every equation differentiated and dimension-checked
    assert prov["jacobian"] == "analytic" and prov["derivative_notes"] == [] and prov["unit_notes"] == []
    assert rec.attrs["model_structure_hash"] and rec.parameters["mass.C"] == (1000.0, "J/K")


def test_defaults_beside_the_config_name_and_overrides(runner, write_config, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["simulate", str(cfg), "--duration", "2 min", "--solver", "dopri5", "--no-plot"])
    assert result.exit_code == 0, result.output
    rec = read_record(tmp_path / "oven.h5")
    assert rec.stream().t[-1] == 120.0 and rec.provenance["solver"] == "dopri5"
    assert not (tmp_path / "oven.png").exists()
    png = tmp_path / "elsewhere.png"
    result = runner.invoke(app, ["simulate", str(cfg), "-d", "30", "-o", "b.h5", "--png", str(png)])
    assert result.exit_code == 0 and png.exists() and (tmp_path / "b.h5").exists()


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (
            {'"mass.C"': '"mass.c"'},
            "parameters.\"mass.c\": unknown parameter of twin 'cli_thermal'; did you mean 'mass.C'?",
        ),
        ({'"1 kJ/K"': '"1 kH"'}, "unit 'kH' does not convert to 'J/K'"),
        ({'"1 kJ/K"': "-1"}, 'parameters."mass.C": expected a value > 0 J/K, got -1 J/K'),
        ({"rtol = 1e-8": "rtoll = 1e-8"}, "simulation.rtoll: unknown key; did you mean 'rtol'"),
        ({'"wall.G" = "4 W/K"': '"mass.T" = 300'}, "'mass.T' is a state: give it in [initial]"),
        ({"[0.0, 300.0]": "[300.0, 0.0]"}, "inputs.T_amb.times: times must be strictly increasing"),
        ({'type = "cli_thermal"': 'type = "no_such_twin"'}, "twin.type: unknown twin type 'no_such_twin'"),
    ],
)
def test_config_errors_exit_2_with_one_clear_message(runner, write_config, tmp_path, replace, expected) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config(**replace)
    result = runner.invoke(app, ["simulate", str(cfg), "--out", str(tmp_path / "x.h5")])
    assert result.exit_code == 2
    assert expected in result.stderr and result.stderr.startswith("error: ")
    _no_traceback(result.output)
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--duration", "ten"], "--duration: expected a time"),
        (["--duration", "-5"], "--duration: expected a time > 0 s"),
        (["--duration", "5 V"], "--duration: expected a time"),
        (["--solver", "euler"], "--solver: expected one of rodas, dopri5, rk4, got 'euler'"),
        (["--solver", "rk4"], "simulation.dt: required key is missing"),
    ],
)
def test_bad_options_exit_2(runner, write_config, args, expected) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["simulate", str(write_config()), *args])
    assert result.exit_code == 2 and expected in result.stderr, result.output
    _no_traceback(result.output)


def test_missing_config_and_unwritable_output(runner, write_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["simulate", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "cannot read the config file" in result.stderr
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = runner.invoke(app, ["simulate", str(write_config()), "--out", str(blocker / "run.h5")])
    assert result.exit_code == 2 and "cannot write output" in result.stderr
    _no_traceback(result.output)


def test_integration_failure_writes_the_partial_record(runner, write_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config(**{"save_interval = 10.0": "save_interval = 10.0\nmax_steps = 5"})
    h5 = tmp_path / "partial.h5"
    result = runner.invoke(app, ["simulate", str(cfg), "--out", str(h5)])
    assert result.exit_code == 2, result.output
    assert "integration failed at t = " in result.stderr and "maximum number of steps" in result.stderr
    assert "partial record" in result.stderr and str(h5) in result.stderr
    _no_traceback(result.output)
    rec = read_record(h5)
    assert rec.attrs["complete"] is False and rec.attrs["status"] == 3
    assert rec.stream().t.size < 61


@pytest.mark.slow
def test_real_process_runs_the_dc_motor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "motor.toml"
    cfg.write_text(
        '[twin]\ntype = "dc_motor"\nname = "motor_A"\n'
        '[parameters]\n"armature_L.L" = "5 mH"\n'
        '[initial]\n"winding.T" = "25 degC"\n'
        '[simulation]\nduration = 3600.0\nsolver = "rodas"\nsave_interval = 0.05\n'
        "[inputs]\nload_torque = 0.05\n"
        '[inputs.voltage]\ntimes = [0.0, 1.0]\nvalues = [24.0, 12.0]\nperiod = 2.0\nunit = "V"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "phystwin.cli",
            "simulate",
            str(cfg),
            "--duration",
            "4",
            "--out",
            str(tmp_path / "run.h5"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "motor_A: completed" in proc.stdout and "winding_temperature" in proc.stdout
    assert "compiling" not in proc.stderr and "simulating" not in proc.stderr  # no spinner: stderr is not a TTY
    rec = read_record(tmp_path / "run.h5")
    t, w, unit = rec.signal("speed")
    assert unit == "rad/s" and t[-1] == 4.0 and w.max() > 0.0
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"
