"""Accuracy of the solver kernels against analytic solutions, scipy, and their convergence order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from solver_models import (
    DAHLQUIST,
    FORCED,
    INTEGRATOR,
    LAG,
    LOGISTIC,
    LOTKA,
    METHODS,
    OSCILLATOR,
    VDP,
    integrate,
    options,
)

from phystwin.core.status import OK

LV_P = np.array([1.5, 1.0, 3.0, 1.0])
LV_X0 = np.array([1.0, 1.0])


def lv_reference(t_eval: np.ndarray, x0: np.ndarray = LV_X0) -> np.ndarray:
    sol = solve_ivp(
        lambda t, x: [LV_P[0] * x[0] - LV_P[1] * x[0] * x[1], -LV_P[2] * x[1] + LV_P[3] * x[0] * x[1]],
        (0.0, float(t_eval[-1])),
        x0,
        method="DOP853",
        rtol=1e-13,
        atol=1e-15,
        t_eval=t_eval,
    )
    assert sol.success
    return sol.y.T


def run_kw(method: str) -> dict[str, float]:
    """Fixed step for RK4 (fine enough for the tolerances the tests check), adaptive otherwise."""
    return {"h": 1e-3} if method == "rk4" else {}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lam", [-1.0, 0.5])
def test_dahlquist(method: str, lam: float) -> None:
    ts = np.linspace(0.0, 4.0, 17)
    r = integrate(method, DAHLQUIST, [1.0, -2.0], [lam], 4.0, ts, rtol=1e-10, atol=1e-12, **run_kw(method))
    assert r.status == OK
    exact = np.exp(lam * ts)[:, None] * np.array([1.0, -2.0])
    np.testing.assert_allclose(r.X, exact, rtol=1e-7, atol=1e-12)
    assert r.stats[0] == 4.0
    assert r.stats[6] == ts.size


def test_rodas_stiff_dahlquist() -> None:
    """lambda = -1e5: the stiff solver takes few steps and stays accurate."""
    ts = np.linspace(0.0, 1.0, 11)
    r = integrate("rodas", DAHLQUIST, [1.0], [-1e5], 1.0, ts, rtol=1e-6, atol=1e-12)
    assert r.status == OK
    assert r.stats[1] < 200
    np.testing.assert_allclose(r.X[:, 0], np.exp(-1e5 * ts), atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_harmonic_oscillator(method: str) -> None:
    w2 = 4.0
    ts = np.linspace(0.0, 10.0, 101)
    r = integrate(method, OSCILLATOR, [1.0, 0.0], [w2], 10.0, ts, ny=1, rtol=1e-9, atol=1e-12, **run_kw(method))
    assert r.status == OK
    x = np.cos(2.0 * ts)
    v = -2.0 * np.sin(2.0 * ts)
    np.testing.assert_allclose(r.X[:, 0], x, atol=1e-6)
    np.testing.assert_allclose(r.X[:, 1], v, atol=2e-6)
    np.testing.assert_allclose(r.Y[:, 0], x + v, atol=3e-6)
    energy = w2 * r.X[:, 0] ** 2 + r.X[:, 1] ** 2
    np.testing.assert_allclose(energy, 4.0, rtol=1e-6)


@pytest.mark.parametrize("method", ["dopri5", "rodas"])
@pytest.mark.parametrize("rtol", [1e-6, 1e-9])
def test_agreement_with_scipy_dop853(method: str, rtol: float) -> None:
    """Global error on Lotka-Volterra over one cycle (reference: DOP853 at rtol 1e-13) stays within a
    small multiple of the requested tolerance, including dense-output save points between steps,
    and is no worse than scipy's own Dormand-Prince (RK45) at the same tolerance."""
    atol = rtol * 1e-2
    ts = np.linspace(0.0, 5.0, 201)
    r = integrate(method, LOTKA, LV_X0, LV_P, 5.0, ts, rtol=rtol, atol=atol)
    assert r.status == OK
    ref = lv_reference(ts)
    scale = atol + rtol * np.abs(ref)
    ours = (np.abs(r.X - ref) / scale).max()
    assert ours < 25.0, ours
    rk45 = solve_ivp(
        lambda t, x: [LV_P[0] * x[0] - LV_P[1] * x[0] * x[1], -LV_P[2] * x[1] + LV_P[3] * x[0] * x[1]],
        (0.0, 5.0),
        LV_X0,
        method="RK45",
        rtol=rtol,
        atol=atol,
        t_eval=ts,
    )
    theirs = (np.abs(rk45.y.T - ref) / scale).max()
    assert ours < 2.0 * theirs + 1.0, (ours, theirs)


