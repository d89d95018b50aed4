/*
 * pwm_heater, FMI 3.0 variant (ME only); same equations as pwm_heater.c (see pwm_heater_equations.h).
 *
 * Time events: the next switching time is reported as nextEventTime by fmi3UpdateDiscreteStates. Step
 * events: after an integrator step that ends with T >= T_max, fmi3CompletedIntegratorStep asks for event
 * mode (the model description declares needsCompletedIntegratorStep) and the cutout trips, latched.
 *
 * Float64 value references (stable; FMI 2.0 value reference + 1):
 *   0 time      independent          [s]
 *   1 T         state                [K]    heater temperature (start 293.15, declared max 423.15)
 *   2 der(T)                         [K/s]
 *   3 T_amb     input                [K]    ambient temperature (start 293.15)
 *   4 P         fixed parameter      [W]    heating power when on (100)
 *   5 C         fixed parameter      [J/K]  heat capacity (500)
 *   6 G         fixed parameter      [W/K]  conductance to ambient (2)
 *   7 period    fixed parameter      [s]    PWM period (10)
 *   8 duty      fixed parameter      [1]    on fraction of the period, 0 < duty < 1 (0.5)
 *   9 T_max     fixed parameter      [K]    cutout temperature (400)
 *  10 Q_heat    output               [W]    heating power
 *  11 t_switch  local                [s]    next switching time
 * Boolean value references (after the Float64 ones):
 *  12 on        output (discrete)           PWM state
 *  13 tripped   output (discrete)           cutout latched
 */
#define N_FLOAT64 12
#define N_BOOLEANS 2
#define N_STATES 1
#define N_EVENT_INDICATORS 0
#define STATE_VRS {1}
#define DERIVATIVE_VRS {2}
#define FLOAT64_KINDS "Txcippppppcc"
#define CS_MAX_STEP 1e-3
#define MODEL_TIME_EVENTS
#define MODEL_STEP_EVENTS

#include "fmi3_template.h"
#include "pwm_heater_equations.h"

enum { ON, TRIPPED };

/* the equations index by FMI 2.0 value reference, which is the FMI 3.0 one minus the leading time */
static void model_defaults(Instance *m) {
    pwm_heater_defaults(m->s.r + 1);
    m->s.b[ON] = true;
    m->s.b[TRIPPED] = false;
}

static void model_update(Instance *m) {
    pwm_heater_update(m->s.r + 1, m->s.b[ON], m->s.b[TRIPPED]);
}

static int model_next_event_time(Instance *m, fmi3Float64 *t) {
    *t = pwm_heater_next_switch(m->s.r + 1, m->s.r[0]);
    return 1;
}

static int model_step_event(Instance *m) { return !m->s.b[TRIPPED] && pwm_heater_over_temperature(m->s.r + 1); }

static int model_event(Instance *m) {
    fmi3Float64 t = m->s.r[0];
    if (pwm_heater_switch_due(m->s.r + 1, t, m->s.b[ON])) {
        m->s.b[ON] = !m->s.b[ON];
        pt_log(m, fmi3OK, "logEvents", "heater %s at t = %.12g", m->s.b[ON] ? "on" : "off", t);
    }
    if (!m->s.b[TRIPPED] && pwm_heater_over_temperature(m->s.r + 1)) {
        m->s.b[TRIPPED] = true;
        pt_log(m, fmi3OK, "logEvents", "cutout trips at t = %.12g, T = %.6g K", t, m->s.r[1 + PWM_T]);
    }
    model_update(m);
    return 0; /* the continuous state is never reset */
}

static fmi3Status model_validate(Instance *m) {
    char msg[160];
    if (pwm_heater_check(m->s.r + 1, msg, sizeof(msg))) {
        PT_ERR(m, "%s", msg);
        return fmi3Error;
    }
    return fmi3OK;
}
