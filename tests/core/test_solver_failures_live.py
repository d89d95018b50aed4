"""Failure statuses (never a hang), argument checks, and the live-stepping ``*_advance`` kernels."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from solver_models import (
    BLOWUP,
    FAILING,
    LOTKA,
    METHODS,
    NAN,
    OSCILLATOR,
    advance,
    integrate,
    options,
)

from phystwin.core.status import (
    BAD_ARGUMENT,
    MAX_STEPS,
    NONFINITE,
    OK,
    RHS_FAILURE,
    STEP_UNDERFLOW,
)

LV_P = np.array([1.5, 1.0, 3.0, 1.0])


def run_kw(method: str) -> dict[str, float]:
    return {"h": 1e-2} if method == "rk4" else {}


@pytest.mark.parametrize("method", METHODS)
def test_nan_in_rhs_is_nonfinite_with_time_reached(method: str) -> None:
    ts = np.linspace(0.0, 1.0, 11)
    r = integrate(method, NAN, [1.0], [0.5], 1.0, ts, **run_kw(method))
    assert r.status == NONFINITE
    assert 0.45 <= r.t_reached <= 0.5
    n = int(r.stats[6])
    np.testing.assert_allclose(r.X[:n, 0], np.exp(-ts[:n]), rtol=1e-6)
    assert np.all(ts[:n] < r.t_reached + 1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_blow_up_stops_near_singularity(method: str) -> None:
    """x' = x^2, x(0) = 1 blows up at t = 1."""
    r = integrate(method, BLOWUP, [1.0], [0.0], 2.0, [0.5, 2.0], **({"h": 1e-3} if method == "rk4" else {}))
    assert r.status in (STEP_UNDERFLOW, NONFINITE)
    tol = 0.02 if method == "rk4" else 1e-3
    assert abs(r.t_reached - 1.0) < tol, r.t_reached
    assert r.stats[6] == 1
    np.testing.assert_allclose(r.X[0, 0], 2.0, rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_max_steps(method: str) -> None:
    r = integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], 100.0, [100.0], max_steps=10, **run_kw(method))
    assert r.status == MAX_STEPS
    assert r.stats[1] + r.stats[2] <= 10
    assert 0.0 < r.t_reached < 100.0


@pytest.mark.parametrize("method", METHODS)
def test_model_failure_code(method: str) -> None:
    r = integrate(method, FAILING, [1.0], [0.3], 1.0, [1.0], **run_kw(method))
    assert r.status == RHS_FAILURE
    assert r.t_reached <= 0.3 + 1e-12


@pytest.mark.parametrize("method", METHODS)
def test_bad_arguments(method: str) -> None:
    kw = run_kw(method)
    assert integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], -1.0, [], **kw).status == BAD_ARGUMENT
    assert integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], 1.0, [0.5, 0.2], **kw).status == BAD_ARGUMENT
    assert integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], 1.0, [1.5], **kw).status == BAD_ARGUMENT
    bad_table = (np.array([0.0, 0.0]), np.zeros((2, 0)), np.zeros(0, np.int64))
    assert integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], 1.0, [], table=bad_table, **kw).status == BAD_ARGUMENT
    assert integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], 1.0, [], ev_dir=[2], **kw).status == BAD_ARGUMENT
    if method == "rk4":
        assert integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], 1.0, []).status == BAD_ARGUMENT


