"""``python -m phystwin.cli``: the same entry point as the ``phystwin`` console script."""

from phystwin.cli.main import main

main()
