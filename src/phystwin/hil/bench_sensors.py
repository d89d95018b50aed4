r"""The virtual bench's sensor model, sampled a block of samples at a time.

Per sample ``i`` of a sensor (bench time ``t_i``, true signal ``y_i``)::

    b_i = b_{i-1} + sqrt(q_b (t_i - t_{i-1})) n_i        (bias random walk; no step at the first sample)
    z_i = scale * y_i + b_i + sigma * e_i
    z_i += sign_i * outlier_sigmas * sigma               with probability outlier_prob
    dropped_i                                            with probability dropout_prob

then the scripted faults of the sensor, in their order (``bias_drift``: ``+ rate (t - at)``;
``dropout``: dropped; ``outliers``: ``+- sigmas * max(sigma, 1e-12)`` with ``probability``), and
last the quantisation (round half to even).

Random streams
--------------
Every random quantity of a sensor has its own generator, seeded by ``(seed, crc32(sensor name),
purpose)``: the noise ``e``, the bias steps ``n``, the dropout and outlier draws, the outlier signs
(one per outlier) and one per scripted outlier fault (two uniforms per sample in its window).
A generator is consumed strictly in sample order, so the values depend on the seed and the sample
index only, never on how the samples are grouped into blocks (the bench's chunking follows its
pacing, which follows the wall clock). A quantity that cannot occur (probability 0, no bias walk)
draws nothing.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from phystwin.estimation.measurements import SensorSpec

if TYPE_CHECKING:
    from phystwin.hil.bench import Fault

__all__ = ["SensorModel", "sensor_rng"]

NOISE, BIAS, DROPOUT, OUTLIER, OUTLIER_SIGN = range(5)
"""Purposes of a sensor's random streams (the third word of their seed)."""
FAULT0 = 16
"""Purpose of the stream of the sensor's ``k``-th fault: ``FAULT0 + k``."""


def sensor_rng(seed: int, sensor: str, purpose: int) -> np.random.Generator:
    """The generator of one random quantity of ``sensor`` (module docstring)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(sensor.encode()), purpose]))


class SensorModel:
    """One bench sensor: its spec, where it reads the outputs, its rate and its random state.

    Parameters
    ----------
    spec : SensorSpec
    index : int
        Index of the sampled signal in the output vector.
    every : int
        Bench steps between two samples.
    faults : sequence of Fault
        The scripted faults of this sensor (``bias_drift``, ``dropout``, ``outliers``).
    seed : int
        Bench seed.
    """

    def __init__(self, spec: SensorSpec, index: int, every: int, faults: Sequence[Fault], seed: int) -> None:
        self.spec = spec
        self.index = index
        self.every = every
        self.faults = list(faults)
        self.bias = float(spec.bias0)
        self.t_last = math.nan
        name = spec.name
        self._noise = sensor_rng(seed, name, NOISE)
        self._bias_rng = sensor_rng(seed, name, BIAS) if spec.bias_psd > 0 else None
        self._drop_rng = sensor_rng(seed, name, DROPOUT) if spec.dropout_prob > 0 else None
        self._outlier_rng = sensor_rng(seed, name, OUTLIER) if spec.outlier_prob > 0 else None
        self._sign_rng = sensor_rng(seed, name, OUTLIER_SIGN)
        self._fault_rng = [sensor_rng(seed, name, FAULT0 + k) for k in range(len(self.faults))]

    def sample(self, t: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Measured values of the samples at times ``t`` (increasing, after any earlier sample)
        of true values ``truth``, and which are dropped (``None``: none)."""
        s = self.spec
        m = t.size
        if m == 0:
            return np.empty(0), None
        bias: np.ndarray | float = self.bias
        if self._bias_rng is not None:
            first = math.isnan(self.t_last)
            steps = np.empty(m + 1)
            steps[0] = self.bias
            if first:
                steps[1] = 0.0
                steps[2:] = np.sqrt(s.bias_psd * np.diff(t)) * self._bias_rng.standard_normal(m - 1)
            else:
                steps[1] = s.bias_psd * (t[0] - self.t_last)
                steps[2:] = s.bias_psd * np.diff(t)
                steps[1:] = np.sqrt(steps[1:]) * self._bias_rng.standard_normal(m)
            bias = np.cumsum(steps)[1:]  # sequential: the same sums as one sample at a time
            self.bias = float(bias[-1])
        self.t_last = float(t[-1])
        z = s.scale * truth + bias + s.noise_std * self._noise.standard_normal(m)
        drop = None if self._drop_rng is None else self._drop_rng.random(m) < s.dropout_prob
        if self._outlier_rng is not None:
            hit = np.flatnonzero(self._outlier_rng.random(m) < s.outlier_prob)
            if hit.size:
                z[hit] += np.copysign(s.outlier_sigmas * s.noise_std, self._sign_rng.random(hit.size) - 0.5)
        if self.faults:
            drop = self._faults(t, z, drop)
        if s.quantization:
            z = np.round(z / s.quantization) * s.quantization
        return z, drop

    def _faults(self, t: np.ndarray, z: np.ndarray, drop: np.ndarray | None) -> np.ndarray | None:
        """Apply the scripted faults active at any of ``t`` to ``z`` (in place); the new dropout mask."""
        t0, t1 = t[0], t[-1]
        for f, rng in zip(self.faults, self._fault_rng, strict=True):
            if t1 < f.at or t0 >= f.at + f.duration:
                continue
            on = np.flatnonzero((t >= f.at) & (t < f.at + f.duration))
            if on.size == 0:
                continue
            if f.kind == "bias_drift":
                z[on] += f.rate * (t[on] - f.at)
            elif f.kind == "dropout":
                drop = np.zeros(t.size, dtype=bool) if drop is None else drop
                drop[on] = True
            elif f.kind == "outliers":
                u = rng.random((on.size, 2))  # (hit, sign) per sample in the window
                hit = u[:, 0] < f.probability
                mag = f.sigmas * max(self.spec.noise_std, 1e-12)
                z[on[hit]] += np.copysign(mag, u[hit, 1] - 0.5)
        return drop
