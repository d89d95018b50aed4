"""HDF5 records: schema (units everywhere, increasing time, provenance), atomic writes, reading back."""

from __future__ import annotations

import json
from datetime import datetime

import h5py
import numpy as np
import pytest

from phystwin.core.trajectory import Trajectory
from phystwin.records import hdf5
from phystwin.records.hdf5 import (
    FORMAT,
    RecordError,
    SignalInfo,
    append_samples,
    create_stream,
    h5_names,
    read_record,
    write_trajectory,
)

CONFIG = '[twin]\ntype = "fake"\n[parameters]\n"mass.C" = "5 kJ/K"\n'
PROVENANCE = {"twin_type": "fake", "twin_name": "bench_A", "command": ["phystwin", "simulate", "x.toml"]}


@pytest.fixture
def record_path(tmp_path, fake_model, fake_trajectory):  # type: ignore[no-untyped-def]
    path = tmp_path / "out" / "run.h5"
    write_trajectory(
        path,
        fake_trajectory(),
        config_text=CONFIG,
        provenance=PROVENANCE,
        model=fake_model,
        parameters=fake_model.parameters({"mass.C": 5000.0}),
    )
    return path


def _datasets(f: h5py.File) -> dict[str, h5py.Dataset]:
    found: dict[str, h5py.Dataset] = {}
    f.visititems(lambda name, obj: found.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_every_dataset_has_a_unit(record_path) -> None:  # type: ignore[no-untyped-def]
    with h5py.File(record_path, "r") as f:
        datasets = _datasets(f)
        assert len(datasets) == 1 + 6 + 7  # t, 2 states + 2 outputs + 2 inputs, 7 parameters
        for name, ds in datasets.items():
            assert "unit" in ds.attrs, name
        assert f["simulation/mass.T"].attrs["unit"] == "K"
        assert f["simulation/voltage"].attrs["unit"] == "V"
        assert f["simulation/t"].attrs["unit"] == "s"
        assert f["parameters/sink.h"].attrs["unit"] == "W/(m2*K)"


def test_time_is_a_strictly_increasing_dimension_scale(record_path) -> None:  # type: ignore[no-untyped-def]
    with h5py.File(record_path, "r") as f:
        grp = f["simulation"]
        t = grp["t"][...]
        assert t.size == 50 and np.all(np.diff(t) > 0)
        assert grp["t"].is_scale
        for key in ("mass.T", "shaft.w", "T_mass", "Q_loss", "T_amb", "voltage"):
            ds = grp[key]
            assert ds.shape == t.shape and ds.dims[0][0] == grp["t"], key
            assert ds.attrs["role"] in ("state", "output", "input")


def test_config_versions_and_provenance_are_stored(record_path) -> None:  # type: ignore[no-untyped-def]
    with h5py.File(record_path, "r") as f:
        a = f.attrs
        assert a["format"] == FORMAT and a["format_version"] == 1
        assert a["config"] == CONFIG
        for key in ("phystwin_version", "numpy_version", "numba_version", "h5py_version", "python_version"):
            assert isinstance(a[key], str) and a[key], key
        assert a["model_structure_hash"] == "0" * 20 and a["model_name"] == "fake"
        assert a["twin_type"] == "fake" and a["twin_name"] == "bench_A"
        assert json.loads(a["provenance"])["command"] == ["phystwin", "simulate", "x.toml"]
        assert json.loads(a["solver_stats"])["n_rhs"] == 70.0
        created = datetime.fromisoformat(a["created_utc"])
        assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0
        assert bool(a["complete"]) and a["status"] == 0


def test_read_back(record_path, fake_trajectory) -> None:  # type: ignore[no-untyped-def]
    traj = fake_trajectory()
    rec = read_record(record_path)
    assert rec.names() == ["mass.T", "shaft.w", "T_mass", "Q_loss", "T_amb", "voltage"]
    for name in rec.names():
        t, values, unit = rec.signal(name)
        np.testing.assert_array_equal(t, traj.t)
        np.testing.assert_array_equal(values, traj[name])
        assert unit == traj.unit(name)
    assert rec.config_text == CONFIG and rec.provenance["twin_name"] == "bench_A" and rec.title == "bench_A"
    assert rec.parameters["mass.C"] == (5000.0, "J/K")
    np.testing.assert_array_equal(rec.parameters["ocv.soc"][0], [0.0, 0.5, 1.0])
    assert rec.solver_stats["solver"] == "Rodas"
    with pytest.raises(RecordError, match=r"no signal 'mass\.t'.*available: mass\.T"):
        rec.signal("mass.t")
    with pytest.raises(RecordError, match="no stream 'live'"):
        rec.signal("mass.T", stream="live")


def test_failed_run_is_recorded_as_incomplete(tmp_path, fake_trajectory) -> None:  # type: ignore[no-untyped-def]
    path = write_trajectory(tmp_path / "partial.h5", fake_trajectory(n=7, status=3))
    rec = read_record(path)
    assert rec.attrs["complete"] is False
    assert rec.attrs["status"] == 3 and "maximum number of steps" in rec.attrs["message"]
    assert rec.stream().t.size == 7


def test_empty_trajectory_is_writable(tmp_path, fake_trajectory) -> None:  # type: ignore[no-untyped-def]
    rec = read_record(write_trajectory(tmp_path / "empty.h5", fake_trajectory(n=0, status=1)))
    assert rec.stream().t.size == 0 and rec.signal("mass.T")[1].size == 0


# ---------------------------------------------------------------------------------------- atomic writes
def _temp_files(folder) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_no_file_is_left_when_writing_fails(tmp_path, fake_trajectory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(f, traj, *args):  # type: ignore[no-untyped-def]
        f.attrs["half"] = "written"
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(hdf5, "_write", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_trajectory(tmp_path / "run.h5", fake_trajectory())
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_previous_record(tmp_path, fake_trajectory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = write_trajectory(tmp_path / "run.h5", fake_trajectory(n=5), config_text="first")
    monkeypatch.setattr(hdf5, "_write", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_trajectory(path, fake_trajectory(n=9), config_text="second")
    assert read_record(path).config_text == "first" and _temp_files(tmp_path) == []


def test_non_increasing_time_is_refused_and_nothing_written(tmp_path, fake_trajectory) -> None:  # type: ignore[no-untyped-def]
    good = fake_trajectory(n=4)
    t = good.t.copy()
    t[2] = t[1]
    bad = Trajectory(t=t, x=good.x, y=good.y, u=good.u, layout=good.layout)
    with pytest.raises(ValueError, match="strictly increasing"):
        write_trajectory(tmp_path / "bad.h5", bad)
    assert list(tmp_path.iterdir()) == []


def test_not_a_record(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(RecordError, match="cannot open as HDF5"):
        read_record(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1.0
    with pytest.raises(RecordError, match="not a phystwin record"):
        read_record(tmp_path / "other.h5")


# ---------------------------------------------------------------------------------------- layout reuse
def test_unusual_names_are_mapped_and_kept() -> None:
    assert h5_names(["a.b", "t", "x/y", ".", "events", "t"]) == ["a.b", "t~2", "x|y", "_.", "events~2", "t~3"]


def test_streams_can_be_appended_like_a_live_recorder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "live.h5"
    infos = [SignalInfo("winding.T", "K", "state"), SignalInfo("t", "s", "output", "a signal called t")]
    with h5py.File(path, "w", libver=("v110", "latest")) as f:
        f.attrs["format"] = FORMAT
        grp = create_stream(f, "sensors", infos)
        append_samples(grp, [0.0, 0.5], {"winding.T": [300.0, 301.0], "t": [1.0, 2.0]})
        append_samples(grp, [1.0], {"winding.T": [302.0], "t": [3.0]})
        with pytest.raises(ValueError, match="strictly increasing"):
            append_samples(grp, [1.0], {"winding.T": [0.0], "t": [0.0]})
        with pytest.raises(ValueError, match="no values for signal"):
            append_samples(grp, [2.0], {"winding.T": [0.0]})
    rec = read_record(path)
    t, v, unit = rec.signal("winding.T", stream="sensors")
    np.testing.assert_array_equal(t, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(v, [300.0, 301.0, 302.0])
    assert unit == "K" and rec.names() == ["winding.T", "t"]
    np.testing.assert_array_equal(rec.signal("t")[1], [1.0, 2.0, 3.0])
