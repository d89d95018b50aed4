"""Run an FMU in a separate process with a wall-clock limit: :func:`simulate_isolated`.

When to use it
--------------
An FMU is native code (a shared library, or an embedded interpreter) that phystwin loads into its own
process. A bug in it - an endless loop inside ``fmi2DoStep``, a segmentation fault, ``abort()``, a runaway
allocation - hangs or kills the whole caller. :func:`simulate_isolated` loads the FMU in a fresh Python
process instead (``python -P isolate.py <request folder>``, in a new session and process group), waits for it
with a wall-clock limit, and kills the whole process group when the limit is reached. The caller only ever
sees a Python exception (:class:`IsolatedTimeoutError` or :class:`IsolatedRunError`) and keeps running.

Use it for FMUs of unknown quality (third-party, freshly exported, fault-injection tests), and whenever a
hang must not stall a service. For a trusted FMU that is simulated many times, call ``fmpy`` in-process:
isolation is pure overhead there.

Isolation protects the caller from hangs and crashes, **not from malicious code**: the child runs as the same
user, with the same file system, network and environment as the caller. An FMU that wants to delete files or
open a socket can. Only run FMUs from sources you trust, or add an operating-system sandbox (container,
separate user, seccomp) around the whole process.

What it costs
-------------
Each call starts a new interpreter that imports numpy and fmpy, extracts nothing (the parent extracts the
archive once, through :func:`phystwin.fmu.archive.safe_extract`) and exchanges the request and the result
through files in a temporary folder. Measured on a 2-core x86-64 Linux machine (Python 3.11, fmpy 0.3.32):
about 0.25-0.35 s of wall time per call on top of the simulation itself (``thermal_rc``, 200 steps:
0.02 s in-process, 0.24 s isolated with ModelExchange, 0.36 s with CoSimulation). The child does not import
:mod:`phystwin` (its ``__init__`` would cost about 0.9 s more).

The protocol
------------
The parent writes ``request.json`` (and ``inputs.npy``) into a private temporary folder and starts the child
with that folder as its only argument. The child writes ``result.npy`` (the structured array returned by
``fmpy.simulate_fmu``) and ``meta.json`` and exits with code 0; or writes ``error.json`` (exception type,
message, traceback) and exits with code 3. Its stdout and stderr (including the FMU's log messages) go to
``child.log``; the tail of that file is part of every error message.
After every run, a successful one too, the child's process group is sent SIGKILL (while the exited child
is not yet reaped, so its group id cannot have been reused): nothing the FMU started outlives the call.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from phystwin.errors import InvalidTypeError, InvalidValueError, UnknownNameError

__all__ = ["IsolatedResult", "IsolatedRunError", "IsolatedTimeoutError", "simulate_isolated"]

_TERM_GRACE = 1.0
"""Seconds between SIGTERM and SIGKILL when the child is killed."""

_ERROR_EXIT = 3
"""Exit code of a child that caught an exception and wrote ``error.json``."""

_LOG_TAIL = 2000
"""Characters of the child's output quoted in an error message."""

_SHA_SHOWN = 16
"""Hex digits of the SHA-256 quoted in messages."""


# ----------------------------------------------------------------------------------------------- child side


