"""``phystwin plot`` and ``phystwin export`` on every kind of record phystwin writes, and on files
they cannot read (exit status 2, the file named, nothing written).

The records are real and small: ``simulate`` -> ``generate`` -> ``estimate`` from the command line on
the example DC motor config (3 s), a bench record from the virtual bench and a run record from the
twin runner (both in process, without a transport, exactly as ``bench serve`` and ``run`` record).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr
from typer.testing import CliRunner

from phystwin.cli import app
from phystwin.records.hdf5 import read_record

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dc_motor_estimation.toml"
BENCH = ROOT / "examples" / "dc_motor_bench.toml"
TWIN = ROOT / "examples" / "dc_motor_twin.toml"


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and 'File "' not in output, output


def _png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, path


def _bench_record(path: Path) -> Path:
    """A bench record as ``phystwin bench serve --out`` writes it (no transport: a null link)."""
    from phystwin.config.live import bench_setup
    from phystwin.config.schema import read_config
    from phystwin.hil.link import LinkStats
    from phystwin.records.recorder import Recorder

    class NullLink:
        stats = LinkStats()

        def __init__(self, streams: tuple[str, ...]) -> None:
            self.streams = streams

        def publish(self, m: Any) -> None:
            pass

        def publish_samples(self, samples: Any) -> None:
            pass

        def poll_commands(self) -> list[Any]:
            return []

    config = read_config(BENCH)
    setup = bench_setup(config)
    bench = setup.bench
    rec = Recorder(path, kind="bench", config_text=config.text, attrs={"twin_name": config.label})
    for name, signals in bench.record_streams().items():
        rec.add_stream(name, signals)
    rec.start()
    summary = bench.run(NullLink(tuple(bench.stream_names)), 0.3, rate_factor=0, recorder=rec, record_interval=0.005)
    rec.close(summary.as_dict())
    return path


def _run_record(path: Path) -> Path:
    """A run record as ``phystwin run --out`` writes it (arrivals handed to the runner directly)."""
    from phystwin.config.live import make_runner, runner_setup
    from phystwin.config.schema import read_config
    from phystwin.estimation.types import Measurement
    from phystwin.hil.link import Arrival
    from phystwin.records.recorder import Recorder

    class NoLink:
        def poll(self, timeout: float) -> list[Arrival]:
            return []

        def send_command(self, command: Any) -> None:
            raise AssertionError("a shadow runner sends no command")

    config = read_config(TWIN)
    setup = runner_setup(config)
    rec = Recorder(path, kind="run", config_text=config.text, attrs={"twin_name": config.label})
    runner = make_runner(setup, NoLink(), rec, "shadow")
    rec.start()
    rng = np.random.default_rng(2)
    runner._handle(Arrival(Measurement(0.0005, "inputs", np.array([24.0, 0.0, 298.15]), 1), 0.0))
    for k in range(40):
        z = np.array([2.0, 10.0 * k / 40]) + rng.normal(size=2) * [0.05, 0.2]
        runner._handle(Arrival(Measurement(0.01 * (k + 1), "current+speed", z, k), 0.0))
    runner._handle(Arrival(Measurement(0.405, "housing_temperature", np.array([298.2]), 1), 0.0))
    rec.close({"status": "ok"})
    return path


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("records")
    r = CliRunner()
    truth, sensors, est = d / "truth.h5", d / "sensors.h5", d / "estimate.h5"
    res = r.invoke(app, ["simulate", str(EXAMPLE), "--duration", "3", "--out", str(truth), "--no-plot"])
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["generate", str(EXAMPLE), "--truth", str(truth), "--out", str(sensors), "--seed", "3"])
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["estimate", str(EXAMPLE), "--data", str(sensors), "--out", str(est), "--no-plot"])
    assert res.exit_code == 0, res.output
    return {
        "simulate": truth,
        "generate": sensors,
        "estimate": est,
        "bench": _bench_record(d / "bench.h5"),
        "run": _run_record(d / "run.h5"),
    }


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


# ---------------------------------------------------------------------------------------- plot
EXPECTED_FIGURES = {
    "simulate": {"simulation"},
    "generate": {"signals", "simulation"},
    "estimate": {"estimates", "innovations", "nis", "simulation"},
    "bench": {"signals"},
    "run": {"signals", "estimates", "innovations", "nis"},
}


@pytest.mark.parametrize("kind", list(EXPECTED_FIGURES))
def test_plot_draws_every_record_kind(runner, records, kind, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = runner.invoke(app, ["plot", str(records[kind]), "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    _no_traceback(res.output)
    stem = records[kind].stem
    written = {p.name for p in tmp_path.glob("*.png")}
    assert {f"{stem}_{name}.png" for name in EXPECTED_FIGURES[kind]} <= written, written
    for name in written:
        _png(tmp_path / name)
        assert f"wrote: {tmp_path / name}" in res.output


def _bad_files(folder: Path, records: dict[str, Path]) -> dict[str, tuple[Path, str]]:
    """File -> the words the error must contain."""
    text = folder / "notes.h5"
    text.write_text("time,value\n0,1\n")
    empty = folder / "empty.h5"
    empty.write_bytes(b"")
    foreign = folder / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3.0)
    truncated = folder / "truncated.h5"
    truncated.write_bytes(records["simulate"].read_bytes()[:4000])
    no_samples = folder / "no_samples.h5"
    from phystwin.records.hdf5 import SignalInfo
    from phystwin.records.recorder import Recorder

    rec = Recorder(no_samples, kind="run")
    rec.add_stream("meas/current", [SignalInfo("current", "A", "measurement")])
    rec.start()
    rec.close({"status": "ok"})
    return {
        "text": (text, "cannot open as HDF5"),
        "empty": (empty, "cannot open as HDF5"),
        "foreign": (foreign, "not a phystwin record"),
        "truncated": (truncated, ""),
        "no_samples": (no_samples, "no samples"),
    }


@pytest.mark.parametrize("which", ["text", "empty", "foreign", "truncated", "no_samples"])
def test_plot_refuses_a_file_it_cannot_draw(runner, records, which, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, words = _bad_files(tmp_path, records)[which]
    out = tmp_path / "figures"
    res = runner.invoke(app, ["plot", str(path), "--out-dir", str(out)])
    assert res.exit_code == 2, res.output
    assert str(path) in res.stderr and words in res.stderr, res.stderr
    _no_traceback(res.output)
    assert not list(tmp_path.glob("**/*.png"))
    res = runner.invoke(app, ["plot", str(tmp_path / "missing.h5")])
    assert res.exit_code == 2 and "no such record" in res.stderr


# ---------------------------------------------------------------------------------------- export
_HEADER = re.compile(r"^(.*) \[(.*)\]$")


def _sim_reference(path: Path) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, str]]]:
    st = read_record(path).stream("simulation")
    return st.t, {name: (sig.values, sig.unit) for name, sig in st.signals.items()}


def test_export_csv_round_trip(runner, records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "truth.csv"
    res = runner.invoke(app, ["export", str(records["simulate"]), "--to", "csv", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t, signals = _sim_reference(records["simulate"])
    df = pd.read_csv(out)
    parsed = [_HEADER.match(c) for c in df.columns]
    assert all(parsed), df.columns
    names = [m.group(1) for m in parsed]  # type: ignore[union-attr]
    units = [m.group(2) for m in parsed]  # type: ignore[union-attr]
    assert names[0] == "t" and units[0] == "s"
    np.testing.assert_array_equal(df.iloc[:, 0].to_numpy(), t)
    assert names[1:] == list(signals)
    for k, name in enumerate(names[1:], start=1):
        np.testing.assert_array_equal(df.iloc[:, k].to_numpy(), signals[name][0])  # full precision
        assert units[k] == signals[name][1]
    assert "winding.T [K]" in df.columns and "current [A]" in df.columns


def test_export_parquet_round_trip(runner, records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = runner.invoke(app, ["export", str(records["simulate"]), "--to", "parquet"])  # default: beside the record
    assert res.exit_code == 0, res.output
    out = records["simulate"].with_suffix(".parquet")
    t, signals = _sim_reference(records["simulate"])
    df = pd.read_parquet(out)
    np.testing.assert_array_equal(df.index.to_numpy(), t)
    assert df.index.name == "t" and df.attrs["units"]["t"] == "s"
    for name, (values, unit) in signals.items():
        np.testing.assert_array_equal(df[name].to_numpy(), values)
        assert df.attrs["units"][name] == unit
    schema = pq.read_schema(out)
    assert schema.field("winding.T").metadata[b"unit"] == b"K"
    assert schema.field("t").metadata[b"unit"] == b"s"
    import json

    meta = json.loads(schema.metadata[b"phystwin"])
    assert meta["units"]["current"] == "A" and meta["stream"] == "simulation"


def test_export_netcdf_round_trip_of_a_whole_record(runner, records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = records["estimate"]
    out = tmp_path / "estimate.nc"
    res = runner.invoke(app, ["export", str(src), "--to", "netcdf", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = read_record(src)
    root = xr.open_dataset(out, engine="h5netcdf")
    assert root.attrs["kind"] == "estimate_record" and root.attrs["format"] == "phystwin-record"
    for name, st in rec.streams.items():
        with xr.open_dataset(out, group=name, engine="h5netcdf") as ds:
            np.testing.assert_array_equal(ds["t"].to_numpy(), st.t)
            assert ds["t"].attrs["units"] == "s"
            for sname, sig in st.signals.items():
                np.testing.assert_array_equal(ds[sname].to_numpy(), sig.values)
                assert ds[sname].attrs["units"] == sig.unit
    with xr.open_dataset(out, group="parameters", engine="h5netcdf") as ps:
        assert ps["housing_convection.h"].attrs["units"] == rec.parameters["housing_convection.h"][1]
        assert float(ps["housing_convection.h"]) == rec.parameters["housing_convection.h"][0]


def test_export_of_several_streams_to_csv_writes_one_file_per_stream(runner, records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run_csv"
    res = runner.invoke(app, ["export", str(records["run"]), "--to", "csv", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rec = read_record(records["run"])
    safe = {re.sub(r"[^A-Za-z0-9._+-]", "__", name) + ".csv" for name in rec.streams}  # one scheme for every kind
    assert {p.name for p in out.iterdir()} == safe
    assert all(":" not in p.name and "/" not in p.name for p in out.iterdir())
    st = rec.streams["estimate"]
    df = pd.read_csv(out / "estimate.csv")
    np.testing.assert_array_equal(df["t [s]"].to_numpy(), st.t)
    np.testing.assert_array_equal(df["rotor.w [rad/s]"].to_numpy(), st.signals["rotor.w"].values)
    # one stream on its own
    res = runner.invoke(app, ["export", str(records["run"]), "--to", "parquet", "--stream", "estimate",
                              "--out", str(tmp_path / "est.parquet")])  # fmt: skip
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(pd.read_parquet(tmp_path / "est.parquet")["rotor.w"], st.signals["rotor.w"].values)


@pytest.mark.parametrize("which", ["text", "empty", "foreign", "truncated", "no_samples"])
def test_export_refuses_a_bad_record(runner, records, which, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, words = _bad_files(tmp_path, records)[which]
    out = tmp_path / "out.nc"
    res = runner.invoke(app, ["export", str(path), "--to", "netcdf", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert str(path) in res.stderr and words in res.stderr, res.stderr
    _no_traceback(res.output)
    assert not out.exists()


def test_export_refuses_to_overwrite_its_input_and_unknown_formats(runner, records, tmp_path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "copy.h5"
    src.write_bytes(records["simulate"].read_bytes())
    before = src.read_bytes()
    for fmt in ("csv", "netcdf", "parquet"):
        res = runner.invoke(app, ["export", str(src), "--to", fmt, "--out", str(tmp_path / "." / "copy.h5")])
        assert res.exit_code == 2, res.output
        assert "would overwrite the input the record" in res.stderr and str(src) in res.stderr
    assert src.read_bytes() == before
    res = runner.invoke(app, ["export", str(src), "--to", "xlsx"])
    assert res.exit_code == 2 and "--to must be one of csv, netcdf, parquet" in res.stderr
    res = runner.invoke(app, ["export", str(src), "--to", "csv", "--stream", "nope"])
    assert res.exit_code == 2 and "no stream 'nope'" in res.stderr
    _no_traceback(res.output)
