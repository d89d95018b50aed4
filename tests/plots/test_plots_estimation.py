"""Estimation plots: non-trivial PNG files, and the drawn bands are the requested arrays."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from phystwin.estimation.consistency import chi2_bounds
from phystwin.plots.estimation import display_unit, moving_average, plot_estimates, plot_innovations, plot_nis

DPI = 110


def _png(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert len(data) > 10_000, f"suspiciously small PNG ({len(data)} bytes)"
    return struct.unpack(">II", data[16:24])


def _band(fig: Figure, gid: str) -> PolyCollection:
    found = [c for ax in fig.axes for c in ax.collections if c.get_gid() == gid]
    assert len(found) == 1, f"expected one band {gid!r}, found {len(found)}"
    return found[0]  # type: ignore[return-value]


def _band_limits(band: PolyCollection, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge of a fill_between polygon at each abscissa ``x``."""
    v = np.concatenate([p.vertices for p in band.get_paths()])
    lo = np.array([v[np.isclose(v[:, 0], xi, rtol=0, atol=1e-12), 1].min() for xi in x])
    hi = np.array([v[np.isclose(v[:, 0], xi, rtol=0, atol=1e-12), 1].max() for xi in x])
    return lo, hi


def _no_pyplot_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    assert plt is None or plt.get_fignums() == []  # type: ignore[attr-defined]


@pytest.fixture
def run() -> dict[str, np.ndarray]:
    """A 3-state filter run (current [A], speed [rad/s], housing temperature [K]), 200 samples."""
    rng = np.random.default_rng(2)
    t = np.linspace(0.0, 20.0, 200)
    truth = np.column_stack([2.0 + np.sin(t), 300.0 * (1 - np.exp(-t / 3)), 298.15 + 0.5 * t])
    sigma = np.column_stack([np.full(200, 0.05), 5.0 * np.exp(-t / 5) + 0.5, np.linspace(2.0, 0.2, 200)])
    x = truth + sigma * rng.normal(size=truth.shape)
    return {"t": t, "x": x, "sigma": sigma, "truth": truth}


NAMES = ["current", "speed", "housing_temperature"]
UNITS = ["A", "rad/s", "K"]


def test_estimates_png_and_bands(tmp_path: Path, run: dict[str, np.ndarray]) -> None:
    path = tmp_path / "est.png"
    fig = plot_estimates(run["t"], run["x"], run["sigma"], NAMES, UNITS, truth=run["truth"], path=path)
    width, height = _png(path)
    assert width == 10 * DPI and height == round((1.0 + 2.3 * 3) * DPI)
    assert [p.name for p in tmp_path.iterdir()] == ["est.png"]  # no temporary left behind
    assert len(fig.axes) == 3
    for i, name in enumerate(NAMES):
        off = -273.15 if UNITS[i] == "K" else 0.0
        lo, hi = _band_limits(_band(fig, f"band:{name}"), run["t"])
        np.testing.assert_allclose(lo, run["x"][:, i] + off - 3 * run["sigma"][:, i], rtol=0, atol=1e-9)
        np.testing.assert_allclose(hi, run["x"][:, i] + off + 3 * run["sigma"][:, i], rtol=0, atol=1e-9)
        ax = fig.axes[i]
        est, truth = ax.lines[0], ax.lines[1]
        np.testing.assert_allclose(np.asarray(est.get_ydata(), dtype=float), run["x"][:, i] + off)
        np.testing.assert_allclose(np.asarray(truth.get_ydata(), dtype=float), run["truth"][:, i] + off)
        assert truth.get_linestyle() == "--" and est.get_linestyle() == "-"
    assert fig.axes[0].get_ylabel() == "current [A]"
    assert fig.axes[1].get_ylabel() == "speed [rad/s]"
    assert fig.axes[2].get_ylabel() == "housing_temperature [degC]"
    assert fig.axes[2].get_xlabel() == "time [s]"
    _no_pyplot_figures()


def test_estimates_kelvin_kept_without_truth_and_long_runs_in_minutes(run: dict[str, np.ndarray]) -> None:
    t = run["t"] * 60.0  # 20 min
    fig = plot_estimates(t, run["x"], run["sigma"], NAMES, UNITS, celsius=False)
    assert all(len(ax.lines) == 1 for ax in fig.axes)  # no truth line
    assert fig.axes[2].get_ylabel() == "housing_temperature [K]"
    assert fig.axes[2].get_xlabel() == "time [min]"
    lo, hi = _band_limits(_band(fig, "band:housing_temperature"), t / 60.0)
    np.testing.assert_allclose(hi - lo, 6 * run["sigma"][:, 2], rtol=0, atol=1e-9)
    np.testing.assert_allclose(0.5 * (hi + lo), run["x"][:, 2], rtol=0, atol=1e-9)


