"""``gsoia decide``: one request (a file or stdin), or one per line with ``--jsonl``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gsoia import load_catalogue
from gsoia.cli.refusal import EXIT_INVALID, refuse
from gsoia.errors import CatalogueError, InputError, RequestError


def _read(source: str) -> str:
    if source == "-":
        if sys.stdin.isatty():  # a person at a terminal: say what is awaited
            print(
                "gsoia: reading a request as JSON from standard input; end it with Ctrl-D"
                " (or give a file: gsoia decide REQUEST.json)",
                file=sys.stderr,
            )
        return sys.stdin.read()
    try:
        return Path(source).read_text("utf-8")
    except FileNotFoundError:
        refuse(f"{source}: no such file")
    except (OSError, UnicodeDecodeError) as e:
        refuse(f"{source}: cannot be read ({e})")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RequestError.of("", f"not JSON: {e.msg} (line {e.lineno}, column {e.colno})") from e
    except RecursionError as e:
        raise RequestError.of("", "not accepted: nested too deeply") from e
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise RequestError.of("", f"not accepted: {e}") from e


def decide(
    request: Annotated[
        str, typer.Argument(help="A request as JSON (docs/decision.md §2), or - for stdin.")
    ] = "-",
    catalogue: Annotated[
        Path | None,
        typer.Option("--catalogue", "-c", help="A catalogue file; default: the bundled one."),
    ] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One request per line in, one decision per line out.")
    ] = False,
) -> None:
    """Decide who may see an item: print the decision as JSON.

    Exit 0 for any decision (allow or deny), 2 for invalid input.
    """
    try:
        rulebook = load_catalogue(catalogue)
    except CatalogueError as e:
        refuse(f"catalogue {catalogue}: {e.diagnostics()}" if catalogue else e)
    text = _read(request)
    if not jsonl:
        try:
            decision = rulebook.decide(_json(text))
        except InputError as e:
            refuse(e)
        print(json.dumps(decision.to_dict(), ensure_ascii=False))
        return
    bad = 0
    out = sys.stdout
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result = rulebook.decide(_json(line)).to_dict()
        except InputError as e:
            bad += 1
            message = f"line {number}: {e.diagnostics()}"
            print(f"gsoia: {message}", file=sys.stderr)
            result = {"error": message}
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    if bad:
        raise typer.Exit(EXIT_INVALID)
