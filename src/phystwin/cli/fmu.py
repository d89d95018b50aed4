"""``phystwin fmu``: inspect Functional Mock-up Units.

::

    phystwin fmu info MODEL.fmu [--json]
    phystwin fmu run MODEL.fmu [--stop-time 10] [--step 1e-3] [--interface cs|me] [--set NAME=VALUE] [--json]

``info`` prints the FMI version, the model name, the interfaces with their capabilities, the default experiment,
the variables with their units, the validation findings and the file's SHA-256. Exit status: 0 when the FMU
is valid, 1 when validation finds problems, 2 when the file is missing, unreadable or a refused archive (one
message on stderr, no traceback).

``run`` simulates the FMU to its stop time in a separate, time-limited process
(:func:`~phystwin.fmu.isolate.simulate_isolated`: an untrusted or hanging FMU cannot take the caller with it)
and checks the result (:func:`~phystwin.fmu.validation.check_run`): the stop time is reached and every output
is finite and inside its declared ``[min, max]``. It prints each output's final, smallest and largest value
and the findings. Exit status: 0 when the run is clean, 1 when it has findings, 2 when it fails (an FMI
error, a crash, the wall-clock limit).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from phystwin.errors import PhystwinError
from phystwin.fmu.archive import sha256_file
from phystwin.fmu.description import FMUDescription, FMUDescriptionError, read_description, validate

__all__ = ["EXIT_ERROR", "EXIT_INVALID", "fmu_app"]

EXIT_INVALID = 1
EXIT_ERROR = 2

fmu_app = typer.Typer(
    help="Inspect and run FMUs (Functional Mock-up Units, FMI 2.0 and 3.0).", no_args_is_help=True, add_completion=False
)


def _console(stderr: bool = False) -> Console:
    # markup off: names and units ("[1]") print as they are; wide when piped so the table is not squeezed
    con = Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False)
    if not con.is_terminal:
        con.width = max(con.width, 160)
    return con


def _fail(message: str) -> None:
    _console(stderr=True).print(Text.assemble(("error:", "bold red"), f" {message}"))
    raise typer.Exit(EXIT_ERROR)


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, tuple):
        return " ".join(_num(v) for v in value)
    return str(value)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _print(desc: FMUDescription, con: Console) -> None:
    con.print(Text.assemble(("FMU: ", "bold"), str(desc.path)))
    con.print(f"FMI version: {desc.fmi_version}")
    con.print(f"model name: {desc.model_name}")
    con.print(f"{'instantiation token' if desc.fmi_version.startswith('3') else 'GUID'}: {desc.guid or '(none)'}")
    con.print("interfaces:")
    for i in desc.interfaces:
        caps = [
            f"get/set state {_yes(i.can_get_and_set_state)}",
            f"serialize state {_yes(i.can_serialize_state)}",
            f"directional derivatives {_yes(i.provides_directional_derivative)}",
        ]
        if i.kind == "CoSimulation":
            caps.append(f"variable step {_yes(i.can_handle_variable_step)}")
        con.print(f"  {i.kind} (model identifier {i.model_identifier}): {', '.join(caps)}")
    if not desc.interfaces:
        con.print("  (none)")
    de = desc.default_experiment
    times = (("start", de.start), ("stop", de.stop), ("step", de.step))
    parts = [f"{k} {_num(v)} s" for k, v in times if v is not None]
    parts += [f"tolerance {_num(de.tolerance)}"] if de.tolerance is not None else []
    con.print(f"default experiment: {', '.join(parts) if parts else '(none)'}")
    pairs = ", ".join(f"{p.state} (derivative {p.derivative})" for p in desc.states)
    con.print(f"continuous states: {desc.n_states}{': ' + pairs if pairs else ''}")
    con.print(f"event indicators: {desc.n_event_indicators}")
    table = Table(title=f"variables ({len(desc.variables)})", title_justify="left")
    for col in ("name", "causality", "variability", "type", "unit", "start", "min", "max"):
        table.add_column(col, overflow="fold")
    for v in desc.variables:
        table.add_row(v.name, v.causality, v.variability, v.type, v.unit or "", _num(v.start), _num(v.min), _num(v.max))
    con.print(table)


def _as_json(desc: FMUDescription | None, path: Path, sha: str, problems: list[str], error: str | None) -> str:
    data: dict[str, Any] = {}
    if desc is not None:
        data = asdict(desc)
        data["states"] = [p._asdict() for p in desc.states]
        data["path"] = str(desc.path)
    else:
        data = {"path": str(path), "sha256": sha, "error": error}
    data["valid"] = not problems
    data["problems"] = problems
    return json.dumps(data, indent=2, default=str)


@fmu_app.command("info")
def info(
    fmu_path: Annotated[
        Path, typer.Argument(help="The .fmu file (FMI 2.0 or 3.0).", show_default=False, metavar="FMU_PATH")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Describe an FMU: version, interfaces, default experiment, variables with units, validation, SHA-256."""
    try:
        problems = validate(fmu_path)
        sha = sha256_file(fmu_path)
    except PhystwinError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {fmu_path}: {exc}")
    desc: FMUDescription | None = None
    error: str | None = None
    try:
        desc = read_description(fmu_path)
    except FMUDescriptionError as exc:
        if not problems:  # pragma: no cover - validate() reports what read_description() cannot read
            _fail(str(exc))
        error = str(exc)
    except PhystwinError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {fmu_path}: {exc}")
    if as_json:
        typer.echo(_as_json(desc, fmu_path, sha, problems, error))
    else:
        con = _console()
        if desc is not None:
            _print(desc, con)
        else:
            con.print(Text.assemble(("FMU: ", "bold"), str(fmu_path)))
            con.print(f"model description: cannot be read ({error})")
        if problems:
            con.print(Text(f"validation: {len(problems)} problem(s) found", style="bold red"))
            for p in problems:
                con.print(f"  - {p}")
        else:
            con.print("validation: no problems found")
        con.print(f"SHA-256: {sha}")
    raise typer.Exit(EXIT_INVALID if problems else 0)


