/*
 * Shared FMI 2.0 implementation (ModelExchange + CoSimulation in one binary) for the phystwin test FMUs.
 *
 * A model file defines, before including this header:
 *   MODEL_GUID           string literal (normally passed by the builder with -DMODEL_GUID=...)
 *   N_REALS, N_INTEGERS, N_BOOLEANS   number of variables of each type; value reference == array index
 *   N_STATES, N_EVENT_INDICATORS
 *   STATE_VRS, DERIVATIVE_VRS          brace initialisers with the Real value references
 *   REAL_KINDS, INTEGER_KINDS          string literals, one character per value reference:
 *        'i' input, 'p' fixed parameter, 't' tunable parameter, 'x' continuous state,
 *        'c' calculated (output, derivative or local) -- decides which variables the fmi2Set functions accept, and in which mode
 *   CS_MAX_STEP          largest internal RK4 step of the co-simulation interface [s]
 * and afterwards implements the model hooks declared below (equations only, no FMI bookkeeping).
 * Optional, for model-exchange-only models:
 *   MODEL_TIME_EVENTS    the model implements model_next_event_time (time events, reported by fmi2NewDiscreteStates)
 *   MODEL_STEP_EVENTS    the model implements model_step_event (asked in fmi2CompletedIntegratorStep)
 *   MODEL_FAULTS         the model implements model_fault (otherwise every call succeeds)
 * Without event indicators, time events and step events, model_event_indicators and model_event have defaults.
 *
 * The version-independent numerics (RK4, event location of the co-simulation step) are in pt_numerics.h,
 * shared with fmi3_template.h.
 *
 * Everything an FMU state snapshot needs lives in ModelState, so fmi2GetFMUstate/SetFMUstate/Serialize are
 * plain copies; that keeps UKF sigma-point save/restore cheap and exact.
 */
#ifndef PHYSTWIN_FMI2_TEMPLATE_H
#define PHYSTWIN_FMI2_TEMPLATE_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fmi2Functions.h"

#ifndef MODEL_GUID
#error "MODEL_GUID must be defined (the builder passes -DMODEL_GUID=...)"
#endif

/* zero-length arrays are not C99, so empty variable classes still get one slot */
#define PT_ALLOC(n) ((n) > 0 ? (n) : 1)

typedef struct {
    fmi2Real time;
    fmi2Real r[PT_ALLOC(N_REALS)];
    fmi2Integer i[PT_ALLOC(N_INTEGERS)];
    fmi2Boolean b[PT_ALLOC(N_BOOLEANS)];
    fmi2Real last_successful_time;
} ModelState;

/* phases of the FMI 2.0 state machine, as bit flags so a function can list the phases it accepts */
enum {
    PH_INSTANTIATED = 1 << 0,
    PH_INIT = 1 << 1,
    PH_EVENT = 1 << 2,
    PH_CONT = 1 << 3,
    PH_STEP = 1 << 4,
    PH_TERMINATED = 1 << 5,
    PH_ERROR = 1 << 6,
    PH_FATAL = 1 << 7
};
#define PH_ANY_ALIVE (PH_INSTANTIATED | PH_INIT | PH_EVENT | PH_CONT | PH_STEP | PH_TERMINATED)
#define PH_RUNNING (PH_INIT | PH_EVENT | PH_CONT | PH_STEP)

typedef struct {
    ModelState s;
    char *instance_name;
    fmi2Type type;
    fmi2CallbackFunctions cb;
    fmi2Boolean logging_on;
    int phase;
    fmi2Boolean stop_time_defined;
    fmi2Real stop_time;
} Instance;

