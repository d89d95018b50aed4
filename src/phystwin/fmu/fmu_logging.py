"""FMU log messages into Python logging instead of stdout.

fmpy's default callbacks print every message an FMU logs (``[DISCARD] ...``) to standard output, which
floods a command-line run whose solver retries a discarded step. :func:`instantiate_quietly` instantiates
an fmpy FMU object (FMI 2.0 or 3.0, model exchange or co-simulation) with a logger that forwards each
message to the ``phystwin.fmu`` logger instead, at a level that follows the FMI status:

========== ============ =====================================================================
status     level        why
========== ============ =====================================================================
OK         DEBUG        informational
Warning    WARNING
Discard    INFO         a solver handles it (retries a shorter step); the raised error says it
Error      WARNING      phystwin raises a named error for the failing call as well
Fatal      ERROR
Pending    DEBUG
========== ============ =====================================================================
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LOGGER", "instantiate_quietly"]

LOGGER = logging.getLogger("phystwin.fmu")
_LEVELS = (logging.DEBUG, logging.WARNING, logging.INFO, logging.WARNING, logging.ERROR, logging.DEBUG)
_STATUS = ("OK", "Warning", "Discard", "Error", "Fatal", "Pending")


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


def _log(instance: str, status: int, category: Any, message: Any) -> None:
    level = _LEVELS[status] if 0 <= status < len(_LEVELS) else logging.WARNING
    label = _STATUS[status] if 0 <= status < len(_STATUS) else str(status)
    LOGGER.log(level, "FMU %s [%s, %s] %s", instance, label, _text(category), _text(message))


def instantiate_quietly(fmu: Any, *, fmi3: bool, **kwargs: Any) -> None:
    """``fmu.instantiate(**kwargs)`` with the FMU's log messages routed to :data:`LOGGER` (the callback
    objects are kept on ``fmu`` so they outlive the call, as fmpy does for its own)."""
    name = str(getattr(fmu, "instanceName", "fmu"))
    if fmi3:

        def log_message(env: Any, status: int, category: Any, message: Any) -> None:
            _log(name, int(status), category, message)

        fmu.instantiate(logMessage=log_message, **kwargs)
        return
    from fmpy.fmi2 import defaultCallbacks, fmi2CallbackFunctions, fmi2CallbackLoggerTYPE

    def logger(component: Any, instance: Any, status: int, category: Any, message: Any) -> None:
        _log(_text(instance) or name, int(status), category, message)

    callbacks = fmi2CallbackFunctions()
    callbacks.logger = fmi2CallbackLoggerTYPE(logger)
    callbacks.allocateMemory = defaultCallbacks.allocateMemory
    callbacks.freeMemory = defaultCallbacks.freeMemory
    fmu.instantiate(callbacks=callbacks, **kwargs)
