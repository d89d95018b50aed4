"""Shared problems for the estimator tests: a hand-written linear model (constant velocity with an
acceleration input) and the dc_motor twin, compiled once per session."""

from __future__ import annotations

from types import ModuleType

import pytest

from phystwin._jit import njit
from phystwin.core.model import Layout, Model, Signal


@njit(cache=False)
def _cv_rhs(t, x, u, p, dx):  # type: ignore[no-untyped-def]
    dx[0] = x[1]
    dx[1] = u[0]
    return 0


@njit(cache=False)
def _cv_jac(t, x, u, p, J):  # type: ignore[no-untyped-def]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = 0.0
    J[1, 1] = 0.0
    return 0


@njit(cache=False)
def _cv_out(t, x, u, p, y):  # type: ignore[no-untyped-def]
    y[0] = x[0]
    y[1] = x[1]
    return 0


@njit(cache=False)
def _cv_ev(t, x, u, p, g):  # type: ignore[no-untyped-def]
    return 0


@njit(cache=False)
def _cv_act(t, x, u, p, k):  # type: ignore[no-untyped-def]
    return 0


def make_cv_model() -> Model:
    """``d pos = vel dt``, ``d vel = a dt``: linear, and RK4 integrates it exactly (its flow is
    a quadratic polynomial in t), so a UKF on it must equal the exactly discretised KF."""
    k = ModuleType("cv_kernels")
    k.rhs, k.jac, k.out, k.ev, k.act = _cv_rhs, _cv_jac, _cv_out, _cv_ev, _cv_act  # type: ignore[attr-defined]
    layout = Layout(
        states=(Signal("pos", "m"), Signal("vel", "m/s")),
        parameters=(Signal("unused", "1", 0.0),),
        inputs=(Signal("accel", "m/s^2", 0.0),),
        outputs=(Signal("pos", "m"), Signal("vel", "m/s")),
    )
    return Model(name="constant_velocity", layout=layout, kernels=k, structure_hash="cv-test")


@pytest.fixture(scope="session")
def cv_model() -> Model:
    return make_cv_model()


@pytest.fixture(scope="session")
def motor_model() -> Model:
    from phystwin.physics.twins import dc_motor

    return dc_motor.build().compile()
