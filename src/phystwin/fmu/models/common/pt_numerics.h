/*
 * Version-independent numerics shared by fmi2_template.h and fmi3_template.h: continuous states in and out
 * of the variable array, derivatives and event indicators at a point, one classical RK4 step, crossing
 * detection and the co-simulation integrator that locates state events inside a communication step.
 *
 * The including template defines, before including this header:
 *   pt_real              the FMI floating-point type (fmi2Real / fmi3Float64)
 *   PT_TIME(m)           the lvalue holding the current time [s] of instance m
 *   PT_LOG_OK            the OK status passed to pt_log (fmi2OK / fmi3OK)
 *   PT_ALLOC(n)          array length for n elements (at least 1: zero-length arrays are not C99)
 *   Instance             with ModelState s holding the Float64 / Real variables in s.r[]
 *   pt_state_vrs, pt_derivative_vrs   value references of the states and their derivatives in s.r[]
 *   pt_log(m, status, category, fmt, ...), and the model hooks model_update, model_event_indicators and
 *   model_event (declared; the model file implements them)
 * and the model file defines N_STATES, N_EVENT_INDICATORS and CS_MAX_STEP [s].
 */
#ifndef PHYSTWIN_PT_NUMERICS_H
#define PHYSTWIN_PT_NUMERICS_H

#include <math.h>
#include <string.h>

static void pt_get_states(const Instance *m, pt_real x[]) {
    int k;
    for (k = 0; k < N_STATES; k++) x[k] = m->s.r[pt_state_vrs[k]];
}

static void pt_set_states(Instance *m, const pt_real x[]) {
    int k;
    for (k = 0; k < N_STATES; k++) m->s.r[pt_state_vrs[k]] = x[k];
}

static void pt_derivatives_at(Instance *m, pt_real t, const pt_real x[], pt_real dx[]) {
    int k;
    PT_TIME(m) = t;
    pt_set_states(m, x);
    model_update(m);
    for (k = 0; k < N_STATES; k++) dx[k] = m->s.r[pt_derivative_vrs[k]];
}

/* one classical RK4 step from (t, x0) of length dt into x1; inputs are held (zero-order hold) */
static void pt_rk4(Instance *m, pt_real t, const pt_real x0[], pt_real dt, pt_real x1[]) {
    pt_real k1[PT_ALLOC(N_STATES)], k2[PT_ALLOC(N_STATES)], k3[PT_ALLOC(N_STATES)], k4[PT_ALLOC(N_STATES)];
    pt_real xt[PT_ALLOC(N_STATES)];
    int k;
    pt_derivatives_at(m, t, x0, k1);
    for (k = 0; k < N_STATES; k++) xt[k] = x0[k] + 0.5 * dt * k1[k];
    pt_derivatives_at(m, t + 0.5 * dt, xt, k2);
    for (k = 0; k < N_STATES; k++) xt[k] = x0[k] + 0.5 * dt * k2[k];
    pt_derivatives_at(m, t + 0.5 * dt, xt, k3);
    for (k = 0; k < N_STATES; k++) xt[k] = x0[k] + dt * k3[k];
    pt_derivatives_at(m, t + dt, xt, k4);
    for (k = 0; k < N_STATES; k++) x1[k] = x0[k] + dt / 6.0 * (k1[k] + 2.0 * k2[k] + 2.0 * k3[k] + k4[k]);
}

static void pt_indicators_at(Instance *m, pt_real t, const pt_real x[], pt_real z[]) {
    PT_TIME(m) = t;
    pt_set_states(m, x);
    model_update(m);
    model_event_indicators(m, z);
}

/* a crossing starts strictly on one side, so an indicator resting exactly on zero after an event is no new event */
static int pt_crossed(const pt_real z0[], const pt_real z1[]) {
    int k;
    for (k = 0; k < N_EVENT_INDICATORS; k++) {
        if ((z0[k] > 0.0 && z1[k] <= 0.0) || (z0[k] < 0.0 && z1[k] >= 0.0)) return 1;
    }
    return 0;
}

/* integrate [t, t + h] with fixed RK4 sub-steps, locating state events by bisection on the step length */
static void pt_integrate(Instance *m, pt_real t, pt_real h) {
    pt_real x0[PT_ALLOC(N_STATES)], x1[PT_ALLOC(N_STATES)];
    pt_real z0[PT_ALLOC(N_EVENT_INDICATORS)], z1[PT_ALLOC(N_EVENT_INDICATORS)];
    long n = (long)ceil(h / CS_MAX_STEP - 1e-9);
    pt_real t_end = t + h, dt;
    long i;
    int guard;
    if (n < 1) n = 1;
    dt = h / (pt_real)n;
    pt_get_states(m, x0);
    for (i = 0; i < n; i++) {
        pt_real ts = t + (pt_real)i * dt;
        pt_real te = (i == n - 1) ? t_end : ts + dt;
        /* several events inside one sub-step are possible; the guard stops a pathological model looping forever */
        for (guard = 0; guard < 1000 && ts < te; guard++) {
            pt_real len = te - ts;
            pt_rk4(m, ts, x0, len, x1);
            if (N_EVENT_INDICATORS > 0) {
                pt_indicators_at(m, ts, x0, z0);
                pt_indicators_at(m, te, x1, z1);
                if (pt_crossed(z0, z1)) {
                    pt_real lo = 0.0, hi = len;
                    pt_real zm[PT_ALLOC(N_EVENT_INDICATORS)];
                    int it;
                    for (it = 0; it < 100 && hi - lo > 1e-14 * (1.0 + fabs(ts)); it++) {
                        pt_real mid = 0.5 * (lo + hi);
                        pt_rk4(m, ts, x0, mid, x1);
                        pt_indicators_at(m, ts + mid, x1, zm);
                        if (pt_crossed(z0, zm)) hi = mid; else lo = mid;
                    }
                    pt_rk4(m, ts, x0, hi, x1);
                    ts += hi;
                    PT_TIME(m) = ts;
                    pt_set_states(m, x1);
                    model_update(m);
                    model_event(m);
                    pt_get_states(m, x0);
                    pt_log(m, PT_LOG_OK, "logEvents", "state event at t = %.12g", ts);
                    continue;
                }
            }
            memcpy(x0, x1, sizeof(x0));
            ts = te;
        }
    }
    PT_TIME(m) = t_end;
    pt_set_states(m, x0);
    model_update(m);
}

#endif /* PHYSTWIN_PT_NUMERICS_H */
