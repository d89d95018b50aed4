/*
 * bouncing_ball: ball under gravity bouncing on the ground with restitution e (FMI 2.0, ME + CS).
 *
 *   dh/dt = v, dv/dt = -g   (both 0 once the ball rests)
 *   event indicator z = h (1 once resting); at impact v := -e v, h := 0.
 *   When the rebound speed falls below v_min the ball is put to rest (h = v = 0, resting = true) instead of
 *   bouncing ever faster towards the Zeno point.
 *
 * Real value references (stable):
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

enum { H, DER_H, V, DER_V, G, E, V_MIN };
enum { RESTING };

/* ME solvers locate the root to their own tolerance and may stop a hair above the ground */
#define IMPACT_TOL 1e-9

static void model_defaults(Instance *m) {
    fmi2Real *r = m->s.r;
    r[H] = 1.0;
    r[V] = 0.0;
    r[G] = 9.81;
    r[E] = 0.8;
    r[V_MIN] = 0.05;
    m->s.b[RESTING] = fmi2False;
    model_update(m);
}

static void model_update(Instance *m) {
    fmi2Real *r = m->s.r;
    if (m->s.b[RESTING]) {
        r[DER_H] = 0.0;
        r[DER_V] = 0.0;
    } else {
        r[DER_H] = r[V];
        r[DER_V] = -r[G];
    }
}

static void model_event_indicators(Instance *m, fmi2Real z[]) {
    z[0] = m->s.b[RESTING] ? 1.0 : m->s.r[H];
}

static int model_event(Instance *m) {
    fmi2Real *r = m->s.r;
    if (m->s.b[RESTING] || !(r[H] <= IMPACT_TOL && r[V] < 0.0)) return 0;
    r[H] = 0.0;
    r[V] = -r[E] * r[V];
    if (r[V] < r[V_MIN]) {
        r[V] = 0.0;
        m->s.b[RESTING] = fmi2True;
        pt_log(m, fmi2OK, "logEvents", "ball comes to rest at t = %.12g", m->s.time);
    }
    model_update(m);
    return 1;
}

static fmi2Status model_validate(Instance *m) {
    const fmi2Real *r = m->s.r;
    if (!(r[G] > 0.0)) {
        PT_ERR(m, "g = %g m/s2 must be > 0", r[G]);
        return fmi2Error;
    }
    if (!(r[E] >= 0.0 && r[E] < 1.0)) {
        PT_ERR(m, "restitution e = %g must be in [0, 1)", r[E]);
        return fmi2Error;
    }
    if (!(r[V_MIN] > 0.0)) {
        PT_ERR(m, "v_min = %g m/s must be > 0", r[V_MIN]);
        return fmi2Error;
    }
    if (!(r[H] >= 0.0)) {
        PT_ERR(m, "start height h = %g m must be >= 0", r[H]);
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
