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

The six public kernels are compiled once for model functions typed as first-class functions
(:data:`RHS_SIG`, :data:`JAC_SIG`, :data:`ACT_SIG`, so ``p`` is a float64 vector) and cached on disk:
the first access to a kernel name compiles it (10-20 s, once per machine), later processes load it.
The ``*_spec`` variants (same arguments) are specialised on the model dispatchers themselves:
they allow any ``p`` type and let LLVM inline the model, but compile for ~10 s per model in every
process.
"""

from __future__ import annotations

from typing import Any

from phystwin.core.solvers._nb import ACT_SIG, ADVANCE_SIG, INTEGRATE_SIG, JAC_SIG, RHS_SIG
from phystwin.core.solvers.dopri5 import dopri5_advance_spec, dopri5_integrate_spec
from phystwin.core.solvers.rk4 import rk4_advance_spec, rk4_integrate_spec
from phystwin.core.solvers.rodas import rodas_advance_spec, rodas_integrate_spec

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
    "dopri5_advance_spec",
    "dopri5_integrate_spec",
    "rk4_advance_spec",
    "rk4_integrate_spec",
    "rodas_advance_spec",
    "rodas_integrate_spec",
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
