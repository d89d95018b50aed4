"""Kalman filters on compiled twins against filterpy: microseconds per predict + update.

Two problems, three filters each, every filter implemented twice on the *same compiled model*:

* ``motor`` -- the composed ``dc_motor`` twin (6 states), 24 V step from rest, measured: current,
  speed, housing temperature; sample step 1 ms.
* ``thermal20`` -- a 20-node thermal chain built with :func:`phystwin.physics.thermal.thermal_network`
  (hot boundary, 20 capacitive nodes, ambient boundary), measured: 4 node temperatures; step 1 s.

Filters (``ours`` = :mod:`phystwin.estimation`, ``filterpy`` = filterpy 2.0 given the same compiled
functions):

* ``KF`` -- the model linearised at an operating point (compiled Jacobian, input matrix by central
  differences of the compiled rhs, the affine remainder as a constant extra input), discretised
  exactly over the step (:func:`phystwin.estimation.discretize`); ours ``KalmanFilter``, filterpy
  ``KalmanFilter`` with the same ``F, B, H, Q, R``.
* ``EKF`` -- ours ``ExtendedKalmanFilter``; filterpy ``ExtendedKalmanFilter`` whose ``predict_x``
  calls our compiled mean-and-transition kernel ``ekf_predict_rk4`` (RK4 on the compiled rhs and
  Jacobian: ``F`` from our compiled Jacobian, integrated over the step), whose ``HJacobian`` calls the
  compiled ``ekf_output_jacobian`` and whose ``Hx`` calls the compiled ``out``.
* ``UKF`` -- ours ``UnscentedKalmanFilter``; filterpy ``UnscentedKalmanFilter`` (Merwe points, same
  alpha, beta, kappa) whose ``fx`` advances one sigma point with the compiled single-point RK4 kernel
  ``phystwin.core.solvers.rk4_advance`` (the same compiled model function ours integrates) and whose
  ``hx`` calls the compiled ``out``.

Both sides use a fixed ``Qd`` on a uniform step and one RK4 step per sample. Before anything is
timed the script filters the whole recording with both sides and asserts that the estimates agree
(max over samples and states of ``|x - x_fp| / max(|x_fp|, 1)`` below ``PARITY_TOL``).

Measured:

* ``per-sample call`` -- one ``predict`` + ``update`` called from Python, as a live loop would; all
  implementations of a (problem, filter) advance through the recording together, one call each per
  round in rotating order (``harness.time_interleaved``); median over the samples.
* ``whole run`` -- filtering the whole recording (``--samples`` samples) and storing every estimate;
  ours is a Python loop over the per-call API, plus a compiled whole-run entry point when phystwin
  has one (:func:`compiled_run_entries`: ``phystwin.estimation.batch.filter_run``, UKF only); round-robin
  over ``--repeats`` runs, median / samples.
* ``sustained rate`` -- ``1 / (whole-run time per sample)``: the highest sensor rate one core keeps
  up with.
* two bench-only levels of ours, in both modes: ``raw kernels from Python`` -- the same compiled
  kernels called from Python with preallocated buffers (numba dispatch + arithmetic, no wrapper), and
  ``kernels in a compiled loop`` -- the kernels called from one compiled loop over the recording
  (arithmetic only: the ceiling a compiled whole-run API can reach). Their differences split the
  public call into Python wrapper, numba dispatch and arithmetic (the breakdown table, from the
  whole-run round-robin, which also times the ``GaussianState`` constructions alone).

Usage::

    python benchmarks/bench_estimation.py [--repeats N] [--samples N] [--quick] [--only UKF] [--problem motor]
        [--name NAME]

Writes ``benchmarks/results/<name>.json`` and ``.md`` (default name ``estimation``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from filterpy.kalman import ExtendedKalmanFilter as FpEKF
from filterpy.kalman import KalmanFilter as FpKF
from filterpy.kalman import MerweScaledSigmaPoints
from filterpy.kalman import UnscentedKalmanFilter as FpUKF

from phystwin.core import solvers
from phystwin.core.model import Model
from phystwin.core.options import RK4
from phystwin.estimation import ekf as ekf_mod
from phystwin.estimation import kernels
from phystwin.estimation.discretize import discretize
from phystwin.estimation.ekf import ExtendedKalmanFilter
from phystwin.estimation.filters import KalmanFilter, UnscentedKalmanFilter
from phystwin.estimation.types import GaussianState

PARITY_TOL = 1e-6
"""Loose agreement required between ours and filterpy before timing (scaled max difference)."""
RAW_LABEL = "ours, raw kernels from Python (bench, no wrapper)"
LOOP_LABEL = "ours, kernels in a compiled loop (bench prototype)"
UKF_PER_CALL_TARGET = 50.0
UKF_WHOLE_RUN_TARGET = 100.0
FILTERS = ("KF", "EKF", "UKF")


# ==================================================================================================
# Problems
# ==================================================================================================
@dataclass
class Problem:
    """A model, its noise and a recorded run: ``Z[k]`` measured at ``t[k] = (k + 1) dt``."""

    name: str
    model: Model
    measured: tuple[str, ...]
    u: np.ndarray  # inputs held over the whole run
    p: np.ndarray
    dt: float  # sample step = RK4 step [s]
    Qd: np.ndarray
    R: np.ndarray
    x0: np.ndarray  # initial estimate
    P0: np.ndarray
    x_op: np.ndarray  # linearisation point of the KF
    t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    Z: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    truth: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def n(self) -> int:
        return self.model.layout.nx

    @property
    def idx(self) -> np.ndarray:
        return np.array([self.model.layout.output_index(s) for s in self.measured], dtype=np.int64)

    @property
    def samples(self) -> int:
        return int(self.Z.shape[0])


def _advance(model: Model, x: np.ndarray, u: np.ndarray, p: np.ndarray, t: float, dt: float) -> np.ndarray:
    rhs, jac = model.functions()[:2]
    xc = np.array(x, dtype=np.float64)
    st = solvers.rk4_advance(rhs, jac, t, xc, u, p, dt, RK4(dt).opts(), np.zeros(1), np.zeros(8))
    if st != 0:
        raise RuntimeError(f"rk4_advance failed with status {st}")
    return xc


def _record(pb: Problem, x_true0: np.ndarray, samples: int, seed: int) -> None:
    """Simulate the truth with the compiled RK4 kernel and measure it with noise ``N(0, R)``."""
    rng = np.random.default_rng(seed)
    idx = pb.idx
    m = idx.shape[0]
    y = np.zeros(pb.model.layout.ny)
    Lr = np.linalg.cholesky(pb.R)
    x = x_true0.copy()
    pb.t = (np.arange(samples) + 1.0) * pb.dt
    pb.Z = np.empty((samples, m))
    pb.truth = np.empty((samples, pb.n))
    for k in range(samples):
        x = _advance(pb.model, x, pb.u, pb.p, k * pb.dt, pb.dt)
        pb.model.kernels.out(pb.t[k], x, pb.u, pb.p, y)
        pb.truth[k] = x
        pb.Z[k] = y[idx] + Lr @ rng.normal(size=m)


def motor_problem(samples: int) -> Problem:
    """dc_motor twin, 24 V from rest, 1 ms samples of current, speed and housing temperature."""
    from phystwin.physics.twins import dc_motor

    m = dc_motor.build().compile()
    u = m.input_vector({"voltage": 24.0})
    p = m.parameters()
    x0 = m.initial_state()
    pb = Problem(
        name="motor",
        model=m,
        measured=("current", "speed", "housing_temperature"),
        u=u,
        p=p,
        dt=1e-3,
        Qd=np.diag([1e-4, 1e-8, 1e-2, 1e-6, 1e-7, 1e-8]),
        R=np.diag([0.05**2, 0.5**2, 0.1**2]),
        x0=x0,
        P0=np.diag([0.1**2, 1e-4, 1.0, 2.0**2, 1.0, 0.5**2]),
        x_op=x0,
    )
    # linearise mid-transient (0.05 s after the step): loaded current, rising speed
    x_op = x0.copy()
    for k in range(50):
        x_op = _advance(m, x_op, u, p, k * pb.dt, pb.dt)
    pb.x_op = x_op
    _record(pb, m.initial_state({"winding.T": x0[3] + 2.0}), samples, seed=11)
    return pb


def thermal_chain(n_nodes: int = 20) -> Any:
    """``hot -- n00 -- n01 -- ... -- n19 -- ambient``: C = 200 J/K per node, G = 10 W/K between nodes,
    5 W/K to ambient (node time constants ~ 10-20 s, slowest mode ~ 1e4 s)."""
    from phystwin.physics.thermal import thermal_network

    nodes = [f"n{i:02d}" for i in range(n_nodes)]
    conductances = [("hot", nodes[0], 10.0)]
    conductances += [(a, b, 10.0) for a, b in itertools.pairwise(nodes)]
    conductances.append((nodes[-1], "ambient", 5.0))
    return thermal_network(f"chain{n_nodes}", dict.fromkeys(nodes, 200.0), conductances, boundaries=["hot", "ambient"])


def thermal_problem(samples: int) -> Problem:
    """20-node chain heated from one end, 1 s samples of 4 node temperatures."""
    m = thermal_chain(20).compile()
    n = m.layout.nx
    u = m.input_vector({"hot_T": 350.0, "ambient_T": 293.15})
    p = m.parameters()
    x0 = m.initial_state()
    pb = Problem(
        name="thermal20",
        model=m,
        measured=("n02_T", "n07_T", "n12_T", "n17_T"),
        u=u,
        p=p,
        dt=1.0,
        Qd=np.eye(n) * 1e-4,
        R=np.eye(4) * 0.05**2,
        x0=x0,
        P0=np.eye(n) * 1.0,
        x_op=x0,
    )
    rng = np.random.default_rng(3)
    _record(pb, x0 + rng.normal(scale=1.0, size=n), samples, seed=5)
    return pb


# ==================================================================================================
# Linearisation for the KF
# ==================================================================================================
def linearised(pb: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(Phi, Gamma, H, u_aug)`` of ``dx = A x + B u + c`` at ``(x_op, u)`` over ``dt``: ``A`` from the
    compiled Jacobian, ``B`` by central differences of the compiled rhs, ``c`` the affine remainder
    (a constant extra input 1), ``H`` by the compiled output Jacobian."""
    m = pb.model
    n, nu = pb.n, pb.u.shape[0]
    A = np.zeros((n, n))
    assert m.kernels.jac(0.0, pb.x_op.copy(), pb.u, pb.p, A) == 0
    f0 = np.zeros(n)
    assert m.kernels.rhs(0.0, pb.x_op.copy(), pb.u, pb.p, f0) == 0
    B = np.zeros((n, nu))
    fp, fm = np.zeros(n), np.zeros(n)
    for j in range(nu):
        h = 1e-6 * max(1.0, abs(pb.u[j]))
        up, um = pb.u.copy(), pb.u.copy()
        up[j] += h
        um[j] -= h
        m.kernels.rhs(0.0, pb.x_op.copy(), up, pb.p, fp)
        m.kernels.rhs(0.0, pb.x_op.copy(), um, pb.p, fm)
        B[:, j] = (fp - fm) / (up[j] - um[j])
    c = f0 - A @ pb.x_op - B @ pb.u
    d = discretize(A, np.column_stack([B, c]), np.zeros((n, n)), pb.dt)
    zp, H = np.empty(pb.idx.shape[0]), np.empty((pb.idx.shape[0], n))
    st = ekf_mod.ekf_output_jacobian(m.functions()[2], 0.0, pb.x_op.copy(), pb.u, pb.p, pb.idx, m.layout.ny, zp, H)
    assert st == 0
    H[np.abs(H) < 1e-9] = 0.0  # the measured outputs are states: exact selector rows
    return d.Phi, d.Gamma, H, np.append(pb.u, 1.0)


