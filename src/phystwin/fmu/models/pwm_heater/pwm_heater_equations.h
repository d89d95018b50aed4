/*
 * pwm_heater equations shared by the FMI 2.0 and FMI 3.0 builds; r[] is indexed by the FMI 2.0 value
 * reference (the FMI 3.0 variant passes its Float64 array from value reference 1, after time).
 *
 *   C dT/dt = Q_heat - G (T - T_amb),   Q_heat = P if on and not tripped, else 0
 *
 * The heater switches on at t = k period and off at t = k period + duty period; t_switch holds the next
 * switching time (NaN until the first event iteration schedules it from the start time).
 */
#ifndef PWM_HEATER_EQUATIONS_H
#define PWM_HEATER_EQUATIONS_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

enum { PWM_T, PWM_DER_T, PWM_T_AMB, PWM_P, PWM_C, PWM_G, PWM_PERIOD, PWM_DUTY, PWM_T_MAX, PWM_Q_HEAT,
       PWM_T_SWITCH, PWM_N };

static void pwm_heater_update(double *r, int on, int tripped) {
    r[PWM_Q_HEAT] = (on && !tripped) ? r[PWM_P] : 0.0;
    r[PWM_DER_T] = (r[PWM_Q_HEAT] - r[PWM_G] * (r[PWM_T] - r[PWM_T_AMB])) / r[PWM_C];
}

/* defaults with the heater on and the cutout not tripped */
static void pwm_heater_defaults(double *r) {
    r[PWM_T] = 293.15;
    r[PWM_T_AMB] = 293.15;
    r[PWM_P] = 100.0;
    r[PWM_C] = 500.0;
    r[PWM_G] = 2.0;
    r[PWM_PERIOD] = 10.0;
    r[PWM_DUTY] = 0.5;
    r[PWM_T_MAX] = 400.0;
    r[PWM_T_SWITCH] = NAN;
    pwm_heater_update(r, 1, 0);
}

/* the next switching time [s], scheduled from time t [s] (the first event iteration) if none is yet */
static double pwm_heater_next_switch(double *r, double t) {
    if (isnan(r[PWM_T_SWITCH])) r[PWM_T_SWITCH] = t + r[PWM_DUTY] * r[PWM_PERIOD];
    return r[PWM_T_SWITCH];
}

/* at time t [s]: 1 and the following switching time scheduled when a switching is due (the importer enters
   event mode at, or a rounding error past, the switching time); `on` is the state before the switching */
static int pwm_heater_switch_due(double *r, double t, int on) {
    if (isnan(r[PWM_T_SWITCH]) || t < r[PWM_T_SWITCH] - 1e-9 * (1.0 + fabs(r[PWM_T_SWITCH]))) return 0;
    r[PWM_T_SWITCH] += (on ? 1.0 - r[PWM_DUTY] : r[PWM_DUTY]) * r[PWM_PERIOD];
    return 1;
}

/* the cutout condition, checked at the end of every integrator step and in every event iteration */
static int pwm_heater_over_temperature(const double *r) { return r[PWM_T] >= r[PWM_T_MAX]; }

/* 0 when the parameters are physical, else 1 with a message for the logger in msg */
static int pwm_heater_check(const double *r, char *msg, size_t n) {
    if (!(r[PWM_C] > 0.0) || !(r[PWM_G] >= 0.0) || !(r[PWM_P] >= 0.0)) {
        snprintf(msg, n, "C = %g J/K must be > 0, G = %g W/K and P = %g W >= 0", r[PWM_C], r[PWM_G], r[PWM_P]);
        return 1;
    }
    if (!(r[PWM_PERIOD] > 0.0) || !(r[PWM_DUTY] > 0.0 && r[PWM_DUTY] < 1.0)) {
        snprintf(msg, n, "period = %g s must be > 0 and duty = %g in (0, 1)", r[PWM_PERIOD], r[PWM_DUTY]);
        return 1;
    }
    return 0;
}

#endif
