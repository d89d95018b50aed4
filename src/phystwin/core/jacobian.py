"""Finite-difference Jacobian of a compiled right-hand side.

``J[:, j] = (f(x + h_j e_j) - f(x)) / h_j`` with ``h_j = sqrt(eps) * max(|x_j|, 1)`` (forward
differences: one extra right-hand side per state; relative accuracy about ``sqrt(eps)``, ample for
the Newton-free linear solves of Rosenbrock methods at engineering tolerances).
"""

from __future__ import annotations

import numpy as np

from phystwin._jit import njit

_SQRT_EPS = np.sqrt(np.finfo(np.float64).eps)


@njit(cache=False)  # takes a dispatcher: numba keys its disk cache by dispatcher identity, so a cached
# entry from another process would be looked up and fail; it is compiled into each caller instead
def fd_jacobian(rhs, t, x, u, p, J):  # type: ignore[no-untyped-def]
    """Fill ``J`` (n, n) with df/dx at ``(t, x)``; returns the status of the right-hand side."""
    n = x.shape[0]
    f0 = np.empty(n)
    f1 = np.empty(n)
    xp = x.copy()
    st = rhs(t, x, u, p, f0)
    if st != 0:
        return st
    for j in range(n):
        h = _SQRT_EPS * max(abs(x[j]), 1.0)
        xp[j] = x[j] + h
        h = xp[j] - x[j]  # exactly representable step
        st = rhs(t, xp, u, p, f1)
        if st != 0:
            return st
        for i in range(n):
            J[i, j] = (f1[i] - f0[i]) / h
        xp[j] = x[j]
    return 0
