/*
 * Shared FMI 3.0 implementation (ModelExchange + CoSimulation in one binary) for the phystwin test FMUs
 * (Float64 variables, and optionally calculated Booleans).
 *
 * A model file defines, before including this header:
 *   MODEL_GUID           string literal, the instantiationToken (passed by the builder with -DMODEL_GUID=...)
 *   N_FLOAT64            number of Float64 variables; value reference == array index, VR 0 is `time`
 *   N_STATES, N_EVENT_INDICATORS
 *   STATE_VRS, DERIVATIVE_VRS          brace initialisers with Float64 value references
 *   FLOAT64_KINDS        one character per value reference: 'i' input, 'p' fixed parameter, 't' tunable
 *                        parameter, 'x' continuous state, 'c' calculated, 'T' time (never settable)
 *   CS_MAX_STEP          largest internal RK4 step of the co-simulation interface [s]
 * and implements the model hooks declared below. Optional:
 *   N_BOOLEANS           number of Boolean variables (default 0), all calculated (outputs or locals); their
 *                        value references follow the Float64 ones: N_FLOAT64 .. N_FLOAT64 + N_BOOLEANS - 1
 *   MODEL_TIME_EVENTS    the model implements model_next_event_time (time events, reported by
 *                        fmi3UpdateDiscreteStates); model exchange only
 *   MODEL_STEP_EVENTS    the model implements model_step_event (asked in fmi3CompletedIntegratorStep; the
 *                        model description then declares needsCompletedIntegratorStep="true")
 * Without event indicators, time events and step events, model_event_indicators and model_event have defaults.
 * The version-independent numerics (RK4, event location of the co-simulation step) are in pt_numerics.h,
 * shared with fmi2_template.h. Clocks, scheduled execution and the other types are not used by these models;
 * their entry points exist (fmpy may resolve them) and report a clear error.
 */
#ifndef PHYSTWIN_FMI3_TEMPLATE_H
#define PHYSTWIN_FMI3_TEMPLATE_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmi3Functions.h"

#ifndef MODEL_GUID
#error "MODEL_GUID must be defined (the builder passes -DMODEL_GUID=...)"
#endif

#ifndef N_BOOLEANS
#define N_BOOLEANS 0
#endif

#define PT_ALLOC(n) ((n) > 0 ? (n) : 1)

typedef struct {
    fmi3Float64 r[N_FLOAT64]; /* r[0] mirrors the current time */
    fmi3Boolean b[PT_ALLOC(N_BOOLEANS)];
    fmi3Float64 last_successful_time;
} ModelState;

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

typedef enum { PT_ME, PT_CS } PtType;

typedef struct {
    ModelState s;
    char *instance_name;
    PtType type;
    fmi3InstanceEnvironment env;
    fmi3LogMessageCallback log;
    fmi3Boolean logging_on;
    int phase;
} Instance;

