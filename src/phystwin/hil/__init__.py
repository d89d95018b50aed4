"""Live twins beside hardware: links (UDP, MQTT, OPC UA, CAN, Modbus), pacing, the safety envelope, the
twin runner and the virtual test bench.

The public API is listed in ``__all__`` and imported lazily (PEP 562): ``import phystwin.hil`` costs
nothing until a name is used, and a transport's client library (paho-mqtt, asyncua, python-can,
pymodbus) is imported only when that transport is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phystwin._exports import lazy_exports

_EXPORTS: dict[str, str] = {
    # links and their protocol
    "INPUT_STREAM": "phystwin.hil.link",
    "Arrival": "phystwin.hil.link",
    "BenchLink": "phystwin.hil.link",
    "Command": "phystwin.hil.link",
    "LinkError": "phystwin.hil.link",
    "LinkStats": "phystwin.hil.link",
    "TwinLink": "phystwin.hil.link",
    "SCHEMES": "phystwin.hil.transports",
    "open_bench_link": "phystwin.hil.transports",
    "open_twin_link": "phystwin.hil.transports",
    "PacketError": "phystwin.hil.packets",
    # the twin side
    "MODES": "phystwin.hil.runner",
    "RunSummary": "phystwin.hil.runner",
    "SpeedControl": "phystwin.hil.runner",
    "TwinRunner": "phystwin.hil.runner",
    "Pacer": "phystwin.hil.pacing",
    "TimingStats": "phystwin.hil.pacing",
    "ActuatorLimits": "phystwin.hil.safety",
    "SafetyEnvelope": "phystwin.hil.safety",
    "Verdict": "phystwin.hil.safety",
    "Watchdog": "phystwin.hil.safety",
    "PISpeedController": "phystwin.hil.control",
    "ThermalDerating": "phystwin.hil.control",
    # the bench side
    "BenchSummary": "phystwin.hil.bench",
    "Fault": "phystwin.hil.bench",
    "VirtualBench": "phystwin.hil.bench",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # the same names for type checkers and IDEs
    from phystwin.hil.bench import BenchSummary as BenchSummary
    from phystwin.hil.bench import Fault as Fault
    from phystwin.hil.bench import VirtualBench as VirtualBench
    from phystwin.hil.control import PISpeedController as PISpeedController
    from phystwin.hil.control import ThermalDerating as ThermalDerating
    from phystwin.hil.link import INPUT_STREAM as INPUT_STREAM
    from phystwin.hil.link import Arrival as Arrival
    from phystwin.hil.link import BenchLink as BenchLink
    from phystwin.hil.link import Command as Command
    from phystwin.hil.link import LinkError as LinkError
    from phystwin.hil.link import LinkStats as LinkStats
    from phystwin.hil.link import TwinLink as TwinLink
    from phystwin.hil.pacing import Pacer as Pacer
    from phystwin.hil.pacing import TimingStats as TimingStats
    from phystwin.hil.packets import PacketError as PacketError
    from phystwin.hil.runner import MODES as MODES
    from phystwin.hil.runner import RunSummary as RunSummary
    from phystwin.hil.runner import SpeedControl as SpeedControl
    from phystwin.hil.runner import TwinRunner as TwinRunner
    from phystwin.hil.safety import ActuatorLimits as ActuatorLimits
    from phystwin.hil.safety import SafetyEnvelope as SafetyEnvelope
    from phystwin.hil.safety import Verdict as Verdict
    from phystwin.hil.safety import Watchdog as Watchdog
    from phystwin.hil.transports import SCHEMES as SCHEMES
    from phystwin.hil.transports import open_bench_link as open_bench_link
    from phystwin.hil.transports import open_twin_link as open_twin_link
