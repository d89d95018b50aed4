"""The filter interface (:class:`phystwin.estimation.Filter`): every filter implements it with the same
signatures, the fusion engine runs the same scenario with each of them, a filter that leaves out an
abstract method cannot be built, and a filter written outside the package runs in the engine."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from constant_velocity import CV_A, CV_B

from phystwin.core.model import Model
from phystwin.estimation import (
    EnsembleKalmanFilter,
    ExtendedKalmanFilter,
    Filter,
    FusedSensor,
    FusionEngine,
    FusionReason,
    GaussianState,
    KalmanFilter,
    Measurement,
    SquareRootUnscentedKalmanFilter,
    UnscentedKalmanFilter,
    UpdateInfo,
)

QC = np.array([[0.0, 0.0], [0.0, 0.05]])
R_POS, R_VEL = 0.04, 0.01
SENSORS = {"gps": FusedSensor(["pos"], [R_POS]), "odo": FusedSensor([1], [R_VEL])}


def _kf(model: Model) -> Filter[GaussianState]:
    return KalmanFilter.from_continuous(CV_A, CV_B, np.eye(2), QC, [R_POS, R_VEL], measurement_names=("pos", "vel"))


def _on_model(cls: type) -> Callable[[Model], Filter[GaussianState]]:
    return lambda model: cls(model, ["pos", "vel"], [R_POS, R_VEL], Qc=QC)


def _enkf(model: Model) -> Filter[GaussianState]:
    return EnsembleKalmanFilter(model, ["pos", "vel"], [R_POS, R_VEL], Qc=QC, n_members=400, seed=3)


FILTERS: dict[str, Callable[[Model], Filter[GaussianState]]] = {
    "KF": _kf,
    "UKF": _on_model(UnscentedKalmanFilter),
    "SR-UKF": _on_model(SquareRootUnscentedKalmanFilter),
    "EKF": _on_model(ExtendedKalmanFilter),
    "EnKF": _enkf,
}


def x0() -> GaussianState:
    return GaussianState(0.0, [0.0, 1.0], np.diag([1.0, 1.0]))


def scenario(seed: int = 7, n: int = 120) -> tuple[list[tuple[float, float]], list[Measurement]]:
    """Acceleration steps (input samples) and asynchronous gps (every 10 ms) and odometer (every
    25 ms, offset) samples of a constant-velocity truth, in time order."""
    rng = np.random.default_rng(seed)
    kf = _kf(None)  # type: ignore[arg-type]
    assert isinstance(kf, KalmanFilter)
    inputs = [(0.0, 0.0), (0.3, 2.0), (0.72, -1.0)]
    times = sorted({round(0.01 * (k + 1), 9) for k in range(n)} | {round(0.025 * k + 0.0025, 9) for k in range(n // 3)})
    x, t, seq = np.array([0.0, 1.0]), 0.0, {"gps": 0, "odo": 0}
    out = []
    for tk in times:
        a = [v for ti, v in inputs if ti <= t][-1]
        Phi, Gamma, Qd = kf.matrices(tk - t)
        x = Phi @ x + Gamma @ [a] + np.linalg.cholesky(Qd + 1e-300 * np.eye(2)) @ rng.standard_normal(2)
        t = tk
        name, row, r = ("gps", 0, R_POS) if abs(tk / 0.01 - round(tk / 0.01)) < 1e-6 else ("odo", 1, R_VEL)
        seq[name] += 1
        out.append(Measurement(tk, name, [x[row] + np.sqrt(r) * rng.standard_normal()], seq=seq[name]))
    return inputs, out


def run_engine(f: Filter[GaussianState]) -> FusionEngine:
    inputs, ms = scenario()
    eng = FusionEngine(f, SENSORS, x0(), lag_window=0.1, gate_probability=1.0)
    eng.warm_up()
    pending = list(inputs)
    for m in ms:
        while pending and pending[0][0] <= m.t:
            ti, a = pending.pop(0)
            eng.push_input(ti, [a])
        assert eng.push(m).reason is FusionReason.ACCEPTED
    return eng


# ----------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_is_a_filter(name: str, cv_model: Model) -> None:
    f = FILTERS[name](cv_model)
    assert isinstance(f, Filter)
    assert f.n == 2 and f.measurement_names == ("pos", "vel")
    assert (f.model is None) == (name == "KF")
    np.testing.assert_array_equal(f.input_vector([1.5]), [1.5])
    sub = f.select_measurements(["vel"])
    assert isinstance(sub, type(f)) and sub.measurement_names == ("vel",)
    assert sub.select_measurements([0], R=[2.0]).measurement_names == ("vel",)


@pytest.mark.parametrize("method", ["predict", "update", "predict_update", "select_measurements", "input_vector"])
def test_every_filter_has_the_interface_signatures(method: str) -> None:
    want = inspect.signature(getattr(Filter, method))
    for cls in (
        KalmanFilter,
        UnscentedKalmanFilter,
        SquareRootUnscentedKalmanFilter,
        ExtendedKalmanFilter,
        EnsembleKalmanFilter,
    ):
        got = inspect.signature(getattr(cls, method))
        assert [(p.name, p.kind, p.default) for p in got.parameters.values()] == [
            (p.name, p.kind, p.default) for p in want.parameters.values()
        ], f"{cls.__name__}.{method}{got} differs from Filter.{method}{want}"


@pytest.mark.parametrize("name", FILTERS)
def test_predict_update_is_predict_then_update_and_rejects_to_the_input_state(name: str, cv_model: Model) -> None:
    f = FILTERS[name](cv_model)
    s = x0()
    if name != "EnKF":  # the EnKF draws new noise on every call: compared in distribution below
        prior = f.predict(s, 0.02, [1.0])
        ref, ref_info = f.update(prior, [0.05, 1.1], u=[1.0])
        got, info = f.predict_update(s, 0.02, [0.05, 1.1], u=[1.0])
        assert got.t == ref.t == 0.02 and info.accepted
        np.testing.assert_allclose(got.x, ref.x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.P, ref.P, rtol=1e-8, atol=1e-12)
        assert info.nis == pytest.approx(ref_info.nis, rel=1e-8)
    bad, info = f.predict_update(s, 0.02, [np.nan, 1.0], u=[1.0])
    assert bad is s and not info.accepted and "pos" in info.message
    assert f.predict(s, s.t) is s
    with pytest.raises(ValueError, match="back to"):
        f.predict(f.predict(s, 0.01), 0.005)
    with pytest.raises(ValueError, match="2 value"):
        f.update(s, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", FILTERS)
def test_select_measurements_refuses_unknown_rows(name: str, cv_model: Model) -> None:
    f = FILTERS[name](cv_model)
    with pytest.raises(ValueError, match="out of range"):
        f.select_measurements([2])
    with pytest.raises(ValueError, match="speed"):
        f.select_measurements(["speed"])
    with pytest.raises(ValueError, match="at least one"):
        f.select_measurements([])


# ----------------------------------------------------------------------------- the engine
def test_same_scenario_through_the_engine_with_every_filter(cv_model: Model) -> None:
    """The constant-velocity model is linear and RK4 integrates it exactly, so the KF, UKF, SR-UKF and
    EKF engines agree to rounding; the EnKF (400 members) agrees within its sampling error."""
    engines = {name: run_engine(make(cv_model)) for name, make in FILTERS.items()}
    ref = engines.pop("KF").state
    enkf = engines.pop("EnKF").state
    for name, eng in engines.items():
        assert eng.state.t == ref.t
        np.testing.assert_allclose(eng.state.x, ref.x, rtol=0, atol=1e-8, err_msg=name)
        np.testing.assert_allclose(eng.state.P, ref.P, rtol=0, atol=1e-8, err_msg=name)
        assert eng.counters("gps").accepted == 120 and eng.counters("odo").accepted == 40
    assert enkf.nees(ref.x) < 1.0  # mean within a standard deviation of the exact posterior
    np.testing.assert_allclose(np.sqrt(np.diag(enkf.P)), np.sqrt(np.diag(ref.P)), rtol=0.25)


def test_enkf_row_subsets_share_the_ensemble_of_the_engine(cv_model: Model) -> None:
    """The engine predicts with its filter and updates with per-sensor subsets: they share the
    ensemble behind the last state, so the ensemble is carried, not redrawn from N(x, P)."""
    enkf = _enkf(cv_model)
    assert isinstance(enkf, EnsembleKalmanFilter)
    eng = FusionEngine(enkf, SENSORS, x0(), lag_window=0.1, gate_probability=1.0)
    _, ms = scenario()
    for m in ms[:5]:
        assert eng.push(m).accepted
    assert enkf.ensemble(eng.state) is enkf.ensemble(eng.state)  # a redraw would be a new object
    ens = enkf.ensemble(eng.state)
    np.testing.assert_allclose(ens.mean, eng.state.x, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- abstract methods
def test_a_filter_without_the_abstract_methods_cannot_be_built() -> None:
    class Incomplete(Filter[GaussianState]):
        def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
            return state

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


class ScalarRandomWalk(Filter[GaussianState]):
    """A filter written against the interface alone: x' = w (spectral density q), z = x + v."""

    def __init__(self, q: float, r: float, name: str = "level") -> None:
        self.q, self.r, self.name = q, r, name

    @property
    def n(self) -> int:
        return 1

    @property
    def measurement_names(self) -> tuple[str, ...]:
        return (self.name,)

    def input_vector(self, u: Any = None) -> np.ndarray:
        return np.zeros(0)

    def predict(self, state: GaussianState, t: float, u: Any = None) -> GaussianState:
        dt = self._check_predict(state, t)
        return state if dt == 0.0 else GaussianState(t, state.x, state.P + self.q * dt)

    def update(self, state: GaussianState, z: Any, *, R: Any = None, u: Any = None) -> tuple[GaussianState, UpdateInfo]:
        r = self.r if R is None else float(np.asarray(R).reshape(-1)[0])
        S = state.P + r
        y = np.asarray(z, dtype=float).reshape(1) - state.x
        K = state.P / S
        nis = float(y @ np.linalg.solve(S, y))
        return GaussianState(state.t, state.x + K @ y, state.P - K @ S @ K.T), UpdateInfo(True, 0, y, S, nis)

    def select_measurements(self, rows: Sequence[int | str], R: Any = None) -> ScalarRandomWalk:
        if list(rows) not in ([0], [self.name]):
            raise ValueError(f"rows {rows!r}: this filter measures only {self.name!r}")
        return ScalarRandomWalk(self.q, self.r if R is None else float(np.asarray(R).reshape(-1)[0]), self.name)


