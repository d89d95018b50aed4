"""Timing, accuracy and reporting utilities shared by the benchmark scripts.

* :func:`time_callable` -- warm up, then call ``repeats`` times; median and inter-quartile range.
* :func:`run_method` -- time a solver entry ``fn() -> (t, X, n_rhs)`` and score it against a reference.
* :func:`markdown_table` / :func:`write_results` -- the report (markdown on stdout, JSON in
  ``benchmarks/results/<name>.json`` plus the same table in ``<name>.md``).
* :func:`progress` -- a progress bar (rich, else tqdm) only when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"

SolverFn = Callable[[], tuple[np.ndarray, np.ndarray, "int | None"]]
"""A benchmark entry: no arguments, returns ``(t, X, n_rhs)`` with ``X`` of shape ``(n_saves, n_states)``
on the variant's save grid and ``n_rhs`` the number of rhs evaluations (``None`` if unknown)."""


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    median: float  # s
    q1: float  # s
    q3: float  # s
    times: list[float]  # s, every timed call
    warmup: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def time_callable(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> tuple[Timing, Any]:
    """Call ``fn`` ``warmup`` times untimed (JIT compilation, caches), then ``repeats`` times timed.

    Returns the timing statistics and the value of the last call.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    q1, med, q3 = (float(v) for v in np.percentile(times, [25, 50, 75]))
    return Timing(median=med, q1=q1, q3=q3, times=times, warmup=warmup), out


def time_interleaved(
    fns: Sequence[Callable[[], Any]], repeats: int = 5, warmup: int = 1
) -> list[tuple[Timing, Any] | BaseException]:
    """Time several callables round-robin (repeat r calls each once, in an order rotated by r).

    On a machine whose speed drifts over minutes (a shared VM), consecutive repeats of one method
    followed by the next method's would charge the drift to whichever method ran last; interleaving
    exposes every method to the same conditions, so their ratios are fair. A callable that raises
    is reported by its exception and dropped from later rounds.
    """
    outs: list[Any] = [None] * len(fns)
    failed: dict[int, BaseException] = {}
    for k, fn in enumerate(fns):
        try:
            for _ in range(warmup):
                outs[k] = fn()
        except Exception as exc:  # a failing peer must not kill the comparison
            failed[k] = exc
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        order = list(range(len(fns)))
        order = order[r % len(order) :] + order[: r % len(order)] if order else order
        for k in order:
            if k in failed:
                continue
            try:
                t0 = time.perf_counter()
                outs[k] = fns[k]()
                times[k].append(time.perf_counter() - t0)
            except Exception as exc:
                failed[k] = exc
    result: list[tuple[Timing, Any] | BaseException] = []
    for k in range(len(fns)):
        if k in failed:
            result.append(failed[k])
            continue
        q1, med, q3 = (float(v) for v in np.percentile(times[k], [25, 50, 75]))
        result.append((Timing(median=med, q1=q1, q3=q3, times=times[k], warmup=warmup), outs[k]))
    return result


# --------------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------------


def max_rel_error(X: np.ndarray, X_ref: np.ndarray) -> float:
    """``max |X - X_ref| / max(|X_ref|, 1)`` over all saves and states (scale taken elementwise).

    Non-finite results give ``inf``.
    """
    X = np.asarray(X, dtype=np.float64)
    X_ref = np.asarray(X_ref, dtype=np.float64)
    if X.shape != X_ref.shape:
        raise ValueError(f"shape mismatch: {X.shape} vs reference {X_ref.shape}")
    if not np.all(np.isfinite(X)):
        return math.inf
    return float(np.max(np.abs(X - X_ref) / np.maximum(np.abs(X_ref), 1.0)))


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    method: str
    variant: str
    median_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    ratio_to_numbalsoda: float | None = None
    max_error: float | None = None
    n_rhs: int | None = None
    repeats: int = 0
    times_s: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def iqr_s(self) -> float | None:
        if self.q1_s is None or self.q3_s is None:
            return None
        return self.q3_s - self.q1_s


def run_method(
    name: str,
    variant: str,
    fn: SolverFn,
    t_ref: np.ndarray,
    X_ref: np.ndarray,
    repeats: int = 5,
    warmup: int = 1,
) -> Row:
    """Time one entry and score its last output against the reference; failures become a note."""
    try:
        timed = time_callable(fn, repeats=repeats, warmup=warmup)
    except Exception as exc:  # a failing peer must not kill the whole comparison
        timed = exc
    return score(name, variant, timed, t_ref, X_ref, repeats)


def score(
    name: str,
    variant: str,
    timed: tuple[Timing, Any] | BaseException,
    t_ref: np.ndarray,
    X_ref: np.ndarray,
    repeats: int,
) -> Row:
    """A result row from a timing (or the exception the method raised) and its last output."""
    if isinstance(timed, BaseException):
        return Row(name, variant, note=f"failed: {type(timed).__name__}: {timed}")
    timing, out = timed
    t, X, n_rhs = out
    t = np.asarray(t, dtype=np.float64)
    note = ""
    if t.shape != t_ref.shape or not np.allclose(t, t_ref, rtol=0.0, atol=1e-9 * max(1.0, float(t_ref[-1]))):
        note = "save grid differs from the reference"
        err = None
    else:
        err = max_rel_error(X, X_ref)
    return Row(
        method=name,
        variant=variant,
        median_s=timing.median,
        q1_s=timing.q1,
        q3_s=timing.q3,
        max_error=err,
        n_rhs=None if n_rhs is None else int(n_rhs),
        repeats=repeats,
        times_s=timing.times,
        note=note,
    )


def fill_ratios(rows: Sequence[Row], baseline: str = "numbalsoda LSODA") -> None:
    """Set ``ratio_to_numbalsoda = median / median(baseline)`` for rows of the same variant."""
    base = {r.variant: r.median_s for r in rows if r.method == baseline and r.median_s}
    for r in rows:
        b = base.get(r.variant)
        r.ratio_to_numbalsoda = r.median_s / b if (b and r.median_s is not None) else None


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1.0:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def markdown_table(rows: Sequence[Row]) -> str:
    """Markdown table: method, variant, median wall time (IQR), ratio to numbalsoda, max error, n rhs."""
    head = "| method | variant | median wall time (IQR) | ratio to numbalsoda | max rel. error | n rhs evals | note |"
    sep = "|---|---|---:|---:|---:|---:|---|"
    lines = [head, sep]
    for r in rows:
        t = "-" if r.median_s is None else f"{_fmt_time(r.median_s)} ({_fmt_time(r.iqr_s)})"
        ratio = "-" if r.ratio_to_numbalsoda is None else f"{r.ratio_to_numbalsoda:.3g}x"
        err = "-" if r.max_error is None else f"{r.max_error:.2e}"
        nrhs = "-" if r.n_rhs is None else f"{r.n_rhs:,}"
        lines.append(f"| {r.method} | {r.variant} | {t} | {ratio} | {err} | {nrhs} | {r.note} |")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every result file."""
    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                env["cpu"] = line.split(":", 1)[1].strip()
                break
    for mod in ("numpy", "scipy", "numba", "numbalsoda", "phystwin"):
        try:
            from importlib.metadata import version

            env[mod] = version(mod)
        except Exception:
            env[mod] = None
    return env


def write_results(name: str, rows: Sequence[Any], meta: dict[str, Any] | None = None, table: str | None = None) -> Path:
    """Write ``results/<name>.json`` (rows + environment + meta) and ``results/<name>.md`` (the table)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "name": name,
        "environment": environment(),
        "meta": meta or {},
        "rows": [asdict(r) if hasattr(r, "__dataclass_fields__") else dict(r) for r in rows],
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    if table is not None:
        (RESULTS_DIR / f"{name}.md").write_text(table + "\n")
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# --------------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def progress(total: int, description: str = "") -> Iterator[Callable[[str], None]]:
    """Context manager yielding ``advance(label)`` (call it after each item); draws a bar on stderr
    (rich if installed, else tqdm) only when stderr is a terminal, otherwise does nothing."""
    backend = None
    if sys.stderr.isatty():
        for mod in ("rich.progress", "tqdm"):
            try:
                __import__(mod)
            except ImportError:
                continue
            backend = mod
            break
    if backend == "rich.progress":
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), TextColumn("{task.fields[label]}"))  # fmt: skip
        with Progress(*columns, console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task(description, total=total, label="")
            yield lambda label="": prog.update(task, advance=1, label=label)
    elif backend == "tqdm":
        from tqdm import tqdm

        bar = tqdm(total=total, desc=description, file=sys.stderr, leave=False)
        try:

            def advance(label: str = "") -> None:
                bar.set_postfix_str(label)
                bar.update(1)

            yield advance
        finally:
            bar.close()
    else:
        yield lambda label="": None
