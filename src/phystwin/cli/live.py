"""The live commands behind the CLI: ``bench serve``, ``run`` and ``plot`` (see :mod:`phystwin.cli`)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phystwin.cli.estimation import CommandResult
from phystwin.cli.provenance import run_provenance
from phystwin.config.schema import read_config
from phystwin.errors import OperationError

__all__ = ["DEFAULT_URLS", "run_bench", "run_plot", "run_twin"]

DEFAULT_URLS = {
    "udp": "udp://127.0.0.1:5005",
    "mqtt": "mqtt://127.0.0.1:1883/phystwin",
    "opcua": "opc.tcp://127.0.0.1:4840/phystwin/",
    "can": "can://virtual/phystwin",
    "modbus": "modbus://127.0.0.1:5020",
}


def _stop_on_signals() -> Callable[[], bool]:
    """A stop flag set by SIGTERM and SIGINT (so a killed run still closes its record cleanly)."""
    flag = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: flag.set())
    return flag.is_set


def _fmt_pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def run_bench(
    config_path: Path, url: str, out: Path | None, rate_factor: float | None, duration: float | None
) -> CommandResult:
    """Serve the virtual bench of ``config_path`` on ``url`` until its duration is played."""
    from phystwin.config.live import bench_setup
    from phystwin.hil.transports import open_bench_link
    from phystwin.records.recorder import Recorder

    config = read_config(config_path)
    setup = bench_setup(config)
    sec = setup.section
    bench = setup.bench
    factor = sec.rate_factor if rate_factor is None else rate_factor
    dur = sec.duration if duration is None else duration
    stop = _stop_on_signals()
    rec = None
    if out is not None:
        prov = run_provenance(config, bench.model, seed=sec.seed, url=url, rate_factor=factor)
        rec = Recorder(out, kind="bench", config_text=config.text, provenance=prov, attrs={"twin_name": config.label})
        for name, signals in bench.record_streams().items():
            rec.add_stream(name, signals)
        rec.start()
    summary = None
    try:
        with open_bench_link(url, setup.streams, setup.actuators, config.transport, setup.stream_widths) as link:
            summary = bench.run(
                link, dur, rate_factor=factor, recorder=rec, record_interval=sec.record_interval, stop=stop
            )
    finally:
        if rec is not None:
            rec.close(summary.as_dict() if summary is not None else {"status": "error"})
    res = CommandResult(f"bench {config.label} on {url}")
    res.rows += [
        ("bench time", f"{summary.duration:.3f} s in {summary.wall_time:.2f} s wall"),
        ("published", ", ".join(f"{k}: {v}" for k, v in summary.published.items())),
        ("dropped (sensor model)", ", ".join(f"{k}: {v}" for k, v in summary.dropped.items())),
        ("commands applied", ", ".join(f"{k}: {v}" for k, v in summary.commands.items()) or "none"),
        ("faults", "; ".join(summary.faults_applied) or "none"),
    ]
    if summary.pacing:
        p = summary.pacing
        res.rows.append(
            ("pacing", f"{p['ticks']} ticks, {p['misses']} misses, lateness p99 {1e3 * p['lateness_p99']:.2f} ms")
        )
    if out is not None:
        res.files.append(out)
    return res


def run_twin(
    config_path: Path,
    url: str,
    out: Path | None,
    mode: str | None,
    duration: float | None,
    png_dir: Path | None,
) -> tuple[CommandResult, dict[str, Any]]:
    """Run the twin of ``config_path`` on the feed at ``url``; returns the printed result and the summary."""
    from phystwin.config.live import make_runner, runner_setup
    from phystwin.hil.transports import open_twin_link
    from phystwin.records.recorder import Recorder

    config = read_config(config_path)
    setup = runner_setup(config)
    sec = setup.section
    if mode is not None:
        sec = sec.model_copy(update={"mode": mode})
        if mode != "shadow" and setup.control is None:
            from phystwin.config.schema import ConfigError

            raise ConfigError([("control", f"mode {mode!r} needs a [control] section")], config.source)
    stop = _stop_on_signals()
    rec = None
    if out is not None:
        prov = run_provenance(config, setup.model, url=url, mode=sec.mode)
        rec = Recorder(out, kind="run", config_text=config.text, provenance=prov, attrs={"twin_name": config.label})
    summary = None
    try:
        with open_twin_link(url, tuple(setup.streams), setup.actuators, config.transport, setup.stream_widths) as link:
            runner = make_runner(setup, link, rec, sec.mode)
            if rec is not None:
                rec.start()
            summary = runner.run(duration=duration or sec.duration, idle_timeout=sec.idle_timeout, stop=stop)
    finally:
        if rec is not None:
            rec.close(summary.as_dict() if summary is not None else {"status": "error"})
    if summary is None:  # pragma: no cover - run() returns or raises
        raise OperationError("the runner returned no summary")
    res = CommandResult(f"twin {config.label} ({sec.mode}) on {url}")
    res.rows += summary_rows(summary.as_dict())
    if out is not None:
        res.files.append(out)
        if png_dir is not None:
            from phystwin.plots.run import plot_run

            res.files += plot_run(out, png_dir)
    return res, summary.as_dict()


def summary_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """Printable rows of a run summary (:class:`~phystwin.hil.runner.RunSummary` as a dict)."""
    rows = [
        ("status", f"{s['status']}" + (f" ({s['message']})" if s.get("message") else "")),
        ("time", f"{s['twin_time']:.3f} s twin time in {s['wall_time']:.2f} s wall"),
    ]
    for stream, counts in s["measurements"].items():
        rows.append((f"stream {stream}", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no data"))
    lat = s["latency"]
    rows.append(
        (
            "latency (decode to estimate)",
            f"p50 {1e3 * lat['p50']:.3f} ms, p99 {1e3 * lat['p99']:.3f} ms, max {1e3 * lat['max']:.3f} ms",
        )
    )
    late = s["lateness"]
    rows.append(
        (
            "tick lateness",
            f"p50 {1e3 * late.get('lateness_p50', float('nan')):.3f} ms, "
            f"p99 {1e3 * late.get('lateness_p99', float('nan')):.3f} ms; "
            f"{s['deadline_misses']} misses in {s['ticks']} ticks",
        )
    )
    rows.append(("sync health", ", ".join(f"{k} {_fmt_pct(v)}" for k, v in s["health_fraction"].items())))
    link = s["link"]
    rows.append(("link", f"received {link['received']}, bad {link['bad']}, reconnects {link['reconnects']}"))
    for act, c in s["commands"].items():
        rows.append((f"commands {act}", ", ".join(f"{k} {v}" for k, v in sorted(c.items()))))
    return rows


def run_plot(record: Path, out_dir: Path | None, follow: bool, interval: float) -> CommandResult:
    """Figures of any record (``--follow``: refresh a run or bench record while it is being written).

    A file that is not a readable phystwin record, or one with nothing to draw, raises
    :class:`~phystwin.records.hdf5.RecordError` (exit status 2).
    """
    from phystwin.records.hdf5 import read_record

    # read (and so refuse a damaged file) before matplotlib and the plotting modules are imported:
    # a file that cannot be drawn is reported in a fraction of a second
    rec = None if follow else read_record(record)
    from phystwin.plots.record import plot_record
    from phystwin.plots.run import follow as follow_record

    dest = out_dir or record.parent
    res = CommandResult(f"figures of {record}")
    if follow:
        n = follow_record(record, dest, interval=interval, stop=_stop_on_signals())
        res.rows.append(("updates", str(n)))
    res.files += plot_record(rec if rec is not None else record, dest)
    return res


def dump_summary(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=1, default=str)
