"""Figures of a filter run: state estimates with their uncertainty, innovations, NIS consistency.

The functions take plain arrays (whatever filter produced them) and return a
:class:`matplotlib.figure.Figure`; with ``path`` they also write it as a PNG file. As in
:mod:`phystwin.plots.signals`, only the Agg renderer is used (``Figure`` objects, no pyplot), so
plotting works headless and leaves the caller's matplotlib state alone.

Units: axis labels carry each signal's unit. Absolute temperatures given in K are shown in degC
(``celsius=True``, the default); standard deviations, bands and innovations are temperature
*differences*, which are the same numbers in K and degC, so only the estimates and the truth are
shifted. Time axes switch from s to min or h for long runs (:func:`phystwin.plots.signals.time_scale`).

Every shaded band is a ``fill_between`` collection with a ``gid`` naming it (``"band:<name>"``), so
tests and callers can find it among the axes' artists.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from phystwin.errors import InvalidValueError
from phystwin.estimation.consistency import chi2_bounds
from phystwin.plots.signals import time_scale
from phystwin.units import conversion, same_unit

__all__ = ["display_unit", "moving_average", "plot_estimates", "plot_innovations", "plot_nis"]

DPI = 110
N_SIGMA = 3.0
"""Half-width of the uncertainty bands in standard deviations."""


# --------------------------------------------------------------------------- helpers
def display_unit(unit: str, celsius: bool = True) -> tuple[str, float]:
    """``(unit shown, offset added)`` for absolute values in ``unit``: K becomes degC (offset
    -273.15) when ``celsius``; every other unit is shown as given (offset 0)."""
    if celsius and same_unit(unit, "K"):
        scale, offset = conversion("K", "degC")
        if scale == 1.0:
            return "degC", offset
    return unit, 0.0


def _label(name: str, unit: str) -> str:
    return f"{name} [{unit or '-'}]"


def _time_axis(t: np.ndarray) -> tuple[np.ndarray, str]:
    span = float(np.nanmax(t) - np.nanmin(t)) if t.size > 1 else 0.0
    div, unit = time_scale(span)
    return t / div, unit


def _new_figure(rows: int, height_per_row: float = 2.3) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(10.0, 1.0 + height_per_row * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _save(fig: Figure, path: str | Path | None) -> None:
    """Write ``fig`` as PNG to ``path`` via a temporary name, so a failure leaves no partial image."""
    if path is None:
        return
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _vector(name: str, v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1:
        raise InvalidValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


def _matrix(name: str, v: Any, rows: int) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] != rows:
        raise InvalidValueError(f"{name} must have shape (len(t), n) with len(t) = {rows}, got {np.shape(v)}")
    return a


def _names_units(names: Sequence[str], units: Sequence[str], n: int, what: str) -> None:
    if len(names) != n or len(units) != n:
        raise InvalidValueError(
            f"need one name and one unit per {what} ({n}), got {len(names)} names and {len(units)} units"
        )


def _band(ax: Axes, t: np.ndarray, lower: np.ndarray, upper: np.ndarray, gid: str, label: str, color: Any) -> None:
    coll = ax.fill_between(t, lower, upper, color=color, alpha=0.2, linewidth=0.0, label=label)
    coll.set_gid(gid)


def moving_average(values: Any, window: int) -> np.ndarray:
    """Trailing mean over ``window`` samples: entry ``k`` is ``mean(values[k - window + 1 : k + 1])``;
    the first ``window - 1`` entries are NaN."""
    v = _vector("values", values)
    w = int(window)
    if w < 1:
        raise InvalidValueError(f"window must be >= 1 sample, got {window!r}")
    out = np.full(v.shape, np.nan)
    if v.size >= w:
        c = np.cumsum(np.concatenate([[0.0], v]))
        out[w - 1 :] = (c[w:] - c[:-w]) / w
    return out


# --------------------------------------------------------------------------- estimates
def plot_estimates(
    t: Any,
    x_est: Any,
    sigma: Any,
    names: Sequence[str],
    units: Sequence[str],
    truth: Any = None,
    path: str | Path | None = None,
    *,
    title: str = "state estimates",
    celsius: bool = True,
) -> Figure:
    """One subplot per state: the estimate, a shaded ``+-3 sigma`` band, the truth dashed when given.

    Parameters
    ----------
    t : (N,)
        Times [s].
    x_est : (N, n)
        Estimated states, SI units (``units``).
    sigma : (N, n)
        Standard deviations of the estimates (square roots of the covariance diagonals), same units.
    names, units : n strings
        State names and units (absolute temperatures in K are shown in degC, see the module docstring).
    truth : (N, n), optional
        True states, drawn dashed.
    path : optional
        Where to write the PNG.
    title : str
        Figure title.
    celsius : bool
        Show K states in degC.

    Returns
    -------
    Figure
        The figure (Agg canvas attached); subplot ``i`` holds state ``i``, its band has gid ``"band:<name>"``.
    """
    tv = _vector("t", t)
    X = _matrix("x_est", x_est, tv.shape[0])
    n = X.shape[1]
    S = np.asarray(sigma, dtype=np.float64)
    if S.shape != X.shape:
        raise InvalidValueError(f"sigma must have the shape of x_est {X.shape}, got {S.shape}")
    if np.any(S < 0.0):
        raise InvalidValueError("sigma must be standard deviations (>= 0)")
    T = None
    if truth is not None:
        T = np.asarray(truth, dtype=np.float64)
        if T.shape != X.shape:
            raise InvalidValueError(f"truth must have the shape of x_est {X.shape}, got {T.shape}")
    _names_units(names, units, n, "state")
    if tv.size == 0:
        raise InvalidValueError("nothing to plot: no samples")

    fig, axes = _new_figure(n)
    tt, tunit = _time_axis(tv)
    for i, ax in enumerate(axes):
        shown, off = display_unit(units[i], celsius)
        x = X[:, i] + off
        ax.plot(tt, x, color="C0", linewidth=1.2, label="estimate")
        _band(ax, tt, x - N_SIGMA * S[:, i], x + N_SIGMA * S[:, i], f"band:{names[i]}", "±3σ", "C0")
        if T is not None:
            ax.plot(tt, T[:, i] + off, color="k", linestyle="--", linewidth=1.0, label="truth")
        ax.set_ylabel(_label(names[i], shown))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(f"time [{tunit}]")
    fig.suptitle(title)
    _save(fig, path)
    return fig


# --------------------------------------------------------------------------- innovations
def plot_innovations(
    t_by_sensor: Sequence[Any],
    innovation_by_sensor: Sequence[Any],
    S_diag_by_sensor: Sequence[Any],
    names: Sequence[str],
    units: Sequence[str],
    path: str | Path | None = None,
    *,
    title: str = "innovations",
) -> Figure:
    """One subplot per (scalar) sensor: innovations ``z - z_pred`` with the ``+-3 sqrt(S)`` band.

    Sensors may have their own sample times (asynchronous, multi-rate). NaN innovations (rejected
    updates) leave gaps. The legend gives the fraction of innovations inside the band (about
    99.7 % for a consistent filter).

    Parameters
    ----------
    t_by_sensor : per sensor, (N_s,) times [s]
    innovation_by_sensor : per sensor, (N_s,) innovations in the sensor's unit
    S_diag_by_sensor : per sensor, (N_s,) innovation variances (diagonal entries of S), unit squared
    names, units : per sensor
        Units of the innovations; an innovation is a difference, so K stays K (= degC difference).
    path : optional
        Where to write the PNG.

    Returns
    -------
    Figure
        Subplot ``s`` holds sensor ``s``; its band (``-3 sqrt(S)`` to ``+3 sqrt(S)``) has gid ``"band:<name>"``.
    """
    k = len(t_by_sensor)
    if len(innovation_by_sensor) != k or len(S_diag_by_sensor) != k:
        raise InvalidValueError(
            f"need times, innovations and S diagonals for every sensor: got {k}, {len(innovation_by_sensor)}, "
            f"{len(S_diag_by_sensor)}"
        )
    _names_units(names, units, k, "sensor")
    if k == 0:
        raise InvalidValueError("nothing to plot: no sensors")
    series = []
    for s in range(k):
        ts = _vector(f"t_by_sensor[{s}]", t_by_sensor[s])
        y = _vector(f"innovation_by_sensor[{s}]", innovation_by_sensor[s])
        var = _vector(f"S_diag_by_sensor[{s}]", S_diag_by_sensor[s])
        if not (ts.shape == y.shape == var.shape):
            raise InvalidValueError(
                f"sensor {names[s]!r}: times, innovations and S diagonals differ in length "
                f"({ts.shape[0]}, {y.shape[0]}, {var.shape[0]})"
            )
        if np.any(var[np.isfinite(var)] < 0.0):
            raise InvalidValueError(f"sensor {names[s]!r}: innovation variances must be >= 0")
        series.append((ts, y, var))
    all_t = np.concatenate([ts for ts, _, _ in series])
    if all_t.size == 0:
        raise InvalidValueError("nothing to plot: no samples")
    span = float(np.nanmax(all_t) - np.nanmin(all_t)) if all_t.size > 1 else 0.0
    div, tunit = time_scale(span)

    fig, axes = _new_figure(k)
    for s, ax in enumerate(axes):
        ts, y, var = series[s]
        tt = ts / div
        bound = N_SIGMA * np.sqrt(var)
        ok = np.isfinite(y) & np.isfinite(bound)
        inside = float(np.mean(np.abs(y[ok]) <= bound[ok])) if ok.any() else float("nan")
        _band(ax, tt, -bound, bound, f"band:{names[s]}", "±3√S", "C1")
        marker = "." if ts.size < 500 else None
        ax.plot(tt, y, color="C0", linewidth=0.8, marker=marker, markersize=3,
                label=f"innovation ({100 * inside:.1f} % inside)")  # fmt: skip
        ax.axhline(0.0, color="k", linewidth=0.6)
        ax.set_ylabel(_label(names[s], units[s]))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(f"time [{tunit}]")
    fig.suptitle(title)
    _save(fig, path)
    return fig


# --------------------------------------------------------------------------- NIS
def plot_nis(
    t: Any,
    nis: Any,
    dof: int,
    alpha: float = 0.05,
    window: int = 50,
    path: str | Path | None = None,
    *,
    title: str = "normalised innovation squared",
) -> Figure:
    """NIS per update, its moving average over ``window`` updates, and the two-sided ``1 - alpha``
    chi-square band of that moving average.

    The mean of ``window`` independent :math:`\\chi^2_{dof}` values lies in
    ``chi2_bounds(dof, alpha, runs=window)`` (:func:`phystwin.estimation.consistency.chi2_bounds`)
    with probability ``1 - alpha``; a consistent filter's moving average stays inside it about that
    often (neighbouring averages overlap, so they are not independent).

    Parameters
    ----------
    t : (N,)
        Update times [s].
    nis : (N,)
        NIS of each update [-]; NaN entries (rejected updates) are dropped.
    dof : int
        Degrees of freedom: the number of measured values per update.
    alpha : float
        Two-sided significance of the band.
    window : int
        Moving-average length in updates (reduced to the number of finite NIS values when longer).
    path : optional
        Where to write the PNG.

    Returns
    -------
    Figure
        One axes; the band has gid ``"band:nis"``, the moving-average line gid ``"nis:moving_average"``.
    """
    tv = _vector("t", t)
    v = _vector("nis", nis)
    if tv.shape != v.shape:
        raise InvalidValueError(f"t and nis differ in length ({tv.shape[0]}, {v.shape[0]})")
    ok = np.isfinite(v)
    tv, v = tv[ok], v[ok]
    if v.size == 0:
        raise InvalidValueError("nothing to plot: no finite NIS values")
    if np.any(v < 0.0):
        raise InvalidValueError("NIS values must be >= 0")
    if int(window) < 1:
        raise InvalidValueError(f"window must be >= 1 update, got {window!r}")
    w = min(int(window), v.size)
    lo, hi = chi2_bounds(int(dof), alpha, runs=w)
    ma = moving_average(v, w)
    inside = ma[w - 1 :]
    frac = float(np.mean((inside >= lo) & (inside <= hi)))

    fig, axes = _new_figure(1, height_per_row=3.5)
    ax = axes[0]
    tt, tunit = _time_axis(tv)
    ax.plot(tt, v, color="0.6", linewidth=0.0, marker=".", markersize=2.5, label="NIS")
    (line,) = ax.plot(
        tt, ma, color="C0", linewidth=1.5, label=f"moving average over {w} updates ({100 * frac:.1f} % inside)"
    )
    line.set_gid("nis:moving_average")
    _band(ax, tt, np.full(tt.shape, lo), np.full(tt.shape, hi), "band:nis", f"{100 * (1 - alpha):g} % band of the average", "C2")  # fmt: skip  # noqa: E501
    ax.axhline(float(dof), color="k", linestyle="--", linewidth=0.8, label=f"dof = {int(dof)}")
    top = max(1.5 * hi, float(np.percentile(v, 99)))
    ax.set_ylim(0.0, top)
    ax.set_ylabel("NIS [-]")
    ax.set_xlabel(f"time [{tunit}]")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.suptitle(title)
    _save(fig, path)
    return fig
