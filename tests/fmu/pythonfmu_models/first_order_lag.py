"""First-order lag ``dy/dt = (u - y) / tau`` as a pythonfmu co-simulation FMU (FMI 2.0).

Each communication step is integrated exactly for an input held constant over the step:
``y += (u - y) * (1 - exp(-h / tau))``. Build it with ``pythonfmu build -f first_order_lag.py``.

pythonfmu 0.7 writes neither ``unit`` attributes nor ``UnitDefinitions`` nor ``InitialUnknowns``; the
:class:`FirstOrderLag` description adds them, so the FMU declares ``u``, ``y`` in ``1`` and ``tau`` in ``s``.
"""

from __future__ import annotations

import math
from xml.etree.ElementTree import Element, SubElement

from pythonfmu import DefaultExperiment, Fmi2Causality, Fmi2Slave, Fmi2Variability, Real

_UNITS = {"1": {}, "s": {"s": "1"}}
"""Unit name -> BaseUnit exponents, written to ``UnitDefinitions``."""


class UnitReal(Real):
    """A pythonfmu ``Real`` that also writes the ``unit`` attribute."""

    def __init__(self, name: str, unit: str, **kwargs):
        super().__init__(name, **kwargs)
        self.unit = unit

    def to_xml(self) -> Element:
        node = super().to_xml()
        node.find("Real").set("unit", self.unit)
        return node


class FirstOrderLag(Fmi2Slave):
    """First-order lag with input ``u`` [1], output ``y`` [1] and parameter ``tau`` [s] (default 0.5 s)."""

    author = "phystwin tests"
    description = "First-order lag dy/dt = (u - y)/tau, stepped exactly for a held input"
    default_experiment = DefaultExperiment(start_time=0.0, stop_time=2.0, step_size=0.01)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.u = 0.0
        self.y = 0.0
        self.tau = 0.5
        self.register_variable(
            UnitReal(
                "u", "1", causality=Fmi2Causality.input, variability=Fmi2Variability.continuous, description="Lag input"
            )
        )
        self.register_variable(
            UnitReal(
                "y",
                "1",
                causality=Fmi2Causality.output,
                variability=Fmi2Variability.continuous,
                description="Lag output",
            )
        )
        self.register_variable(
            UnitReal(
                "tau",
                "s",
                causality=Fmi2Causality.parameter,
                variability=Fmi2Variability.tunable,
                description="Time constant",
            )
        )

    def to_xml(self, model_options=None) -> Element:
        root = super().to_xml(model_options or {})
        children = list(root)
        cosim = next(i for i, e in enumerate(children) if e.tag == "CoSimulation")
        units = Element("UnitDefinitions")
        for name, exponents in _UNITS.items():
            SubElement(SubElement(units, "Unit", name=name), "BaseUnit", exponents)
        root.insert(cosim + 1, units)
        structure = root.find("ModelStructure")
        outputs = structure.find("Outputs")
        if outputs is not None:
            initial = SubElement(structure, "InitialUnknowns")
            for unknown in outputs:
                SubElement(initial, "Unknown", index=unknown.get("index"))
        return root

    def do_step(self, current_time: float, step_size: float) -> bool:
        if self.tau <= 0.0:
            self.log(f"tau must be > 0 s, got {self.tau!r}")
            return False
        self.y += (self.u - self.y) * -math.expm1(-step_size / self.tau)
        return True
