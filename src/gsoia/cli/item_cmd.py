"""``gsoia item export ID --format 4778`` and ``gsoia item import FILE``: an item as an
ADatP-4778 binding (its content, its STANAG 4774 labels, the node's XML signature), out
and back in. Both act in-process on the node's store as one of its users."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from gsoia.cli.node_cmd import Data, Database, acting_user, open_node
from gsoia.cli.refusal import refuse
from gsoia.errors import GsoiaError

if TYPE_CHECKING:
    from gsoia.node.service import Node
    from gsoia.node.users import User

T = TypeVar("T")

app = typer.Typer(
    help="Export and import items as signed ADatP-4778 bindings.", no_args_is_help=True
)

UserId = Annotated[str, typer.Option("--user", help="The user to act as (its id).")]


class ItemFormat(StrEnum):
    BINDING_4778 = "4778"


@app.command("export")
def export_item(
    item_id: Annotated[str, typer.Argument(help="The item's id.")],
    data: Data,
    user_id: UserId,
    format: Annotated[
        ItemFormat, typer.Option("--format", help="4778: an ADatP-4778 binding (XML).")
    ] = ItemFormat.BINDING_4778,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write here, not stdout.")] = None,
    database: Database = None,
) -> None:
    """Write an item the user may read as a binding of its content and labels, signed by
    the node (verifiable with its public signing key)."""
    from gsoia.node.binding4778 import export_item as export

    xml = _as_user(data, database, user_id, lambda node, user: export(node, user, item_id))
    if out is None:
        sys.stdout.write(xml.decode() + "\n")
    else:
        out.write_bytes(xml)


@app.command("import")
def import_item(
    file: Annotated[Path, typer.Argument(help="A binding written by gsoia item export.")],
    data: Data,
    user_id: UserId,
    database: Database = None,
) -> None:
    """Store a binding this node signed as a new item of the user's: its signature and its
    originator label checked before anything is stored."""
    from gsoia.node.binding4778 import import_item as load

    try:
        content = file.read_bytes()
    except OSError as e:
        refuse(f"{file}: cannot be read: {e.strerror}")
    view = _as_user(data, database, user_id, lambda node, user: load(node, user, content))
    print(view["id"])


def _as_user(data: Path, database: str | None, user_id: str, work: Callable[[Node, User], T]) -> T:
    """``work`` done on the node as the user; a refusal is one line and exit 2 (or 1)."""
    node = open_node(data, database)
    try:
        return work(node, acting_user(node, user_id))
    except GsoiaError as e:
        refuse(e)
    finally:
        node.close()
