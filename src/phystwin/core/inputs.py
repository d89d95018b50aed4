"""User-facing input signals, turned into the compiled input table (see :mod:`input_tables`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from phystwin.core.input_tables import HOLD, LINEAR
from phystwin.core.model import Model


@dataclass(frozen=True)
class InputSignal:
    """A time table for one input: ``kind="hold"`` (piecewise constant, value ``values[k]`` from
    ``times[k]`` on) or ``kind="linear"`` (linear between breakpoints). Held beyond both ends."""

    times: np.ndarray
    values: np.ndarray
    kind: str = "hold"

    def __init__(self, times: Any, values: Any, kind: str = "hold") -> None:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if kind not in ("hold", "linear"):
            raise ValueError(f"input kind must be 'hold' or 'linear', got {kind!r}")
        if t.size == 0 or t.size != v.size:
            raise ValueError(
                f"input table needs as many values as times (>= 1), got {t.size} times and {v.size} values"
            )
        if not np.all(np.isfinite(t)) or not np.all(np.isfinite(v)):
            raise ValueError("input table times and values must be finite")
        if np.any(np.diff(t) <= 0):
            k = int(np.argmax(np.diff(t) <= 0))
            raise ValueError(
                f"input table times must be strictly increasing (times[{k}] = {t[k]} >= times[{k + 1}] = {t[k + 1]})"
            )
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "kind", kind)

    def at(self, t: np.ndarray) -> np.ndarray:
        """Values at times ``t`` (right-continuous for holds)."""
        t = np.asarray(t, dtype=np.float64)
        if self.kind == "linear":
            return np.interp(t, self.times, self.values)
        idx = np.searchsorted(self.times, t, side="right") - 1
        return self.values[np.clip(idx, 0, self.times.size - 1)]


@dataclass(frozen=True)
class PreparedInputs:
    """Inputs merged into the compiled table form for one model (see :func:`prepare_inputs`).

    Pass it to :func:`~phystwin.core.simulation.simulate` instead of a mapping to skip the conversion
    in loops that run the same inputs many times (calibration, Monte-Carlo, benchmarks).
    """

    model_hash: str
    tab_t: np.ndarray
    tab_v: np.ndarray
    tab_kind: np.ndarray

    def at(self, t: np.ndarray) -> np.ndarray:
        """Input vectors at times ``t`` (n, nu): right-continuous holds, linear interpolation."""
        t = np.asarray(t, dtype=np.float64)
        nu = self.tab_v.shape[1]
        if nu == 0:
            return np.zeros((t.size, 0))
        idx = np.clip(np.searchsorted(self.tab_t, t, side="right") - 1, 0, self.tab_t.size - 1)
        out = self.tab_v[idx]
        lin = np.flatnonzero(self.tab_kind == LINEAR)
        for j in lin:
            out[:, j] = np.interp(t, self.tab_t, self.tab_v[:, j])
        return out


def prepare_inputs(model: Model, inputs: Mapping[str, Any] | None) -> PreparedInputs:
    """Validate ``inputs`` against ``model`` and merge them into one table (see :func:`build_input_table`)."""
    tab_t, tab_v, tab_kind, _ = build_input_table(model, inputs)
    return PreparedInputs(model.structure_hash, tab_t, tab_v, tab_kind)


def build_input_table(
    model: Model, inputs: Mapping[str, Any] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[InputSignal]]:
    """Merge per-signal tables into the compiled ``(tab_t, tab_v, tab_kind)`` form.

    ``inputs`` maps an input name to a number (constant), an :class:`InputSignal`, or a pair
    ``(times, values)`` (held). Inputs with a declared default may be omitted.
    """
    given = dict(inputs or {})
    lay = model.layout
    names = [s.name for s in lay.inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise KeyError(f"unknown input(s) {unknown}; the model's inputs are {names or '(none)'}")
    signals: list[InputSignal] = []
    for spec in lay.inputs:
        if spec.name in given:
            val = given[spec.name]
        elif isinstance(spec.default, float) and not math.isnan(spec.default):
            val = spec.default
        else:
            raise KeyError(f"input {spec.name!r} [{spec.unit}] has no value and no default; give it in inputs")
        try:
            if isinstance(val, InputSignal):
                sig = val
            elif isinstance(val, tuple | list) and len(val) == 2:
                sig = InputSignal(val[0], val[1])
            else:
                sig = InputSignal([0.0], [float(val)])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"input {spec.name!r} [{spec.unit}]: {exc}") from None
        signals.append(sig)
    if not signals:
        return np.zeros(1), np.zeros((1, 0)), np.zeros(0, dtype=np.int64), signals
    tab_t = np.unique(np.concatenate([s.times for s in signals]))
    tab_v = np.empty((tab_t.size, len(signals)))
    kinds = np.empty(len(signals), dtype=np.int64)
    for j, s in enumerate(signals):
        tab_v[:, j] = s.at(tab_t)
        kinds[j] = LINEAR if s.kind == "linear" else HOLD
    return tab_t, tab_v, kinds, signals
