"""The root of every exception phystwin raises.

Each phystwin exception derives from :class:`PhystwinError` and, where one fits, from the built-in
exception a Python user would expect (``ValueError`` for bad input, ``RuntimeError`` for a failure
while running), so both ``except PhystwinError`` and ``except ValueError`` work. The command line
catches ``PhystwinError`` alone: one message, exit status 2, no traceback.

The library raises no bare built-in exception (``tests/test_public_api.py`` checks it); a problem
without an exception class of its own raises one of the four general ones below:

* :class:`InvalidValueError` (also a ``ValueError``): a value out of range, of the wrong shape, or not
  consistent with the model (a negative inductance, a time vector that is not increasing);
* :class:`InvalidTypeError` (also a ``TypeError``): an argument of the wrong kind;
* :class:`UnknownNameError` (also a ``KeyError``): a name (parameter, state, signal, stream) that does
  not exist; unlike a plain ``KeyError``, ``str()`` gives the message without quotes;
* :class:`OperationError` (also a ``RuntimeError``): a failure while running (a link closed, a worker
  process died, an object used in the wrong order).
"""

from __future__ import annotations

__all__ = ["InvalidTypeError", "InvalidValueError", "OperationError", "PhystwinError", "UnknownNameError"]


class PhystwinError(Exception):
    """Base class of every exception raised by phystwin (each names what is wrong and where)."""


class InvalidValueError(PhystwinError, ValueError):
    """A value phystwin cannot accept (out of range, wrong shape, inconsistent); also a ``ValueError``."""


class InvalidTypeError(PhystwinError, TypeError):
    """An argument of the wrong kind; also a ``TypeError``."""


class UnknownNameError(PhystwinError, KeyError):
    """A name that does not exist (parameter, state, signal, stream); also a ``KeyError``."""

    def __str__(self) -> str:
        # KeyError.__str__ shows repr(message), quotes included; the message is meant to be read
        if len(self.args) == 1 and isinstance(self.args[0], str):
            return self.args[0]
        return super().__str__()


class OperationError(PhystwinError, RuntimeError):
    """A failure while running (a closed link, a dead worker, a call out of order); also a ``RuntimeError``."""