def _child_main(argv: list[str]) -> int:
    """Entry point of the isolated process: ``python -P isolate.py <work folder>``."""
    if len(argv) != 1:
        print(f"usage: {Path(__file__).name} <work folder written by simulate_isolated>", file=sys.stderr)
        return 2
    work = Path(argv[0])
    try:
        request = json.loads((work / "request.json").read_text())
        from fmpy import simulate_fmu

        inputs = None
        if request["inputs"] is not None:
            inputs = np.load(work / request["inputs"], allow_pickle=False)
        if request["memory_limit_mb"] is not None:
            import resource

            limit = int(request["memory_limit_mb"] * 1024 * 1024)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        t0 = time.perf_counter()
        result = simulate_fmu(
            request["fmu_dir"],
            start_time=request["start_time"],
            stop_time=request["stop_time"],
            step_size=request["step_size"],
            output_interval=request["output_interval"],
            relative_tolerance=request["relative_tolerance"],
            fmi_type=request["fmi_type"],
            start_values=request["start_values"],
            input=inputs,
            output=request["output"],
        )
        simulate_time = time.perf_counter() - t0
        np.save(work / "result.tmp.npy", np.asarray(result), allow_pickle=False)
        (work / "meta.json").write_text(json.dumps({"simulate_time": simulate_time}))
        os.replace(work / "result.tmp.npy", work / "result.npy")
    except BaseException as exc:  # report everything (MemoryError, SystemExit from a library) to the parent
        function, status = getattr(exc, "function", None), getattr(exc, "status", None)  # fmpy's FMICallException
        report = {
            "type": type(exc).__name__,
            "message": str(exc).strip(),
            "function": function if isinstance(function, str) else None,
            "status": status if isinstance(status, int) else None,
            "traceback": traceback.format_exc(),
        }
        (work / "error.json").write_text(json.dumps(report))
        return _ERROR_EXIT
    return 0


if __name__ == "__main__":
    # the isolated process stops here: it must not import phystwin (its __init__ costs ~1 s of numba imports)
    sys.exit(_child_main(sys.argv[1:]))

# ---------------------------------------------------------------------------------------------- parent side

from phystwin.fmu.errors import FMUError, FMUTimeout  # noqa: E402 - after the child's entry point, see above


class IsolatedRunError(FMUError):
    """The isolated process failed: the FMU raised an FMI error, crashed, or could not be loaded.

    ``fmu`` is the FMU's ``modelName``; ``function`` and ``status`` are the failed FMI function and its status
    code (3 Error, 4 Fatal) when the child reported an FMI call that failed, else None.

    Attributes
    ----------
    sha256 : str
        SHA-256 of the ``.fmu`` file.
    returncode : int or None
        Exit code of the child; negative for a signal (``-11`` is SIGSEGV); None when it was killed on timeout.
    log_tail : str
        The last lines the child wrote to stdout/stderr (the FMU's log messages included).
    """

    def __init__(
        self,
        message: str,
        *,
        fmu: str,
        sha256: str,
        returncode: int | None,
        log_tail: str,
        function: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, fmu=fmu, function=function, status=status)
        self.sha256 = sha256
        self.returncode = returncode
        self.log_tail = log_tail


class IsolatedTimeoutError(FMUTimeout, IsolatedRunError):
    """The isolated process did not finish within its wall-clock limit and was killed.

    Attributes
    ----------
    timeout : float
        The limit in seconds.
    """

    def __init__(self, message: str, *, timeout: float, fmu: str, sha256: str, log_tail: str) -> None:
        IsolatedRunError.__init__(self, message, fmu=fmu, sha256=sha256, returncode=None, log_tail=log_tail)
        self.timeout = timeout


@dataclass(frozen=True)
class IsolatedResult:
    """The result of :func:`simulate_isolated`.

    Attributes
    ----------
    model_name : str
        The FMU's ``modelName``.
    sha256 : str
        SHA-256 of the ``.fmu`` file (64 hex digits).
    values : numpy.ndarray
        The structured array ``fmpy.simulate_fmu`` returned in the child: field ``time`` then one field per
        recorded variable.
    units : dict of str to str or None
        The unit of every recorded variable, as declared by the FMU (None when it declares none).
    wall_time : float
        Seconds from starting the child to its exit, as seen by the caller (process start included).
    simulate_time : float
        Seconds the child spent in ``fmpy.simulate_fmu`` (FMU loading and simulation).
    problems : tuple of str
        What :func:`~phystwin.fmu.validation.check_run` found: the run stopped before the stop time, or a
        recorded variable is not finite or outside its declared ``[min, max]`` (empty: none).
    """

    model_name: str
    sha256: str
    values: np.ndarray = field(repr=False)
    units: dict[str, str | None]
    wall_time: float
    simulate_time: float
    problems: tuple[str, ...] = ()

    @property
    def time(self) -> np.ndarray:
        """The time points (s)."""
        return np.asarray(self.values["time"])

    @property
    def names(self) -> tuple[str, ...]:
        """The recorded variables, in the order of :attr:`values`."""
        return tuple(n for n in self.values.dtype.names or () if n != "time")

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        """Every recorded variable as its own array, by name."""
        return {name: np.asarray(self.values[name]) for name in self.names}

    def __getitem__(self, name: str) -> np.ndarray:
        """The array of one recorded variable (or ``"time"``)."""
        if name != "time" and name not in self.names:
            raise UnknownNameError(
                f"{self.model_name} result has no variable {name!r} (recorded: {', '.join(self.names)})"
            )
        return np.asarray(self.values[name])


