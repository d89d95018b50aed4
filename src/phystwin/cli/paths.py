"""Output paths of the commands, checked against their inputs and each other before anything is written.

Every command that writes files calls :func:`check_outputs` with the files it reads (the config, the
twin file and FMU files the config names, records) and the files it will write (``--out``, ``--png``,
the default files derived from them and the figures it writes into a folder), each with a label for
the message. Paths are compared after resolving them (``..``, symlinks, a hard link to the same file),
so ``--out`` naming an input, or two outputs naming one file, is refused with exit status 2 and a
message naming both, and the input is left untouched. An output path whose file name holds ``*`` (the
figures ``<stem>_*.png`` a command writes into a folder) is matched as a pattern.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from phystwin.errors import PhystwinError

if TYPE_CHECKING:
    from phystwin.config.schema import TwinConfig

__all__ = ["Labelled", "OutputPathError", "check_outputs", "config_inputs"]

Labelled = tuple[str, Path | None]
"""A path with the words naming it in messages (e.g. ``("--out", Path("run.h5"))``); None is skipped."""


class OutputPathError(PhystwinError, ValueError):
    """An output path names an input or another output (the message names both)."""


def _real(path: Path) -> str:
    return os.path.normcase(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _same(a: Path, b: Path) -> bool:
    ra, rb = _real(a), _real(b)
    if "*" in os.path.basename(ra) or "*" in os.path.basename(rb):
        pattern, other = (ra, rb) if "*" in os.path.basename(ra) else (rb, ra)
        return os.path.dirname(pattern) == os.path.dirname(other) and fnmatchcase(
            os.path.basename(other), os.path.basename(pattern)
        )
    if ra == rb:
        return True
    try:
        return os.path.samefile(ra, rb)  # hard links
    except OSError:
        return False


def _describe(label: str, path: Path) -> str:
    return f"{label} {path}"


def check_outputs(inputs: Iterable[Labelled], outputs: Iterable[Labelled]) -> None:
    """Refuse any output equal to an input or to another output (call before writing anything).

    Raises
    ------
    OutputPathError
        Naming the output and the input (or the other output) it resolves to.
    """
    ins = [(label, p) for label, p in inputs if p is not None]
    outs = [(label, p) for label, p in outputs if p is not None]
    for k, (label, path) in enumerate(outs):
        for in_label, in_path in ins:
            if _same(path, in_path):
                raise OutputPathError(
                    f"{_describe(label, path)} would overwrite the input {_describe(in_label, in_path)}; "
                    "choose another output path"
                )
        for other_label, other in outs[:k]:
            if _same(path, other):
                raise OutputPathError(
                    f"{_describe(label, path)} and {_describe(other_label, other)} are the same file; "
                    "give them different paths"
                )


def config_inputs(config_path: Path, config: TwinConfig | None = None) -> list[Labelled]:
    """The files a config run reads: the config itself, its ``[twin] file`` and its components' FMU files.

    A config that cannot be read yields only itself (the command reports the problem when it reads it).
    """
    from phystwin.config.components import BUNDLED_PREFIX, fmu_path
    from phystwin.config.schema import read_config
    from phystwin.config.twin import twin_file

    found: list[Labelled] = [("the config", config_path)]
    if config is None:
        try:
            config = read_config(config_path)
        except PhystwinError:
            return found
    found.append(("the twin file (twin.file)", twin_file(config)))
    for name, sec in config.components.items():
        if not sec.fmu.startswith(BUNDLED_PREFIX):
            found.append((f"the FMU of components.{name}", fmu_path(sec.fmu, config)))
    return found
