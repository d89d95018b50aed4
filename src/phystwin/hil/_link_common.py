"""Helpers the transport modules share: option tables, passwords, URLs and stream widths.

Each transport module validates its ``[transport.<name>]`` table, reads its URL and sizes its
streams with these functions, so the error messages (which name the table and the key) have one
source. Nothing here knows a transport's wire format.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, PlainValidator, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from phystwin.errors import InvalidValueError
from phystwin.hil.link import LinkError
from phystwin.units import UnitError, convert


def _seconds(v: Any) -> float:
    """A positive duration given as a number (s) or a string with a time unit ("5 ms")."""
    try:
        if isinstance(v, str):
            number, _, unit = v.strip().partition(" ")
            s = convert(float(number), unit.strip(), "s") if unit.strip() else float(number)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            s = float(v)
        else:
            raise InvalidValueError
    except UnitError as exc:
        raise PydanticCustomError("seconds", "{msg}", {"msg": str(exc)}) from None
    except ValueError:
        raise PydanticCustomError(
            "seconds", 'expected a time such as 0.005 or "5 ms", got {got!r}', {"got": v}
        ) from None
    if not s > 0 or s == float("inf"):
        raise PydanticCustomError("seconds", "expected a finite time > 0 s, got {got!r}", {"got": v})
    return s


Seconds = Annotated[float, PlainValidator(_seconds)]
"""A positive duration in link options: a number (s) or a string with a time unit."""

__all__ = ["dotted_key", "parse_options", "quoted_key", "resolve_password", "shown_url", "stream_width", "url_port"]

_Options = TypeVar("_Options", bound=BaseModel)


def dotted_key(loc: Sequence[str | int]) -> str:
    """The dotted key of a validation error's location (``streams.temp.address``)."""
    return ".".join(str(p) for p in loc)


def quoted_key(loc: Sequence[str | int]) -> str:
    """As :func:`dotted_key`, with the parts that are not plain names in double quotes (``streams."a+b"``)."""
    parts = []
    for p in loc:
        s = str(p)
        parts.append(s if s.replace("_", "").isalnum() else f'"{s}"')
    return ".".join(parts)


def _problem(err: ErrorDetails, *, terse: bool, key: Callable[[Sequence[str | int]], str]) -> str:
    where = f"{key(err['loc']) or '(table)'}: "
    if terse:
        return where + ("unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, "))
    hidden = err["type"] == "extra_forbidden" or "password" in str(err["loc"])  # never echo a password
    return where + err["msg"] + ("" if hidden else f" (got {err.get('input')!r})")


def parse_options(
    model: type[_Options],
    options: Mapping[str, Any],
    table: str,
    *,
    terse: bool = False,
    key: Callable[[Sequence[str | int]], str] = dotted_key,
) -> _Options:
    """Validate a transport's option table into ``model``, or raise one :class:`LinkError` naming every bad key.

    Parameters
    ----------
    model : type of pydantic.BaseModel
        The options class of the transport.
    options : Mapping[str, Any]
        The ``[transport.<table>]`` table as read from the config.
    table : str
        The transport's table name (``"mqtt"``, ``"can"``, ...), which prefixes the message.
    terse : bool
        Say ``unknown key`` for an unknown key and leave the offending value out; by default the
        message is pydantic's, followed by the value given (never for unknown keys or passwords).
    key : callable
        How a key is written from the error location (:func:`dotted_key` or :func:`quoted_key`).

    Raises
    ------
    LinkError
        ``[transport.<table>]: <key>: <problem>; ...``.
    """
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = "; ".join(_problem(err, terse=terse, key=key) for err in exc.errors())
        raise LinkError(f"[transport.{table}]: {problems}") from None


def resolve_password(table: str, password: str | None, password_env: str | None) -> str | None:
    """The password of the options: read from the variable ``password_env`` names, else ``password``.

    Parameters
    ----------
    table : str
        The transport's table name, for the messages.
    password, password_env : str, optional
        The ``password`` and ``password_env`` options.

    Returns
    -------
    str or None
        None when neither option is given.

    Raises
    ------
    LinkError
        Both options are given, or the variable is not set.
    """
    if password is not None and password_env is not None:
        raise LinkError(f"[transport.{table}]: give either password or password_env, not both")
    if password_env is None:
        return password
    value = os.environ.get(password_env)
    if value is None:
        raise LinkError(f"[transport.{table}]: password_env: the environment variable {password_env!r} is not set")
    return value


def shown_url(url: urllib.parse.SplitResult) -> str:
    """``url`` without its user name and password, for messages."""
    return url._replace(netloc=url.netloc.rpartition("@")[2]).geturl()


def url_port(url: urllib.parse.SplitResult, shown: str | None = None) -> int | None:
    """The port of ``url`` (None when it has none); :class:`LinkError` naming the URL if it is not a number.

    ``shown`` is how the message writes the URL (by default ``url.geturl()``).
    """
    try:
        return url.port
    except ValueError as exc:
        raise LinkError(f"{url.geturl() if shown is None else shown}: {exc}") from None


def stream_width(name: str, stream_widths: Mapping[str, int] | None, given: int | None = None) -> int:
    """The number of values of the stream ``name``.

    ``given`` (a width set in the transport's own table) wins; then ``stream_widths`` (the caller's
    widths, e.g. :attr:`~phystwin.config.live.BenchSetup.stream_widths`); else the number of
    ``+``-joined names (``"current+speed"`` -> 2), a guess that is wrong for the ``inputs`` stream.
    """
    if given is not None:
        return given
    if stream_widths and name in stream_widths:
        return int(stream_widths[name])
    return len(name.split("+"))
