"""The root of every exception phystwin raises.

Each phystwin exception derives from :class:`PhystwinError` and, where one fits, from the built-in
exception a Python user would expect (``ValueError`` for bad input, ``RuntimeError`` for a failure
while running), so both ``except PhystwinError`` and ``except ValueError`` work. The command line
catches ``PhystwinError`` alone: one message, exit status 2, no traceback.
"""

from __future__ import annotations

__all__ = ["PhystwinError"]


class PhystwinError(Exception):
    """Base class of every exception raised by phystwin (each names what is wrong and where)."""
