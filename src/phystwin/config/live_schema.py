"""Config sections of the live twin: ``[bench]``, ``[run]``, ``[control]``, ``[safety]``, ``[transport]``.

``[bench]`` (``phystwin bench serve``)::

    [bench]
    duration = "10 min"          # bench time to play
    step = "1 ms"                # plant step (fixed-step RK4) = the publishing grid
    rate_factor = 10.0           # N x real time; 0 = as fast as possible
    seed = 1
    groups = [["current", "speed"]]   # sensors published together as one stream
    input_rate = 1000.0          # Hz of the "inputs" stream (the inputs the bench applies)
    record_interval = "10 ms"    # truth decimation in the bench record
    actuators = ["voltage"]      # inputs the twin may command (a command overrides the scripted input)

    [[bench.faults]]             # scripted faults, applied at bench time `at`
    kind = "parameter"           # parameter | bias_drift | dropout | outliers
    at = "5 min"
    parameter = "housing_convection.h"
    value = 5.0                  # the new value (cooling failure: h drops)

``[run]`` (``phystwin run``): ``mode`` (shadow | advisory | closed_loop), ``tick_rate`` [Hz wall]
(health, watchdog, flushing), ``lag_window`` and ``stale_after`` [s twin time] of the fusion engine,
``watchdog`` [s wall], ``record_interval`` [s twin time] of the recorded estimates, ``duration``
[s wall, optional], ``idle_timeout`` [s wall without any data before the run ends].

``[control]``: PI speed controller and thermal derating (see :mod:`phystwin.hil.control`);
``[safety.<actuator>]``: the envelope of every commanded input (see :mod:`phystwin.hil.safety`);
``[transport.<udp|mqtt|opcua|can|modbus>]``: options passed to the transport module.

The stream table (shared by bench and twin; the UDP and CAN ids are positions in it) is built by
:func:`stream_table`: the groups, then every other sensor of ``[sensors]`` in file order, then
``"inputs"``. Bench and twin configs must therefore list the same sensors and groups.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from phystwin.config.schema import InputTable, QuantityField, Seconds, _Section

__all__ = [
    "INPUT_STREAM",
    "BenchSection",
    "ControlSection",
    "DeratingSection",
    "FaultSection",
    "RunSection",
    "SafetySection",
    "stream_table",
]

from phystwin.hil.link import INPUT_STREAM


class FaultSection(_Section):
    """``[[bench.faults]]``: one scripted fault."""

    kind: Literal["parameter", "bias_drift", "dropout", "outliers"]
    at: float | Seconds
    """Bench time the fault starts [s]."""
    duration: Seconds | None = None
    """How long it lasts [s] (default: to the end; ``parameter`` faults are permanent)."""
    parameter: str | None = None
    """``parameter``: the plant parameter that changes."""
    value: QuantityField | None = None
    """``parameter``: its new value."""
    sensor: str | None = None
    """``bias_drift``, ``dropout``, ``outliers``: the affected sensor."""
    rate: float = 0.0
    """``bias_drift``: drift rate [sensor unit / s]."""
    probability: float = Field(1.0, ge=0, le=1)
    """``outliers``: probability per sample."""
    sigmas: float = Field(20.0, gt=0)
    """``outliers``: magnitude in noise standard deviations."""


class BenchSection(_Section):
    """``[bench]``: the virtual test bench (module docstring)."""

    duration: Seconds = 600.0
    step: Seconds = 1e-3
    rate_factor: float = Field(1.0, ge=0)
    seed: int = 0
    groups: list[list[str]] = Field(default_factory=list)
    input_rate: float | None = Field(None, gt=0)
    record_interval: Seconds | None = 0.01
    actuators: list[str] = Field(default_factory=list)
    faults: list[FaultSection] = Field(default_factory=list)


class RunSection(_Section):
    """``[run]``: the twin runner (module docstring)."""

    mode: Literal["shadow", "advisory", "closed_loop"] = "shadow"
    tick_rate: float = Field(100.0, gt=0, le=10_000)
    lag_window: float = Field(0.05, ge=0)
    stale_after: Seconds = 0.5
    watchdog: Seconds = 0.5
    record_interval: Seconds | None = 0.01
    duration: Seconds | None = None
    idle_timeout: Seconds = 5.0


class DeratingSection(_Section):
    """``[control.derating]``: keep the estimated winding temperature under a limit."""

    temperature_limit: QuantityField
    band: QuantityField
    rated_current: float = Field(gt=0)
    min_current: float = Field(0.0, ge=0)
    k_sigma: float = Field(2.0, ge=0)


class ControlSection(_Section):
    """``[control]``: PI speed controller on the estimated speed, commanding the voltage."""

    kind: Literal["pi_speed"] = "pi_speed"
    actuator: str = "voltage"
    period: Seconds = 0.01
    """Control period [s] in twin time."""
    setpoint: InputTable | float
    """Speed reference [rad/s]: a constant or a time table (twin time)."""
    kp: float = Field(ge=0)
    ki: float = Field(ge=0)
    derating: DeratingSection | None = None


class SafetySection(_Section):
    """``[safety.<actuator>]``: the envelope of one commanded input, in the input's SI unit."""

    low: float
    high: float
    max_rate: float = Field(float("inf"), gt=0)
    safe_value: float = 0.0
    refuse_beyond: float | None = Field(None, ge=0)


def stream_table(sensors: list[str], groups: list[list[str]]) -> dict[str, tuple[str, ...]]:
    """Stream name -> its sensors: groups (``"a+b"``), then ungrouped sensors, then :data:`INPUT_STREAM`
    (which carries the inputs, not sensors: an empty tuple)."""
    grouped = [s for g in groups for s in g]
    table: dict[str, tuple[str, ...]] = {"+".join(g): tuple(g) for g in groups if g}
    table.update({s: (s,) for s in sensors if s not in grouped})
    table[INPUT_STREAM] = ()
    return table


TransportTables = dict[str, dict[str, Any]]
