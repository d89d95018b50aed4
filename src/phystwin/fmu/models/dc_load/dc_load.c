/*
 * dc_load: mechanical load driven by a motor shaft through a compliant coupling (FMI 2.0, ME + CS).
 *
 *   dphi_c/dt = w_in - w_l
 *   tau       = k_c * phi_c + d_c * (w_in - w_l)
 *   J_l dw_l/dt = tau - b_l * w_l - tau_ext
 *
 * Real value references (stable):
 *   0 w_in      input               [rad/s]   shaft speed
 *   1 tau_ext   input               [N.m]     external load torque (start 0)
 *   2 phi_c     state               [rad]     coupling twist (start 0)
 *   3 der(phi_c)                    [rad/s]
 *   4 w_l       state               [rad/s]   load speed (start 0)
 *   5 der(w_l)                      [rad/s2]
 *   6 k_c       fixed parameter     [N.m/rad]     (50)
 *   7 d_c       fixed parameter     [N.m.s/rad]   (0.05)
 *   8 J_l       fixed parameter     [kg.m2]       (2e-3)
 *   9 b_l       fixed parameter     [N.m.s/rad]   (1e-3)
 *  10 tau       output              [N.m]     torque the load puts on the motor shaft
 *  11 w_load    output              [rad/s]   load speed
 */
#define N_REALS 12
#define N_INTEGERS 0
#define N_BOOLEANS 0
#define N_STATES 2
#define N_EVENT_INDICATORS 0
#define STATE_VRS {2, 4}
#define DERIVATIVE_VRS {3, 5}
#define REAL_KINDS "iixcxcppppcc"
#define INTEGER_KINDS ""
#define CS_MAX_STEP 1e-4

#include "fmi2_template.h"

enum { W_IN, TAU_EXT, PHI_C, DER_PHI_C, W_L, DER_W_L, K_C, D_C, J_L, B_L, TAU, W_LOAD };

static void model_defaults(Instance *m) {
    fmi2Real *r = m->s.r;
    r[W_IN] = 0.0;
    r[TAU_EXT] = 0.0;
    r[PHI_C] = 0.0;
    r[W_L] = 0.0;
    r[K_C] = 50.0;
    r[D_C] = 0.05;
    r[J_L] = 2e-3;
    r[B_L] = 1e-3;
    model_update(m);
}

static void model_update(Instance *m) {
    fmi2Real *r = m->s.r;
    fmi2Real slip = r[W_IN] - r[W_L];
    r[TAU] = r[K_C] * r[PHI_C] + r[D_C] * slip;
    r[DER_PHI_C] = slip;
    r[DER_W_L] = (r[TAU] - r[B_L] * r[W_L] - r[TAU_EXT]) / r[J_L];
    r[W_LOAD] = r[W_L];
}

static fmi2Status model_validate(Instance *m) {
    const fmi2Real *r = m->s.r;
    if (!(r[J_L] > 0.0)) {
        PT_ERR(m, "J_l = %g kg.m2 must be > 0", r[J_L]);
        return fmi2Error;
    }
    if (!(r[K_C] >= 0.0) || !(r[D_C] >= 0.0) || !(r[B_L] >= 0.0)) {
        PT_ERR(m, "k_c = %g, d_c = %g and b_l = %g must be >= 0", r[K_C], r[D_C], r[B_L]);
        return fmi2Error;
    }
    return fmi2OK;
}
