"""Lumped one-dimensional mechanics: rotational (flange: ``w`` [rad/s], ``tau`` [N*m]) and
translational (flange: ``v`` [m/s], ``f`` [N]) elements.

Through variables are positive *into* the component. Dissipative elements (:class:`Damper`,
:class:`Friction`, :class:`IdealGear`, :class:`TranslationalDamper`) expose ``P_loss`` [W] and, built
with ``heat_port=True``, route it into a heat port ``heat``.
"""

from phystwin.physics.mechanical.rotational import Damper as Damper
from phystwin.physics.mechanical.rotational import Fixed as Fixed
from phystwin.physics.mechanical.rotational import Friction as Friction
from phystwin.physics.mechanical.rotational import IdealGear as IdealGear
from phystwin.physics.mechanical.rotational import Inertia as Inertia
from phystwin.physics.mechanical.rotational import SpeedSource as SpeedSource
from phystwin.physics.mechanical.rotational import Spring as Spring
from phystwin.physics.mechanical.rotational import TorqueSource as TorqueSource
from phystwin.physics.mechanical.translational import ForceSource as ForceSource
from phystwin.physics.mechanical.translational import Mass as Mass
from phystwin.physics.mechanical.translational import TranslationalDamper as TranslationalDamper
from phystwin.physics.mechanical.translational import TranslationalFixed as TranslationalFixed
from phystwin.physics.mechanical.translational import TranslationalSpring as TranslationalSpring

__all__ = [
    "Damper",
    "Fixed",
    "ForceSource",
    "Friction",
    "IdealGear",
    "Inertia",
    "Mass",
    "SpeedSource",
    "Spring",
    "TorqueSource",
    "TranslationalDamper",
    "TranslationalFixed",
    "TranslationalSpring",
]
