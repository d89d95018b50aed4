"""One-dimensional rotational mechanics.

Ports are :func:`~phystwin.physics.ports.Flange`: angular speed ``w`` [rad/s] across, torque ``tau``
[N*m] *into* the component through that flange (the torque the rest of the system exerts on the
component there); at a node the torques of all connected flanges sum to zero. A body connected to a
flange therefore receives the negative of the torque the element takes in at that flange.

Two-flange compliant and dissipative elements (:class:`Spring`, :class:`Damper`, :class:`Friction`)
share one convention: relative quantities are *flange_a minus flange_b* (``w_rel = w_a - w_b``,
``phi_rel = phi_a - phi_b``) and ``tau`` is the torque the element takes in at ``flange_a`` and
passes on to ``flange_b`` (``flange_a.tau = tau``, ``flange_b.tau = -tau``). A positive ``tau``
thus acts on the body at ``flange_a`` as ``-tau`` (it resists ``w_rel``).

Structural limits of the BLT compiler (no index reduction): two inertias joined rigidly (directly,
or through an :class:`IdealGear`) fix one speed twice and are refused as over-determined. Lump them
into one :class:`Inertia` (through a gear, reflect: ``J_a_side = ratio**2 * J_b_side``) or join
them through a :class:`Spring`.
"""

from __future__ import annotations

import math

from phystwin._jit import njit
from phystwin.physics.component import Component, Parameter, Relation, State, Variable
from phystwin.physics.mechanical._common import LossyElement
from phystwin.physics.ports import Flange

# ---------------------------------------------------------------------------- shared relations


def _w_rel(flange_a_w, flange_b_w):  # type: ignore[no-untyped-def]
    return flange_a_w - flange_b_w


def _w_a_from_rel(flange_b_w, w_rel):  # type: ignore[no-untyped-def]
    return flange_b_w + w_rel


def _w_b_from_rel(flange_a_w, w_rel):  # type: ignore[no-untyped-def]
    return flange_a_w - w_rel


def _tau_a(tau):  # type: ignore[no-untyped-def]
    return tau


def _tau_from_a(flange_a_tau):  # type: ignore[no-untyped-def]
    return flange_a_tau


def _tau_b_from_a(flange_a_tau):  # type: ignore[no-untyped-def]
    return -flange_a_tau


def _tau_a_from_b(flange_b_tau):  # type: ignore[no-untyped-def]
    return -flange_b_tau


def _relative_power(tau, w_rel):  # type: ignore[no-untyped-def]
    return tau * w_rel


_W_REL = Relation(
    {"w_rel": _w_rel, "flange_a.w": _w_a_from_rel, "flange_b.w": _w_b_from_rel},
    "relative speed w_rel = flange_a.w - flange_b.w",
)
_TAU_AT_A = Relation({"flange_a.tau": _tau_a, "tau": _tau_from_a}, "flange_a.tau = tau")
_TAU_THROUGH = Relation(
    {"flange_b.tau": _tau_b_from_a, "flange_a.tau": _tau_a_from_b},
    "massless: the torque taken in at flange_a leaves at flange_b",
)
_P_LOSS_REL = Relation({"P_loss": _relative_power}, "dissipated power P_loss = tau * w_rel")

_TWO_FLANGES = (
    Flange("flange_a", "driving side (relative quantities are a minus b)"),
    Flange("flange_b", "driven side"),
)


# ---------------------------------------------------------------------------- elements


class Inertia(Component):
    """Rigid rotating body with two rigidly joined flanges.

    Equations::

        dphi/dt = w
        J dw/dt = flange_a.tau + flange_b.tau
        flange_a.w = w,   flange_b.w = w
        E = J w^2 / 2

    States
    ------
    phi : rad
        Rotation angle.
    w : rad/s
        Angular speed.

    Parameters
    ----------
    J : kg*m2, > 0
        Moment of inertia.

    Ports
    -----
    flange_a, flange_b : rotational
        Either or both may be used; an unconnected flange carries no torque.

    Variables
    ---------
    E : J
        Kinetic energy.
    """

    states = (
        State("phi", "rad", 0.0, "rotation angle"),
        State("w", "rad/s", 0.0, "angular speed"),
    )
    parameters = (Parameter("J", "kg*m2", 1.0, "moment of inertia", lower=0.0, strict=True),)
    ports = _TWO_FLANGES
    variables = (Variable("E", "J", "kinetic energy J w^2 / 2"),)
    relations = (
        Relation({"flange_a.w": lambda w: w}, "flange_a turns with the body"),
        Relation({"flange_b.w": lambda w: w}, "flange_b turns with the body"),
        Relation({"E": lambda J, w: 0.5 * J * w * w}, "kinetic energy"),
    )
    derivatives = {
        "phi": lambda w: w,
        "w": lambda flange_a_tau, flange_b_tau, J: (flange_a_tau + flange_b_tau) / J,
    }