/* ---- model hooks (implemented by the model file) ---- */
static void model_defaults(Instance *m);
/* compute derivatives and outputs from time, states, inputs and parameters held in m->s */
static void model_update(Instance *m);
static void model_event_indicators(Instance *m, fmi2Real z[]);
/* handle a state event; return nonzero when continuous states changed */
static int model_event(Instance *m);
/* parameter checks at fmi2ExitInitializationMode; log and return fmi2Error on invalid values */
static fmi2Status model_validate(Instance *m);
/* fault hook called by fmi2DoStep (t = end of step) and fmi2GetDerivatives (t = current time) */
static fmi2Status model_fault(Instance *m, fmi2Real t, const char *fn);
/* defaults for the hooks a model without state events, time events, step events or faults does not need */
#if N_EVENT_INDICATORS == 0
static void model_event_indicators(Instance *m, fmi2Real z[]) {
    (void)m;
    (void)z;
}
#endif
#if N_EVENT_INDICATORS == 0 && !defined(MODEL_TIME_EVENTS) && !defined(MODEL_STEP_EVENTS)
static int model_event(Instance *m) {
    (void)m;
    return 0;
}
#endif
#ifndef MODEL_FAULTS
static fmi2Status model_fault(Instance *m, fmi2Real t, const char *fn) {
    (void)m;
    (void)t;
    (void)fn;
    return fmi2OK;
}
#endif
#ifdef MODEL_TIME_EVENTS
/* 1 and the next time event in *t if one is scheduled, else 0 */
static int model_next_event_time(Instance *m, fmi2Real *t);
#endif
#ifdef MODEL_STEP_EVENTS
/* 1 if the importer should enter event mode at the end of the integrator step just completed */
static int model_step_event(Instance *m);
#endif

static const fmi2ValueReference pt_state_vrs[PT_ALLOC(N_STATES)] = STATE_VRS;
static const fmi2ValueReference pt_derivative_vrs[PT_ALLOC(N_STATES)] = DERIVATIVE_VRS;
static const char pt_real_kinds[] = REAL_KINDS;
static const char pt_integer_kinds[] = INTEGER_KINDS;

/* ---- logging ---- */
static void pt_log(Instance *m, fmi2Status status, const char *category, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (m == NULL || m->cb.logger == NULL) return;
    /* errors are always reported: the caller needs to know why a call failed even with logging off */
    if (status == fmi2OK && !m->logging_on) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    m->cb.logger(m->cb.componentEnvironment, m->instance_name, status, category, "%s", buf);
}

#define PT_ERR(m, ...) pt_log((m), fmi2Error, "logStatusError", __VA_ARGS__)

static int pt_check(Instance *m, const char *fn, int allowed) {
    if (m == NULL) return 0;
    if (m->phase == PH_FATAL) {
        PT_ERR(m, "%s: instance is in fatal state after an earlier fmi2Fatal; only fmi2FreeInstance is allowed", fn);
        return 0;
    }
    if (!(m->phase & allowed)) {
        PT_ERR(m, "%s: not allowed in the current state (phase flag 0x%x)", fn, (unsigned)m->phase);
        return 0;
    }
    return 1;
}

static int pt_null(Instance *m, const char *fn, const void *p, const char *arg) {
    if (p == NULL) {
        PT_ERR(m, "%s: argument '%s' is NULL", fn, arg);
        return 1;
    }
    return 0;
}

/* ---- numerics (shared with the other FMI version) ---- */
typedef fmi2Real pt_real;
#define PT_TIME(m) (m)->s.time
#define PT_LOG_OK fmi2OK
#include "pt_numerics.h"

/* ---- inquire platform and version ---- */
const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean loggingOn, size_t nCategories,
                               const fmi2String categories[]) {
    Instance *m = (Instance *)c;
    if (m == NULL) return fmi2Error;
    if (nCategories > 0 && pt_null(m, "fmi2SetDebugLogging", categories, "categories")) return fmi2Error;
    m->logging_on = loggingOn;
    return fmi2OK;
}

