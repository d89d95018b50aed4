"""The on-disk cache of generated model modules.

A generated module is written to ``$PHYSTWIN_CACHE_DIR/models/model_<hash>.py`` (default
``~/.cache/phystwin``), where the hash covers the generated source, the ODE core's own source and the
numba / numpy / Python versions. Numba caches the machine code beside it, so a second process with the
same structure loads instead of compiling.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cache_dir", "load_model_module"]


def cache_dir() -> Path:
    """Folder for generated model modules and their compiled code (``PHYSTWIN_CACHE_DIR``)."""
    base = os.environ.get("PHYSTWIN_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "phystwin"
    return root / "models"


_ENV_FINGERPRINT: str | None = None


def _env_fingerprint() -> str:
    """Versions and the ODE core's own source: a change to either must not load stale machine code."""
    global _ENV_FINGERPRINT
    if _ENV_FINGERPRINT is None:
        import numba

        h = hashlib.sha256(f"numba {numba.__version__} numpy {np.__version__} py {sys.version}".encode())
        core = Path(__file__).resolve().parent.parent
        for f in sorted([*core.glob("core/**/*.py"), core / "_jit.py"]):
            h.update(f.read_bytes())
        _ENV_FINGERPRINT = h.hexdigest()
    return _ENV_FINGERPRINT


def load_model_module(source: str) -> tuple[Any, str, str]:
    """Write ``source`` to the cache (atomically) and import it: ``(module, structure hash, path)``."""
    digest = hashlib.sha256((source + _env_fingerprint()).encode()).hexdigest()[:20]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model_{digest}.py"
    if not path.exists() or path.read_text() != source:
        tmp = folder / f".model_{digest}.{os.getpid()}.tmp"
        tmp.write_text(source)
        os.replace(tmp, path)
    modname = f"phystwin_generated.model_{digest}"
    if modname in sys.modules:
        return sys.modules[modname], digest, str(path)
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:  # pragma: no cover - importlib contract
        raise ImportError(f"cannot load generated model module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module, digest, str(path)
