"""Exact discretisation: closed forms for the OU process and the white-acceleration double integrator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad_vec
from scipy.linalg import expm

from phystwin.estimation.discretize import discretize, van_loan


@given(
    a=st.floats(0.01, 50.0),
    q=st.floats(1e-6, 1e3),
    dt=st.floats(1e-6, 10.0),
)
@settings(max_examples=60, deadline=None)
def test_scalar_ou_closed_form(a: float, q: float, dt: float) -> None:
    # dx = -a x dt + dW, E[dW^2] = q dt: Phi = e^{-a dt}, Qd = q (1 - e^{-2 a dt}) / (2 a)
    Phi, Qd = van_loan(np.array([[-a]]), np.array([[q]]), dt)
    assert Phi[0, 0] == pytest.approx(np.exp(-a * dt), rel=1e-12)
    assert Qd[0, 0] == pytest.approx(q * -np.expm1(-2 * a * dt) / (2 * a), rel=1e-9)


@pytest.mark.parametrize("dt", [1e-4, 0.01, 0.5, 3.0, 100.0])
def test_double_integrator_white_acceleration(dt: float) -> None:
    q = 0.7
    A = np.array([[0.0, 1.0], [0.0, 0.0]])
    d = discretize(A, np.array([[0.0], [1.0]]), np.diag([0.0, q]), dt)
    np.testing.assert_allclose(d.Phi, [[1.0, dt], [0.0, 1.0]], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(d.Gamma, [[dt**2 / 2], [dt]], rtol=1e-12)
    expected = q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    np.testing.assert_allclose(d.Qd, expected, rtol=1e-10, atol=1e-14 * q * max(dt**3, 1.0))
    assert np.array_equal(d.Qd, d.Qd.T)


def test_noise_input_matrix_and_quadrature_reference() -> None:
    # a damped oscillator with the noise entering through G: compare with the defining integral
    A = np.array([[0.0, 1.0], [-4.0, -0.3]])
    G = np.array([[0.0], [2.0]])
    Qc = np.array([[0.5]])
    dt = 0.37
    Phi, Qd = van_loan(A, Qc, dt, G)
    ref, _ = quad_vec(lambda s: expm(A * s) @ G @ Qc @ G.T @ expm(A * s).T, 0.0, dt, epsabs=1e-14, epsrel=1e-12)
    np.testing.assert_allclose(Phi, expm(A * dt), rtol=1e-13)
    np.testing.assert_allclose(Qd, ref, rtol=1e-9, atol=1e-14)


def test_zero_step_and_errors() -> None:
    A = np.array([[0.0, 1.0], [0.0, 0.0]])
    d = discretize(A, None, np.eye(2), 0.0)
    assert np.array_equal(d.Phi, np.eye(2)) and not d.Qd.any() and d.Gamma.shape == (2, 0)
    with pytest.raises(ValueError, match="dt must be finite"):
        van_loan(A, np.eye(2), -1.0)
    with pytest.raises(ValueError, match=r"Qc must be \(2, 2\)"):
        van_loan(A, np.eye(3), 1.0)
    with pytest.raises(ValueError, match="Qc must be symmetric"):
        van_loan(A, np.array([[1.0, 0.5], [0.0, 1.0]]), 1.0)
    with pytest.raises(ValueError, match="B must have 2 rows"):
        discretize(A, np.ones((3, 1)), np.eye(2), 1.0)


def test_van_loan_stiff_long_step_does_not_overflow() -> None:
    """A fast mode (-100 1/s) over 10 s: e^{+1000} in the plain Van Loan block; the halved-and-doubled
    form stays finite and equals the quadrature of the defining integral."""
    from scipy.integrate import quad_vec
    from scipy.linalg import expm

    from phystwin.estimation.discretize import van_loan

    A = np.array([[-100.0, 5.0], [0.0, -0.01]])
    Qc = np.diag([1.0, 0.1])
    Phi, Qd = van_loan(A, Qc, 10.0)
    ref = quad_vec(lambda s: expm(A * s) @ Qc @ expm(A.T * s), 0.0, 10.0, epsabs=1e-12, epsrel=1e-10)[0]
    assert np.all(np.isfinite(Qd))
    assert np.max(np.abs(Qd - ref)) <= 1e-10 * np.max(np.abs(ref))
    assert np.allclose(Phi, expm(A * 10.0), rtol=1e-10, atol=1e-300)
