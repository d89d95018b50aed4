"""FMUs beside native components: the only code in phystwin that touches fmpy.

Model-exchange FMUs (FMI 2.0 and 3.0) become System components integrated in the compiled core;
co-simulation FMUs run beside native models through a compiled master loop; untrusted or hanging
FMUs run isolated in a child process with a wall-clock limit; archives are extracted safely and
hashed (SHA-256) for provenance.

The public API is listed in ``__all__`` and imported lazily (fmpy is loaded when a name is used).
FMUs are native code: load only FMUs you trust, or run them with :func:`simulate_isolated`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phystwin._exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "FMUModelExchange": "phystwin.fmu.me",
    "fmu_component": "phystwin.fmu.me",
    "CoSimResult": "phystwin.fmu.cosim",
    "CoSimUnit": "phystwin.fmu.cosim",
    "CoSimulation": "phystwin.fmu.cosim",
    "NativeUnit": "phystwin.fmu.cosim",
    "FMUInstance": "phystwin.fmu.instance",
    "FMUStateSnapshot": "phystwin.fmu.instance",
    "IsolatedResult": "phystwin.fmu.isolate",
    "IsolatedRunError": "phystwin.fmu.isolate",
    "IsolatedTimeoutError": "phystwin.fmu.isolate",
    "simulate_isolated": "phystwin.fmu.isolate",
    "FMUDescription": "phystwin.fmu.description",
    "FMUDescriptionError": "phystwin.fmu.description",
    "FMUVariable": "phystwin.fmu.description",
    "read_description": "phystwin.fmu.description",
    "check_run": "phystwin.fmu.validation",
    "validate": "phystwin.fmu.validation",
    "FMUArchiveError": "phystwin.fmu.archive",
    "safe_extract": "phystwin.fmu.archive",
    "sha256_file": "phystwin.fmu.archive",
    "FmuBuildError": "phystwin.fmu.build",
    "build_fmu": "phystwin.fmu.build",
    "bundled_models": "phystwin.fmu.build",
    "FMUCallError": "phystwin.fmu.errors",
    "FMUDiscard": "phystwin.fmu.errors",
    "FMUError": "phystwin.fmu.errors",
    "FMUFatal": "phystwin.fmu.errors",
    "FMUNonFinite": "phystwin.fmu.errors",
    "FMUTimeout": "phystwin.fmu.errors",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the same names for type checkers and IDEs
    from phystwin.fmu.archive import FMUArchiveError as FMUArchiveError
    from phystwin.fmu.archive import safe_extract as safe_extract
    from phystwin.fmu.archive import sha256_file as sha256_file
    from phystwin.fmu.build import FmuBuildError as FmuBuildError
    from phystwin.fmu.build import build_fmu as build_fmu
    from phystwin.fmu.build import bundled_models as bundled_models
    from phystwin.fmu.cosim import CoSimResult as CoSimResult
    from phystwin.fmu.cosim import CoSimulation as CoSimulation
    from phystwin.fmu.cosim import CoSimUnit as CoSimUnit
    from phystwin.fmu.cosim import NativeUnit as NativeUnit
    from phystwin.fmu.description import FMUDescription as FMUDescription
    from phystwin.fmu.description import FMUDescriptionError as FMUDescriptionError
    from phystwin.fmu.description import FMUVariable as FMUVariable
    from phystwin.fmu.description import read_description as read_description
    from phystwin.fmu.errors import FMUCallError as FMUCallError
    from phystwin.fmu.errors import FMUDiscard as FMUDiscard
    from phystwin.fmu.errors import FMUError as FMUError
    from phystwin.fmu.errors import FMUFatal as FMUFatal
    from phystwin.fmu.errors import FMUNonFinite as FMUNonFinite
    from phystwin.fmu.errors import FMUTimeout as FMUTimeout
    from phystwin.fmu.instance import FMUInstance as FMUInstance
    from phystwin.fmu.instance import FMUStateSnapshot as FMUStateSnapshot
    from phystwin.fmu.isolate import IsolatedResult as IsolatedResult
    from phystwin.fmu.isolate import IsolatedRunError as IsolatedRunError
    from phystwin.fmu.isolate import IsolatedTimeoutError as IsolatedTimeoutError
    from phystwin.fmu.isolate import simulate_isolated as simulate_isolated
    from phystwin.fmu.me import FMUModelExchange as FMUModelExchange
    from phystwin.fmu.me import fmu_component as fmu_component
    from phystwin.fmu.validation import check_run as check_run
    from phystwin.fmu.validation import validate as validate
