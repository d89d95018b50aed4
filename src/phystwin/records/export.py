"""Records to the tools engineers use: pandas, xarray, CSV, Parquet and netCDF.

Every stream of a record (see :mod:`phystwin.records.hdf5`) has its own time vector, so a stream is
the unit of every table:

* :func:`stream_frame` -- one stream as a :class:`pandas.DataFrame` indexed by ``t`` [s], one column
  per signal; ``df.attrs`` holds ``units`` (column -> unit, ``"t": "s"``), ``roles``,
  ``descriptions``, the stream's attributes (``stream_attrs``) and the record's root attributes
  (``record``).
* :func:`stream_dataset` -- one stream as an :class:`xarray.Dataset` over the coordinate ``t`` [s];
  each variable has the attributes ``units``, ``role`` and ``description``, the dataset those of
  the stream and ``stream``.
* :func:`export_record` -- files:

  ``netcdf``   one file for the whole record, shaped like it: the record's root attributes on the
               root group, one group per stream (the stream's path: ``simulation``,
               ``meas/current``), ``units`` on every variable, and the run's parameters in the
               group ``parameters`` (scalar variables with ``units``). Written with xarray and
               h5netcdf; read back with ``xr.open_dataset(path, group="simulation")``.
  ``csv``      one table per stream; the header names each column with its unit, ``name [unit]``
               (``t [s]`` first; ``[]`` for a signal without unit), values in full precision.
  ``parquet``  one table per stream (pyarrow): the column ``t`` [s] and one column per signal; each
               field's metadata holds ``unit``, ``role`` and ``description``, the schema metadata
               ``phystwin`` a JSON object with ``units``, ``stream`` and ``record`` (attributes), and
               pandas gets its ``df.attrs`` back (``pd.read_parquet(path).attrs["units"]``).

  A record with one stream (``phystwin simulate``), or the one stream chosen, goes to one file; a
  record with several streams writes, for CSV and Parquet, one file per stream into a folder,
  named after the stream (``meas/current`` -> ``meas__current.csv``, ``innovation:flow`` ->
  ``innovation__flow.csv``: every character but letters, digits and ``._+-`` becomes ``__``).

Column and variable names are the signal names, made safe where a format cannot hold them the way
:func:`~phystwin.records.hdf5.h5_names` makes them safe for HDF5 (``/``, a signal called ``t``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from phystwin.errors import InvalidValueError
from phystwin.records.hdf5 import Record, RecordError, Stream, h5_names, read_record

if TYPE_CHECKING:  # imported lazily: only exporting needs them
    import pandas as pd
    import xarray as xr

__all__ = ["FORMATS", "export_record", "stream_dataset", "stream_frame"]

FORMATS = {"csv": ".csv", "netcdf": ".nc", "parquet": ".parquet"}
"""Export formats and their file suffixes."""


def _plain(value: Any) -> Any:
    """An attribute value every format takes: numbers and strings as they are, the rest as JSON."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)


def _plain_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in attrs.items()}


def _columns(st: Stream) -> list[tuple[str, str, Any]]:
    """``(column name, original name, signal)`` of a stream's signals, names made safe."""
    names = list(st.signals)
    return list(zip(h5_names(names), names, st.signals.values(), strict=True))


def _pick(record: Record, stream: str | None) -> Stream:
    if not record.streams:
        raise RecordError(f"{record.path}: the record holds no stream of samples")
    return record.stream(stream)


def stream_frame(record: Record, stream: str | None = None) -> pd.DataFrame:
    """One stream of ``record`` as a DataFrame indexed by time ``t`` [s] (see the module docstring).

    Parameters
    ----------
    record : Record
        A record read by :func:`~phystwin.records.hdf5.read_record`.
    stream : str, optional
        The stream (default: ``simulation``, else the first one).
    """
    import pandas as pd

    st = _pick(record, stream)
    cols = _columns(st)
    df = pd.DataFrame({c: sig.values for c, _, sig in cols}, index=pd.Index(st.t, name="t"))
    df.attrs["stream"] = st.name
    df.attrs["units"] = {"t": "s", **{c: sig.unit for c, _, sig in cols}}
    df.attrs["roles"] = {c: sig.role for c, _, sig in cols}
    df.attrs["descriptions"] = {c: sig.description for c, _, sig in cols}
    renamed = {c: name for c, name, _ in cols if c != name}
    if renamed:
        df.attrs["names"] = renamed
    df.attrs["stream_attrs"] = _plain_attrs(st.attrs)
    df.attrs["record"] = _plain_attrs(record.attrs)
    return df


def stream_dataset(record: Record, stream: str | None = None) -> xr.Dataset:
    """One stream of ``record`` as an xarray Dataset over ``t`` [s] (see the module docstring)."""
    import xarray as xr

    st = _pick(record, stream)
    data = {}
    for c, name, sig in _columns(st):
        attrs = {"units": sig.unit, "role": sig.role, "description": sig.description}
        if c != name:
            attrs["name"] = name
        data[c] = ("t", sig.values, attrs)
    coords = {"t": ("t", st.t, {"units": "s", "description": "time"})}
    return xr.Dataset(data, coords=coords, attrs={**_plain_attrs(st.attrs), "stream": st.name})


