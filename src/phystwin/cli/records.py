"""The work behind ``phystwin export`` (the command lives in :mod:`phystwin.cli.main`)."""

from __future__ import annotations

from pathlib import Path

from phystwin.cli.estimation import CommandResult

__all__ = ["run_export"]


def run_export(record: Path, fmt: str, out: Path | None, stream: str | None) -> CommandResult:
    """Export ``record`` as ``fmt`` (csv, netcdf, parquet); see :mod:`phystwin.records.export`."""
    from phystwin.records.export import export_record
    from phystwin.records.hdf5 import read_record

    rec = read_record(record)
    files = export_record(rec, fmt, out, stream=stream)
    res = CommandResult(f"{record} as {fmt}", files=files)
    names = [stream] if stream is not None else list(rec.streams)
    for name in names:
        st = rec.stream(name)
        res.rows.append((f"stream {name}", f"{st.t.size} samples of {len(st.signals)} signals"))
    return res
