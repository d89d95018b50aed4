"""Status codes returned by every compiled kernel, and their translation into exceptions.

Compiled kernels never raise: they return one of these integers and the Python wrapper turns a
non-zero code into an :class:`IntegrationError` that carries the time reached.
"""

from __future__ import annotations

from phystwin.errors import PhystwinError

OK = 0
"""Success."""
NONFINITE = 1
"""NaN or Inf in the state, its derivative or an output."""
STEP_UNDERFLOW = 2
"""The step size fell below the floor ``hmin = 16 * eps * |t|``: the problem is too stiff or singular."""
MAX_STEPS = 3
"""The configured maximum number of steps was reached before the end time."""
MAX_EVENTS = 4
"""More events than allowed in one save interval: chattering."""
RHS_FAILURE = 5
"""A model kernel reported a failure of its own (for example an argument outside a table)."""
SINGULAR_MATRIX = 6
"""The stiff solver's iteration matrix ``I - h*gamma*J`` is singular."""
BAD_ARGUMENT = 7
"""An argument to a kernel was inconsistent (array sizes, time order)."""
STATE_BOUND = 8
"""A state left its declared range ``[lower, upper]`` (a model or input error: a state of charge above
1, an absolute temperature below 0 K). The run stops at the located crossing."""
LAST_STATUS = STATE_BOUND
"""The largest solver status; a model function returning another non-zero value has failed itself."""

_DESCRIPTIONS = {
    OK: "success",
    NONFINITE: "NaN or Inf in the state, its derivative or an output",
    STEP_UNDERFLOW: "step size underflow (the problem may be stiff or singular here)",
    MAX_STEPS: "maximum number of steps reached",
    MAX_EVENTS: "too many events in one interval (chattering)",
    RHS_FAILURE: "a model kernel reported a failure",
    SINGULAR_MATRIX: "singular iteration matrix in the stiff solver",
    BAD_ARGUMENT: "inconsistent kernel arguments",
    STATE_BOUND: "a state left its declared range",
}


def describe(status: int) -> str:
    """Human-readable meaning of a status code."""
    return _DESCRIPTIONS.get(int(status), f"unknown status {int(status)}")


class IntegrationError(PhystwinError, RuntimeError):
    """A solver stopped before the requested end time.

    Attributes
    ----------
    status : int
        One of the codes in :mod:`phystwin.core.status`.
    t_reached : float
        Simulation time [s] reached before the failure.
    partial : object or None
        The partial result (a :class:`~phystwin.core.trajectory.Trajectory` up to ``t_reached``) when
        one is available.
    """

    def __init__(self, status: int, t_reached: float, detail: str = "", partial: object | None = None):
        self.status = int(status)
        self.t_reached = float(t_reached)
        self.partial = partial
        msg = f"integration failed at t = {self.t_reached:.9g} s: {describe(self.status)}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)
