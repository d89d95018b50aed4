"""Model-exchange FMU benchmark: phystwin ``simulate()`` against ``fmpy.simulate_fmu`` at equal accuracy.

Both tools integrate the same model-exchange FMU (built from the bundled C sources with
:func:`phystwin.fmu.build.build_fmu`), with the same constant inputs, and save on the same grid:

* ``dc_load`` (FMI 2.0): ``w_in`` = 10 rad/s, ``tau_ext`` = 0.5 N m, 0..20 s, 2001 saves (0.01 s);
  signals ``tau`` and ``w_load``;
* ``thermal_rc`` (FMI 2.0, and the same equations as an FMI 3.0 FMU: ``thermal_rc (FMI 3.0)``):
  ``Q_in`` = 50 W, ``T_amb`` = 298.15 K, 0..2000 s, 2001 saves (1 s); signals ``T1_out``, ``T2_out`` and
  ``Q_amb``.

Tools:

* ``phystwin DOPRI5`` / ``phystwin Rodas``: :func:`phystwin.core.simulation.simulate` of a System holding
  only the FMU component (:func:`phystwin.fmu.me.fmu_component`), the model compiled beforehand;
* ``fmpy CVode``: ``fmpy.simulate_fmu(<extracted dir>, fmi_type="ModelExchange", solver="CVode",
  relative_tolerance=rtol, start_values=inputs, model_description=<parsed once>)``, i.e. with the archive
  extracted and ``modelDescription.xml`` parsed once outside the timed region (the analogue of
  phystwin's excluded compile time);
* ``fmpy CVode (.fmu path)``: the same call on the ``.fmu`` path, as a user would write it: it unzips
  the archive and parses the description on every call.

Equal accuracy: a reference comes from scipy ``solve_ivp`` (DOP853, rtol 1e-12, atol 1e-14) of the ODEs
written out from the C sources' header comments. The error of a run is the max over save times and
signals of ``|y - y_ref| / (max(y_ref) - min(y_ref))``. For each tool the tolerance is swept from loose
to tight (rtol 1e-3 .. 1e-12 in half decades; atol = rtol for phystwin, which is fmpy's convention:
CVode's absolute tolerance is rtol times the states' nominal values, all 1 here) and the loosest setting
whose error is at or below ``--target`` (default 1e-6) is timed: one warm-up run each, then the median of
``--repeats`` runs, the tools taking turns round-robin so load drift hits all alike. The ratio column is
the faster fmpy variant's median over the row's median; the verdict checks the fastest phystwin solver
against it (the issue's target: >= 10x at equal accuracy). phystwin's one-off costs (component set-up
+ compile, first ``simulate()`` with the JIT/cache load) are reported separately and excluded from the
medians.

Usage::

    .venv/bin/python benchmarks/bench_fmu_me.py [--repeats 5] [--target 1e-6] [--json PATH]

Takes 10-20 s on a 2-core machine with ``--repeats 5``. Timings are wall-clock medians on a shared, noisy
machine: read ratios, not absolute numbers, and rerun with more repeats before quoting one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

RTOLS = [float(f"{m}e-{k}") for k in range(3, 13) for m in (3, 1)][1:]  # 1e-3, 3e-4, ..., 1e-12


@dataclass
class Case:
    """One FMU scenario: the FMU, its constant inputs, the signals compared and the reference ODE."""

    fmu: str
    comp: str
    t_end: float
    n_save: int
    inputs: dict[str, tuple[float, str]]  # FMU input name -> (value, unit)
    signals: list[str]  # FMU output names (phystwin system outputs carry the same names)
    rhs: Callable[[float, np.ndarray], np.ndarray]
    outputs: Callable[[np.ndarray], dict[str, np.ndarray]]  # states (2, n) -> signals
    x0: np.ndarray = field(default_factory=lambda: np.zeros(2))
    fmi_version: str = "2.0"

    @property
    def name(self) -> str:
        return self.fmu if self.fmi_version == "2.0" else f"{self.fmu} (FMI {self.fmi_version})"

    @property
    def save(self) -> np.ndarray:
        return np.linspace(0.0, self.t_end, self.n_save)

    @property
    def values(self) -> dict[str, float]:
        return {k: v for k, (v, _) in self.inputs.items()}


def _dc_load() -> Case:
    # dc_load.c: dphi_c/dt = w_in - w_l; tau = k_c phi_c + d_c (w_in - w_l); J_l dw_l/dt = tau - b_l w_l - tau_ext
    k_c, d_c, J_l, b_l = 50.0, 0.05, 2e-3, 1e-3
    w_in, tau_ext = 10.0, 0.5

    def rhs(t: float, x: np.ndarray) -> np.ndarray:
        tau = k_c * x[0] + d_c * (w_in - x[1])
        return np.array([w_in - x[1], (tau - b_l * x[1] - tau_ext) / J_l])

    def outputs(x: np.ndarray) -> dict[str, np.ndarray]:
        return {"tau": k_c * x[0] + d_c * (w_in - x[1]), "w_load": x[1]}

    return Case(
        fmu="dc_load",
        comp="load",
        t_end=20.0,
        n_save=2001,
        inputs={"w_in": (w_in, "rad/s"), "tau_ext": (tau_ext, "N*m")},
        signals=["tau", "w_load"],
        rhs=rhs,
        outputs=outputs,
    )


def _thermal_rc(fmi_version: str = "2.0") -> Case:
    # thermal_rc.c: C1 dT1/dt = Q_in - G12 (T1 - T2); C2 dT2/dt = G12 (T1 - T2) - G2a (T2 - T_amb)
    C1, C2, G12, G2a = 100.0, 400.0, 2.0, 0.5
    Q_in, T_amb = 50.0, 298.15

    def rhs(t: float, x: np.ndarray) -> np.ndarray:
        q12 = G12 * (x[0] - x[1])
        return np.array([(Q_in - q12) / C1, (q12 - G2a * (x[1] - T_amb)) / C2])

    def outputs(x: np.ndarray) -> dict[str, np.ndarray]:
        return {"T1_out": x[0], "T2_out": x[1], "Q_amb": G2a * (x[1] - T_amb)}

    return Case(
        fmu="thermal_rc",
        comp="rc",
        t_end=2000.0,
        n_save=2001,
        inputs={"Q_in": (Q_in, "W"), "T_amb": (T_amb, "K")},
        signals=["T1_out", "T2_out", "Q_amb"],
        rhs=rhs,
        outputs=outputs,
        x0=np.array([298.15, 298.15]),
        fmi_version=fmi_version,
    )


def reference(case: Case) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Dense high-accuracy solution: save times -> signals."""
    sol = solve_ivp(case.rhs, (0.0, case.t_end), case.x0, method="DOP853", rtol=1e-12, atol=1e-14, dense_output=True)
    assert sol.success, sol.message
    return lambda t: case.outputs(sol.sol(t))


