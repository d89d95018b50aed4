/*
 * fault_injector: first-order lag dx/dt = -x + u, y = x, that misbehaves on purpose once t >= fault_time
 * (FMI 2.0, ME + CS). Used to test how the co-simulation master copes with failing FMUs.
 *
 * fault_mode (tunable Integer parameter):
 *   0 none; 1 fmi2Discard; 2 fmi2Error; 3 fmi2Fatal (every later call returns fmi2Error);
 *   4 NaN outputs and derivatives (status fmi2OK); 5 hang forever.
 * Faults fire in fmi2DoStep when the step end reaches fault_time, and in fmi2GetDerivatives when the current
 * time does. Mode 4 acts on every evaluation at t >= fault_time.
 *
 * Real value references (stable):
 *   0 x           state               [1]   (start 0)
 *   1 der(x)                          [1/s]
 *   2 u           input               [1]   (start 0)
 *   3 y           output              [1]
 *   4 fault_time  tunable parameter   [s]   (start 1)
 * Integer value references:
 *   0 fault_mode  tunable parameter   [-]   (start 0)
 */
#define _POSIX_C_SOURCE 199309L /* nanosleep for the hang mode */

#include <time.h>

#define N_REALS 5
#define N_INTEGERS 1
#define N_BOOLEANS 0
#define N_STATES 1
#define N_EVENT_INDICATORS 0
#define STATE_VRS {0}
#define DERIVATIVE_VRS {1}
#define REAL_KINDS "xcict"
#define INTEGER_KINDS "t"
#define CS_MAX_STEP 1e-3

#define MODEL_FAULTS

#include "fmi2_template.h"

enum { X, DER_X, U, Y, FAULT_TIME };
enum { FAULT_MODE };
enum { MODE_NONE, MODE_DISCARD, MODE_ERROR, MODE_FATAL, MODE_NAN, MODE_HANG, N_MODES };

/* step ends computed as t + h must still count as reaching fault_time despite rounding */
#define TIME_EPS 1e-12

static int fault_active(const Instance *m, fmi2Real t) {
    return t >= m->s.r[FAULT_TIME] - TIME_EPS * (1.0 + fabs(m->s.r[FAULT_TIME]));
}

static void model_defaults(Instance *m) {
    m->s.r[X] = 0.0;
    m->s.r[U] = 0.0;
    m->s.r[FAULT_TIME] = 1.0;
    m->s.i[FAULT_MODE] = MODE_NONE;
    model_update(m);
}

static void model_update(Instance *m) {
    fmi2Real *r = m->s.r;
    if (m->s.i[FAULT_MODE] == MODE_NAN && fault_active(m, m->s.time)) {
        r[DER_X] = NAN;
        r[Y] = NAN;
        return;
    }
    r[DER_X] = -r[X] + r[U];
    r[Y] = r[X];
}

static fmi2Status model_validate(Instance *m) {
    if (m->s.i[FAULT_MODE] < 0 || m->s.i[FAULT_MODE] >= N_MODES) {
        PT_ERR(m, "fault_mode = %d is not one of 0..%d", (int)m->s.i[FAULT_MODE], N_MODES - 1);
        return fmi2Error;
    }
    return fmi2OK;
}

static fmi2Status model_fault(Instance *m, fmi2Real t, const char *fn) {
    int mode = m->s.i[FAULT_MODE];
    if (!fault_active(m, t)) return fmi2OK;
    switch (mode) {
    case MODE_NONE:
    case MODE_NAN:
        return fmi2OK;
    case MODE_DISCARD:
        pt_log(m, fmi2Discard, "logStatusDiscard", "%s: injected fmi2Discard at t = %g (fault_time %g)", fn, t,
               m->s.r[FAULT_TIME]);
        return fmi2Discard;
    case MODE_ERROR:
        PT_ERR(m, "%s: injected fmi2Error at t = %g (fault_time %g)", fn, t, m->s.r[FAULT_TIME]);
        return fmi2Error;
    case MODE_FATAL:
        pt_log(m, fmi2Fatal, "logStatusFatal", "%s: injected fmi2Fatal at t = %g (fault_time %g)", fn, t,
               m->s.r[FAULT_TIME]);
        return fmi2Fatal;
    case MODE_HANG:
        pt_log(m, fmi2Warning, "logStatusWarning", "%s: injected hang at t = %g, never returning", fn, t);
        for (;;) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        }
    default:
        PT_ERR(m, "%s: fault_mode = %d is not one of 0..%d", fn, mode, N_MODES - 1);
        return fmi2Error;
    }
}
