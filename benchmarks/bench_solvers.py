"""Solver benchmark on the DC-motor twin: phystwin's solvers side by side with the peers.

Peers (all integrate segment by segment, restarting at every input breakpoint, and save on the
variant's grid: 1 s for ``nonstiff``, 10 s for ``stiff``):

* scipy ``solve_ivp`` RK45, LSODA and BDF with the plain-Python rhs (finite-difference Jacobians);
* numbalsoda LSODA with the numba ``cfunc`` rhs, the whole duty cycle driven from one njit function;
* (extra) numbalsoda DOP853 with the same ``cfunc``, non-stiff variant only;
* phystwin's own methods, from the hook :func:`phystwin_methods` below.

All at rtol = 1e-6, atol = 1e-8 (scalar: every state is O(1) or larger in SI units, and numbalsoda
takes only a scalar atol).  Accuracy is the max relative error against the cached high-accuracy
reference (see ``motor_reference.py``).

Usage::

    python benchmarks/bench_solvers.py [--repeats N] [--quick] [--variant nonstiff|stiff|both]
                                       [--slow] [--only SUBSTRING] [--name NAME]

Writes ``benchmarks/results/<name>.json`` and ``.md`` (default name ``solvers``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import motor_reference as mr

Entry = tuple[str, Callable[[], tuple[np.ndarray, np.ndarray, "int | None"]]]
"""``(name, fn)``; ``fn()`` returns ``(t, X, n_rhs)``: save times, states ``(n_saves, 6)`` on the
variant's save grid (including t = 0), and the number of rhs evaluations (``None`` if unknown)."""


# ==================================================================================================
# HOOK: phystwin methods -- filled in by the lead once the phystwin API lands.
# ==================================================================================================
def phystwin_methods(variant: str) -> list[Entry]:
    """phystwin entries for ``variant`` (``"nonstiff"`` or ``"stiff"``).

    Return a list of ``(name, fn)`` pairs, e.g. ``("phystwin DOPRI5", fn)``, where ``fn()`` runs the
    full duty cycle of :mod:`motor_reference` (``mr.segments(variant)``: restart at each breakpoint,
    rtol = ``mr.RTOL``, atol = ``mr.ATOL``) and returns ``(t, X, n_rhs)`` with ``t == mr.save_times(variant)``
    and ``X`` of shape ``(len(t), 6)`` in state order ``mr.STATE_NAMES``.  Build the model and compile
    outside ``fn`` (the harness also does one untimed warm-up call).  Intended entries: RK4 (fixed
    step), DOPRI5, Rodas4.
    """
    import phystwin_entries

    return phystwin_entries.entries(variant)


# ==================================================================================================
# Peers
# ==================================================================================================


def scipy_entry(method: str, variant: str) -> Entry:
    from scipy.integrate import solve_ivp

    v = mr.get_variant(variant)
    f = mr.make_rhs_py(v)
    segs = mr.segments(v)
    t_all = mr.save_times(v)
    m = v.saves_per_segment
    seg_t_eval = [mr.segment_save_times(v, s) for s in range(len(segs))]
    n = mr.N_STATES

    def run():
        X = np.empty((t_all.size, n))
        X[0] = mr.X0
        x = mr.X0.copy()
        n_rhs = 0
        for s, (t0, t1, u) in enumerate(segs):
            sol = solve_ivp(f, (t0, t1), x, method=method, t_eval=seg_t_eval[s], args=(u,), rtol=mr.RTOL, atol=mr.ATOL)
            if not sol.success:
                raise RuntimeError(f"segment {s}: {sol.message}")
            X[s * m + 1 : (s + 1) * m + 1] = sol.y[:, 1:].T
            x = sol.y[:, -1].copy()
            n_rhs += sol.nfev
            if method in ("BDF", "Radau"):
                # their finite-difference Jacobian calls the rhs through fun_vectorized, which
                # nfev does not count: n columns + 1 base evaluation per Jacobian.
                n_rhs += sol.njev * (n + 1)
        return t_all, X, n_rhs

    return f"scipy {method}", run


def _make_numbalsoda_driver(kind: str):
    """An njit driver running the whole duty cycle with numbalsoda's ``lsoda`` or ``dop853``."""
    import numbalsoda

    solve = numbalsoda.lsoda if kind == "lsoda" else numbalsoda.dop853
    n_in, d_count, d_p, d_len = mr.N_INPUTS, mr.DATA_COUNT, mr.DATA_P, mr.DATA_LEN

    @numba.njit
    def drive(funcptr, x0, U, p, m, save_dt, rtol, atol, mxstep):
        nseg = U.shape[0]
        nx = x0.shape[0]
        X = np.empty((nseg * m + 1, nx))
        X[0] = x0
        x = x0.copy()
        data = np.zeros(d_len)
        data[d_p:] = p
        n_rhs = 0.0
        ok = True
        for s in range(nseg):
            for j in range(n_in):
                data[j] = U[s, j]
            data[d_count] = 0.0
            t_eval = (s * m + np.arange(m + 1)) * save_dt
            usol, success = solve(funcptr, x, t_eval, data, rtol, atol, mxstep)
            ok = ok and success
            X[s * m + 1 : (s + 1) * m + 1] = usol[1:]
            x = usol[m].copy()
            n_rhs += data[d_count]
        return X, n_rhs, ok

    return drive


