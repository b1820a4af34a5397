"""The ``gsoia`` command: thin glue over the Python API (docs/interfaces.md, "Command line")."""

from gsoia.cli.app import app, main

__all__ = ["app", "main"]
