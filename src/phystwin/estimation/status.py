"""Status codes of the estimation kernels (on top of those of :mod:`phystwin.core.status`).

Kernels never raise; they return one of these integers (or a solver code passed through from the
sigma-point propagation) and the Python filter turns it into an exception or an ``info`` entry.
"""

from __future__ import annotations

from phystwin.core.status import BAD_ARGUMENT, NONFINITE, OK
from phystwin.core.status import describe as _describe_core

__all__ = [
    "BAD_ARGUMENT",
    "BAD_MEASUREMENT",
    "INNOVATION_NOT_PD",
    "NONFINITE",
    "OK",
    "STATE_COV_NOT_PD",
    "describe",
]

INNOVATION_NOT_PD = 20
"""The innovation covariance ``S = H P H^T + R`` is not positive definite (Cholesky failed)."""
STATE_COV_NOT_PD = 21
"""The state covariance ``P`` is not positive definite: no sigma points can be drawn."""
BAD_MEASUREMENT = 22
"""The measurement vector has NaN or Inf entries; it was not applied."""

_DESCRIPTIONS = {
    INNOVATION_NOT_PD: "innovation covariance S is not positive definite",
    STATE_COV_NOT_PD: "state covariance P is not positive definite (sigma points cannot be drawn)",
    BAD_MEASUREMENT: "measurement has NaN or Inf entries",
}


def describe(status: int) -> str:
    """Human-readable meaning of an estimation or core status code."""
    return _DESCRIPTIONS.get(int(status)) or _describe_core(status)
