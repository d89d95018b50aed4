"""Generic compiled ODE solver kernels.

Three batch integrators with one signature::

    status = <name>_integrate(rhs, jac, out, ev, act, t0, t_end, x0, p, tab_t, tab_v, tab_kind,
                              t_save, ev_dir, opts, X, Y, ev_t, ev_k, stats)

and three live-stepping kernels::

    status = <name>_advance(rhs, jac, t, x, u, p, dt, opts, work, stats)

for ``<name>`` in ``rk4`` (fixed step), ``dopri5`` (Dormand–Prince 5(4), adaptive) and ``rodas``
(Rodas4 Rosenbrock, stiff). Model functions return an int64 status (0 = ok)::

    rhs(t, x, u, p, dx)   out(t, x, u, p, y)   ev(t, x, u, p, g)   jac(t, x, u, p, J)   act(t, x, u, p, k)

Dtypes (all arrays C-contiguous): ``x0, p, tab_t, t_save, opts, ev_t, stats, x, u, work``
float64 1-d; ``tab_v, X, Y`` float64 2-d; ``tab_kind, ev_dir, ev_k`` int64 1-d.
``opts = [rtol, atol, h0, hmax, max_steps, max_events, h_fixed, event_tol]`` (an optional 9th
entry 1.0 tells Rodas that ``rhs`` has no explicit time dependence);
``stats = [t_reached, accepted, rejected, n_rhs, n_jac, n_events, n_saved, n_lu]``.

The six kernels are compiled once for model functions typed as first-class functions
(:data:`RHS_SIG`, :data:`JAC_SIG`, :data:`ACT_SIG`; so ``p`` is a C-contiguous float64 vector) and
cached on disk, keyed on all solver sources: the first access to a kernel name compiles it (10-20 s,
once per machine and source version), later processes load it in a fraction of a second, and a new
model costs no solver compilation.

Calling a kernel from Python converts each model dispatcher to a function pointer (~0.1 ms per
function argument per call); a per-model ``njit(cache=False)`` wrapper that passes the model
functions as globals avoids that (it cannot be disk-cached: numba refuses to cache functions that
embed function pointers). The ``*_spec`` dispatchers in the method modules run the same code
specialised on the model dispatchers (any ``p`` type) but compile for ~10 s per model and process.
"""

from __future__ import annotations

from typing import Any

from phystwin.core.solvers._nb import ACT_SIG, ADVANCE_SIG, INTEGRATE_SIG, JAC_SIG, RHS_SIG

KERNELS = (
    "rk4_integrate",
    "dopri5_integrate",
    "rodas_integrate",
    "rk4_advance",
    "dopri5_advance",
    "rodas_advance",
)
"""Names of the six public (typed, disk-cached) kernels, built on first access."""

__all__ = [
    *KERNELS,
    "ACT_SIG",
    "ADVANCE_SIG",
    "INTEGRATE_SIG",
    "JAC_SIG",
    "KERNELS",
    "RHS_SIG",
]


def __getattr__(name: str) -> Any:
    """Build (or load from the disk cache) a typed kernel on first access."""
    if name in KERNELS:
        import importlib

        mod = importlib.import_module(f"{__name__}.{name.split('_')[0]}")
        k = getattr(mod, name)
        globals()[name] = k
        return k
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