# ==================================================================================================
# Runners: one filter implementation on one problem, stepping through the recording
# ==================================================================================================
class Runner:
    """``reset()``; ``step()`` = predict to the next sample time + update with its measurement;
    ``run()`` = reset and filter the whole recording, returning the estimates (samples, n)."""

    label = ""

    def __init__(self, pb: Problem) -> None:
        self.pb = pb
        self.k = 0

    def reset(self) -> None:
        raise NotImplementedError

    def step(self) -> None:
        raise NotImplementedError

    def x(self) -> np.ndarray:
        raise NotImplementedError

    def P(self) -> np.ndarray:
        raise NotImplementedError

    def run(self) -> np.ndarray:
        self.reset()
        out = np.empty((self.pb.samples, self.pb.n))
        for k in range(self.pb.samples):
            self.step()
            out[k] = self.x()
        return out


class _OursRunner(Runner):
    label = "ours (per-call API)"
    filt: Any

    def reset(self) -> None:
        self.k = 0
        self.s = GaussianState(0.0, self.pb.x0, self.pb.P0)

    def x(self) -> np.ndarray:
        return self.s.x

    def P(self) -> np.ndarray:
        return self.s.P


class OursKF(_OursRunner):
    def __init__(self, pb: Problem) -> None:
        super().__init__(pb)
        Phi, Gamma, H, self.u_aug = linearised(pb)
        self.filt = KalmanFilter(Phi, H, pb.Qd, pb.R, Gamma=Gamma, dt=pb.dt, measurement_names=pb.measured)
        self.reset()

    def step(self) -> None:
        k = self.k
        s = self.filt.predict(self.s, self.pb.t[k], self.u_aug)
        self.s, _ = self.filt.update(s, self.pb.Z[k])
        self.k = k + 1


