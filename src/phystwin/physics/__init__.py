"""Physics: ports, the Component protocol, System composition and the domain libraries."""

from phystwin.physics.compiler import AlgebraicLoopError as AlgebraicLoopError
from phystwin.physics.compiler import StructuralError as StructuralError
from phystwin.physics.compiler import UnconnectedPortError as UnconnectedPortError
from phystwin.physics.component import Component as Component
from phystwin.physics.component import Event as Event
from phystwin.physics.component import ModelDefinitionError as ModelDefinitionError
from phystwin.physics.component import Parameter as Parameter
from phystwin.physics.component import Relation as Relation
from phystwin.physics.component import State as State
from phystwin.physics.component import Variable as Variable
from phystwin.physics.dimensions import DimensionError as DimensionError
from phystwin.physics.ports import ELECTRICAL as ELECTRICAL
from phystwin.physics.ports import HEAT as HEAT
from phystwin.physics.ports import ROTATIONAL as ROTATIONAL
from phystwin.physics.ports import TRANSLATIONAL as TRANSLATIONAL
from phystwin.physics.ports import Flange as Flange
from phystwin.physics.ports import HeatPort as HeatPort
from phystwin.physics.ports import Pin as Pin
from phystwin.physics.ports import Port as Port
from phystwin.physics.ports import PortKind as PortKind
from phystwin.physics.ports import TranslationalFlange as TranslationalFlange
from phystwin.physics.system import System as System

__all__ = [
    "ELECTRICAL",
    "HEAT",
    "ROTATIONAL",
    "TRANSLATIONAL",
    "AlgebraicLoopError",
    "Component",
    "DimensionError",
    "Event",
    "Flange",
    "HeatPort",
    "ModelDefinitionError",
    "Parameter",
    "Pin",
    "Port",
    "PortKind",
    "Relation",
    "State",
    "StructuralError",
    "System",
    "TranslationalFlange",
    "UnconnectedPortError",
    "Variable",
]
