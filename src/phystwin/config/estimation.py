"""Sensor-stream and estimate records, and the filter a config describes.

``phystwin generate`` writes a *sensor record*: the truth stream copied from the simulation record
(``simulation``) and one stream per sensor (attribute ``kind = "sensor"``) with the delivered samples::

    /<sensor>/t        sample times [s]
    /<sensor>/value    measured values (attrs: unit, signal = the sampled model output)
    /<sensor>/quality  0 good, else a flag (out of range ...)
    /<sensor>/seq      per-sensor sample number (gaps where samples were dropped)

``phystwin estimate`` reads it and writes an *estimate record*:

    /estimate/t, /estimate/<state>, /estimate/sd:<state>     posterior mean and standard deviation
    /innovation:<sensor>/t, /<output>, /S:<output>, /nis, /flag
                                                             every update of that sensor group
    /simulation                                              the truth, when the input had it
    root attrs: filter settings, per-sensor counts (JSON), the configs and seeds as provenance
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from phystwin.config.resolve import resolve, to_si
from phystwin.config.schema import ConfigError, Quantity, TwinConfig, key_path, suggest
from phystwin.core.model import Model
from phystwin.errors import InvalidValueError
from phystwin.estimation.batch import RunResult
from phystwin.estimation.filters import UnscentedKalmanFilter
from phystwin.estimation.measurements import SensorSpec
from phystwin.estimation.types import GaussianState
from phystwin.records.hdf5 import (
    FORMAT,
    FORMAT_VERSION,
    Record,
    SignalInfo,
    create_stream,
    versions,
    write_atomically,
)

SENSOR_KIND = "sensor"


# ---------------------------------------------------------------------------------------- config
def _scalar(q: Quantity, unit: str, what: str) -> float:
    if isinstance(q.value, tuple):
        raise InvalidValueError(f"{what}: expected one value [{unit}], got {len(q.value)}")
    return float(to_si(q, unit, what))


def sensor_specs(config: TwinConfig, model: Model) -> list[SensorSpec]:
    """The ``[sensors]`` of ``config`` as generator specs in the sampled signals' SI units."""
    lay = model.layout
    units = {s.name: s.unit for s in (*lay.outputs, *lay.states)}
    problems: list[tuple[str, str]] = []
    specs = []
    for name, sec in config.sensors.items():
        where = ("sensors", name)
        if sec.signal not in units:
            problems.append(
                (key_path((*where, "signal")), f"unknown model output {sec.signal!r}{suggest(sec.signal, list(units))}")
            )
            continue
        unit = units[sec.signal]
        try:
            noise = _scalar(sec.noise, unit, f"sensor {name!r} noise")
            bias = 0.0 if sec.bias is None else _scalar(sec.bias, unit, f"sensor {name!r} bias")
            specs.append(
                SensorSpec(
                    name, sec.signal, unit, sec.rate, noise_std=noise, bias0=bias, bias_psd=sec.bias_psd,
                    scale=sec.scale, latency=sec.latency, dropout_prob=sec.dropout, outlier_prob=sec.outliers,
                    outlier_sigmas=sec.outlier_sigmas,
                )
            )  # fmt: skip
        except ValueError as exc:
            problems.append((key_path(where), str(exc)))
    if not config.sensors:
        problems.append(("sensors", "no [sensors.<name>] tables: nothing to measure"))
    if problems:
        raise ConfigError(problems, config.source)
    return specs


@dataclass(frozen=True, eq=False)
class EstimatorSetup:
    """What ``[estimation]`` resolves to against the compiled (augmented) model."""

    model: Model
    ukf: UnscentedKalmanFilter
    initial: GaussianState
    sensors: dict[str, tuple[str, ...]]
    """Update groups: group name -> the sensors (= table columns) it updates together."""
    columns: tuple[str, ...]
    """Sensor names in the order of the filter's measured outputs."""
    gate_probability: float | None
    save_interval: float | None