class OursEKF(_OursRunner):
    def __init__(self, pb: Problem) -> None:
        super().__init__(pb)
        self.filt = ExtendedKalmanFilter(pb.model, pb.measured, pb.R, Qd=pb.Qd, dt=pb.dt, solver_dt=pb.dt)
        self.reset()

    def step(self) -> None:
        k = self.k
        s = self.filt.predict(self.s, self.pb.t[k], self.pb.u)
        self.s, _ = self.filt.update(s, self.pb.Z[k], u=self.pb.u)
        self.k = k + 1


class OursUKF(_OursRunner):
    def __init__(self, pb: Problem) -> None:
        super().__init__(pb)
        self.filt = UnscentedKalmanFilter(
            pb.model, pb.measured, pb.R, Qd=pb.Qd, dt=pb.dt, alpha=1.0, beta=2.0, kappa=0.0, solver_dt=pb.dt
        )
        self.reset()

    def step(self) -> None:
        k = self.k
        s = self.filt.predict(self.s, self.pb.t[k], self.pb.u)
        self.s, _ = self.filt.update(s, self.pb.Z[k], u=self.pb.u)
        self.k = k + 1


class _FpRunner(Runner):
    label = "filterpy"
    fp: Any

    def x(self) -> np.ndarray:
        return np.asarray(self.fp.x).reshape(-1)

    def P(self) -> np.ndarray:
        return np.asarray(self.fp.P)


class FpKFRunner(_FpRunner):
    def __init__(self, pb: Problem) -> None:
        super().__init__(pb)
        Phi, Gamma, H, self.u_aug = linearised(pb)
        self.fp = FpKF(dim_x=pb.n, dim_z=H.shape[0], dim_u=Gamma.shape[1])
        self.fp.F, self.fp.B, self.fp.H, self.fp.Q, self.fp.R = Phi, Gamma, H, pb.Qd, pb.R
        self.reset()

    def reset(self) -> None:
        self.k = 0
        self.fp.x = self.pb.x0.copy()
        self.fp.P = self.pb.P0.copy()

    def step(self) -> None:
        self.fp.predict(u=self.u_aug)
        self.fp.update(self.pb.Z[self.k])
        self.k += 1


