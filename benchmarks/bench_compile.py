"""Compile time of the dc_motor twin, cold and warm, each in a fresh process.

``get_twin("dc_motor").build().compile(); model.functions()``: cold with an empty ``PHYSTWIN_CACHE_DIR``
(generate the module, check dimensions, trace and differentiate the equations, check the Jacobians,
compile every kernel), warm with the same folder again (everything loaded from the cache). Medians of
repeats. ``--src DIR`` measures another checkout's ``src`` folder (e.g. a worktree of an older commit)
with this interpreter, for before/after comparisons.

Usage: python benchmarks/bench_compile.py [--repeats N] [--src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = """
import time
from phystwin.physics.twins import get_twin
t0 = time.perf_counter()
model = get_twin("dc_motor").build().compile()
model.functions()
print(time.perf_counter() - t0)
"""


def compile_seconds(src: Path, cache: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(src), PHYSTWIN_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True, timeout=600)
    return float(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--src", type=Path, default=ROOT / "src")
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cold.append(compile_seconds(args.src, Path(tmp)))
            warm.append(compile_seconds(args.src, Path(tmp)))
    result = {"src": str(args.src), "cold_s": statistics.median(cold), "warm_s": statistics.median(warm),
              "cold": cold, "warm": warm}  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
