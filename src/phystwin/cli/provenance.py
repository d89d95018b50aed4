"""What every record a command writes says about where it came from: the twin (its kind, origin and,
for a twin file, its SHA-256), the config file, the command line, the model's structure, how its
Jacobians were obtained, what could not be checked, and the FMUs compiled into it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["command_line", "run_provenance"]


def command_line() -> list[str]:
    """The command as typed: program name and arguments."""
    return [Path(sys.argv[0]).name, *sys.argv[1:]]


def run_provenance(config: Any, model: Any, **extra: Any) -> dict[str, Any]:
    """Provenance of a run of ``model`` built from ``config`` (a TwinConfig), with ``extra`` facts."""
    from phystwin.config.resolve import fmu_provenance
    from phystwin.config.twin import twin_provenance, twin_spec

    return {
        "twin_type": config.twin.reference,
        "twin_name": config.label,
        "twin": twin_provenance(twin_spec(config)),
        "config_path": str(Path(config.source).resolve()) if config.source != "<string>" else "<string>",
        "command": command_line(),
        "model_name": model.name,
        "model_structure_hash": model.structure_hash,
        "jacobian": model.jacobian_kind,
        "derivative_notes": list(model.derivative_notes),
        "unit_notes": list(model.unit_notes),
        "fmus": fmu_provenance(model),
        **extra,
    }
