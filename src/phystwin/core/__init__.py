"""ODE core: layout, solvers, events, input tables, status codes, trajectories. Knows no physics."""

from phystwin.core.inputs import InputSignal as InputSignal
from phystwin.core.model import Layout as Layout
from phystwin.core.model import Model as Model
from phystwin.core.model import Signal as Signal
from phystwin.core.model import StateBound as StateBound
from phystwin.core.model import StateRangeError as StateRangeError
from phystwin.core.options import RK4 as RK4
from phystwin.core.options import DormandPrince as DormandPrince
from phystwin.core.options import Rodas as Rodas
from phystwin.core.simulation import Stepper as Stepper
from phystwin.core.simulation import simulate as simulate
from phystwin.core.status import IntegrationError as IntegrationError
from phystwin.core.trajectory import Trajectory as Trajectory

__all__ = [
    "RK4",
    "DormandPrince",
    "InputSignal",
    "IntegrationError",
    "Layout",
    "Model",
    "Rodas",
    "Signal",
    "StateBound",
    "StateRangeError",
    "Stepper",
    "Trajectory",
    "simulate",
]
