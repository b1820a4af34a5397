"""``gsoia user list | disable | enable | rotate-token | set | remove``: the operator's
changes to accounts (``gsoia.node.accounts``), each audited with the actor ``cli``.

A change made here, while the node is served, holds on every worker within a second.
Errors are one line on stderr: exit 2 for what was given wrong (an unknown id, level or
nation, a bad date), 1 for any other refusal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from gsoia.cli.node_cmd import Data, Database, open_node, refused_at
from gsoia.cli.refusal import parse_day, refuse
from gsoia.errors import GsoiaError
from gsoia.node.categories import as_dict, from_options, shown
from gsoia.node.users import Role

if TYPE_CHECKING:  # the node's dependencies load only for the commands that use them
    from gsoia.node.accounts import UserRecord
    from gsoia.node.authority import Operator
    from gsoia.node.service import Node

T = TypeVar("T")

UserId = Annotated[str, typer.Option("--id", help="The user's id.")]


def _run(data: Data, database: str | None, command: str, work: Callable[[Node, Operator], T]) -> T:
    """``work`` on the node opened from ``data``, by the operator (``gsoia user COMMAND``);
    a refusal is one line and an exit, and an entry of the audit log."""
    from gsoia.node.authority import OPERATOR
    from gsoia.node.errors import NotFound

    node = open_node(data, database)
    try:
        return work(node, OPERATOR)
    except NotFound as e:
        refused_at(node, f"user {command}", f"--id: {e.diagnostics()}")
    except GsoiaError as e:
        refused_at(node, f"user {command}", e)
    finally:
        if "exchange" in vars(node):  # (a visitor's removal told its visiting party)
            node.exchange.courier.stop()
        node.close()


def _said(record: UserRecord, what: str) -> None:
    print(f"{record.id}: {what}")


def user_list(data: Data, database: Database = None) -> None:
    """List the node's accounts: id, nation, clearance, expiry, need-to-know, security
    categories, role, state (never a token)."""
    from rich.console import Console
    from rich.table import Table

    records = _run(data, database, "list", lambda node, cli: node.accounts.list(cli))
    table = Table(title="Accounts", title_justify="left")
    for column in (
        "id",
        "nation",
        "clearance",
        "expires",
        "need-to-know",
        "categories",
        "role",
        "disabled",
    ):
        table.add_column(column)
    for record in records:
        user = record.user
        table.add_row(
            user.id,
            user.nation,
            user.clearance or "",
            user.clearance_expires.isoformat() if user.clearance_expires else "",
            ", ".join(user.need_to_know),
            shown(as_dict(user.categories)),
            user.role.value,
            "yes" if record.disabled else "no",
        )
    Console(highlight=False, soft_wrap=True).print(table)


def user_disable(data: Data, user_id: UserId, database: Database = None) -> None:
    """Disable an account: its token and web sessions stop working (within a second on a
    node being served)."""
    record = _run(data, database, "disable", lambda node, cli: node.accounts.disable(cli, user_id))
    _said(record, "disabled")


def user_enable(data: Data, user_id: UserId, database: Database = None) -> None:
    """Enable a disabled account: its token works again (its old web sessions do not)."""
    record = _run(data, database, "enable", lambda node, cli: node.accounts.enable(cli, user_id))
    _said(record, "enabled")


def user_rotate_token(data: Data, user_id: UserId, database: Database = None) -> None:
    """Give an account a new API token and print it once (only a hash is stored); the old
    token and the web sessions opened with it stop working."""
    _, token = _run(
        data, database, "rotate-token", lambda node, cli: node.accounts.rotate_token(cli, user_id)
    )
    print(token)
    print("(shown once: only its hash is stored)", file=sys.stderr)


def user_set(
    data: Data,
    user_id: UserId,
    clearance: Annotated[
        str | None, typer.Option("--clearance", help="A level id of the user's policy.")
    ] = None,
    no_clearance: Annotated[
        bool, typer.Option("--no-clearance", help="Take the user's clearance away.")
    ] = False,
    clearance_expires: Annotated[
        str | None, typer.Option("--clearance-expires", help="YYYY-MM-DD")
    ] = None,
    no_clearance_expires: Annotated[
        bool, typer.Option("--no-clearance-expires", help="The clearance does not expire.")
    ] = False,
    need_to_know: Annotated[
        list[str] | None,
        typer.Option(
            "--need-to-know", help="A topic; repeat for several (they replace the user's)."
        ),
    ] = None,
    no_need_to_know: Annotated[
        bool, typer.Option("--no-need-to-know", help="Take every need-to-know topic away.")
    ] = False,
    role: Annotated[
        Role | None, typer.Option("--role", help="analyst, officer, admin or monitor.")
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            help="A security category held, TAG=VALUE; repeat for several (they replace the"
            " user's).",
        ),
    ] = None,
    no_categories: Annotated[
        bool, typer.Option("--no-categories", help="Take every security category away.")
    ] = False,
    database: Database = None,
) -> None:
    """Change an account's clearance, its expiry, its need-to-know, its role or its security
    categories; what is not given is kept."""
    from gsoia.node.accounts import KEEP, Changes

    for given, cleared, option in (
        (clearance is not None, no_clearance, "--clearance"),
        (clearance_expires is not None, no_clearance_expires, "--clearance-expires"),
        (bool(need_to_know), no_need_to_know, "--need-to-know"),
        (bool(category), no_categories, "--categories"),
    ):
        if given and cleared:
            refuse(f"{option}: give it or --no-{option[2:]}, not both")
    expires = parse_day(clearance_expires, "--clearance-expires")
    try:
        categories = from_options(category or [])
    except GsoiaError as e:
        refuse(e)
    changes = Changes(
        clearance=None if no_clearance else KEEP if clearance is None else clearance,
        clearance_expires=None if no_clearance_expires else KEEP if expires is None else expires,
        need_to_know=() if no_need_to_know else tuple(need_to_know) if need_to_know else KEEP,
        role=KEEP if role is None else role,
        categories={} if no_categories else categories or KEEP,
    )
    if not changes.given():
        refuse(
            "give at least one of --clearance, --clearance-expires, --need-to-know, --role,"
            " --category (or a --no- option)"
        )
    record = _run(data, database, "set", lambda node, cli: node.accounts.set(cli, user_id, changes))
    user = record.user
    held = f" categories [{shown(as_dict(user.categories))}]," if user.categories else ""
    _said(
        record,
        f"{user.nation} {user.clearance or 'uncleared'}"
        f" until {user.clearance_expires.isoformat() if user.clearance_expires else 'never'},"
        f" need-to-know [{', '.join(user.need_to_know)}],{held} {user.role.value}",
    )


def user_remove(data: Data, user_id: UserId, database: Database = None) -> None:
    """Remove an account: its token and web sessions stop working; the audit log keeps what
    it did under its id."""
    record = _run(data, database, "remove", lambda node, cli: node.accounts.remove(cli, user_id))
    _said(record, "removed")


def register(app: typer.Typer) -> None:
    """Add these commands to ``gsoia user``."""
    app.command("list")(user_list)
    app.command("disable")(user_disable)
    app.command("enable")(user_enable)
    app.command("rotate-token")(user_rotate_token)
    app.command("set")(user_set)
    app.command("remove")(user_remove)
