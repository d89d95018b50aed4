"""phystwin: physics-based multi-physics component twins with a compiled ODE core.

Compose components into a System, compile it to a Model, simulate it::

    from phystwin import System, simulate
    from phystwin.physics.thermal import HeatCapacitor, ThermalConductor, PrescribedTemperature
"""

from phystwin.core import RK4 as RK4
from phystwin.core import DormandPrince as DormandPrince
from phystwin.core import InputSignal as InputSignal
from phystwin.core import IntegrationError as IntegrationError
from phystwin.core import Model as Model
from phystwin.core import Rodas as Rodas
from phystwin.core import Stepper as Stepper
from phystwin.core import Trajectory as Trajectory
from phystwin.core import simulate as simulate
from phystwin.physics import AlgebraicLoopError as AlgebraicLoopError
from phystwin.physics import Component as Component
from phystwin.physics import Event as Event
from phystwin.physics import ModelDefinitionError as ModelDefinitionError
from phystwin.physics import Parameter as Parameter
from phystwin.physics import PortKind as PortKind
from phystwin.physics import Relation as Relation
from phystwin.physics import State as State
from phystwin.physics import StructuralError as StructuralError
from phystwin.physics import System as System
from phystwin.physics import Variable as Variable

__version__ = "0.1.0"

__all__ = [
    "RK4",
    "AlgebraicLoopError",
    "Component",
    "DormandPrince",
    "Event",
    "InputSignal",
    "IntegrationError",
    "Model",
    "ModelDefinitionError",
    "Parameter",
    "PortKind",
    "Relation",
    "Rodas",
    "State",
    "Stepper",
    "StructuralError",
    "System",
    "Trajectory",
    "Variable",
    "__version__",
    "simulate",
]
