"""The constant-velocity test problem's matrices: position and velocity driven by an acceleration input,
position measured. A module of its own (not conftest) so test files import it whatever else pytest has
collected: ``from conftest import ...`` resolves to whichever conftest was imported first."""

from __future__ import annotations

import numpy as np

CV_A = np.array([[0.0, 1.0], [0.0, 0.0]])
CV_B = np.array([[0.0], [1.0]])
CV_H = np.array([[1.0, 0.0]])