def test_estimates_refuse_bad_shapes(run: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="sigma must have the shape"):
        plot_estimates(run["t"], run["x"], run["sigma"][:, :2], NAMES, UNITS)
    with pytest.raises(ValueError, match=r"x_est must have shape \(len\(t\), n\)"):
        plot_estimates(run["t"], run["x"].T, run["sigma"].T, NAMES, UNITS)
    with pytest.raises(ValueError, match="one name and one unit per state"):
        plot_estimates(run["t"], run["x"], run["sigma"], NAMES[:2], UNITS)
    with pytest.raises(ValueError, match="standard deviations"):
        plot_estimates(run["t"], run["x"], -run["sigma"], NAMES, UNITS)


def test_innovations_png_and_bounds(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    # two asynchronous sensors: current at 100 Hz, a temperature at 1 Hz with one rejected update
    t1, t2 = np.arange(500) * 0.01, np.arange(5) * 1.0
    S1 = np.full(500, 0.05**2) * (1.0 + np.arange(500) / 500)
    S2 = np.array([0.04, 0.03, 0.02, 0.02, 0.02])
    y1 = np.sqrt(S1) * rng.normal(size=500)
    y2 = np.sqrt(S2) * np.array([0.5, -1.0, np.nan, 4.0, 0.1])  # one outside, one rejected
    path = tmp_path / "innov.png"
    fig = plot_innovations([t1, t2], [y1, y2], [S1, S2], ["current", "winding_temperature"], ["A", "K"], path=path)
    _png(path)
    assert len(fig.axes) == 2
    for ts, S, name in ((t1, S1, "current"), (t2, S2, "winding_temperature")):
        lo, hi = _band_limits(_band(fig, f"band:{name}"), ts)
        np.testing.assert_allclose(hi, 3 * np.sqrt(S), rtol=0, atol=1e-12)
        np.testing.assert_allclose(lo, -3 * np.sqrt(S), rtol=0, atol=1e-12)
    assert fig.axes[1].get_ylabel() == "winding_temperature [K]"  # a difference: K, not degC
    labels = [line.get_label() for line in fig.axes[1].lines]
    assert "innovation (75.0 % inside)" in labels  # 3 of the 4 finite innovations
    _no_pyplot_figures()


def test_innovations_refuse_mismatched_inputs() -> None:
    t = np.arange(3.0)
    with pytest.raises(ValueError, match="differ in length"):
        plot_innovations([t], [t[:2]], [t], ["a"], ["A"])
    with pytest.raises(ValueError, match="for every sensor"):
        plot_innovations([t, t], [t], [t], ["a"], ["A"])
    with pytest.raises(ValueError, match="variances must be >= 0"):
        plot_innovations([t], [t], [-t - 1], ["a"], ["A"])


def test_nis_png_moving_average_and_chi2_band(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    dof, window, alpha = 3, 40, 0.05
    t = np.arange(400) * 0.5
    nis = rng.chisquare(dof, size=400)
    nis[100] = np.nan  # a rejected update is dropped
    path = tmp_path / "nis.png"
    fig = plot_nis(t, nis, dof, alpha=alpha, window=window, path=path)
    _png(path)
    ok = np.isfinite(nis)
    tk, vk = t[ok], nis[ok]
    lo, hi = chi2_bounds(dof, alpha, runs=window)
    blo, bhi = _band_limits(_band(fig, "band:nis"), tk)
    np.testing.assert_allclose(blo, lo, rtol=1e-12)
    np.testing.assert_allclose(bhi, hi, rtol=1e-12)
    assert lo < dof < hi
    (ma_line,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "nis:moving_average"]
    ma = np.asarray(ma_line.get_ydata(), dtype=float)
    expected = np.array([vk[k - window + 1 : k + 1].mean() for k in range(window - 1, vk.size)])
    np.testing.assert_allclose(ma[window - 1 :], expected, rtol=1e-12)
    assert np.all(np.isnan(ma[: window - 1]))
    assert fig.axes[0].get_ylabel() == "NIS [-]" and fig.axes[0].get_xlabel() == "time [s]"
    _no_pyplot_figures()


def test_nis_short_runs_and_errors() -> None:
    fig = plot_nis(np.arange(5.0), np.ones(5), 2, window=50)  # window reduced to the 5 values
    lo, hi = chi2_bounds(2, 0.05, runs=5)
    blo, bhi = _band_limits(_band(fig, "band:nis"), np.arange(5.0))
    np.testing.assert_allclose([blo[0], bhi[0]], [lo, hi])
    with pytest.raises(ValueError, match="no finite NIS"):
        plot_nis(np.arange(2.0), [np.nan, np.nan], 1)
    with pytest.raises(ValueError, match="window must be >= 1"):
        plot_nis(np.arange(2.0), [1.0, 2.0], 1, window=0)
    with pytest.raises(ValueError, match="differ in length"):
        plot_nis(np.arange(3.0), [1.0, 2.0], 1)


def test_helpers() -> None:
    assert display_unit("K") == ("degC", pytest.approx(-273.15))
    assert display_unit("K", celsius=False) == ("K", 0.0)
    assert display_unit("rad/s") == ("rad/s", 0.0)
    np.testing.assert_allclose(moving_average([1.0, 2.0, 3.0, 4.0], 2), [np.nan, 1.5, 2.5, 3.5])
