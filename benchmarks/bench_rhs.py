"""Right-hand-side cost on the DC-motor twin: nanoseconds per evaluation, measured in compiled code.

Each rhs ``rhs(t, x, u, p, dx)`` is called ``--n`` times (default 1e6) inside an ``njit`` loop that
changes ``t`` and three states every iteration and sums all six derivatives, so no evaluation can be
hoisted out of the loop or dropped.  The figure is the median over ``--repeats`` runs of the loop
(after one warm-up run that also compiles it), divided by ``--n``.

Rows:

* ``hand-written rhs_nb`` -- the hand-written compiled rhs of ``motor_reference.py`` (the target the
  composed rhs is compared against);
* ``loop overhead`` -- the same loop around a trivial rhs (``dx = x``), for scale;
* phystwin's composed rhs, from the hook :func:`phystwin_rhs` below;
* for context, the plain-Python rhs called from Python (not in a compiled loop).

Usage::

    python benchmarks/bench_rhs.py [--repeats N] [--n N] [--quick] [--name NAME]

Writes ``benchmarks/results/<name>.json`` and ``.md`` (default name ``rhs``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import motor_reference as mr

RhsEntry = tuple[str, Callable, np.ndarray, np.ndarray, np.ndarray]
"""``(name, rhs, x, u, p)``: an njit ``rhs(t, x, u, p, dx)`` (float64 arrays, writes ``dx`` in place)
and a representative state, input and parameter vector in *that rhs's own* layout."""

# Representative operating point (mid duty cycle, loaded, warm) in motor_reference state order.
X_OP = np.array([5.0, 1.0e3, 400.0, 310.0, 305.0, 300.0])
U_OP = np.array([mr.V_SUPPLY, 0.3, mr.T_AMB])


# ==================================================================================================
# HOOK: phystwin composed rhs -- filled in by the lead once the phystwin API lands.
# ==================================================================================================
def phystwin_rhs(variant: str) -> list[RhsEntry]:
    """Composed-rhs entries, e.g. ``[("phystwin composed rhs", rhs, x, u, p)]``.

    ``rhs`` must be an njit function ``rhs(t, x, u, p, dx)``; if phystwin's compiled rhs has another
    signature (extra work arrays, a different argument order), wrap it in a small njit adapter with
    this signature -- numba inlines such adapters, so they add no cost.  ``x``, ``u``, ``p`` are the
    operating point (``X_OP``, ``U_OP``, the variant's parameters) mapped to phystwin's layout.
    The loop varies ``x[0]``, ``x[2]`` and ``x[3]``; if phystwin orders states differently, pass the
    state in the order whose positions 0, 2, 3 are current, speed and winding temperature, or accept
    that different states are varied (the cost of this rhs does not depend on the values).
    """
    import phystwin_entries

    m = phystwin_entries.model()
    perm = [m.layout.state_index(n) for n in phystwin_entries.STATE_ORDER]
    x = np.empty(mr.N_STATES)
    x[perm] = X_OP
    p = m.parameters({"armature_L.L": mr.get_variant(variant).L})
    return [("phystwin composed rhs", m.kernels.rhs, x, np.asarray(U_OP, dtype=np.float64), p)]


# ==================================================================================================
# Measurement
# ==================================================================================================


def make_loop(rhs: Callable) -> Callable:
    """An njit loop evaluating ``rhs`` ``n`` times over a varying state; returns a checksum."""

    @numba.njit(error_model="numpy", fastmath=False)
    def loop(n, x0, u, p):
        x = x0.copy()
        dx = np.zeros_like(x0)
        acc = 0.0
        for k in range(n):
            x[0] = x0[0] + 1.0e-3 * (k & 1023)
            x[2] = x0[2] + 1.0e-2 * (k & 511)
            x[3] = x0[3] + 1.0e-4 * (k & 255)
            rhs(1.0e-6 * k, x, u, p, dx)
            acc += dx[0] + dx[1] + dx[2] + dx[3] + dx[4] + dx[5]
        return acc

    return loop


