"""phystwin's side of the solver benchmark: the composed dc_motor twin, one simulate call per run.

The duty cycle is an input table; phystwin's solvers stop and restart at every breakpoint inside
the compiled kernel, which is what the peers do segment by segment from Python.
"""

from __future__ import annotations

from collections.abc import Callable

import motor_reference as mr
import numpy as np

from phystwin import RK4, DormandPrince, InputSignal, Rodas, simulate
from phystwin.core.inputs import prepare_inputs
from phystwin.physics.twins import dc_motor

_MODEL = None
STATE_ORDER = ("armature_L.i", "rotor.phi", "rotor.w", "winding.T", "stator.T", "housing.T")


def model():
    """The composed, compiled twin (built once per process)."""
    global _MODEL
    if _MODEL is None:
        _MODEL = dc_motor.build().compile()
    return _MODEL


def _run_factory(variant: str, solver) -> Callable[[], tuple[np.ndarray, np.ndarray, int]]:
    v = mr.get_variant(variant)
    m = model()
    perm = [m.layout.state_index(n) for n in STATE_ORDER]
    edges = mr.segment_edges(v)[:-1]
    us = mr.segment_inputs(v)
    inputs = {
        "voltage": InputSignal(edges, us[:, 0]),
        "load_torque": InputSignal(edges, us[:, 1]),
        "ambient_temperature": float(us[0, 2]),
    }
    prepared = prepare_inputs(m, inputs)  # converted once, as a calibration loop would
    params = {"armature_L.L": v.L}
    ts = mr.save_times(v)
    x0 = m.initial_state()

    def run() -> tuple[np.ndarray, np.ndarray, int]:
        traj = simulate(m, (0.0, v.t_end), inputs=prepared, params=params, x0=x0, solver=solver, save=ts)
        return traj.t, traj.x[:, perm], int(traj.stats["n_rhs"])

    return run


def entries(variant: str) -> list[tuple[str, Callable[[], tuple[np.ndarray, np.ndarray, int]]]]:
    """(name, run) pairs for the harness."""
    tol = {"rtol": mr.RTOL, "atol": mr.ATOL}
    out = [("phystwin Rodas4", _run_factory(variant, Rodas(**tol)))]
    if variant == "nonstiff":
        # explicit methods are stability-limited on the stiff variant (h ~ 3e-4 s over 3600 s), as scipy RK45
        out.append(("phystwin DOPRI5", _run_factory(variant, DormandPrince(**tol))))
        # fixed step at the explicit stability edge of the electromechanical mode (|lambda| ~ 100 1/s)
        out.append(("phystwin RK4 (h = 2 ms)", _run_factory(variant, RK4(dt=2e-3))))
    # work-precision: a tolerance at which Rodas4 is at least as accurate as numbalsoda LSODA (1.3-2e-6)
    out.append(("phystwin Rodas4 (rtol 3e-6)", _run_factory(variant, Rodas(rtol=3e-6, atol=3e-8))))
    return out