class _CompiledPropagationEKF(FpEKF):  # type: ignore[misc]
    """filterpy's EKF whose mean and ``F`` come from our compiled RK4 mean + transition kernel."""

    def __init__(self, pb: Problem, clock: dict[str, float]) -> None:
        super().__init__(dim_x=pb.n, dim_z=len(pb.measured))
        self._pb, self._clock = pb, clock
        self._rhs, self._jac = pb.model.functions()[:2]
        self._kernel = ekf_mod.ekf_predict_rk4
        self._xb = np.empty(pb.n)
        self._Phi = np.empty((pb.n, pb.n))

    def predict_x(self, u: Any = 0) -> None:
        pb = self._pb
        x = self.x  # type: ignore[has-type]
        st = self._kernel(self._rhs, self._jac, self._clock["t"], pb.dt, x, pb.u, pb.p, pb.dt, self._xb, self._Phi)
        if st != 0:
            raise RuntimeError(f"ekf_predict_rk4 failed with status {st}")
        self.x = self._xb.copy()
        self.F = self._Phi.copy()


class FpEKFRunner(_FpRunner):
    def __init__(self, pb: Problem) -> None:
        super().__init__(pb)
        self.clock = {"t": 0.0}
        self.fp = _CompiledPropagationEKF(pb, self.clock)
        self.fp.Q, self.fp.R = pb.Qd, pb.R
        mdl = pb.model
        out = mdl.functions()[2]
        outjac = ekf_mod.ekf_output_jacobian
        idx, ny, m, n = pb.idx, mdl.layout.ny, len(pb.measured), pb.n
        zp, H, yb = np.empty(m), np.empty((m, n)), np.empty(ny)
        kout = mdl.kernels.out
        clock, u, p = self.clock, pb.u, pb.p

        def hjacobian(x: np.ndarray) -> np.ndarray:
            st = outjac(out, clock["t"], x, u, p, idx, ny, zp, H)
            if st != 0:
                raise RuntimeError(f"ekf_output_jacobian failed with status {st}")
            return H.copy()

        def hx(x: np.ndarray) -> np.ndarray:
            kout(clock["t"], x, u, p, yb)
            return yb[idx]

        self.hjacobian, self.hx = hjacobian, hx
        self.reset()

    def reset(self) -> None:
        self.k = 0
        self.fp.x = self.pb.x0.copy()
        self.fp.P = self.pb.P0.copy()

    def step(self) -> None:
        k = self.k
        self.clock["t"] = self.pb.t[k] - self.pb.dt
        self.fp.predict()
        self.clock["t"] = self.pb.t[k]
        self.fp.update(self.pb.Z[k], self.hjacobian, self.hx)
        self.k = k + 1


class FpUKFRunner(_FpRunner):
    def __init__(self, pb: Problem) -> None:
        super().__init__(pb)
        mdl = pb.model
        rhs, jac = mdl.functions()[:2]
        advance = solvers.rk4_advance
        opts, work, stats = RK4(pb.dt).opts(), np.zeros(1), np.zeros(8)
        kout = mdl.kernels.out
        idx, yb = pb.idx, np.empty(mdl.layout.ny)
        self.clock = clock = {"t": 0.0}
        u, p = pb.u, pb.p

        def fx(x: np.ndarray, dt: float) -> np.ndarray:
            xc = np.array(x, dtype=np.float64)
            st = advance(rhs, jac, clock["t"], xc, u, p, dt, opts, work, stats)
            if st != 0:
                raise RuntimeError(f"rk4_advance failed with status {st}")
            return xc

        def hx(x: np.ndarray) -> np.ndarray:
            kout(clock["t"], np.ascontiguousarray(x), u, p, yb)
            return yb[idx]

        pts = MerweScaledSigmaPoints(pb.n, alpha=1.0, beta=2.0, kappa=0.0)
        self.fp = FpUKF(dim_x=pb.n, dim_z=len(pb.measured), dt=pb.dt, hx=hx, fx=fx, points=pts)
        self.fp.Q, self.fp.R = pb.Qd, pb.R
        self.reset()

    def reset(self) -> None:
        self.k = 0
        self.fp.x = self.pb.x0.copy()
        self.fp.P = self.pb.P0.copy()

    def step(self) -> None:
        k = self.k
        self.clock["t"] = self.pb.t[k] - self.pb.dt
        self.fp.predict()
        self.clock["t"] = self.pb.t[k]
        self.fp.update(self.pb.Z[k])
        self.k = k + 1


OURS: dict[str, type[Runner]] = {"KF": OursKF, "EKF": OursEKF, "UKF": OursUKF}
FILTERPY: dict[str, type[Runner]] = {"KF": FpKFRunner, "EKF": FpEKFRunner, "UKF": FpUKFRunner}


# ==================================================================================================
# HOOK: a compiled whole-run entry point of phystwin (another engineer is adding one)
# ==================================================================================================
def compiled_run_entries(kind: str, ours: Runner) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """Whole-run entries ``(label, fn)``, ``fn() -> estimates (samples, n)``, through phystwin's
    compiled filtering loop: :func:`phystwin.estimation.batch.filter_run` (UKF only; one compiled
    call for the whole table). Gating is disabled so that it filters exactly what filterpy does;
    the input table is part of the recording (built once, outside the timing)."""
    if kind != "UKF":
        return []
    try:
        from phystwin.estimation.batch import filter_run
    except ImportError:
        return []
    pb = ours.pb
    ukf = ours.filt  # type: ignore[attr-defined]
    U = np.tile(pb.u, (pb.samples, 1))
    initial = GaussianState(0.0, pb.x0, pb.P0)
    one_sensor = {"all": list(pb.measured)}

    def run() -> np.ndarray:
        return filter_run(ukf, initial, pb.t, pb.Z, U, sensors=one_sensor, gate_probability=None).x

    return [("phystwin filter_run (compiled whole run)", run)]


