"""``gsoia demo``: the Japan–Canada story, told by three live nodes.

Japan's, Canada's and the United States' nodes run on loopback, each a ``gsoia serve``
process with its own keys, SQLite store and audit log. Every verdict printed is the
nodes' own answer over HTTP (or, for the survival what-if, the decision itself): none is
scripted. The story is ``gsoia.cli.demo_story``, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Where the three nodes keep their data; default: a temp dir."),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve", help="Keep the nodes serving at the end (Ctrl-C stops)."
        ),
    ] = True,
) -> None:
    """Three live nodes (JPN, CAN, USA) on loopback: the Japan–Canada story, every verdict real."""
    from gsoia.cli.demo_story import tell

    tell(data, serve)
