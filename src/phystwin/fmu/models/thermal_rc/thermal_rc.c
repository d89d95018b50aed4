/*
 * thermal_rc: two-node thermal RC network (FMI 2.0, ME + CS).
 *
 *   C1 dT1/dt = Q_in - G12 (T1 - T2)
 *   C2 dT2/dt = G12 (T1 - T2) - G2a (T2 - T_amb)
 *   Q_amb     = G2a (T2 - T_amb)
 *
 * Real value references (stable; the FMI 3.0 variant uses the same numbers + 1, VR 0 being time):
 *   0 Q_in     input            [W]    heat into node 1 (start 0)
 *   1 T_amb    input            [K]    ambient temperature (start 298.15)
 *   2 T1       state            [K]    (start 298.15)
 *   3 der(T1)                   [K/s]
 *   4 T2       state            [K]    (start 298.15)
 *   5 der(T2)                   [K/s]
 *   6 C1       fixed parameter  [J/K]  (100)
 *   7 C2       fixed parameter  [J/K]  (400)
 *   8 G12      fixed parameter  [W/K]  (2)
 *   9 G2a      fixed parameter  [W/K]  (0.5)
 *  10 T1_out   output           [K]
 *  11 T2_out   output           [K]
 *  12 Q_amb    output           [W]    heat flow from node 2 to ambient
 */
#define N_REALS 13
#define N_INTEGERS 0
#define N_BOOLEANS 0
#define N_STATES 2
#define N_EVENT_INDICATORS 0
#define STATE_VRS {2, 4}
#define DERIVATIVE_VRS {3, 5}
#define REAL_KINDS "iixcxcppppccc"
#define INTEGER_KINDS ""
#define CS_MAX_STEP 1e-3

#include "fmi2_template.h"
#include "thermal_rc_equations.h"

static void model_defaults(Instance *m) {
    thermal_rc_defaults(m->s.r);
}

static void model_update(Instance *m) {
    thermal_rc_update(m->s.r);
}

static fmi2Status model_validate(Instance *m) {
    const char *msg = thermal_rc_check(m->s.r);
    if (msg != NULL) {
        PT_ERR(m, "%s", msg);
        return fmi2Error;
    }
    return fmi2OK;
}
