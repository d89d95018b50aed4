"""Errors raised when an FMU misbehaves, and the mapping from FMI status codes to them.

Every FMI call made by :mod:`phystwin.fmu` returns (or fmpy reports) a status code; :func:`check_status` turns
it into one of these exceptions, each carrying the FMU name, the FMI function, the status and the simulation
time [s] at which it happened:

======== ======= =====================================================================
status   code    raised
======== ======= =====================================================================
OK       0       nothing
Warning  1       nothing; logged on the ``phystwin.fmu`` logger
Discard  2       :class:`FMUDiscard` (the step was not accepted; a master may retry smaller)
Error    3       :class:`FMUCallError` (this call failed; the instance may still be usable)
Fatal    4       :class:`FMUFatal` (every instance of the FMU is corrupt; no FMI call after it)
Pending  5       :class:`FMUCallError` (asynchronous ``fmi2DoStep`` is not supported)
======== ======= =====================================================================
"""

from __future__ import annotations

import logging

from phystwin.errors import PhystwinError

__all__ = [
    "STATUS_NAMES",
    "FMUCallError",
    "FMUDiscard",
    "FMUError",
    "FMUFatal",
    "FMUNonFinite",
    "FMURefused",
    "FMUStateUnsupported",
    "FMUTimeout",
    "check_status",
]

_log = logging.getLogger("phystwin.fmu")

STATUS_NAMES: tuple[str, ...] = ("OK", "Warning", "Discard", "Error", "Fatal", "Pending")
"""FMI 2.0 / 3.0 status names, indexed by status code."""


def _status_name(status: int | None) -> str:
    if status is None:
        return "n/a"
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"illegal status {status}"


class FMUError(PhystwinError, RuntimeError):
    """Base class of every FMU runtime error.

    Parameters
    ----------
    message
        What went wrong and what was expected.
    fmu
        Name of the FMU (model name or instance name).
    function
        FMI function that failed (``"fmi2DoStep"``), or a phystwin method name.
    status
        FMI status code (0 OK ... 5 Pending), or None when no FMI status applies.
    time
        Simulation time [s] of the failure (for ``fmi2DoStep``: the start of the step), or None if unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        fmu: str | None = None,
        function: str | None = None,
        status: int | None = None,
        time: float | None = None,
    ) -> None:
        self.fmu = fmu
        self.function = function
        self.status = status
        self.time = time
        super().__init__(message)

    @property
    def status_name(self) -> str:
        """``"Discard"``, ``"Error"``, ... (``"n/a"`` without a status)."""
        return _status_name(self.status)


class FMUDiscard(FMUError):  # noqa: N818 (FMI status names)
    """``fmi2Discard``: the FMU did not accept the call (e.g. a step too large); a smaller step may succeed."""


class FMUCallError(FMUError):
    """``fmi2Error`` (or an unsupported ``fmi2Pending``): the call failed; the master should stop the run."""


class FMUFatal(FMUError):  # noqa: N818 (FMI status names)
    """``fmi2Fatal``: the FMU is irreparably corrupt; phystwin refuses every later FMI call on the instance."""


class FMURefused(FMUFatal):
    """A call was refused *without calling the FMU* because the instance returned ``fmi2Fatal`` before."""


class FMUNonFinite(FMUError):  # noqa: N818 (FMI status names)
    """An FMU returned NaN or Inf for an output or derivative although its status was OK.

    ``variables`` names the offending variables.
    """

    def __init__(
        self,
        message: str,
        *,
        variables: tuple[str, ...] = (),
        fmu: str | None = None,
        function: str | None = None,
        time: float | None = None,
    ) -> None:
        self.variables = tuple(variables)
        super().__init__(message, fmu=fmu, function=function, status=0, time=time)


class FMUStateUnsupported(FMUError):  # noqa: N818 (FMI status names)
    """Get/set/serialize FMU state was requested but the FMU's capability flag says it cannot do it."""


class FMUTimeout(FMUError):  # noqa: N818 (FMI status names)
    """An FMU call did not return within the allowed wall time (raised by the isolating runner)."""


def _where(fmu: str, function: str, t: float | None, near: bool = False) -> str:
    at = f" {'near' if near else 'at'} t = {t:.9g} s" if t is not None else ""
    return f"FMU {fmu!r}: {function}{at}"


def check_status(status: int, fmu: str, function: str, t: float | None = None, *, near: bool = False) -> None:
    """Raise the error matching an FMI status code; return quietly for OK, log a Warning.

    Parameters
    ----------
    status
        The code the FMI function returned: 0 OK, 1 Warning, 2 Discard, 3 Error, 4 Fatal, 5 Pending.
    fmu
        FMU (instance) name, for the message.
    function
        FMI function name, for the message.
    t
        Simulation time [s] of the call, or None.
    near
        ``t`` is the time reached rather than that of the call (a failure inside a compiled simulation):
        the message says "near t" instead of "at t".

    Raises
    ------
    FMUDiscard
        ``status == 2``.
    FMUCallError
        ``status == 3``, ``status == 5`` (asynchronous calls are not supported) or an illegal code.
    FMUFatal
        ``status == 4``.
    """
    status = int(status)
    if status == 0:
        return
    if status == 1:
        _log.warning("%s returned fmi2Warning", _where(fmu, function, t))
        return
    cls: type[FMUError]
    if status == 2:
        cls, what = FMUDiscard, "Discard (call not accepted; expected OK)"
    elif status == 3:
        cls, what = FMUCallError, "Error (expected OK; see the FMU log)"
    elif status == 4:
        cls, what = FMUFatal, "Fatal: the instance is corrupt and accepts no further FMI call"
    elif status == 5:
        cls, what = FMUCallError, "Pending: asynchronous steps are not supported (expected OK)"
    else:
        cls, what = FMUCallError, f"illegal status {status} (expected 0..5)"
    raise cls(f"{_where(fmu, function, t, near)} returned {what}", fmu=fmu, function=function, status=status, time=t)