class Spring(Component):
    """Linear torsion spring (massless).

    Equations::

        dphi_rel/dt = flange_a.w - flange_b.w
        tau = c * phi_rel
        flange_a.tau = tau,   flange_b.tau = -tau
        E = c phi_rel^2 / 2

    States
    ------
    phi_rel : rad
        Twist ``phi_a - phi_b`` measured from the unloaded position (start value: pre-twist).

    Parameters
    ----------
    c : N*m/rad, >= 0
        Torsional stiffness.

    Ports
    -----
    flange_a, flange_b : rotational

    Variables
    ---------
    tau : N*m
        Torque taken in at flange_a (the body at flange_a receives ``-tau``).
    E : J
        Stored elastic energy.
    """

    states = (State("phi_rel", "rad", 0.0, "twist phi_a - phi_b from the unloaded position"),)
    parameters = (Parameter("c", "N*m/rad", 1.0e3, "torsional stiffness", lower=0.0),)
    ports = _TWO_FLANGES
    variables = (
        Variable("tau", "N*m", "spring torque taken in at flange_a"),
        Variable("E", "J", "stored elastic energy c phi_rel^2 / 2"),
    )
    relations = (
        Relation({"tau": lambda c, phi_rel: c * phi_rel}, "Hooke: tau = c phi_rel"),
        _TAU_AT_A,
        _TAU_THROUGH,
        Relation({"E": lambda c, phi_rel: 0.5 * c * phi_rel * phi_rel}, "elastic energy"),
    )
    derivatives = {"phi_rel": lambda flange_a_w, flange_b_w: flange_a_w - flange_b_w}


class Damper(LossyElement):
    """Linear rotational (viscous) damper (massless).

    Equations::

        w_rel = flange_a.w - flange_b.w
        tau = d * w_rel
        flange_a.tau = tau,   flange_b.tau = -tau
        P_loss = tau * w_rel = d w_rel^2 >= 0
        heat.Q_flow = -P_loss                      (heat_port=True only)

    Parameters
    ----------
    d : N*m*s/rad, >= 0
        Damping coefficient. (Topologies that need the speed from the torque divide by ``d``.)

    Ports
    -----
    flange_a, flange_b : rotational
    heat : heat
        Only with ``heat_port=True``.

    Variables
    ---------
    w_rel : rad/s
        Relative speed.
    tau : N*m
        Damping torque taken in at flange_a.
    P_loss : W
        Dissipated power.
    """

    parameters = (Parameter("d", "N*m*s/rad", 1.0, "damping coefficient", lower=0.0),)
    ports = _TWO_FLANGES
    variables = (
        Variable("w_rel", "rad/s", "relative speed flange_a.w - flange_b.w"),
        Variable("tau", "N*m", "damping torque taken in at flange_a"),
        Variable("P_loss", "W", "dissipated power"),
    )
    relations = (
        _W_REL,
        Relation(
            {"tau": lambda d, w_rel: d * w_rel, "w_rel": lambda d, tau: tau / d},
            "viscous damping tau = d w_rel",
        ),
        _TAU_AT_A,
        _TAU_THROUGH,
        _P_LOSS_REL,
    )


@njit
def friction_torque(w_rel: float, b: float, tau_c: float, w_c: float) -> float:
    """``b w_rel + tau_c tanh(w_rel / w_c)`` [N*m]."""
    return b * w_rel + tau_c * math.tanh(w_rel / w_c)


@njit
def friction_speed(tau: float, b: float, tau_c: float, w_c: float) -> float:
    """Inverse of :func:`friction_torque` in ``w_rel`` [rad/s] (safeguarded Newton on a bracket).

    The characteristic is strictly increasing when ``b > 0`` or ``tau_c > 0``. With ``b = 0`` a
    torque at or beyond ``tau_c`` has no finite solution: returns ``+-inf`` (``nan`` if both are 0).
    """
    if tau == 0.0:
        return 0.0
    s = 1.0 if tau > 0.0 else -1.0
    target = abs(tau)
    # the solution x > 0 of b x + tau_c tanh(x / w_c) = target lies in (0, hi]
    hi = math.inf
    if b > 0.0:
        hi = target / b
    if tau_c > 0.0 and target < tau_c:
        hi = min(hi, w_c * math.atanh(target / tau_c))
    if not hi < math.inf:
        return s * math.inf if tau_c > 0.0 or b > 0.0 else math.nan
    lo = 0.0
    x = hi
    for _ in range(100):
        th = math.tanh(x / w_c)
        f = b * x + tau_c * th - target
        if f > 0.0:
            hi = x
        else:
            lo = x
        df = b + tau_c * (1.0 - th * th) / w_c
        x_new = x - f / df if df > 0.0 else 0.5 * (lo + hi)
        if not (lo < x_new < hi):
            x_new = 0.5 * (lo + hi)
        if abs(x_new - x) <= 1e-14 * (abs(x_new) + w_c):
            x = x_new
            break
        x = x_new
    return s * x


