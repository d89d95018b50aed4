r"""Controllers that compute actuator commands from the estimated state (plain floats, no model).

Both work on plain floats, so they are testable without a model; the live runner feeds them the
estimate of the twin (:class:`~phystwin.hil.runner.SpeedControl`) and passes their output through
the :class:`~phystwin.hil.safety.SafetyEnvelope`.

:class:`PISpeedController` -- speed loop of a motor, output in volts::

    e = w_ref - w_est                              [rad/s]
    u = kp e + ki I,   I = integral of e dt        [V],  I in [rad]
    u_applied = clip(u, u_min, min(u_max, u_limit_high))

with conditional-integration anti-windup: ``I`` advances only up to the point where the output
reaches the limit it is pushed against (it stops growing while saturated in the direction of
``e``), and the integral part ``ki I`` is kept inside the present output range (so a
limit that drops, e.g. thermal derating, does not leave a wound-up integrator behind).

:class:`ThermalDerating` limits the winding current so the *estimated* winding temperature, taken
conservatively as ``T_c = T_est + k_sigma sd``, stays below ``T_limit``::

    I_max(T_c) = I_rated                                         T_c <= T_limit - band
               = I_min + (I_rated - I_min) (T_limit - T_c) / band   in between
               = I_min                                           T_c >= T_limit
    V_max = R(T_r) I_max + k_e w,    R(T) = R_20 (1 + alpha (T - 293.15 K))

with ``R_20`` the armature resistance at 20 degC [Ohm], ``alpha`` its temperature coefficient
[1/K], ``k_e`` the back-EMF constant [V s/rad] and ``w`` the speed [rad/s].

Parameters of the ``dc_motor`` reference twin (:mod:`phystwin.physics.twins.dc_motor`):
``armature_R.R_ref = 0.5`` Ohm at ``armature_R.T_ref = 293.15`` K (so ``R_20 = 0.5`` Ohm),
``armature_R.alpha = 3.93e-3`` 1/K, ``emf.k = 0.05`` V s/rad (= N m/A), ``rotor.J = 1e-4`` kg m^2,
``armature_L.L = 5e-3`` H. Its speed responds to the voltage, with ``L`` and friction neglected, as
``dw/dt = k/(R J) V - k^2/(R J) w``: a pole at ``k^2/(R J) = 50`` 1/s and a gain of
``k/(R J) = 1000`` rad/s^2 per volt (20 rad/s per volt at steady state).
:meth:`PISpeedController.for_dc_motor` and :meth:`ThermalDerating.for_dc_motor` use these values.
"""

from __future__ import annotations

import math

from phystwin.errors import InvalidValueError

__all__ = ["DC_MOTOR", "T_20C", "PISpeedController", "ThermalDerating"]

T_20C = 293.15
"""Reference temperature of ``R_20`` [K] (20 degC)."""

DC_MOTOR = {"R_20": 0.5, "alpha": 3.93e-3, "k_e": 0.05, "J": 1.0e-4}
"""Nominal parameters of the ``dc_motor`` twin: ``R_20`` [Ohm], ``alpha`` [1/K], ``k_e`` [V s/rad], ``J`` [kg m^2]."""


def _finite(what: str, v: float) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{what} must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise InvalidValueError(f"{what} must be finite, got {v!r}")
    return x


