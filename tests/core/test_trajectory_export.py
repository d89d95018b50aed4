"""Trajectories and records to pandas and xarray: values, time index [s] and units survive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from phystwin.records.hdf5 import read_record, write_trajectory


def test_trajectory_to_pandas(fake_trajectory) -> None:  # type: ignore[no-untyped-def]
    traj = fake_trajectory(n=20)
    df = traj.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert df.index.name == "t"
    np.testing.assert_array_equal(df.index.to_numpy(), traj.t)
    assert list(df.columns) == traj.names()
    for name in traj.names():
        np.testing.assert_array_equal(df[name].to_numpy(), traj[name])
        assert df.attrs["units"][name] == traj.unit(name)
    assert df.attrs["units"]["t"] == "s"
    assert df.attrs["roles"] == {"mass.T": "state", "shaft.w": "state", "T_mass": "output", "Q_loss": "output",
                                 "T_amb": "input", "voltage": "input"}  # fmt: skip
    assert df.attrs["descriptions"]["mass.T"] == "temperature"
    assert df.attrs["status"] == 0 and df.attrs["complete"] is True


def test_trajectory_to_xarray_and_netcdf(fake_trajectory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    traj = fake_trajectory(n=20, status=3)
    ds = traj.to_xarray()
    assert ds["t"].attrs["units"] == "s"
    assert ds["mass.T"].attrs == {"units": "K", "role": "state", "description": "temperature"}
    assert ds.attrs["status"] == 3 and ds.attrs["complete"] == 0
    assert "maximum number of steps" in ds.attrs["message"]
    path = tmp_path / "traj.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        np.testing.assert_array_equal(back["t"].to_numpy(), traj.t)
        for name in traj.names():
            np.testing.assert_array_equal(back[name].to_numpy(), traj[name])
            assert back[name].attrs["units"] == traj.unit(name)


def test_trajectory_events_are_kept(fake_trajectory) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    traj = replace(fake_trajectory(n=5), event_times=np.array([1.5, 2.5]), event_names=("a.hit", "a.hit"))
    ds = traj.to_xarray()
    np.testing.assert_array_equal(ds["event_t"].to_numpy(), [1.5, 2.5])
    assert ds["event_t"].attrs["units"] == "s" and ds["event_name"].to_numpy().tolist() == ["a.hit", "a.hit"]


def test_record_streams_to_pandas_and_xarray(fake_trajectory, fake_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    traj = fake_trajectory(n=30)
    path = write_trajectory(tmp_path / "run.h5", traj, model=fake_model, parameters=fake_model.default_parameters())
    rec = read_record(path)
    df = rec.to_pandas()
    np.testing.assert_array_equal(df.index.to_numpy(), traj.t)
    ref = traj.to_pandas()
    pd.testing.assert_frame_equal(df, ref, check_like=False, check_flags=False, check_exact=True, check_freq=False)
    assert df.attrs["units"] == ref.attrs["units"] and df.attrs["stream"] == "simulation"
    assert df.attrs["record"]["model_name"] == "fake"
    ds = rec.to_xarray("simulation")
    assert ds.attrs["stream"] == "simulation" and ds["voltage"].attrs["units"] == "V"
    np.testing.assert_array_equal(ds["Q_loss"].to_numpy(), traj["Q_loss"])
