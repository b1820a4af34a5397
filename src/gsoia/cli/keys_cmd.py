"""``gsoia keys rotate``: replace the node's keys and tell its peers (``gsoia.node.rotation``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gsoia.cli.refusal import refuse
from gsoia.errors import GsoiaError

app = typer.Typer(help="Manage the node's own keys.", no_args_is_help=True)

Data = Annotated[Path, typer.Option("--data", help="The node's data directory.")]
Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="A SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db);"
        " default: SQLite in the data directory.",
    ),
]


@app.command("rotate")
def rotate(data: Data, database: Database = None) -> None:
    """Replace the node's signing and sealing keys; every pinned peer is told.

    Run it with the node stopped. The new keys are written with mode 0600; the old public
    keys are kept, so the audit log and what the old key signed still verify. Each peer
    gets a package signed by the old key, carrying the new keys and a proof by the new
    one; it waits in the outbox until delivered (also after `gsoia serve` starts again).
    """
    from gsoia.node.rotation import rotate as rotate_keys
    from gsoia.node.service import Node

    try:
        node = Node.open(data, database=database)
    except GsoiaError as e:
        refuse(e)
    try:
        assert node.keys_dir is not None  # INVARIANT: Node.open sets it
        rotated = rotate_keys(node, node.keys_dir)
    except GsoiaError as e:
        refuse(e)
    finally:
        node.close()
    print(f"rotated the keys of the {node.nation} node in {data}")
    print(f"old fingerprint: {rotated['old']}")
    print(f"new fingerprint: {rotated['new']}")
    # delivered now by a node opened with the new keys; the old one signs the notices
    try:
        node = Node.open(data, database=database)
    except GsoiaError as e:
        refuse(e)
    try:
        for notice in rotated["notices"]:
            attempt = node.exchange.courier.deliver(notice["package"])
            detail = f" ({attempt.detail})" if attempt.detail else ""
            print(f"  {notice['peer']}: {attempt.state}{detail}", file=sys.stderr)
    finally:
        node.exchange.courier.stop()
        node.close()
