"""simulate -> generate -> estimate from the command line, on the example config (shortened)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from phystwin.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dc_motor_estimation.toml"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pipeline")
    r = CliRunner()
    truth, sensors, est = d / "truth.h5", d / "sensors.h5", d / "estimate.h5"
    res = r.invoke(app, ["simulate", str(EXAMPLE), "--duration", "6", "--out", str(truth), "--no-plot"])
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["generate", str(EXAMPLE), "--truth", str(truth), "--out", str(sensors), "--seed", "3"])
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["estimate", str(EXAMPLE), "--data", str(sensors), "--out", str(est)])
    assert res.exit_code == 0, res.output
    return {"dir": d, "truth": truth, "sensors": sensors, "estimate": est, "output": res.output}  # type: ignore[dict-item]


def test_sensor_record_has_seeded_streams(pipeline: dict[str, Path]) -> None:
    with h5py.File(pipeline["sensors"], "r") as f:
        assert f["current"].attrs["kind"] == "sensor"
        assert f["current/t"].shape[0] == 6001 and f["housing_temperature/t"].shape[0] == 7
        assert f["current/value"].attrs["unit"] == "A"
        noise = f["current/value"][:] - np.interp(f["current/t"][:], f["simulation/t"][:], f["simulation/current"][:])
        assert 0.045 < float(np.std(noise)) < 0.055  # noise = "0.05 A"
        assert f.attrs["seed"] == 3


def test_estimate_record_has_estimates_innovations_and_health(pipeline: dict[str, Path]) -> None:
    with h5py.File(pipeline["estimate"], "r") as f:
        est = f["estimate"]
        assert est["winding.T"].attrs["unit"] == "K" and "sd:winding.T" in est
        assert est["housing_convection.h"].shape == est["t"].shape
        inn = f["innovation:current+speed"]
        assert {"current", "speed", "S:current", "nis", "flag"} <= set(inn)
        assert inn.attrs["dof"] == 2
        counts = json.loads(f.attrs["counts"])
        assert counts["current+speed"]["accepted"] > 5900
        truth_w = np.interp(est["t"][:], f["simulation/t"][:], f["simulation/winding.T"][:])
        after = est["t"][:] > 3.0
        assert np.sqrt(np.mean((est["winding.T"][after] - truth_w[after]) ** 2)) < 1.0
        assert 1.8 < float(np.nanmean(inn["nis"][:])) < 2.2
    for name in ("estimate_estimates.png", "estimate_innovations.png", "estimate_nis_current_speed.png"):
        assert (pipeline["dir"] / name).stat().st_size > 10_000
    assert "RMS error winding.T" in str(pipeline["output"])


def test_generate_refuses_a_coarse_truth_record(pipeline: dict[str, Path], tmp_path: Path) -> None:
    r = CliRunner()
    coarse = tmp_path / "coarse.h5"
    cfg = tmp_path / "coarse.toml"
    cfg.write_text(EXAMPLE.read_text().replace("save_interval = 0.001", "save_interval = 0.1"))
    res = r.invoke(app, ["simulate", str(cfg), "--duration", "2", "--out", str(coarse), "--no-plot"])
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["generate", str(cfg), "--truth", str(coarse), "--out", str(tmp_path / "s.h5")])
    assert res.exit_code == 2
    assert "sensors.current.rate" in res.output and "save_interval" in res.output


def test_estimate_reports_config_and_data_problems(pipeline: dict[str, Path], tmp_path: Path) -> None:
    r = CliRunner()
    cfg = tmp_path / "bad.toml"
    cfg.write_text(EXAMPLE.read_text().replace('"winding.T" = 1e-6', '"windng.T" = 1e-6'))
    res = r.invoke(app, ["estimate", str(cfg), "--data", str(pipeline["sensors"]), "--out", str(tmp_path / "e.h5")])
    assert res.exit_code == 2 and "windng.T" in res.output and "winding.T" in res.output
    res = r.invoke(app, ["estimate", str(EXAMPLE), "--data", str(pipeline["truth"]), "--out", str(tmp_path / "e.h5")])
    assert res.exit_code == 2 and "no sensor streams" in res.output
    assert not (tmp_path / "e.h5").exists()