def numbalsoda_entry(variant: str, kind: str = "lsoda") -> Entry:
    if mr.rhs_cfunc is None:
        raise ImportError("numbalsoda is not installed: run benchmarks/install_deps.sh")
    v = mr.get_variant(variant)
    drive = _make_numbalsoda_driver(kind)
    funcptr = mr.rhs_cfunc.address
    U = mr.segment_inputs(v)
    p = mr.param_vector(v)
    t_all = mr.save_times(v)

    def run():
        X, n_rhs, ok = drive(funcptr, mr.X0, U, p, v.saves_per_segment, v.save_dt, mr.RTOL, mr.ATOL, 10_000)
        if not ok:
            raise RuntimeError(f"numbalsoda {kind} reported failure")
        return t_all, X, int(n_rhs)

    return f"numbalsoda {kind.upper()}", run


SLOW = {("scipy RK45", "stiff"): "explicit, stability-limited: ~9e7 rhs calls, ~30 min; --slow to run"}
"""(method, variant) pairs skipped unless --slow, with the reason."""


def peer_methods(variant: str) -> list[Entry]:
    """The peers, numbalsoda LSODA first (it is the ratio baseline)."""
    entries: list[Entry] = []
    try:
        entries.append(numbalsoda_entry(variant, "lsoda"))
        if variant == "nonstiff":
            entries.append(numbalsoda_entry(variant, "dop853"))
    except ImportError as exc:
        print(f"warning: {exc}", file=sys.stderr)
    for method in ("RK45", "LSODA", "BDF"):
        entries.append(scipy_entry(method, variant))
    return entries


# ==================================================================================================
# Driver
# ==================================================================================================


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="DC-motor solver benchmark: phystwin vs scipy and numbalsoda")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per method (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per method (default 1)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, no slow entries")
    ap.add_argument("--variant", choices=("nonstiff", "stiff", "both"), default="both")
    ap.add_argument("--slow", action="store_true", help="also run entries skipped as too slow")
    ap.add_argument("--only", default="", help="run only methods whose name contains this (case-insensitive)")
    ap.add_argument("--name", default="solvers", help="results file stem (default: solvers)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = 1
        args.slow = False

    variants = ["nonstiff", "stiff"] if args.variant == "both" else [args.variant]
    plan: list[tuple[str, str, Callable | None, str]] = []  # (variant, name, fn, skip reason)
    t_start = time.perf_counter()
    refs = {}
    for variant in variants:
        refs[variant] = mr.reference_solution(variant)
        for name, fn in peer_methods(variant) + phystwin_methods(variant):
            if args.only and args.only.lower() not in name.lower():
                continue
            reason = SLOW.get((name, variant))
            if reason and not args.slow:
                plan.append((variant, name, None, f"skipped: {reason}"))
            else:
                plan.append((variant, name, fn, ""))

    rows: list[harness.Row] = []
    with harness.progress(len(variants), "bench_solvers") as advance:
        for variant in variants:
            # every method of a variant is timed round-robin, so machine drift hits them alike
            live = [(name, fn) for v, name, fn, _ in plan if v == variant and fn is not None]
            timed = dict(
                zip(
                    [n for n, _ in live],
                    harness.time_interleaved([f for _, f in live], args.repeats, args.warmup),
                    strict=True,
                )
            )
            t_ref, X_ref = refs[variant]
            for v, name, fn, reason in plan:
                if v != variant:
                    continue
                if fn is None:
                    rows.append(harness.Row(name, variant, note=reason))
                else:
                    rows.append(harness.score(name, variant, timed[name], t_ref, X_ref, args.repeats))
            advance(variant)
    harness.fill_ratios(rows, "numbalsoda LSODA")

    table = harness.markdown_table(rows)
    print(table)
    meta = {
        "benchmark": "bench_solvers",
        "repeats": args.repeats,
        "warmup": args.warmup,
        "quick": args.quick,
        "rtol": mr.RTOL,
        "atol": mr.ATOL,
        "variants": {v: vars(mr.get_variant(v)) for v in variants},
        "error_metric": "max over saves and states of |x - x_ref| / max(|x_ref|, 1)",
        "wall_seconds": time.perf_counter() - t_start,
    }
    path = harness.write_results(args.name, rows, meta, table)
    print(f"\nresults: {path}")
    return 0 if all(not r.note.startswith("failed") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
