"""System: components connected through typed ports, with named external inputs and outputs.

A System is built by adding components (or other Systems, for hierarchy), connecting ports and
signals by dotted reference strings, and declaring the external inputs and outputs::

    s = System("cooling")
    s.add(HeatCapacitor("mass", C=500.0, T=300.0))
    s.add(ThermalConductor("wall", G=2.0))
    s.add(PrescribedTemperature("ambient"))
    s.connect("mass.port", "wall.a")
    s.connect("wall.b", "ambient.port")
    s.input("T_amb", "K", "ambient.T")
    s.output("T_mass", "mass.T")
    model = s.compile()

References:

* ``"comp.port"``: a port; ``connect`` of two ports joins them into one node (equal across
  variables, through variables summing to zero). Ports of different kinds are refused.
* ``"comp.name"``: a state, variable or signal input; ``"comp.port.T"``: a port variable.
  ``connect(source, destination)`` of two signals drives the destination input from the source
  (units must agree).
* Inside a nested System ``"sub.x"`` names what ``sub`` exposes: its exposed ports
  (:meth:`System.expose`), its inputs and its outputs, or, further down, ``"sub.comp.port"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phystwin.physics.component import _IDENT, Component, ModelDefinitionError

if TYPE_CHECKING:
    from phystwin.core.model import Model

_UNIT_SPACES = re.compile(r"\s*([*/^])\s*|\s+")


def normalize_unit(unit: str) -> str:
    """Canonical spelling of a unit string (``"N m"`` == ``"N*m"``, ``"W / K"`` == ``"W/K"``)."""
    u = unit.strip().replace("·", "*")
    return _UNIT_SPACES.sub(lambda m: m.group(1) or "*", u)


@dataclass(frozen=True)
class SystemInput:
    """An external input: name, unit, the signal inputs it drives, optional default value."""

    name: str
    unit: str
    targets: tuple[str, ...]
    default: float | None = None
    description: str = ""


@dataclass(frozen=True)
class SystemOutput:
    """An external output: name, the variable it reads, its unit."""

    name: str
    source: str
    unit: str | None = None
    description: str = ""


class System:
    """A composition of components; compiles to one :class:`~phystwin.core.model.Model`.

    Also usable as a component of another System (hierarchy): its inputs, outputs and exposed
    ports are what the outer System sees.
    """

    def __init__(self, name: str, description: str = "") -> None:
        if not _IDENT.match(name):
            raise ModelDefinitionError(f"System name {name!r} is not a valid identifier")
        self.name = name
        self.description = description
        self.children: dict[str, Component | System] = {}
        self.port_links: list[tuple[str, str]] = []
        self.signal_links: list[tuple[str, str]] = []
        self.inputs: dict[str, SystemInput] = {}
        self.outputs: dict[str, SystemOutput] = {}
        self.exposed: dict[str, str] = {}

    # ------------------------------------------------------------------ building
    def add(self, child: Component | System) -> Any:
        """Add a component or a subsystem; returns it."""
        if not isinstance(child, Component | System):
            raise ModelDefinitionError(
                f"System {self.name!r}: can only add a Component or a System, got {type(child).__name__}"
            )
        if child.name in self.children:
            raise ModelDefinitionError(f"System {self.name!r} already has a member named {child.name!r}")
        self.children[child.name] = child
        return child

    def connect(self, a: str, b: str) -> None:
        """Connect two ports (a node), or drive signal input ``b`` from signal ``a``."""
        self.port_links.append((a, b)) if self._is_port(a) and self._is_port(b) else self.signal_links.append((a, b))

    def input(
        self,
        name: str,
        unit: str,
        targets: str | Iterable[str],
        default: float | None = None,
        description: str = "",
    ) -> None:
        """Declare an external input ``name`` [unit] driving one or more signal inputs."""
        if not _IDENT.match(name):
            raise ModelDefinitionError(f"System {self.name!r}: input name {name!r} is not a valid identifier")
        if name in self.inputs or name in self.outputs or name in self.exposed:
            raise ModelDefinitionError(f"System {self.name!r}: {name!r} is already declared")
        tgts = (targets,) if isinstance(targets, str) else tuple(targets)
        self.inputs[name] = SystemInput(name, unit, tgts, default, description)

    def output(self, name: str, source: str, unit: str | None = None, description: str = "") -> None:
        """Declare an external output ``name`` reading the variable ``source``."""
        if not _IDENT.match(name):
            raise ModelDefinitionError(f"System {self.name!r}: output name {name!r} is not a valid identifier")
        if name in self.inputs or name in self.outputs or name in self.exposed:
            raise ModelDefinitionError(f"System {self.name!r}: {name!r} is already declared")
        self.outputs[name] = SystemOutput(name, source, unit, description)

    def expose(self, name: str, port: str) -> None:
        """Make the inner port ``port`` visible to an outer System as ``<self.name>.<name>``."""
        if name in self.inputs or name in self.outputs or name in self.exposed:
            raise ModelDefinitionError(f"System {self.name!r}: {name!r} is already declared")
        self.exposed[name] = port

    def compile(self, *, analytic_jacobian: bool = True, estimated_parameters: Sequence[str] = ()) -> Model:
        """Compile to one fused, cached :class:`~phystwin.core.model.Model` (see :mod:`~phystwin.physics.compiler`);
        ``estimated_parameters`` become random-walk states for joint state and parameter estimation."""
        from phystwin.physics.compiler import compile_system

        return compile_system(self, analytic_jacobian=analytic_jacobian, estimated_parameters=estimated_parameters)

    # ------------------------------------------------------------------ helpers
    def _is_port(self, ref: str) -> bool:
        head, _, rest = ref.partition(".")
        child = self.children.get(head)
        if child is None or not rest:
            return False
        if isinstance(child, System):
            if rest in child.exposed:
                return True
            return child._is_port(rest)
        return any(p.name == rest for p in child.ports)

    def walk(self, prefix: str = "") -> Iterable[tuple[str, Component]]:
        """Yield ``(dotted path, component)`` for every leaf component."""
        for name, child in self.children.items():
            path = f"{prefix}{name}"
            if isinstance(child, System):
                yield from child.walk(path + ".")
            else:
                yield path, child

    def __repr__(self) -> str:
        return f"System({self.name!r}, {len(self.children)} members)"