# ==================================================================================================
# Per-call breakdown: raw kernels with preallocated buffers, and a compiled loop over them
# ==================================================================================================
class RawKernels:
    """Our compiled kernels called from Python with preallocated buffers (no wrapper, no checks),
    stepping through the recording like a runner; ``loop()`` runs the same kernels for the whole
    recording inside one compiled function (bench-only prototype, arithmetic only)."""

    def __init__(self, kind: str, ours: Runner) -> None:
        pb = self.pb = ours.pb
        self.kind = kind
        n, m = pb.n, len(pb.measured)
        self.x, self.P = pb.x0.copy(), pb.P0.copy()
        self.x1, self.P1 = np.empty(n), np.empty((n, n))
        self.y, self.S, self.info = np.empty(m), np.empty((m, m)), np.empty(1)
        self.k = 0
        f = ours.filt  # type: ignore[attr-defined]
        self.f = f
        if kind == "KF":
            self.Phi, self.Gamma, self.H = f.Phi, np.ascontiguousarray(f.Gamma), f.H
            self.u_aug = ours.u_aug  # type: ignore[attr-defined]
        else:
            self.rhs, self.jac, self.out = pb.model.functions()[:3]
            self.ny = pb.model.layout.ny
        if kind == "EKF":
            self.Phi = np.empty((n, n))
            self.xlin = np.empty(n)
            self.zp, self.H = np.empty(m), np.empty((m, n))
            self.zlin = np.empty(m)
            self.no_u = np.zeros((n, 0))
            self.u0 = np.zeros(0)
            self.ekf_predict, self.outjac = ekf_mod.ekf_predict_rk4, ekf_mod.ekf_output_jacobian
        if kind == "UKF":
            self.X = np.empty((2 * n + 1, n))
            self.stats = np.zeros(8)
            self.opts = RK4(pb.dt).opts()

    def reset(self) -> None:
        self.k = 0
        self.x[:] = self.pb.x0
        self.P[:] = self.pb.P0

    def step(self) -> None:
        pb, k = self.pb, self.k
        t1 = pb.t[k]
        z = pb.Z[k]
        if self.kind == "KF":
            kernels.kf_predict(self.Phi, self.Gamma, pb.Qd, self.x, self.P, self.u_aug, self.x1, self.P1)
            kernels.kf_update(self.H, pb.R, z, self.x1, self.P1, self.x, self.P, self.y, self.S, self.info)
        elif self.kind == "EKF":
            f = self.f
            self.ekf_predict(self.rhs, self.jac, t1 - pb.dt, pb.dt, self.x, pb.u, f.p, pb.dt, self.x1, self.Phi)
            kernels.kf_predict(self.Phi, self.no_u, pb.Qd, self.x, self.P, self.u0, self.xlin, self.P1)
            self.outjac(self.out, t1, self.x1, pb.u, f.p, f.idx, self.ny, self.zp, self.H)
            np.dot(self.H, self.x1, out=self.zlin)  # z' = z - h(x) + H x (numpy glue, as the wrapper)
            self.zlin += z
            self.zlin -= self.zp
            kernels.kf_update(self.H, f.R, self.zlin, self.x1, self.P1, self.x, self.P, self.y, self.S, self.info)
        else:
            f = self.f
            kernels.ukf_predict_rk4(
                self.rhs, self.jac, t1 - pb.dt, pb.dt, self.x, self.P, pb.u, f.p, pb.Qd,
                f.Wm, f.Wc, f.c, self.opts, self.X, self.x1, self.P1, self.stats,
            )  # fmt: skip
            kernels.ukf_update(
                self.out, t1, self.x1, self.P1, pb.u, f.p, f.idx, self.ny, f.R, z,
                f.Wm, f.Wc, f.c, self.x, self.P, self.y, self.S, self.info,
            )  # fmt: skip
        self.k = k + 1

    def run(self) -> np.ndarray:
        self.reset()
        out = np.empty((self.pb.samples, self.pb.n))
        for k in range(self.pb.samples):
            self.step()
            out[k] = self.x
        return out

    def loop(self) -> np.ndarray:
        pb = self.pb
        out = np.empty((pb.samples, pb.n))
        if self.kind == "KF":
            st = _kf_loop(self.Phi, self.Gamma, pb.Qd, self.H, pb.R, pb.x0, pb.P0, self.u_aug, pb.Z, out)
        elif self.kind == "EKF":
            f = self.f
            st = _ekf_loop(self.rhs, self.jac, self.out, pb.dt, pb.x0, pb.P0, pb.u, f.p, pb.Qd, f.R, f.idx,
                           self.ny, pb.Z, out)  # fmt: skip
        else:
            f = self.f
            st = _ukf_loop(self.rhs, self.jac, self.out, pb.dt, pb.x0, pb.P0, pb.u, f.p, pb.Qd, f.R, f.idx,
                           self.ny, f.Wm, f.Wc, f.c, self.opts, pb.Z, out)  # fmt: skip
        if st != 0:
            raise RuntimeError(f"compiled {self.kind} loop failed with status {st}")
        return out


