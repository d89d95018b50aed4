"""One-dimensional translational mechanics.

Ports are :func:`~phystwin.physics.ports.TranslationalFlange`: velocity ``v`` [m/s] across, force
``f`` [N] *into* the component through that flange; at a node the forces sum to zero.

Two-flange elements use the rotational convention (see :mod:`.rotational`): relative quantities are
*flange_a minus flange_b* and ``f`` is the force the element takes in at ``flange_a``
(``flange_a.f = f``, ``flange_b.f = -f``); the body at ``flange_a`` receives ``-f``.

As for rotation, two masses joined rigidly are refused as over-determined (no index reduction):
lump them into one :class:`Mass`.
"""

from __future__ import annotations

from phystwin.physics.component import Component, Parameter, Relation, State, Variable
from phystwin.physics.mechanical._common import LossyElement
from phystwin.physics.ports import TranslationalFlange


def _v_rel(flange_a_v, flange_b_v):  # type: ignore[no-untyped-def]
    return flange_a_v - flange_b_v


def _v_a_from_rel(flange_b_v, v_rel):  # type: ignore[no-untyped-def]
    return flange_b_v + v_rel


def _v_b_from_rel(flange_a_v, v_rel):  # type: ignore[no-untyped-def]
    return flange_a_v - v_rel


def _f_a(f):  # type: ignore[no-untyped-def]
    return f


def _f_from_a(flange_a_f):  # type: ignore[no-untyped-def]
    return flange_a_f


def _f_b_from_a(flange_a_f):  # type: ignore[no-untyped-def]
    return -flange_a_f


def _f_a_from_b(flange_b_f):  # type: ignore[no-untyped-def]
    return -flange_b_f


_V_REL = Relation(
    {"v_rel": _v_rel, "flange_a.v": _v_a_from_rel, "flange_b.v": _v_b_from_rel},
    "relative velocity v_rel = flange_a.v - flange_b.v",
)
_F_AT_A = Relation({"flange_a.f": _f_a, "f": _f_from_a}, "flange_a.f = f")
_F_THROUGH = Relation(
    {"flange_b.f": _f_b_from_a, "flange_a.f": _f_a_from_b},
    "massless: the force taken in at flange_a leaves at flange_b",
)

_TWO_FLANGES = (
    TranslationalFlange("flange_a", "relative quantities are a minus b"),
    TranslationalFlange("flange_b"),
)


class Mass(Component):
    """Rigid sliding mass with two rigidly joined flanges.

    Equations::

        ds/dt = v
        m dv/dt = flange_a.f + flange_b.f
        flange_a.v = v,   flange_b.v = v
        E = m v^2 / 2

    States
    ------
    s : m
        Position.
    v : m/s
        Velocity.

    Parameters
    ----------
    m : kg, > 0
        Mass.

    Ports
    -----
    flange_a, flange_b : translational

    Variables
    ---------
    E : J
        Kinetic energy.
    """

    states = (State("s", "m", 0.0, "position"), State("v", "m/s", 0.0, "velocity"))
    parameters = (Parameter("m", "kg", 1.0, "mass", lower=0.0, strict=True),)
    ports = _TWO_FLANGES
    variables = (Variable("E", "J", "kinetic energy m v^2 / 2"),)
    relations = (
        Relation({"flange_a.v": lambda v: v}, "flange_a moves with the mass"),
        Relation({"flange_b.v": lambda v: v}, "flange_b moves with the mass"),
        Relation({"E": lambda m, v: 0.5 * m * v * v}, "kinetic energy"),
    )
    derivatives = {
        "s": lambda v: v,
        "v": lambda flange_a_f, flange_b_f, m: (flange_a_f + flange_b_f) / m,
    }


