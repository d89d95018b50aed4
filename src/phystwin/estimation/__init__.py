"""Estimation: Gaussian state types, exact discretisation, compiled Kalman filter kernels.

Every filter implements :class:`Filter` (:mod:`~phystwin.estimation.base`): ``predict``, ``update``,
``predict_update``, ``select_measurements``, ``input_vector``; the fusion engine uses only that.
Linear KF (Joseph form, Van Loan discretisation), UKF and square-root UKF whose sigma points are
propagated through a compiled phystwin Model in one compiled call, continuous-discrete EKF, EnKF,
a whole-run UKF over recorded tables (:mod:`~phystwin.estimation.batch`), joint parameter
estimation (parameters compiled in as random-walk states), fusion, consistency metrics, an RTS
smoother and a seeded measurement generator. See docs/estimation.md.

The public API is imported lazily (PEP 562): importing a submodule such as
``phystwin.estimation.types`` does not load the filters, scipy.stats or the compiled kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phystwin._exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "EstimationError": "phystwin.estimation.base",
    "Filter": "phystwin.estimation.base",
    "UpdateInfo": "phystwin.estimation.base",
    "ConsistencyResult": "phystwin.estimation.consistency",
    "chi2_bounds": "phystwin.estimation.consistency",
    "nees_monte_carlo": "phystwin.estimation.consistency",
    "nis_time_average": "phystwin.estimation.consistency",
    "whiteness": "phystwin.estimation.consistency",
    "DiscreteModel": "phystwin.estimation.discretize",
    "discretize": "phystwin.estimation.discretize",
    "van_loan": "phystwin.estimation.discretize",
    "ExtendedKalmanFilter": "phystwin.estimation.ekf",
    "EnsembleKalmanFilter": "phystwin.estimation.enkf",
    "EnsembleState": "phystwin.estimation.enkf",
    "KalmanFilter": "phystwin.estimation.filters",
    "UnscentedKalmanFilter": "phystwin.estimation.filters",
    "FusedSensor": "phystwin.estimation.fusion",
    "FusionEngine": "phystwin.estimation.fusion",
    "FusionHealth": "phystwin.estimation.fusion",
    "FusionOutcome": "phystwin.estimation.fusion",
    "FusionReason": "phystwin.estimation.fusion",
    "SensorCounters": "phystwin.estimation.fusion",
    "SyncStatus": "phystwin.estimation.fusion",
    "GenerationLog": "phystwin.estimation.measurements",
    "SensorSpec": "phystwin.estimation.measurements",
    "SensorTruth": "phystwin.estimation.measurements",
    "generate_measurements": "phystwin.estimation.measurements:generate",
    "ForwardPass": "phystwin.estimation.smoother",
    "SmoothedPass": "phystwin.estimation.smoother",
    "record_forward": "phystwin.estimation.smoother",
    "rts_smooth": "phystwin.estimation.smoother",
    "SquareRootUnscentedKalmanFilter": "phystwin.estimation.srukf",
    "GaussianState": "phystwin.estimation.types",
    "Measurement": "phystwin.estimation.types",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the same names for type checkers and IDEs
    from phystwin.estimation.base import EstimationError as EstimationError
    from phystwin.estimation.base import Filter as Filter
    from phystwin.estimation.base import UpdateInfo as UpdateInfo
    from phystwin.estimation.consistency import ConsistencyResult as ConsistencyResult
    from phystwin.estimation.consistency import chi2_bounds as chi2_bounds
    from phystwin.estimation.consistency import nees_monte_carlo as nees_monte_carlo
    from phystwin.estimation.consistency import nis_time_average as nis_time_average
    from phystwin.estimation.consistency import whiteness as whiteness
    from phystwin.estimation.discretize import DiscreteModel as DiscreteModel
    from phystwin.estimation.discretize import discretize as discretize
    from phystwin.estimation.discretize import van_loan as van_loan
    from phystwin.estimation.ekf import ExtendedKalmanFilter as ExtendedKalmanFilter
    from phystwin.estimation.enkf import EnsembleKalmanFilter as EnsembleKalmanFilter
    from phystwin.estimation.enkf import EnsembleState as EnsembleState
    from phystwin.estimation.filters import KalmanFilter as KalmanFilter
    from phystwin.estimation.filters import UnscentedKalmanFilter as UnscentedKalmanFilter
    from phystwin.estimation.fusion import FusedSensor as FusedSensor
    from phystwin.estimation.fusion import FusionEngine as FusionEngine
    from phystwin.estimation.fusion import FusionHealth as FusionHealth
    from phystwin.estimation.fusion import FusionOutcome as FusionOutcome
    from phystwin.estimation.fusion import FusionReason as FusionReason
    from phystwin.estimation.fusion import SensorCounters as SensorCounters
    from phystwin.estimation.fusion import SyncStatus as SyncStatus
    from phystwin.estimation.measurements import GenerationLog as GenerationLog
    from phystwin.estimation.measurements import SensorSpec as SensorSpec
    from phystwin.estimation.measurements import SensorTruth as SensorTruth
    from phystwin.estimation.measurements import generate as generate_measurements  # noqa: F401
    from phystwin.estimation.smoother import ForwardPass as ForwardPass
    from phystwin.estimation.smoother import SmoothedPass as SmoothedPass
    from phystwin.estimation.smoother import record_forward as record_forward
    from phystwin.estimation.smoother import rts_smooth as rts_smooth
    from phystwin.estimation.srukf import SquareRootUnscentedKalmanFilter as SquareRootUnscentedKalmanFilter
    from phystwin.estimation.types import GaussianState as GaussianState
    from phystwin.estimation.types import Measurement as Measurement
