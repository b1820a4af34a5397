"""``gsoia init``, ``gsoia user add``, ``gsoia peer add``, ``gsoia serve``."""

from __future__ import annotations

import datetime as dt
import errno
import gc
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gsoia.cli.refusal import parse_day, refuse
from gsoia.errors import GsoiaError
from gsoia.node.users import Role

if TYPE_CHECKING:  # the node's dependencies load only for the commands that use them
    from gsoia.node.service import Node
    from gsoia.node.users import User


Data = Annotated[Path, typer.Option("--data", help="The node's data directory.")]
Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="A SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db);"
        " default: SQLite in the data directory.",
    ),
]

user_app = typer.Typer(help="Manage the node's users.", no_args_is_help=True)
peer_app = typer.Typer(help="Pin partner nodes' keys.", no_args_is_help=True)


def open_node(
    data: Path, database: str | None, today: dt.date | None = None, *, anchored: bool = True
) -> Node:
    from gsoia.node.service import Node

    try:
        return Node.open(data, database=database, today=today, anchored=anchored)
    except GsoiaError as e:
        refuse(e)


def refused_at(node: Node, command: str, error: GsoiaError | str) -> NoReturn:
    """Refuse (one line, an exit) what ``node`` refused, with the refusal written to its
    audit log as the operator's, as a refused request is."""
    from gsoia.node.authority import OPERATOR

    reason = error.diagnostics() if isinstance(error, GsoiaError) else error
    node.refuse(OPERATOR.id, f"gsoia {command}", reason)
    refuse(error)


def acting_user(node: Node, user_id: str) -> User:
    """The user a command acts as (``--user``), or exit 2 naming the option."""
    from gsoia.node.authority import OPERATOR
    from gsoia.node.errors import NotFound

    try:
        return node.accounts.get(OPERATOR, user_id).user
    except NotFound:
        refuse(f"--user: no user '{user_id}' on this node")


def init(
    data: Data,
    nation: Annotated[str, typer.Option("--nation", help="This node's policy id, e.g. JPN.")],
    database: Database = None,
    catalogue: Annotated[
        Path | None, typer.Option("--catalogue", help="A catalogue file; default: bundled.")
    ] = None,
) -> None:
    """Create a node: configuration, signing and encryption keys (mode 0600), database."""
    from gsoia.node.service import Node

    try:
        node = Node.init(
            data, nation, database=database, catalogue=str(catalogue) if catalogue else None
        )
    except GsoiaError as e:
        refuse(e)
    print(f"initialised a {nation} node in {data}")
    print(f"key fingerprint: {node.public.fingerprint()}")


@user_app.command("add")
def user_add(
    data: Data,
    user_id: Annotated[str, typer.Option("--id", help="The user's id (no ':').")],
    nation: Annotated[str, typer.Option("--nation", help="The user's nation (policy id).")],
    clearance: Annotated[
        str | None, typer.Option("--clearance", help="A level id of the user's policy.")
    ] = None,
    clearance_expires: Annotated[
        str | None, typer.Option("--clearance-expires", help="YYYY-MM-DD")
    ] = None,
    need_to_know: Annotated[
        list[str] | None, typer.Option("--need-to-know", help="A topic; repeat for several.")
    ] = None,
    role: Annotated[
        Role, typer.Option("--role", help="analyst, officer, admin or monitor.")
    ] = Role.ANALYST,
    category: Annotated[
        list[str] | None,
        typer.Option("--category", help="A security category held, TAG=VALUE; repeat for several."),
    ] = None,
    database: Database = None,
) -> None:
    """Add a user and print its API token once (only a hash is stored)."""
    from gsoia.node.categories import from_options

    expires: dt.date | None = parse_day(clearance_expires, "--clearance-expires")
    try:
        categories = from_options(category or [])
    except GsoiaError as e:
        refuse(e)
    node = open_node(data, database)
    try:
        _, token = node.add_user(
            user_id,
            nation,
            clearance=clearance,
            clearance_expires=expires,
            need_to_know=need_to_know or [],
            role=role,
            categories=categories,
        )
    except GsoiaError as e:
        refused_at(node, "user add", e)
    finally:
        node.close()
    print(token)
    print("(shown once: only its hash is stored)", file=sys.stderr)


EXIT_ADDRESS = 3
"""``gsoia serve``'s exit status when it cannot listen where it is told to."""


