"""The work behind ``phystwin twins`` and ``phystwin template`` (the commands live in :mod:`phystwin.cli.main`).

``phystwin twins`` lists every twin a config can name, each marked with its kind: the built-in
reference twins, twins registered from Python, the entry points installed packages declare (group
``phystwin.twins``) and, with ``--config CONFIG.toml``, the twin that config names (a
``"package.module:function"`` reference or a ``[twin] file``).

``phystwin template`` writes a complete config for any of them: ``TYPE`` (a name or a
``"package.module:function"`` reference) or ``--file pump.py [--function build]``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.text import Text

from phystwin.errors import PhystwinError
from phystwin.physics.twins import (
    BUILTIN,
    ENTRY_POINT,
    FILE,
    MODULE,
    TwinError,
    TwinSpec,
    builtin_twins,
    entry_points,
    get_twin,
    twin_from_entry_point,
    twin_from_file,
)

__all__ = ["TwinEntry", "kind_text", "print_twins", "template_text", "twin_entries"]


class TwinOptionError(PhystwinError):
    """A twin named on the command line cannot be found, loaded or built (the message names the option)."""


@dataclass(frozen=True)
class TwinEntry:
    """One line of ``phystwin twins``: a twin, or why it cannot be loaded."""

    name: str
    spec: TwinSpec | None
    kind: str
    error: str = ""
    note: str = ""


def kind_text(spec: TwinSpec) -> str:
    """The kind of a twin and where it comes from, for listings."""
    if spec.kind == BUILTIN:
        return f"built-in ({spec.origin})"
    if spec.kind == ENTRY_POINT:
        return f"entry point of {spec.distribution} ({spec.origin})"
    if spec.kind == MODULE:
        return f"module reference ({spec.origin})"
    if spec.kind == FILE:
        path, _, function = spec.origin.rpartition(":")
        return f"file {path}, function {function}"
    return "registered from Python"


def twin_entries(config_path: Path | None = None) -> list[TwinEntry]:
    """Every twin a config can name by ``type``, then (given ``config_path``) the one that config names.

    A config whose twin cannot be found, loaded or built raises its
    :class:`~phystwin.config.schema.ConfigError`; a broken entry point is listed with its error.
    """
    registered = builtin_twins()
    entries = [TwinEntry(name, spec, kind_text(spec)) for name, spec in registered.items()]
    for name, ep in sorted(entry_points().items()):
        if name in registered:
            entries.append(TwinEntry(name, None, f"entry point {ep.value!r}", note=f"shadowed by the {name!r} above"))
            continue
        try:
            spec = twin_from_entry_point(ep)
        except TwinError as exc:
            entries.append(TwinEntry(name, None, f"entry point {ep.value!r}", error=str(exc)))
            continue
        entries.append(TwinEntry(name, spec, kind_text(spec)))
    if config_path is None:
        return entries
    from phystwin.config.schema import read_config
    from phystwin.config.twin import build_system

    config = read_config(config_path)
    spec, _ = build_system(config)  # a twin the config cannot build is the command's error
    note = f"named by {config_path}"
    for k, entry in enumerate(entries):
        if entry.spec is not None and entry.spec.name == spec.name and entry.spec.kind == spec.kind:
            entries[k] = TwinEntry(entry.name, entry.spec, entry.kind, note=note)
            return entries
    entries.append(TwinEntry(config.twin.reference, spec, kind_text(spec), note=note))
    return entries


def print_twins(con: Console, entries: list[TwinEntry]) -> None:
    """Print each twin with its kind, inputs and outputs (building and compiling it)."""
    for entry in entries:
        spec = entry.spec
        con.print(Text.assemble((entry.name, "bold"), f": {spec.description if spec else ''}".rstrip(": ")))
        con.print(f"  kind: {entry.kind}" + (f" -- {entry.note}" if entry.note else ""))
        if entry.error:
            con.print(f"  (cannot load: {entry.error})")
        if spec is None:
            continue
        try:
            lay = spec.system().compile().layout
        except Exception as exc:  # a listing shows every twin it can; a broken one says why
            con.print(f"  (cannot build: {exc})")
            continue
        for what, sigs in (("inputs", lay.inputs), ("outputs", lay.outputs)):
            con.print(f"  {what}:")
            for s in sigs:
                finite = what == "inputs" and math.isfinite(float(s.default))  # type: ignore[arg-type]
                default = f" = {s.default:g}" if finite else ""
                desc = f"  {s.description}" if s.description else ""
                con.print(f"    {s.name} [{s.unit}]{default}{desc}")
        how = f"--file {spec.origin.rpartition(':')[0]}" if spec.kind == FILE else entry.name
        con.print(f"  {lay.nx} states, {len(lay.parameters)} parameters (phystwin template {how} lists them)")


def template_text(
    twin_type: str | None, file: Path | None, function: str | None, out: Path | None, duration: float
) -> str:
    """The config template of the twin named by ``twin_type`` or by ``file`` and ``function``.

    Raises
    ------
    TwinOptionError
        Naming the argument (``TYPE``, ``--file``, ``--function``) when the twin cannot be found,
        loaded, built or compiled.
    """
    from phystwin.config.template import config_template

    if (twin_type is None) == (file is None):
        raise TwinOptionError("give a twin TYPE (see 'phystwin twins') or --file TWIN.py, one of them")
    if function is not None and file is None:
        raise TwinOptionError(f"--function goes with --file; for a module write TYPE as 'package.module:{function}'")
    option = "--file" if file is not None else "TYPE"
    try:
        if file is not None:
            spec = twin_from_file(file, function or "build")
        else:
            spec = get_twin(twin_type or "")
        model = spec.system().compile()
    except TwinError as exc:
        if exc.part == "function" and function is not None:
            option = "--function"
        raise TwinOptionError(f"{option}: {exc}") from None
    except PhystwinError as exc:  # the System does not compile: its definition names the problem
        raise TwinOptionError(
            f"{option}: the System built by {spec.origin or spec.name} does not compile: {exc}"
        ) from None
    if file is None:
        return config_template(model, spec.name, description=spec.description, duration=duration)
    path = Path(spec.origin.rpartition(":")[0])
    base = (out.parent if out is not None else Path.cwd()).resolve()  # where the config will live
    try:  # relative to the config's folder whenever possible (``../twins/pump.py``): the pair can move together
        shown = Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # pragma: no cover - another drive (Windows): only an absolute path reaches it
        shown = path.as_posix()
    keys = {"file": shown, "function": function or "build"}
    return config_template(
        model, spec.name, description=spec.description, duration=duration, twin_keys=keys, name=path.stem
    )