@pytest.mark.parametrize("method", METHODS)
def test_empty_span_saves_initial_state(method: str) -> None:
    r = integrate(method, OSCILLATOR, [1.0, 2.0], [1.0], 0.0, [0.0, 0.0], ny=1, **run_kw(method))
    assert r.status == OK
    np.testing.assert_array_equal(r.X, [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(r.Y[:, 0], [3.0, 3.0])


def test_kernel_returns_instead_of_hanging(tmp_path: Path) -> None:
    """A pathological run (tiny hmax on a long span with a step cap, a stiff blow-up) in a child
    process: it must come back with a status well within the time limit."""
    here = Path(__file__).resolve().parent
    src = Path(__file__).resolve().parents[2] / "src"
    script = tmp_path / "hang.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(here)!r}, {str(src)!r}]
        import numpy as np
        from solver_models import BLOWUP, OSCILLATOR, integrate
        r = integrate("dopri5", OSCILLATOR, [1.0, 0.0], [1.0], 1e9, [1e9], hmax=1e-3, max_steps=200000)
        assert r.status == 3, r.status
        r = integrate("rodas", BLOWUP, [1.0], [0.0], 1e6, [1e6])
        assert r.status in (1, 2), r.status
        print("done")
    """)
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "done" in proc.stdout


@pytest.mark.parametrize("method", METHODS)
def test_advance_matches_batch(method: str) -> None:
    """Live stepping in chunks equals batch integration (fixed-step mode: to round-off;
    adaptive: to the tolerance)."""
    x0 = np.array([1.0, 1.0])
    dt = 0.25
    n = 16
    ts = dt * np.arange(1, n + 1)
    h = 0.01 if method == "rk4" else 0.0125
    opts = options(h=h, extra=(1.0,))
    batch = integrate(method, LOTKA, x0, LV_P, ts[-1], ts, opts=opts)
    assert batch.status == OK
    x = x0.copy()
    work = np.zeros(1)
    stats = np.zeros(8)
    for k in range(n):
        assert advance(method, LOTKA, k * dt, x, [], LV_P, dt, opts, work, stats) == OK
        np.testing.assert_allclose(x, batch.X[k], rtol=1e-11, atol=1e-13)
    assert stats[0] == pytest.approx(ts[-1])
    if method == "rk4":
        return
    opts = options(rtol=1e-9, atol=1e-11, extra=(1.0,))
    batch = integrate(method, LOTKA, x0, LV_P, ts[-1], ts, opts=opts)
    x = x0.copy()
    work[0] = 0.0
    for k in range(n):
        assert advance(method, LOTKA, k * dt, x, [], LV_P, dt, opts, work, stats) == OK
        np.testing.assert_allclose(x, batch.X[k], rtol=1e-6, atol=1e-8)
        assert work[0] > 0.0


def test_rk4_advance_is_bitwise_repeatable() -> None:
    opts = options(h=0.013)
    runs = []
    for _ in range(2):
        x = np.array([1.0, 1.0])
        work = np.zeros(1)
        stats = np.zeros(8)
        traj = []
        for k in range(50):
            assert advance("rk4", LOTKA, 0.1 * k, x, [], LV_P, 0.1, opts, work, stats) == OK
            traj.append(x.copy())
        runs.append(np.array(traj))
        assert stats[1] == 50 * math.ceil(0.1 / 0.013)
    assert runs[0].tobytes() == runs[1].tobytes()


def test_rk4_advance_substep_count_tolerates_rounding() -> None:
    """1.1 / 0.1 = 11.000000000000002 in floating point: still 11 substeps."""
    x = np.array([1.0, 1.0])
    stats = np.zeros(8)
    assert advance("rk4", LOTKA, 0.0, x, [], LV_P, 1.1, options(h=0.1), np.zeros(1), stats) == OK
    assert stats[1] == 11


@pytest.mark.parametrize("method", METHODS)
def test_advance_failures(method: str) -> None:
    opts = options(h=0.01) if method == "rk4" else options()
    x = np.array([1.0])
    stats = np.zeros(8)
    assert advance(method, NAN, 0.0, x, [], [0.5], 1.0, opts, np.zeros(1), stats) == NONFINITE
    assert 0.45 <= stats[0] <= 0.5
    assert math.isfinite(x[0])
    assert advance(method, NAN, 0.0, np.array([1.0]), [], [0.5], -1.0, opts, np.zeros(1), stats) == BAD_ARGUMENT
    x = np.array([1.0])
    assert advance(method, NAN, 0.0, x, [], [0.5], 0.0, opts, np.zeros(1), stats) == OK
    assert x[0] == 1.0
