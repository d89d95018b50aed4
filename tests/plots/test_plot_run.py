"""Run-record figures: every figure from a full synthetic run, only the possible ones from a partial
record, truth overlay, and ``follow`` on a file that is being written."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from phystwin.plots.run import FIGURES, _fig_estimates, follow, plot_run
from phystwin.records.hdf5 import SignalInfo, read_record
from phystwin.records.recorder import Recorder

CHILD = Path(__file__).parents[1] / "records" / "_recorder_child.py"
N = 300  # samples per stream: enough for every figure, cheap to draw


def _si(name: str, unit: str, role: str) -> SignalInfo:
    return SignalInfo(name, unit, role)


def _write_run(path: Path, parts: set[str], kind: str = "run") -> Path:
    """A synthetic run record with the streams named in ``parts``."""
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 30.0, N)
    rec = Recorder(path, kind=kind, provenance={"twin_name": "motor_A"})
    meta = [_si("seq", "1", "meta"), _si("latency", "s", "meta"), _si("outcome", "1", "meta")]
    if "meas" in parts:
        rec.add_stream("meas/current+speed", [_si("current", "A", "measurement"), _si("speed", "rad/s", "measurement"), *meta])  # fmt: skip  # noqa: E501
        rec.add_stream("meas/temperature", [_si("T_winding", "K", "measurement"), *meta])
    if "estimate" in parts:
        rec.add_stream("estimate", [_si("winding.T", "K", "state"), _si("winding.T.sd", "K", "sd"),
                                    _si("rotor.w", "rad/s", "state"), _si("rotor.w.sd", "rad/s", "sd")])  # fmt: skip
    if "innovation" in parts:
        for s, sig, unit in (("current+speed", "current", "A"), ("temperature", "T_winding", "K")):
            rec.add_stream(f"innovation/{s}", [_si(sig, unit, "innovation"), _si(sig + ".S", f"{unit}^2", "variance"),
                                               _si("nis", "1", "nis"), _si("dof", "1", "dof")])  # fmt: skip
    if "health" in parts:
        rec.add_stream("health", [_si("status", "1", "status"), _si("stale_sensors", "1", "status"),
                                  _si("trace_P", "1", "status")])  # fmt: skip
    if "timing" in parts:
        rec.add_stream("timing", [_si("lateness", "s", "timing"), _si("busy", "s", "timing")])
    if "commands" in parts:
        rec.add_stream("commands/supply", [_si("requested", "V", "command"), _si("applied", "V", "command"),
                                           _si("sent", "1", "meta"), _si("clamped", "1", "meta"),
                                           _si("fallback", "1", "meta")])  # fmt: skip
    if "truth" in parts:
        rec.add_stream("truth", [_si("winding.T", "K", "state"), _si("rotor.w", "rad/s", "state")])
    rec.start()
    T = 300.0 + 40.0 * (1.0 - np.exp(-t / 10.0))
    w = 100.0 * np.tanh(t / 5.0)
    k = np.arange(N, dtype=float)
    lat = rng.lognormal(np.log(2e-3), 0.5, N)
    out = (k % 17 == 0).astype(float)
    if "meas" in parts:
        cur, spd = 5 + rng.normal(0, 0.1, N), w + rng.normal(0, 1, N)
        rec.append_rows(
            "meas/current+speed", t, {"current": cur, "speed": spd, "seq": k, "latency": lat, "outcome": out}
        )
        rec.append_rows("meas/temperature", t[::3], {"T_winding": T[::3] + rng.normal(0, 0.5, N)[::3], "seq": k[::3],
                                                     "latency": lat[::3], "outcome": out[::3]})  # fmt: skip
    if "estimate" in parts:
        rec.append_rows("estimate", t, {"winding.T": T + 0.3, "winding.T.sd": np.full(N, 0.4),
                                        "rotor.w": w, "rotor.w.sd": np.full(N, 2.0)})  # fmt: skip
    if "innovation" in parts:
        for s, sig, sd in (("current+speed", "current", 0.1), ("temperature", "T_winding", 0.5)):
            nu = rng.normal(0.0, sd, N)
            rec.append_rows(f"innovation/{s}", t, {sig: nu, sig + ".S": np.full(N, sd**2), "nis": (nu / sd) ** 2,
                                                   "dof": np.ones(N)})  # fmt: skip
    if "health" in parts:
        status = np.where((t > 10) & (t < 15), 1.0, 0.0)
        rec.append_rows("health", t, {"status": status, "stale_sensors": status, "trace_P": 1.0 + status})
    if "timing" in parts:
        rec.append_rows("timing", t, {"lateness": rng.lognormal(np.log(1e-4), 1.0, N), "busy": np.full(N, 2e-4)})
    if "commands" in parts:
        req = np.where(t < 20, 30.0, 12.0)
        rec.append_rows("commands/supply", t, {"requested": req, "applied": np.minimum(req, 24.0), "sent": np.ones(N),
                                               "clamped": (req > 24).astype(float),
                                               "fallback": ((t > 25) & (t < 28)).astype(float)})  # fmt: skip
    if "truth" in parts:
        rec.append_rows("truth", t, {"winding.T": T, "rotor.w": w})
    rec.close({"status": "ok"})
    return path


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, path


def test_full_run_writes_every_figure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _write_run(tmp_path / "run1.h5", {"meas", "estimate", "innovation", "health", "timing", "commands", "truth"})
    out = plot_run(path, tmp_path / "fig")
    assert [p.name for p in out] == [f"run1_{f}.png" for f in FIGURES]
    for p in out:
        _assert_png(p)
    assert not [p for p in (tmp_path / "fig").iterdir() if p.name.startswith(".")]  # no temporary left


def test_truth_is_overlaid_on_the_estimates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """From the record's own truth stream, or from a separate truth record (figures built, not saved)."""
    own = read_record(_write_run(tmp_path / "bench.h5", {"estimate", "truth"}, kind="bench"))
    est = read_record(_write_run(tmp_path / "est.h5", {"estimate"}))
    truth = read_record(_write_run(tmp_path / "truth.h5", {"truth"}, kind="bench"))
    for rec, tr, expected in ((own, None, 2), (est, truth, 2), (est, None, 0)):
        fig = _fig_estimates(rec, tr, True)
        assert fig is not None
        lines = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label() == "truth"]
        assert len(lines) == expected
    winding = fig.axes[0]
    assert "degC" in winding.get_ylabel()  # K shown in degC


