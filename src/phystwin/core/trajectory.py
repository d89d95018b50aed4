"""Trajectory: the immutable result of a batch simulation, and its export to pandas and xarray."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from phystwin.errors import UnknownNameError

if TYPE_CHECKING:  # imported lazily: neither is needed to simulate
    import pandas as pd
    import xarray as xr

from phystwin.core.model import Layout
from phystwin.core.status import describe


@dataclass(frozen=True)
class Trajectory:
    """States, outputs and inputs at the save times.

    Attributes
    ----------
    t : (n,) save times [s]
    x : (n, nx) states; y : (n, ny) outputs; u : (n, nu) inputs (SI units, see ``layout``)
    status : int, 0 on success (see :mod:`phystwin.core.status`)
    stats : dict with ``t_reached``, ``n_accepted``, ``n_rejected``, ``n_rhs``, ``n_jac``,
        ``n_events``, ``wall_time`` [s], ``solver``
    event_times, event_names : when each event fired, and which
    detail : what a failure concerned beyond its status (e.g. the state and bound passed)
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    layout: Layout
    status: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    event_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    event_names: tuple[str, ...] = ()
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def message(self) -> str:
        """The status in words, with the failure's detail when there is one."""
        return f"{describe(self.status)} ({self.detail})" if self.detail else describe(self.status)

    def names(self) -> list[str]:
        """Every signal name: states, outputs, inputs."""
        lay = self.layout
        return [s.name for s in (*lay.states, *lay.outputs, *lay.inputs)]

    def __getitem__(self, name: str) -> np.ndarray:
        lay = self.layout
        for k, s in enumerate(lay.outputs):
            if s.name == name:
                return self.y[:, k]
        for k, s in enumerate(lay.states):
            if s.name == name:
                return self.x[:, k]
        for k, s in enumerate(lay.inputs):
            if s.name == name:
                return self.u[:, k]
        raise UnknownNameError(f"no signal {name!r} in this trajectory; available: {', '.join(self.names())}")

    def unit(self, name: str) -> str:
        return self.layout.unit(name)

    def _columns(self) -> list[tuple[str, str, str, str, np.ndarray]]:
        """``(name, unit, role, description, values)`` of every signal: states, outputs, inputs
        (a name met twice keeps its first column, as :meth:`names` lists it)."""
        lay = self.layout
        out: list[tuple[str, str, str, str, np.ndarray]] = []
        seen: set[str] = set()
        for role, sigs, values in (("state", lay.states, self.x), ("output", lay.outputs, self.y),
                                   ("input", lay.inputs, self.u)):  # fmt: skip
            for k, s in enumerate(sigs):
                if s.name not in seen:
                    seen.add(s.name)
                    out.append((s.name, s.unit, role, s.description, np.asarray(values[:, k], dtype=np.float64)))
        return out

    def _summary_attrs(self) -> dict[str, Any]:
        return {
            "status": int(self.status),
            "complete": bool(self.ok),
            "message": self.message,
            "solver_stats": json.dumps(self.stats, default=str, sort_keys=True),
        }

    def to_pandas(self) -> pd.DataFrame:
        """The signals as a :class:`pandas.DataFrame`: one column per state, output and input (SI
        values), indexed by time ``t`` [s].

        Units go into ``df.attrs["units"]`` (signal name -> unit, with ``"t": "s"``); roles
        (state / output / input) and descriptions into ``df.attrs["roles"]`` and
        ``df.attrs["descriptions"]``; the run's status, message and solver statistics into
        ``df.attrs`` too. Requires pandas.
        """
        import pandas as pd

        cols = self._columns()
        index = pd.Index(np.asarray(self.t, dtype=np.float64), name="t")
        df = pd.DataFrame({c[0]: c[4] for c in cols}, index=index)
        df.attrs.update(self._summary_attrs())
        df.attrs["units"] = {"t": "s", **{c[0]: c[1] for c in cols}}
        df.attrs["roles"] = {c[0]: c[2] for c in cols}
        df.attrs["descriptions"] = {c[0]: c[3] for c in cols}
        return df

    def to_xarray(self) -> xr.Dataset:
        """The signals as an :class:`xarray.Dataset` over the time coordinate ``t`` [s].

        Each state, output and input is a variable along ``t`` with attributes ``units``, ``role``
        and ``description`` (``t`` has ``units = "s"``); events, when any fired, are the variables
        ``event_t`` [s] and ``event_name`` along the dimension ``event``. The dataset's attributes
        hold the status, ``complete`` (1 or 0), message and solver statistics (JSON).
        ``ds.to_netcdf(path)`` writes netCDF with those units. Requires xarray.
        """
        import xarray as xr

        coords = {"t": ("t", np.asarray(self.t, dtype=np.float64), {"units": "s", "description": "time"})}
        data: dict[str, Any] = {
            name: ("t", values, {"units": unit, "role": role, "description": desc})
            for name, unit, role, desc, values in self._columns()
        }
        if len(self.event_times):
            data["event_t"] = ("event", np.asarray(self.event_times, dtype=np.float64), {"units": "s"})
            data["event_name"] = ("event", np.array(self.event_names, dtype=str), {"units": ""})
        attrs = {**self._summary_attrs(), "complete": int(self.ok)}  # netCDF has no boolean attributes
        return xr.Dataset(data, coords=coords, attrs=attrs)