# ---------------------------------------------------------------------------------------- files
def _atomic(dest: Path, write: Callable[[Path], None]) -> Path:
    """Write ``dest`` through a temporary file in its folder, renamed into place when complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _write_csv(record: Record, stream: str, dest: Path) -> Path:
    df = stream_frame(record, stream)
    units = df.attrs["units"]
    table = df.rename(columns={c: f"{c} [{units[c]}]" for c in df.columns})
    table.index.name = "t [s]"
    return _atomic(dest, lambda p: table.to_csv(p, float_format=None, lineterminator="\n"))


def _write_parquet(record: Record, stream: str, dest: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = stream_frame(record, stream)
    table = pa.Table.from_pandas(df)
    units, roles, desc = df.attrs["units"], df.attrs["roles"], df.attrs["descriptions"]
    fields = []
    for f in table.schema:
        if f.name in units:
            info = {"unit": units[f.name], "role": roles.get(f.name, "time"), "description": desc.get(f.name, "time")}
            f = f.with_metadata({k: str(v) for k, v in info.items()})
        fields.append(f)
    meta: dict[bytes, bytes] = dict(table.schema.metadata or {})
    summary = {"units": units, "stream": df.attrs["stream"], "record": df.attrs["record"]}
    meta[b"phystwin"] = json.dumps(summary).encode()
    meta[b"PANDAS_ATTRS"] = json.dumps(df.attrs).encode()  # pandas restores df.attrs from this key
    table = table.cast(pa.schema(fields, metadata=meta))
    return _atomic(dest, lambda p: pq.write_table(table, p))


def _write_netcdf(record: Record, streams: list[str], dest: Path) -> Path:
    import xarray as xr

    def write(p: Path) -> None:
        root = xr.Dataset(attrs=_plain_attrs(record.attrs))
        root.to_netcdf(p, mode="w", engine="h5netcdf")
        for name in streams:
            stream_dataset(record, name).to_netcdf(p, mode="a", group=name, engine="h5netcdf")
        if record.parameters:
            params = {}
            for c, (pname, (value, unit)) in zip(h5_names(list(record.parameters)), record.parameters.items(),
                                                 strict=True):  # fmt: skip
                attrs = {"units": unit} if c == pname else {"units": unit, "name": pname}
                arr = np.asarray(value, dtype=np.float64)
                params[c] = ((f"{c}_index",) if arr.ndim else (), arr, attrs)
            xr.Dataset(params).to_netcdf(p, mode="a", group="parameters", engine="h5netcdf")

    return _atomic(dest, write)


def _file_name(stream: str, suffix: str) -> str:
    """One scheme for every record kind: each character other than a letter, digit, ``.``, ``_``, ``-``
    or ``+`` becomes ``__`` (``meas/current`` -> ``meas__current``, ``innovation:flow`` ->
    ``innovation__flow``)."""
    return re.sub(r"[^A-Za-z0-9._+-]", "__", stream) + suffix


def export_record(
    record: str | Path | Record,
    fmt: str,
    out: str | Path | None = None,
    *,
    stream: str | None = None,
) -> list[Path]:
    """Write ``record`` as CSV, Parquet or netCDF (see the module docstring); returns the files written.

    Parameters
    ----------
    record : path or Record
        The phystwin record (any kind: simulate, generate, estimate, bench, run).
    fmt : str
        ``"csv"``, ``"netcdf"`` or ``"parquet"``.
    out : path, optional
        The file to write, or for CSV/Parquet of a record with several streams the folder of the
        files. Default: beside the record, ``<stem>.csv`` / ``.nc`` / ``.parquet`` (a folder
        ``<stem>_csv`` / ``<stem>_parquet`` for several streams). Refused when it is the record.
    stream : str, optional
        Export this stream only.

    Raises
    ------
    RecordError
        Not a readable phystwin record, no samples to export, an unknown stream, or ``out`` naming
        the record itself.
    ValueError
        An unknown format.
    """
    if fmt not in FORMATS:
        raise InvalidValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    rec = record if isinstance(record, Record) else read_record(record)
    names = [_pick(rec, stream).name] if stream is not None else list(rec.streams)
    if not names:
        raise RecordError(f"{rec.path}: the record holds no stream of samples")
    if not any(rec.streams[n].t.size for n in names):
        raise RecordError(f"{rec.path}: nothing to export, the record has no samples")
    suffix = FORMATS[fmt]
    one_file = fmt == "netcdf" or len(names) == 1
    if out is None:
        dest = rec.path.with_suffix(suffix) if one_file else rec.path.with_name(f"{rec.path.stem}_{fmt}")
    else:
        dest = Path(out)
    if dest.resolve() == rec.path.resolve():
        raise RecordError(f"{rec.path}: the output {dest} is the record itself; choose another --out")
    if fmt == "netcdf":
        return [_write_netcdf(rec, names, dest)]
    writer = _write_csv if fmt == "csv" else _write_parquet
    if one_file:
        return [writer(rec, names[0], dest)]
    if dest.exists() and not dest.is_dir():
        raise RecordError(f"{rec.path}: {len(names)} streams go to a folder, but {dest} is a file")
    return [writer(rec, n, dest / _file_name(n, suffix)) for n in names]