def test_partial_complete_record_follow_draws_only_possible_figures(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _write_run(tmp_path / "part.h5", {"health", "commands"})
    assert follow(path, tmp_path / "fig", interval=0.05, max_updates=5) == 1  # complete: one update, then stop
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["part_commands.png", "part_health.png"]
    for p in (tmp_path / "fig").iterdir():
        _assert_png(p)


def test_streams_without_samples_are_skipped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rec = Recorder(tmp_path / "live.h5", kind="run")
    rec.add_stream("meas/x", [_si("x", "A", "measurement")])
    rec.add_stream("estimate", [_si("s", "K", "state")])
    rec.add_stream("innovation/x", [_si("x", "A", "innovation"), _si("x.S", "A^2", "variance")])
    rec.start()
    rec.append("meas/x", 0.0, {"x": 1.0})
    rec.append("meas/x", 1.0, {"x": 2.0})
    rec.close()
    assert [p.name for p in plot_run(tmp_path / "live.h5", tmp_path, stem="s")] == ["s_signals.png"]


def test_follow_stop_callable_and_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    n = follow(tmp_path / "nothing.h5", tmp_path, interval=0.05, stop=lambda: time.monotonic() - t0 > 0.3)
    assert n == 0 and time.monotonic() - t0 < 5.0


def test_follow_a_file_written_by_a_child_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "live.h5"
    with subprocess.Popen([sys.executable, str(CHILD), str(path), "--flush", "0.1", "--seconds", "5",
                           "--no-health"],
                          stdout=subprocess.PIPE, text=True) as proc:  # fmt: skip
        watchdog = threading.Timer(120.0, proc.kill)  # a stuck test fails instead of hanging
        watchdog.start()
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
            assert proc.stdout.readline().startswith("flushed")
            n = follow(path, tmp_path / "fig", interval=0.2, max_updates=1)
        finally:
            watchdog.cancel()
            proc.kill()
            proc.communicate(timeout=10)
    assert n == 1
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["live_signals.png", "live_timing.png"]
    for p in (tmp_path / "fig").iterdir():
        _assert_png(p)


def test_follow_in_a_thread_while_this_process_records(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "own.h5"
    rec = Recorder(path, kind="run", flush_interval=0.05)
    rec.add_stream("health", [_si("status", "1", "status"), _si("stale_sensors", "1", "status")])
    rec.start()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(follow(path, tmp_path / "fig", interval=0.1)))
    thread.start()
    for k in range(60):
        rec.append("health", 0.1 * k, {"status": float(k // 20), "stale_sensors": 0.0})
        rec.maybe_flush()
        time.sleep(0.01)
    rec.close({"status": "ok"})
    thread.join(timeout=20)
    assert not thread.is_alive() and result and result[0] >= 1  # stopped by itself: the file is complete
    assert read_record(path).attrs["complete"]
    _assert_png(tmp_path / "fig" / "own_health.png")