def max_error(t: np.ndarray, got: dict[str, np.ndarray], ref: Callable[[np.ndarray], dict[str, np.ndarray]]) -> float:
    exact = ref(t)
    errs = []
    for name, y_ref in exact.items():
        span = float(np.max(y_ref) - np.min(y_ref)) or 1.0
        y = np.asarray(got[name], dtype=np.float64)
        if y.shape != y_ref.shape or not np.all(np.isfinite(y)):
            return float("inf")
        errs.append(float(np.max(np.abs(y - y_ref))) / span)
    return max(errs)


# ----------------------------------------------------------------------------------------------------
# the tools: each returns run(rtol) -> (t, signals)
# ----------------------------------------------------------------------------------------------------
Runner = Callable[[float], tuple[np.ndarray, dict[str, np.ndarray], int | None]]
"""``run(rtol)`` -> ``(save times, signals, number of derivative evaluations or None if unknown)``."""


def phystwin_setup(case: Case) -> tuple[Any, Any, str, dict[str, float]]:
    from phystwin.fmu.build import build_fmu
    from phystwin.fmu.me import fmu_component
    from phystwin.physics.system import System

    t0 = time.perf_counter()
    path = build_fmu(case.fmu, case.fmi_version)
    t1 = time.perf_counter()
    comp, inst = fmu_component(case.comp, path)
    s = System(f"bench_{case.fmu}")
    s.add(comp)
    for name, (value, unit) in case.inputs.items():
        s.input(name, unit, f"{case.comp}.{name}", default=value)
    for name in case.signals:
        s.output(name, f"{case.comp}.{name}")
    model = s.compile()
    t2 = time.perf_counter()
    return model, inst, str(path), {"build_fmu_s": t1 - t0, "component_and_compile_s": t2 - t1}


