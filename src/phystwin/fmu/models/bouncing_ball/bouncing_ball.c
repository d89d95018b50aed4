/*
 * bouncing_ball: ball under gravity bouncing on the ground with restitution e (FMI 2.0, ME + CS).
 * Equations in bouncing_ball_equations.h (shared with the FMI 3.0 variant, bouncing_ball_fmi3.c):
 *
 *   dh/dt = v, dv/dt = -g   (both 0 once the ball rests)
 *   event indicator z = h (1 once resting); at impact v := -e v, h := 0.
 *   When the rebound speed falls below v_min the ball is put to rest (h = v = 0, resting = true) instead of
 *   bouncing ever faster towards the Zeno point.
 *
 * Real value references (stable; the FMI 3.0 variant uses the same numbers + 1, VR 0 being time):
 *   0 h        output, state       [m]      height (start 1)
 *   1 der(h)                       [m/s]
 *   2 v        output, state       [m/s]    velocity, up positive (start 0)
 *   3 der(v)                       [m/s2]
 *   4 g        fixed parameter     [m/s2]   (9.81)
 *   5 e        fixed parameter     [1]      coefficient of restitution (0.8)
 *   6 v_min    fixed parameter     [m/s]    rebound speed below which the ball rests (0.05)
 * Boolean value references:
 *   0 resting  output (discrete)            true once the ball has come to rest
 */
#define N_REALS 7
#define N_INTEGERS 0
#define N_BOOLEANS 1
#define N_STATES 2
#define N_EVENT_INDICATORS 1
#define STATE_VRS {0, 2}
#define DERIVATIVE_VRS {1, 3}
#define REAL_KINDS "xcxcppp"
#define INTEGER_KINDS ""
#define CS_MAX_STEP 1e-3

#include "fmi2_template.h"
#include "bouncing_ball_equations.h"

enum { RESTING };

static void model_defaults(Instance *m) {
    bouncing_ball_defaults(m->s.r);
    m->s.b[RESTING] = fmi2False;
}

static void model_update(Instance *m) {
    bouncing_ball_update(m->s.r, m->s.b[RESTING]);
}

static void model_event_indicators(Instance *m, fmi2Real z[]) {
    z[0] = bouncing_ball_indicator(m->s.r, m->s.b[RESTING]);
}

static int model_event(Instance *m) {
    int impact = bouncing_ball_impact(m->s.r, m->s.b[RESTING]);
    if (impact == BB_NO_IMPACT) return 0;
    if (impact == BB_REST) {
        m->s.b[RESTING] = fmi2True;
        pt_log(m, fmi2OK, "logEvents", "ball comes to rest at t = %.12g", m->s.time);
    }
    model_update(m);
    return 1;
}

static fmi2Status model_validate(Instance *m) {
    char msg[128];
    if (bouncing_ball_check(m->s.r, msg, sizeof(msg))) {
        PT_ERR(m, "%s", msg);
        return fmi2Error;
    }
    return fmi2OK;
}