static void model_defaults(Instance *m);
static void model_update(Instance *m);
static void model_event_indicators(Instance *m, fmi3Float64 z[]);
/* handle a state or time event; return nonzero when continuous states changed */
static int model_event(Instance *m);
static fmi3Status model_validate(Instance *m);
/* defaults for the hooks a model without state events, time events, step events or faults does not need */
#if N_EVENT_INDICATORS == 0
static void model_event_indicators(Instance *m, fmi3Float64 z[]) {
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
#ifdef MODEL_TIME_EVENTS
/* 1 and the next time event in *t if one is scheduled, else 0 */
static int model_next_event_time(Instance *m, fmi3Float64 *t);
#endif
#ifdef MODEL_STEP_EVENTS
/* 1 if the importer should enter event mode at the end of the integrator step just completed */
static int model_step_event(Instance *m);
#endif

static const fmi3ValueReference pt_state_vrs[PT_ALLOC(N_STATES)] = STATE_VRS;
static const fmi3ValueReference pt_derivative_vrs[PT_ALLOC(N_STATES)] = DERIVATIVE_VRS;
static const char pt_kinds[] = FLOAT64_KINDS;

static void pt_log(Instance *m, fmi3Status status, const char *category, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (m == NULL || m->log == NULL) return;
    /* errors are always reported: the caller needs to know why a call failed even with logging off */
    if (status == fmi3OK && !m->logging_on) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    m->log(m->env, status, category, buf);
}

#define PT_ERR(m, ...) pt_log((m), fmi3Error, "logStatusError", __VA_ARGS__)

static int pt_check(Instance *m, const char *fn, int allowed) {
    if (m == NULL) return 0;
    if (m->phase == PH_FATAL) {
        PT_ERR(m, "%s: instance is in fatal state; only fmi3FreeInstance is allowed", fn);
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
typedef fmi3Float64 pt_real;
#define PT_TIME(m) (m)->s.r[0]
#define PT_LOG_OK fmi3OK
#include "pt_numerics.h"

const char *fmi3GetVersion(void) { return fmi3Version; }

fmi3Status fmi3SetDebugLogging(fmi3Instance instance, fmi3Boolean loggingOn, size_t nCategories,
                               const fmi3String categories[]) {
    Instance *m = (Instance *)instance;
    if (m == NULL) return fmi3Error;
    if (nCategories > 0 && pt_null(m, "fmi3SetDebugLogging", categories, "categories")) return fmi3Error;
    m->logging_on = loggingOn;
    return fmi3OK;
}

static Instance *pt_instantiate(fmi3String instanceName, fmi3String token, fmi3Boolean loggingOn,
                                fmi3InstanceEnvironment env, fmi3LogMessageCallback logMessage, PtType type) {
    Instance *m;
    size_t len;
    if (instanceName == NULL || instanceName[0] == '\0') {
        if (logMessage) logMessage(env, fmi3Error, "logStatusError", "fmi3Instantiate: missing instance name");
        return NULL;
    }
    if (token == NULL || strcmp(token, MODEL_GUID) != 0) {
        if (logMessage)
            logMessage(env, fmi3Error, "logStatusError",
                       "fmi3Instantiate: instantiationToken does not match the binary's token " MODEL_GUID);
        return NULL;
    }
    m = (Instance *)calloc(1, sizeof(Instance));
    if (m == NULL) return NULL;
    len = strlen(instanceName) + 1;
    m->instance_name = (char *)malloc(len);
    if (m->instance_name == NULL) {
        free(m);
        return NULL;
    }
    memcpy(m->instance_name, instanceName, len);
    m->type = type;
    m->env = env;
    m->log = logMessage;
    m->logging_on = loggingOn;
    m->phase = PH_INSTANTIATED;
    model_defaults(m);
    return m;
}

fmi3Instance fmi3InstantiateModelExchange(fmi3String instanceName, fmi3String instantiationToken,
                                          fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                          fmi3InstanceEnvironment instanceEnvironment,
                                          fmi3LogMessageCallback logMessage) {
    (void)resourcePath;
    (void)visible;
    return pt_instantiate(instanceName, instantiationToken, loggingOn, instanceEnvironment, logMessage, PT_ME);
}

fmi3Instance fmi3InstantiateCoSimulation(fmi3String instanceName, fmi3String instantiationToken,
                                         fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                         fmi3Boolean eventModeUsed, fmi3Boolean earlyReturnAllowed,
                                         const fmi3ValueReference requiredIntermediateVariables[],
                                         size_t nRequiredIntermediateVariables,
                                         fmi3InstanceEnvironment instanceEnvironment,
                                         fmi3LogMessageCallback logMessage,
                                         fmi3IntermediateUpdateCallback intermediateUpdate) {
    (void)resourcePath;
    (void)visible;
    (void)earlyReturnAllowed;
    (void)requiredIntermediateVariables;
    (void)intermediateUpdate;
    if (eventModeUsed || nRequiredIntermediateVariables > 0) {
        if (logMessage)
            logMessage(instanceEnvironment, fmi3Error, "logStatusError",
                       "fmi3InstantiateCoSimulation: event mode and intermediate variables are not supported");
        return NULL;
    }
    return pt_instantiate(instanceName, instantiationToken, loggingOn, instanceEnvironment, logMessage, PT_CS);
}

fmi3Instance fmi3InstantiateScheduledExecution(fmi3String instanceName, fmi3String instantiationToken,
                                               fmi3String resourcePath, fmi3Boolean visible, fmi3Boolean loggingOn,
                                               fmi3InstanceEnvironment instanceEnvironment,
                                               fmi3LogMessageCallback logMessage, fmi3ClockUpdateCallback clockUpdate,
                                               fmi3LockPreemptionCallback lockPreemption,
                                               fmi3UnlockPreemptionCallback unlockPreemption) {
    (void)instanceName;
    (void)instantiationToken;
    (void)resourcePath;
    (void)visible;
    (void)loggingOn;
    (void)clockUpdate;
    (void)lockPreemption;
    (void)unlockPreemption;
    if (logMessage)
        logMessage(instanceEnvironment, fmi3Error, "logStatusError",
                   "fmi3InstantiateScheduledExecution: this FMU supports ModelExchange and CoSimulation only");
    return NULL;
}

void fmi3FreeInstance(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (m == NULL) return;
    free(m->instance_name);
    free(m);
}

fmi3Status fmi3EnterInitializationMode(fmi3Instance instance, fmi3Boolean toleranceDefined, fmi3Float64 tolerance,
                                       fmi3Float64 startTime, fmi3Boolean stopTimeDefined, fmi3Float64 stopTime) {
    Instance *m = (Instance *)instance;
    (void)toleranceDefined;
    (void)tolerance;
    if (!pt_check(m, "fmi3EnterInitializationMode", PH_INSTANTIATED)) return fmi3Error;
    if (stopTimeDefined && stopTime < startTime) {
        PT_ERR(m, "fmi3EnterInitializationMode: stopTime %g < startTime %g", stopTime, startTime);
        return fmi3Error;
    }
    m->s.r[0] = startTime;
    m->s.last_successful_time = startTime;
    m->phase = PH_INIT;
    return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3ExitInitializationMode", PH_INIT)) return fmi3Error;
    if (model_validate(m) != fmi3OK) {
        m->phase = PH_ERROR;
        return fmi3Error;
    }
    model_update(m);
    m->phase = (m->type == PT_ME) ? PH_EVENT : PH_STEP;
    return fmi3OK;
}

fmi3Status fmi3EnterEventMode(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3EnterEventMode", PH_EVENT | PH_CONT)) return fmi3Error;
    if (m->type != PT_ME) {
        PT_ERR(m, "fmi3EnterEventMode: Co-Simulation event mode is not supported");
        return fmi3Error;
    }
    m->phase = PH_EVENT;
    return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3Terminate", PH_EVENT | PH_CONT | PH_STEP | PH_ERROR)) return fmi3Error;
    m->phase = PH_TERMINATED;
    return fmi3OK;
}

fmi3Status fmi3Reset(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3Reset", PH_ANY_ALIVE | PH_ERROR)) return fmi3Error;
    memset(&m->s, 0, sizeof(m->s));
    model_defaults(m);
    m->phase = PH_INSTANTIATED;
    return fmi3OK;
}

static int pt_vr_ok(Instance *m, const char *fn, fmi3ValueReference vr) {
    if (vr >= (fmi3ValueReference)N_FLOAT64) {
        PT_ERR(m, "%s: unknown value reference %u (valid: 0..%d)", fn, (unsigned)vr, N_FLOAT64 - 1);
        return 0;
    }
    return 1;
}

fmi3Status fmi3GetFloat64(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          fmi3Float64 values[], size_t nValues) {
    Instance *m = (Instance *)instance;
    size_t k;
    if (!pt_check(m, "fmi3GetFloat64", PH_ANY_ALIVE | PH_ERROR)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    if (pt_null(m, "fmi3GetFloat64", valueReferences, "valueReferences") ||
        pt_null(m, "fmi3GetFloat64", values, "values"))
        return fmi3Error;
    if (nValues != nValueReferences) {
        PT_ERR(m, "fmi3GetFloat64: nValues %lu != nValueReferences %lu (all variables are scalars)",
               (unsigned long)nValues, (unsigned long)nValueReferences);
        return fmi3Error;
    }
    if (m->phase != PH_ERROR) model_update(m);
    for (k = 0; k < nValueReferences; k++) {
        if (!pt_vr_ok(m, "fmi3GetFloat64", valueReferences[k])) return fmi3Error;
        values[k] = m->s.r[valueReferences[k]];
    }
    return fmi3OK;
}

fmi3Status fmi3SetFloat64(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          const fmi3Float64 values[], size_t nValues) {
    Instance *m = (Instance *)instance;
    size_t k;
    int before_init;
    if (!pt_check(m, "fmi3SetFloat64", PH_INSTANTIATED | PH_RUNNING)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    if (pt_null(m, "fmi3SetFloat64", valueReferences, "valueReferences") ||
        pt_null(m, "fmi3SetFloat64", values, "values"))
        return fmi3Error;
    if (nValues != nValueReferences) {
        PT_ERR(m, "fmi3SetFloat64: nValues %lu != nValueReferences %lu (all variables are scalars)",
               (unsigned long)nValues, (unsigned long)nValueReferences);
        return fmi3Error;
    }
    before_init = (m->phase & (PH_INSTANTIATED | PH_INIT)) != 0;
    for (k = 0; k < nValueReferences; k++) {
        fmi3ValueReference vr = valueReferences[k];
        char kind;
        if (!pt_vr_ok(m, "fmi3SetFloat64", vr)) return fmi3Error;
        kind = pt_kinds[vr];
        /* inputs and tunable parameters any time; fixed parameters and state starts only before initialisation */
        if (!(kind == 'i' || kind == 't' || ((kind == 'p' || kind == 'x') && before_init))) {
            PT_ERR(m, "fmi3SetFloat64: value reference %u cannot be set in the current state (kind '%c')",
                   (unsigned)vr, kind);
            return fmi3Error;
        }
        m->s.r[vr] = values[k];
    }
    return fmi3OK;
}

/* the models have Float64 (and Boolean) variables only; the other typed accessors accept empty calls and reject
   the rest */
#define PT_NO_TYPE_GET(NAME, CTYPE)                                                                         \
    fmi3Status NAME(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences, \
                    CTYPE values[], size_t nValues) {                                                        \
        Instance *m = (Instance *)instance;                                                                  \
        (void)valueReferences;                                                                               \
        (void)values;                                                                                        \
        (void)nValues;                                                                                       \
        if (!pt_check(m, #NAME, PH_ANY_ALIVE | PH_ERROR)) return fmi3Error;                                  \
        if (nValueReferences == 0) return fmi3OK;                                                            \
        PT_ERR(m, "%s: this model has no variables of that type", #NAME);                                    \
        return fmi3Error;                                                                                    \
    }
#define PT_NO_TYPE_SET(NAME, CTYPE)                                                                         \
    fmi3Status NAME(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences, \
                    const CTYPE values[], size_t nValues) {                                                  \
        Instance *m = (Instance *)instance;                                                                  \
        (void)valueReferences;                                                                               \
        (void)values;                                                                                        \
        (void)nValues;                                                                                       \
        if (!pt_check(m, #NAME, PH_INSTANTIATED | PH_RUNNING)) return fmi3Error;                             \
        if (nValueReferences == 0) return fmi3OK;                                                            \
        PT_ERR(m, "%s: this model has no variables of that type", #NAME);                                    \
        return fmi3Error;                                                                                    \
    }

PT_NO_TYPE_GET(fmi3GetFloat32, fmi3Float32)
PT_NO_TYPE_GET(fmi3GetInt8, fmi3Int8)
PT_NO_TYPE_GET(fmi3GetUInt8, fmi3UInt8)
PT_NO_TYPE_GET(fmi3GetInt16, fmi3Int16)
PT_NO_TYPE_GET(fmi3GetUInt16, fmi3UInt16)
PT_NO_TYPE_GET(fmi3GetInt32, fmi3Int32)
PT_NO_TYPE_GET(fmi3GetUInt32, fmi3UInt32)
PT_NO_TYPE_GET(fmi3GetInt64, fmi3Int64)
PT_NO_TYPE_GET(fmi3GetUInt64, fmi3UInt64)
PT_NO_TYPE_GET(fmi3GetString, fmi3String)
PT_NO_TYPE_SET(fmi3SetFloat32, fmi3Float32)
PT_NO_TYPE_SET(fmi3SetInt8, fmi3Int8)
PT_NO_TYPE_SET(fmi3SetUInt8, fmi3UInt8)
PT_NO_TYPE_SET(fmi3SetInt16, fmi3Int16)
PT_NO_TYPE_SET(fmi3SetUInt16, fmi3UInt16)
PT_NO_TYPE_SET(fmi3SetInt32, fmi3Int32)
PT_NO_TYPE_SET(fmi3SetUInt32, fmi3UInt32)
PT_NO_TYPE_SET(fmi3SetInt64, fmi3Int64)
PT_NO_TYPE_SET(fmi3SetUInt64, fmi3UInt64)
PT_NO_TYPE_SET(fmi3SetString, fmi3String)

fmi3Status fmi3GetBoolean(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          fmi3Boolean values[], size_t nValues) {
    Instance *m = (Instance *)instance;
    size_t k;
    if (!pt_check(m, "fmi3GetBoolean", PH_ANY_ALIVE | PH_ERROR)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    if (pt_null(m, "fmi3GetBoolean", valueReferences, "valueReferences") ||
        pt_null(m, "fmi3GetBoolean", values, "values"))
        return fmi3Error;
    if (nValues != nValueReferences) {
        PT_ERR(m, "fmi3GetBoolean: nValues %lu != nValueReferences %lu (all variables are scalars)",
               (unsigned long)nValues, (unsigned long)nValueReferences);
        return fmi3Error;
    }
    for (k = 0; k < nValueReferences; k++) {
        fmi3ValueReference vr = valueReferences[k];
        if (vr < (fmi3ValueReference)N_FLOAT64 || vr >= (fmi3ValueReference)(N_FLOAT64 + N_BOOLEANS)) {
            PT_ERR(m, "fmi3GetBoolean: %u is not the value reference of a Boolean variable", (unsigned)vr);
            return fmi3Error;
        }
        values[k] = m->s.b[vr - N_FLOAT64];
    }
    return fmi3OK;
}

fmi3Status fmi3SetBoolean(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                          const fmi3Boolean values[], size_t nValues) {
    Instance *m = (Instance *)instance;
    (void)valueReferences;
    (void)values;
    (void)nValues;
    if (!pt_check(m, "fmi3SetBoolean", PH_INSTANTIATED | PH_RUNNING)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    /* every Boolean of these models is calculated */
    PT_ERR(m, "fmi3SetBoolean: this model has no settable Boolean variables");
    return fmi3Error;
}

fmi3Status fmi3GetBinary(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                         size_t valueSizes[], fmi3Binary values[], size_t nValues) {
    Instance *m = (Instance *)instance;
    (void)valueReferences;
    (void)valueSizes;
    (void)values;
    (void)nValues;
    if (!pt_check(m, "fmi3GetBinary", PH_ANY_ALIVE | PH_ERROR)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    PT_ERR(m, "fmi3GetBinary: this model has no Binary variables");
    return fmi3Error;
}

fmi3Status fmi3SetBinary(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                         const size_t valueSizes[], const fmi3Binary values[], size_t nValues) {
    Instance *m = (Instance *)instance;
    (void)valueReferences;
    (void)valueSizes;
    (void)values;
    (void)nValues;
    if (!pt_check(m, "fmi3SetBinary", PH_INSTANTIATED | PH_RUNNING)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    PT_ERR(m, "fmi3SetBinary: this model has no Binary variables");
    return fmi3Error;
}

fmi3Status fmi3GetClock(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                        fmi3Clock values[]) {
    Instance *m = (Instance *)instance;
    (void)valueReferences;
    (void)values;
    if (!pt_check(m, "fmi3GetClock", PH_ANY_ALIVE)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    PT_ERR(m, "fmi3GetClock: this model has no clocks");
    return fmi3Error;
}

fmi3Status fmi3SetClock(fmi3Instance instance, const fmi3ValueReference valueReferences[], size_t nValueReferences,
                        const fmi3Clock values[]) {
    Instance *m = (Instance *)instance;
    (void)valueReferences;
    (void)values;
    if (!pt_check(m, "fmi3SetClock", PH_ANY_ALIVE)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    PT_ERR(m, "fmi3SetClock: this model has no clocks");
    return fmi3Error;
}

fmi3Status fmi3GetNumberOfVariableDependencies(fmi3Instance instance, fmi3ValueReference valueReference,
                                               size_t *nDependencies) {
    Instance *m = (Instance *)instance;
    (void)valueReference;
    (void)nDependencies;
    if (!pt_check(m, "fmi3GetNumberOfVariableDependencies", PH_ANY_ALIVE)) return fmi3Error;
    PT_ERR(m, "fmi3GetNumberOfVariableDependencies: dependencies are not provided at run time");
    return fmi3Error;
}

fmi3Status fmi3GetVariableDependencies(fmi3Instance instance, fmi3ValueReference dependent,
                                       size_t elementIndicesOfDependent[], fmi3ValueReference independents[],
                                       size_t elementIndicesOfIndependents[], fmi3DependencyKind dependencyKinds[],
                                       size_t nDependencies) {
    Instance *m = (Instance *)instance;
    (void)dependent;
    (void)elementIndicesOfDependent;
    (void)independents;
    (void)elementIndicesOfIndependents;
    (void)dependencyKinds;
    (void)nDependencies;
    if (!pt_check(m, "fmi3GetVariableDependencies", PH_ANY_ALIVE)) return fmi3Error;
    PT_ERR(m, "fmi3GetVariableDependencies: dependencies are not provided at run time");
    return fmi3Error;
}

#define PT_STATE_TAG "PTWNST03"

fmi3Status fmi3GetFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3GetFMUState", PH_ANY_ALIVE)) return fmi3Error;
    if (pt_null(m, "fmi3GetFMUState", FMUState, "FMUState")) return fmi3Error;
    if (*FMUState == NULL) {
        *FMUState = malloc(sizeof(ModelState));
        if (*FMUState == NULL) {
            PT_ERR(m, "fmi3GetFMUState: out of memory");
            return fmi3Error;
        }
    }
    memcpy(*FMUState, &m->s, sizeof(ModelState));
    return fmi3OK;
}

fmi3Status fmi3SetFMUState(fmi3Instance instance, fmi3FMUState FMUState) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3SetFMUState", PH_ANY_ALIVE)) return fmi3Error;
    if (pt_null(m, "fmi3SetFMUState", FMUState, "FMUState")) return fmi3Error;
    memcpy(&m->s, FMUState, sizeof(ModelState));
    return fmi3OK;
}

fmi3Status fmi3FreeFMUState(fmi3Instance instance, fmi3FMUState *FMUState) {
    if (instance == NULL) return fmi3Error;
    if (FMUState == NULL || *FMUState == NULL) return fmi3OK;
    free(*FMUState);
    *FMUState = NULL;
    return fmi3OK;
}

fmi3Status fmi3SerializedFMUStateSize(fmi3Instance instance, fmi3FMUState FMUState, size_t *size) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3SerializedFMUStateSize", PH_ANY_ALIVE)) return fmi3Error;
    if (pt_null(m, "fmi3SerializedFMUStateSize", FMUState, "FMUState") ||
        pt_null(m, "fmi3SerializedFMUStateSize", size, "size"))
        return fmi3Error;
    *size = 8 + sizeof(ModelState);
    return fmi3OK;
}

fmi3Status fmi3SerializeFMUState(fmi3Instance instance, fmi3FMUState FMUState, fmi3Byte serializedState[],
                                 size_t size) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3SerializeFMUState", PH_ANY_ALIVE)) return fmi3Error;
    if (pt_null(m, "fmi3SerializeFMUState", FMUState, "FMUState") ||
        pt_null(m, "fmi3SerializeFMUState", serializedState, "serializedState"))
        return fmi3Error;
    if (size < 8 + sizeof(ModelState)) {
        PT_ERR(m, "fmi3SerializeFMUState: buffer of %lu bytes is too small", (unsigned long)size);
        return fmi3Error;
    }
    memcpy(serializedState, PT_STATE_TAG, 8);
    memcpy(serializedState + 8, FMUState, sizeof(ModelState));
    return fmi3OK;
}

fmi3Status fmi3DeserializeFMUState(fmi3Instance instance, const fmi3Byte serializedState[], size_t size,
                                   fmi3FMUState *FMUState) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3DeserializeFMUState", PH_ANY_ALIVE)) return fmi3Error;
    if (pt_null(m, "fmi3DeserializeFMUState", serializedState, "serializedState") ||
        pt_null(m, "fmi3DeserializeFMUState", FMUState, "FMUState"))
        return fmi3Error;
    if (size != 8 + sizeof(ModelState) || memcmp(serializedState, PT_STATE_TAG, 8) != 0) {
        PT_ERR(m, "fmi3DeserializeFMUState: bytes are not a state of this model");
        return fmi3Error;
    }
    if (*FMUState == NULL) {
        *FMUState = malloc(sizeof(ModelState));
        if (*FMUState == NULL) {
            PT_ERR(m, "fmi3DeserializeFMUState: out of memory");
            return fmi3Error;
        }
    }
    memcpy(*FMUState, serializedState + 8, sizeof(ModelState));
    return fmi3OK;
}

#define PT_NO_DERIVATIVE(NAME, WHAT)                                                                       \
    fmi3Status NAME(fmi3Instance instance, const fmi3ValueReference unknowns[], size_t nUnknowns,           \
                    const fmi3ValueReference knowns[], size_t nKnowns, const fmi3Float64 seed[], size_t nSeed, \
                    fmi3Float64 sensitivity[], size_t nSensitivity) {                                       \
        Instance *m = (Instance *)instance;                                                                 \
        (void)unknowns;                                                                                     \
        (void)nUnknowns;                                                                                    \
        (void)knowns;                                                                                       \
        (void)nKnowns;                                                                                      \
        (void)seed;                                                                                         \
        (void)nSeed;                                                                                        \
        (void)sensitivity;                                                                                  \
        (void)nSensitivity;                                                                                 \
        if (!pt_check(m, #NAME, PH_ANY_ALIVE)) return fmi3Error;                                            \
        PT_ERR(m, "%s: %s is false for this model", #NAME, WHAT);                                           \
        return fmi3Error;                                                                                   \
    }
PT_NO_DERIVATIVE(fmi3GetDirectionalDerivative, "providesDirectionalDerivative")
PT_NO_DERIVATIVE(fmi3GetAdjointDerivative, "providesAdjointDerivatives")

fmi3Status fmi3EnterConfigurationMode(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3EnterConfigurationMode", PH_ANY_ALIVE)) return fmi3Error;
    PT_ERR(m, "fmi3EnterConfigurationMode: the model has no structural parameters");
    return fmi3Error;
}

fmi3Status fmi3ExitConfigurationMode(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3ExitConfigurationMode", PH_ANY_ALIVE)) return fmi3Error;
    PT_ERR(m, "fmi3ExitConfigurationMode: the model has no structural parameters");
    return fmi3Error;
}

/* clock interval and shift accessors: the model has no clocks */
static fmi3Status pt_no_clocks(fmi3Instance instance, const char *fn, size_t n) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, fn, PH_ANY_ALIVE)) return fmi3Error;
    if (n == 0) return fmi3OK;
    PT_ERR(m, "%s: this model has no clocks", fn);
    return fmi3Error;
}

fmi3Status fmi3GetIntervalDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                  size_t nValueReferences, fmi3Float64 intervals[],
                                  fmi3IntervalQualifier qualifiers[]) {
    (void)valueReferences;
    (void)intervals;
    (void)qualifiers;
    return pt_no_clocks(instance, "fmi3GetIntervalDecimal", nValueReferences);
}

fmi3Status fmi3GetIntervalFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                   size_t nValueReferences, fmi3UInt64 counters[], fmi3UInt64 resolutions[],
                                   fmi3IntervalQualifier qualifiers[]) {
    (void)valueReferences;
    (void)counters;
    (void)resolutions;
    (void)qualifiers;
    return pt_no_clocks(instance, "fmi3GetIntervalFraction", nValueReferences);
}

fmi3Status fmi3GetShiftDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                               size_t nValueReferences, fmi3Float64 shifts[]) {
    (void)valueReferences;
    (void)shifts;
    return pt_no_clocks(instance, "fmi3GetShiftDecimal", nValueReferences);
}

fmi3Status fmi3GetShiftFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                size_t nValueReferences, fmi3UInt64 counters[], fmi3UInt64 resolutions[]) {
    (void)valueReferences;
    (void)counters;
    (void)resolutions;
    return pt_no_clocks(instance, "fmi3GetShiftFraction", nValueReferences);
}

fmi3Status fmi3SetIntervalDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                  size_t nValueReferences, const fmi3Float64 intervals[]) {
    (void)valueReferences;
    (void)intervals;
    return pt_no_clocks(instance, "fmi3SetIntervalDecimal", nValueReferences);
}

fmi3Status fmi3SetIntervalFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                   size_t nValueReferences, const fmi3UInt64 counters[],
                                   const fmi3UInt64 resolutions[]) {
    (void)valueReferences;
    (void)counters;
    (void)resolutions;
    return pt_no_clocks(instance, "fmi3SetIntervalFraction", nValueReferences);
}

fmi3Status fmi3SetShiftDecimal(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                               size_t nValueReferences, const fmi3Float64 shifts[]) {
    (void)valueReferences;
    (void)shifts;
    return pt_no_clocks(instance, "fmi3SetShiftDecimal", nValueReferences);
}

fmi3Status fmi3SetShiftFraction(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                size_t nValueReferences, const fmi3UInt64 counters[],
                                const fmi3UInt64 resolutions[]) {
    (void)valueReferences;
    (void)counters;
    (void)resolutions;
    return pt_no_clocks(instance, "fmi3SetShiftFraction", nValueReferences);
}

fmi3Status fmi3EvaluateDiscreteStates(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3EvaluateDiscreteStates", PH_STEP)) return fmi3Error;
    return fmi3OK;
}

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance instance, fmi3Boolean *discreteStatesNeedUpdate,
                                    fmi3Boolean *terminateSimulation, fmi3Boolean *nominalsOfContinuousStatesChanged,
                                    fmi3Boolean *valuesOfContinuousStatesChanged, fmi3Boolean *nextEventTimeDefined,
                                    fmi3Float64 *nextEventTime) {
    Instance *m = (Instance *)instance;
    int changed, time_event = 0;
    fmi3Float64 next = 0.0;
    if (!pt_check(m, "fmi3UpdateDiscreteStates", PH_EVENT)) return fmi3Error;
    model_update(m);
    changed = model_event(m);
    model_update(m);
#ifdef MODEL_TIME_EVENTS
    time_event = model_next_event_time(m, &next);
#endif
    /* every output argument is optional in FMI 3.0 */
    if (discreteStatesNeedUpdate) *discreteStatesNeedUpdate = false;
    if (terminateSimulation) *terminateSimulation = false;
    if (nominalsOfContinuousStatesChanged) *nominalsOfContinuousStatesChanged = false;
    if (valuesOfContinuousStatesChanged) *valuesOfContinuousStatesChanged = changed ? true : false;
    if (nextEventTimeDefined) *nextEventTimeDefined = time_event ? true : false;
    if (nextEventTime) *nextEventTime = time_event ? next : 0.0;
    return fmi3OK;
}

#define PT_ME_ONLY(m, fn)                                                          \
    if ((m)->type != PT_ME) {                                                      \
        PT_ERR((m), "%s: only available for ModelExchange instances", (fn));       \
        return fmi3Error;                                                          \
    }

fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3EnterContinuousTimeMode", PH_EVENT)) return fmi3Error;
    PT_ME_ONLY(m, "fmi3EnterContinuousTimeMode");
    m->phase = PH_CONT;
    return fmi3OK;
}

fmi3Status fmi3CompletedIntegratorStep(fmi3Instance instance, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                                       fmi3Boolean *enterEventMode, fmi3Boolean *terminateSimulation) {
    Instance *m = (Instance *)instance;
    (void)noSetFMUStatePriorToCurrentPoint;
    if (!pt_check(m, "fmi3CompletedIntegratorStep", PH_CONT)) return fmi3Error;
    PT_ME_ONLY(m, "fmi3CompletedIntegratorStep");
    if (pt_null(m, "fmi3CompletedIntegratorStep", enterEventMode, "enterEventMode") ||
        pt_null(m, "fmi3CompletedIntegratorStep", terminateSimulation, "terminateSimulation"))
        return fmi3Error;
#ifdef MODEL_STEP_EVENTS
    model_update(m);
    *enterEventMode = model_step_event(m) ? true : false;
#else
    *enterEventMode = false;
#endif
    *terminateSimulation = false;
    m->s.last_successful_time = m->s.r[0];
    return fmi3OK;
}

fmi3Status fmi3SetTime(fmi3Instance instance, fmi3Float64 time) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3SetTime", PH_EVENT | PH_CONT)) return fmi3Error;
    PT_ME_ONLY(m, "fmi3SetTime");
    m->s.r[0] = time;
    return fmi3OK;
}

static int pt_nx_ok(Instance *m, const char *fn, size_t n, size_t expected, const void *p) {
    if (n != expected) {
        PT_ERR(m, "%s: got %lu elements, the model has %lu", fn, (unsigned long)n, (unsigned long)expected);
        return 0;
    }
    return n == 0 || !pt_null(m, fn, p, "array");
}

fmi3Status fmi3SetContinuousStates(fmi3Instance instance, const fmi3Float64 continuousStates[],
                                   size_t nContinuousStates) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3SetContinuousStates", PH_CONT)) return fmi3Error;
    PT_ME_ONLY(m, "fmi3SetContinuousStates");
    if (!pt_nx_ok(m, "fmi3SetContinuousStates", nContinuousStates, N_STATES, continuousStates)) return fmi3Error;
    pt_set_states(m, continuousStates);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance instance, fmi3Float64 derivatives[],
                                             size_t nContinuousStates) {
    Instance *m = (Instance *)instance;
    size_t k;
    if (!pt_check(m, "fmi3GetContinuousStateDerivatives", PH_INIT | PH_EVENT | PH_CONT | PH_TERMINATED))
        return fmi3Error;
    PT_ME_ONLY(m, "fmi3GetContinuousStateDerivatives");
    if (!pt_nx_ok(m, "fmi3GetContinuousStateDerivatives", nContinuousStates, N_STATES, derivatives))
        return fmi3Error;
    model_update(m);
    for (k = 0; k < nContinuousStates; k++) derivatives[k] = m->s.r[pt_derivative_vrs[k]];
    return fmi3OK;
}

fmi3Status fmi3GetEventIndicators(fmi3Instance instance, fmi3Float64 eventIndicators[], size_t nEventIndicators) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3GetEventIndicators", PH_INIT | PH_EVENT | PH_CONT | PH_TERMINATED)) return fmi3Error;
    PT_ME_ONLY(m, "fmi3GetEventIndicators");
    if (!pt_nx_ok(m, "fmi3GetEventIndicators", nEventIndicators, N_EVENT_INDICATORS, eventIndicators))
        return fmi3Error;
    if (nEventIndicators == 0) return fmi3OK;
    model_update(m);
    model_event_indicators(m, eventIndicators);
    return fmi3OK;
}

fmi3Status fmi3GetContinuousStates(fmi3Instance instance, fmi3Float64 continuousStates[], size_t nContinuousStates) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3GetContinuousStates", PH_INIT | PH_EVENT | PH_CONT | PH_TERMINATED)) return fmi3Error;
    PT_ME_ONLY(m, "fmi3GetContinuousStates");
    if (!pt_nx_ok(m, "fmi3GetContinuousStates", nContinuousStates, N_STATES, continuousStates)) return fmi3Error;
    pt_get_states(m, continuousStates);
    return fmi3OK;
}

