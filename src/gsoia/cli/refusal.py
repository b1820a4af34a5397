"""How the CLI refuses: one line on stderr, exit 2 for invalid input."""

from __future__ import annotations

import datetime as dt
import sys
from typing import NoReturn

import typer

from gsoia.errors import GsoiaError, InputError

EXIT_INVALID = 2


def refuse(error: GsoiaError | str) -> NoReturn:
    """Print one line and exit: 2 for invalid input, 1 for any other refusal."""
    text = error.diagnostics() if isinstance(error, GsoiaError) else error
    print(f"gsoia: {text}", file=sys.stderr)
    code = EXIT_INVALID if isinstance(error, InputError | str) else 1
    raise typer.Exit(code)


def parse_day(text: str | None, option: str = "--at") -> dt.date | None:
    """An ISO 8601 date from the command line, or exit 2 naming the option."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        refuse(f"{option}: '{text}' is not a date (YYYY-MM-DD)")
