"""Trajectory: the immutable result of a batch simulation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def message(self) -> str:
        return describe(self.status)

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
        raise KeyError(f"no signal {name!r} in this trajectory; available: {', '.join(self.names())}")

    def unit(self, name: str) -> str:
        return self.layout.unit(name)
