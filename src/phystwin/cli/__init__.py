"""The ``phystwin`` command line: every command lives in this package; nothing in the library imports it.

``phystwin.cli.main`` holds the typer application; ``estimation``, ``live`` and ``fmu`` hold the work
behind the commands of the same names.
"""

from phystwin.cli.main import app as app
from phystwin.cli.main import main as main

__all__ = ["app", "main"]