class TranslationalSpring(Component):
    """Linear translational spring (massless).

    Equations::

        ds_rel/dt = flange_a.v - flange_b.v
        f = c * s_rel
        flange_a.f = f,   flange_b.f = -f
        E = c s_rel^2 / 2

    States
    ------
    s_rel : m
        Deflection ``s_a - s_b`` from the unloaded length (start value: preload deflection).

    Parameters
    ----------
    c : N/m, >= 0
        Stiffness.

    Ports
    -----
    flange_a, flange_b : translational

    Variables
    ---------
    f : N
        Spring force taken in at flange_a (the body at flange_a receives ``-f``).
    E : J
        Stored elastic energy.
    """

    states = (State("s_rel", "m", 0.0, "deflection s_a - s_b from the unloaded length"),)
    parameters = (Parameter("c", "N/m", 1.0e3, "stiffness", lower=0.0),)
    ports = _TWO_FLANGES
    variables = (
        Variable("f", "N", "spring force taken in at flange_a"),
        Variable("E", "J", "stored elastic energy c s_rel^2 / 2"),
    )
    relations = (
        Relation({"f": lambda c, s_rel: c * s_rel}, "Hooke: f = c s_rel"),
        _F_AT_A,
        _F_THROUGH,
        Relation({"E": lambda c, s_rel: 0.5 * c * s_rel * s_rel}, "elastic energy"),
    )
    derivatives = {"s_rel": lambda flange_a_v, flange_b_v: flange_a_v - flange_b_v}


class TranslationalDamper(LossyElement):
    """Linear viscous damper (massless).

    Equations::

        v_rel = flange_a.v - flange_b.v
        f = d * v_rel
        flange_a.f = f,   flange_b.f = -f
        P_loss = f * v_rel = d v_rel^2 >= 0
        heat.Q_flow = -P_loss                      (heat_port=True only)

    Parameters
    ----------
    d : N*s/m, >= 0
        Damping coefficient.

    Ports
    -----
    flange_a, flange_b : translational
    heat : heat
        Only with ``heat_port=True``.

    Variables
    ---------
    v_rel : m/s
    f : N
        Damping force taken in at flange_a.
    P_loss : W
        Dissipated power.
    """

    parameters = (Parameter("d", "N*s/m", 1.0, "damping coefficient", lower=0.0),)
    ports = _TWO_FLANGES
    variables = (
        Variable("v_rel", "m/s", "relative velocity flange_a.v - flange_b.v"),
        Variable("f", "N", "damping force taken in at flange_a"),
        Variable("P_loss", "W", "dissipated power"),
    )
    relations = (
        _V_REL,
        Relation({"f": lambda d, v_rel: d * v_rel, "v_rel": lambda d, f: f / d}, "viscous damping f = d v_rel"),
        _F_AT_A,
        _F_THROUGH,
        Relation({"P_loss": lambda f, v_rel: f * v_rel}, "dissipated power"),
    )


class ForceSource(Component):
    """Prescribed force acting on the connected body (reaction to an implicit ground).

    Equations::

        flange.f = -f            (the body at the flange receives +f)
        P = f * flange.v         (power delivered)

    Inputs
    ------
    f : N
        Force applied to the driven body.

    Ports
    -----
    flange : translational

    Variables
    ---------
    P : W
    """

    inputs = (Variable("f", "N", "force applied to the driven body"),)
    ports = (TranslationalFlange("flange"),)
    variables = (Variable("P", "W", "power delivered"),)
    relations = (
        Relation({"flange.f": lambda f: -f}, "applied force"),
        Relation({"P": lambda f, flange_v: f * flange_v}, "delivered power"),
    )


class TranslationalFixed(Component):
    """Ground: ``flange.v = 0``; ``flange.f`` is the reaction force taken by the ground.

    Ports
    -----
    flange : translational
    """

    ports = (TranslationalFlange("flange"),)
    relations = (Relation({"flange.v": lambda: 0.0}, "fixed flange"),)


__all__ = ["ForceSource", "Mass", "TranslationalDamper", "TranslationalFixed", "TranslationalSpring"]