def test_a_filter_written_outside_the_package_runs_in_the_engine() -> None:
    f = ScalarRandomWalk(q=0.1, r=0.5)
    eng = FusionEngine(
        f, {"a": FusedSensor(["level"], [0.5]), "b": FusedSensor([0], [2.0])}, GaussianState(0.0, [0.0], [[1.0]]), 0.5
    )
    kf = KalmanFilter.from_continuous([[0.0]], None, [[1.0]], [[0.1]], [0.5], measurement_names=("level",))
    ref = FusionEngine(
        kf, {"a": FusedSensor(["level"], [0.5]), "b": FusedSensor([0], [2.0])}, GaussianState(0.0, [0.0], [[1.0]]), 0.5
    )
    rng = np.random.default_rng(1)
    ms = [Measurement(0.01 * (k + 1), "ab"[k % 2], [1.0 + rng.normal()], seq=k) for k in range(40)]
    for m in [*ms[:20], *ms[25:], *ms[20:25]]:  # five late samples: replayed through the interface
        assert eng.push(m).reason is ref.push(m).reason
    np.testing.assert_allclose(eng.state.x, ref.state.x, rtol=1e-10)
    np.testing.assert_allclose(eng.state.P, ref.state.P, rtol=1e-10)
    assert eng.counters("a").out_of_sequence + eng.counters("b").out_of_sequence == 5
