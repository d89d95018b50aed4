"""Signal plots: PNG files with one subplot per unit, readable time axes."""

from __future__ import annotations

import struct

import pytest

from phystwin.plots.signals import plot_trajectory, time_scale
from phystwin.records.hdf5 import read_record, write_trajectory

DPI = 110


def _png_size(path) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", data[16:24])


def _subplots(path) -> int:  # type: ignore[no-untyped-def]
    """Number of unit groups, from the figure height (1 in + 2.3 in per subplot)."""
    _, height = _png_size(path)
    return round((height / DPI - 1.0) / 2.3)


def test_default_plot_groups_outputs_and_inputs_by_unit(tmp_path, make_traj) -> None:  # type: ignore[no-untyped-def]
    path = plot_trajectory(make_traj(), tmp_path / "run.png", title="motor_A")
    assert path == tmp_path / "run.png"
    assert _subplots(path) == 3  # K (3 temperatures), W, V; states are not shown when there are outputs
    assert [p.name for p in tmp_path.iterdir()] == ["run.png"]


def test_selected_signals(tmp_path, make_traj) -> None:  # type: ignore[no-untyped-def]
    path = plot_trajectory(make_traj(), tmp_path / "sel.png", ["winding.T", "rotor.w", "T_amb"])
    assert _subplots(path) == 2


def test_unknown_signal_is_refused_with_suggestion(tmp_path, make_traj) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"no signal 'winding\.t' to plot; did you mean 'winding\.T'"):
        plot_trajectory(make_traj(), tmp_path / "x.png", ["winding.t"])
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_plot(tmp_path, make_traj) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no samples"):
        plot_trajectory(make_traj(n=0), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no signals"):
        plot_trajectory(make_traj(), tmp_path / "x.png", [])


def test_plot_from_a_record_and_incomplete_runs(tmp_path, make_traj) -> None:  # type: ignore[no-untyped-def]
    h5 = write_trajectory(tmp_path / "r.h5", make_traj(t_end=7200.0, status=2), provenance={"twin_name": "cell_7"})
    rec = read_record(h5)
    path = plot_trajectory(rec, tmp_path / "r.png")
    assert _subplots(path) == 3
    assert _png_size(path)[0] == 10 * DPI


def test_single_sample_is_plotted(tmp_path, make_traj) -> None:  # type: ignore[no-untyped-def]
    assert _subplots(plot_trajectory(make_traj(n=1), tmp_path / "one.png")) == 3


@pytest.mark.parametrize(
    ("span", "expected"), [(0.0, (1.0, "s")), (600.0, (1.0, "s")), (3600.0, (60.0, "min")), (86400.0, (3600.0, "h"))]
)
def test_time_axis_unit(span: float, expected: tuple[float, str]) -> None:
    assert time_scale(span) == expected