def _start_values(pairs: list[str]) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            _fail(f"--set {pair!r}: expected NAME=VALUE")
        try:
            out[name.strip()] = float(text)
        except ValueError:
            out[name.strip()] = text
    return out


@fmu_app.command("run")
def run(
    fmu_path: Annotated[
        Path, typer.Argument(help="The .fmu file (FMI 2.0 or 3.0).", show_default=False, metavar="FMU_PATH")
    ],
    stop_time: Annotated[
        float | None, typer.Option("--stop-time", help="End of the run [s] (default: the default experiment's).")
    ] = None,
    step: Annotated[
        float | None, typer.Option("--step", help="Communication step (cs) or output interval (me) [s].")
    ] = None,
    interface: Annotated[str, typer.Option("--interface", help="cs (co-simulation) or me (model exchange).")] = "cs",
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="Start value NAME=VALUE (repeatable).", show_default=False)
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Wall-clock limit of the isolated run [s].")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Run an FMU to its stop time in an isolated process and check the result (finite, inside [min, max])."""
    from phystwin.fmu.isolate import simulate_isolated

    kinds = {"cs": "CoSimulation", "me": "ModelExchange"}
    if interface not in kinds:
        _fail(f"--interface {interface!r}: expected cs or me")
    try:
        desc = read_description(fmu_path)
    except PhystwinError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {fmu_path}: {exc}")
    stop = stop_time if stop_time is not None else desc.default_experiment.stop
    if stop is None:
        _fail(f"{fmu_path.name} declares no default stop time: give --stop-time")
    try:
        res = simulate_isolated(
            fmu_path,
            stop_time=float(stop),  # type: ignore[arg-type]
            step_size=step,
            fmi_type=kinds[interface],  # type: ignore[arg-type]
            start_values=_start_values(set_values or []),
            timeout=timeout,
        )
    except PhystwinError as exc:
        _fail(str(exc))
    rows = []
    for name in res.names:
        v = np.asarray(res[name], dtype=np.float64)
        rows.append((name, res.units.get(name) or "", float(v[-1]), float(np.min(v)), float(np.max(v))))
    if as_json:
        doc = {
            "fmu": str(fmu_path),
            "sha256": res.sha256,
            "stop_time": float(stop),  # type: ignore[arg-type]
            "reached": float(res.time[-1]) if res.time.size else None,
            "wall_time_s": res.wall_time,
            "outputs": {n: {"unit": u, "final": f, "min": lo, "max": hi} for n, u, f, lo, hi in rows},
            "problems": list(res.problems),
        }
        typer.echo(json.dumps(doc, indent=2, allow_nan=True))
    else:
        con = _console()
        con.print(Text.assemble(("FMU: ", "bold"), f"{desc.model_name} ({fmu_path})"))
        reached = float(res.time[-1]) if res.time.size else float("nan")
        con.print(f"{kinds[interface]} run to t = {reached:.6g} s of {float(stop):.6g} s in {res.wall_time:.3g} s")  # type: ignore[arg-type]
        table = Table("output", "unit", "final", "min", "max")
        for name, unit, final, lo, hi in rows:
            table.add_row(name, unit, _num(final), _num(lo), _num(hi))
        con.print(table)
        if res.problems:
            con.print(Text(f"check: {len(res.problems)} problem(s) found", style="bold red"))
            for p in res.problems:
                con.print(f"  - {p}")
        else:
            con.print("check: stop time reached, every output finite and inside its declared range")
        con.print(f"SHA-256: {res.sha256}")
    raise typer.Exit(EXIT_INVALID if res.problems else 0)