# The compiled loops reference the typed kernels as globals (resolved when first compiled).
@numba.njit
def _kf_loop(Phi, Gamma, Qd, H, R, x0, P0, u, Z, out):  # type: ignore[no-untyped-def]
    n, m = x0.shape[0], Z.shape[1]
    x, P = x0.copy(), P0.copy()
    x1, P1 = np.empty(n), np.empty((n, n))
    y, S, info = np.empty(m), np.empty((m, m)), np.empty(1)
    for k in range(Z.shape[0]):
        st = kernels.kf_predict(Phi, Gamma, Qd, x, P, u, x1, P1)
        if st != 0:
            return st
        st = kernels.kf_update(H, R, Z[k], x1, P1, x, P, y, S, info)
        if st != 0:
            return st
        out[k] = x
    return 0


def _make_model_loops() -> tuple[Any, Any]:
    ukf_predict, ukf_update = kernels.ukf_predict_rk4, kernels.ukf_update
    ekf_predict, outjac = ekf_mod.ekf_predict_rk4, ekf_mod.ekf_output_jacobian
    kf_predict, kf_update = kernels.kf_predict, kernels.kf_update

    @numba.njit
    def ekf_loop(rhs, jac, fout, dt, x0, P0, u, p, Qd, R, idx, ny, Z, out):  # type: ignore[no-untyped-def]
        n, m = x0.shape[0], Z.shape[1]
        x, P = x0.copy(), P0.copy()
        x1, P1, xl, Phi = np.empty(n), np.empty((n, n)), np.empty(n), np.empty((n, n))
        zp, H, zl = np.empty(m), np.empty((m, n)), np.empty(m)
        y, S, info = np.empty(m), np.empty((m, m)), np.empty(1)
        no_u, u0 = np.zeros((n, 0)), np.zeros(0)
        for k in range(Z.shape[0]):
            t0 = k * dt
            st = ekf_predict(rhs, jac, t0, dt, x, u, p, dt, x1, Phi)
            if st == 0:
                st = kf_predict(Phi, no_u, Qd, x, P, u0, xl, P1)
            if st == 0:
                st = outjac(fout, t0 + dt, x1, u, p, idx, ny, zp, H)
            if st != 0:
                return st
            for i in range(m):
                s = Z[k, i] - zp[i]
                for j in range(n):
                    s += H[i, j] * x1[j]
                zl[i] = s
            st = kf_update(H, R, zl, x1, P1, x, P, y, S, info)
            if st != 0:
                return st
            out[k] = x
        return 0

    @numba.njit
    def ukf_loop(rhs, jac, fout, dt, x0, P0, u, p, Qd, R, idx, ny, Wm, Wc, c, opts, Z, out):  # type: ignore[no-untyped-def]
        n, m = x0.shape[0], Z.shape[1]
        x, P = x0.copy(), P0.copy()
        x1, P1, X, stats = np.empty(n), np.empty((n, n)), np.empty((2 * n + 1, n)), np.zeros(8)
        y, S, info = np.empty(m), np.empty((m, m)), np.empty(1)
        for k in range(Z.shape[0]):
            t0 = k * dt
            st = ukf_predict(rhs, jac, t0, dt, x, P, u, p, Qd, Wm, Wc, c, opts, X, x1, P1, stats)
            if st == 0:
                st = ukf_update(fout, t0 + dt, x1, P1, u, p, idx, ny, R, Z[k], Wm, Wc, c, x, P, y, S, info)
            if st != 0:
                return st
            out[k] = x
        return 0

    return ekf_loop, ukf_loop


_ekf_loop: Any = None
_ukf_loop: Any = None


# ==================================================================================================
# Measurement
# ==================================================================================================
@dataclass
class EstRow:
    problem: str
    filter: str
    implementation: str
    mode: str  # "per-sample call" | "whole run"
    us_per_sample: float | None = None
    q1_us: float | None = None
    q3_us: float | None = None
    speedup_vs_filterpy: float | None = None  # filterpy time / this time (same mode)
    rate_khz: float | None = None  # 1 / time per sample
    samples: int = 0
    repeats: int = 0
    max_diff_vs_filterpy: float | None = None
    run_times_s: list[float] = field(default_factory=list)
    note: str = ""


@dataclass
class ProfileRow:
    problem: str
    filter: str
    level: str
    us_per_sample: float
    share_of_public: float
    note: str = ""


def scaled_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.maximum(1.0, np.abs(b))))


def _row(pb: Problem, kind: str, label: str, mode: str, timed: Any, per: int, repeats: int) -> EstRow:
    if isinstance(timed, BaseException):
        return EstRow(pb.name, kind, label, mode, note=f"failed: {type(timed).__name__}: {timed}")
    t = timed[0]
    us = t.median / per * 1e6
    return EstRow(pb.name, kind, label, mode, us, t.q1 / per * 1e6, t.q3 / per * 1e6, rate_khz=1e3 / us,
                  samples=pb.samples, repeats=repeats,
                  run_times_s=t.times if mode == "whole run" else [])  # fmt: skip


