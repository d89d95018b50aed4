"""Seeded measurement generator: a simulated truth trajectory -> realistic sensor streams.

Each sensor samples one trajectory signal (linear interpolation) at its own rate and corrupts it::

    z_k = scale * s(t_k) + b(t_k) + v_k  (+ o_k if the sample is an outlier), then quantised

with white noise ``v_k ~ N(0, noise_std^2)``, a bias random walk ``b`` integrated exactly between
samples (``b(t_{k+1}) - b(t_k) ~ N(0, bias_psd * (t_{k+1} - t_k))``), outliers ``o_k = +-outlier_sigmas
* noise_std``, dropouts (the sample is not delivered, leaving a gap in the sequence numbers) and a
constant latency (arrival time = sample time + latency). Out-of-range samples are delivered with
``quality = QUALITY_OUT_OF_RANGE``; injected outliers are *not* revealed in the quality flag, the
injected truth is kept in the :class:`GenerationLog`.

Randomness: the stream of a sensor comes from ``SeedSequence(seed)`` keyed by the sensor's *name*
(a stable hash of it is the spawn key), then ``spawn(5)`` into independent substreams for noise,
bias, dropouts, outlier occurrence and outlier sign. So the output is identical for the same seed;
adding, removing or reordering sensors does not change the other sensors' draws; and changing one
impairment (e.g. the dropout probability) does not change the draws of the others.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from phystwin.core.trajectory import Trajectory
from phystwin.errors import InvalidTypeError, InvalidValueError
from phystwin.estimation.types import Measurement

__all__ = [
    "QUALITY_OK",
    "QUALITY_OUT_OF_RANGE",
    "GenerationLog",
    "SensorSpec",
    "SensorTruth",
    "generate",
]

QUALITY_OK = 0
"""Quality flag of a sample inside its valid range."""

QUALITY_OUT_OF_RANGE = 1
"""Quality flag of a sample outside the sensor's valid range (the value is delivered unclipped)."""

_N_SUBSTREAMS = 5  # noise, bias, dropout, outlier occurrence, outlier sign