@numba.njit(error_model="numpy", fastmath=False)
def null_rhs(t, x, u, p, dx):
    # unrolled on purpose: a `for j in range(x.shape[0])` copy costs ~5x more (aliasing of x and dx
    # blocks its optimisation) and would overstate the loop overhead
    dx[0] = x[0]
    dx[1] = x[1]
    dx[2] = x[2]
    dx[3] = x[3]
    dx[4] = x[4]
    dx[5] = x[5]


@dataclass
class RhsRow:
    method: str
    variant: str
    ns_per_eval: float
    q1_ns: float
    q3_ns: float
    n_evals: int
    repeats: int
    ratio_to_handwritten: float | None = None
    checksum: float | None = None
    note: str = ""


def measure(name: str, variant: str, rhs: Callable, x: np.ndarray, u: np.ndarray, p: np.ndarray,
            n: int, repeats: int) -> RhsRow:  # fmt: skip
    loop = make_loop(rhs)
    x, u, p = (np.ascontiguousarray(a, dtype=np.float64) for a in (x, u, p))
    timing, acc = harness.time_callable(lambda: loop(n, x, u, p), repeats=repeats, warmup=1)
    note = "" if np.isfinite(acc) else "non-finite derivatives at the operating point"
    return RhsRow(name, variant, timing.median / n * 1e9, timing.q1 / n * 1e9, timing.q3 / n * 1e9, n, repeats,
                  checksum=float(acc), note=note)  # fmt: skip


def measure_python(variant: str, n: int, repeats: int) -> RhsRow:
    f = mr.make_rhs_py(variant)
    x, u = X_OP.copy(), U_OP.copy()

    def run():
        for k in range(n):
            f(1.0e-6 * k, x, u)

    timing, _ = harness.time_callable(run, repeats=repeats, warmup=1)
    return RhsRow("plain-Python rhs_py (called from Python, context)", variant, timing.median / n * 1e9,
                  timing.q1 / n * 1e9, timing.q3 / n * 1e9, n, repeats)  # fmt: skip


def markdown_table(rows: list[RhsRow]) -> str:
    lines = [
        "| rhs | variant | ns / evaluation (IQR) | ratio to hand-written | evaluations per run | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = "-" if r.ratio_to_handwritten is None else f"{r.ratio_to_handwritten:.3g}x"
        ns = f"{r.ns_per_eval:.3g} ({r.q3_ns - r.q1_ns:.2g})"
        lines.append(f"| {r.method} | {r.variant} | {ns} | {ratio} | {r.n_evals:,} | {r.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ns per rhs evaluation, hand-written vs composed")
    ap.add_argument("--repeats", type=int, default=7, help="timed loop runs (default 7)")
    ap.add_argument("--n", type=float, default=1e6, help="evaluations per loop run (default 1e6)")
    ap.add_argument("--variant", choices=("nonstiff", "stiff"), default="nonstiff")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 repeats of 1e5 evaluations")
    ap.add_argument("--name", default="rhs", help="results file stem (default: rhs)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.n = 3, 1e5
    n = int(args.n)
    v = args.variant
    p = mr.param_vector(v)

    entries: list[RhsEntry] = [("hand-written rhs_nb", mr.rhs_nb, X_OP, U_OP, p)]
    entries += phystwin_rhs(v)
    entries.append(("loop overhead (dx = x)", null_rhs, X_OP, U_OP, p))

    t_start = time.perf_counter()
    rows: list[RhsRow] = []
    with harness.progress(len(entries) + 1, "bench_rhs") as advance:
        for name, rhs, x, u, pp in entries:
            rows.append(measure(name, v, rhs, x, u, pp, n, args.repeats))
            advance(name)
        rows.append(measure_python(v, max(n // 20, 1000), args.repeats))
        advance("python")
    base = rows[0].ns_per_eval
    for r in rows:
        r.ratio_to_handwritten = r.ns_per_eval / base

    table = markdown_table(rows)
    print(table)
    meta = {
        "benchmark": "bench_rhs",
        "repeats": args.repeats,
        "n_evals": n,
        "operating_point": {"x": X_OP.tolist(), "u": U_OP.tolist()},
        "wall_seconds": time.perf_counter() - t_start,
    }
    path = harness.write_results(args.name, rows, meta, table)
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
