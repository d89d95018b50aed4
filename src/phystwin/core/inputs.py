"""User-facing input signals, turned into the compiled input table (see :mod:`input_tables`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from phystwin.core.input_tables import HOLD, LINEAR
from phystwin.core.model import Model
from phystwin.errors import InvalidValueError, UnknownNameError
from phystwin.units import UnitError, parse_unit, to_unit, value_in

MAX_TABLE_POINTS = 1_000_000
"""Largest input table a periodic input may expand to (a guard against a tiny period)."""


@dataclass(frozen=True)
class InputSignal:
    """A time table for one input, as a config file's ``[inputs.<name>]`` gives it.

    ``kind="hold"``: piecewise constant, value ``values[k]`` from ``times[k]`` on; ``kind="linear"``:
    linear between breakpoints. Held beyond both ends, unless ``period`` repeats the table every
    ``period`` seconds (its start shifted by ``k * period``) until the end of the run, exactly as the
    TOML ``period`` key does.

    Parameters
    ----------
    times : array_like
        Breakpoints [s], strictly increasing.
    values : array_like
        One value per breakpoint, in ``unit`` (None: the input's SI unit).
    kind : {"hold", "linear"}
    period : float or str, optional
        Repetition period: seconds, or a time with its unit (``"10 min"``); longer than the table's span.
    unit : str, optional
        Unit of ``values`` (``"mV"``, ``"degC"``); converted to the input's unit when the table is used.
    """

    times: np.ndarray
    values: np.ndarray
    kind: str = "hold"
    period: float | None = None
    unit: str | None = None

    def __init__(
        self, times: Any, values: Any, kind: str = "hold", *, period: Any = None, unit: str | None = None
    ) -> None:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if kind not in ("hold", "linear"):
            raise InvalidValueError(f"input kind must be 'hold' or 'linear', got {kind!r}")
        if t.size == 0 or t.size != v.size:
            raise InvalidValueError(
                f"input table needs as many values as times (>= 1), got {t.size} times and {v.size} values"
            )
        if not np.all(np.isfinite(t)) or not np.all(np.isfinite(v)):
            raise InvalidValueError("input table times and values must be finite")
        if np.any(np.diff(t) <= 0):
            k = int(np.argmax(np.diff(t) <= 0))
            raise InvalidValueError(
                f"input table times must be strictly increasing (times[{k}] = {t[k]} >= times[{k + 1}] = {t[k + 1]})"
            )
        p = None
        if period is not None:
            p = float(value_in(period, "s", "period"))
            if not p > 0:
                raise InvalidValueError(f"period: expected a time > 0 s, got {period!r}")
            span = float(t[-1] - t[0])
            if not p > span:
                raise InvalidValueError(
                    f"period {p} s must be longer than the table's span ({span} s) so the repeats do not overlap"
                )
        if unit is not None:
            parse_unit(unit)  # refuse an unknown unit now, not when the table is used
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "period", p)
        object.__setattr__(self, "unit", None if unit is None else unit.strip())

    def repeated(self, t_end: float) -> InputSignal:
        """The table written out until ``t_end`` (itself when it is not periodic or one period covers it)."""
        if self.period is None or self.times[0] + self.period > t_end:
            return InputSignal(self.times, self.values, self.kind, unit=self.unit)
        n_rep = math.floor((t_end - self.times[0]) / self.period) + 1
        if n_rep * self.times.size > MAX_TABLE_POINTS:
            raise InvalidValueError(
                f"period {self.period:g} s repeats the table {n_rep} times over {t_end:g} s "
                f"({n_rep * self.times.size} points, more than {MAX_TABLE_POINTS})"
            )
        shifts = self.period * np.arange(n_rep)
        times = (self.times[None, :] + shifts[:, None]).reshape(-1)
        return InputSignal(times, np.tile(self.values, n_rep), self.kind, unit=self.unit)

    def in_unit(self, declared: str, what: str) -> InputSignal:
        """The table with its values in ``declared`` (the input's unit); itself when no unit was given."""
        if self.unit is None:
            return self
        values = to_unit(self.values, self.unit, declared, what)
        return InputSignal(self.times, values, self.kind, period=self.period)

    def at(self, t: np.ndarray) -> np.ndarray:
        """Values at times ``t`` (right-continuous for holds; in ``unit``; a periodic table is repeated)."""
        t = np.asarray(t, dtype=np.float64)
        if self.period is not None:
            t_max = float(np.max(t)) if t.size else float(self.times[0])
            return self.repeated(max(t_max, float(self.times[0]))).at(t)
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


def prepare_inputs(model: Model, inputs: Mapping[str, Any] | None, t_end: float | None = None) -> PreparedInputs:
    """Validate ``inputs`` against ``model`` and merge them into one table (see :func:`build_input_table`)."""
    tab_t, tab_v, tab_kind, _ = build_input_table(model, inputs, t_end)
    return PreparedInputs(model.structure_hash, tab_t, tab_v, tab_kind)


def build_input_table(
    model: Model, inputs: Mapping[str, Any] | None, t_end: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[InputSignal]]:
    """Merge per-signal tables into the compiled ``(tab_t, tab_v, tab_kind)`` form.

    ``inputs`` maps an input name to a constant (a number in SI, or with its unit: ``"12 V"``), an
    :class:`InputSignal`, or a pair ``(times, values)`` (held). Inputs with a declared default may be
    omitted. Units are converted here, once; a periodic signal is written out until ``t_end`` (needed
    then).
    """
    given = dict(inputs or {})
    lay = model.layout
    names = [s.name for s in lay.inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise UnknownNameError(f"unknown input(s) {unknown}; the model's inputs are {names or '(none)'}")
    signals: list[InputSignal] = []
    for spec in lay.inputs:
        if spec.name in given:
            val = given[spec.name]
        elif isinstance(spec.default, float) and not math.isnan(spec.default):
            val = spec.default
        else:
            raise UnknownNameError(f"input {spec.name!r} [{spec.unit}] has no value and no default; give it in inputs")
        what = f"input {spec.name!r}"
        try:
            if isinstance(val, InputSignal):
                sig = val.in_unit(spec.unit, what)
                if sig.period is not None:
                    if t_end is None:
                        raise InvalidValueError(
                            "a periodic table needs the end of the run (prepare_inputs(..., t_end=))"
                        )
                    sig = sig.repeated(t_end)
            elif isinstance(val, tuple | list) and len(val) == 2:
                sig = InputSignal(val[0], val[1])
            else:
                sig = InputSignal([0.0], [float(value_in(val, spec.unit, what))])
        except UnitError:
            raise  # names the input and both units already
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"input {spec.name!r} [{spec.unit}]: {exc}") from None
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
