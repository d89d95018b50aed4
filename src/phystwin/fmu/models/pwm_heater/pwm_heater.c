/*
 * pwm_heater: a heater switched by a fixed PWM schedule, with an over-temperature cutout (FMI 2.0, ME only).
 *
 *   C dT/dt = Q_heat - G (T - T_amb),   Q_heat = P if on and not tripped, else 0
 *
 * Time events: the heater switches on at t = k period and off at t = k period + duty period (the next
 * switching time is reported as nextEventTime). Step events: after an integrator step that ends with
 * T >= T_max, fmi2CompletedIntegratorStep asks for event mode and the cutout trips (latched: the heater
 * stays off). No state-event indicator: the cutout is found only through step completion.
 *
 * Real value references (stable):
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

enum { T, DER_T, T_AMB, P, C, G, PERIOD, DUTY, T_MAX, Q_HEAT, T_SWITCH };
enum { ON, TRIPPED };

static void model_defaults(Instance *m) {
    fmi2Real *r = m->s.r;
    r[T] = 293.15;
    r[T_AMB] = 293.15;
    r[P] = 100.0;
    r[C] = 500.0;
    r[G] = 2.0;
    r[PERIOD] = 10.0;
    r[DUTY] = 0.5;
    r[T_MAX] = 400.0;
    r[T_SWITCH] = NAN; /* scheduled at the first fmi2NewDiscreteStates, from the start time */
    m->s.b[ON] = fmi2True;
    m->s.b[TRIPPED] = fmi2False;
    model_update(m);
}

static void model_update(Instance *m) {
    fmi2Real *r = m->s.r;
    r[Q_HEAT] = (m->s.b[ON] && !m->s.b[TRIPPED]) ? r[P] : 0.0;
    r[DER_T] = (r[Q_HEAT] - r[G] * (r[T] - r[T_AMB])) / r[C];
}

static void model_event_indicators(Instance *m, fmi2Real z[]) {
    (void)m;
    (void)z;
}

static int model_next_event_time(Instance *m, fmi2Real *t) {
    fmi2Real *r = m->s.r;
    if (isnan(r[T_SWITCH])) r[T_SWITCH] = m->s.time + r[DUTY] * r[PERIOD];
    *t = r[T_SWITCH];
    return 1;
}

static int model_step_event(Instance *m) { return !m->s.b[TRIPPED] && m->s.r[T] >= m->s.r[T_MAX]; }

static int model_event(Instance *m) {
    fmi2Real *r = m->s.r;
    /* the importer enters event mode at (or a rounding error past) the switching time */
    if (!isnan(r[T_SWITCH]) && m->s.time >= r[T_SWITCH] - 1e-9 * (1.0 + fabs(r[T_SWITCH]))) {
        m->s.b[ON] = !m->s.b[ON];
        r[T_SWITCH] += (m->s.b[ON] ? r[DUTY] : 1.0 - r[DUTY]) * r[PERIOD];
        pt_log(m, fmi2OK, "logEvents", "heater %s at t = %.12g", m->s.b[ON] ? "on" : "off", m->s.time);
    }
    if (!m->s.b[TRIPPED] && r[T] >= r[T_MAX]) {
        m->s.b[TRIPPED] = fmi2True;
        pt_log(m, fmi2OK, "logEvents", "cutout trips at t = %.12g, T = %.6g K", m->s.time, r[T]);
    }
    model_update(m);
    return 0; /* the continuous state is never reset */
}

static fmi2Status model_validate(Instance *m) {
    const fmi2Real *r = m->s.r;
    if (!(r[C] > 0.0) || !(r[G] >= 0.0) || !(r[P] >= 0.0)) {
        PT_ERR(m, "C = %g J/K must be > 0, G = %g W/K and P = %g W >= 0", r[C], r[G], r[P]);
        return fmi2Error;
    }
    if (!(r[PERIOD] > 0.0) || !(r[DUTY] > 0.0 && r[DUTY] < 1.0)) {
        PT_ERR(m, "period = %g s must be > 0 and duty = %g in (0, 1)", r[PERIOD], r[DUTY]);
        return fmi2Error;
    }
    return fmi2OK;
}

static fmi2Status model_fault(Instance *m, fmi2Real t, const char *fn) {
    (void)m;
    (void)t;
    (void)fn;
    return fmi2OK;
}
