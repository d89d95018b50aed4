"""Batch simulation and live stepping of a compiled Model.

``simulate`` integrates over a time span with input tables, saving at chosen times; ``Stepper``
advances a model in real time by ``dt`` with the inputs now applied (HIL, estimators).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from phystwin.core import solvers
from phystwin.core.inputs import InputSignal, PreparedInputs, prepare_inputs
from phystwin.core.model import Layout, Model
from phystwin.core.options import RK4, DormandPrince, Solver
from phystwin.core.status import OK, STATE_BOUND, IntegrationError
from phystwin.core.trajectory import Trajectory
from phystwin.errors import InvalidValueError

_STAT_NAMES = ("t_reached", "n_accepted", "n_rejected", "n_rhs", "n_jac", "n_events", "n_saved", "n_lu")


def _save_times(t0: float, t1: float, save: Any) -> np.ndarray:
    if save is None:
        return np.linspace(t0, t1, 501)
    if np.isscalar(save):
        dt = float(save)  # type: ignore[arg-type]
        if not dt > 0:
            raise InvalidValueError(f"save interval must be > 0 s, got {save!r}")
        n = int(np.floor((t1 - t0) / dt + 1e-9))
        ts = t0 + dt * np.arange(n + 1)
        return ts if ts[-1] >= t1 - 1e-12 * max(1.0, abs(t1)) else np.append(ts, t1)
    ts = np.asarray(save, dtype=np.float64).reshape(-1)
    if ts.size == 0 or np.any(np.diff(ts) < 0) or ts[0] < t0 or ts[-1] > t1 or not np.all(np.isfinite(ts)):
        raise InvalidValueError(f"save times must be sorted, finite and inside [{t0}, {t1}] s")
    return ts


def _bound_detail(lay: Layout, status: int, ev_k: np.ndarray, n_ev: int) -> str:
    """Which bound a run stopped at (status ``STATE_BOUND``): the last event logged is its indicator,
    or the model event whose reset put a state out of range."""
    if status != STATE_BOUND or n_ev < 1:
        return ""
    k = int(ev_k[n_ev - 1])
    if k < len(lay.events):
        return f"the reset of event {lay.events[k][0]!r} put a state outside its declared range"
    b = lay.bounds[k - len(lay.events)]
    s = lay.states[b.index]
    return (
        f"state {s.name} [{s.unit}] passed its {b.side} bound {b.value:g} (declared range [{s.lower:g}, {s.upper:g}])"
    )


def simulate(
    model: Model,
    t_span: tuple[float, float],
    *,
    inputs: Mapping[str, float | InputSignal | tuple[Any, Any]] | PreparedInputs | None = None,
    params: Mapping[str, Any] | None = None,
    x0: Mapping[str, float] | np.ndarray | None = None,
    solver: Solver | None = None,
    save: Any = None,
    raise_on_failure: bool = True,
) -> Trajectory:
    """Integrate ``model`` over ``t_span`` [s].

    Parameters
    ----------
    inputs : mapping name -> constant (SI, or with its unit: ``"12 V"``), :class:`InputSignal` (periodic
        tables repeat until ``t_span[1]``) or ``(times, values)`` (held), or
        :class:`~phystwin.core.inputs.PreparedInputs` from :func:`~phystwin.core.inputs.prepare_inputs`
    params : mapping full parameter name -> value (SI), over the defaults
    x0 : mapping state name -> start value, or a full state vector
    solver : :class:`DormandPrince` (default), :class:`Rodas` (stiff) or :class:`RK4`
    save : None (501 points), a save interval [s], or an array of save times
    raise_on_failure : raise :class:`IntegrationError` (with the partial result) on failure;
        otherwise return the partial trajectory with a non-zero ``status``.

    A state passing one of its declared bounds (``State(lower=, upper=)``) stops the run at the
    located crossing with status ``STATE_BOUND``, naming the state and the bound; an initial state
    outside its range is refused (:class:`~phystwin.core.model.StateRangeError`).
    """
    t0, t1 = float(t_span[0]), float(t_span[1])
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        raise InvalidValueError(f"t_span must be finite with t_end > t_start, got {t_span!r}")
    solver = solver or DormandPrince()
    lay = model.layout
    p = model.parameters(params)
    if isinstance(x0, np.ndarray):
        x_init = np.array(x0, dtype=np.float64).reshape(-1)
        if x_init.size != lay.nx or not np.all(np.isfinite(x_init)):
            raise InvalidValueError(f"x0 must be {lay.nx} finite values, got {x0!r}")
        if lay.bounds:
            model.check_state(x_init, "x0")
    else:
        x_init = model.initial_state(x0)
    if isinstance(inputs, PreparedInputs):
        if inputs.model_hash != model.structure_hash:
            raise InvalidValueError(f"these prepared inputs belong to another model than {model.name!r}")
        prepared = inputs
    else:
        prepared = prepare_inputs(model, inputs, t1)
    tab_t, tab_v, tab_kind = prepared.tab_t, prepared.tab_v, prepared.tab_kind
    ts = _save_times(t0, t1, save)
    X = np.full((ts.size, lay.nx), np.nan)
    Y = np.full((ts.size, lay.ny), np.nan)
    ev_dir = lay.event_directions()
    opts = solver.opts()
    if not model.uses_time and not np.any(tab_kind):
        # only held inputs vary in time: Rodas may skip its df/dt evaluation
        opts = np.append(opts, 1.0)
    cap = int(opts[5]) + 1
    ev_t = np.zeros(cap)
    ev_k = np.zeros(cap, dtype=np.int64)
    stats = np.zeros(8)
    fn = getattr(solvers, f"{solver.kernel}_integrate")
    rhs, jac, out, ev, act = model.functions()
    start = time.perf_counter()
    status = int(
        fn(rhs, jac, out, ev, act, t0, t1, x_init, p, tab_t, tab_v, tab_kind, ts, ev_dir, opts, X, Y, ev_t, ev_k, stats)
    )
    wall = time.perf_counter() - start
    n_saved = int(stats[6]) if status != OK else ts.size
    n_ev = min(int(stats[5]), cap)
    st: dict[str, Any] = {name: float(v) for name, v in zip(_STAT_NAMES, stats, strict=True)}
    st.update(wall_time=wall, solver=type(solver).__name__)
    tsv = ts[:n_saved]
    U = prepared.at(tsv)
    detail = _bound_detail(lay, status, ev_k, n_ev)
    traj = Trajectory(
        t=tsv,
        x=X[:n_saved],
        y=Y[:n_saved],
        u=U,
        layout=lay,
        status=status,
        stats=st,
        event_times=ev_t[:n_ev].copy(),
        event_names=tuple(lay.event_name(int(k)) for k in ev_k[:n_ev]),
        detail=detail,
    )
    if status != OK and raise_on_failure:
        where = f"model {model.name!r}, solver {type(solver).__name__}"
        raise IntegrationError(status, stats[0], f"{detail}; {where}" if detail else where, traj)
    return traj


def integrate_held(
    model: Model, p: np.ndarray, x0: np.ndarray, times: np.ndarray, U: np.ndarray, t_end: float, solver: Solver
) -> tuple[np.ndarray, np.ndarray]:
    """The lean path of a live plant: integrate from ``times[0]`` to ``t_end`` with input row ``U[k]``
    held from ``times[k]``, and return the states ``X`` at ``[*times, t_end]`` and the outputs ``Y``.

    ``p`` is a full parameter vector (:meth:`Model.parameters`) and ``x0`` a state vector; neither is
    re-validated (the caller owns them). Raises :class:`IntegrationError` on a solver failure.
    """
    lay = model.layout
    ts = np.append(times, t_end)
    X = np.full((ts.size, lay.nx), np.nan)
    Y = np.full((ts.size, lay.ny), np.nan)
    cap = int(solver.opts()[5]) + 1
    stats = np.zeros(8)
    ev_k = np.zeros(cap, dtype=np.int64)
    rhs, jac, out, ev, act = model.functions()
    fn = getattr(solvers, f"{solver.kernel}_integrate")
    status = int(
        fn(rhs, jac, out, ev, act, float(times[0]), float(t_end), np.array(x0, dtype=np.float64), p,
           np.ascontiguousarray(times, dtype=np.float64), np.ascontiguousarray(U, dtype=np.float64),
           np.zeros(lay.nu, dtype=np.int64), ts, lay.event_directions(),
           solver.opts(), X, Y, np.zeros(cap), ev_k, stats)
    )  # fmt: skip
    if status != OK:
        detail = _bound_detail(lay, status, ev_k, min(int(stats[5]), cap))
        raise IntegrationError(
            status, stats[0], f"{detail}; live plant {model.name!r}" if detail else f"live plant {model.name!r}"
        )
    return X, Y


class Stepper:
    """Live stepping: ``step(dt, u)`` advances the state from ``t`` to ``t + dt`` with inputs ``u``
    held over the step. The only mutable object in the core; one per live model instance.

    With :class:`RK4` the result is bit-for-bit deterministic (same ``dt`` and ``u`` sequence, same
    bits); adaptive solvers carry their step-size suggestion from call to call.

    Declared state bounds are checked at the end of every step (the live kernels locate no events):
    a step that ends outside a state's range raises :class:`IntegrationError` with status
    ``STATE_BOUND`` and keeps the state it started from.
    """

    def __init__(
        self,
        model: Model,
        t0: float = 0.0,
        *,
        x0: Mapping[str, float] | np.ndarray | None = None,
        params: Mapping[str, Any] | None = None,
        solver: Solver | None = None,
    ) -> None:
        self.model = model
        self.solver = solver or DormandPrince()
        self.t = float(t0)
        self.x = np.array(x0, dtype=np.float64).reshape(-1) if isinstance(x0, np.ndarray) else model.initial_state(x0)
        self._bounded = bool(model.layout.bounds)
        if self._bounded:
            model.check_state(self.x, "x0")
        self.p = model.parameters(params)
        self._opts = self.solver.opts()
        self._work = np.zeros(4)
        self._stats = np.zeros(8)
        self._advance = getattr(solvers, f"{self.solver.kernel}_advance")
        self._rhs, self._jac = model.functions()[:2]
        self._u = np.zeros(model.layout.nu)
        self._y = np.zeros(model.layout.ny)

    def inputs(self, values: Mapping[str, float]) -> np.ndarray:
        """Input vector from a name -> value mapping (see :meth:`Model.input_vector`)."""
        return self.model.input_vector(values)

    def step(self, dt: float, u: np.ndarray | Mapping[str, float]) -> np.ndarray:
        """Advance by ``dt`` [s] with inputs ``u``; returns the new state (a view; copy to keep)."""
        if not dt > 0:
            raise InvalidValueError(f"dt must be > 0 s, got {dt!r}")
        try:
            uv = self.model.input_vector(u)
        except ValueError as exc:
            raise InvalidValueError(f"{exc} at t = {self.t:g} s; the state was not advanced") from None
        self._u[:] = uv
        x_before = self.x.copy()  # a failed step must not leave a half-advanced state
        status = int(
            self._advance(
                self._rhs, self._jac, self.t, self.x, self._u, self.p, float(dt), self._opts, self._work, self._stats
            )
        )
        if status != OK:
            self.x[:] = x_before
            raise IntegrationError(
                status, self._stats[0] if self._stats[0] else self.t, f"live step of {self.model.name!r}; state kept"
            )
        if self._bounded:
            bad = self.model.layout.bound_violations(self.x)
            if bad:
                self.x[:] = x_before
                raise IntegrationError(
                    STATE_BOUND,
                    self.t,
                    f"{'; '.join(bad)} at the end of the step to t = {self.t + float(dt):.9g} s; "
                    f"live step of {self.model.name!r}; state kept",
                )
        self.t += float(dt)
        return self.x

    def outputs(self) -> np.ndarray:
        """Outputs at the current time with the last applied inputs."""
        self.model.kernels.out(self.t, self.x, self._u, self.p, self._y)
        return self._y.copy()


__all__ = ["RK4", "DormandPrince", "InputSignal", "Stepper", "integrate_held", "simulate"]