def bench_filter(pb: Problem, kind: str, repeats: int) -> tuple[list[EstRow], list[ProfileRow]]:
    ours, fp = OURS[kind](pb), FILTERPY[kind](pb)
    raw = RawKernels(kind, ours)
    # ---- parity (also warms up every compiled path) ----
    X_fp = fp.run()
    P_fp = fp.P().copy()
    X_ours = ours.run()
    d_ours = max(scaled_diff(X_ours, X_fp), scaled_diff(ours.P(), P_fp))
    d_raw = scaled_diff(raw.run(), X_fp)
    d_loop = scaled_diff(raw.loop(), X_fp)
    for what, d in (("ours", d_ours), ("raw kernels", d_raw), ("compiled loop", d_loop)):
        if not d <= PARITY_TOL:
            raise AssertionError(f"{pb.name} {kind}: {what} and filterpy disagree: scaled max difference {d:.3g}")
    compiled = compiled_run_entries(kind, ours)
    d_comp = []
    for label, fn in compiled:
        d = scaled_diff(fn(), X_fp)
        if not d <= PARITY_TOL:
            raise AssertionError(f"{pb.name} {kind}: {label} and filterpy disagree: scaled max difference {d:.3g}")
        d_comp.append(d)

    # ---- per-sample calls, interleaved sample by sample ----
    per_sample: list[Runner | RawKernels] = [ours, fp, raw]
    for r in per_sample:
        r.reset()
    timed = harness.time_interleaved([r.step for r in per_sample], repeats=pb.samples - 1, warmup=1)
    p_rows = [
        _row(pb, kind, label, "per-sample call", tp, 1, pb.samples - 1)
        for label, tp in zip((ours.label, fp.label, RAW_LABEL), timed, strict=True)
    ]
    p_rows[0].max_diff_vs_filterpy, p_rows[2].max_diff_vs_filterpy = d_ours, d_raw

    # ---- whole run: every level of ours and filterpy round-robin, so the breakdown is consistent ----
    gs = GaussianStates(pb)
    whole_fns: list[tuple[str, Callable[[], Any]]] = [(ours.label, ours.run), (fp.label, fp.run)]
    whole_fns += compiled
    whole_fns += [(RAW_LABEL, raw.run), (LOOP_LABEL, raw.loop), ("GaussianState x 2 per sample", gs.run)]
    timed_w = harness.time_interleaved([f for _, f in whole_fns], repeats=repeats, warmup=1)
    w_all = [
        _row(pb, kind, lab, "whole run", tw, pb.samples, repeats)
        for (lab, _), tw in zip(whole_fns, timed_w, strict=True)
    ]
    w_rows, gs_row = w_all[:-1], w_all[-1]
    w_rows[0].max_diff_vs_filterpy = d_ours
    for row, d in zip(w_rows[2 : 2 + len(compiled)], d_comp, strict=True):
        row.max_diff_vs_filterpy = d
    w_rows[-2].max_diff_vs_filterpy, w_rows[-1].max_diff_vs_filterpy = d_raw, d_loop
    w_rows[-1].note = "not a phystwin API: the ceiling of a compiled whole-run entry point"
    rows = [*p_rows, *w_rows]
    for row in rows:
        base = p_rows[1] if row.mode == "per-sample call" else w_rows[1]
        if row.us_per_sample and base.us_per_sample:
            row.speedup_vs_filterpy = base.us_per_sample / row.us_per_sample

    # ---- breakdown of ours (whole-run medians, one round-robin): levels, then their differences ----
    prof: list[ProfileRow] = []
    pub, raw_us, loop_us, gs_us = w_rows[0].us_per_sample, w_rows[-2].us_per_sample, w_rows[-1].us_per_sample, gs_row.us_per_sample  # fmt: skip  # noqa: E501
    if pub and raw_us and loop_us and gs_us:
        glue = " (+ numpy glue for z')" if kind == "EKF" else ""
        levels = [
            ("public predict() + update()", pub, "measured"),
            ("raw kernels called from Python, preallocated buffers", raw_us, "measured" + glue),
            ("kernels in a compiled loop", loop_us, "measured"),
            ("= Python wrapper", pub - raw_us, "public - raw"),
            ("   of which 2 GaussianState constructions", gs_us, "measured in the same round-robin"),
            ("= numba dispatch of the kernel calls", raw_us - loop_us, "raw - compiled loop"),
            ("= arithmetic", loop_us, "compiled loop"),
        ]
        prof = [ProfileRow(pb.name, kind, lev, us, us / pub, note) for lev, us, note in levels]
    return rows, prof


class GaussianStates:
    """``run()`` constructs (and validates) two ``GaussianState`` per sample, as the public
    ``predict`` and ``update`` do: the share of the wrapper spent there."""

    def __init__(self, pb: Problem) -> None:
        self.pb = pb
        self.x, self.P = pb.x0.copy(), pb.P0.copy()

    def run(self) -> None:
        x, P, t = self.x, self.P, self.pb.t
        for k in range(self.pb.samples):
            GaussianState(t[k], x, P)
            GaussianState(t[k], x, P)


