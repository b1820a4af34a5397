"""The ``gsoia`` command: thin glue over the Python API (INTERFACES.md, "CLI")."""

from gsoia.cli.app import app, main

__all__ = ["app", "main"]
