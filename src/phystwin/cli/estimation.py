"""The work behind ``phystwin generate`` and ``phystwin estimate`` (the commands live in :mod:`phystwin.cli`).

simulate -> sensor streams -> estimate, from a shell::

    phystwin simulate examples/dc_motor_estimation.toml --out truth.h5
    phystwin generate examples/dc_motor_estimation.toml --truth truth.h5 --out sensors.h5 --seed 1
    phystwin estimate examples/dc_motor_estimation.toml --data sensors.h5 --out estimate.h5

The filter's inputs are the config's ``[inputs]`` (the commanded profile of the experiment); its
sensors, noise, initial guess, process noise and estimated parameters come from ``[sensors]`` and
``[estimation]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phystwin.cli.provenance import command_line, run_provenance
from phystwin.config.schema import ConfigError, read_config
from phystwin.core.inputs import prepare_inputs
from phystwin.core.model import Model
from phystwin.core.trajectory import Trajectory
from phystwin.records.hdf5 import Record, RecordError, read_record


@dataclass
class CommandResult:
    """What a command did, for the summary printer: rows of (label, value) and files written."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _unit(unit: str) -> str:
    """A unit after a number: `` K``; nothing for a dimensionless ``1`` (``soc = 0.8``, not ``0.8 1``)."""
    return "" if unit in ("", "1") else f" {unit}"


def trajectory_from_record(record: Record, model: Model) -> Trajectory:
    """The ``simulation`` stream of a record as a :class:`Trajectory` of ``model``'s layout."""
    st = record.stream("simulation")
    lay = model.layout

    def columns(signals: Any) -> np.ndarray:
        missing = [s.name for s in signals if s.name not in st.signals]
        if missing:
            raise RecordError(f"{record.path}: the simulation stream lacks {missing}: was it written by this twin?")
        return np.column_stack([st.signals[s.name].values for s in signals]) if signals else np.zeros((st.t.size, 0))

    return Trajectory(st.t, columns(lay.states), columns(lay.outputs), columns(lay.inputs), lay)


def run_generate(config_path: Path, truth: Path, out: Path, seed: int) -> CommandResult:
    """Sensor streams from a truth record with the config's ``[sensors]``."""
    from phystwin.config.estimation import sensor_specs, write_sensor_record
    from phystwin.config.resolve import fmu_provenance, load_model
    from phystwin.config.twin import twin_provenance, twin_spec
    from phystwin.estimation.measurements import generate_streams

    config = read_config(config_path)
    model = load_model(config)
    specs = sensor_specs(config, model)
    traj = trajectory_from_record(read_record(truth), model)
    if traj.t.size < 2:
        raise RecordError(f"{truth}: the truth record has fewer than 2 samples")
    step = float(np.max(np.diff(traj.t)))
    for s in specs:
        if step > 1.0 / s.rate * (1 + 1e-9):
            raise ConfigError(
                [
                    (
                        f"sensors.{s.name}.rate",
                        f"{s.rate:g} Hz needs a truth record sampled at least that often, but {truth} has "
                        f"steps of {step:g} s: simulate with [simulation] save_interval <= {1.0 / s.rate:g} s",
                    )
                ],
                config.source,
            )
    used_seed, streams = generate_streams(traj, specs, seed)
    attrs = {
        "kind": "sensor_record",
        "seed": int(seed),
        "config": config.text,
        "truth_record": str(truth.resolve()),
        "command": " ".join(command_line()),
        "provenance": run_provenance(config, model),
        "twin": twin_provenance(twin_spec(config)),
        "fmus": fmu_provenance(model),
    }
    path = write_sensor_record(out, streams, truth, attrs)
    res = CommandResult(f"sensor streams (seed {used_seed})", files=[path])
    for name, st in streams.items():
        delivered = int(np.count_nonzero(~st.dropped))
        res.rows.append(
            (
                name,
                f"{delivered} samples of {st.spec.signal} at {st.spec.rate:g} Hz, noise {st.spec.noise_std:g}"
                f"{_unit(st.spec.unit)}; {int(np.count_nonzero(st.dropped))} dropped, "
                f"{int(np.count_nonzero(st.outlier))} outliers",
            )
        )
    return res