def _friction_tau(w_rel, b, tau_c, w_c):  # type: ignore[no-untyped-def]
    # spelled out (not a call of friction_torque) so the analytic Jacobian can differentiate it
    return b * w_rel + tau_c * math.tanh(w_rel / w_c)


class Friction(LossyElement):
    """Viscous plus smoothed Coulomb friction between two flanges (massless).

    Equations::

        w_rel = flange_a.w - flange_b.w
        tau = b * w_rel + tau_c * tanh(w_rel / w_c)
        flange_a.tau = tau,   flange_b.tau = -tau
        P_loss = tau * w_rel >= 0
        heat.Q_flow = -P_loss                      (heat_port=True only)

    The ``tanh`` regularises the Coulomb sign function over ``|w_rel| ~ w_c`` so the right-hand side
    stays smooth; there is no stiction (a body under a torque below ``tau_c`` creeps at a speed of
    order ``w_c * atanh(tau / tau_c)``). Small ``w_c`` makes the model stiff near zero speed (slope
    ``b + tau_c / w_c``). For bearing friction to ground connect ``flange_b`` to a :class:`Fixed`.
    When the topology needs the speed from the torque (torque source on a friction with no inertia),
    the characteristic is inverted numerically (strictly increasing if ``b > 0`` or ``tau_c > 0``).

    Parameters
    ----------
    b : N*m*s/rad, >= 0
        Viscous coefficient.
    tau_c : N*m, >= 0
        Coulomb (kinetic) friction torque.
    w_c : rad/s, > 0
        Regularisation speed of the Coulomb term.

    Ports
    -----
    flange_a, flange_b : rotational
    heat : heat
        Only with ``heat_port=True``.

    Variables
    ---------
    w_rel : rad/s
    tau : N*m
        Friction torque taken in at flange_a.
    P_loss : W
    """

    parameters = (
        Parameter("b", "N*m*s/rad", 1.0e-3, "viscous friction coefficient", lower=0.0),
        Parameter("tau_c", "N*m", 0.0, "Coulomb friction torque", lower=0.0),
        Parameter("w_c", "rad/s", 1.0e-2, "Coulomb regularisation speed", lower=0.0, strict=True),
    )
    ports = _TWO_FLANGES
    variables = (
        Variable("w_rel", "rad/s", "relative speed flange_a.w - flange_b.w"),
        Variable("tau", "N*m", "friction torque taken in at flange_a"),
        Variable("P_loss", "W", "dissipated power"),
    )
    relations = (
        _W_REL,
        Relation(
            {
                "tau": _friction_tau,
                "w_rel": lambda tau, b, tau_c, w_c: friction_speed(tau, b, tau_c, w_c),
            },
            "viscous + smoothed Coulomb friction",
        ),
        _TAU_AT_A,
        _TAU_THROUGH,
        _P_LOSS_REL,
    )


@njit
def gear_factor(tau_a: float, w_a: float, eta: float, w_c: float) -> float:
    """Smoothed efficiency factor ``g = eta ** (sign(tau_a) * tanh(w_a / w_c))`` [1] of :class:`IdealGear`.

    ``copysign`` rather than a branch on ``tau_a``: the equations stay traceable, so their Jacobian
    is analytic (the sign's derivative is zero away from ``tau_a = 0``)."""
    return math.exp(math.copysign(1.0, tau_a) * math.tanh(w_a / w_c) * math.log(eta))


def _gear_tau_b(flange_a_tau, flange_a_w, ratio, eta, w_c):  # type: ignore[no-untyped-def]
    return -ratio * flange_a_tau * gear_factor(flange_a_tau, flange_a_w, eta, w_c)


def _gear_tau_a(flange_b_tau, flange_a_w, ratio, eta, w_c):  # type: ignore[no-untyped-def]
    # inverse of _gear_tau_b: sign(tau_a) = -sign(tau_b) and 1/g(tau_a) = g(-tau_a) = g(tau_b)
    return -flange_b_tau / ratio * gear_factor(flange_b_tau, flange_a_w, eta, w_c)


def _gear_loss(flange_a_tau, flange_a_w, eta, w_c):  # type: ignore[no-untyped-def]
    return flange_a_tau * flange_a_w * (1.0 - gear_factor(flange_a_tau, flange_a_w, eta, w_c))


