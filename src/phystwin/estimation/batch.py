r"""Whole-run filtering of a recorded measurement table with one compiled call.

:func:`filter_run` runs an :class:`~phystwin.estimation.filters.UnscentedKalmanFilter` over a table
of samples on the grid of the fastest sensor (NaN where a sensor had no sample), as the compiled
kernel :func:`phystwin.estimation.run_kernels.ukf_run_spec` describes. It is the path for re-analysis
of records, for the flagship scenario and for the ``phystwin estimate`` command; the live path, with
latency, reordering and sync health, is :class:`~phystwin.estimation.fusion.FusionEngine`.

Process noise: the filter's ``Qd`` (for its ``dt``) or, given ``Qc``, ``Qd`` by Van Loan's method
for the table's median step, linearised at the initial mean; steps that differ from it (gaps) scale
``Qd`` linearly, which is exact for the random-walk parts and first order in the step otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import chi2

from phystwin.errors import InvalidValueError
from phystwin.estimation import run_kernels
from phystwin.estimation._filter_common import discrete_process_noise
from phystwin.estimation.base import EstimationError
from phystwin.estimation.filters import UnscentedKalmanFilter
from phystwin.estimation.run_kernels import FLAG_NAMES
from phystwin.estimation.status import OK
from phystwin.estimation.types import GaussianState

__all__ = ["RunResult", "filter_run", "measurement_table", "stream_table"]


@dataclass(frozen=True, eq=False)
class RunResult:
    """What :func:`filter_run` produced; arrays are indexed by sample ``k``.

    Attributes
    ----------
    t : (K,) sample times [s]
    x : (K, n) posterior means; sd : (K, n) posterior standard deviations (units of the states)
    innovation, S_diag : (K, m) innovation and its variance per measured output (NaN: no update)
    nis : (K, G) NIS per sensor (NaN: no update); flags : (K, G) int8 (see ``FLAG_NAMES``)
    sensors : sensor names (G); rows : measured output names (m); states : state names (n)
    final : GaussianState at the last sample
    counts : per sensor, how many samples were accepted / gated / bad / absent
    """

    t: np.ndarray
    x: np.ndarray
    sd: np.ndarray
    innovation: np.ndarray
    S_diag: np.ndarray
    nis: np.ndarray
    flags: np.ndarray
    sensors: tuple[str, ...]
    sensor_rows: tuple[tuple[str, ...], ...]
    rows: tuple[str, ...]
    states: tuple[str, ...]
    final: GaussianState
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def _groups(ukf: UnscentedKalmanFilter, sensors: Mapping[str, Sequence[str]] | None) -> tuple[list[str], np.ndarray]:
    rows = list(ukf.measured_outputs)
    if sensors is None:
        return rows, np.arange(len(rows) + 1, dtype=np.int64)
    names, starts, pos = [], [0], 0
    for name, outs in sensors.items():
        outs = list(outs)
        if outs != rows[pos : pos + len(outs)] or not outs:
            raise InvalidValueError(
                f"sensor {name!r} measures {outs}, but the filter's measured outputs from row {pos} are "
                f"{rows[pos:]}: list the sensors in the order of measured_outputs, each with its consecutive rows"
            )
        pos += len(outs)
        names.append(str(name))
        starts.append(pos)
    if pos != len(rows):
        raise InvalidValueError(f"measured outputs {rows[pos:]} belong to no sensor")
    return names, np.array(starts, dtype=np.int64)


def filter_run(
    ukf: UnscentedKalmanFilter,
    initial: GaussianState,
    times: Any,
    Z: Any,
    U: Any = None,
    *,
    sensors: Mapping[str, Sequence[str]] | None = None,
    gate_probability: float | None = 0.9999,
) -> RunResult:
    """Filter a recorded table with ``ukf`` from ``initial`` (see the module docstring).

    Parameters
    ----------
    times : (K,) sample times [s], non-decreasing, ``>= initial.t``.
    Z : (K, m) measurements in the order of ``ukf.measured_outputs``; NaN where absent.
    U : (K, nu), optional; inputs at each sample (held until the next); model defaults when None.
    sensors : mapping sensor name -> its measured outputs (consecutive rows of ``Z``); default: one
        sensor per output. Each sensor's rows are updated together and gated together.
    gate_probability : chi-square gate per sensor: a sample whose NIS exceeds the
        ``gate_probability`` quantile (dof = the sensor's rows) is rejected; None disables gating.
    """
    model = ukf.model
    n, m = ukf.n, len(ukf.measured_outputs)
    t = np.ascontiguousarray(np.asarray(times, dtype=np.float64).reshape(-1))
    K = t.shape[0]
    if K == 0:
        raise InvalidValueError("times is empty: nothing to filter")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0) or t[0] < initial.t:
        raise InvalidValueError(f"times must be finite, non-decreasing and >= the initial state's t = {initial.t:g} s")
    Zm = np.ascontiguousarray(np.asarray(Z, dtype=np.float64))
    if Zm.shape != (K, m):
        raise InvalidValueError(
            f"Z must have shape ({K}, {m}) for outputs {list(ukf.measured_outputs)}, got {Zm.shape}"
        )
    names, starts = _groups(ukf, sensors)
    if U is None:
        Um = np.tile(model.input_vector(None), (K, 1))
    else:
        Um = np.ascontiguousarray(np.asarray(U, dtype=np.float64))
        nu = model.layout.nu
        if Um.shape != (K, nu) or not np.all(np.isfinite(Um)):
            names = [s.name for s in model.layout.inputs]
            raise InvalidValueError(f"U must be finite with shape ({K}, {nu}) for inputs {names}, got {Um.shape}")
    if initial.n != n:
        raise InvalidValueError(f"initial state has {initial.n} entries, model {model.name!r} has {n} states")
    G = len(names)
    if gate_probability is None:
        gate = np.full(G, math.inf)
    else:
        if not 0.0 < gate_probability < 1.0:
            raise InvalidValueError(f"gate_probability must be in (0, 1) or None, got {gate_probability!r}")
        gate = np.array([chi2.ppf(gate_probability, int(starts[g + 1] - starts[g])) for g in range(G)])
    steps = np.diff(np.r_[initial.t, t])
    steps = steps[steps > 0]
    if ukf.Qd is not None:
        dt_q = float(ukf.dt)  # type: ignore[arg-type]
        Qd = ukf.Qd
    else:
        dt_q = float(np.median(steps)) if steps.size else 1.0
        Qd = discrete_process_noise(model, ukf.p, ukf.Qc, None, None, initial.t, initial.x, Um[0], dt_q)
    X = np.empty((K, n))
    sd = np.empty((K, n))
    innov = np.empty((K, m))
    Sd = np.empty((K, m))
    nis = np.empty((K, G))
    flags = np.zeros((K, G), dtype=np.int8)
    P_end = np.empty((n, n))
    stats = np.zeros(9)
    rhs, jac, out = ukf._rhs, ukf._jac, ukf._out
    st = int(
        run_kernels.ukf_run(
            rhs, jac, out, initial.t, np.array(initial.x), np.array(initial.P), t, Um, ukf.p,
            np.ascontiguousarray(Qd), dt_q, ukf.idx, starts, model.layout.ny, ukf.R, Zm, gate,
            ukf.Wm, ukf.Wc, ukf.c, ukf._opts, X, sd, innov, Sd, nis, flags, P_end, stats,
        )
    )  # fmt: skip
    if st != OK:
        k = int(stats[8])
        tk = t[min(k, K - 1)]
        raise EstimationError(st, tk, f"whole-run UKF of {model.name!r} stopped at sample {k} of {K}")
    counts = {
        name: {FLAG_NAMES[f]: int(np.count_nonzero(flags[:, g] == f)) for f in range(len(FLAG_NAMES))}
        for g, name in enumerate(names)
    }
    rows = tuple(ukf.measured_outputs)
    return RunResult(
        t=t,
        x=X,
        sd=sd,
        innovation=innov,
        S_diag=Sd,
        nis=nis,
        flags=flags,
        sensors=tuple(names),
        sensor_rows=tuple(tuple(rows[starts[g] : starts[g + 1]]) for g in range(G)),
        rows=rows,
        states=tuple(s.name for s in model.layout.states),
        final=GaussianState(float(t[-1]), X[-1].copy(), P_end),
        counts=counts,
    )


def measurement_table(
    measurements: Sequence[Any], columns: Sequence[str], *, resolution: float = 1e-9
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Turn scalar sensor streams into a table for :func:`filter_run`.

    Rows are the distinct sample times (to ``resolution`` [s]) of all the measurements, in order;
    column ``j`` holds the value of sensor ``columns[j]`` at that time, NaN where it has none.
    Samples with a non-zero quality flag are left out (counted in the returned ``dropped`` per
    sensor), as are sensors not listed in ``columns`` (an error, to catch typos).

    Returns ``(times, Z, dropped)``.
    """
    col = {name: j for j, name in enumerate(columns)}
    unknown = sorted({m.sensor for m in measurements} - set(col))
    if unknown:
        raise InvalidValueError(f"measurements from sensor(s) {unknown} have no column; columns are {list(columns)}")
    dropped = dict.fromkeys(columns, 0)
    keep = []
    for m in measurements:
        if m.value.shape != (1,):
            raise InvalidValueError(f"sensor {m.sensor!r}: measurement_table takes scalar sensors, got {m.value.shape}")
        if m.quality != 0:
            dropped[m.sensor] += 1
            continue
        keep.append(m)
    ticks = np.array([round(m.t / resolution) for m in keep], dtype=np.int64)
    uniq, row = np.unique(ticks, return_inverse=True)
    Z = np.full((uniq.shape[0], len(columns)), np.nan)
    for r, m in zip(row, keep, strict=True):
        Z[r, col[m.sensor]] = m.value[0]
    return uniq * resolution, Z, dropped


def stream_table(
    streams: Mapping[str, Any], columns: Sequence[str], *, resolution: float = 1e-9
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """:func:`measurement_table` for the array form of the generator
    (:func:`~phystwin.estimation.measurements.generate_streams`) or for recorded streams: each
    stream has ``t``, ``value``, ``quality`` and ``dropped`` arrays. Vectorised; same result."""
    missing = [c for c in columns if c not in streams]
    if missing:
        raise InvalidValueError(f"no stream for column(s) {missing}; streams are {sorted(streams)}")
    parts, dropped = [], {}
    for j, name in enumerate(columns):
        st = streams[name]
        dropped_mask = np.asarray(st.dropped, dtype=bool)
        good = ~dropped_mask & (np.asarray(st.quality) == 0)
        dropped[name] = int(np.count_nonzero(~dropped_mask & ~good))
        ticks = np.rint(np.asarray(st.t, dtype=np.float64)[good] / resolution).astype(np.int64)
        parts.append((j, ticks, np.asarray(st.value, dtype=np.float64)[good]))
    all_ticks = np.unique(np.concatenate([p[1] for p in parts])) if parts else np.zeros(0, np.int64)
    Z = np.full((all_ticks.shape[0], len(columns)), np.nan)
    for j, ticks, values in parts:
        Z[np.searchsorted(all_ticks, ticks), j] = values
    return all_ticks * resolution, Z, dropped
