"""The full live loop: virtual bench -> transport -> twin runner -> (closed loop) commands -> bench.

The bench runs in a thread of the test process (its own link, its own sockets/connections) and the
runner in the test's main thread; both use the real transports. One compiled model pair is shared
by every test (session fixture, disk-cached).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from phystwin.hil.setup import bench_setup, make_runner, runner_setup
from phystwin.hil.transports import open_bench_link, open_twin_link
from phystwin.records.config import parse_config
from phystwin.records.hdf5 import read_record
from phystwin.records.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]
BENCH = (ROOT / "examples" / "dc_motor_bench.toml").read_text()
TWIN = (ROOT / "examples" / "dc_motor_twin.toml").read_text()

SHORT_BENCH = re.sub(r'(?m)^duration = ".*"', 'duration = "12 s"', BENCH).replace(
    "rate_factor = 10.0", "rate_factor = 4.0"
)
assert 'duration = "12 s"' in SHORT_BENCH


def _run_loop(
    twin_url: str,
    bench_url: str,
    *,
    mode: str = "closed_loop",
    transport: dict[str, Any] | None = None,
    bench_text: str = SHORT_BENCH,
    tmp_path: Path,
    before_bench: Any = None,
) -> tuple[Any, Any, Path, Any]:
    twin_cfg = parse_config(TWIN.replace('mode = "closed_loop"', f'mode = "{mode}"'))
    bench_cfg = parse_config(bench_text)
    setup = runner_setup(twin_cfg)
    bsetup = bench_setup(bench_cfg)
    out = tmp_path / "run.h5"
    rec = Recorder(out, kind="run", config_text=twin_cfg.text)
    opts = transport or {}
    result: dict[str, Any] = {}
    with open_twin_link(twin_url, tuple(setup.streams), setup.actuators, opts) as link:
        if twin_url.startswith("udp://"):
            bench_url = f"udp://127.0.0.1:{link.address[1]}"  # type: ignore[attr-defined]
        runner = make_runner(setup, link, rec, mode)
        rec.start()
        done = threading.Event()

        def bench() -> None:
            try:
                with open_bench_link(bench_url, bsetup.streams, bsetup.actuators, opts) as blink:
                    if before_bench is not None:
                        before_bench(blink)
                    result["bench"] = bsetup.bench.run(blink, bench_cfg.bench.duration, rate_factor=4.0)
            except Exception as exc:  # reported by the assertion below
                result["error"] = exc
            finally:
                done.set()

        th = threading.Thread(target=bench, daemon=True)
        th.start()
        summary = runner.run(idle_timeout=20.0, stop=lambda: done.is_set() and not th.is_alive())
        th.join(30)
        rec.close(summary.as_dict())
    assert "error" not in result, result.get("error")
    return summary, result["bench"], out, bsetup.bench


def _check(summary: Any, bench_summary: Any, out: Path, bench: Any, *, closed: bool) -> None:
    counts = summary.measurements["current+speed"]
    published = bench_summary.published["current+speed"]
    assert counts.get("accepted", 0) >= 0.95 * published, (counts, published)
    record = read_record(out)
    est = record.stream("estimate")
    assert est.t.size > 100 and np.all(np.diff(est.t) > 0)
    # the twin follows the bench: its last estimate against the last speed sample it fused, and it
    # reached (nearly) the end of the bench's run
    meas = record.stream("meas/current+speed")
    ok = meas.signals["outcome"].values == 0
    t_last, w_last = meas.t[ok][-1], meas.signals["speed"].values[ok][-1]
    w_est = np.interp(t_last, est.t, est.signals["rotor.w"].values)
    assert abs(w_est - w_last) < 2.0, (w_est, w_last)
    assert t_last > bench.t - 0.5
    final_truth_w = float(bench.x[bench.model.layout.state_index("rotor.w")])
    for name, stream in record.streams.items():
        assert np.all(np.diff(stream.t) > 0), name
        for sig in stream.signals.values():
            assert sig.unit != "" or sig.role in ("", "counter"), (name, sig.name)
    if closed:
        assert bench_summary.commands["voltage"] > 100
        cmds = record.stream("commands/voltage")
        assert np.all(cmds.signals["applied"].values[~np.isnan(cmds.signals["applied"].values)] <= 30.0)
        assert final_truth_w > 50.0  # the PI loop spun the motor up from rest
    else:
        assert sum(bench_summary.commands.values()) == 0
        assert summary.link["sent"] == 0


@pytest.mark.parametrize("mode", ["closed_loop", "advisory"])
def test_udp_loop(tmp_path: Path, mode: str) -> None:
    summary, bench_summary, out, bench = _run_loop("udp://127.0.0.1:0", "", mode=mode, tmp_path=tmp_path)
    _check(summary, bench_summary, out, bench, closed=mode == "closed_loop")
    if mode == "advisory":
        cmds = read_record(out).stream("commands/voltage")
        assert cmds.t.size > 100 and np.all(cmds.signals["sent"].values == 0)
    assert summary.latency["p99"] < 0.05


def test_mqtt_loop_with_authentication(tmp_path: Path, mosquitto: Any) -> None:
    """The closed loop through a real mosquitto that requires a password."""
    url = mosquitto.url("loop")
    opts = {"mqtt": mosquitto.options()}
    summary, bench_summary, out, bench = _run_loop(url, url, transport=opts, tmp_path=tmp_path)
    _check(summary, bench_summary, out, bench, closed=True)


def test_can_loop_on_the_virtual_bus(tmp_path: Path) -> None:
    """The closed loop over python-can's virtual bus (CAN FD frames)."""
    url = f"can://virtual/loop-{tmp_path.name}"
    summary, bench_summary, out, bench = _run_loop(url, url, tmp_path=tmp_path)
    _check(summary, bench_summary, out, bench, closed=True)