class IdealGear(LossyElement):
    """Massless gear with a fixed ratio and an efficiency applied in the direction of power flow.

    Equations::

        flange_a.w = ratio * flange_b.w
        flange_b.tau = -ratio * g * flange_a.tau
        g = eta ** (sign(flange_a.tau) * tanh(flange_a.w / w_c))
        P_loss = flange_a.tau * flange_a.w + flange_b.tau * flange_b.w
               = flange_a.tau * flange_a.w * (1 - g)  >= 0
        heat.Q_flow = -P_loss                      (heat_port=True only)

    For ``|flange_a.w| >> w_c`` the factor is ``g = eta`` when power enters at ``flange_a``
    (``P_a = flange_a.tau * flange_a.w > 0``: a drives b, ``P_out,b = eta P_a``) and ``g = 1/eta``
    when power enters at ``flange_b`` (b drives a, ``P_out,a = eta P_b``); the loss is
    ``(1 - eta)`` times the power flowing in. The exact switch would make ``flange_b.tau`` jump when
    the speed reverses under load; the ``tanh`` blends the two over ``|w_a| ~ w_c`` through the
    lossless value ``g = 1`` at standstill, so the torque is a continuous (piecewise smooth) function
    of torque and speed. At a torque reversal the jump of ``sign(tau_a)`` is multiplied by
    ``tau_a = 0``, so no smoothing in torque is needed. There is no self-locking or stiction.

    Parameters
    ----------
    ratio : 1, > 0
        Speed ratio ``w_a / w_b`` (a reduction gear driven at a has ``ratio > 1``).
    eta : 1, in (0, 1]
        Efficiency (``eta = 1``: lossless).
    w_c : rad/s, > 0
        Speed band (at flange_a) over which the efficiency direction is blended.

    Ports
    -----
    flange_a, flange_b : rotational
    heat : heat
        Only with ``heat_port=True``.

    Variables
    ---------
    P_loss : W
        Dissipated power.
    """

    parameters = (
        Parameter("ratio", "1", 1.0, "speed ratio flange_a.w / flange_b.w", lower=0.0, strict=True),
        Parameter("eta", "1", 1.0, "efficiency", lower=0.0, upper=1.0, strict=True),
        Parameter("w_c", "rad/s", 1.0e-2, "speed band of the efficiency direction blend", lower=0.0, strict=True),
    )
    ports = _TWO_FLANGES
    variables = (Variable("P_loss", "W", "dissipated power"),)
    relations = (
        Relation(
            {
                "flange_a.w": lambda flange_b_w, ratio: ratio * flange_b_w,
                "flange_b.w": lambda flange_a_w, ratio: flange_a_w / ratio,
            },
            "kinematics flange_a.w = ratio flange_b.w",
        ),
        Relation(
            {"flange_b.tau": _gear_tau_b, "flange_a.tau": _gear_tau_a},
            "torque transmission with efficiency in the direction of power flow",
        ),
        Relation({"P_loss": _gear_loss}, "dissipated power"),
    )


class TorqueSource(Component):
    """Prescribed torque acting on the connected body (reaction to an implicit ground).

    Equations::

        flange.tau = -tau        (the body at the flange receives +tau)
        P = tau * flange.w       (mechanical power delivered)

    Inputs
    ------
    tau : N*m
        Torque applied to the driven body.

    Ports
    -----
    flange : rotational

    Variables
    ---------
    P : W
        Power delivered to the system.
    """

    inputs = (Variable("tau", "N*m", "torque applied to the driven body"),)
    ports = (Flange("flange"),)
    variables = (Variable("P", "W", "power delivered"),)
    relations = (
        Relation({"flange.tau": lambda tau: -tau}, "applied torque"),
        Relation({"P": lambda tau, flange_w: tau * flange_w}, "delivered power"),
    )


class SpeedSource(Component):
    """Prescribed angular speed (an ideal, infinitely stiff drive).

    Equations::

        flange.w = w
        P = -flange.tau * w      (mechanical power delivered)

    Inputs
    ------
    w : rad/s
        Imposed speed.

    Ports
    -----
    flange : rotational

    Variables
    ---------
    P : W
        Power delivered to the system.
    """

    inputs = (Variable("w", "rad/s", "imposed angular speed"),)
    ports = (Flange("flange"),)
    variables = (Variable("P", "W", "power delivered"),)
    relations = (
        Relation({"flange.w": lambda w: w}, "imposed speed"),
        Relation({"P": lambda flange_tau, w: -flange_tau * w}, "delivered power"),
    )


class Fixed(Component):
    """Ground flange: ``flange.w = 0``; ``flange.tau`` is the reaction torque taken by the ground.

    Ports
    -----
    flange : rotational
    """

    ports = (Flange("flange"),)
    relations = (Relation({"flange.w": lambda: 0.0}, "fixed flange"),)


__all__ = [
    "Damper",
    "Fixed",
    "Friction",
    "IdealGear",
    "Inertia",
    "SpeedSource",
    "Spring",
    "TorqueSource",
    "friction_speed",
    "friction_torque",
    "gear_factor",
]
