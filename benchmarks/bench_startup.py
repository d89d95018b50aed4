"""Cold and warm start of ``phystwin simulate`` on the DC motor twin (wall time of the whole command).

Cold: empty phystwin model cache and empty numba cache (everything compiles). Warm: the same command
again with both caches filled. Reported as medians of repeats; "to results" is the command without
the PNG figure (matplotlib rendering is measured separately as the difference).

Usage: python benchmarks/bench_startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "dc_motor.toml"


def _phystwin() -> list[str]:
    exe = Path(sys.executable).with_name("phystwin")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "phystwin.cli"]


def run_once(cache: Path, out: Path, png: bool) -> float:
    env = dict(os.environ, PHYSTWIN_CACHE_DIR=str(cache / "phystwin"), NUMBA_CACHE_DIR=str(cache / "numba"))
    cmd = [*_phystwin(), "simulate", str(CONFIG), "--duration", "3600", "--out", str(out / "run.h5")]
    if not png:
        cmd.append("--no-plot")
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=900)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cold, warm, warm_png = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            cold.append(run_once(cache, cache, png=False))
            warm.append(run_once(cache, cache, png=False))
            warm_png.append(run_once(cache, cache, png=True))
            shutil.rmtree(cache / "phystwin", ignore_errors=True)
    res = {
        "cold_s": statistics.median(cold),
        "warm_s": statistics.median(warm),
        "warm_with_png_s": statistics.median(warm_png),
        "repeats": args.repeats,
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "startup.json").write_text(json.dumps(res, indent=2))
    print("| phystwin simulate examples/dc_motor.toml --duration 3600 | median wall time [s] |")
    print("|---|---|")
    print(f"| cold (empty caches, compiles everything) | {res['cold_s']:.2f} |")
    print(f"| warm, to results (HDF5 written, --no-plot) | {res['warm_s']:.2f} |")
    print(f"| warm, with the PNG figure | {res['warm_with_png_s']:.2f} |")


if __name__ == "__main__":
    main()
