"""Time plots of simulated or recorded signals: one subplot per unit, labelled axes, a PNG file.

Only the Agg renderer is used (no pyplot, no global backend switch), so plotting works on headless
machines and inside other applications without touching their matplotlib state.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from phystwin.core.trajectory import Trajectory
from phystwin.errors import InvalidValueError
from phystwin.records.hdf5 import Record
from phystwin.units import same_unit

QUANTITY_NAMES: dict[str, str] = {
    "K": "temperature",
    "W": "power",
    "A": "current",
    "V": "voltage",
    "rad/s": "speed",
    "rad": "angle",
    "N*m": "torque",
    "J": "energy",
    "s": "time",
    "1": "ratio",
    "Pa": "pressure",
    "m3/s": "volume flow",
    "C": "charge",
    "Ah": "charge",
    "ohm": "resistance",
}
"""Axis names for common SI units (the unit is always shown too)."""


@dataclass(frozen=True)
class _Series:
    name: str
    unit: str
    role: str
    values: np.ndarray


def time_scale(span: float) -> tuple[float, str]:
    """``(divisor, unit)`` for a time axis: seconds, minutes beyond 10 min, hours beyond 2 h."""
    if span > 7200.0:
        return 3600.0, "h"
    if span > 600.0:
        return 60.0, "min"
    return 1.0, "s"


def _from_trajectory(traj: Trajectory) -> tuple[np.ndarray, list[_Series]]:
    lay = traj.layout
    series = [_Series(s.name, s.unit, "state", traj.x[:, k]) for k, s in enumerate(lay.states)]
    series += [_Series(s.name, s.unit, "output", traj.y[:, k]) for k, s in enumerate(lay.outputs)]
    series += [_Series(s.name, s.unit, "input", traj.u[:, k]) for k, s in enumerate(lay.inputs)]
    return np.asarray(traj.t), series


def _from_record(rec: Record, stream: str | None) -> tuple[np.ndarray, list[_Series]]:
    st = rec.stream(stream)
    return st.t, [_Series(s.name, s.unit, s.role, s.values) for s in st.signals.values()]


def _select(series: list[_Series], signals: Sequence[str] | None) -> list[_Series]:
    if signals is None:
        chosen = [s for s in series if s.role in ("output", "input")]
        if not any(s.role == "output" for s in chosen):
            chosen = [s for s in series if s.role == "state"] + [s for s in series if s.role == "input"]
        return chosen
    by_name = {s.name: s for s in series}
    out = []
    for name in signals:
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise InvalidValueError(f"no signal {name!r} to plot{hint} (available: {', '.join(by_name)})")
        out.append(by_name[name])
    return out


def _group_by_unit(series: list[_Series]) -> list[tuple[str, list[_Series]]]:
    groups: list[tuple[str, list[_Series]]] = []
    for s in series:
        for unit, members in groups:
            if same_unit(unit, s.unit):
                members.append(s)
                break
        else:
            groups.append((s.unit, [s]))
    return groups


def _axis_label(unit: str) -> str:
    for known, quantity in QUANTITY_NAMES.items():
        if same_unit(unit, known):
            return f"{quantity} [{unit}]"
    return f"[{unit}]" if unit else "[-]"


def plot_trajectory(
    source: Trajectory | Record,
    path: str | Path,
    signals: Sequence[str] | None = None,
    *,
    title: str | None = None,
    stream: str | None = None,
) -> Path:
    """Plot signals against time into the PNG file ``path``; returns the path.

    Parameters
    ----------
    source : a :class:`Trajectory` or a :class:`~phystwin.records.hdf5.Record`
    signals : names to plot; default: every output and input (the states when there are no outputs)
    title : figure title; default: the record's twin name, or ``"simulation"`` for a trajectory
    stream : the record stream to plot (default ``simulation``)

    One subplot per unit (signals of the same unit share an axis), time in s, or min/h for long runs.
    The file is written to a temporary name and renamed, so a failure leaves no partial image.
    """
    if isinstance(source, Record):
        t, series = _from_record(source, stream)
        title = title or source.title
        complete = bool(source.attrs.get("complete", True))
    else:
        t, series = _from_trajectory(source)
        title = title or "simulation"
        complete = source.ok
    chosen = _select(series, signals)
    if t.size == 0:
        raise InvalidValueError("nothing to plot: the trajectory has no samples")
    if not chosen:
        raise InvalidValueError("nothing to plot: no signals selected")
    groups = _group_by_unit(chosen)
    div, tunit = time_scale(float(t[-1] - t[0]) if t.size > 1 else 0.0)
    fig = Figure(figsize=(10.0, 1.0 + 2.3 * len(groups)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    tt = t / div
    marker = "." if t.size < 3 else None
    for ax, (unit, members) in zip(axes, groups, strict=True):
        for s in members:
            ax.plot(tt, s.values, label=s.name, marker=marker, linestyle="--" if s.role == "input" else "-")
        ax.set_ylabel(_axis_label(unit))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(f"time [{tunit}]")
    suffix = "" if complete else f" (incomplete: stopped at t = {t[-1]:.6g} s)"
    fig.suptitle(f"{title}{suffix}")
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


__all__ = ["QUANTITY_NAMES", "plot_trajectory", "time_scale"]
