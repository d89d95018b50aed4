/* thermal_rc equations shared by the FMI 2.0 and FMI 3.0 builds; r[] is indexed by the FMI 2.0 value reference. */
#ifndef THERMAL_RC_EQUATIONS_H
#define THERMAL_RC_EQUATIONS_H

#include <stddef.h>

enum { TRC_Q_IN, TRC_T_AMB, TRC_T1, TRC_DER_T1, TRC_T2, TRC_DER_T2, TRC_C1, TRC_C2, TRC_G12, TRC_G2A,
       TRC_T1_OUT, TRC_T2_OUT, TRC_Q_AMB, TRC_N };

static void thermal_rc_update(double *r) {
    double q12 = r[TRC_G12] * (r[TRC_T1] - r[TRC_T2]);
    r[TRC_Q_AMB] = r[TRC_G2A] * (r[TRC_T2] - r[TRC_T_AMB]);
    r[TRC_DER_T1] = (r[TRC_Q_IN] - q12) / r[TRC_C1];
    r[TRC_DER_T2] = (q12 - r[TRC_Q_AMB]) / r[TRC_C2];
    r[TRC_T1_OUT] = r[TRC_T1];
    r[TRC_T2_OUT] = r[TRC_T2];
}

static void thermal_rc_defaults(double *r) {
    r[TRC_Q_IN] = 0.0;
    r[TRC_T_AMB] = 298.15;
    r[TRC_T1] = 298.15;
    r[TRC_T2] = 298.15;
    r[TRC_C1] = 100.0;
    r[TRC_C2] = 400.0;
    r[TRC_G12] = 2.0;
    r[TRC_G2A] = 0.5;
    thermal_rc_update(r);
}

/* NULL when the parameters are physical, else a message for the logger */
static const char *thermal_rc_check(const double *r) {
    if (!(r[TRC_C1] > 0.0) || !(r[TRC_C2] > 0.0)) return "heat capacities C1 and C2 [J/K] must be > 0";
    if (!(r[TRC_G12] >= 0.0) || !(r[TRC_G2A] >= 0.0)) return "conductances G12 and G2a [W/K] must be >= 0";
    return NULL;
}

#endif