def _finite(name: str, what: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise InvalidValueError(f"sensor {name!r}: {what} must be finite, got {value!r}")
    return v


@dataclass(frozen=True)
class SensorSpec:
    """One scalar sensor sampling a trajectory signal.

    Parameters
    ----------
    name : str
        Sensor identifier (unique within one :func:`generate` call; it keys the random substream).
    signal : str
        Name of the sampled trajectory signal (a state, output or input).
    unit : str
        Unit of the measured values; must equal the trajectory's unit of ``signal`` (no conversion).
    rate : float
        Sampling rate [Hz], > 0. Samples are taken at ``t0 + phase + k / rate``, ``t0`` the start of
        the trajectory.
    noise_std : float
        Standard deviation of the white measurement noise [unit], >= 0.
    bias0 : float
        Bias at the first sample [unit].
    bias_psd : float
        Spectral density ``q`` of the bias random walk [unit^2/s], >= 0; the bias variance grows as
        ``q * (t - t_first)``.
    scale : float
        Scale factor applied to the true signal [-] (1 = ideal).
    latency : float
        Transport delay [s], >= 0: arrival time = sample time + latency.
    dropout_prob : float
        Probability in [0, 1] that a sample is lost (not delivered; its sequence number is skipped).
    outlier_prob : float
        Probability in [0, 1] that a delivered sample carries an outlier.
    outlier_sigmas : float
        Outlier magnitude in units of ``noise_std`` [-], > 0; the sign is random.
    valid_range : tuple of float
        ``(low, high)`` [unit]; measured values outside are flagged ``QUALITY_OUT_OF_RANGE``.
    quantization : float or None
        Quantisation step [unit], > 0, applied last (round to nearest multiple); None for none.
    phase : float
        Offset of the first sample after the trajectory start [s], >= 0.

    Raises
    ------
    ValueError
        On a non-positive rate, negative std, spectral density or latency, a probability outside
        [0, 1], an empty range, a non-positive quantisation step, or outliers requested with zero noise.
    """

    name: str
    signal: str
    unit: str
    rate: float
    noise_std: float = 0.0
    bias0: float = 0.0
    bias_psd: float = 0.0
    scale: float = 1.0
    latency: float = 0.0
    dropout_prob: float = 0.0
    outlier_prob: float = 0.0
    outlier_sigmas: float = 10.0
    valid_range: tuple[float, float] = (-math.inf, math.inf)
    quantization: float | None = None
    phase: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidValueError(f"SensorSpec: name must be a non-empty string, got {self.name!r}")
        n = self.name
        if not isinstance(self.signal, str) or not self.signal:
            raise InvalidValueError(f"sensor {n!r}: signal must be a non-empty string, got {self.signal!r}")
        if not isinstance(self.unit, str):
            raise InvalidValueError(f"sensor {n!r}: unit must be a string, got {self.unit!r}")
        rate = _finite(n, "rate [Hz]", self.rate)
        if rate <= 0:
            raise InvalidValueError(f"sensor {n!r}: rate must be > 0 Hz, got {self.rate!r}")
        for what, value in (
            ("noise_std", self.noise_std),
            ("bias_psd", self.bias_psd),
            ("latency [s]", self.latency),
            ("phase [s]", self.phase),
        ):
            if _finite(n, what, value) < 0:
                raise InvalidValueError(f"sensor {n!r}: {what} must be >= 0, got {value!r}")
        _finite(n, "bias0", self.bias0)
        _finite(n, "scale", self.scale)
        for what, value in (("dropout_prob", self.dropout_prob), ("outlier_prob", self.outlier_prob)):
            p = float(value)
            if not 0.0 <= p <= 1.0:  # also refuses NaN
                raise InvalidValueError(f"sensor {n!r}: {what} must be a probability in [0, 1], got {value!r}")
        if _finite(n, "outlier_sigmas", self.outlier_sigmas) <= 0:
            raise InvalidValueError(f"sensor {n!r}: outlier_sigmas must be > 0, got {self.outlier_sigmas!r}")
        if self.outlier_prob > 0 and self.noise_std == 0:
            raise InvalidValueError(
                f"sensor {n!r}: outlier magnitude is given in noise sigmas, but noise_std is 0; "
                "set noise_std > 0 or outlier_prob = 0"
            )
        try:
            lo, hi = (float(v) for v in self.valid_range)
        except (TypeError, ValueError):
            raise InvalidValueError(
                f"sensor {n!r}: valid_range must be (low, high), got {self.valid_range!r}"
            ) from None
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise InvalidValueError(f"sensor {n!r}: valid_range must satisfy low < high, got {self.valid_range!r}")
        if self.quantization is not None:
            q = _finite(n, "quantization", self.quantization)
            if q <= 0:
                raise InvalidValueError(
                    f"sensor {n!r}: quantization step must be > 0 (or None), got {self.quantization!r}"
                )
        object.__setattr__(self, "valid_range", (lo, hi))

    def sample_times(self, t0: float, t1: float) -> np.ndarray:
        """Sample times [s] in ``[t0, t1]``: ``t0 + phase + k / rate``, strictly increasing.

        Raises
        ------
        ValueError
            If the rate is too high for float64 resolution at these times (duplicate timestamps).
        """
        span = t1 - t0 - float(self.phase)
        if span < 0:
            return np.zeros(0)
        n = math.floor(span * float(self.rate) * (1.0 + 1e-12) + 1e-9) + 1
        t = np.minimum(t0 + float(self.phase) + np.arange(n, dtype=np.float64) / float(self.rate), t1)
        if n > 1 and not np.all(np.diff(t) > 0):
            raise InvalidValueError(
                f"sensor {self.name!r}: rate {self.rate!r} Hz cannot be represented at t ~ {t1:g} s "
                "in float64 (sample times would repeat)"
            )
        return t


@dataclass(frozen=True, eq=False)
class SensorTruth:
    """What was injected into one sensor's stream, one entry per scheduled sample (dropped included).

    Attributes
    ----------
    spec : SensorSpec
        The sensor.
    t : ndarray, shape (n,)
        Sample times [s].
    truth : ndarray, shape (n,)
        True signal at ``t`` (linear interpolation of the trajectory) [unit].
    bias : ndarray, shape (n,)
        True bias at ``t`` [unit].
    noise : ndarray, shape (n,)
        White noise added [unit] (outliers excluded).
    outlier : ndarray of bool, shape (n,)
        True where an outlier was injected (only ever on delivered samples).
    outlier_value : ndarray, shape (n,)
        Outlier offset added [unit] (0 where none).
    dropped : ndarray of bool, shape (n,)
        True where the sample was lost.
    value : ndarray, shape (n,)
        Measured value (after scale, bias, noise, outlier and quantisation) [unit]; also computed
        for dropped samples, which were never delivered.
    quality : ndarray of int, shape (n,)
        Quality flag per sample.
    """

    spec: SensorSpec
    t: np.ndarray
    truth: np.ndarray
    bias: np.ndarray
    noise: np.ndarray
    outlier: np.ndarray
    outlier_value: np.ndarray
    dropped: np.ndarray
    value: np.ndarray
    quality: np.ndarray

    @property
    def seq(self) -> np.ndarray:
        """Sequence number of every scheduled sample (the sample index)."""
        return np.arange(self.t.size)

    @property
    def arrival(self) -> np.ndarray:
        """Arrival times [s] of every scheduled sample (sample time + latency)."""
        return self.t + float(self.spec.latency)

    @property
    def delivered(self) -> np.ndarray:
        """Boolean mask of the delivered samples."""
        return ~self.dropped


@dataclass(frozen=True, eq=False)
class GenerationLog:
    """The injected truth of one :func:`generate` call.

    Attributes
    ----------
    seed : int or None
        The integer seed given (None when a ``SeedSequence`` was given).
    arrival : ndarray, shape (m,)
        Arrival time [s] of each returned measurement, aligned with the returned list (non-decreasing).
    sensors : mapping str -> SensorTruth
        Per-sensor record, in the order the sensors were given.
    """

    seed: int | None
    arrival: np.ndarray
    sensors: Mapping[str, SensorTruth] = field(default_factory=dict)

    def __getitem__(self, sensor: str) -> SensorTruth:
        return self.sensors[sensor]


def _name_key(name: str) -> int:
    """Stable (process-independent) 64-bit key of a sensor name."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def _sensor_streams(root: np.random.SeedSequence, name: str) -> list[np.random.Generator]:
    ss = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, _name_key(name)))
    return [np.random.default_rng(child) for child in ss.spawn(_N_SUBSTREAMS)]


def _check_signal(traj: Trajectory, spec: SensorSpec) -> np.ndarray:
    names = traj.names()
    if spec.signal not in names:
        raise InvalidValueError(
            f"sensor {spec.name!r}: no signal {spec.signal!r} in the trajectory; available: {', '.join(names)}"
        )
    unit = traj.unit(spec.signal)
    from phystwin.units import same_unit  # lazy: records pulls in h5py

    if not same_unit(spec.unit, unit):
        raise InvalidValueError(
            f"sensor {spec.name!r}: unit {spec.unit!r} does not match the trajectory's unit {unit!r} "
            f"of signal {spec.signal!r}"
        )
    values = np.asarray(traj[spec.signal], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise InvalidValueError(f"sensor {spec.name!r}: signal {spec.signal!r} has non-finite values in the trajectory")
    return values


def _generate_one(
    spec: SensorSpec, t_traj: np.ndarray, s_traj: np.ndarray, root: np.random.SeedSequence
) -> SensorTruth:
    t = spec.sample_times(float(t_traj[0]), float(t_traj[-1]))
    n = t.size
    g_noise, g_bias, g_drop, g_out, g_sign = _sensor_streams(root, spec.name)
    truth = np.interp(t, t_traj, s_traj)
    noise = spec.noise_std * g_noise.standard_normal(n)
    steps = np.sqrt(spec.bias_psd * np.diff(t)) * g_bias.standard_normal(max(n - 1, 0))
    bias = spec.bias0 + np.concatenate((np.zeros(min(n, 1)), np.cumsum(steps)))
    # uniform draws for every sample whatever the probability: a higher probability only adds samples
    dropped = g_drop.random(n) < spec.dropout_prob
    outlier = (g_out.random(n) < spec.outlier_prob) & ~dropped
    sign = np.where(g_sign.random(n) < 0.5, -1.0, 1.0)
    outlier_value = np.where(outlier, sign * spec.outlier_sigmas * spec.noise_std, 0.0)
    value = spec.scale * truth + bias + noise + outlier_value
    if spec.quantization is not None:
        value = np.round(value / spec.quantization) * spec.quantization
    lo, hi = spec.valid_range
    quality = np.where((value < lo) | (value > hi), QUALITY_OUT_OF_RANGE, QUALITY_OK).astype(np.int64)
    arrays = (t, truth, bias, noise, outlier, outlier_value, dropped, value, quality)
    for a in arrays:
        a.setflags(write=False)
    return SensorTruth(spec, *arrays)


def generate_streams(
    traj: Trajectory, sensors: Iterable[SensorSpec], seed: int | np.random.SeedSequence
) -> tuple[int | None, dict[str, SensorTruth]]:
    """The array form of :func:`generate`: per sensor, every scheduled sample as a
    :class:`SensorTruth` (values, quality, dropped mask, ...), with exactly the same random draws.
    Building no :class:`Measurement` objects, it suits long recorded runs (``phystwin generate``,
    whole-run filtering). Returns ``(seed or None, streams by sensor name)``; raises as :func:`generate`.
    """
    specs = list(sensors)
    for s in specs:
        if not isinstance(s, SensorSpec):
            raise InvalidTypeError(f"generate: sensors must be SensorSpec instances, got {type(s).__name__}")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidValueError(f"generate: duplicate sensor names {dup}")
    if isinstance(seed, np.random.SeedSequence):
        root, seed_int = seed, None
    else:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidValueError(f"generate: seed must be a non-negative int or a SeedSequence, got {seed!r}")
        seed_int = int(seed)
        root = np.random.SeedSequence(seed_int)
    t_traj = np.asarray(traj.t, dtype=np.float64)
    if t_traj.size == 0 or not np.all(np.isfinite(t_traj)) or np.any(np.diff(t_traj) < 0):
        raise InvalidValueError("generate: the trajectory needs at least one sample with finite, sorted times")
    signals = [_check_signal(traj, s) for s in specs]
    return seed_int, {s.name: _generate_one(s, t_traj, v, root) for s, v in zip(specs, signals, strict=True)}


def generate(
    traj: Trajectory,
    sensors: Iterable[SensorSpec],
    seed: int | np.random.SeedSequence,
) -> tuple[list[Measurement], GenerationLog]:
    """Sensor streams from a truth trajectory, sorted by arrival time.

    Parameters
    ----------
    traj : Trajectory
        Truth run; sampled by linear interpolation over ``[traj.t[0], traj.t[-1]]`` [s].
    sensors : iterable of SensorSpec
        The sensors; names must be unique.
    seed : int or numpy.random.SeedSequence
        Seed (a non-negative int); the same seed gives identical output.

    Returns
    -------
    measurements : list of Measurement
        Delivered samples sorted by arrival time (ties: sensor order as given, then sequence
        number). ``Measurement.t`` is the sample time [s], ``value`` has shape (1,) [unit], ``seq``
        the per-sensor sample index (gaps where samples were dropped), ``quality`` 0 or
        ``QUALITY_OUT_OF_RANGE``.
    log : GenerationLog
        Arrival times aligned with ``measurements`` and the injected truth per sensor.

    Raises
    ------
    ValueError
        On duplicate sensor names, an unknown signal (the available names are listed), a unit
        mismatch (both units named), a bad seed or a trajectory without samples.
    """
    seed_int, truths = generate_streams(traj, sensors, seed)
    specs = [tr.spec for tr in truths.values()]
    arrival_parts, sensor_idx, seq_parts = [], [], []
    for k, tr in enumerate(truths.values()):
        keep = np.flatnonzero(tr.delivered)
        arrival_parts.append(tr.arrival[keep])
        sensor_idx.append(np.full(keep.size, k, dtype=np.int64))
        seq_parts.append(keep)
    arrival = np.concatenate(arrival_parts) if specs else np.zeros(0)
    which = np.concatenate(sensor_idx) if specs else np.zeros(0, dtype=np.int64)
    seq = np.concatenate(seq_parts) if specs else np.zeros(0, dtype=np.int64)
    order = np.lexsort((seq, which, arrival))
    trs = list(truths.values())
    out = [
        Measurement(
            t=float(trs[w].t[q]),
            sensor=trs[w].spec.name,
            value=trs[w].value[q : q + 1],
            seq=int(q),
            quality=int(trs[w].quality[q]),
        )
        for w, q in zip(which[order].tolist(), seq[order].tolist(), strict=True)
    ]
    arr = arrival[order]
    arr.setflags(write=False)
    return out, GenerationLog(seed=seed_int, arrival=arr, sensors=MappingProxyType(truths))