def address_free(host: str, port: int) -> None:
    """Exit with one ``gsoia:`` line (status 3) unless ``host:port`` can be listened on
    (another server listens there, the address is not this machine's, or the port needs
    privileges)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        print(f"gsoia: --host {host}: not an address to listen on ({e.strerror})", file=sys.stderr)
        raise typer.Exit(EXIT_ADDRESS) from e
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            reason = "another server listens there" if e.errno == errno.EADDRINUSE else e.strerror
            print(
                f"gsoia: cannot listen on http://{host}:{port}/: {reason} (choose --port)",
                file=sys.stderr,
            )
            raise typer.Exit(EXIT_ADDRESS) from e


def serve(
    data: Data,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8700,
    database: Database = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="Decide every access as on this date (YYYY-MM-DD), for exercises and demos.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes sharing the port and the database (one per core).",
        ),
    ] = 1,
) -> None:
    """Run the node: REST API, TAXII 2.1, federation inbox and outbox, web pages."""
    import uvicorn

    from gsoia.api import create_app
    from gsoia.api.observe import configure_logging

    configure_logging()
    day = parse_day(today, "--today")
    address_free(host, port)
    node = open_node(data, database, day)
    if workers > 1:
        nation = node.nation
        node.close()  # opened to refuse a bad node here, once, with a clear message
        _serve_workers(data, database, day, host, port, workers, nation)
        return
    app = create_app(node)
    node.exchange.courier.start(leader=node.exchange.courier_leader())
    node.exchange.head_rounds.start()
    node.exchange.erasure_rounds.start()
    print(f"gsoia {node.nation} node on http://{host}:{port}/ (Ctrl-C stops it)", file=sys.stderr)
    # What start-up built (the catalogue, its tables, the label columns, the app) lives as
    # long as the server: out of the cyclic collector's way, which would walk it again and
    # again while requests run.
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        node.exchange.erasure_rounds.stop()
        node.exchange.head_rounds.stop()
        node.exchange.courier.stop()
        node.close()


def _serve_workers(
    data: Path,
    database: str | None,
    day: dt.date | None,
    host: str,
    port: int,
    workers: int,
    nation: str,
) -> None:
    """Several worker processes, each opening the node (``gsoia.api.served``)."""
    import os
    import shutil

    import uvicorn

    from gsoia.api import served, spread
    from gsoia.api.app import MULTIPROCESS_METRICS

    # Each worker counts in files of its own there; /metrics adds them up.
    counts = data.resolve() / "metrics"
    shutil.rmtree(counts, ignore_errors=True)  # a previous run's
    counts.mkdir(mode=0o700)
    os.environ[MULTIPROCESS_METRICS] = str(counts)
    # The workers' counts of the connections they hold, to take turns accepting.
    held = data.resolve() / "connections"
    spread.Tally.create(held)
    os.environ[spread.SPREAD] = str(held)
    os.environ[served.SERVE_DATA] = str(data.resolve())
    os.environ[served.SERVE_DATABASE] = database or ""
    os.environ[served.SERVE_TODAY] = day.isoformat() if day else ""
    os.environ[served.SERVE_PARENT] = str(os.getpid())
    print(
        f"gsoia {nation} node on http://{host}:{port}/ ({workers} workers; Ctrl-C stops it)",
        file=sys.stderr,
    )
    uvicorn.run(
        "gsoia.api.served:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="gsoia.api.spread:new_loop",
        log_level="warning",
        access_log=False,  # RequestLog logs each request (uvicorn's line is below "warning")
    )


@peer_app.command("add")
def peer_add(
    data: Data,
    nation: Annotated[str, typer.Option("--nation", help="The peer's nation (policy id).")],
    url: Annotated[str, typer.Option("--url", help="The peer node's base URL.")],
    fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint", help="Refuse the peer unless its keys have this fingerprint."
        ),
    ] = None,
    database: Database = None,
) -> None:
    """Fetch a peer's keys from URL/.well-known/gsoia and pin them."""
    from gsoia.federation.peers import fetch_identity
    from gsoia.node.authority import OPERATOR, Action

    node = open_node(data, database)
    try:
        node.require(OPERATOR, Action.PEERS_MANAGE)
        peer = fetch_identity(url)
        if peer.nation != nation:
            refuse(f"--nation: {url} is a node of {peer.nation}, not {nation}")
        node.exchange.add_peer(peer, fingerprint=fingerprint)
    except GsoiaError as e:
        refuse(e)
    finally:
        node.close()
    print(f"pinned {nation} at {url}")
    print(f"fingerprint: {peer.keys.fingerprint()}")