def dispatch_costs() -> dict[str, float]:
    """Microseconds of numba's argument handling for a typed no-op called from Python: two arrays,
    and a first-class model function (as the model kernels receive rhs, jac, out) plus an array."""
    from numba import types

    from phystwin.core.solvers._nb import RHS_SIG, function_pointer

    @numba.njit(types.int64(types.float64[::1], types.float64[::1]))
    def two_arrays(a, b):  # type: ignore[no-untyped-def]
        return 0

    @numba.njit(types.int64(types.FunctionType(RHS_SIG), types.float64[::1]))
    def fn_and_array(f, b):  # type: ignore[no-untyped-def]
        return 0

    @numba.njit
    def rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
        return 0

    fptr = function_pointer(rhs, RHS_SIG)
    x = np.zeros(6)
    k = 5000
    out = {}
    for name, fn in (("typed no-op(array, array)", lambda: two_arrays(x, x)),
                     ("typed no-op(model function, array)", lambda: fn_and_array(fptr, x))):  # fmt: skip

        def loop(fn: Callable[[], Any] = fn) -> None:
            for _ in range(k):
                fn()

        timing, _ = harness.time_callable(loop, repeats=5, warmup=1)
        out[name] = timing.median / k * 1e6
    return out


# ==================================================================================================
# Report
# ==================================================================================================
def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def table_rows(rows: list[EstRow]) -> str:
    lines = [
        "| problem | filter | implementation | mode | us / sample (IQR) | speed-up vs filterpy | rate [kHz] | max diff vs filterpy | note |",  # noqa: E501
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        us = "-" if r.us_per_sample is None else f"{_num(r.us_per_sample)} ({_num((r.q3_us or 0) - (r.q1_us or 0))})"
        sp = "-" if r.speedup_vs_filterpy is None else f"{r.speedup_vs_filterpy:.3g}x"
        lines.append(f"| {r.problem} | {r.filter} | {r.implementation} | {r.mode} | {us} | {sp} | "
                     f"{_f(r.rate_khz, '.3g')} | {_f(r.max_diff_vs_filterpy, '.1e')} | {r.note} |")  # fmt: skip
    return "\n".join(lines)


def table_profile(prof: list[ProfileRow]) -> str:
    lines = ["| problem | filter | level | us / sample | share of public call | note |", "|---|---|---|---:|---:|---|"]
    for p in prof:
        lines.append(f"| {p.problem} | {p.filter} | {p.level} | {_num(p.us_per_sample)} | {p.share_of_public:.0%} | {p.note} |")  # fmt: skip  # noqa: E501
    return "\n".join(lines)


def targets(rows: list[EstRow]) -> str:
    """The issue's targets, for every phystwin implementation (not the bench-only prototype)."""
    goals = {"per-sample call": UKF_PER_CALL_TARGET, "whole run": UKF_WHOLE_RUN_TARGET}
    out = []
    for r in rows:
        if r.filter != "UKF" or r.implementation == "filterpy" or "bench" in r.implementation:
            continue
        goal = goals[r.mode]
        s = r.speedup_vs_filterpy
        ok = s is not None and s >= goal
        out.append(f"- {r.problem} UKF {r.mode}, {r.implementation}: {_f(s, '.3g')}x vs filterpy "
                   f"(target >= {goal:g}x): {'met' if ok else 'NOT met'}")  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    global _ekf_loop, _ukf_loop
    ap = argparse.ArgumentParser(description="KF/EKF/UKF per-sample cost, phystwin vs filterpy")
    ap.add_argument("--repeats", type=int, default=7, help="whole-run repeats, round-robin (default 7)")
    ap.add_argument("--samples", type=int, default=2000, help="samples in the recorded runs (default 2000)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 repeats of 300 samples")
    ap.add_argument("--only", choices=FILTERS, action="append", help="filter(s) to run (default all)")
    ap.add_argument("--problem", choices=("motor", "thermal20"), action="append", help="problem(s) (default both)")
    ap.add_argument("--name", default="estimation", help="results file stem (default: estimation)")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.samples = 3, 300
    if args.samples < 10 or args.repeats < 1:
        ap.error("--samples must be >= 10 and --repeats >= 1")
    kinds = args.only or list(FILTERS)
    problems = args.problem or ["motor", "thermal20"]

    t_start = time.perf_counter()
    _ekf_loop, _ukf_loop = _make_model_loops()
    builders = {"motor": motor_problem, "thermal20": thermal_problem}
    rows: list[EstRow] = []
    prof: list[ProfileRow] = []
    with harness.progress(len(problems) * len(kinds), "bench_estimation") as advance:
        for name in problems:
            pb = builders[name](args.samples)
            for kind in kinds:
                r, p = bench_filter(pb, kind, args.repeats)
                rows += r
                prof += p
                advance(f"{name} {kind}")

    disp = dispatch_costs()
    table = table_rows(rows)
    ptable = table_profile(prof)
    ptable += "\n\nnumba dispatch from Python, for scale: " + ", ".join(f"{k}: {v:.2g} us" for k, v in disp.items())
    tgt = targets(rows)
    print(table)
    print("\nWhere the per-sample time of ours goes (whole-run medians / samples, one round-robin):\n")
    print(ptable)
    print("\nTargets:\n" + tgt)
    meta = {
        "benchmark": "bench_estimation",
        "repeats": args.repeats,
        "samples": args.samples,
        "parity_tol": PARITY_TOL,
        "profile": [p.__dict__ for p in prof],
        "dispatch_us": disp,
        "targets": tgt,
        "wall_seconds": time.perf_counter() - t_start,
    }
    md = f"{table}\n\n{ptable}\n\n{tgt}"
    path = harness.write_results(args.name, rows, meta, md)
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