class PISpeedController:
    r"""PI speed controller with anti-windup.

    .. math::

        e = \omega_{ref} - \hat\omega, \qquad
        u = k_p e + k_i \int e\,dt, \qquad
        u_{out} = \min(\max(u, u_{min}), u_{hi}), \quad u_{hi} = \min(u_{max}, u_{limit})

    Anti-windup (``anti_windup=True``, conditional integration): the integral :math:`I = \int e\,dt`
    [rad] advances only up to the value at which the output reaches :math:`u_{hi}` (for :math:`e > 0`)
    or :math:`u_{min}` (for :math:`e < 0`) and holds beyond; :math:`k_i I` is further clamped to
    :math:`[u_{min}, u_{hi}]` so a falling :math:`u_{hi}` leaves no wound-up integral behind.

    Parameters
    ----------
    kp : float
        Proportional gain [V/(rad/s)], >= 0.
    ki : float
        Integral gain [V/rad], >= 0.
    u_min, u_max : float
        Output range [V], ``u_min < u_max``.
    anti_windup : bool
        False gives the plain (winding-up) PI, for comparison.

    Attributes
    ----------
    integral : float
        :math:`I` [rad].
    saturated : bool
        Whether the last output was clipped.
    """

    def __init__(self, kp: float, ki: float, u_min: float, u_max: float, *, anti_windup: bool = True) -> None:
        self.kp = _finite("PISpeedController: kp", kp)
        self.ki = _finite("PISpeedController: ki", ki)
        if self.kp < 0 or self.ki < 0:
            raise InvalidValueError(f"PISpeedController: kp and ki must be >= 0, got kp={kp!r} ki={ki!r}")
        self.u_min = _finite("PISpeedController: u_min", u_min)
        self.u_max = _finite("PISpeedController: u_max", u_max)
        if not self.u_min < self.u_max:
            raise InvalidValueError(
                f"PISpeedController: u_min must be < u_max, got u_min={u_min!r} V u_max={u_max!r} V"
            )
        self.anti_windup = bool(anti_windup)
        self.integral = 0.0
        self.saturated = False
        self._t: float | None = None

    @classmethod
    def for_dc_motor(cls, bandwidth: float = 100.0, u_min: float = 0.0, u_max: float = 24.0) -> PISpeedController:
        r"""Gains for the nominal ``dc_motor`` twin by pole cancellation.

        With the plant :math:`\omega/V = b/(s + a)`, :math:`b = k/(R J)`, :math:`a = k^2/(R J)`,
        the choice :math:`k_p = \omega_c / b`, :math:`k_i = a k_p` gives the closed loop
        :math:`\omega_c/(s + \omega_c)` of bandwidth ``bandwidth`` [rad/s]
        (100 rad/s: ``kp = 0.1`` V s/rad, ``ki = 5`` V/rad).
        """
        R, k, J = DC_MOTOR["R_20"], DC_MOTOR["k_e"], DC_MOTOR["J"]
        b, a = k / (R * J), k * k / (R * J)
        kp = float(bandwidth) / b
        return cls(kp, a * kp, u_min, u_max)

    def reset(self) -> None:
        """Clear the integral and the time reference (the next call has ``dt = 0``)."""
        self.integral = 0.0
        self.saturated = False
        self._t = None

    def update(self, t: float, w_ref: float, w_est: float, u_limit_high: float | None = None) -> float:
        """The command [V] at twin time ``t`` [s].

        Parameters
        ----------
        t : float
            Twin time [s]; ``dt`` is the time since the previous call (0 on the first call and when
            ``t`` does not advance).
        w_ref, w_est : float
            Speed set-point and estimated speed [rad/s].
        u_limit_high : float, optional
            An extra upper limit [V] (e.g. :meth:`ThermalDerating.voltage_limit`); it cannot push the
            range below ``u_min``; NaN counts as ``u_min``.

        Returns
        -------
        float
            The command [V] in ``[u_min, min(u_max, u_limit_high)]``; NaN (state untouched) when
            ``w_ref`` or ``w_est`` is not finite -- the safety envelope refuses it.
        """
        e = float(w_ref) - float(w_est)
        if not math.isfinite(e):
            return math.nan
        t = float(t)
        dt = 0.0 if self._t is None else max(t - self._t, 0.0)
        self._t = max(t, self._t) if self._t is not None else t
        high = self.u_max
        if u_limit_high is not None:
            lim = float(u_limit_high)
            high = self.u_min if math.isnan(lim) else max(min(self.u_max, lim), self.u_min)
        low = self.u_min
        integral = self.integral + e * dt
        if self.anti_windup and self.ki > 0:
            # conditional integration: advance the integral at most up to where the output reaches
            # the limit it is pushed against (never beyond, never backwards because of it)
            if e > 0 and self.kp * e + self.ki * integral > high:
                integral = min(integral, max(self.integral, (high - self.kp * e) / self.ki))
            elif e < 0 and self.kp * e + self.ki * integral < low:
                integral = max(integral, min(self.integral, (low - self.kp * e) / self.ki))
            integral = min(max(integral, low / self.ki), high / self.ki)
        self.integral = integral
        u = self.kp * e + self.ki * integral
        out = min(max(u, low), high)
        self.saturated = out != u
        return out