def _structured_inputs(inputs: np.ndarray | Mapping[str, Any]) -> np.ndarray:
    """The inputs as the structured array fmpy expects: field ``time`` first, then one field per input."""
    if isinstance(inputs, np.ndarray):
        names = inputs.dtype.names
        if not names or names[0] != "time" or inputs.ndim != 1:
            raise InvalidValueError(
                "inputs: expected a 1-D structured array whose first field is 'time' "
                f"(got shape {inputs.shape}, fields {names})"
            )
        if inputs.dtype.hasobject:
            raise InvalidValueError("inputs: fields of dtype object cannot be sent to the isolated process")
        arr = inputs
    elif isinstance(inputs, Mapping):
        if "time" not in inputs:
            raise InvalidValueError(f"inputs: the dict needs a 'time' entry (got keys {', '.join(map(str, inputs))})")
        columns = {str(k): np.asarray(v, dtype=float) for k, v in inputs.items()}
        n = columns["time"].shape
        for name, col in columns.items():
            if col.ndim != 1 or col.shape != n:
                raise InvalidValueError(f"inputs: {name!r} has shape {col.shape}, expected {n} like 'time' (1-D)")
        order = ["time", *(k for k in columns if k != "time")]
        arr = np.empty(n, dtype=[(k, np.float64) for k in order])
        for k in order:
            arr[k] = columns[k]
    else:
        raise InvalidTypeError(
            f"inputs: expected a structured numpy array or a dict of arrays, got {type(inputs).__name__}"
        )
    t = np.asarray(arr["time"], dtype=float)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        raise InvalidValueError("inputs: 'time' must be non-empty, finite and non-decreasing")
    return arr


def _json_value(name: str, value: Any) -> bool | int | float | str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float | str):
        return value
    raise InvalidTypeError(f"start_values[{name!r}]: expected a bool, int, float or str, got {type(value).__name__}")


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - _LOG_TAIL))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return text.strip()


def _exited(pid: int) -> bool:
    """True when the child has exited; it stays a zombie (not reaped), so its process group id stays reserved."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def _wait_exited(pid: int, timeout: float) -> bool:
    """Poll until the child has exited (without reaping it) or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while not _exited(pid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.02)
    return True


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name} (exit code {returncode})"
    return f"exit code {returncode}"


def _variable_units(md: Any) -> dict[str, str | None]:
    units: dict[str, str | None] = {}
    for v in md.modelVariables:
        unit = getattr(v, "unit", None)
        declared = getattr(v, "declaredType", None)
        if unit is None and declared is not None:
            unit = getattr(declared, "unit", None)
        units[v.name] = unit
    return units


