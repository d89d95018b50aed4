"""Co-simulation step cost: phystwin's master vs fmpy's Python loop vs a plain C loop, on the same FMU.

``dc_load`` (FMI 2.0 co-simulation, internal RK4 at 1e-4 s) is stepped with macro step 1e-3 s for 10 s of
simulated time (10 000 steps) with ``w_in = 10 sin(2 pi t)`` rad/s; each step does setReal(w_in) / doStep /
getReal(tau, w_load):

(a) :class:`phystwin.fmu.cosim.CoSimulation` (compiled loop calling the FMI functions by address),
(b) fmpy's ``FMU2Slave`` stepped from a Python loop,
(c) a C program (generated into a temp dir, ``gcc -O2``) that dlopens the same ``.so`` and runs the same loop,
    timed internally with ``clock_gettime``.

Each variant runs ``--repeats`` times on a fresh instance; the median wall time of the stepping loop
(instantiate/initialise excluded) is reported per step, with the ratios to C.

Run::

    .venv/bin/python benchmarks/bench_fmu_cosim.py [--repeats 7] [--t-end 10]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from phystwin.fmu.archive import safe_extract
from phystwin.fmu.build import _fmi_header_dir, build_fmu
from phystwin.fmu.cosim import CoSimulation
from phystwin.fmu.description import read_description
from phystwin.fmu.instance import FMUInstance

H = 1e-3
VR_W_IN, VR_TAU, VR_W_LOAD = 0, 10, 11

C_SOURCE = r"""
#define _POSIX_C_SOURCE 199309L
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "fmi2Functions.h"

