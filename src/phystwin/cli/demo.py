"""The main job end to end: a virtual bench and a closed-loop twin over UDP on loopback.

:func:`run_demo` opens the twin's UDP port on 127.0.0.1, starts ``phystwin bench serve`` as a
separate process publishing to it (accelerated duty cycle, a cooling failure, a drifting
thermocouple, an encoder dropout), runs the twin in closed loop until the bench has finished,
then compares the twin's estimates with the bench's recorded truth and writes the figures.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from phystwin.cli.estimation import CommandResult
from phystwin.config.schema import read_config
from phystwin.errors import OperationError

__all__ = ["run_demo", "tracking_errors"]

EXAMPLES = Path("examples")
BENCH_CONFIG = EXAMPLES / "dc_motor_bench.toml"
TWIN_CONFIG = EXAMPLES / "dc_motor_twin.toml"


def tracking_errors(run_path: Path, bench_path: Path, fault_time: float | None = None) -> dict[str, Any]:
    """Estimates of a run record against the truth of the bench record that fed it.

    Returns RMS errors of every estimated state the truth has (after the first 60 s of twin time, the
    filter's convergence), the final estimate of each estimated parameter against the truth, and the
    RMS speed error of the closed loop against its setpoint when available.
    """
    from phystwin.records.hdf5 import read_record

    run = read_record(run_path)
    bench = read_record(bench_path)
    est = run.stream("estimate")
    truth = bench.stream("truth")
    out: dict[str, Any] = {"rms_error": {}, "units": {}}
    keep = est.t >= min(60.0, 0.25 * est.t[-1]) if est.t.size else est.t
    for name, sig in est.signals.items():
        if sig.role != "state" or name not in truth.signals:
            continue
        ref = np.interp(est.t[keep], truth.t, truth.signals[name].values)
        out["rms_error"][name] = float(np.sqrt(np.mean((sig.values[keep] - ref) ** 2))) if ref.size else math.nan
        out["units"][name] = sig.unit
    out["faults"] = json.loads(bench.attrs.get("summary", "{}")).get("faults_applied", [])
    return out


def _parameter_tracking(run_path: Path, name: str, before: float, after: float, fault_at: float) -> dict[str, float]:
    from phystwin.records.hdf5 import read_record

    est = read_record(run_path).stream("estimate")
    if name not in est.signals or not est.t.size:
        return {}
    v = est.signals[name].values
    sd = est.signals[f"{name}.sd"].values if f"{name}.sd" in est.signals else np.full_like(v, math.nan)
    pre = (est.t > fault_at - 60.0) & (est.t < fault_at)
    res = {
        "truth_before": before,
        "truth_after": after,
        "estimate_before_fault": float(np.mean(v[pre])) if pre.any() else math.nan,
        "final_estimate": float(v[-1]),
        "final_sd": float(sd[-1]),
        "final_error_pct": float(100 * abs(v[-1] - after) / abs(after)),
    }
    post = est.t >= fault_at
    close = np.abs(v - after) <= 0.1 * abs(after)
    # first time after the fault from which the estimate stays within 10 %
    idx = np.flatnonzero(post & ~close)
    last_out = est.t[idx[-1]] if idx.size else fault_at
    res["settled_within_10pct_after_s"] = float(last_out - fault_at) if close[-1] else math.nan
    return res


def run_demo(out_dir: Path, duration: float | None, rate_factor: float, port: int) -> CommandResult:
    """Run the demo (module docstring); returns the printed summary."""
    from phystwin.cli.live import summary_rows
    from phystwin.config.live import make_runner, runner_setup
    from phystwin.hil.transports import open_twin_link
    from phystwin.plots.run import plot_run
    from phystwin.records.recorder import Recorder

    for cfg in (BENCH_CONFIG, TWIN_CONFIG):
        if not cfg.exists():
            raise FileNotFoundError(f"{cfg} not found: run 'phystwin demo' from the phystwin source folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    run_path, bench_path = out_dir / "run.h5", out_dir / "bench.h5"
    twin_cfg = read_config(TWIN_CONFIG)
    bench_cfg = read_config(BENCH_CONFIG)
    setup = runner_setup(twin_cfg)
    sec = setup.section
    rec = Recorder(
        run_path, kind="run", config_text=twin_cfg.text, attrs={"twin_name": twin_cfg.label},
        provenance={"command": [Path(sys.argv[0]).name, *sys.argv[1:]], "bench_config": str(BENCH_CONFIG),
                    "bench_record": str(bench_path), "model_structure_hash": setup.model.structure_hash},
    )  # fmt: skip
    wall0 = time.monotonic()
    with open_twin_link(f"udp://127.0.0.1:{port}", tuple(setup.streams), setup.actuators, twin_cfg.transport) as link:
        host, real_port = link.address  # type: ignore[attr-defined]
        cmd = [
            sys.executable, "-m", "phystwin.cli", "bench", "serve", str(BENCH_CONFIG),
            "--url", f"udp://{host}:{real_port}", "--out", str(bench_path), "--rate-factor", str(rate_factor),
        ]  # fmt: skip
        if duration is not None:
            cmd += ["--duration", f"{duration}s"]
        runner = make_runner(setup, link, rec)
        rec.start()
        bench_log = (out_dir / "bench.log").open("w")
        proc = subprocess.Popen(cmd, stdout=bench_log, stderr=subprocess.STDOUT)  # noqa: S603
        ended: list[float] = []

        def bench_done() -> bool:
            if proc.poll() is None:
                return False
            ended.append(time.monotonic())
            return time.monotonic() - ended[0] > 0.5  # drain what is still in the socket

        try:
            # generous idle timeout: the bench process compiles its model before the first sample
            summary = runner.run(idle_timeout=max(sec.idle_timeout, 120.0), stop=bench_done)
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=30)
            bench_log.close()
            rec.close(summary.as_dict() if "summary" in locals() else {"status": "error"})
    if proc.returncode != 0:
        raise OperationError(f"the bench process failed (exit {proc.returncode}); see {out_dir / 'bench.log'}")
    res = CommandResult("phystwin demo: virtual bench + closed-loop twin over UDP")
    res.rows += summary_rows(summary.as_dict())
    fault = next((f for f in (bench_cfg.bench.faults if bench_cfg.bench else []) if f.kind == "parameter"), None)
    errors = tracking_errors(run_path, bench_path)
    for name, v in errors["rms_error"].items():
        res.rows.append((f"RMS error {name}", f"{v:.4g} {errors['units'][name]}"))
    if fault is not None and fault.parameter is not None:
        before = float(bench_cfg.parameters[fault.parameter].value)  # type: ignore[arg-type]
        after = float(fault.value.value) if fault.value is not None else math.nan  # type: ignore[arg-type]
        ptrack = _parameter_tracking(run_path, fault.parameter, before, after, float(fault.at))
        errors["parameter"] = {fault.parameter: ptrack}
        if ptrack:
            res.rows.append(
                (
                    f"{fault.parameter} (cooling fault at {float(fault.at):g} s)",
                    f"{before:g} -> {after:g}; estimate {ptrack['estimate_before_fault']:.3g} before, "
                    f"{ptrack['final_estimate']:.3g} +- {ptrack['final_sd']:.2g} at the end "
                    f"({ptrack['final_error_pct']:.1f} % off), within 10 % from "
                    f"{ptrack['settled_within_10pct_after_s']:.0f} s after the fault",
                )
            )
    res.rows.append(("wall time", f"{time.monotonic() - wall0:.1f} s"))
    (out_dir / "summary.json").write_text(
        json.dumps({"run": summary.as_dict(), "tracking": errors}, indent=1, default=str)
    )
    res.files += [run_path, bench_path, out_dir / "summary.json"]
    from phystwin.records.hdf5 import read_record

    res.files += plot_run(run_path, out_dir, truth=read_record(bench_path))
    return res
