"""The twin a config's ``[twin]`` section names, found and built the same way for every command.

``simulate``, ``generate``, ``estimate``, ``bench serve``, ``run`` and ``template`` all go through
:func:`twin_spec` (directly or through :func:`~phystwin.config.resolve.load_model`), so a twin of the
user's own works wherever a built-in one does::

    [twin]
    type = "dc_motor"                  # built-in or registered
    type = "pump"                      # entry point of an installed package (group phystwin.twins)
    type = "my_pumps.centrifugal:build"  # importable module and its function
    file = "pump_twin.py"              # a Python file, relative to this config's folder ...
    function = "build"                 # ... and its function (default: build)

Every failure is a :class:`~phystwin.config.schema.ConfigError` at ``twin.type``, ``twin.file`` or
``twin.function`` naming the module, file or function and what was expected.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from phystwin.config.schema import ConfigError, TwinConfig
from phystwin.physics.system import System
from phystwin.physics.twins import FILE, TwinError, TwinSpec, get_twin, twin_from_file


def twin_file(config: TwinConfig) -> Path | None:
    """The absolute path of ``[twin] file`` (relative paths are taken from the config file's folder;
    for a config given as text, from the working directory); None for a ``type``."""
    if config.twin.file is None:
        return None
    base = Path(config.source).parent if config.source != "<string>" else Path.cwd()
    return (base / Path(config.twin.file).expanduser()).resolve()


def twin_key(config: TwinConfig, part: str = "source") -> str:
    """The config key a problem with the twin is reported at: ``twin.type``; for a file twin
    ``twin.function`` if the problem is the function's (``part`` = ``"function"``) and the config names
    it, else ``twin.file``."""
    if config.twin.file is None:
        return "twin.type"
    if part == "function" and config.twin.function is not None:
        return "twin.function"
    return "twin.file"


def twin_spec(config: TwinConfig) -> TwinSpec:
    """The :class:`~phystwin.physics.twins.TwinSpec` of ``config``'s ``[twin]`` (not built yet)."""
    try:
        path = twin_file(config)
        if path is not None:
            return twin_from_file(path, config.twin.function or "build")
        return get_twin(config.twin.type or "")
    except TwinError as exc:
        raise _config_error(config, exc) from None


def build_system(config: TwinConfig) -> tuple[TwinSpec, System]:
    """The twin of ``config`` and a freshly built :class:`System` of it."""
    spec = twin_spec(config)
    try:
        return spec, spec.system()
    except TwinError as exc:
        raise _config_error(config, exc) from None


def twin_provenance(spec: TwinSpec) -> dict[str, Any]:
    """Where a run's twin came from, for records: kind, builder, distribution and, for a file, its SHA-256."""
    out: dict[str, Any] = {"kind": spec.kind, "origin": spec.origin}
    if spec.distribution:
        out["distribution"] = spec.distribution
    if spec.kind == FILE:
        path = Path(spec.origin.rpartition(":")[0])
        try:
            out["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:  # removed since it was loaded: the record still says which file it was
            out["sha256"] = ""
    return out


def _config_error(config: TwinConfig, exc: TwinError) -> ConfigError:
    message = str(exc)
    if exc.part == "name":
        message += ' or given by file = "my_twin.py" (and function = "build") in [twin]'
    return ConfigError([(twin_key(config, exc.part), message)], config.source)


__all__ = ["build_system", "twin_file", "twin_key", "twin_provenance", "twin_spec"]
