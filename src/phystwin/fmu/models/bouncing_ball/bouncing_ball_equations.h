/*
 * bouncing_ball equations shared by the FMI 2.0 and FMI 3.0 builds; r[] is indexed by the FMI 2.0 value
 * reference (the FMI 3.0 variant passes its Float64 array from value reference 1, after time).
 *
 *   dh/dt = v, dv/dt = -g   (both 0 once the ball rests)
 *   event indicator z = h (1 once resting); at impact v := -e v, h := 0, and the ball is put to rest
 *   (h = v = 0) when the rebound speed falls below v_min.
 */
#ifndef BOUNCING_BALL_EQUATIONS_H
#define BOUNCING_BALL_EQUATIONS_H

#include <stddef.h>
#include <stdio.h>

enum { BB_H, BB_DER_H, BB_V, BB_DER_V, BB_G, BB_E, BB_V_MIN, BB_N };

/* impact outcomes of bouncing_ball_impact */
enum { BB_NO_IMPACT, BB_BOUNCE, BB_REST };

/* ME solvers locate the root to their own tolerance and may stop a hair above the ground [m] */
#define BB_IMPACT_TOL 1e-9

static void bouncing_ball_update(double *r, int resting) {
    r[BB_DER_H] = resting ? 0.0 : r[BB_V];
    r[BB_DER_V] = resting ? 0.0 : -r[BB_G];
}

static void bouncing_ball_defaults(double *r) {
    r[BB_H] = 1.0;
    r[BB_V] = 0.0;
    r[BB_G] = 9.81;
    r[BB_E] = 0.8;
    r[BB_V_MIN] = 0.05;
    bouncing_ball_update(r, 0);
}

/* the state-event indicator [m]: the height, or 1 once resting (no further crossing) */
static double bouncing_ball_indicator(const double *r, int resting) { return resting ? 1.0 : r[BB_H]; }

/* the impact at the ground, if the ball is there and falling: reverse and damp the speed, or put the ball to
   rest; the caller latches `resting` on BB_REST and refreshes the derivatives */
static int bouncing_ball_impact(double *r, int resting) {
    if (resting || !(r[BB_H] <= BB_IMPACT_TOL && r[BB_V] < 0.0)) return BB_NO_IMPACT;
    r[BB_H] = 0.0;
    r[BB_V] = -r[BB_E] * r[BB_V];
    if (r[BB_V] < r[BB_V_MIN]) {
        r[BB_V] = 0.0;
        return BB_REST;
    }
    return BB_BOUNCE;
}

/* 0 when the parameters and start values are physical, else 1 with a message for the logger in msg */
static int bouncing_ball_check(const double *r, char *msg, size_t n) {
    if (!(r[BB_G] > 0.0))
        snprintf(msg, n, "g = %g m/s2 must be > 0", r[BB_G]);
    else if (!(r[BB_E] >= 0.0 && r[BB_E] < 1.0))
        snprintf(msg, n, "restitution e = %g must be in [0, 1)", r[BB_E]);
    else if (!(r[BB_V_MIN] > 0.0))
        snprintf(msg, n, "v_min = %g m/s must be > 0", r[BB_V_MIN]);
    else if (!(r[BB_H] >= 0.0))
        snprintf(msg, n, "start height h = %g m must be >= 0", r[BB_H]);
    else
        return 0;
    return 1;
}

#endif