def test_rk4_agrees_with_scipy() -> None:
    ts = np.linspace(0.0, 15.0, 301)
    r = integrate("rk4", LOTKA, LV_X0, LV_P, 15.0, ts, h=2e-3)
    assert r.status == OK
    np.testing.assert_allclose(r.X, lv_reference(ts), rtol=1e-8, atol=1e-9)


def test_rodas_van_der_pol_stiff() -> None:
    """mu = 1000 (very stiff, relaxation period ~1614) against scipy's Radau at rtol 1e-10."""
    mu = 1000.0
    t_end = 3000.0
    ts = np.linspace(0.0, t_end, 61)
    r = integrate("rodas", VDP, [2.0, 0.0], [mu], t_end, ts, rtol=1e-8, atol=1e-10)
    assert r.status == OK
    assert r.stats[1] < 20000  # an explicit method needs millions of steps here

    def f(t: float, x: np.ndarray) -> list[float]:
        return [x[1], mu * (1.0 - x[0] ** 2) * x[1] - x[0]]

    def jac(t: float, x: np.ndarray) -> list[list[float]]:
        return [[0.0, 1.0], [-2.0 * mu * x[0] * x[1] - 1.0, mu * (1.0 - x[0] ** 2)]]

    ref = solve_ivp(f, (0.0, t_end), [2.0, 0.0], method="Radau", rtol=1e-10, atol=1e-12, jac=jac, t_eval=ts)
    assert ref.success
    # Away from the fast jumps (where a 1e-9 timing difference is a large state difference).
    calm = np.abs(ref.y[1]) < 1.0
    assert calm.sum() > 50
    np.testing.assert_allclose(r.X[calm, 0], ref.y[0][calm], rtol=1e-5)
    np.testing.assert_allclose(r.X[calm, 1], ref.y[1][calm], rtol=1e-4, atol=1e-7)


def observed_order(method: str, model, x0, p, t_end: float, ref: np.ndarray, steps: list[int], extra=()) -> float:  # type: ignore[no-untyped-def]
    errs = []
    hs = []
    for n in steps:
        h = t_end / n
        r = integrate(method, model, x0, p, t_end, [t_end], opts=options(h=h, extra=extra))
        assert r.status == OK
        assert r.stats[1] == n
        errs.append(np.abs(r.X[0] - ref).max())
        hs.append(h)
    slope, _ = np.polyfit(np.log(hs), np.log(errs), 1)
    return float(slope)


@pytest.mark.parametrize(("method", "order"), [("rk4", 4), ("dopri5", 5), ("rodas", 4)])
def test_convergence_order(method: str, order: int) -> None:
    """Fixed-step mode (opts[6]) on the logistic equation; the fitted slope of log(error) over
    log(h) is the order (measured: RK4 3.94, DOPRI5 5.23, Rodas4 4.15)."""
    t_end = 3.0
    exact = 1.0 / (1.0 + 9.0 * np.exp(-t_end))
    slope = observed_order(method, LOGISTIC, [0.1], [0.0], t_end, np.array([exact]), [8, 16, 32, 64], extra=(1.0,))
    assert abs(slope - order) < 0.3, slope


def test_rodas_order_non_autonomous() -> None:
    """Explicit time dependence goes through the df/dt difference and keeps order 4."""
    t_end = 3.0
    sol = solve_ivp(
        lambda t, x: [x[1], -x[0] - 0.1 * x[1] + np.sin(2 * t)],
        (0, t_end),
        [1.0, 0.0],
        method="DOP853",
        rtol=1e-13,
        atol=1e-15,
    )
    slope = observed_order("rodas", FORCED, [1.0, 0.0], [0.0], t_end, sol.y[:, -1], [30, 60, 120, 240])
    assert abs(slope - 4) < 0.3, slope