fmi3Status fmi3GetNominalsOfContinuousStates(fmi3Instance instance, fmi3Float64 nominals[],
                                             size_t nContinuousStates) {
    Instance *m = (Instance *)instance;
    size_t k;
    if (!pt_check(m, "fmi3GetNominalsOfContinuousStates", PH_ANY_ALIVE)) return fmi3Error;
    PT_ME_ONLY(m, "fmi3GetNominalsOfContinuousStates");
    if (!pt_nx_ok(m, "fmi3GetNominalsOfContinuousStates", nContinuousStates, N_STATES, nominals)) return fmi3Error;
    for (k = 0; k < nContinuousStates; k++) nominals[k] = 1.0;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfEventIndicators(fmi3Instance instance, size_t *nEventIndicators) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3GetNumberOfEventIndicators", PH_ANY_ALIVE)) return fmi3Error;
    if (pt_null(m, "fmi3GetNumberOfEventIndicators", nEventIndicators, "nEventIndicators")) return fmi3Error;
    *nEventIndicators = N_EVENT_INDICATORS;
    return fmi3OK;
}

fmi3Status fmi3GetNumberOfContinuousStates(fmi3Instance instance, size_t *nContinuousStates) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3GetNumberOfContinuousStates", PH_ANY_ALIVE)) return fmi3Error;
    if (pt_null(m, "fmi3GetNumberOfContinuousStates", nContinuousStates, "nContinuousStates")) return fmi3Error;
    *nContinuousStates = N_STATES;
    return fmi3OK;
}

