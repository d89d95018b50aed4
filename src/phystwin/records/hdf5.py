"""HDF5 records: simulation results with units and provenance.

File layout (format ``phystwin-record``, version 1)::

    /                      attrs: format, format_version, created_utc, phystwin/numpy/numba/h5py/hdf5/python
                                  versions, platform, model_name, model_structure_hash, twin_type,
                                  twin_name, jacobian (how the model's Jacobian is obtained),
                                  derivative_notes (JSON list: equations differentiated by finite
                                  differences and why), unit_notes (JSON list: equations whose
                                  dimensions could not be checked and why), status, complete,
                                  message, solver_stats (JSON), provenance (JSON), config (the
                                  config file's full text)
    /parameters/<name>     the parameter values of the run (attrs: unit, description)
    /<stream>/             one group per stream of samples; a batch run writes the stream "simulation";
                           a live recorder may nest streams in groups ("meas/current"), read back keyed
                           by that path
        t                  time [s], strictly increasing, an HDF5 dimension scale
        <signal name>      one 1-D dataset per signal, t attached as its dimension scale;
                           attrs: name (the original signal name), unit, role (state | output | input),
                           description
        events/t, events/name   event times [s] and names, when events fired

Every dataset carries a ``unit`` attribute. Signal names are used as dataset names (HDF5 allows the
dots of ``winding.T``); a name HDF5 cannot hold (``/``, or a clash with ``t``/``events``) is mapped
to a safe one and the original kept in the ``name`` attribute, which the reader uses.

A stream is laid out so a live recorder can reuse it: datasets are chunked and resizable along
time, each stream has its own time vector, and every dimension scale is created before any data, as
SWMR requires. A batch record is written to a temporary file in the destination folder and renamed
into place, so a crash never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from phystwin.core.model import Layout, Model, is_internal_parameter
from phystwin.core.trajectory import Trajectory
from phystwin.errors import InvalidValueError, PhystwinError

if TYPE_CHECKING:  # imported lazily by the exports
    import pandas as pd
    import xarray as xr

FORMAT = "phystwin-record"
FORMAT_VERSION = 1
DEFAULT_STREAM = "simulation"
_RESERVED = frozenset({"t", "events"})
_STR = h5py.string_dtype()


class RecordError(PhystwinError, ValueError):
    """A file is not a readable phystwin record, or a requested signal is not in it."""


@dataclass(frozen=True)
class SignalInfo:
    """What a stream records for one signal."""

    name: str
    unit: str
    role: str  # state | output | input
    description: str = ""


def signal_infos(layout: Layout) -> list[SignalInfo]:
    """The signals of a model layout in record order: states, outputs, inputs."""
    out = [SignalInfo(s.name, s.unit, "state", s.description) for s in layout.states]
    out += [SignalInfo(s.name, s.unit, "output", s.description) for s in layout.outputs]
    out += [SignalInfo(s.name, s.unit, "input", s.description) for s in layout.inputs]
    return out


def versions() -> dict[str, str]:
    """Versions of phystwin and of everything that shapes its numbers."""
    from importlib.metadata import version  # package metadata: no import of phystwin's top or of numba

    return {
        "phystwin_version": version("phystwin"),
        "numpy_version": np.__version__,
        "numba_version": version("numba"),
        "h5py_version": h5py.__version__,
        "hdf5_version": h5py.version.hdf5_version,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }


def h5_names(names: Sequence[str]) -> list[str]:
    """Dataset names for signal names: unchanged where HDF5 can hold them, otherwise made safe and unique."""
    taken = set(_RESERVED)
    out = []
    for name in names:
        base = name.replace("/", "|")
        if base in ("", ".", "..") or base.startswith("."):
            base = "_" + base
        cand, k = base, 1
        while cand in taken:
            k += 1
            cand = f"{base}~{k}"
        taken.add(cand)
        out.append(cand)
    return out


# ---------------------------------------------------------------------------------------- writing
def create_stream(
    parent: h5py.Group,
    name: str,
    signals: Sequence[SignalInfo],
    n: int = 0,
    *,
    chunk: int = 4096,
) -> h5py.Group:
    """Create a stream group with a resizable time scale ``t`` and one dataset per signal (length ``n``).

    A live recorder creates the stream with ``n = 0`` before switching to SWMR mode and appends with
    :func:`append_samples`; the batch writer creates it with the final length.
    """
    grp = parent.create_group(name, track_order=True)
    chunks = (max(1, min(chunk, n)) if n else chunk,)
    t = grp.create_dataset("t", shape=(n,), maxshape=(None,), dtype="f8", chunks=chunks)
    t.attrs["unit"] = "s"
    t.attrs["name"] = "t"
    t.attrs["description"] = "time"
    t.make_scale("t")
    for info, h5name in zip(signals, h5_names([s.name for s in signals]), strict=True):
        ds = grp.create_dataset(h5name, shape=(n,), maxshape=(None,), dtype="f8", chunks=chunks)
        ds.attrs["name"] = info.name
        ds.attrs["unit"] = info.unit
        ds.attrs["role"] = info.role
        ds.attrs["description"] = info.description
        ds.dims[0].attach_scale(t)
        ds.dims[0].label = "t"
    return grp


def _signal_datasets(grp: h5py.Group) -> list[h5py.Dataset]:
    return [obj for key, obj in grp.items() if key not in _RESERVED and isinstance(obj, h5py.Dataset)]


def append_samples(grp: h5py.Group, t: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
    """Append samples at times ``t`` (after the stream's last time) to every signal of a stream.

    ``values`` maps each signal's original name to an array of ``len(t)`` values.
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    tds = grp["t"]
    n0 = tds.shape[0]
    last = tds[n0 - 1] if n0 else -np.inf
    if t.size and (not np.all(np.isfinite(t)) or t[0] <= last or np.any(np.diff(t) <= 0)):
        raise InvalidValueError(
            f"stream {grp.name!r}: sample times must be finite and strictly increasing after t = {last} s"
        )
    datasets = _signal_datasets(grp)
    missing = sorted({str(d.attrs["name"]) for d in datasets} - set(values))
    if missing:
        raise InvalidValueError(f"stream {grp.name!r}: no values for signal(s) {missing}")
    n1 = n0 + t.size
    tds.resize((n1,))
    tds[n0:n1] = t
    for ds in datasets:
        v = np.asarray(values[str(ds.attrs["name"])], dtype=np.float64).reshape(-1)
        if v.size != t.size:
            raise InvalidValueError(f"signal {ds.attrs['name']!r}: expected {t.size} values, got {v.size}")
        ds.resize((n1,))
        ds[n0:n1] = v


def _json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.dumps(obj, default=default, sort_keys=True)


def _write_parameters(f: h5py.File, layout: Layout, p: np.ndarray) -> None:
    grp = f.create_group("parameters", track_order=True)
    for sig, h5name in zip(layout.parameters, h5_names([s.name for s in layout.parameters]), strict=True):
        if is_internal_parameter(sig.name):  # process addresses, not physics
            continue
        value = p[layout.param_slice(sig.name)]
        ds = grp.create_dataset(h5name, data=value[0] if sig.size == 1 else value)
        ds.attrs["name"] = sig.name
        ds.attrs["unit"] = sig.unit
        ds.attrs["description"] = sig.description


def _write(
    f: h5py.File,
    traj: Trajectory,
    stream: str,
    config_text: str,
    provenance: Mapping[str, Any],
    model: Model | None,
    parameters: np.ndarray | None,
) -> None:
    t = np.asarray(traj.t, dtype=np.float64)
    if t.size and (not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0)):
        raise InvalidValueError("trajectory times must be finite and strictly increasing")
    for key, value in versions().items():
        f.attrs[key] = value
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["created_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
    f.attrs["config"] = config_text
    f.attrs["provenance"] = _json(dict(provenance))
    f.attrs["twin_type"] = str(provenance.get("twin_type", ""))
    f.attrs["twin_name"] = str(provenance.get("twin_name", "") or (model.name if model else ""))
    f.attrs["model_name"] = model.name if model else str(provenance.get("model_name", ""))
    f.attrs["model_structure_hash"] = model.structure_hash if model else str(provenance.get("model_structure_hash", ""))
    # how the model's Jacobians were obtained: analytic, or which equations by finite differences and why
    f.attrs["jacobian"] = model.jacobian_kind if model else str(provenance.get("jacobian", ""))
    notes = model.derivative_notes if model else provenance.get("derivative_notes", ())
    f.attrs["derivative_notes"] = _json([str(n) for n in notes])
    unit_notes = model.unit_notes if model else provenance.get("unit_notes", ())
    f.attrs["unit_notes"] = _json([str(n) for n in unit_notes])
    f.attrs["solver_stats"] = _json(traj.stats)
    f.attrs["status"] = int(traj.status)
    f.attrs["complete"] = bool(traj.ok)
    f.attrs["message"] = traj.message
    if parameters is not None:
        _write_parameters(f, traj.layout, np.asarray(parameters, dtype=np.float64))
    infos = signal_infos(traj.layout)
    grp = create_stream(f, stream, infos, t.size)
    grp.attrs["kind"] = "batch"
    grp.attrs["status"] = int(traj.status)
    grp.attrs["complete"] = bool(traj.ok)
    grp.attrs["message"] = traj.message
    grp.attrs["solver_stats"] = _json(traj.stats)
    grp["t"][:] = t
    columns = [traj.x[:, k] for k in range(traj.x.shape[1])]
    columns += [traj.y[:, k] for k in range(traj.y.shape[1])]
    columns += [traj.u[:, k] for k in range(traj.u.shape[1])]
    for h5name, col in zip(h5_names([i.name for i in infos]), columns, strict=True):
        grp[h5name][:] = col
    if len(traj.event_times):
        ev = grp.create_group("events")
        et = ev.create_dataset("t", data=np.asarray(traj.event_times, dtype=np.float64))
        et.attrs["unit"] = "s"
        en = ev.create_dataset("name", data=np.array(list(traj.event_names), dtype=object), dtype=_STR)
        en.attrs["unit"] = ""


def write_trajectory(
    path: str | Path,
    traj: Trajectory,
    *,
    config_text: str = "",
    provenance: Mapping[str, Any] | None = None,
    model: Model | None = None,
    parameters: np.ndarray | None = None,
    stream: str = DEFAULT_STREAM,
) -> Path:
    """Write ``traj`` as a record at ``path`` (atomically: temporary file, then rename).

    Parameters
    ----------
    config_text : the config file's text, stored verbatim
    provenance : JSON-able facts about the run (``twin_type``, ``twin_name``, command line, config path ...)
    model : the compiled model (its name, structure hash, Jacobian kind and derivative notes are recorded)
    parameters : the full parameter vector used (recorded under ``/parameters`` with units)
    stream : name of the stream group
    """
    return write_atomically(
        Path(path), lambda f: _write(f, traj, stream, config_text, provenance or {}, model, parameters)
    )


def write_atomically(dest: Path, write: Callable[[h5py.File], None]) -> Path:
    """Create the HDF5 file ``dest`` by ``write(f)`` on a temporary file in the same folder, fsync,
    then rename it into place: a crash never leaves a half-written file under the final name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w", libver=("v110", "latest")) as f:
            write(f)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


# ---------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class RecordedSignal:
    """One recorded signal: values at its stream's times, unit, role."""

    name: str
    values: np.ndarray
    unit: str
    role: str
    description: str = ""


@dataclass(frozen=True)
class Stream:
    """One stream of a record: its time vector [s] and signals (by original name, in record order)."""

    name: str
    t: np.ndarray
    signals: dict[str, RecordedSignal]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A record read into memory (see :func:`read_record`)."""

    path: Path
    attrs: dict[str, Any]
    streams: dict[str, Stream]
    parameters: dict[str, tuple[np.ndarray | float, str]]

    @property
    def config_text(self) -> str:
        return str(self.attrs.get("config", ""))

    @property
    def provenance(self) -> dict[str, Any]:
        return json.loads(self.attrs.get("provenance", "{}"))

    @property
    def solver_stats(self) -> dict[str, Any]:
        return json.loads(self.attrs.get("solver_stats", "{}"))

    @property
    def title(self) -> str:
        """The twin's name (or model name) for display."""
        return str(self.attrs.get("twin_name") or self.attrs.get("model_name") or self.path.stem)

    def stream(self, name: str | None = None) -> Stream:
        key = name or (DEFAULT_STREAM if DEFAULT_STREAM in self.streams else next(iter(self.streams), ""))
        if key not in self.streams:
            raise RecordError(f"{self.path}: no stream {key!r}; streams: {', '.join(self.streams) or '(none)'}")
        return self.streams[key]

    def names(self, stream: str | None = None) -> list[str]:
        """Signal names of a stream (default: ``simulation``), in record order."""
        return list(self.stream(stream).signals)

    def signal(self, name: str, stream: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
        """``(t [s], values, unit)`` of a recorded signal."""
        st = self.stream(stream)
        if name not in st.signals:
            raise RecordError(
                f"{self.path}: no signal {name!r} in stream {st.name!r}; available: {', '.join(st.signals)}"
            )
        sig = st.signals[name]
        return st.t, sig.values, sig.unit

    def unit(self, name: str, stream: str | None = None) -> str:
        return self.signal(name, stream)[2]

    def to_pandas(self, stream: str | None = None) -> pd.DataFrame:
        """One stream as a :class:`pandas.DataFrame` indexed by ``t`` [s], units in ``df.attrs["units"]``
        (see :func:`phystwin.records.export.stream_frame`)."""
        from phystwin.records.export import stream_frame

        return stream_frame(self, stream)

    def to_xarray(self, stream: str | None = None) -> xr.Dataset:
        """One stream as an :class:`xarray.Dataset` over ``t`` [s], a ``units`` attribute on every
        variable (see :func:`phystwin.records.export.stream_dataset`)."""
        from phystwin.records.export import stream_dataset

        return stream_dataset(self, stream)


def _attrs(obj: h5py.HLObject) -> dict[str, Any]:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in obj.attrs.items()}


def _read_stream(name: str, grp: h5py.Group) -> Stream:
    """Read one stream; a stream caught mid-write (live SWMR file, killed writer) is cut to its
    consistent prefix: the common length of ``t`` and every signal, with ``t`` strictly increasing."""
    t = np.asarray(grp["t"][...], dtype=np.float64)
    datasets = _signal_datasets(grp)
    columns = [np.asarray(ds[...], dtype=np.float64) for ds in datasets]
    n = min([t.size, *(c.size for c in columns)])
    bad = np.flatnonzero(~np.isfinite(t[:n]) | np.concatenate([[False], np.diff(t[:n]) <= 0]))
    if bad.size:
        n = int(bad[0])
    signals: dict[str, RecordedSignal] = {}
    for ds, col in zip(datasets, columns, strict=True):
        a = ds.attrs
        sname = str(a.get("name", ds.name.rsplit("/", 1)[-1]))
        signals[sname] = RecordedSignal(
            sname,
            col[:n],
            str(a.get("unit", "")),
            str(a.get("role", "")),
            str(a.get("description", "")),
        )
    return Stream(name, t[:n], signals, _attrs(grp))


def _find_streams(grp: h5py.Group, prefix: str = "") -> dict[str, Stream]:
    """Every stream (a group holding a ``t`` dataset) under ``grp``, nested ones keyed by their path."""
    found: dict[str, Stream] = {}
    for key, obj in grp.items():
        if not isinstance(obj, h5py.Group) or (not prefix and key == "parameters"):
            continue
        name = f"{prefix}{key}"
        if isinstance(obj.get("t"), h5py.Dataset):
            found[name] = _read_stream(name, obj)
        else:
            found.update(_find_streams(obj, f"{name}/"))
    return found


_WRITER_BUSY_WAIT = 2.0
"""Seconds a reader waits for a writer that holds the file open outside SWMR mode (a live recorder
reopens its closed file for a few milliseconds to mark it complete)."""


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _writer_flags(p: Path) -> int:
    """The file-consistency flags of an HDF5 superblock (version 2 or 3, at offset 0): non-zero while
    a writer has the file open, or after a writer was killed with it open; 0 for a closed file."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return 0
    if len(head) < 12 or head[:8] != _HDF5_SIGNATURE or head[8] < 2:
        return 0
    return head[11]


def _open_for_reading(p: Path) -> h5py.File:
    """Open ``p`` read-only: as a SWMR reader when a writer has it open (a file being written, or
    left by a killed writer, can only be opened so), else normally (closed files, and files whose
    format predates SWMR). A closed file is never opened as a SWMR reader: HDF5 retries a SWMR
    reader's metadata reads with pauses, so a truncated or damaged file would take minutes to refuse.

    A file that another process holds open for writing outside SWMR mode is retried for at most
    :data:`_WRITER_BUSY_WAIT` seconds (bounded: a reader never hangs), then refused."""
    deadline = time.monotonic() + _WRITER_BUSY_WAIT
    while True:
        if _writer_flags(p):
            try:
                return h5py.File(p, "r", libver="latest", swmr=True)
            except OSError:
                pass
        try:
            return h5py.File(p, "r")
        except OSError as exc:
            if "already open for write" in str(exc) and time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            raise RecordError(f"{p}: cannot open as HDF5 ({exc})") from None


def read_record(path: str | Path) -> Record:
    """Read a record written by :func:`write_trajectory` or by a live recorder into memory.

    Streams in nested groups (``meas/current``) are keyed by their path. A file still being written
    (SWMR) or left by a killed writer is read as far as it is consistent (see :func:`_read_stream`).
    """
    p = Path(path)
    if p.is_dir():
        raise RecordError(f"{p}: is a folder, not a record file")
    with _open_for_reading(p) as f:
        if f.attrs.get("format") != FORMAT:
            raise RecordError(f"{p}: not a phystwin record (format attribute is {f.attrs.get('format')!r})")
        try:
            streams = _find_streams(f)
            params: dict[str, tuple[np.ndarray | float, str]] = {}
            if "parameters" in f:
                for ds in f["parameters"].values():
                    v = ds[()]
                    params[str(ds.attrs.get("name", ds.name))] = (
                        float(v) if np.ndim(v) == 0 else np.asarray(v),
                        str(ds.attrs.get("unit", "")),
                    )
            return Record(p, _attrs(f), streams, params)
        except RecordError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:  # damaged or foreign content
            raise RecordError(f"{p}: not a readable phystwin record ({type(exc).__name__}: {exc})") from None


__all__ = [
    "DEFAULT_STREAM",
    "FORMAT",
    "FORMAT_VERSION",
    "Record",
    "RecordError",
    "RecordedSignal",
    "SignalInfo",
    "Stream",
    "append_samples",
    "create_stream",
    "h5_names",
    "read_record",
    "signal_infos",
    "versions",
    "write_atomically",
    "write_trajectory",
]
