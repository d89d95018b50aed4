"""Figures of any record phystwin writes, chosen by what the record holds.

Figures are PNG files ``<stem>_<name>.png``; which ones depend on the record (root attribute
``kind``):

* ``phystwin simulate`` (no kind; stream ``simulation`` of kind ``batch``): ``simulation``, the
  outputs and inputs against time (:func:`~phystwin.plots.signals.plot_trajectory`);
* ``phystwin generate`` (``sensor_record``: one stream per sensor and the truth ``simulation``):
  ``signals`` (the measurements, bad-quality samples marked) and ``simulation``;
* ``phystwin estimate`` (``estimate_record``: ``estimate``, ``innovation:<sensor>`` and the truth
  when the data had one): ``estimates`` (+-3 sd, truth overlaid), ``innovations``, ``nis`` and
  ``simulation``;
* ``phystwin bench serve`` and ``phystwin run`` (``bench``, ``run``): the figures of
  :mod:`phystwin.plots.run`;
* anything else: one time plot per stream with samples, ``<stream>``.

Sensor and estimate records are read through the figures of :mod:`phystwin.plots.run` (their
streams are renamed to the run-record layout in memory, the file is not touched). A record with
nothing to draw (no stream with samples) is refused with :class:`~phystwin.records.hdf5.RecordError`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from phystwin.plots.run import plot_run
from phystwin.plots.signals import plot_trajectory
from phystwin.records.hdf5 import Record, RecordedSignal, RecordError, Stream, read_record

__all__ = ["plot_record"]

_BATCH = "batch"
_META = frozenset({"seq", "latency", "outcome", "quality", "flag"})


def _sensors_as_run(rec: Record) -> Record:
    """A sensor record in the run-record layout: ``meas/<sensor>`` with the measured signal and the
    quality flag as ``outcome`` (non-zero: marked as rejected), the truth as ``truth``."""
    streams: dict[str, Stream] = {}
    for name, st in rec.streams.items():
        if st.attrs.get("kind") != "sensor" or "value" not in st.signals:
            continue
        value = st.signals["value"]
        signal = str(st.attrs.get("signal", name))
        sigs = {signal: replace(value, name=signal, role="measurement")}
        if "quality" in st.signals:
            sigs["outcome"] = replace(st.signals["quality"], name="outcome")
        streams[f"meas/{name}"] = Stream(f"meas/{name}", st.t, sigs, st.attrs)
    return Record(rec.path, rec.attrs, streams, rec.parameters)


def _estimates_as_run(rec: Record) -> Record:
    """An estimate record in the run-record layout: ``<state>`` / ``<state>.sd`` in ``estimate``,
    ``innovation/<sensor>`` with ``<output>.S``, the truth (``simulation``) as ``truth``."""
    streams: dict[str, Stream] = {}
    est = rec.streams.get("estimate")
    if est is not None:
        sigs: dict[str, RecordedSignal] = {}
        for name, sig in est.signals.items():
            if name.startswith("sd:"):
                sigs[name[3:] + ".sd"] = replace(sig, name=name[3:] + ".sd", role="sd")
            else:
                sigs[name] = replace(sig, role="state")
        streams["estimate"] = Stream("estimate", est.t, sigs, est.attrs)
    for name, st in rec.streams.items():
        if not name.startswith("innovation:"):
            continue
        sigs = {}
        for sname, sig in st.signals.items():
            key = sname[2:] + ".S" if sname.startswith("S:") else sname
            sigs[key] = replace(sig, name=key)
        dof = st.attrs.get("dof")
        if dof is not None and "dof" not in sigs:
            sigs["dof"] = RecordedSignal("dof", np.full(st.t.shape, float(dof)), "1", "dof")
        key = "innovation/" + name[len("innovation:") :]
        streams[key] = Stream(key, st.t, sigs, st.attrs)
    if "simulation" in rec.streams:
        streams["truth"] = rec.streams["simulation"]
    return Record(rec.path, rec.attrs, streams, rec.parameters)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in name)


def _plot_stream(rec: Record, name: str, dest: Path) -> Path | None:
    """A time plot of one stream (its outputs and inputs, else every signal but bookkeeping)."""
    st = rec.streams[name]
    if st.t.size == 0 or not st.signals:
        return None
    roles = {s.role for s in st.signals.values()}
    signals = None if roles & {"output", "input", "state"} else [n for n in st.signals if n not in _META]
    if signals == []:
        signals = list(st.signals)
    return plot_trajectory(rec, dest, signals, stream=name, title=f"{rec.title}: {name}")


def plot_record(
    record: str | Path | Record,
    out_dir: str | Path,
    *,
    stem: str | None = None,
    celsius: bool = True,
) -> list[Path]:
    """Write the figures of any phystwin record (see the module docstring); returns the PNG paths.

    Parameters
    ----------
    record : path or Record
        A record written by ``simulate``, ``generate``, ``estimate``, ``bench serve`` or ``run``
        (or by the library's writers).
    out_dir : path
        Folder of the figures (created).
    stem : str, optional
        File name prefix (default: the record file's stem).
    celsius : bool
        Show absolute temperatures in K as degC (run-record figures).

    Raises
    ------
    RecordError
        The file is not a readable phystwin record, or it has nothing to draw.
    """
    rec = record if isinstance(record, Record) else read_record(record)
    out = Path(out_dir)
    stem = stem or rec.path.stem
    kind = str(rec.attrs.get("kind", ""))
    files: list[Path] = []
    drawn: set[str] = set()
    if kind in ("run", "bench"):
        files += plot_run(rec, out, stem=stem, celsius=celsius)
        drawn = set(rec.streams)
    elif kind in ("sensor_record", "estimate_record"):
        view = _sensors_as_run(rec) if kind == "sensor_record" else _estimates_as_run(rec)
        files += plot_run(view, out, stem=stem, celsius=celsius)
        drawn = {n for n, st in rec.streams.items() if st.attrs.get("kind") != _BATCH}
    for name in rec.streams:
        if name in drawn:
            continue
        try:
            f = _plot_stream(rec, name, out / f"{stem}_{_safe(name)}.png")
        except ValueError as exc:  # e.g. a stream whose values are all NaN
            raise RecordError(f"{rec.path}: cannot draw stream {name!r}: {exc}") from None
        if f is not None:
            files.append(f)
    if not files:
        what = ", ".join(f"{n} ({s.t.size} samples)" for n, s in rec.streams.items()) or "no streams"
        raise RecordError(f"{rec.path}: nothing to draw, the record has no samples ({what})")
    return files
