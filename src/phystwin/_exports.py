"""Lazy public APIs (PEP 562): a package lists its names and the modules that define them, and a name's
module is imported the first time the name is used (so importing a package costs nothing until then)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` exporting ``exports``: name -> defining module, or
    ``"module:attribute"`` where the exported name differs from the module's."""

    def __getattr__(name: str) -> Any:  # noqa: N807 (the PEP 562 hook's name)
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(vars(importlib.import_module(package))) | set(exports))

    return __getattr__, __dir__
