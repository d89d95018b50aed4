/*
 * thermal_rc, FMI 3.0 variant (ME + CS); same equations as thermal_rc.c (see thermal_rc_equations.h).
 *
 * Float64 value references (stable; FMI 2.0 value reference + 1):
 *   0 time     independent      [s]
 *   1 Q_in     input            [W]    (start 0)
 *   2 T_amb    input            [K]    (start 298.15)
 *   3 T1       state            [K]    (start 298.15)
 *   4 der(T1)                   [K/s]
 *   5 T2       state            [K]    (start 298.15)
 *   6 der(T2)                   [K/s]
 *   7 C1       fixed parameter  [J/K]  (100)
 *   8 C2       fixed parameter  [J/K]  (400)
 *   9 G12      fixed parameter  [W/K]  (2)
 *  10 G2a      fixed parameter  [W/K]  (0.5)
 *  11 T1_out   output           [K]
 *  12 T2_out   output           [K]
 *  13 Q_amb    output           [W]
 */
#define N_FLOAT64 14
#define N_STATES 2
#define N_EVENT_INDICATORS 0
#define STATE_VRS {3, 5}
#define DERIVATIVE_VRS {4, 6}
#define FLOAT64_KINDS "Tiixcxcppppccc"
#define CS_MAX_STEP 1e-3

#include "fmi3_template.h"
#include "thermal_rc_equations.h"

/* the equations index by FMI 2.0 value reference, which is the FMI 3.0 one minus the leading time */
static void model_defaults(Instance *m) {
    thermal_rc_defaults(m->s.r + 1);
}

static void model_update(Instance *m) {
    thermal_rc_update(m->s.r + 1);
}

static fmi3Status model_validate(Instance *m) {
    const char *msg = thermal_rc_check(m->s.r + 1);
    if (msg != NULL) {
        PT_ERR(m, "%s", msg);
        return fmi3Error;
    }
    return fmi3OK;
}
