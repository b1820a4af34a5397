"""``python -m gsoia``: the ``gsoia`` command."""

from gsoia.cli import main

main()
