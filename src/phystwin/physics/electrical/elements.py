"""Basic electrical elements.

Ports are :func:`~phystwin.physics.ports.Pin`: potential ``v`` [V] across, current ``i`` [A] *into*
the component through that pin; at a node the pin currents sum to zero (Kirchhoff).

Two-pin elements follow one convention: ``v = p.v - n.v`` is the voltage across the element and
``i = p.i`` the current entering at ``p``, flowing through the element and leaving at ``n``
(``n.i = -p.i``). Absorbed power is ``v * i``; sources report the delivered power ``P = -v * i``.

Every relation is given with the explicit solutions the compiler may need (the voltage relation
for ``v``, ``p.v`` or ``n.v``; the current relations either way; a resistor's law for ``i`` or
``v``), so a series chain such as source - resistor - inductor - machine EMF is ordered without an
algebraic loop. Purely resistive meshes (a voltage divider: source - resistor - resistor, or a
cell's ``R0`` in series with a load resistor) are genuine algebraic loops and are refused by the
compiler; break them with a state (an inductor or capacitor) or lump the resistors.
"""

from __future__ import annotations

from phystwin.physics.component import Component, Parameter, Relation, State, Variable
from phystwin.physics.mechanical._common import HEAT_RELATION
from phystwin.physics.ports import HeatPort, Pin, Port

# ---------------------------------------------------------------------------- shared relations


def _v_from_pins(p_v, n_v):  # type: ignore[no-untyped-def]
    return p_v - n_v


def _p_v_from_v(n_v, v):  # type: ignore[no-untyped-def]
    return n_v + v


def _n_v_from_v(p_v, v):  # type: ignore[no-untyped-def]
    return p_v - v


def _i_from_p(p_i):  # type: ignore[no-untyped-def]
    return p_i


def _p_i_from_i(i):  # type: ignore[no-untyped-def]
    return i


def _n_i_from_p(p_i):  # type: ignore[no-untyped-def]
    return -p_i


def _p_i_from_n(n_i):  # type: ignore[no-untyped-def]
    return -n_i


def _absorbed(v, i):  # type: ignore[no-untyped-def]
    return v * i


VOLTAGE = Relation({"v": _v_from_pins, "p.v": _p_v_from_v, "n.v": _n_v_from_v}, "voltage v = p.v - n.v")
"""``v = p.v - n.v`` solvable for any of its three variables (``v`` algebraic)."""

VOLTAGE_STATE = Relation({"p.v": _p_v_from_v, "n.v": _n_v_from_v}, "voltage v = p.v - n.v (v is a state)")
"""``v = p.v - n.v`` with ``v`` a state: solvable for either pin potential."""

CURRENT = Relation({"i": _i_from_p, "p.i": _p_i_from_i}, "current i = p.i")
"""``i = p.i`` either way (``i`` algebraic)."""

CONTINUITY = Relation({"n.i": _n_i_from_p, "p.i": _p_i_from_n}, "current leaving at n equals current entering at p")
"""``n.i = -p.i`` either way."""

PINS = (Pin("p", "positive pin (current i enters here)"), Pin("n", "negative pin"))


# ---------------------------------------------------------------------------- elements


class Ground(Component):
    """Reference potential: ``p.v = 0``; ``p.i`` is the current drained to ground.

    Ports
    -----
    p : electrical
    """

    ports = (Pin("p"),)
    relations = (Relation({"p.v": lambda: 0.0}, "zero potential"),)


_T_FROM_HEAT = Relation({"T": lambda heat_T: heat_T}, "operating temperature T = heat.T")


class Resistor(Component):
    """Linear resistor with a linear temperature coefficient.

    Equations::

        v = p.v - n.v,   i = p.i,   n.i = -p.i
        R = R_ref * (1 + alpha * (T - T_ref))
        v = R * i
        P_loss = v * i
        T = heat.T,  heat.Q_flow = -P_loss         (heat_port=True)
        T = T_ref                                  (heat_port=False)

    Ohm's law is solvable for ``i`` or ``v`` and the voltage relation for ``v``, ``p.v`` or
    ``n.v``, so the resistor can sit between known potentials (computes its current) or in series
    with a current-determining element (computes a pin potential). ``R`` is not kept positive:
    choose ``alpha`` and the temperature range so that ``1 + alpha (T - T_ref) > 0``.

    Parameters
    ----------
    R_ref : Ohm, > 0
        Resistance at ``T_ref``.
    alpha : 1/K
        Linear temperature coefficient (copper: 3.9e-3 1/K).
    T_ref : K, > 0
        Reference temperature; also the operating temperature without a heat port.

    Ports
    -----
    p, n : electrical
    heat : heat
        Only with ``heat_port=True``: the resistor is at ``heat.T`` and delivers ``P_loss`` to it.

    Variables
    ---------
    v : V
    i : A
    R : Ohm
        Actual resistance.
    T : K
        Operating temperature.
    P_loss : W
        Joule loss ``v i = R i^2``.
    """

    parameters = (
        Parameter("R_ref", "Ohm", 1.0, "resistance at T_ref", lower=0.0, strict=True),
        Parameter("alpha", "1/K", 0.0, "linear temperature coefficient of resistance"),
        Parameter("T_ref", "K", 293.15, "reference temperature", lower=0.0, strict=True),
    )
    ports: tuple[Port, ...] = PINS
    variables = (
        Variable("v", "V", "voltage p.v - n.v"),
        Variable("i", "A", "current from p to n"),
        Variable("R", "Ohm", "actual resistance"),
        Variable("T", "K", "operating temperature"),
        Variable("P_loss", "W", "Joule loss"),
    )
    relations: tuple[Relation, ...] = (
        VOLTAGE,
        CURRENT,
        CONTINUITY,
        Relation({"R": lambda R_ref, alpha, T, T_ref: R_ref * (1.0 + alpha * (T - T_ref))}, "R(T)"),
        Relation({"i": lambda v, R: v / R, "v": lambda i, R: R * i}, "Ohm's law v = R i"),
        Relation({"P_loss": _absorbed}, "Joule loss"),
        Relation({"T": lambda T_ref: T_ref}, "operating temperature T = T_ref (no heat port)"),
    )

    def __init__(self, name: str, heat_port: bool = False, **values: float) -> None:
        self.heat_port = bool(heat_port)
        if self.heat_port:
            self.ports = (*PINS, HeatPort("heat", "resistor body: T = heat.T, receives P_loss"))
            self.relations = (
                *type(self).relations[:-1],
                _T_FROM_HEAT,
                HEAT_RELATION,
            )
        super().__init__(name, **values)


