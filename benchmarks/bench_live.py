"""Live twin runner over UDP on loopback: sustained sensor rate and measurement-to-estimate latency.

The bench (``python -m phystwin.cli bench serve``, a separate process as in :mod:`phystwin.cli.demo`)
publishes the ``current+speed`` stream of ``examples/dc_motor_bench.toml``; the twin
(``examples/dc_motor_twin.toml``: UKF, housing convection estimated) runs :class:`TwinRunner` in
``shadow`` mode with a live :class:`Recorder`. The ``current`` and ``speed`` sensor rates are rewritten
to ``--sensor-rate`` Hz in copies of BOTH configs (they must agree); the bench step stays 1 ms and
``--rate-factor`` scales wall time, so sensors at 1000 Hz and rate factors 1, 2, 5, 8 give 1, 2, 5, 8
kHz of ``current+speed`` packets per wall second. The speed sensor's random dropout (0.2 %) is set to
0 in the bench's copy, so every sample the sensors take is published and the offered rate is the
nominal one (the scripted 3 s encoder dropout lies after the benchmark's bench time).

1. Sweep: for each rate factor, ``--sweep-wall`` seconds of wall time (bench time = sweep_wall * rf).
   A rate "keeps up" when (median over repeats) the runner processed >= 99 % of the published
   samples, finished within 0.5 s of the bench's last publish, and latency p99 < 50 ms.
2. Latency at 1 kHz (rate factor 1, ``--duration`` s of bench time): latency p50/p99/max and tick
   lateness p99.

Run from the repository root::

    .venv/bin/python benchmarks/bench_live.py                      # default: ~4-5 min
    .venv/bin/python benchmarks/bench_live.py --repeats 1 --rates 1 5 --duration 5
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_CONFIG = ROOT / "examples" / "dc_motor_bench.toml"
TWIN_CONFIG = ROOT / "examples" / "dc_motor_twin.toml"
STREAM = "current+speed"


def set_sensor_rates(text: str, rate: float, sensors: tuple[str, ...] = ("current", "speed")) -> str:
    """``text`` with ``rate = ...`` of each ``[sensors.<name>]`` section replaced by ``rate``."""
    for name in sensors:
        pat = re.compile(rf"(\[sensors\.{re.escape(name)}\][^\[]*?\n\s*rate\s*=\s*)([0-9.eE+-]+)")
        text, n = pat.subn(rf"\g<1>{rate!r}", text, count=1)
        if n != 1:
            raise RuntimeError(f"no rate in [sensors.{name}]")
    return text


def write_configs(tmp: Path, rate: float) -> tuple[Path, Path]:
    bench = tmp / f"bench_{rate:g}.toml"
    twin = tmp / f"twin_{rate:g}.toml"
    bench_text = set_sensor_rates(BENCH_CONFIG.read_text(), rate)
    bench_text, n = re.subn(r"(?m)^dropout = [0-9.eE+-]+", "dropout = 0.0", bench_text)
    if n != 1:
        raise RuntimeError("expected one random dropout rate in the bench config")
    bench.write_text(bench_text)
    twin.write_text(set_sensor_rates(TWIN_CONFIG.read_text(), rate))
    return bench, twin


def parse_bench_stdout(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"bench time\W+([0-9.]+) s in ([0-9.]+) s wall", text)
    if m:
        out["bench_time"], out["bench_wall"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"published\W+current\+speed: (\d+)", text)
    if m:
        out["published"] = {STREAM: int(m.group(1))}
    return out


DRAIN_CAP = 3.0  # s after the bench exits: a runner still busy by then has long failed the 0.5 s criterion


def one_run(
    tmp: Path, rate: float, rate_factor: float, bench_seconds: float, tag: str, *, profile: bool = False
) -> dict[str, Any]:
    """One bench process + one shadow-mode runner with recording; returns the figures."""
    from phystwin.config.live import runner_setup
    from phystwin.config.schema import read_config
    from phystwin.hil.runner import TwinRunner
    from phystwin.hil.transports import open_twin_link
    from phystwin.records.recorder import Recorder

    bench_cfg, twin_cfg_path = write_configs(tmp, rate)
    twin_cfg = read_config(twin_cfg_path)
    setup = runner_setup(twin_cfg)
    sec = setup.section
    run_path = tmp / f"run_{tag}.h5"
    rec = Recorder(run_path, kind="run", config_text=twin_cfg.text, attrs={"twin_name": twin_cfg.label})
    with open_twin_link("udp://127.0.0.1:0", tuple(setup.streams), setup.actuators, twin_cfg.transport) as link:
        host, port = link.address  # type: ignore[attr-defined]
        cmd = [
            sys.executable, "-m", "phystwin.cli", "bench", "serve", str(bench_cfg),
            "--url", f"udp://{host}:{port}", "--rate-factor", f"{rate_factor:g}", "--duration", f"{bench_seconds:g}s",
        ]  # fmt: skip
        runner = TwinRunner(
            setup.engine, link, setup.streams, mode="shadow", watchdog=sec.watchdog, tick_rate=sec.tick_rate,
            recorder=rec, record_interval=sec.record_interval,
        )  # fmt: skip
        marks: dict[str, float] = {}
        orig = runner._handle

        def handle(arrival: Any) -> None:
            # a runner still busy DRAIN_CAP s after the bench exited has failed: drop the rest of its
            # backlog (counted as "abandoned") so that a run stays bounded in time
            exited = marks.get("exited")
            if exited is not None and time.monotonic() - exited > DRAIN_CAP:
                marks["abandoned"] = marks.get("abandoned", 0) + 1
                return
            if exited is None and proc.poll() is not None:
                marks["exited"] = time.monotonic()
            orig(arrival)
            if arrival.measurement.sensor == STREAM:
                marks.setdefault("first", arrival.received_at)
                marks["last"] = time.monotonic()

        runner._handle = handle  # type: ignore[method-assign]
        rec.start()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)

        def stop() -> bool:
            if proc.poll() is None:
                return False
            now = time.monotonic()
            exited = marks.setdefault("exited", now)
            # drain: stop once nothing came for 0.3 s, at most DRAIN_CAP s after the bench exited
            return now - marks.get("last", exited) > 0.3 or now - exited > DRAIN_CAP

        prof = cProfile.Profile() if profile else None
        try:
            if prof is not None:
                prof.enable()
            summary = runner.run(idle_timeout=120.0, stop=stop)
        finally:
            if prof is not None:
                prof.disable()
            if proc.poll() is None:
                proc.terminate()
            stdout = proc.communicate(timeout=30)[0]
            rec.close(summary.as_dict() if "summary" in locals() else {"status": "error"})
    if proc.returncode != 0:
        raise RuntimeError(f"bench failed (exit {proc.returncode}):\n{stdout}")
    b = parse_bench_stdout(stdout)
    published = b.get("published", {}).get(STREAM, 0)
    counts = summary.measurements.get(STREAM, {})
    processed = sum(counts.values())
    bench_wall = b.get("bench_wall", float("nan"))
    bench_end = marks.get("first", float("nan")) + bench_wall
    res = {
        "rate": rate,
        "rate_factor": rate_factor,
        "published": published,
        "processed": processed,
        "accepted": counts.get("accepted", 0),
        "abandoned": int(marks.get("abandoned", 0)),
        "counts": counts,
        "fraction": processed / published if published else float("nan"),
        "agg_rate": published / bench_wall if bench_wall else float("nan"),
        "bench_wall": bench_wall,
        "finish_lag": max(0.0, marks["last"] - bench_end)
        if "last" in marks and bench_end == bench_end
        else float("nan"),
        "lat_p50": summary.latency.get("p50", float("nan")),
        "lat_p99": summary.latency.get("p99", float("nan")),
        "lat_max": summary.latency.get("max", float("nan")),
        "late_p99": summary.lateness.get("lateness_p99", float("nan")),
        "deadline_misses": summary.deadline_misses,
        "ticks": summary.ticks,
        "runner_wall": summary.wall_time,
        "link": summary.link,
        "recorder_dropped": dict(getattr(rec, "dropped", {}) or {}),
    }
    if prof is not None:
        res["profile"] = prof
    return res


def med(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def profile_report(prof: cProfile.Profile, n_meas: int, top: int = 25) -> str:
    s = io.StringIO()
    st = pstats.Stats(prof, stream=s)
    st.sort_stats("tottime").print_stats(top)
    lines = [f"cProfile of TwinRunner.run (shadow, recording), {n_meas} {STREAM} measurements", ""]
    lines.append("top self time per measurement:")
    stats = st.stats  # type: ignore[attr-defined]
    items = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in items:
        short = "/".join(Path(file).parts[-2:])
        lines.append(f"  {1e6 * tt / max(n_meas, 1):8.1f} us self  {1e6 * ct / max(n_meas, 1):8.1f} us cum  "
                     f"{nc:>8} calls  {short}:{line}({fn})")  # fmt: skip
    lines.append("")
    lines.append("cumulative per measurement of the main pieces:")
    want = ("_handle", "push", "append", "_record_meas", "_record_estimate", "poll", "decode_measurement",
            "_tick", "maybe_flush", "handle")  # fmt: skip
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in sorted(stats.items(), key=lambda kv: -kv[1][3]):
        if fn in want and ("phystwin" in file or "bench_live" in file):
            short = "/".join(Path(file).parts[-2:])
            lines.append(f"  {1e6 * ct / max(n_meas, 1):8.1f} us cum  {nc:>8} calls  {short}:{line}({fn})")
    return "\n".join(lines)


def main() -> int:
    global DRAIN_CAP
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="bench seconds of the 1 kHz latency run")
    ap.add_argument("--sweep-wall", type=float, default=5.0, help="wall seconds per sweep run (bench s = this * rf)")
    ap.add_argument("--sensor-rate", type=float, default=1000.0, help="current/speed rate [Hz] in both configs")
    ap.add_argument("--rates", type=float, nargs="+", default=[1.0, 2.0, 5.0, 8.0], help="rate factors to sweep")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                    help="cProfile one run at the highest rate (auto: when < 5 kHz keeps up)")  # fmt: skip
    ap.add_argument("--json", type=Path, default=Path("/tmp/bench_live.json"))
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=0,
        help="set OPENBLAS/OMP/MKL_NUM_THREADS (runner and bench) before numpy loads; 0: leave as is",
    )
    ap.add_argument("--drain-cap", type=float, default=DRAIN_CAP, help="s to keep draining after the bench exits")
    args = ap.parse_args()
    if args.blas_threads > 0:
        if "numpy" in sys.modules:
            raise RuntimeError("numpy already imported: BLAS thread count cannot be set")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    DRAIN_CAP = args.drain_cap
    command = shlex.join([".venv/bin/python", "benchmarks/bench_live.py", *sys.argv[1:]])
    t_start = time.monotonic()
    out: dict[str, Any] = {"command": command, "sweep": {}, "latency": []}
    with tempfile.TemporaryDirectory(prefix="bench_live_") as td:
        tmp = Path(td)
        sweep_rows: list[tuple[float, dict[str, Any]]] = []
        if not args.skip_sweep:
            for rf in args.rates:
                runs = []
                for k in range(args.repeats):
                    r = one_run(tmp, args.sensor_rate, rf, args.sweep_wall * rf, f"sweep_{rf:g}_{k}")
                    runs.append(r)
                    print(
                        f"  rf {rf:g} #{k}: published {r['published']} processed {r['processed']} "
                        f"({100 * r['fraction']:.2f} %) agg {r['agg_rate']:.0f}/s lag {r['finish_lag']:.3f} s "
                        f"lat p50 {1e3 * r['lat_p50']:.3f} p99 {1e3 * r['lat_p99']:.3f} max {1e3 * r['lat_max']:.1f} ms "
                        f"late p99 {1e3 * r['late_p99']:.2f} ms; bench wall {r['bench_wall']:.2f} s; abandoned {r['abandoned']}; "
                        f"counts {r['counts']}",
                        flush=True,
                    )
                agg = {k: med(runs, k) for k in ("published", "processed", "fraction", "agg_rate", "finish_lag",
                                                  "lat_p50", "lat_p99", "lat_max", "late_p99", "bench_wall",
                                                  "runner_wall")}  # fmt: skip
                agg["keeps_up"] = agg["fraction"] >= 0.99 and agg["finish_lag"] <= 0.5 and agg["lat_p99"] < 0.05
                agg["runs_keeping_up"] = sum(
                    r["fraction"] >= 0.99 and r["finish_lag"] <= 0.5 and r["lat_p99"] < 0.05 for r in runs
                )
                sweep_rows.append((rf, agg))
                out["sweep"][f"{rf:g}"] = {"median": agg, "runs": [{k: v for k, v in r.items() if k != "profile"}
                                                                    for r in runs]}  # fmt: skip
        lat_runs: list[dict[str, Any]] = []
        if not args.skip_latency:
            for k in range(args.repeats):
                r = one_run(tmp, args.sensor_rate, 1.0, args.duration, f"lat_{k}")
                lat_runs.append(r)
                print(
                    f"  latency #{k}: p50 {1e3 * r['lat_p50']:.3f} p99 {1e3 * r['lat_p99']:.3f} max "
                    f"{1e3 * r['lat_max']:.2f} ms; lateness p99 {1e3 * r['late_p99']:.3f} ms; "
                    f"processed {r['processed']}/{r['published']}",
                    flush=True,
                )
                out["latency"].append({kk: v for kk, v in r.items() if kk != "profile"})
        best = max((rf for rf, a in sweep_rows if a["keeps_up"]), default=None)
        best_rate = None if best is None else next(a["agg_rate"] for rf, a in sweep_rows if rf == best)
        do_prof = args.profile == "always" or (
            args.profile == "auto" and sweep_rows and (best_rate is None or best_rate < 5000.0)
        )
        prof_text = ""
        if do_prof and sweep_rows:
            rf = max(args.rates)
            r = one_run(tmp, args.sensor_rate, rf, min(args.sweep_wall, 2.0) * rf, "profile", profile=True)
            prof_text = profile_report(r["profile"], r["processed"])
            Path("/tmp/bench_live_profile.txt").write_text(prof_text)

    # ------------------------------------------------------------------ report
    print()
    print(f"Command: `{command}`  (total {time.monotonic() - t_start:.0f} s; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs)")  # fmt: skip
    print()
    if sweep_rows:
        print(f"### Live runner sustained rate (UDP loopback, UKF, shadow mode, recording on; "
              f"medians of {args.repeats})")  # fmt: skip
        print()
        print("| rate factor | nominal rate [Hz] | published | processed | processed [%] | achieved [pkt/s] "
              "| finish lag [s] | latency p50 [ms] | latency p99 [ms] | bench wall [s] | keeps up |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|")
        for rf, a in sweep_rows:
            print(
                f"| {rf:g} | {rf * args.sensor_rate:.0f} | {a['published']:.0f} | {a['processed']:.0f} | "
                f"{100 * a['fraction']:.2f} | {a['agg_rate']:.0f} | {a['finish_lag']:.3f} | {1e3 * a['lat_p50']:.3f} | "
                f"{1e3 * a['lat_p99']:.3f} | {a['bench_wall']:.2f} | "
                f"{'yes' if a['keeps_up'] else 'no'} ({a['runs_keeping_up']}/{args.repeats}) |"
            )
        print()
        print(f"Highest sustained rate that keeps up: "
              f"{'none' if best is None else f'{best_rate:.0f} pkt/s (rate factor {best:g})'} (target >= 5000)")  # fmt: skip
        out["best_rate_factor"], out["best_rate"] = best, best_rate
    if lat_runs:
        print()
        print(f"### Latency at {args.sensor_rate:g} Hz (rate factor 1, {args.duration:g} s; "
              f"median of {len(lat_runs)} runs)")  # fmt: skip
        print()
        print(
            "| latency p50 [ms] | latency p99 [ms] | latency max [ms] | tick lateness p99 [ms] | processed / published |"
        )
        print("|---:|---:|---:|---:|---:|")
        print(
            f"| {1e3 * med(lat_runs, 'lat_p50'):.3f} | {1e3 * med(lat_runs, 'lat_p99'):.3f} | "
            f"{1e3 * med(lat_runs, 'lat_max'):.2f} | {1e3 * med(lat_runs, 'late_p99'):.3f} | "
            f"{med(lat_runs, 'processed'):.0f} / {med(lat_runs, 'published'):.0f} |"
        )
        print()
        print("Target: p99 < 2 ms at 1 kHz.")
        out["latency_median"] = {k: med(lat_runs, k) for k in ("lat_p50", "lat_p99", "lat_max", "late_p99")}
    if prof_text:
        print()
        print(prof_text)
    args.json.write_text(json.dumps(out, indent=1, default=str))
    print(f"\n(JSON: {args.json})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