/* ---- creation and destruction ---- */
fmi2Component fmi2Instantiate(fmi2String instanceName, fmi2Type fmuType, fmi2String fmuGUID,
                              fmi2String fmuResourceLocation, const fmi2CallbackFunctions *functions,
                              fmi2Boolean visible, fmi2Boolean loggingOn) {
    Instance *m;
    size_t len;
    (void)fmuResourceLocation;
    (void)visible;
    if (functions == NULL || functions->allocateMemory == NULL || functions->freeMemory == NULL) return NULL;
    if (instanceName == NULL || instanceName[0] == '\0') {
        if (functions->logger)
            functions->logger(functions->componentEnvironment, "?", fmi2Error, "logStatusError",
                              "fmi2Instantiate: missing instance name");
        return NULL;
    }
    if (fmuGUID == NULL || strcmp(fmuGUID, MODEL_GUID) != 0) {
        if (functions->logger)
            functions->logger(functions->componentEnvironment, instanceName, fmi2Error, "logStatusError",
                              "fmi2Instantiate: GUID '%s' does not match the binary's GUID '%s'",
                              fmuGUID ? fmuGUID : "(null)", MODEL_GUID);
        return NULL;
    }
    if (fmuType != fmi2ModelExchange && fmuType != fmi2CoSimulation) {
        if (functions->logger)
            functions->logger(functions->componentEnvironment, instanceName, fmi2Error, "logStatusError",
                              "fmi2Instantiate: unknown fmuType %d", (int)fmuType);
        return NULL;
    }
    m = (Instance *)functions->allocateMemory(1, sizeof(Instance));
    if (m == NULL) return NULL;
    memset(m, 0, sizeof(Instance));
    len = strlen(instanceName) + 1;
    m->instance_name = (char *)functions->allocateMemory(len, 1);
    if (m->instance_name == NULL) {
        functions->freeMemory(m);
        return NULL;
    }
    memcpy(m->instance_name, instanceName, len);
    m->type = fmuType;
    m->cb = *functions;
    m->logging_on = loggingOn;
    m->phase = PH_INSTANTIATED;
    model_defaults(m);
    return (fmi2Component)m;
}

void fmi2FreeInstance(fmi2Component c) {
    Instance *m = (Instance *)c;
    fmi2CallbackFreeMemory freeMemory;
    if (m == NULL) return;
    freeMemory = m->cb.freeMemory;
    freeMemory(m->instance_name);
    freeMemory(m);
}

/* ---- initialisation, termination, reset ---- */
fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean toleranceDefined, fmi2Real tolerance,
                               fmi2Real startTime, fmi2Boolean stopTimeDefined, fmi2Real stopTime) {
    Instance *m = (Instance *)c;
    (void)toleranceDefined;
    (void)tolerance;
    if (!pt_check(m, "fmi2SetupExperiment", PH_INSTANTIATED)) return fmi2Error;
    if (stopTimeDefined && stopTime < startTime) {
        PT_ERR(m, "fmi2SetupExperiment: stopTime %g < startTime %g", stopTime, startTime);
        return fmi2Error;
    }
    m->s.time = startTime;
    m->s.last_successful_time = startTime;
    m->stop_time_defined = stopTimeDefined;
    m->stop_time = stopTime;
    return fmi2OK;
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2EnterInitializationMode", PH_INSTANTIATED)) return fmi2Error;
    m->phase = PH_INIT;
    return fmi2OK;
}

fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2ExitInitializationMode", PH_INIT)) return fmi2Error;
    if (model_validate(m) != fmi2OK) {
        m->phase = PH_ERROR;
        return fmi2Error;
    }
    model_update(m);
    m->phase = (m->type == fmi2ModelExchange) ? PH_EVENT : PH_STEP;
    return fmi2OK;
}

fmi2Status fmi2Terminate(fmi2Component c) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2Terminate", PH_EVENT | PH_CONT | PH_STEP | PH_ERROR)) return fmi2Error;
    m->phase = PH_TERMINATED;
    return fmi2OK;
}

fmi2Status fmi2Reset(fmi2Component c) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2Reset", PH_ANY_ALIVE | PH_ERROR)) return fmi2Error;
    memset(&m->s, 0, sizeof(m->s));
    model_defaults(m);
    m->stop_time_defined = fmi2False;
    m->phase = PH_INSTANTIATED;
    return fmi2OK;
}

/* ---- getting and setting variable values ---- */
static int pt_vr_ok(Instance *m, const char *fn, fmi2ValueReference vr, int n) {
    if (vr >= (fmi2ValueReference)n) {
        PT_ERR(m, "%s: unknown value reference %u (valid: 0..%d)", fn, (unsigned)vr, n - 1);
        return 0;
    }
    return 1;
}

/* inputs and tunable parameters are settable any time; fixed parameters and state start values only before
   initialisation ends; calculated variables never */