class Inductor(Component):
    """Ideal inductor.

    Equations::

        L di/dt = v,   v = p.v - n.v,   p.i = i,   n.i = -p.i
        E = L i^2 / 2

    States
    ------
    i : A
        Current from p to n.

    Parameters
    ----------
    L : H, > 0

    Ports
    -----
    p, n : electrical

    Variables
    ---------
    v : V
    E : J
        Stored magnetic energy.
    """

    states = (State("i", "A", 0.0, "current from p to n"),)
    parameters = (Parameter("L", "H", 1.0e-3, "inductance", lower=0.0, strict=True),)
    ports = PINS
    variables = (Variable("v", "V", "voltage p.v - n.v"), Variable("E", "J", "stored energy L i^2 / 2"))
    relations = (
        VOLTAGE,
        Relation({"p.i": _p_i_from_i}, "p.i = i (i is a state)"),
        CONTINUITY,
        Relation({"E": lambda L, i: 0.5 * L * i * i}, "magnetic energy"),
    )
    derivatives = {"i": lambda v, L: v / L}


class Capacitor(Component):
    """Ideal capacitor.

    Equations::

        C dv/dt = i,   v = p.v - n.v,   i = p.i,   n.i = -p.i
        E = C v^2 / 2

    States
    ------
    v : V
        Voltage p.v - n.v.

    Parameters
    ----------
    C : F, > 0

    Ports
    -----
    p, n : electrical

    Variables
    ---------
    i : A
    E : J
        Stored electric energy.
    """

    states = (State("v", "V", 0.0, "voltage p.v - n.v"),)
    parameters = (Parameter("C", "F", 1.0e-6, "capacitance", lower=0.0, strict=True),)
    ports = PINS
    variables = (Variable("i", "A", "current from p to n"), Variable("E", "J", "stored energy C v^2 / 2"))
    relations = (
        VOLTAGE_STATE,
        CURRENT,
        CONTINUITY,
        Relation({"E": lambda C, v: 0.5 * C * v * v}, "electric energy"),
    )
    derivatives = {"v": lambda i, C: i / C}


class VoltageSource(Component):
    """Ideal voltage source driven by an input signal.

    Equations::

        p.v - n.v = V,   i = p.i,   n.i = -p.i
        P = -V * i               (power delivered; i < 0 when the source delivers)

    Inputs
    ------
    V : V
        Source voltage.

    Ports
    -----
    p, n : electrical

    Variables
    ---------
    i : A
        Current entering at p (through the source, from p to n).
    P : W
        Power delivered to the circuit.
    """

    inputs = (Variable("V", "V", "source voltage p.v - n.v"),)
    ports = PINS
    variables = (Variable("i", "A", "current from p to n through the source"), Variable("P", "W", "power delivered"))
    relations = (
        Relation(
            {"p.v": lambda n_v, V: n_v + V, "n.v": lambda p_v, V: p_v - V},
            "imposed voltage p.v - n.v = V",
        ),
        CURRENT,
        CONTINUITY,
        Relation({"P": lambda V, i: -V * i}, "delivered power"),
    )


class CurrentSource(Component):
    """Ideal current source driven by an input signal.

    Equations::

        p.i = I,   n.i = -I      (I enters at p, flows through the source and leaves at n,
                                  i.e. it is pushed out of n into the external circuit)
        v = p.v - n.v
        P = -v * I               (power delivered)

    Inputs
    ------
    I : A
        Source current.

    Ports
    -----
    p, n : electrical

    Variables
    ---------
    v : V
    P : W
        Power delivered to the circuit.
    """

    inputs = (Variable("I", "A", "current from p to n through the source"),)
    ports = PINS
    variables = (Variable("v", "V", "voltage p.v - n.v"), Variable("P", "W", "power delivered"))
    relations = (
        Relation({"p.i": lambda I: I}, "imposed current"),  # noqa: E741 - I is the source current
        CONTINUITY,
        Relation({"v": _v_from_pins}, "voltage v = p.v - n.v"),
        Relation({"P": lambda v, I: -v * I}, "delivered power"),  # noqa: E741
    )


__all__ = [
    "CONTINUITY",
    "CURRENT",
    "PINS",
    "VOLTAGE",
    "VOLTAGE_STATE",
    "Capacitor",
    "CurrentSource",
    "Ground",
    "Inductor",
    "Resistor",
    "VoltageSource",
]
