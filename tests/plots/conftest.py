"""Synthetic trajectories for the plotting tests (no solver, no compilation)."""

from __future__ import annotations

import numpy as np
import pytest

from phystwin.core.model import Layout, Signal
from phystwin.core.trajectory import Trajectory


@pytest.fixture(scope="session")
def make_traj():  # type: ignore[no-untyped-def]
    """Factory ``make_traj(t_end=100.0, n=200)``: 2 states, 3 outputs (K, K, W), 2 inputs (K, V)."""
    layout = Layout(
        states=(Signal("winding.T", "K", 300.0), Signal("rotor.w", "rad/s", 0.0)),
        parameters=(),
        inputs=(Signal("T_amb", "K", 293.15), Signal("voltage", "V", float("nan"))),
        outputs=(Signal("winding_temperature", "K"), Signal("housing_temperature", "K"), Signal("copper_loss", "W")),
    )

    def make(t_end: float = 100.0, n: int = 200, status: int = 0) -> Trajectory:
        t = np.linspace(0.0, t_end, n)
        x = np.column_stack([300.0 + 50.0 * (1 - np.exp(-t / (t_end / 3))), 100.0 * np.tanh(t)])
        y = np.column_stack([x[:, 0], 0.5 * (x[:, 0] + 293.15), 20.0 * np.exp(-t / t_end)])
        u = np.column_stack([np.full(n, 293.15), np.where(t < t_end / 2, 24.0, 12.0)])
        return Trajectory(t=t, x=x, y=y, u=u, layout=layout, status=status, stats={"solver": "Rodas"})

    return make