def phystwin_runner(case: Case, model: Any, solver_cls: type) -> Runner:
    from phystwin.core.simulation import simulate

    save, inputs = case.save, case.values

    def run(rtol: float) -> tuple[np.ndarray, dict[str, np.ndarray], int | None]:
        tr = simulate(model, (0.0, case.t_end), inputs=inputs, save=save, solver=solver_cls(rtol=rtol, atol=rtol))
        return tr.t, {name: tr[name] for name in case.signals}, int(tr.stats["n_rhs"])

    return run


def fmpy_runner(case: Case, target: str, model_description: Any) -> Runner:
    import fmpy

    interval = case.t_end / (case.n_save - 1)

    def run(rtol: float) -> tuple[np.ndarray, dict[str, np.ndarray], int | None]:
        res = fmpy.simulate_fmu(
            target,
            fmi_type="ModelExchange",
            solver="CVode",
            relative_tolerance=rtol,
            start_time=0.0,
            stop_time=case.t_end,
            output_interval=interval,
            start_values=case.values,
            output=case.signals,
            model_description=model_description,
        )
        return np.asarray(res["time"]), {name: np.asarray(res[name]) for name in case.signals}, None

    return run


def sweep(run: Runner, ref: Callable[..., dict[str, np.ndarray]], target: float) -> tuple[list[dict], float | None]:
    """Loose -> tight; stop at the first rtol whose error meets ``target``."""
    rows: list[dict] = []
    for rtol in RTOLS:
        t0, n_rhs = time.perf_counter(), None
        try:
            t, got, n_rhs = run(rtol)
            err = max_error(t, got, ref)
        except Exception as exc:  # a failed run counts as not meeting the target
            err = float("inf")
            print(f"    rtol {rtol:.0e}: failed ({type(exc).__name__}: {exc})", file=sys.stderr)
        rows.append({"rtol": rtol, "max_error": err, "single_run_ms": 1e3 * (time.perf_counter() - t0), "n_rhs": n_rhs})
        if err <= target:
            return rows, rtol
    return rows, None


def time_interleaved(jobs: list[tuple[Runner, float]], repeats: int) -> list[list[float]]:
    """Wall times [ms] of each ``run(rtol)``: one warm-up each, then ``repeats`` rounds in which every job
    runs once (round-robin, so a drift in machine load hits every tool alike)."""
    for run, rtol in jobs:
        run(rtol)
    times: list[list[float]] = [[] for _ in jobs]
    for _ in range(repeats):
        for k, (run, rtol) in enumerate(jobs):
            t0 = time.perf_counter()
            run(rtol)
            times[k].append(1e3 * (time.perf_counter() - t0))
    return times


