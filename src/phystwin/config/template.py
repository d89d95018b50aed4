"""A complete, commented starting config for a twin: every parameter, start value and input with its
default and unit, under the exact full names the config file must use (``phystwin template TYPE``)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from phystwin.core.model import Model, Signal


def toml_key(name: str) -> str:
    """A TOML key: bare when possible, otherwise quoted (``"winding.T"``)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """A number, vector or string as TOML (floats round-trip exactly)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return _float(float(arr))
    return "[" + ", ".join(_float(float(v)) for v in arr.reshape(-1)) + "]"


def _float(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def _comment(sig: Signal, extra: str = "") -> str:
    parts = [f"[{sig.unit}]"]
    if sig.description:
        parts.append(sig.description)
    if extra:
        parts.append(extra)
    return "  # " + " ".join(parts)


def config_template(
    model: Model,
    twin_type: str,
    *,
    description: str = "",
    duration: float = 10.0,
    twin_keys: Mapping[str, str] | None = None,
    name: str | None = None,
) -> str:
    """TOML text of a config that runs ``model`` with every default made explicit.

    ``twin_type`` names the twin in the header and, unless ``twin_keys`` gives the ``[twin]`` keys
    (e.g. ``{"file": "pump.py", "function": "build"}`` for a twin in a file), as ``type``. ``name`` is
    the label (default: ``twin_type``). Inputs without a default are written as ``0.0`` and marked
    *required*; edit them before a real run.
    """
    lay = model.layout
    keys = dict(twin_keys) if twin_keys is not None else {"type": twin_type}
    lines = [f"# phystwin config for the {twin_type!r} twin" + (f": {description}" if description else "")]
    lines += [
        '# Numbers are SI. A value may also carry a unit: "5 mH", "25 degC" or { value = 25, unit = "degC" }.',
        "# Delete the lines you do not want to change; every name below is checked against the twin.",
        "",
        "[twin]",
        *(f"{key} = {toml_value(value)}" for key, value in keys.items()),
        f"name = {toml_value(name or twin_type)}",
        "",
        "[simulation]",
        f"duration = {toml_value(float(duration))}  # [s]",
        'solver = "rodas"  # rodas | dopri5 | rk4',
        "rtol = 1e-06",
        "atol = 1e-08",
        "# dt = 0.001  # [s], rk4 only",
        "# save_interval = 1.0  # [s]",
        "",
        "[parameters]",
    ]
    for sig in lay.parameters:
        lines.append(f"{toml_key(sig.name)} = {toml_value(sig.default)}{_comment(sig)}")
    lines += ["", "[initial]"]
    for sig in lay.states:
        lines.append(f"{toml_key(sig.name)} = {toml_value(sig.default)}{_comment(sig)}")
    lines += ["", "[inputs]  # a constant, or a table [inputs.<name>] with kind, times, values, period, unit"]
    for sig in lay.inputs:
        default = float(sig.default)  # type: ignore[arg-type]
        if math.isfinite(default):
            lines.append(f"{toml_key(sig.name)} = {toml_value(default)}{_comment(sig)}")
        else:
            lines.append(f"{toml_key(sig.name)} = 0.0{_comment(sig, '(required: no default)')}")
    return "\n".join(lines) + "\n"


__all__ = ["config_template", "toml_key", "toml_value"]
