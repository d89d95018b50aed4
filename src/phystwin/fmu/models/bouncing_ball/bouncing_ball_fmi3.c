/*
 * bouncing_ball, FMI 3.0 variant (ME + CS); same equations as bouncing_ball.c (see bouncing_ball_equations.h).
 * The state event comes from the event indicator z = h: model exchange importers locate its crossing, the
 * co-simulation interface locates it inside fmi3DoStep.
 *
 * Float64 value references (stable; FMI 2.0 value reference + 1):
 *   0 time     independent         [s]
 *   1 h        output, state       [m]      height (start 1)
 *   2 der(h)                       [m/s]
 *   3 v        output, state       [m/s]    velocity, up positive (start 0)
 *   4 der(v)                       [m/s2]
 *   5 g        fixed parameter     [m/s2]   (9.81)
 *   6 e        fixed parameter     [1]      coefficient of restitution (0.8)
 *   7 v_min    fixed parameter     [m/s]    rebound speed below which the ball rests (0.05)
 * Boolean value references (after the Float64 ones):
 *   8 resting  output (discrete)            true once the ball has come to rest
 */
#define N_FLOAT64 8
#define N_BOOLEANS 1
#define N_STATES 2
#define N_EVENT_INDICATORS 1
#define STATE_VRS {1, 3}
#define DERIVATIVE_VRS {2, 4}
#define FLOAT64_KINDS "Txcxcppp"
#define CS_MAX_STEP 1e-3

#include "fmi3_template.h"
#include "bouncing_ball_equations.h"

enum { RESTING };

/* the equations index by FMI 2.0 value reference, which is the FMI 3.0 one minus the leading time */
static void model_defaults(Instance *m) {
    bouncing_ball_defaults(m->s.r + 1);
    m->s.b[RESTING] = false;
}

static void model_update(Instance *m) {
    bouncing_ball_update(m->s.r + 1, m->s.b[RESTING]);
}

static void model_event_indicators(Instance *m, fmi3Float64 z[]) {
    z[0] = bouncing_ball_indicator(m->s.r + 1, m->s.b[RESTING]);
}

static int model_event(Instance *m) {
    int impact = bouncing_ball_impact(m->s.r + 1, m->s.b[RESTING]);
    if (impact == BB_NO_IMPACT) return 0;
    if (impact == BB_REST) {
        m->s.b[RESTING] = true;
        pt_log(m, fmi3OK, "logEvents", "ball comes to rest at t = %.12g", m->s.r[0]);
    }
    model_update(m);
    return 1;
}

static fmi3Status model_validate(Instance *m) {
    char msg[128];
    if (bouncing_ball_check(m->s.r + 1, msg, sizeof(msg))) {
        PT_ERR(m, "%s", msg);
        return fmi3Error;
    }
    return fmi3OK;
}
