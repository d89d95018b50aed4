"""Electromechanical converters."""

from __future__ import annotations

from phystwin.physics.component import Component, Parameter, Relation, Variable
from phystwin.physics.electrical.elements import CONTINUITY, CURRENT, PINS
from phystwin.physics.ports import Flange


class DcMachine(Component):
    """Ideal DC machine (permanent-magnet or constant-field): a lossless, massless EMF.

    Equations::

        v_emf = p.v - n.v = k * flange.w      (back-EMF)
        i = p.i,  n.i = -p.i                  (armature current, p to n)
        tau = k * i                           (electromagnetic torque on the shaft)
        flange.tau = -tau                     (torque INTO the machine; the shaft receives +tau)
        P_mech = tau * flange.w = v_emf * i   (power converted, electrical -> mechanical)

    Motor convention: with ``v_emf > 0`` and ``i > 0`` (current entering at ``p``) the machine
    converts electrical power into mechanical power; ``P_mech < 0`` is generating.

    The machine has neither resistance, inductance nor inertia of its own: build a motor as
    armature :class:`~phystwin.physics.electrical.Resistor` and
    :class:`~phystwin.physics.electrical.Inductor` in series with ``p``, and connect the rotor
    inertia as a :class:`~phystwin.physics.mechanical.Inertia` to ``flange`` (bearing losses as a
    :class:`~phystwin.physics.mechanical.Friction` to a :class:`~phystwin.physics.mechanical.Fixed`).
    Steady state of ``V`` - ``R`` - ``L`` - machine with a viscous load ``b`` on the shaft:
    ``w = k V / (k^2 + R b)``, ``i = b V / (k^2 + R b)``.

    Each relation is solvable in both directions (``v_emf`` from the speed or the speed from
    ``v_emf``; ``tau`` from ``i`` or ``i`` from ``tau``), so the machine also composes with an
    imposed speed (generator on a speed source) or an imposed current.

    Parameters
    ----------
    k : N*m/A (= V*s/rad), > 0
        Torque / back-EMF constant.

    Ports
    -----
    p, n : electrical
        Armature terminals.
    flange : rotational
        Shaft.

    Variables
    ---------
    v_emf : V
        Back-EMF ``p.v - n.v``.
    i : A
        Armature current from p to n.
    tau : N*m
        Electromagnetic torque acting on the shaft.
    P_mech : W
        Mechanical power delivered to the shaft.
    """

    parameters = (Parameter("k", "N*m/A", 0.05, "torque and back-EMF constant", lower=0.0, strict=True),)
    ports = (*PINS, Flange("flange", "shaft"))
    variables = (
        Variable("v_emf", "V", "back-EMF p.v - n.v"),
        Variable("i", "A", "armature current from p to n"),
        Variable("tau", "N*m", "electromagnetic torque on the shaft"),
        Variable("P_mech", "W", "mechanical power delivered to the shaft"),
    )
    relations = (
        Relation(
            {
                "v_emf": lambda p_v, n_v: p_v - n_v,
                "p.v": lambda n_v, v_emf: n_v + v_emf,
                "n.v": lambda p_v, v_emf: p_v - v_emf,
            },
            "terminal voltage v_emf = p.v - n.v",
        ),
        Relation(
            {"v_emf": lambda k, flange_w: k * flange_w, "flange.w": lambda k, v_emf: v_emf / k},
            "back-EMF v_emf = k w",
        ),
        CURRENT,
        CONTINUITY,
        Relation({"tau": lambda k, i: k * i, "i": lambda k, tau: tau / k}, "torque tau = k i"),
        Relation({"flange.tau": lambda tau: -tau, "tau": lambda flange_tau: -flange_tau}, "shaft receives tau"),
        Relation({"P_mech": lambda tau, flange_w: tau * flange_w}, "converted power"),
    )


__all__ = ["DcMachine"]