fmi3Status fmi3EnterStepMode(fmi3Instance instance) {
    Instance *m = (Instance *)instance;
    if (!pt_check(m, "fmi3EnterStepMode", PH_EVENT | PH_STEP)) return fmi3Error;
    if (m->type != PT_CS) {
        PT_ERR(m, "fmi3EnterStepMode: only available for CoSimulation instances");
        return fmi3Error;
    }
    m->phase = PH_STEP;
    return fmi3OK;
}

fmi3Status fmi3GetOutputDerivatives(fmi3Instance instance, const fmi3ValueReference valueReferences[],
                                    size_t nValueReferences, const fmi3Int32 orders[], fmi3Float64 values[],
                                    size_t nValues) {
    Instance *m = (Instance *)instance;
    (void)valueReferences;
    (void)orders;
    (void)values;
    (void)nValues;
    if (!pt_check(m, "fmi3GetOutputDerivatives", PH_STEP | PH_ERROR)) return fmi3Error;
    if (nValueReferences == 0) return fmi3OK;
    PT_ERR(m, "fmi3GetOutputDerivatives: maxOutputDerivativeOrder is 0");
    return fmi3Error;
}

fmi3Status fmi3DoStep(fmi3Instance instance, fmi3Float64 currentCommunicationPoint,
                      fmi3Float64 communicationStepSize, fmi3Boolean noSetFMUStatePriorToCurrentPoint,
                      fmi3Boolean *eventHandlingNeeded, fmi3Boolean *terminateSimulation, fmi3Boolean *earlyReturn,
                      fmi3Float64 *lastSuccessfulTime) {
    Instance *m = (Instance *)instance;
    fmi3Float64 tol;
    (void)noSetFMUStatePriorToCurrentPoint;
    if (!pt_check(m, "fmi3DoStep", PH_STEP)) return fmi3Error;
    if (m->type != PT_CS) {
        PT_ERR(m, "fmi3DoStep: only available for CoSimulation instances");
        return fmi3Error;
    }
    if (pt_null(m, "fmi3DoStep", eventHandlingNeeded, "eventHandlingNeeded") ||
        pt_null(m, "fmi3DoStep", terminateSimulation, "terminateSimulation") ||
        pt_null(m, "fmi3DoStep", earlyReturn, "earlyReturn") ||
        pt_null(m, "fmi3DoStep", lastSuccessfulTime, "lastSuccessfulTime"))
        return fmi3Error;
    if (!(communicationStepSize >= 0.0)) {
        PT_ERR(m, "fmi3DoStep: communicationStepSize %g must be >= 0", communicationStepSize);
        return fmi3Error;
    }
    tol = 1e-9 * (1.0 + fabs(currentCommunicationPoint));
    if (fabs(currentCommunicationPoint - m->s.r[0]) > tol) {
        PT_ERR(m, "fmi3DoStep: currentCommunicationPoint %.17g does not match the FMU time %.17g",
               currentCommunicationPoint, m->s.r[0]);
        return fmi3Error;
    }
    pt_integrate(m, currentCommunicationPoint, communicationStepSize);
    m->s.last_successful_time = m->s.r[0];
    *eventHandlingNeeded = false;
    *terminateSimulation = false;
    *earlyReturn = false;
    *lastSuccessfulTime = m->s.r[0];
    return fmi3OK;
}

fmi3Status fmi3ActivateModelPartition(fmi3Instance instance, fmi3ValueReference clockReference,
                                      fmi3Float64 activationTime) {
    Instance *m = (Instance *)instance;
    (void)clockReference;
    (void)activationTime;
    if (!pt_check(m, "fmi3ActivateModelPartition", PH_ANY_ALIVE)) return fmi3Error;
    PT_ERR(m, "fmi3ActivateModelPartition: scheduled execution is not supported");
    return fmi3Error;
}

#endif /* PHYSTWIN_FMI3_TEMPLATE_H */
