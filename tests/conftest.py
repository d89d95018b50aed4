"""Shared fixtures. Compiled models are built once per session and shared: each distinct model
compiles its solver entry points once (cached on disk afterwards).

``fake_model`` is a Model with a hand-written layout and no kernels: enough to resolve configs and
write records against, with no compilation at all. ``thermal_twin`` registers a small compiled thermal
twin under the type ``test_thermal`` for the end-to-end tests."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from phystwin.core.model import Layout, Model, Signal
from phystwin.core.trajectory import Trajectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

# Tests run against the user's cache folder by default so repeated runs are warm; CI may point it elsewhere.
os.environ.setdefault("PHYSTWIN_CACHE_DIR", str(Path.home() / ".cache" / "phystwin"))


@pytest.fixture(scope="session")
def thermal_rc_model():
    """A lumped thermal mass cooling through a conductor to an ambient input."""
    return build_thermal_system().compile()


@pytest.fixture(scope="session")
def thermal_system_builder():
    """The builder of the thermal_rc System (for tests that register it as a twin of their own)."""
    return build_thermal_system


def make_fake_model() -> Model:
    layout = Layout(
        states=(
            Signal("mass.T", "K", 300.0, "temperature", lower=0.0),
            Signal("shaft.w", "rad/s", 0.0, "speed"),
        ),
        parameters=(
            Signal("mass.C", "J/K", 500.0, "heat capacity", lower=0.0, strict=True),
            Signal("wall.G", "W/K", 2.0, "conductance", lower=0.0),
            Signal("coil.L", "H", 5e-3, "inductance", lower=0.0, strict=True),
            Signal("cell.Q", "Ah", 2.5, "capacity", lower=0.0, strict=True),
            Signal("sink.h", "W/(m2*K)", 10.0, "film coefficient", lower=0.0),
            Signal("sink.eps", "1", 0.9, "emissivity", lower=0.0, upper=1.0),
            Signal("ocv.soc", "1", (0.0, 0.5, 1.0), "table abscissae", size=3),
        ),
        inputs=(
            Signal("T_amb", "K", 293.15, "ambient temperature"),
            Signal("voltage", "V", math.nan, "supply voltage"),
        ),
        outputs=(Signal("T_mass", "K", 0.0, "mass temperature"), Signal("Q_loss", "W", 0.0, "heat loss")),
    )
    return Model(name="fake", layout=layout, kernels=None, structure_hash="0" * 20)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def fake_model() -> Model:
    return make_fake_model()


def make_trajectory(model: Model, n: int = 50, status: int = 0) -> Trajectory:
    """A synthetic trajectory over the fake model's layout (no solver involved)."""
    t = np.linspace(0.0, 100.0, n)
    x = np.column_stack([300.0 - 0.1 * t, np.sin(t)])
    y = np.column_stack([x[:, 0], 2.0 * (x[:, 0] - 293.15)])
    u = np.column_stack([np.full(n, 293.15), np.where(t >= 10.0, 24.0, 0.0)])
    stats = {"n_accepted": 10.0, "n_rejected": 1.0, "n_rhs": 70.0, "wall_time": 0.01, "solver": "Rodas"}
    return Trajectory(t=t, x=x, y=y, u=u, layout=model.layout, status=status, stats=stats)


def build_thermal_system():  # type: ignore[no-untyped-def]
    from phystwin.physics import System
    from phystwin.physics.thermal import HeatCapacitor, PrescribedTemperature, ThermalConductor

    s = System("thermal_rc")
    s.add(HeatCapacitor("mass", C=500.0, T=350.0))
    s.add(ThermalConductor("wall", G=2.0))
    s.add(PrescribedTemperature("ambient"))
    s.connect("mass.port", "wall.a")
    s.connect("wall.b", "ambient.port")
    s.input("T_amb", "K", "ambient.T", default=293.15)
    s.output("T_mass", "mass.T")
    s.output("Q_to_ambient", "ambient.Q_in")
    return s


@pytest.fixture(scope="session")
def thermal_twin() -> str:
    """Registers the twin type ``test_thermal`` (the same structure as the session's thermal_rc model)."""
    from phystwin.physics.twins import TwinSpec, register_twin

    register_twin(TwinSpec("test_thermal", build_thermal_system, "thermal mass cooling to ambient (tests)"))
    return "test_thermal"


@pytest.fixture(scope="session")
def fake_trajectory():  # type: ignore[no-untyped-def]
    """Factory ``fake_trajectory(n=50, status=0)`` of synthetic trajectories over ``fake_model``."""
    model = make_fake_model()
    return lambda n=50, status=0: make_trajectory(model, n, status)
