"""Figures of a run record (twin runner or virtual bench), also while the run is being recorded.

A run record (:class:`phystwin.records.recorder.Recorder`, root attribute ``kind`` = ``"run"`` or
``"bench"``) may hold these streams; :func:`plot_run` draws whichever exist and have samples:

============================  =============================================================  ===================
streams                       content                                                        figure
============================  =============================================================  ===================
``meas/<s>``                  measured signals; ``seq``, ``latency`` [s], ``outcome`` [1]     ``<stem>_signals``
``published/<s>`` (bench)     published signals (used when there is no ``meas/*``)           ``<stem>_signals``
``estimate``                  states/outputs (role state/output) and ``<name>.sd``           ``<stem>_estimates``
``innovation/<s>``            ``<signal>``, ``<signal>.S`` [unit^2], ``nis``, ``dof``          ``<stem>_innovations``,
                                                                                             ``<stem>_nis``
``health``                    ``status`` (0 in sync, 1 degraded, 2 lost), ``stale_sensors``,   ``<stem>_health``
                              ``trace_P``
``timing``                    ``lateness`` [s], ``busy`` [s] (t = wall time)                  ``<stem>_timing``
``commands/<actuator>``       ``requested``, ``applied``, ``sent``, ``clamped``, ``fallback``  ``<stem>_commands``
``truth`` (bench)             true states, drawn dashed over the estimates                   --
============================  =============================================================  ===================

Units are those of the record; absolute temperatures in K are shown in degC like in
:mod:`phystwin.plots.estimation` (whose helpers are reused), differences (innovations, sd) stay K.
Series longer than :data:`MAX_POINTS` are thinned by a stride for drawing only. :func:`follow`
redraws the figures of a file that is still being written (SWMR) until it is complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from phystwin.estimation.consistency import chi2_bounds
from phystwin.plots.estimation import _label, _new_figure, _save, display_unit, moving_average, plot_estimates
from phystwin.plots.estimation import plot_innovations as _plot_innovations
from phystwin.plots.signals import QUANTITY_NAMES, time_scale
from phystwin.records.hdf5 import Record, RecordError, Stream, read_record
from phystwin.units import same_unit

__all__ = ["FIGURES", "MAX_POINTS", "follow", "plot_run"]

log = logging.getLogger("phystwin.plots")

FIGURES = ("signals", "estimates", "innovations", "nis", "health", "timing", "commands")
"""Figure names, in the order :func:`plot_run` writes them (file ``<stem>_<name>.png``)."""
MAX_POINTS = 20_000
"""Most samples drawn per line; longer series are thinned by a stride."""
META = frozenset({"seq", "latency", "outcome"})
"""Signals of a measurement stream that are bookkeeping, not measured values."""
STATUS_NAMES = ("in sync", "degraded", "lost")
NIS_WINDOW = 50
"""Moving-average length of the NIS figure [updates]."""


# --------------------------------------------------------------------------- helpers
def _streams(rec: Record, prefix: str) -> dict[str, Stream]:
    """Streams under ``prefix/`` with at least one sample, keyed by the name after the prefix."""
    return {k[len(prefix) + 1 :]: s for k, s in rec.streams.items() if k.startswith(prefix + "/") and s.t.size}


def _stride(n: int) -> slice:
    return slice(None, None, max(1, -(-n // MAX_POINTS)))


def _tscale(*ts: np.ndarray) -> tuple[float, str]:
    finite = [t[np.isfinite(t)] for t in ts if t.size]
    finite = [t for t in finite if t.size]
    if not finite:
        return 1.0, "s"
    return time_scale(max(float(t.max()) for t in finite) - min(float(t.min()) for t in finite))


def _quantity(unit: str) -> str:
    for known, quantity in QUANTITY_NAMES.items():
        if same_unit(unit, known):
            return quantity
    return ""


def _values(st: Stream, name: str) -> np.ndarray | None:
    sig = st.signals.get(name)
    return None if sig is None else sig.values


def _title(rec: Record, what: str) -> str:
    live = "" if bool(rec.attrs.get("complete", True)) else " (live / incomplete)"
    return f"{rec.title} [{rec.attrs.get('kind', 'run')}]: {what}{live}"


def _percentile_lines(ax: Any, v: np.ndarray, scale: float, unit: str) -> None:
    for q, style in ((50, "--"), (99, ":")):
        p = float(np.percentile(v, q))
        ax.axvline(p * scale, color="k", linestyle=style, linewidth=1.0, label=f"p{q} = {p * scale:.4g} {unit}")


# --------------------------------------------------------------------------- figures
def _fig_signals(rec: Record, celsius: bool) -> Figure | None:
    streams = _streams(rec, "meas") or _streams(rec, "published")
    series = []  # (label, unit, t, values, rejected mask)
    for sname, st in streams.items():
        outcome = _values(st, "outcome")
        rejected = (outcome != 0) & np.isfinite(outcome) if outcome is not None else np.zeros(st.t.shape, bool)
        for name, sig in st.signals.items():
            if name not in META:
                label = name if len(streams) == 1 else f"{sname}: {name}"
                series.append((label, sig.unit, st.t, sig.values, rejected))
    if not series:
        return None
    groups: list[tuple[str, list[Any]]] = []
    for s in series:
        for unit, members in groups:
            if same_unit(unit, s[1]):
                members.append(s)
                break
        else:
            groups.append((s[1], [s]))
    div, tunit = _tscale(*(s[2] for s in series))
    fig, axes = _new_figure(len(groups))
    for ax, (unit, members) in zip(axes, groups, strict=True):
        shown, off = display_unit(unit, celsius)
        for label, _, t, v, rej in members:
            k = _stride(t.size)
            (line,) = ax.plot(t[k] / div, v[k] + off, linewidth=1.0, label=label)
            if rej.any():
                ax.plot(
                    t[rej] / div, v[rej] + off, "x", color=line.get_color(), markersize=4, label=f"{label} rejected"
                )
        quantity = _quantity(unit)
        ax.set_ylabel(f"{quantity} [{shown or '-'}]" if quantity else f"[{shown or '-'}]")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(f"time [{tunit}]")
    fig.suptitle(_title(rec, "measurements"))
    return fig


def _truth_stream(rec: Record, truth: Record | None) -> Stream | None:
    if truth is None and "truth" in rec.streams:
        return rec.streams["truth"]
    if truth is None:
        summary: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            summary = json.loads(str(rec.attrs.get("summary", "{}")))
        ref = rec.attrs.get("truth_record") or (summary.get("truth_record") if isinstance(summary, dict) else None)
        if ref:
            p = Path(str(ref))
            p = p if p.is_absolute() else rec.path.parent / p
            try:
                truth = read_record(p)
            except (RecordError, OSError, KeyError) as exc:
                log.warning("truth record %s not readable: %s", p, exc)
    if truth is None or not truth.streams:
        return None
    return truth.streams.get("truth") or truth.stream()


def _fig_estimates(rec: Record, truth: Record | None, celsius: bool) -> Figure | None:
    st = rec.streams.get("estimate")
    if st is None or st.t.size == 0:
        return None
    names = [n for n, s in st.signals.items() if s.role in ("state", "output") and not n.endswith(".sd")]
    if not names:
        return None
    k = _stride(st.t.size)
    t = st.t[k]
    X = np.column_stack([st.signals[n].values[k] for n in names])
    S = np.column_stack([st.signals[n + ".sd"].values[k] if n + ".sd" in st.signals else np.full(t.shape, np.nan)
                         for n in names])  # fmt: skip
    T = None
    ts = _truth_stream(rec, truth)
    if ts is not None and ts.t.size and any(n in ts.signals for n in names):
        T = np.full(X.shape, np.nan)
        inside = (t >= ts.t[0]) & (t <= ts.t[-1])
        for i, n in enumerate(names):
            if n in ts.signals:
                T[inside, i] = np.interp(t[inside], ts.t, ts.signals[n].values)
    units = [st.signals[n].unit for n in names]
    return plot_estimates(t, X, S, names, units, T, title=_title(rec, "state estimates ±3 sd"), celsius=celsius)


def _innovation_series(rec: Record) -> list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    """(stream, signal, t, innovation, S) of every innovation signal with its variance."""
    out = []
    for sname, st in _streams(rec, "innovation").items():
        for name, sig in st.signals.items():
            var = st.signals.get(name + ".S")
            if var is not None and sig.role != "variance":
                out.append((sname, name, st.t, sig.values, var.values))
    return out


def _fig_innovations(rec: Record) -> Figure | None:
    series = _innovation_series(rec)
    if not series:
        return None
    plain = [s[1] for s in series]
    names = plain if len(set(plain)) == len(plain) else [f"{s[0]}: {s[1]}" for s in series]
    units = [rec.streams[f"innovation/{s[0]}"].signals[s[1]].unit for s in series]
    ks = [_stride(s[2].size) for s in series]
    return _plot_innovations(
        [s[2][k] for s, k in zip(series, ks, strict=True)],
        [s[3][k] for s, k in zip(series, ks, strict=True)],
        [s[4][k] for s, k in zip(series, ks, strict=True)],
        names,
        units,
        title=_title(rec, "innovations ±3√S"),
    )


def _fig_nis(rec: Record, alpha: float = 0.05) -> Figure | None:
    panels = []
    for sname, st in _streams(rec, "innovation").items():
        nis = _values(st, "nis")
        if nis is None:
            continue
        dof = _values(st, "dof")
        if dof is None:  # one dof per innovation signal with a variance
            dof = np.full(st.t.shape, float(sum(1 for n in st.signals if n + ".S" in st.signals)))
        ok = np.isfinite(nis) & np.isfinite(dof) & (dof >= 1)
        if ok.any():
            panels.append((sname, st.t[ok], nis[ok], dof[ok].astype(int)))
    if not panels:
        return None
    div, tunit = _tscale(*(p[1] for p in panels))
    fig, axes = _new_figure(len(panels), height_per_row=3.0)
    for ax, (sname, t, v, dof) in zip(axes, panels, strict=True):
        bounds = {d: chi2_bounds(int(d), alpha) for d in np.unique(dof)}
        lo = np.array([bounds[d][0] for d in dof])
        hi = np.array([bounds[d][1] for d in dof])
        inside = float(np.mean((v >= lo) & (v <= hi)))
        k = _stride(t.size)
        tt = t[k] / div
        band = ax.fill_between(tt, lo[k], hi[k], step="post", color="C2", alpha=0.2, linewidth=0.0,
                               label=f"{100 * (1 - alpha):g} % χ² band per update ({100 * inside:.1f} % inside)")  # fmt: skip  # noqa: E501
        band.set_gid(f"band:nis:{sname}")
        ax.plot(tt, v[k], color="0.5", linewidth=0.0, marker=".", markersize=2.5, label="NIS")
        w = min(NIS_WINDOW, v.size)
        (line,) = ax.plot(tt, moving_average(v, w)[k], color="C0", linewidth=1.3, label=f"mean of {w} updates")
        line.set_gid(f"nis:moving_average:{sname}")
        if len(bounds) == 1:
            d = int(dof[0])
            mlo, mhi = chi2_bounds(d, alpha, runs=w)
            ax.axhline(mlo, color="C0", linestyle=":", linewidth=0.8, label="band of the mean")
            ax.axhline(mhi, color="C0", linestyle=":", linewidth=0.8)
            ax.axhline(float(d), color="k", linestyle="--", linewidth=0.8, label=f"dof = {d}")
        ax.set_ylim(0.0, max(1.3 * float(hi.max()), float(np.percentile(v, 99))))
        ax.set_ylabel(f"NIS {sname} [-]")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel(f"time [{tunit}]")
    fig.suptitle(_title(rec, "normalised innovation squared"))
    return fig


def _fig_health(rec: Record) -> Figure | None:
    st = rec.streams.get("health")
    if st is None or st.t.size == 0:
        return None
    rows = [n for n in ("status", "stale_sensors", "trace_P") if n in st.signals]
    if not rows:
        return None
    div, tunit = _tscale(st.t)
    k = _stride(st.t.size)
    tt = st.t[k] / div
    fig, axes = _new_figure(len(rows), height_per_row=1.8)
    for ax, name in zip(axes, rows, strict=True):
        v = st.signals[name].values[k]
        if name == "trace_P":
            ax.plot(tt, v, color="C0", linewidth=1.0)
            if np.all(v[np.isfinite(v)] > 0):
                ax.set_yscale("log")
            ax.set_ylabel(f"trace(P) [{st.signals[name].unit or '-'}]")
        else:
            ax.step(tt, v, where="post", color="C3" if name == "status" else "C1", linewidth=1.2)
            ax.set_ylabel(_label(name.replace("_", " "), st.signals[name].unit))
        if name == "status":
            ax.set_yticks(range(len(STATUS_NAMES)), STATUS_NAMES)
            ax.set_ylim(-0.3, len(STATUS_NAMES) - 0.7)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel(f"twin time [{tunit}]")
    fig.suptitle(_title(rec, "health"))
    return fig


def _fig_timing(rec: Record) -> Figure | None:
    panels: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
    timing = rec.streams.get("timing")
    for name in ("lateness", "busy"):
        v = _values(timing, name) if timing is not None else None
        if v is not None and np.isfinite(v).any():
            panels.append((f"{name} (timing)", [(name, v[np.isfinite(v)])]))
    lat = []
    for sname, st in _streams(rec, "meas").items():
        v = _values(st, "latency")
        if v is not None and np.isfinite(v).any():
            lat.append((sname, v[np.isfinite(v)]))
    if lat:
        panels.append(("latency, arrival to estimate", lat))
    if not panels:
        return None
    fig = Figure(figsize=(10.0, 1.0 + 2.6 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]  # histograms: independent x axes
    for ax, (what, series) in zip(axes, panels, strict=True):
        allv = np.concatenate([v for _, v in series]) * 1e3  # ms
        lo, hi = float(allv.min()), float(allv.max())
        positive = lo > 0 and hi > lo * (1 + 1e-9)
        if positive:
            bins = np.geomspace(lo, hi, 60)
        else:
            pad = 0.0 if hi > lo + 1e-12 * max(1.0, abs(hi)) else max(0.05 * abs(hi), 1e-6)
            bins = np.linspace(lo - pad, hi + pad, 60)
        for label, v in series:
            ax.hist(v * 1e3, bins=bins, histtype="step", linewidth=1.2, label=f"{label} (n = {v.size})")
        if positive:
            ax.set_xscale("log")
        _percentile_lines(ax, allv, 1.0, "ms")
        ax.set_xlabel(f"{what} [ms]")
        ax.set_ylabel("count [1]")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(_title(rec, "timing"))
    return fig


def _fig_commands(rec: Record, celsius: bool) -> Figure | None:
    streams = {k: s for k, s in _streams(rec, "commands").items() if "requested" in s.signals or "applied" in s.signals}
    if not streams:
        return None
    div, tunit = _tscale(*(s.t for s in streams.values()))
    fig, axes = _new_figure(len(streams))
    for ax, (actuator, st) in zip(axes, streams.items(), strict=True):
        tt = st.t / div
        unit = next(st.signals[n].unit for n in ("requested", "applied") if n in st.signals)
        shown, off = display_unit(unit, celsius)
        for name, style in (("requested", "--"), ("applied", "-")):
            if name in st.signals:
                ax.step(tt, st.signals[name].values + off, where="post", linestyle=style, label=name)
        fb = _values(st, "fallback")
        if fb is not None and np.any(fb > 0):
            coll = ax.fill_between(tt, 0, 1, where=fb > 0, step="post", transform=ax.get_xaxis_transform(),
                                   color="C3", alpha=0.15, linewidth=0.0, label="fallback")  # fmt: skip
            coll.set_gid(f"band:fallback:{actuator}")
        cl = _values(st, "clamped")
        if cl is not None and "applied" in st.signals and np.any(cl > 0):
            m = cl > 0
            ax.plot(tt[m], st.signals["applied"].values[m] + off, "v", color="C1", markersize=4, label="clamped")
        sent = _values(st, "sent")
        if sent is not None and "applied" in st.signals and np.any(sent == 0):
            m = sent == 0
            ax.plot(tt[m], st.signals["applied"].values[m] + off, "o", mfc="none", color="0.4", markersize=4,
                    label="not sent")  # fmt: skip
        ax.set_ylabel(_label(actuator, shown))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(f"time [{tunit}]")
    fig.suptitle(_title(rec, "actuator commands"))
    return fig


# --------------------------------------------------------------------------- entry points
def plot_run(
    record: str | Path | Record,
    out_dir: str | Path,
    *,
    stem: str | None = None,
    truth: Record | None = None,
    celsius: bool = True,
) -> list[Path]:
    """Write the figures of a run record that has data for them; returns the PNG paths written.

    Parameters
    ----------
    record : path or Record
        The run or bench record (may be incomplete: a file still being written is read as far as
        it is consistent).
    out_dir : path
        Folder of the PNG files (created). Each file is written to a temporary name there and
        renamed, so a reader never sees a partial image.
    stem : str, optional
        File name prefix; default: the record file's stem. Files are ``<stem>_<figure>.png`` with
        figure in :data:`FIGURES`.
    truth : Record, optional
        A record of the true states drawn over the estimates (its ``truth`` stream, else its default
        stream). Default: the record's own ``truth`` stream, else a ``truth_record`` path in the root
        attributes or the summary, when there is one.
    celsius : bool
        Show absolute temperatures in K as degC.

    Returns
    -------
    list of Path
        The files written, in the order of :data:`FIGURES`; a figure without data is skipped.
    """
    rec = record if isinstance(record, Record) else read_record(record)
    out = Path(out_dir)
    stem = stem or rec.path.stem
    builders: dict[str, Callable[[], Figure | None]] = {
        "signals": lambda: _fig_signals(rec, celsius),
        "estimates": lambda: _fig_estimates(rec, truth, celsius),
        "innovations": lambda: _fig_innovations(rec),
        "nis": lambda: _fig_nis(rec),
        "health": lambda: _fig_health(rec),
        "timing": lambda: _fig_timing(rec),
        "commands": lambda: _fig_commands(rec, celsius),
    }
    written = []
    for name, build in builders.items():
        try:
            fig = build()
        except ValueError as exc:  # data a figure cannot show (e.g. all NaN): skip it, keep the others
            log.warning("%s: no %s figure: %s", rec.path, name, exc)
            continue
        if fig is not None:
            dest = out / f"{stem}_{name}.png"
            _save(fig, dest)
            written.append(dest)
    return written


def follow(
    path: str | Path,
    out_dir: str | Path,
    *,
    interval: float = 2.0,
    max_updates: int | None = None,
    stop: Callable[[], bool] | None = None,
    stem: str | None = None,
) -> int:
    """Redraw the figures of a record being written, every ``interval`` seconds.

    Stops when the record's root attribute ``complete`` is true (after drawing its final state),
    after ``max_updates`` updates, or when ``stop()`` returns true. A file that is missing, not yet
    started or caught mid-write is retried at the next interval; errors are logged, never raised.

    Parameters
    ----------
    path : path
        The record file (SWMR-live or complete).
    out_dir : path
        Folder of the figures (see :func:`plot_run`).
    interval : float
        Time between two updates [s].
    max_updates : int, optional
        Most updates (figure sets written).
    stop : callable, optional
        Polled at least every 0.1 s; true ends the loop.
    stem : str, optional
        File name prefix (default: the file's stem).

    Returns
    -------
    int
        The number of updates made.
    """
    p = Path(path)
    updates = 0
    while not (stop is not None and stop()):
        started = time.monotonic()
        complete = False
        try:
            rec = read_record(p)
            complete = bool(rec.attrs.get("complete", False))
            plot_run(rec, out_dir, stem=stem)
            updates += 1
        except (OSError, KeyError, ValueError) as exc:  # RecordError is a ValueError
            log.info("%s: not readable yet (%s); retrying in %g s", p, exc, interval)
        if complete or (max_updates is not None and updates >= max_updates):
            break
        while time.monotonic() - started < interval:
            if stop is not None and stop():
                return updates
            time.sleep(min(0.1, max(0.0, interval - (time.monotonic() - started))))
    return updates
