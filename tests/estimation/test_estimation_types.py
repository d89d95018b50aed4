"""GaussianState and Measurement validation."""

from __future__ import annotations

import numpy as np
import pytest

from phystwin.estimation.types import GaussianState, Measurement, is_symmetric_positive_definite


def test_gaussian_state_is_immutable_copy() -> None:
    x = np.array([1.0, 2.0])
    P = np.eye(2)
    s = GaussianState(0.5, x, P)
    x[0] = 99.0
    assert s.x[0] == 1.0
    with pytest.raises(ValueError):
        s.x[0] = 3.0
    with pytest.raises(ValueError):
        s.P[0, 0] = 3.0
    assert s.n == 2 and s.is_positive_definite()
    assert s.nees(np.array([2.0, 2.0])) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("t", "x", "P", "match"),
    [
        (np.nan, [0.0], [[1.0]], "t must be finite"),
        (0.0, [0.0, 1.0], np.eye(3), r"P must have shape \(2, 2\)"),
        (0.0, [np.nan], [[1.0]], "x has non-finite"),
        (0.0, [0.0], [[np.inf]], "P has non-finite"),
        (0.0, [0.0, 0.0], [[1.0, 0.1], [0.0, 1.0]], "P must be symmetric"),
    ],
)
def test_gaussian_state_rejects(t: float, x: list[float], P: list[list[float]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GaussianState(t, np.asarray(x), np.asarray(P))


def test_spd_helper() -> None:
    assert is_symmetric_positive_definite(np.diag([1.0, 1e-9]))
    assert not is_symmetric_positive_definite(np.diag([1.0, 0.0]))
    assert not is_symmetric_positive_definite(np.diag([1.0, -1.0]))
    assert not is_symmetric_positive_definite(np.ones((2, 3)))


def test_measurement() -> None:
    m = Measurement(1.0, "encoder", 3.0, seq=7)
    assert m.value.shape == (1,) and m.seq == 7 and m.quality == 0
    assert np.isnan(Measurement(1.0, "encoder", [np.nan]).value[0])  # data; the filter rejects it
    with pytest.raises(ValueError, match="sensor must be a non-empty string"):
        Measurement(1.0, "", 3.0)
    with pytest.raises(ValueError, match="'encoder': t must be finite"):
        Measurement(np.inf, "encoder", 3.0)
