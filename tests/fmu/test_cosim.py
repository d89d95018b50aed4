"""Co-simulation master: convergence of Jacobi / Gauss-Seidel to the coupled ODE, compiled == Python loop,
failures of a unit inside the compiled loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from phystwin._jit import njit
from phystwin.core.model import Layout, Model, Signal
from phystwin.fmu.cosim import CoSimulation, NativeUnit
from phystwin.fmu.errors import FMUDiscard, FMUNonFinite
from phystwin.fmu.instance import FMUInstance

# dc_load parameters (its C defaults) and the native drive inertia
K_C, D_C, J_L, B_L = 50.0, 0.05, 2e-3, 1e-3
J_M, TAU_DRIVE, T_END = 0.01, 0.1, 0.5


@njit(cache=False)
def _rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = (u[0] - u[1]) / p[0]  # J dw/dt = tau_drive - tau_load
    return 0


@njit(cache=False)
def _jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 0.0
    return 0


@njit(cache=False)
def _out(t, x, u, p, y):  # type: ignore[no-untyped-def]
    y[0] = x[0]
    return 0


@njit(cache=False)
def _none(t, x, u, p, g):  # type: ignore[no-untyped-def]
    return 0


def make_inertia() -> Model:
    """A rigid inertia ``J dw/dt = tau_drive - tau_load`` with output ``w`` [rad/s]."""
    k = ModuleType("inertia_kernels")
    k.rhs, k.jac, k.out, k.ev, k.act = _rhs, _jac, _out, _none, _none  # type: ignore[attr-defined]
    layout = Layout(
        states=(Signal("w", "rad/s"),),
        parameters=(Signal("J", "kg*m^2", J_M),),
        inputs=(Signal("tau_drive", "N*m", 0.0), Signal("tau_load", "N*m", 0.0)),
        outputs=(Signal("w", "rad/s"),),
    )
    return Model(name="inertia", layout=layout, kernels=k, structure_hash="inertia-test")


@pytest.fixture(scope="module")
def inertia() -> Model:
    return make_inertia()


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    """Dense solution ``(t, tau)`` of the fully coupled ODE (states phi_c, w_l, w_m)."""

    def f(t: float, s: np.ndarray) -> list[float]:
        phi, wl, wm = s
        tau = K_C * phi + D_C * (wm - wl)
        return [wm - wl, (tau - B_L * wl) / J_L, (TAU_DRIVE - tau) / J_M]

    t = np.linspace(0.0, T_END, 1251)  # every 4e-4 s
    sol = solve_ivp(f, (0.0, T_END), [0.0, 0.0, 0.0], method="DOP853", rtol=1e-12, atol=1e-14, t_eval=t)
    phi, wl, wm = sol.y
    return t, K_C * phi + D_C * (wm - wl)


def _coupled(dc_load_fmu: Path, inertia: Model, method: str, h: float) -> tuple[np.ndarray, np.ndarray]:
    with FMUInstance(dc_load_fmu) as load:
        cs = CoSimulation(
            {"motor": NativeUnit(inertia), "load": load},
            [("motor.w", "load.w_in"), ("load.tau", "motor.tau_load")],
            method=method,
            order=["motor", "load"],
        )
        res = cs.run(0.0, T_END, h, {"motor.tau_drive": TAU_DRIVE})
        assert not res.compiled
        assert res.units["load.tau"] == "N.m"
        return res.t, res["load.tau"]


def test_jacobi_and_gauss_seidel_converge_first_order(
    dc_load_fmu: Path, inertia: Model, reference: tuple[np.ndarray, np.ndarray]
) -> None:
    t_ref, tau_ref = reference
    errors: dict[str, list[float]] = {"jacobi": [], "gauss_seidel": []}
    steps = (4e-4, 2e-4, 1e-4)
    for method in errors:
        for h in steps:
            t, tau = _coupled(dc_load_fmu, inertia, method, h)
            every = round(4e-4 / h)
            np.testing.assert_allclose(t[::every], t_ref, atol=1e-12)
            errors[method].append(float(np.max(np.abs(tau[::every] - tau_ref))))
    for method, err in errors.items():
        assert err[-1] < 5e-3, f"{method}: error {err} N.m too large at H = {steps[-1]} s"
        ratios = [err[i] / err[i + 1] for i in range(len(err) - 1)]
        assert all(1.6 < r < 2.5 for r in ratios), f"{method}: expected first order (ratio ~2), got {ratios}"
    assert all(g <= j for g, j in zip(errors["gauss_seidel"], errors["jacobi"], strict=True)), errors


@pytest.fixture
def pair(dc_load_fmu: Path, fault_injector_fmu: Path) -> Iterator[tuple[FMUInstance, FMUInstance]]:
    with FMUInstance(dc_load_fmu) as load, FMUInstance(fault_injector_fmu) as lag:
        yield load, lag


def _pair_sim(load: FMUInstance, lag: FMUInstance, method: str) -> CoSimulation:
    return CoSimulation(
        {"load": load, "lag": lag},
        [("load.tau", "lag.u"), ("lag.y", "load.tau_ext")],
        method=method,
        order=["lag", "load"],
    )


@pytest.mark.parametrize("method", ["jacobi", "gauss_seidel"])
def test_compiled_loop_equals_python_loop(dc_load_fmu: Path, fault_injector_fmu: Path, method: str) -> None:
    results = []
    for compiled in (True, False):
        with FMUInstance(dc_load_fmu) as load, FMUInstance(fault_injector_fmu) as lag:
            cs = _pair_sim(load, lag, method)
            assert cs.can_compile
            res = cs.run(0.0, 0.2, 1e-3, {"load.w_in": lambda t: 10.0 * np.sin(20.0 * t)}, compiled=compiled)
            assert res.compiled is compiled
            results.append(res)
    fast, slow = results
    assert fast.values.keys() == slow.values.keys()
    for name in fast.values:
        np.testing.assert_array_equal(fast[name], slow[name], err_msg=name)
    assert np.all(np.isfinite(fast["load.tau"])) and np.max(np.abs(fast["load.tau"])) > 0.1


def test_discard_in_compiled_loop_raises_with_time(pair: tuple[FMUInstance, FMUInstance]) -> None:
    load, lag = pair
    lag.initialize(0.0, integers={"fault_mode": 1}, values={"fault_time": 0.0105})
    cs = _pair_sim(load, lag, "jacobi")
    with pytest.raises(FMUDiscard, match="fmi2DoStep") as info:
        cs.run(0.0, 0.05, 1e-3, {"load.w_in": 5.0}, compiled=True)
    assert info.value.time == pytest.approx(0.010)
    assert info.value.fmu == "fault_injector"
    assert info.value.status == 2


def test_nan_in_compiled_loop_names_output(pair: tuple[FMUInstance, FMUInstance]) -> None:
    load, lag = pair
    lag.initialize(0.0, integers={"fault_mode": 4}, values={"fault_time": 0.02})
    cs = _pair_sim(load, lag, "gauss_seidel")
    with pytest.raises(FMUNonFinite, match="y") as info:
        cs.run(0.0, 0.05, 1e-3, {"load.w_in": 5.0})
    assert info.value.variables == ("y",)
    assert info.value.time == pytest.approx(0.019)


def test_bad_connection_names_what_exists(pair: tuple[FMUInstance, FMUInstance]) -> None:
    load, lag = pair
    with pytest.raises(KeyError, match="w_load"):
        CoSimulation({"load": load, "lag": lag}, [("load.speed", "lag.u")])