class ThermalDerating:
    r"""Current and voltage limits that keep the estimated winding temperature below ``T_limit``.

    Conservative temperature :math:`T_c = \hat T_w + k_\sigma \sigma_T` [K]; current limit [A]

    .. math::

        I_{max} = I_{min} + (I_{rated} - I_{min})\,
                  \operatorname{clip}\!\left(\frac{T_{limit} - T_c}{\Delta T_{band}}, 0, 1\right)

    i.e. :math:`I_{rated}` up to :math:`T_{limit} - \Delta T_{band}`, linear down to :math:`I_{min}`
    at :math:`T_{limit}` and beyond. Voltage limit [V] that drives at most :math:`I_{max}` at speed
    :math:`\omega` (steady state, inductance neglected)

    .. math::

        V_{max} = R(T_r)\,I_{max} + k_e \omega, \qquad R(T) = R_{20}\,(1 + \alpha (T - 293.15\,K))

    evaluated at the *lower* temperature bound :math:`T_r = \hat T_w - k_\sigma \sigma_T`: the lowest
    plausible resistance, so the true current :math:`(V_{max} - k_e\omega)/R_{true} \le I_{max}`
    whenever the true temperature is within :math:`k_\sigma` standard deviations.

    Parameters
    ----------
    T_limit : float
        Winding temperature limit [K].
    band : float
        Width [K] of the derating ramp below ``T_limit``, > 0.
    I_rated, I_min : float
        Current limit [A] far below and at ``T_limit``, ``0 <= I_min <= I_rated``.
    R_20 : float
        Armature resistance at 293.15 K [Ohm], > 0 (``dc_motor``: 0.5).
    alpha : float
        Temperature coefficient of the resistance [1/K] (``dc_motor``: 3.93e-3).
    k_e : float
        Back-EMF constant [V s/rad] (``dc_motor``: ``emf.k`` = 0.05).
    k_sigma : float
        Standard deviations of margin on the estimated temperature, >= 0.

    Notes
    -----
    A non-finite temperature or standard deviation (no usable estimate) gives ``I_min`` and
    :math:`R_{20}`; a negative standard deviation is an error.
    """

    def __init__(
        self,
        T_limit: float,
        band: float,
        I_rated: float,
        I_min: float,
        R_20: float,
        alpha: float,
        k_e: float,
        k_sigma: float = 2.0,
    ) -> None:
        self.T_limit = _finite("ThermalDerating: T_limit [K]", T_limit)
        self.band = _finite("ThermalDerating: band [K]", band)
        self.I_rated = _finite("ThermalDerating: I_rated [A]", I_rated)
        self.I_min = _finite("ThermalDerating: I_min [A]", I_min)
        self.R_20 = _finite("ThermalDerating: R_20 [Ohm]", R_20)
        self.alpha = _finite("ThermalDerating: alpha [1/K]", alpha)
        self.k_e = _finite("ThermalDerating: k_e [V s/rad]", k_e)
        self.k_sigma = _finite("ThermalDerating: k_sigma", k_sigma)
        if self.T_limit <= 0:
            raise InvalidValueError(f"ThermalDerating: T_limit must be > 0 K (absolute), got {T_limit!r}")
        if self.band <= 0:
            raise InvalidValueError(f"ThermalDerating: band must be > 0 K, got {band!r}")
        if not 0 <= self.I_min <= self.I_rated:
            raise InvalidValueError(
                f"ThermalDerating: need 0 <= I_min <= I_rated, got I_min={I_min!r} A I_rated={I_rated!r} A"
            )
        if self.R_20 <= 0:
            raise InvalidValueError(f"ThermalDerating: R_20 must be > 0 Ohm, got {R_20!r}")
        if self.k_sigma < 0:
            raise InvalidValueError(f"ThermalDerating: k_sigma must be >= 0, got {k_sigma!r}")

    @classmethod
    def for_dc_motor(
        cls, T_limit: float = 393.15, band: float = 20.0, I_rated: float = 8.0, I_min: float = 1.0, k_sigma: float = 2.0
    ) -> ThermalDerating:
        """Derating of the nominal ``dc_motor`` twin (~200 W, 24 V: rated ~8 A; limit 120 degC)."""
        return cls(T_limit, band, I_rated, I_min, DC_MOTOR["R_20"], DC_MOTOR["alpha"], DC_MOTOR["k_e"], k_sigma)

    def resistance(self, T: float) -> float:
        """:math:`R(T) = R_{20} (1 + \\alpha (T - 293.15))` [Ohm] at ``T`` [K], never below 0."""
        return max(self.R_20 * (1.0 + self.alpha * (T - T_20C)), 0.0)

    def _sd(self, T_w_sd: float) -> float:
        sd = float(T_w_sd)
        if sd < 0:
            raise InvalidValueError(
                f"ThermalDerating: the temperature standard deviation must be >= 0 K, got {T_w_sd!r}"
            )
        return sd

    def current_limit(self, T_w: float, T_w_sd: float) -> float:
        """:math:`I_{max}` [A] for the estimate ``T_w`` [K] with standard deviation ``T_w_sd`` [K]."""
        T_c = float(T_w) + self.k_sigma * self._sd(T_w_sd)
        if not math.isfinite(T_c):
            return self.I_min
        frac = min(max((self.T_limit - T_c) / self.band, 0.0), 1.0)
        return self.I_min + (self.I_rated - self.I_min) * frac

    def voltage_limit(self, T_w: float, T_w_sd: float, w: float) -> float:
        """:math:`V_{max}` [V] that drives at most :math:`I_{max}` at the speed ``w`` [rad/s]."""
        I_max = self.current_limit(T_w, T_w_sd)
        T_r = float(T_w) - self.k_sigma * self._sd(T_w_sd)
        R = self.resistance(T_r) if math.isfinite(T_r) else self.R_20
        return R * I_max + self.k_e * float(w)