static int pt_settable(Instance *m, const char *fn, char kind, fmi2ValueReference vr) {
    int before_init = (m->phase & (PH_INSTANTIATED | PH_INIT)) != 0;
    if (kind == 'i' || kind == 't') return 1;
    if ((kind == 'p' || kind == 'x') && before_init) return 1;
    PT_ERR(m, "%s: value reference %u is %s and cannot be set %s", fn, (unsigned)vr,
           kind == 'c' ? "calculated" : (kind == 'p' ? "a fixed parameter" : "a continuous state"),
           kind == 'c' ? "at all" : "after initialization (use fmi2SetContinuousStates for states)");
    return 0;
}

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Real value[]) {
    Instance *m = (Instance *)c;
    size_t k;
    if (!pt_check(m, "fmi2GetReal", PH_ANY_ALIVE | PH_ERROR)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    if (pt_null(m, "fmi2GetReal", vr, "vr") || pt_null(m, "fmi2GetReal", value, "value")) return fmi2Error;
    if (m->phase != PH_ERROR) model_update(m);
    for (k = 0; k < nvr; k++) {
        if (!pt_vr_ok(m, "fmi2GetReal", vr[k], N_REALS)) return fmi2Error;
        value[k] = m->s.r[vr[k]];
    }
    return fmi2OK;
}

fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Integer value[]) {
    Instance *m = (Instance *)c;
    size_t k;
    if (!pt_check(m, "fmi2GetInteger", PH_ANY_ALIVE | PH_ERROR)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    if (pt_null(m, "fmi2GetInteger", vr, "vr") || pt_null(m, "fmi2GetInteger", value, "value")) return fmi2Error;
    for (k = 0; k < nvr; k++) {
        if (!pt_vr_ok(m, "fmi2GetInteger", vr[k], N_INTEGERS)) return fmi2Error;
        value[k] = m->s.i[vr[k]];
    }
    return fmi2OK;
}

fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2Boolean value[]) {
    Instance *m = (Instance *)c;
    size_t k;
    if (!pt_check(m, "fmi2GetBoolean", PH_ANY_ALIVE | PH_ERROR)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    if (pt_null(m, "fmi2GetBoolean", vr, "vr") || pt_null(m, "fmi2GetBoolean", value, "value")) return fmi2Error;
    for (k = 0; k < nvr; k++) {
        if (!pt_vr_ok(m, "fmi2GetBoolean", vr[k], N_BOOLEANS)) return fmi2Error;
        value[k] = m->s.b[vr[k]];
    }
    return fmi2OK;
}

fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, fmi2String value[]) {
    Instance *m = (Instance *)c;
    (void)vr;
    (void)value;
    if (!pt_check(m, "fmi2GetString", PH_ANY_ALIVE | PH_ERROR)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    PT_ERR(m, "fmi2GetString: this model has no String variables");
    return fmi2Error;
}

fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2Real value[]) {
    Instance *m = (Instance *)c;
    size_t k;
    if (!pt_check(m, "fmi2SetReal", PH_INSTANTIATED | PH_RUNNING)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    if (pt_null(m, "fmi2SetReal", vr, "vr") || pt_null(m, "fmi2SetReal", value, "value")) return fmi2Error;
    for (k = 0; k < nvr; k++) {
        if (!pt_vr_ok(m, "fmi2SetReal", vr[k], N_REALS)) return fmi2Error;
        if (!pt_settable(m, "fmi2SetReal", pt_real_kinds[vr[k]], vr[k])) return fmi2Error;
        m->s.r[vr[k]] = value[k];
    }
    return fmi2OK;
}

fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2Integer value[]) {
    Instance *m = (Instance *)c;
    size_t k;
    if (!pt_check(m, "fmi2SetInteger", PH_INSTANTIATED | PH_RUNNING)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    if (pt_null(m, "fmi2SetInteger", vr, "vr") || pt_null(m, "fmi2SetInteger", value, "value")) return fmi2Error;
    for (k = 0; k < nvr; k++) {
        if (!pt_vr_ok(m, "fmi2SetInteger", vr[k], N_INTEGERS)) return fmi2Error;
        if (!pt_settable(m, "fmi2SetInteger", pt_integer_kinds[vr[k]], vr[k])) return fmi2Error;
        m->s.i[vr[k]] = value[k];
    }
    return fmi2OK;
}

fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2Boolean value[]) {
    Instance *m = (Instance *)c;
    (void)vr;
    (void)value;
    if (!pt_check(m, "fmi2SetBoolean", PH_INSTANTIATED | PH_RUNNING)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    /* every Boolean of these models is calculated */
    PT_ERR(m, "fmi2SetBoolean: this model has no settable Boolean variables");
    return fmi2Error;
}

fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t nvr, const fmi2String value[]) {
    Instance *m = (Instance *)c;
    (void)vr;
    (void)value;
    if (!pt_check(m, "fmi2SetString", PH_INSTANTIATED | PH_RUNNING)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    PT_ERR(m, "fmi2SetString: this model has no String variables");
    return fmi2Error;
}

/* ---- FMU state: a ModelState copy; serialised form = 8-byte tag + raw ModelState ---- */
#define PT_STATE_TAG "PTWNST02"

fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *FMUstate) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2GetFMUstate", PH_ANY_ALIVE)) return fmi2Error;
    if (pt_null(m, "fmi2GetFMUstate", FMUstate, "FMUstate")) return fmi2Error;
    if (*FMUstate == NULL) {
        *FMUstate = m->cb.allocateMemory(1, sizeof(ModelState));
        if (*FMUstate == NULL) {
            PT_ERR(m, "fmi2GetFMUstate: out of memory");
            return fmi2Error;
        }
    }
    memcpy(*FMUstate, &m->s, sizeof(ModelState));
    return fmi2OK;
}

fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate FMUstate) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2SetFMUstate", PH_ANY_ALIVE)) return fmi2Error;
    if (pt_null(m, "fmi2SetFMUstate", FMUstate, "FMUstate")) return fmi2Error;
    memcpy(&m->s, FMUstate, sizeof(ModelState));
    return fmi2OK;
}

fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *FMUstate) {
    Instance *m = (Instance *)c;
    if (m == NULL) return fmi2Error;
    if (FMUstate == NULL || *FMUstate == NULL) return fmi2OK;
    m->cb.freeMemory(*FMUstate);
    *FMUstate = NULL;
    return fmi2OK;
}

fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate FMUstate, size_t *size) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2SerializedFMUstateSize", PH_ANY_ALIVE)) return fmi2Error;
    if (pt_null(m, "fmi2SerializedFMUstateSize", FMUstate, "FMUstate") ||
        pt_null(m, "fmi2SerializedFMUstateSize", size, "size"))
        return fmi2Error;
    *size = 8 + sizeof(ModelState);
    return fmi2OK;
}

fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate FMUstate, fmi2Byte serializedState[], size_t size) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2SerializeFMUstate", PH_ANY_ALIVE)) return fmi2Error;
    if (pt_null(m, "fmi2SerializeFMUstate", FMUstate, "FMUstate") ||
        pt_null(m, "fmi2SerializeFMUstate", serializedState, "serializedState"))
        return fmi2Error;
    if (size < 8 + sizeof(ModelState)) {
        PT_ERR(m, "fmi2SerializeFMUstate: buffer of %lu bytes is too small, need %lu", (unsigned long)size,
               (unsigned long)(8 + sizeof(ModelState)));
        return fmi2Error;
    }
    memcpy(serializedState, PT_STATE_TAG, 8);
    memcpy(serializedState + 8, FMUstate, sizeof(ModelState));
    return fmi2OK;
}

fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte serializedState[], size_t size,
                                   fmi2FMUstate *FMUstate) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2DeSerializeFMUstate", PH_ANY_ALIVE)) return fmi2Error;
    if (pt_null(m, "fmi2DeSerializeFMUstate", serializedState, "serializedState") ||
        pt_null(m, "fmi2DeSerializeFMUstate", FMUstate, "FMUstate"))
        return fmi2Error;
    if (size != 8 + sizeof(ModelState) || memcmp(serializedState, PT_STATE_TAG, 8) != 0) {
        PT_ERR(m, "fmi2DeSerializeFMUstate: bytes are not a state of this model (size %lu, expected %lu)",
               (unsigned long)size, (unsigned long)(8 + sizeof(ModelState)));
        return fmi2Error;
    }
    if (*FMUstate == NULL) {
        *FMUstate = m->cb.allocateMemory(1, sizeof(ModelState));
        if (*FMUstate == NULL) {
            PT_ERR(m, "fmi2DeSerializeFMUstate: out of memory");
            return fmi2Error;
        }
    }
    memcpy(*FMUstate, serializedState + 8, sizeof(ModelState));
    return fmi2OK;
}

fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference vUnknown_ref[], size_t nUnknown,
                                        const fmi2ValueReference vKnown_ref[], size_t nKnown,
                                        const fmi2Real dvKnown[], fmi2Real dvUnknown[]) {
    Instance *m = (Instance *)c;
    (void)vUnknown_ref;
    (void)nUnknown;
    (void)vKnown_ref;
    (void)nKnown;
    (void)dvKnown;
    (void)dvUnknown;
    if (!pt_check(m, "fmi2GetDirectionalDerivative", PH_ANY_ALIVE)) return fmi2Error;
    PT_ERR(m, "fmi2GetDirectionalDerivative: providesDirectionalDerivative is false for this model");
    return fmi2Error;
}

/* ---- model exchange ---- */
#define PT_ME_ONLY(m, fn)                                                          \
    if ((m) != NULL && (m)->type != fmi2ModelExchange) {                           \
        PT_ERR((m), "%s: only available for ModelExchange instances", (fn));       \
        return fmi2Error;                                                          \
    }

fmi2Status fmi2EnterEventMode(fmi2Component c) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2EnterEventMode", PH_EVENT | PH_CONT)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2EnterEventMode");
    m->phase = PH_EVENT;
    return fmi2OK;
}

fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *eventInfo) {
    Instance *m = (Instance *)c;
    int changed;
    if (!pt_check(m, "fmi2NewDiscreteStates", PH_EVENT)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2NewDiscreteStates");
    if (pt_null(m, "fmi2NewDiscreteStates", eventInfo, "eventInfo")) return fmi2Error;
    model_update(m);
    changed = model_event(m);
    model_update(m);
    eventInfo->newDiscreteStatesNeeded = fmi2False;
    eventInfo->terminateSimulation = fmi2False;
    eventInfo->nominalsOfContinuousStatesChanged = fmi2False;
    eventInfo->valuesOfContinuousStatesChanged = changed ? fmi2True : fmi2False;
    eventInfo->nextEventTime = 0.0;
#ifdef MODEL_TIME_EVENTS
    eventInfo->nextEventTimeDefined = model_next_event_time(m, &eventInfo->nextEventTime) ? fmi2True : fmi2False;
#else
    eventInfo->nextEventTimeDefined = fmi2False;
#endif
    return fmi2OK;
}

fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2EnterContinuousTimeMode", PH_EVENT)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2EnterContinuousTimeMode");
    m->phase = PH_CONT;
    return fmi2OK;
}

fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi2Boolean *enterEventMode, fmi2Boolean *terminateSimulation) {
    Instance *m = (Instance *)c;
    (void)noSetFMUStatePriorToCurrentPoint;
    if (!pt_check(m, "fmi2CompletedIntegratorStep", PH_CONT)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2CompletedIntegratorStep");
    if (pt_null(m, "fmi2CompletedIntegratorStep", enterEventMode, "enterEventMode") ||
        pt_null(m, "fmi2CompletedIntegratorStep", terminateSimulation, "terminateSimulation"))
        return fmi2Error;
#ifdef MODEL_STEP_EVENTS
    model_update(m);
    *enterEventMode = model_step_event(m) ? fmi2True : fmi2False;
#else
    *enterEventMode = fmi2False;
#endif
    *terminateSimulation = fmi2False;
    m->s.last_successful_time = m->s.time;
    return fmi2OK;
}

fmi2Status fmi2SetTime(fmi2Component c, fmi2Real time) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2SetTime", PH_EVENT | PH_CONT)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2SetTime");
    m->s.time = time;
    return fmi2OK;
}

fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2SetContinuousStates", PH_CONT)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2SetContinuousStates");
    if (nx != N_STATES) {
        PT_ERR(m, "fmi2SetContinuousStates: nx = %lu but the model has %d states", (unsigned long)nx, N_STATES);
        return fmi2Error;
    }
    if (nx > 0 && pt_null(m, "fmi2SetContinuousStates", x, "x")) return fmi2Error;
    pt_set_states(m, x);
    return fmi2OK;
}

fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real derivatives[], size_t nx) {
    Instance *m = (Instance *)c;
    fmi2Status st;
    size_t k;
    if (!pt_check(m, "fmi2GetDerivatives", PH_INIT | PH_EVENT | PH_CONT | PH_TERMINATED)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2GetDerivatives");
    if (nx != N_STATES) {
        PT_ERR(m, "fmi2GetDerivatives: nx = %lu but the model has %d states", (unsigned long)nx, N_STATES);
        return fmi2Error;
    }
    if (nx > 0 && pt_null(m, "fmi2GetDerivatives", derivatives, "derivatives")) return fmi2Error;
    st = model_fault(m, m->s.time, "fmi2GetDerivatives");
    if (st == fmi2Error) m->phase = PH_ERROR;
    if (st == fmi2Fatal) m->phase = PH_FATAL;
    if (st > fmi2Warning) return st;
    model_update(m);
    for (k = 0; k < nx; k++) derivatives[k] = m->s.r[pt_derivative_vrs[k]];
    return fmi2OK;
}

fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real eventIndicators[], size_t ni) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2GetEventIndicators", PH_INIT | PH_EVENT | PH_CONT | PH_TERMINATED)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2GetEventIndicators");
    if (ni != N_EVENT_INDICATORS) {
        PT_ERR(m, "fmi2GetEventIndicators: ni = %lu but the model has %d event indicators", (unsigned long)ni,
               N_EVENT_INDICATORS);
        return fmi2Error;
    }
    if (ni == 0) return fmi2OK;
    if (pt_null(m, "fmi2GetEventIndicators", eventIndicators, "eventIndicators")) return fmi2Error;
    model_update(m);
    model_event_indicators(m, eventIndicators);
    return fmi2OK;
}

fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2GetContinuousStates", PH_INIT | PH_EVENT | PH_CONT | PH_TERMINATED)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2GetContinuousStates");
    if (nx != N_STATES) {
        PT_ERR(m, "fmi2GetContinuousStates: nx = %lu but the model has %d states", (unsigned long)nx, N_STATES);
        return fmi2Error;
    }
    if (nx > 0 && pt_null(m, "fmi2GetContinuousStates", x, "x")) return fmi2Error;
    pt_get_states(m, x);
    return fmi2OK;
}

fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x_nominal[], size_t nx) {
    Instance *m = (Instance *)c;
    size_t k;
    if (!pt_check(m, "fmi2GetNominalsOfContinuousStates", PH_ANY_ALIVE)) return fmi2Error;
    PT_ME_ONLY(m, "fmi2GetNominalsOfContinuousStates");
    if (nx != N_STATES) {
        PT_ERR(m, "fmi2GetNominalsOfContinuousStates: nx = %lu but the model has %d states", (unsigned long)nx,
               N_STATES);
        return fmi2Error;
    }
    if (nx > 0 && pt_null(m, "fmi2GetNominalsOfContinuousStates", x_nominal, "x_nominal")) return fmi2Error;
    for (k = 0; k < nx; k++) x_nominal[k] = 1.0;
    return fmi2OK;
}

/* ---- co-simulation ---- */
#define PT_CS_ONLY(m, fn)                                                          \
    if ((m) != NULL && (m)->type != fmi2CoSimulation) {                            \
        PT_ERR((m), "%s: only available for CoSimulation instances", (fn));        \
        return fmi2Error;                                                          \
    }

fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                       const fmi2Integer order[], const fmi2Real value[]) {
    Instance *m = (Instance *)c;
    (void)vr;
    (void)order;
    (void)value;
    if (!pt_check(m, "fmi2SetRealInputDerivatives", PH_INSTANTIATED | PH_INIT | PH_STEP)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    PT_ERR(m, "fmi2SetRealInputDerivatives: canInterpolateInputs is false; inputs are held constant over a step");
    return fmi2Error;
}

fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                        const fmi2Integer order[], fmi2Real value[]) {
    Instance *m = (Instance *)c;
    (void)vr;
    (void)order;
    (void)value;
    if (!pt_check(m, "fmi2GetRealOutputDerivatives", PH_STEP | PH_ERROR)) return fmi2Error;
    if (nvr == 0) return fmi2OK;
    PT_ERR(m, "fmi2GetRealOutputDerivatives: maxOutputDerivativeOrder is 0");
    return fmi2Error;
}

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real currentCommunicationPoint, fmi2Real communicationStepSize,
                      fmi2Boolean noSetFMUStatePriorToCurrentCommunicationPoint) {
    Instance *m = (Instance *)c;
    fmi2Status st;
    fmi2Real tol;
    (void)noSetFMUStatePriorToCurrentCommunicationPoint;
    if (!pt_check(m, "fmi2DoStep", PH_STEP)) return fmi2Error;
    PT_CS_ONLY(m, "fmi2DoStep");
    if (!(communicationStepSize >= 0.0)) {
        PT_ERR(m, "fmi2DoStep: communicationStepSize %g must be >= 0", communicationStepSize);
        return fmi2Error;
    }
    tol = 1e-9 * (1.0 + fabs(currentCommunicationPoint));
    if (fabs(currentCommunicationPoint - m->s.time) > tol) {
        PT_ERR(m, "fmi2DoStep: currentCommunicationPoint %.17g does not match the FMU time %.17g",
               currentCommunicationPoint, m->s.time);
        return fmi2Error;
    }
    st = model_fault(m, currentCommunicationPoint + communicationStepSize, "fmi2DoStep");
    if (st == fmi2Error) m->phase = PH_ERROR;
    if (st == fmi2Fatal) m->phase = PH_FATAL;
    if (st > fmi2Warning) return st;
    pt_integrate(m, currentCommunicationPoint, communicationStepSize);
    m->s.last_successful_time = m->s.time;
    return fmi2OK;
}

fmi2Status fmi2CancelStep(fmi2Component c) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2CancelStep", PH_STEP)) return fmi2Error;
    PT_ERR(m, "fmi2CancelStep: fmi2DoStep never returns fmi2Pending, so there is nothing to cancel");
    return fmi2Error;
}

fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *value) {
    Instance *m = (Instance *)c;
    (void)s;
    (void)value;
    if (!pt_check(m, "fmi2GetStatus", PH_STEP | PH_ERROR)) return fmi2Error;
    PT_ERR(m, "fmi2GetStatus: no asynchronous step can be pending (status kind %d)", (int)s);
    return fmi2Discard;
}

fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s, fmi2Real *value) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2GetRealStatus", PH_STEP | PH_ERROR)) return fmi2Error;
    if (pt_null(m, "fmi2GetRealStatus", value, "value")) return fmi2Error;
    if (s != fmi2LastSuccessfulTime) {
        PT_ERR(m, "fmi2GetRealStatus: only fmi2LastSuccessfulTime is provided");
        return fmi2Discard;
    }
    *value = m->s.last_successful_time;
    return fmi2OK;
}

fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *value) {
    Instance *m = (Instance *)c;
    (void)value;
    if (!pt_check(m, "fmi2GetIntegerStatus", PH_STEP | PH_ERROR)) return fmi2Error;
    PT_ERR(m, "fmi2GetIntegerStatus: no integer status of kind %d is provided", (int)s);
    return fmi2Discard;
}

fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s, fmi2Boolean *value) {
    Instance *m = (Instance *)c;
    if (!pt_check(m, "fmi2GetBooleanStatus", PH_STEP | PH_ERROR)) return fmi2Error;
    if (pt_null(m, "fmi2GetBooleanStatus", value, "value")) return fmi2Error;
    if (s != fmi2Terminated) {
        PT_ERR(m, "fmi2GetBooleanStatus: only fmi2Terminated is provided");
        return fmi2Discard;
    }
    /* the models never ask the master to stop */
    *value = fmi2False;
    return fmi2OK;
}

fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *value) {
    Instance *m = (Instance *)c;
    (void)value;
    if (!pt_check(m, "fmi2GetStringStatus", PH_STEP | PH_ERROR)) return fmi2Error;
    PT_ERR(m, "fmi2GetStringStatus: no string status of kind %d is provided", (int)s);
    return fmi2Discard;
}

#endif /* PHYSTWIN_FMI2_TEMPLATE_H */