static void logger(fmi2ComponentEnvironment e, fmi2String n, fmi2Status s, fmi2String c, fmi2String m, ...) {
    (void)e; (void)n; (void)s; (void)c; (void)m;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s lib guid resource_uri n_steps\n", argv[0]); return 2; }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    fmi2InstantiateTYPE *inst = (fmi2InstantiateTYPE *)dlsym(lib, "fmi2Instantiate");
    fmi2SetupExperimentTYPE *setup = (fmi2SetupExperimentTYPE *)dlsym(lib, "fmi2SetupExperiment");
    fmi2EnterInitializationModeTYPE *enter =
        (fmi2EnterInitializationModeTYPE *)dlsym(lib, "fmi2EnterInitializationMode");
    fmi2ExitInitializationModeTYPE *exit_ = (fmi2ExitInitializationModeTYPE *)dlsym(lib, "fmi2ExitInitializationMode");
    fmi2SetRealTYPE *set_real = (fmi2SetRealTYPE *)dlsym(lib, "fmi2SetReal");
    fmi2GetRealTYPE *get_real = (fmi2GetRealTYPE *)dlsym(lib, "fmi2GetReal");
    fmi2DoStepTYPE *do_step = (fmi2DoStepTYPE *)dlsym(lib, "fmi2DoStep");
    fmi2FreeInstanceTYPE *free_inst = (fmi2FreeInstanceTYPE *)dlsym(lib, "fmi2FreeInstance");
    fmi2CallbackFunctions cb = {logger, calloc, free, NULL, NULL};
    long n = atol(argv[4]);
    fmi2Component c = inst("bench", fmi2CoSimulation, argv[2], argv[3], &cb, fmi2False, fmi2False);
    if (!c) { fprintf(stderr, "fmi2Instantiate failed\n"); return 1; }
    const double h = 1e-3;
    const fmi2ValueReference vr_in[1] = {0}, vr_out[2] = {10, 11};
    double u[1], y[2], check = 0.0;
    setup(c, fmi2False, 0.0, 0.0, fmi2False, 0.0);
    enter(c);
    exit_(c);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long k = 0; k < n; k++) {
        double t = k * h;
        u[0] = 10.0 * sin(6.283185307179586 * t);
        if (set_real(c, vr_in, 1, u) > fmi2Warning) return 3;
        if (do_step(c, t, h, fmi2True) > fmi2Warning) return 3;
        if (get_real(c, vr_out, 2, y) > fmi2Warning) return 3;
        check += y[0];
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.9f %.17g\n", (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec), y[0] + 0.0 * check);
    free_inst(c);
    return 0;
}
"""


def w_in(t: np.ndarray | float) -> np.ndarray | float:
    return 10.0 * np.sin(2.0 * np.pi * t)


def bench_ours(fmu: Path, n: int) -> tuple[float, float]:
    with FMUInstance(fmu) as inst:
        inst.initialize(0.0, n * H)
        cs = CoSimulation({"load": inst}, [], method="jacobi")
        t0 = time.perf_counter()
        res = cs.run(0.0, n * H, H, {"load.w_in": w_in(np.arange(n + 1) * H)})
        elapsed = time.perf_counter() - t0
        assert res.compiled
        return elapsed, float(res["load.tau"][-1])


def bench_fmpy(fmu: Path, n: int) -> tuple[float, float]:
    from fmpy.fmi2 import FMU2Slave

    d = read_description(fmu)
    with tempfile.TemporaryDirectory() as tmp:
        safe_extract(fmu, tmp)
        slave = FMU2Slave(guid=d.guid, modelIdentifier=d.model_identifiers["CoSimulation"], unzipDirectory=tmp)
        slave.instantiate()
        slave.setupExperiment(startTime=0.0)
        slave.enterInitializationMode()
        slave.exitInitializationMode()
        y = [0.0, 0.0]
        t0 = time.perf_counter()
        for k in range(n):
            t = k * H
            slave.setReal([VR_W_IN], [float(w_in(t))])
            slave.doStep(t, H)
            y = slave.getReal([VR_TAU, VR_W_LOAD])
        elapsed = time.perf_counter() - t0
        slave.terminate()
        slave.freeInstance()
        return elapsed, float(y[0])


def build_c(workdir: Path) -> Path:
    src = workdir / "cloop.c"
    src.write_text(C_SOURCE)
    exe = workdir / "cloop"
    cmd = ["gcc", "-O2", "-std=c99", f"-I{_fmi_header_dir()}", str(src), "-o", str(exe), "-ldl", "-lm"]
    subprocess.run(cmd, check=True)
    return exe


def bench_c(exe: Path, fmu: Path, n: int, workdir: Path) -> tuple[float, float]:
    d = read_description(fmu)
    unpacked = safe_extract(fmu, workdir / "unpacked")
    lib = unpacked / "binaries" / "linux64" / f"{d.model_identifiers['CoSimulation']}.so"
    out = subprocess.run(
        [str(exe), str(lib), str(d.guid), (unpacked / "resources").as_uri(), str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--t-end", type=float, default=10.0, help="simulated time [s] (macro step 1e-3 s)")
    args = ap.parse_args(argv)
    n = round(args.t_end / H)
    fmu = build_fmu("dc_load")
    with tempfile.TemporaryDirectory(prefix="bench-fmu-cosim-") as tmp:
        work = Path(tmp)
        exe = build_c(work)
        bench_ours(fmu, 10)  # compile (or load from cache) the numba loop
        runs: dict[str, list[tuple[float, float]]] = {
            "phystwin CoSimulation (compiled)": [],
            "fmpy FMU2Slave loop": [],
            "C loop (gcc -O2)": [],
        }
        for _ in range(args.repeats):
            runs["phystwin CoSimulation (compiled)"].append(bench_ours(fmu, n))
            runs["fmpy FMU2Slave loop"].append(bench_fmpy(fmu, n))
            runs["C loop (gcc -O2)"].append(bench_c(exe, fmu, n, work))
    med = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    finals = {k: v[0][1] for k, v in runs.items()}
    c = med["C loop (gcc -O2)"]
    print(f"dc_load CS, macro step {H:g} s, {n} steps, median of {args.repeats}\n")
    print("| variant | wall time [ms] | per step [us] | ratio to C | final tau [N.m] |")
    print("|---|---:|---:|---:|---:|")
    for k, t in med.items():
        print(f"| {k} | {1e3 * t:.2f} | {1e6 * t / n:.3f} | {t / c:.2f} | {finals[k]:.12g} |")
    print(f"\ncommand: {shlex.join([sys.executable, *sys.argv])}")


if __name__ == "__main__":
    main()