def estimator_setup(config: TwinConfig, model: Model, t0: float = 0.0) -> EstimatorSetup:
    """Resolve ``[estimation]`` and ``[sensors]`` of ``config`` against ``model`` (compiled with the
    estimated parameters as states); every problem is reported at once in a :class:`ConfigError`."""
    est = config.estimation
    if est is None:
        raise ConfigError([("estimation", "no [estimation] section: nothing tells how to filter")], config.source)
    specs = {s.name: s for s in sensor_specs(config, model)}
    problems: list[tuple[str, str]] = []
    lay = model.layout
    outputs = {s.name for s in lay.outputs}
    used = list(est.sensors) if est.sensors is not None else list(specs)
    for name in used:
        if name not in specs:
            problems.append(("estimation.sensors", f"unknown sensor {name!r}{suggest(name, list(specs))}"))
        elif specs[name].signal not in outputs:
            problems.append((f"sensors.{name}.signal", "the filter measures model outputs; this is a state"))
    grouped = [s for g in est.groups for s in g]
    for name in grouped:
        if name not in used:
            problems.append(("estimation.groups", f"sensor {name!r} is not one of the filter's sensors {used}"))
    if len(set(grouped)) != len(grouped):
        problems.append(("estimation.groups", "a sensor appears in more than one group"))
    groups: dict[str, tuple[str, ...]] = {"+".join(g): tuple(g) for g in est.groups if g}
    groups.update({s: (s,) for s in used if s not in grouped})
    columns = tuple(s for g in groups.values() for s in g)
    # initial state: the twin's start values, [initial], then [estimation.initial]
    states = {s.name: s for s in lay.states}
    n_phys = lay.nx - len(model.estimated_parameters)
    run = resolve(config, model, duration=1.0)  # parameters, start values and inputs, checked
    x0 = np.array([float(s.default) for s in lay.states])  # type: ignore[arg-type]
    p = model.parameters(run.params)
    for k, s in enumerate(lay.states[n_phys:], start=n_phys):
        x0[k] = float(p[lay.param_slice(s.name)][0])
    for name, v in run.x0.items():
        x0[lay.state_index(name)] = v
    sd = np.ones(lay.nx)
    qc = np.zeros(lay.nx)
    for section, table in (("initial", est.initial), ("initial_sd", est.initial_sd)):
        for name, q in table.items():
            if name not in states:
                problems.append((f"estimation.{section}", f"unknown state {name!r}{suggest(name, list(states))}"))
                continue
            try:
                v = _scalar(q, states[name].unit, f"state {name!r}")
            except ValueError as exc:
                problems.append((f"estimation.{section}.{name}", str(exc)))
                continue
            if section == "initial":
                x0[lay.state_index(name)] = v
            else:
                sd[lay.state_index(name)] = v
    for name, q_density in est.process_noise.items():
        if name not in states:
            problems.append(("estimation.process_noise", f"unknown state {name!r}{suggest(name, list(states))}"))
        else:
            qc[lay.state_index(name)] = q_density
    for name, prm in est.parameters.items():
        k = lay.state_index(name)
        unit = states[name].unit
        try:
            if prm.initial is not None:
                x0[k] = _scalar(prm.initial, unit, f"parameter {name!r} initial")
            sd[k] = _scalar(prm.sd, unit, f"parameter {name!r} sd")
        except ValueError as exc:
            problems.append((f"estimation.parameters.{name}", str(exc)))
        qc[k] = prm.random_walk
    if np.any(sd <= 0) or not np.all(np.isfinite(sd)):
        problems.append(("estimation.initial_sd", "every standard deviation must be finite and > 0"))
    if problems:
        raise ConfigError(problems, config.source)
    R = np.diag([specs[c].noise_std ** 2 for c in columns])
    measured = [specs[c].signal for c in columns]
    ukf = UnscentedKalmanFilter(model, measured, R, Qc=np.diag(qc), params=run.params, solver_dt=est.solver_dt)
    return EstimatorSetup(
        model, ukf, GaussianState(t0, x0, np.diag(sd**2)), groups, columns, est.gate_probability, est.save_interval
    )


# ---------------------------------------------------------------------------------------- files
def _atomic(dest: Path, write: Callable[[h5py.File], None]) -> Path:
    """A phystwin record written atomically (format attributes and versions, then ``write``)."""

    def with_header(f: h5py.File) -> None:
        for key, value in versions().items():
            f.attrs[key] = value
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        write(f)

    return write_atomically(dest, with_header)


def _copy_truth(f: h5py.File, truth_path: Path | None) -> None:
    if truth_path is None:
        return
    with h5py.File(truth_path, "r") as src:
        if "simulation" in src:
            src.copy(src["simulation"], f, "simulation")
        if "parameters" in src:
            src.copy(src["parameters"], f, "parameters")