def simulate_isolated(
    fmu_path: str | PathLike[str],
    *,
    stop_time: float,
    step_size: float | None = None,
    fmi_type: Literal["CoSimulation", "ModelExchange"] = "CoSimulation",
    start_values: Mapping[str, Any] | None = None,
    inputs: np.ndarray | Mapping[str, Any] | None = None,
    output: Sequence[str] | None = None,
    timeout: float = 30.0,
    memory_limit_mb: float | None = None,
    start_time: float | None = None,
    output_interval: float | None = None,
    relative_tolerance: float | None = None,
) -> IsolatedResult:
    """Simulate an FMU with ``fmpy.simulate_fmu`` in a separate process that is killed after ``timeout`` s.

    The archive is extracted by the caller through :func:`~phystwin.fmu.archive.safe_extract` into a private
    temporary folder; the child loads the FMU from there. The arguments are those of ``fmpy.simulate_fmu``,
    so for the same arguments the result is identical to an in-process run.

    Parameters
    ----------
    fmu_path
        The ``.fmu`` file (FMI 2.0 or 3.0).
    stop_time
        End of the simulation (s).
    step_size
        CoSimulation: the communication step. fmpy steps a co-simulation FMU with its ``output_interval``, so
        ``step_size`` is passed as ``output_interval`` when that is None (fmpy doubles it while the run would
        take more than 1000 steps). ModelExchange: fmpy integrates with CVode (variable step) and records the
        result every ``step_size`` s when ``output_interval`` is None. None lets fmpy choose from the default
        experiment.
    fmi_type
        ``"CoSimulation"`` or ``"ModelExchange"`` (fmpy integrates with CVode).
    start_values
        Start values by variable name (bool, int, float or str).
    inputs
        Input time series: a structured array whose first field is ``time`` (fmpy's format), or a dict of
        equal-length 1-D arrays with a ``"time"`` entry.
    output
        Variables to record; None records the FMU's outputs.
    timeout
        Wall-clock limit in seconds for the whole child (interpreter start, FMU loading, simulation).
    memory_limit_mb
        Address-space limit of the child (``RLIMIT_AS``), applied after numpy and fmpy are imported and before
        the FMU is loaded; None for no limit.
    start_time, output_interval, relative_tolerance
        Passed to ``fmpy.simulate_fmu``.

    Returns
    -------
    IsolatedResult
        Time vector, recorded variables with their units, the FMU's SHA-256, wall and simulation time.

    Raises
    ------
    IsolatedTimeoutError
        The child did not finish within ``timeout`` s; its process group was sent SIGTERM, then SIGKILL.
    IsolatedRunError
        The child failed: an FMI call returned Error or Fatal, the binary could not be loaded, the child was
        killed by a signal (segmentation fault, abort) or exited early. The message names the FMU, its
        SHA-256, the exit code or signal and the child's last error text.
    FMUArchiveError
        The file is missing, not a ZIP archive, or refused by :func:`~phystwin.fmu.archive.safe_extract`.
    ValueError, TypeError
        Invalid arguments (the message names the argument and what was expected).
    """
    from fmpy import read_model_description

    from phystwin.fmu.archive import safe_extract, sha256_file
    from phystwin.fmu.description import read_description
    from phystwin.fmu.validation import check_run

    if fmi_type not in ("CoSimulation", "ModelExchange"):
        raise InvalidValueError(f"fmi_type: expected 'CoSimulation' or 'ModelExchange', got {fmi_type!r}")
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise InvalidValueError(f"timeout: expected a finite number of seconds > 0, got {timeout!r}")
    if memory_limit_mb is not None and not memory_limit_mb > 0:
        raise InvalidValueError(f"memory_limit_mb: expected a number of MiB > 0 or None, got {memory_limit_mb!r}")
    if fmi_type == "CoSimulation" and output_interval is None:
        output_interval, step_size = step_size, None
    numbers = {
        "stop_time": stop_time,
        "step_size": step_size,
        "start_time": start_time,
        "output_interval": output_interval,
        "relative_tolerance": relative_tolerance,
    }
    for key, val in numbers.items():
        if val is not None and not math.isfinite(float(val)):
            raise InvalidValueError(f"{key}: expected a finite number, got {val!r}")

    path = Path(fmu_path)
    sha256 = sha256_file(path) if path.is_file() else ""
    with tempfile.TemporaryDirectory(prefix="phystwin-isolate-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        fmu_dir = safe_extract(path, work / "fmu")
        name = path.name
        try:
            md = read_model_description(str(fmu_dir), validate=False)
            name = md.modelName or name
        except Exception as exc:  # fmpy raises bare Exception, lxml its own errors
            raise IsolatedRunError(
                f"FMU {path.name} (sha256 {sha256[:_SHA_SHOWN]}...): cannot read modelDescription.xml: {exc}",
                fmu=name,
                sha256=sha256,
                returncode=None,
                log_tail="",
            ) from None
        units = _variable_units(md)
        label = f"FMU {name} (sha256 {sha256[:_SHA_SHOWN]}...)"

        starts = {str(k): _json_value(str(k), v) for k, v in (start_values or {}).items()}
        for key in starts:
            if key not in units:
                raise InvalidValueError(f"start_values: {label} has no variable {key!r}")
        if output is not None:
            output = [str(o) for o in output]
            for key in output:
                if key not in units:
                    raise InvalidValueError(f"output: {label} has no variable {key!r}")
        request: dict[str, Any] = {
            "fmu_dir": str(fmu_dir),
            "fmi_type": fmi_type,
            "start_values": starts,
            "output": output,
            "memory_limit_mb": memory_limit_mb,
            "inputs": None,
            **{k: (None if v is None else float(v)) for k, v in numbers.items()},
        }
        if inputs is not None:
            arr = _structured_inputs(inputs)
            inputs_declared = {v.name for v in md.modelVariables if v.causality == "input"}
            for col in (arr.dtype.names or ())[1:]:
                if col not in inputs_declared:
                    raise InvalidValueError(
                        f"inputs: {label} has no input {col!r} (inputs: {', '.join(sorted(inputs_declared)) or 'none'})"
                    )
            np.save(work / "inputs.npy", arr, allow_pickle=False)
            request["inputs"] = "inputs.npy"
        (work / "request.json").write_text(json.dumps(request))

        env = dict(os.environ)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        log_path = work / "child.log"
        cmd = [sys.executable, "-P", "-u", str(Path(__file__).resolve()), str(work)]
        t0 = time.perf_counter()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script, no shell
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            try:
                finished = _wait_exited(proc.pid, timeout)
                if not finished:
                    _killpg(proc.pid, signal.SIGTERM)
                    _wait_exited(proc.pid, _TERM_GRACE)
            finally:
                # the child is a zombie or still running: its group id cannot have been reused yet; kill whatever
                # it left behind (or the child itself, after a timeout or when the caller is interrupted), then reap
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        wall_time = time.perf_counter() - t0
        log_tail = _tail(log_path)
        if not finished:
            raise IsolatedTimeoutError(
                f"{label} did not finish within {timeout:g} s of wall time; the isolated process was killed"
                + (f"\nlast output of the isolated process:\n{log_tail}" if log_tail else ""),
                timeout=float(timeout),
                fmu=name,
                sha256=sha256,
                log_tail=log_tail,
            )
        code = proc.returncode
        if code != 0 or not (work / "result.npy").is_file():
            report = _error_report(work) if code == _ERROR_EXIT else {}
            raise IsolatedRunError(
                _failure_message(label, code, report, log_tail, memory_limit_mb),
                fmu=name,
                sha256=sha256,
                returncode=code,
                log_tail=log_tail,
                function=report.get("function"),
                status=report.get("status"),
            )
        values = np.load(work / "result.npy", allow_pickle=False)
        meta = json.loads((work / "meta.json").read_text())
    recorded = [n for n in values.dtype.names or () if n != "time"]
    problems = tuple(
        check_run(read_description(path), values["time"], {n: values[n] for n in recorded}, stop_time=float(stop_time))
    )
    return IsolatedResult(
        model_name=name,
        sha256=sha256,
        values=values,
        units={n: units.get(n) for n in recorded},
        wall_time=wall_time,
        simulate_time=float(meta["simulate_time"]),
        problems=problems,
    )


def _error_report(work: Path) -> dict[str, Any]:
    """The child's ``error.json`` (empty when it could not write one, e.g. out of memory)."""
    try:
        report = json.loads((work / "error.json").read_text())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _failure_message(
    label: str, code: int, report: Mapping[str, Any], log_tail: str, memory_limit_mb: float | None
) -> str:
    if report:
        detail = f": {report.get('type')}: {report.get('message')}"
    elif code == 0:
        detail = ": it exited with code 0 but wrote no result"
    else:
        detail = ""
    message = f"{label} failed in the isolated process ({_describe_exit(code)}){detail}"
    if memory_limit_mb is not None:
        message += f"\n(the process ran with a memory limit of {memory_limit_mb:g} MiB; it may have been too small)"
    if log_tail:
        message += f"\nlast output of the isolated process:\n{log_tail}"
    return message