@pytest.mark.parametrize("method", METHODS)
def test_step_input_at_breakpoint(method: str) -> None:
    """HOLD input 0 -> 1 at t = 1: visible at t = 1 in the outputs, and not smeared by a step."""
    tab = (np.array([0.0, 1.0]), np.array([[0.0], [1.0]]), np.array([0]))
    ts = np.array([0.0, 0.5, 1.0, 1.0 + 1e-9, 1.5, 2.0, 3.0])
    r = integrate(
        method,
        LAG,
        [0.0],
        [0.5],
        3.0,
        ts,
        ny=2,
        table=tab,
        rtol=1e-10,
        atol=1e-12,
        **({"h": 0.01} if method == "rk4" else {}),
    )
    assert r.status == OK
    exact = np.where(ts < 1.0, 0.0, 1.0 - np.exp(-(ts - 1.0) / 0.5))
    np.testing.assert_allclose(r.X[:, 0], exact, atol=1e-8)
    np.testing.assert_array_equal(r.Y[:, 0], [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert r.X[2, 0] == 0.0  # exactly: the state has not moved before the step


@pytest.mark.parametrize("method", METHODS)
def test_breakpoint_at_start_and_end(method: str) -> None:
    """Breakpoints at t0 and t_end use the new segment; save points there are exact."""
    tab = (np.array([0.0, 2.0]), np.array([[3.0], [-1.0]]), np.array([0]))
    r = integrate(
        method, INTEGRATOR, [0.0], [0.0], 2.0, [0.0, 2.0], ny=1, table=tab, **({"h": 0.1} if method == "rk4" else {})
    )
    assert r.status == OK
    np.testing.assert_allclose(r.X[:, 0], [0.0, 6.0], rtol=1e-12)
    np.testing.assert_array_equal(r.Y[:, 0], [3.0, -1.0])


@pytest.mark.parametrize("method", METHODS)
def test_piecewise_linear_input(method: str) -> None:
    """x' = u with u a LINEAR ramp 0 -> 2 on [0, 1], then 2 -> -1 on [1, 3], held after."""
    tab = (np.array([0.0, 1.0, 3.0]), np.array([[0.0], [2.0], [-1.0]]), np.array([1]))
    ts = np.linspace(0.0, 4.0, 41)

    def exact(t: float) -> float:
        if t <= 1.0:
            return t * t
        if t <= 3.0:
            s = t - 1.0
            return 1.0 + 2.0 * s - 0.75 * s * s
        return 1.0 + 4.0 - 3.0 - (t - 3.0)

    r = integrate(
        method,
        INTEGRATOR,
        [0.0],
        [0.0],
        4.0,
        ts,
        ny=1,
        table=tab,
        rtol=1e-10,
        atol=1e-12,
        **({"h": 0.05} if method == "rk4" else {}),
    )
    assert r.status == OK
    np.testing.assert_allclose(r.X[:, 0], [exact(t) for t in ts], atol=1e-9)
    np.testing.assert_allclose(r.Y[:, 0], np.interp(ts, tab[0], tab[1][:, 0]), atol=1e-12)


@pytest.mark.parametrize("method", ["dopri5", "rodas"])
def test_dense_output_between_steps(method: str) -> None:
    """Few large steps, many save points: the interpolant meets the tolerance between steps."""
    ts = np.linspace(0.0, 10.0, 1001)
    r = integrate(method, OSCILLATOR, [1.0, 0.0], [1.0], 10.0, ts, rtol=1e-7, atol=1e-9)
    assert r.status == OK
    assert r.stats[1] < 300
    np.testing.assert_allclose(r.X[:, 0], np.cos(ts), atol=2e-6)


def test_initial_step_and_hmax_are_honoured() -> None:
    r = integrate("dopri5", OSCILLATOR, [1.0, 0.0], [1.0], 10.0, [10.0], hmax=0.01)
    assert r.status == OK
    assert r.stats[1] >= 1000
    r = integrate("dopri5", OSCILLATOR, [1.0, 0.0], [1.0], 10.0, [10.0], h0=1e-6)
    assert r.status == OK