def run_estimate(config_path: Path, data: Path, out: Path, png_dir: Path | None) -> CommandResult:
    """Filter a sensor record with the config's ``[estimation]``; write the estimate record and figures."""
    from phystwin.config.estimation import estimator_setup, sensor_streams, write_estimate_record
    from phystwin.config.resolve import fmu_provenance, load_model, resolve
    from phystwin.config.twin import twin_provenance, twin_spec
    from phystwin.estimation.batch import filter_run, stream_table

    started = time.perf_counter()
    config = read_config(config_path)
    if config.estimation is None:
        raise ConfigError([("estimation", "no [estimation] section: nothing tells how to filter")], config.source)
    model = load_model(config, estimated_parameters=list(config.estimation.parameters))
    record = read_record(data)
    streams = sensor_streams(record)
    if not streams:
        raise RecordError(f"{data}: no sensor streams (write one with 'phystwin generate')")
    setup = estimator_setup(config, model)
    missing = [c for c in setup.columns if c not in streams]
    if missing:
        raise RecordError(f"{data}: no stream for sensor(s) {missing}; it has {sorted(streams)}")
    times, Z, quality_dropped = stream_table(streams, setup.columns)
    run = resolve(config, model, duration=float(times[-1]) if times[-1] > 0 else 1.0)
    U = prepare_inputs(model, run.inputs).at(times)
    signal_of = dict(zip(setup.columns, setup.ukf.measured_outputs, strict=True))
    groups = {g: [signal_of[s] for s in sensors] for g, sensors in setup.sensors.items()}
    res = filter_run(setup.ukf, setup.initial, times, Z, U, sensors=groups, gate_probability=setup.gate_probability)
    truth_path = data if "simulation" in record.streams else None
    attrs = {
        "kind": "estimate_record",
        "config": config.text,
        "data_record": str(data.resolve()),
        "filter": "ukf",
        "estimated_parameters": list(config.estimation.parameters),
        "quality_dropped": quality_dropped,
        "command": " ".join(command_line()),
        "provenance": run_provenance(config, model),
        "twin": twin_provenance(twin_spec(config)),
        "fmus": fmu_provenance(model),
    }
    path = write_estimate_record(out, res, setup, truth_path, attrs)
    result = CommandResult(f"estimate of {config.label} ({res.t.size} samples)", files=[path])
    for g, name in enumerate(res.sensors):
        c = res.counts[name]
        nis = res.nis[:, g]
        mean_nis = float(np.nanmean(nis)) if np.any(np.isfinite(nis)) else float("nan")
        result.rows.append(
            (
                f"sensor {name}",
                f"{c['accepted']} accepted, {c['gated']} gated, {c['bad_sample']} bad; "
                f"mean NIS {mean_nis:.3f} (expected {len(res.sensor_rows[g])})",
            )
        )
    truth = trajectory_from_record(record, load_model(config)) if truth_path else None
    if truth is not None:
        for k, s in enumerate(model.layout.states):
            if s.name in truth.names():
                err = res.x[:, k] - np.interp(res.t, truth.t, truth[s.name])
                result.rows.append((f"RMS error {s.name}", f"{float(np.sqrt(np.mean(err**2))):.4g}{_unit(s.unit)}"))
    for k in range(model.layout.nx - len(config.estimation.parameters), model.layout.nx):
        s = model.layout.states[k]
        result.rows.append((f"estimate {s.name}", f"{res.x[-1, k]:.5g} +- {res.sd[-1, k]:.2g}{_unit(s.unit)} (final)"))
    if png_dir is not None:
        result.files += _figures(res, model, truth, png_dir, out.stem)
    result.rows.append(("wall time", f"{time.perf_counter() - started:.2f} s"))
    return result


def _figures(res: Any, model: Model, truth: Trajectory | None, folder: Path, stem: str) -> list[Path]:
    from phystwin.plots.estimation import plot_estimates, plot_innovations, plot_nis

    lay = model.layout
    keep = np.unique(np.linspace(0, res.t.size - 1, min(res.t.size, 4000)).astype(int))
    names = [s.name for s in lay.states]
    units = [s.unit for s in lay.states]
    truth_cols = None
    if truth is not None:
        truth_cols = np.column_stack(
            [
                np.interp(res.t[keep], truth.t, truth[n]) if n in truth.names() else np.full(keep.size, np.nan)
                for n in names
            ]
        )
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"{stem}_estimates.png", folder / f"{stem}_innovations.png"]
    plot_estimates(res.t[keep], res.x[keep], res.sd[keep], names, units, truth=truth_cols, path=files[0])
    ts, ins, ss, labels, ounits = [], [], [], [], []
    for j, row in enumerate(res.rows):
        ok = np.isfinite(res.innovation[:, j])
        idx = np.flatnonzero(ok)
        idx = idx[np.unique(np.linspace(0, idx.size - 1, min(idx.size, 4000)).astype(int))] if idx.size else idx
        ts.append(res.t[idx])
        ins.append(res.innovation[idx, j])
        ss.append(res.S_diag[idx, j])
        labels.append(row)
        ounits.append(lay.unit(row))
    plot_innovations(ts, ins, ss, labels, ounits, path=files[1])
    for g, name in enumerate(res.sensors):
        ok = np.flatnonzero(np.isfinite(res.nis[:, g]))
        if ok.size == 0:
            continue
        ok = ok[:: max(1, ok.size // 100_000)]  # an even subsample: still chi-square values
        f = folder / f"{stem}_nis_{name.replace('+', '_')}.png"
        window = max(10, min(1000, ok.size // 50))
        plot_nis(res.t[ok], res.nis[ok, g], len(res.sensor_rows[g]), window=window, path=f, title=f"NIS {name}")
        files.append(f)
    return files
