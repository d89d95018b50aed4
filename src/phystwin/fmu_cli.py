"""``phystwin fmu``: inspect Functional Mock-up Units.

::

    phystwin fmu info MODEL.fmu [--json]

``info`` prints the FMI version, the model name, the interfaces with their capabilities, the default experiment,
the variables with their units, the validation findings and the file's SHA-256. Exit status: 0 when the FMU
is valid, 1 when validation finds problems, 2 when the file is missing, unreadable or a refused archive (one
message on stderr, no traceback).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from phystwin.fmu.archive import FMUArchiveError, sha256_file
from phystwin.fmu.description import FMUDescription, FMUDescriptionError, read_description, validate

__all__ = ["EXIT_ERROR", "EXIT_INVALID", "fmu_app"]

EXIT_INVALID = 1
EXIT_ERROR = 2

fmu_app = typer.Typer(
    help="Inspect FMUs (Functional Mock-up Units, FMI 2.0 and 3.0).", no_args_is_help=True, add_completion=False
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
    except FMUArchiveError as exc:
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
    except (FMUArchiveError, OSError) as exc:
        _fail(str(exc))
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
