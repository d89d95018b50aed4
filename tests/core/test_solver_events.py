"""Events (located crossings, resets, chattering limit) and input-driven events at breakpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest
from solver_models import BALL, METHODS, THERMOSTAT, THRESHOLD, integrate

from phystwin.core.status import MAX_EVENTS, OK

G = 9.81


def bounce_times(h0: float, e: float, n: int) -> np.ndarray:
    """Analytic impact times of a ball dropped from h0 with restitution e."""
    t = math.sqrt(2.0 * h0 / G)
    v = G * t
    out = [t]
    for _ in range(n - 1):
        v *= e
        t += 2.0 * v / G
        out.append(t)
    return np.array(out)


def run_kw(method: str) -> dict[str, float]:
    return {"h": 1e-2} if method == "rk4" else {}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("direction", [-1, 0])
def test_bouncing_ball_event_times(method: str, direction: int) -> None:
    """Impacts located to the event tolerance; with direction 0 the bounce is not re-triggered."""
    e = 0.8
    expected = bounce_times(10.0, e, 8)
    t_end = 0.5 * (expected[-1] + expected[-2]) + 0.01
    ts = np.linspace(0.0, t_end, 200)
    r = integrate(
        method,
        BALL,
        [10.0, 0.0],
        [G, e],
        t_end,
        ts,
        ev_dir=[direction],
        rtol=1e-10,
        atol=1e-12,
        event_tol=1e-10,
        **run_kw(method),
    )
    assert r.status == OK
    n = int(np.searchsorted(expected, t_end))
    assert r.ev_t.size == n
    np.testing.assert_allclose(r.ev_t, expected[:n], atol=1e-8)
    np.testing.assert_array_equal(r.ev_k, 0)
    assert r.stats[5] == n
    assert r.X[:, 0].min() > -1e-8  # never (noticeably) below the floor


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_bouncing_ball_states_after_bounce(method: str) -> None:
    """Saved states follow the analytic parabola across the first impact."""
    e = 0.5
    t1 = bounce_times(10.0, e, 1)[0]
    ts = np.linspace(0.0, t1 + 0.5, 51)
    r = integrate(
        method, BALL, [10.0, 0.0], [G, e], t1 + 0.5, ts, ev_dir=[-1], rtol=1e-10, atol=1e-12, **run_kw(method)
    )
    assert r.status == OK
    v1 = G * t1 * e
    h = np.where(ts < t1, 10.0 - 0.5 * G * ts**2, v1 * (ts - t1) - 0.5 * G * (ts - t1) ** 2)
    np.testing.assert_allclose(r.X[:, 0], h, atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_zeno_ball_hits_event_limit(method: str) -> None:
    """Past the Zeno time the bounces accumulate: the event cap stops the run with MAX_EVENTS."""
    e = 0.5
    t_zeno = math.sqrt(2.0 * 10.0 / G) * (1.0 + 2.0 * e / (1.0 - e))
    ts = np.linspace(0.0, 2.0 * t_zeno, 50)
    r = integrate(
        method,
        BALL,
        [10.0, 0.0],
        [G, e],
        2.0 * t_zeno,
        ts,
        ev_dir=[-1],
        max_events=20,
        event_tol=1e-12,
        **run_kw(method),
    )
    assert r.status == MAX_EVENTS
    assert r.stats[5] == 20
    assert r.t_reached < t_zeno
    np.testing.assert_allclose(r.ev_t, bounce_times(10.0, e, 21)[:20], atol=1e-6)
    n_saved = int(r.stats[6])
    assert np.all(ts[:n_saved] <= r.t_reached)
    assert np.isnan(r.X[n_saved:]).all()


def test_event_log_capacity_is_a_limit() -> None:
    r = integrate("dopri5", BALL, [10.0, 0.0], [G, 0.8], 20.0, [20.0], ev_dir=[-1], ev_cap=3, max_events=100)
    assert r.status == MAX_EVENTS
    assert r.stats[5] == 3


@pytest.mark.parametrize("method", METHODS)
def test_thermostat_switching(method: str) -> None:
    """Relay with a discrete mode state: switching times match the closed-form exponentials."""
    P, k, Ta, lo, hi = 2.0, 0.1, 15.0, 19.0, 21.0
    p = [P, k, Ta, lo, hi]
    t_end = 100.0
    ts = np.linspace(0.0, t_end, 401)
    r = integrate(
        method,
        THERMOSTAT,
        [18.0, 1.0],
        p,
        t_end,
        ts,
        ev_dir=[1, -1],
        rtol=1e-10,
        atol=1e-12,
        event_tol=1e-10,
        **run_kw(method),
    )
    assert r.status == OK
    heat_eq = Ta + P / k
    t_heat_first = math.log((18.0 - heat_eq) / (hi - heat_eq)) / k
    t_cool = math.log((hi - Ta) / (lo - Ta)) / k
    t_heat = math.log((lo - heat_eq) / (hi - heat_eq)) / k
    expected = [t_heat_first]
    while expected[-1] < t_end:
        expected.append(expected[-1] + (t_cool if len(expected) % 2 == 1 else t_heat))
    expected_arr = np.array([t for t in expected if t < t_end])
    assert r.ev_t.size == expected_arr.size
    np.testing.assert_allclose(r.ev_t, expected_arr, atol=1e-7)
    np.testing.assert_array_equal(r.ev_k, np.arange(expected_arr.size) % 2)
    after = ts > expected_arr[0]
    assert lo - 1e-6 <= r.X[after, 0].min() and r.X[:, 0].max() <= hi + 1e-6
    assert set(np.unique(r.X[:, 1])) <= {0.0, 1.0}


@pytest.mark.parametrize("method", METHODS)
def test_event_from_input_step_at_breakpoint(method: str) -> None:
    """An indicator that jumps with a HOLD input fires exactly at the breakpoint; a later
    crossing caused by the state is located as usual."""
    tab = (np.array([0.0, 1.0]), np.array([[5.0], [0.5]]), np.array([0]))
    r = integrate(
        method,
        THRESHOLD,
        [0.0, 0.0],
        [0.0],
        3.0,
        [0.5, 1.0, 3.0],
        ev_dir=[1],
        table=tab,
        rtol=1e-10,
        atol=1e-12,
        event_tol=1e-10,
        **run_kw(method),
    )
    assert r.status == OK
    np.testing.assert_array_equal(r.ev_t, [1.0])
    np.testing.assert_array_equal(r.X[:, 1], [0.0, 1.0, 1.0])  # reset visible at the breakpoint
    tab = (np.array([0.0, 1.0]), np.array([[5.0], [2.5]]), np.array([0]))
    r = integrate(
        method,
        THRESHOLD,
        [0.0, 0.0],
        [0.0],
        3.0,
        [3.0],
        ev_dir=[1],
        table=tab,
        rtol=1e-10,
        atol=1e-12,
        event_tol=1e-10,
        **run_kw(method),
    )
    assert r.status == OK
    np.testing.assert_allclose(r.ev_t, [2.5], atol=1e-9)


def test_bouncing_ball_event_tolerance_is_met() -> None:
    """A loose event tolerance is still honoured (the bracket is refined below it)."""
    expected = bounce_times(10.0, 0.8, 3)
    r = integrate(
        "dopri5",
        BALL,
        [10.0, 0.0],
        [G, 0.8],
        expected[-1] + 0.1,
        [expected[-1] + 0.1],
        ev_dir=[-1],
        rtol=1e-10,
        atol=1e-12,
        event_tol=1e-4,
    )
    assert r.status == OK
    assert np.abs(r.ev_t - expected).max() <= 1e-4
