/*
 * pwm_heater: a heater switched by a fixed PWM schedule, with an over-temperature cutout (FMI 2.0, ME only).
 * Equations in pwm_heater_equations.h (shared with the FMI 3.0 variant, pwm_heater_fmi3.c):
 *
 *   C dT/dt = Q_heat - G (T - T_amb),   Q_heat = P if on and not tripped, else 0
 *
 * Time events: the heater switches on at t = k period and off at t = k period + duty period (the next
 * switching time is reported as nextEventTime). Step events: after an integrator step that ends with
 * T >= T_max, fmi2CompletedIntegratorStep asks for event mode and the cutout trips (latched: the heater
 * stays off). No state-event indicator: the cutout is found only through step completion.
 *
 * Real value references (stable; the FMI 3.0 variant uses the same numbers + 1, VR 0 being time):
 *   0 T         state                [K]    heater temperature (start 293.15, declared max 423.15)
 *   1 der(T)                         [K/s]
 *   2 T_amb     input                [K]    ambient temperature (start 293.15)
 *   3 P         fixed parameter      [W]    heating power when on (100)
 *   4 C         fixed parameter      [J/K]  heat capacity (500)
 *   5 G         fixed parameter      [W/K]  conductance to ambient (2)
 *   6 period    fixed parameter      [s]    PWM period (10)
 *   7 duty      fixed parameter      [1]    on fraction of the period, 0 < duty < 1 (0.5)
 *   8 T_max     fixed parameter      [K]    cutout temperature (400)
 *   9 Q_heat    output               [W]    heating power
 *  10 t_switch  local                [s]    next switching time
 * Boolean value references:
 *   0 on        output (discrete)           PWM state
 *   1 tripped   output (discrete)           cutout latched
 */
#define N_REALS 11
#define N_INTEGERS 0
#define N_BOOLEANS 2
#define N_STATES 1
#define N_EVENT_INDICATORS 0
#define STATE_VRS {0}
#define DERIVATIVE_VRS {1}
#define REAL_KINDS "xcippppppcc"
#define INTEGER_KINDS ""
#define CS_MAX_STEP 1e-3
#define MODEL_TIME_EVENTS
#define MODEL_STEP_EVENTS

#include "fmi2_template.h"
#include "pwm_heater_equations.h"

enum { ON, TRIPPED };

static void model_defaults(Instance *m) {
    pwm_heater_defaults(m->s.r);
    m->s.b[ON] = fmi2True;
    m->s.b[TRIPPED] = fmi2False;
}

static void model_update(Instance *m) {
    pwm_heater_update(m->s.r, m->s.b[ON], m->s.b[TRIPPED]);
}

static int model_next_event_time(Instance *m, fmi2Real *t) {
    *t = pwm_heater_next_switch(m->s.r, m->s.time);
    return 1;
}

static int model_step_event(Instance *m) { return !m->s.b[TRIPPED] && pwm_heater_over_temperature(m->s.r); }

static int model_event(Instance *m) {
    if (pwm_heater_switch_due(m->s.r, m->s.time, m->s.b[ON])) {
        m->s.b[ON] = !m->s.b[ON];
        pt_log(m, fmi2OK, "logEvents", "heater %s at t = %.12g", m->s.b[ON] ? "on" : "off", m->s.time);
    }
    if (!m->s.b[TRIPPED] && pwm_heater_over_temperature(m->s.r)) {
        m->s.b[TRIPPED] = fmi2True;
        pt_log(m, fmi2OK, "logEvents", "cutout trips at t = %.12g, T = %.6g K", m->s.time, m->s.r[PWM_T]);
    }
    model_update(m);
    return 0; /* the continuous state is never reset */
}

static fmi2Status model_validate(Instance *m) {
    char msg[160];
    if (pwm_heater_check(m->s.r, msg, sizeof(msg))) {
        PT_ERR(m, "%s", msg);
        return fmi2Error;
    }
    return fmi2OK;
}