def write_sensor_record(path: Path, streams: Mapping[str, Any], truth_path: Path, attrs: Mapping[str, Any]) -> Path:
    """Write the delivered samples of each generated stream (see the module docstring)."""

    def write(f: h5py.File) -> None:
        for key, value in attrs.items():
            f.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
        _copy_truth(f, truth_path)
        for name, st in streams.items():
            keep = np.flatnonzero(~np.asarray(st.dropped, dtype=bool))
            info = [
                SignalInfo("value", st.spec.unit, "measurement", f"{st.spec.signal} as measured by {name}"),
                SignalInfo("quality", "1", "flag", "0 good; else a quality flag"),
                SignalInfo("seq", "1", "sequence", "sample number"),
            ]
            grp = create_stream(f, name, info, keep.size)
            grp.attrs["kind"] = SENSOR_KIND
            grp.attrs["signal"] = st.spec.signal
            grp.attrs["rate_hz"] = st.spec.rate
            grp.attrs["noise_std"] = st.spec.noise_std
            grp["t"][:] = st.t[keep]
            grp["value"][:] = st.value[keep]
            grp["quality"][:] = st.quality[keep]
            grp["seq"][:] = keep

    return _atomic(path, write)


@dataclass(frozen=True)
class RecordedStream:
    """A sensor stream read back (the shape :func:`~phystwin.estimation.batch.stream_table` takes)."""

    t: np.ndarray
    value: np.ndarray
    quality: np.ndarray
    dropped: np.ndarray


def sensor_streams(record: Record) -> dict[str, RecordedStream]:
    """The sensor streams of a record by sensor name."""
    out = {}
    for name, st in record.streams.items():
        if st.attrs.get("kind") != SENSOR_KIND:
            continue
        v = st.signals["value"].values
        out[name] = RecordedStream(st.t, v, st.signals["quality"].values, np.zeros(v.shape, dtype=bool))
    return out


def _decimate(t: np.ndarray, interval: float | None) -> np.ndarray:
    if interval is None or t.size == 0:
        return np.arange(t.size)
    ticks = np.floor((t - t[0]) / interval + 1e-9)
    keep = np.flatnonzero(np.diff(ticks, prepend=-1.0) > 0)
    return np.unique(np.r_[keep, t.size - 1])


def write_estimate_record(
    path: Path,
    res: RunResult,
    setup: EstimatorSetup,
    truth_path: Path | None,
    attrs: Mapping[str, Any],
) -> Path:
    """Write estimates, standard deviations, innovations, NIS and flags (see the module docstring)."""
    lay = setup.model.layout

    def write(f: h5py.File) -> None:
        for key, value in attrs.items():
            f.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
        f.attrs["counts"] = json.dumps(res.counts)
        _copy_truth(f, truth_path)
        keep = _decimate(res.t, setup.save_interval)
        infos = [SignalInfo(s.name, s.unit, "estimate", s.description) for s in lay.states]
        infos += [
            SignalInfo(f"sd:{s.name}", s.unit, "standard_deviation", f"posterior sd of {s.name}") for s in lay.states
        ]
        grp = create_stream(f, "estimate", infos, keep.size)
        grp.attrs["kind"] = "estimate"
        grp["t"][:] = res.t[keep]
        for k, s in enumerate(lay.states):
            grp[s.name][:] = res.x[keep, k]
            grp[f"sd:{s.name}"][:] = res.sd[keep, k]
        start = 0
        for g, (gname, rows) in enumerate(zip(res.sensors, res.sensor_rows, strict=True)):
            sel = np.flatnonzero(res.flags[:, g] != 0)
            units = [lay.unit(r) for r in rows]
            ginfo = [
                SignalInfo(r, u, "innovation", f"measured - predicted {r}") for r, u in zip(rows, units, strict=True)
            ]
            ginfo += [
                SignalInfo(f"S:{r}", f"({u})^2", "innovation_variance", "") for r, u in zip(rows, units, strict=True)
            ]
            ginfo += [SignalInfo("nis", "1", "nis", f"chi-square with {len(rows)} dof when consistent")]
            ginfo += [SignalInfo("flag", "1", "flag", "1 accepted, 2 gated, 3 bad sample, 4 S not PD")]
            ig = create_stream(f, f"innovation:{gname}", ginfo, sel.size)
            ig.attrs["kind"] = "innovation"
            ig.attrs["dof"] = len(rows)
            ig["t"][:] = res.t[sel]
            for j, r in enumerate(rows):
                ig[r][:] = res.innovation[sel, start + j]
                ig[f"S:{r}"][:] = res.S_diag[sel, start + j]
            ig["nis"][:] = res.nis[sel, g]
            ig["flag"][:] = res.flags[sel, g]
            start += len(rows)

    return _atomic(path, write)


__all__ = [
    "EstimatorSetup",
    "RecordedStream",
    "estimator_setup",
    "sensor_specs",
    "sensor_streams",
    "write_estimate_record",
    "write_sensor_record",
]