def bench_case(case: Case, repeats: int, target: float, workdir: Path) -> dict[str, Any]:
    import fmpy

    from phystwin.core.options import DormandPrince, Rodas

    print(f"\n== {case.name} (0..{case.t_end:g} s, {case.n_save} saves) ==", flush=True)
    ref = reference(case)
    model, inst, path, setup = phystwin_setup(case)

    t0 = time.perf_counter()
    phystwin_runner(case, model, DormandPrince)(1e-6)
    setup["first_simulate_dopri5_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    phystwin_runner(case, model, Rodas)(1e-6)
    setup["first_simulate_rodas_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    unzipdir = fmpy.extract(path, unzipdir=str(workdir / f"{case.fmu}-{case.fmi_version}"))
    md = fmpy.read_model_description(path)
    setup["fmpy_extract_and_parse_s"] = time.perf_counter() - t0

    tools: list[tuple[str, Runner]] = [
        ("phystwin DOPRI5", phystwin_runner(case, model, DormandPrince)),
        ("phystwin Rodas", phystwin_runner(case, model, Rodas)),
        ("fmpy CVode", fmpy_runner(case, unzipdir, md)),
        ("fmpy CVode (.fmu path)", fmpy_runner(case, path, None)),
    ]
    results = []
    for name, run in tools:
        rows, rtol = sweep(run, ref, target)
        entry: dict[str, Any] = {"tool": name, "sweep": rows, "rtol": rtol}
        if rtol is not None:
            entry.update(max_error=rows[-1]["max_error"], n_rhs=rows[-1]["n_rhs"])
        sweep_txt = ", ".join(f"{r['rtol']:.0e}->{r['max_error']:.1e}" for r in rows)
        print(f"  {name:24s} sweep rtol->error: {sweep_txt}", flush=True)
        results.append(entry)
    timed = [(entry, run) for entry, (_, run) in zip(results, tools, strict=True) if entry["rtol"] is not None]
    for (entry, _), times in zip(timed, time_interleaved([(run, e["rtol"]) for e, run in timed], repeats), strict=True):
        entry.update(median_ms=statistics.median(times), times_ms=times)
    inst.close()
    return {"case": case.name, "t_end": case.t_end, "n_save": case.n_save, "inputs": case.values,
            "setup": setup, "results": results}  # fmt: skip


def table(cases: list[dict[str, Any]], target: float) -> tuple[str, list[str]]:
    lines = [
        "| case | tool | rtol (= atol) used | max error (rel. to range) | rhs evals | median wall [ms] (min-max) "
        "| fastest fmpy / this |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for c in cases:
        fmpy_runs = [r for r in c["results"] if r["tool"].startswith("fmpy") and "median_ms" in r]
        fmpy_ms = min((r["median_ms"] for r in fmpy_runs), default=None)
        for r in c["results"]:
            if r["rtol"] is None:
                best = min(r["sweep"], key=lambda row: row["max_error"])
                lines.append(
                    f"| {c['case']} | {r['tool']} | none met {target:.0e} | best {best['max_error']:.2e} | - | - | - |"
                )
                continue
            ratio = f"{fmpy_ms / r['median_ms']:.1f}x" if fmpy_ms else "-"
            lines.append(
                f"| {c['case']} | {r['tool']} | {r['rtol']:.0e} | {r['max_error']:.2e} "
                f"| {r['n_rhs'] if r['n_rhs'] is not None else 'n/a'} "
                f"| {r['median_ms']:.2f} ({min(r['times_ms']):.2f}-{max(r['times_ms']):.2f}) | {ratio} |"
            )
        pt = [r for r in c["results"] if r["tool"].startswith("phystwin") and r["rtol"] is not None]
        if pt and fmpy_ms:
            best = min(pt, key=lambda r: r["median_ms"])
            ratio = fmpy_ms / best["median_ms"]
            each = ", ".join(f"{r['median_ms'] / best['median_ms']:.1f}x vs {r['tool']}" for r in fmpy_runs)
            verdicts.append(
                f"{c['case']}: fastest phystwin ({best['tool']}) is {ratio:.2f}x faster than the faster fmpy variant "
                f"({each}) -> 10x target {'MET' if ratio >= 10 else 'NOT met'}"
            )
        else:
            verdicts.append(f"{c['case']}: no comparison (a tool did not reach the target)")
    return "\n".join(lines), verdicts


def _finite(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats (a failed run's error) become null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    return obj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target", type=float, default=1e-6, help="max error relative to each signal's range")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()

    import fmpy
    import numba
    import scipy

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared, noisy: read medians and "
        f"ratios), Python {platform.python_version()}, numba {numba.__version__}, fmpy {fmpy.__version__}, "
        f"scipy {scipy.__version__}"
    )
    command = shlex.join([sys.executable, *sys.argv])
    workdir = Path(tempfile.mkdtemp(prefix="bench_fmu_me_"))
    start = time.perf_counter()
    try:
        cases = [
            bench_case(c, args.repeats, args.target, workdir) for c in (_dc_load(), _thermal_rc(), _thermal_rc("3.0"))
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - start

    md, verdicts = table(cases, args.target)
    print(f"\n### Model-exchange FMU: phystwin vs fmpy at equal accuracy (target max error {args.target:.0e})\n")
    print(md)
    print("\nOne-off costs (excluded from the medians):")
    for c in cases:
        s = c["setup"]
        ms = {k: f"{1e3 * v:.0f} ms" for k, v in s.items()}
        print(
            f"- {c['case']}: build_fmu {ms['build_fmu_s']}, fmu_component + compile {ms['component_and_compile_s']}, "
            f"first simulate() DOPRI5 {ms['first_simulate_dopri5_s']} / Rodas {ms['first_simulate_rodas_s']} "
            f"(JIT or cache load); fmpy extract + parse {ms['fmpy_extract_and_parse_s']}"
        )
    print("\nVerdict (issue target: phystwin >= 10x faster than simulate_fmu at equal accuracy):")
    for v in verdicts:
        print(f"- {v}")
    print(f"\nCommand: `{command}`")
    print(f"Machine: {machine}; medians of {args.repeats} after one warm-up; benchmark took {total:.0f} s.")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "command": command,
            "machine": machine,
            "repeats": args.repeats,
            "target": args.target,
            "rtol_grid": RTOLS,
            "cases": cases,
            "verdicts": verdicts,
            "table_md": md,
            "total_s": total,
        }
        args.json.write_text(json.dumps(_finite(payload), indent=2))
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
