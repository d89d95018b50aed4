"""Shared fixtures. Compiled models are built once per session and shared: each distinct model
compiles its solver entry points once (cached on disk afterwards)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

# Tests run against the user's cache folder by default so repeated runs are warm; CI may point it elsewhere.
os.environ.setdefault("PHYSTWIN_CACHE_DIR", str(Path.home() / ".cache" / "phystwin"))


@pytest.fixture(scope="session")
def thermal_rc_model():
    """A lumped thermal mass cooling through a conductor to an ambient input."""
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
    return s.compile()
