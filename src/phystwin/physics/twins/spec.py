"""What a twin is to configs and the CLI: a named function that builds a :class:`System`.

A :class:`TwinSpec` holds the builder and where it came from (its *kind*): a built-in reference
twin, a twin registered from Python (:func:`~phystwin.physics.twins.register_twin`), an installed
package's entry point (group ``phystwin.twins``), a ``"module:function"`` reference, or a function in
a Python file. :meth:`TwinSpec.system` calls the builder and checks what it returns; every failure is
a :class:`TwinError` naming the module, file or function and what was expected.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from phystwin.errors import PhystwinError
from phystwin.physics.system import System

BUILTIN: Final = "built-in"
"""Kind of the reference twins shipped in :mod:`phystwin.physics.twins`."""
REGISTERED: Final = "registered"
"""Kind of a twin registered from Python with :func:`~phystwin.physics.twins.register_twin`."""
ENTRY_POINT: Final = "entry point"
"""Kind of a twin an installed package declares in the ``phystwin.twins`` entry-point group."""
MODULE: Final = "module"
"""Kind of a twin named by a ``"package.module:function"`` reference."""
FILE: Final = "file"
"""Kind of a twin built by a function in a Python file (``[twin] file``)."""

TwinKind = Literal["built-in", "registered", "entry point", "module", "file"]


class TwinError(PhystwinError, LookupError):
    """A twin cannot be found, loaded or built; the message names the item and what was expected.

    Attributes
    ----------
    part : {"name", "source", "function"}
        What is wrong: ``"name"``, no twin has that name; ``"source"``, the module, file or entry point
        cannot be found or loaded; ``"function"``, the builder function (missing, not callable, needing
        arguments, raising, returning something other than a System).
    """

    def __init__(self, message: str, part: Literal["name", "source", "function"] = "source") -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class TwinSpec:
    """A twin: how to build its :class:`System`, what it is and where it comes from.

    Attributes
    ----------
    name : str
        The name configs use (``[twin] type``), or the reference it was loaded by.
    build : callable
        Function of no arguments returning a fresh :class:`System`.
    description : str
        One line for listings.
    main_outputs : tuple of str
        Outputs worth plotting first.
    kind : str
        One of ``"built-in"``, ``"registered"``, ``"entry point"``, ``"module"``, ``"file"``.
    origin : str
        Where the builder lives (``"package.module:function"``, ``"/path/pump.py:build"``); empty for a
        registered twin.
    distribution : str
        The installed distribution (``"mypkg 0.1"``) declaring an entry-point twin; empty otherwise.
    """

    name: str
    build: Callable[[], System]
    description: str
    main_outputs: tuple[str, ...] = ()
    kind: TwinKind = REGISTERED
    origin: str = ""
    distribution: str = ""

    def system(self) -> System:
        """Call the builder; :class:`TwinError` if it raises or does not return a :class:`System`."""
        what = self.origin or self.name
        try:
            result = self.build()
        except Exception as exc:  # the user's code: any failure is reported, never a traceback
            raise TwinError(f"{what}() raised {describe_exception(exc)}", "function") from exc
        if not isinstance(result, System):
            raise TwinError(
                f"{what}() returned {_type_name(result)}, expected a phystwin.System "
                "(build the components, connect them and return the System)",
                "function",
            )
        return result


def check_builder(fn: object, what: str) -> Callable[[], System]:
    """``fn`` if it can be called with no arguments; :class:`TwinError` naming ``what`` otherwise."""
    if not callable(fn):
        raise TwinError(f"{what} is {_type_name(fn)}, expected a function returning a phystwin.System", "function")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: calling them tells
        return fn  # type: ignore[return-value]
    try:
        sig.bind()
    except TypeError:
        raise TwinError(
            f"{what}{sig} needs arguments; a twin function is called with none and returns a phystwin.System",
            "function",
        ) from None
    return fn  # type: ignore[return-value]


def first_line(doc: str | None) -> str:
    """The first non-empty line of a docstring (a twin's description), or ``""``."""
    for line in (doc or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _type_name(obj: object) -> str:
    if obj is None:
        return "None"
    cls = type(obj)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"


def describe_exception(exc: BaseException) -> str:
    """``"ValueError: message (at pump.py:42)"``: the exception and the innermost line that raised it."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    library = str(Path(__file__).resolve().parents[2])  # phystwin's own frames say nothing to the user
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith((library, "<frozen ")) and "importlib" not in Path(f.filename).parts
    ]
    if frames:
        text += f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})"
    return text


__all__ = [
    "BUILTIN",
    "ENTRY_POINT",
    "FILE",
    "MODULE",
    "REGISTERED",
    "TwinError",
    "TwinKind",
    "TwinSpec",
    "check_builder",
    "describe_exception",
    "first_line",
]
