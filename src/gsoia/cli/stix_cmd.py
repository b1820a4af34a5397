"""``gsoia stix import FILE`` and ``gsoia stix export``: STIX 2.1 bundles in and out.

Both act in-process on the node's store as one of its users (``--data DIR --user ID``), so
they work with the server running or not: what they write, a running ``gsoia serve``
takes in at its next request. Import stores each object that carries a valid label for
this node (as ``POST .../objects/`` does), in batches of ``--batch`` objects, one
transaction each, and reports every refusal; export writes a bundle of what the user may
see, every version, with the custodian's marking on copies held for another originator.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gsoia.cli.node_cmd import Data, Database, acting_user, open_node
from gsoia.cli.refusal import refuse
from gsoia.errors import GsoiaError

if TYPE_CHECKING:
    from gsoia.node.service import Node
    from gsoia.node.users import User

app = typer.Typer(help="Import and export STIX 2.1 bundles.", no_args_is_help=True)

UserId = Annotated[str, typer.Option("--user", help="The user to act as (its id).")]
CollectionName = Annotated[str, typer.Option("--collection", help="A collection id or alias.")]


def _user(node: Node, user_id: str) -> User:
    return acting_user(node, user_id)


def _collection(name: str) -> Any:
    from gsoia.node.stix_index import find_collection

    found = find_collection(name)
    if found is None:
        refuse(f"--collection: no collection '{name}'")
    return found


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=not sys.stderr.isatty(),
    )


@app.command("import")
def import_bundle(
    file: Annotated[Path, typer.Argument(help="A STIX 2.1 bundle (JSON); - for stdin.")],
    data: Data,
    user_id: UserId,
    collection: CollectionName = "intel",
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000)] = 500,
    database: Database = None,
) -> None:
    """Store a bundle's objects as the user's items; print what was stored and refused."""
    from gsoia.node.authority import Action
    from gsoia.node.stix import EXTENSION_ID, IDENTITY_ID
    from gsoia.node.taxii_store import TaxiiStore

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text("utf-8")
        bundle = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        refuse(f"{file}: cannot be read as JSON: {e}")
    if not isinstance(bundle, dict) or not isinstance(bundle.get("objects"), list):
        refuse(f"{file}: not a STIX bundle (an object with a list of 'objects')")
    ours = {EXTENSION_ID, IDENTITY_ID}  # the definitions an export starts with
    objects = [o for o in bundle["objects"] if not (isinstance(o, dict) and o.get("id") in ours)]
    node = open_node(data, database)
    user = _user(node, user_id)
    try:
        node.require(user, Action.CREATE)
    except GsoiaError as e:
        node.close()
        refuse(e)
    target = _collection(collection)
    store = TaxiiStore(node)
    stored = present = 0
    failures: list[dict[str, Any]] = []
    try:
        with _progress() as progress:
            task = progress.add_task("importing", total=len(objects))
            for start in range(0, len(objects), batch):
                chunk = objects[start : start + batch]
                outcome = store.add_envelope(user, target, chunk)
                present += outcome.present
                stored += outcome.stored
                failures += outcome.failures
                progress.advance(task, len(chunk))
    except GsoiaError as e:
        refuse(e)
    finally:
        node.close()
    for failure in failures[:50]:
        print(f"refused {failure['id'] or '?'}: {failure['message']}", file=sys.stderr)
    if len(failures) > 50:
        print(f"... and {len(failures) - 50} more refused", file=sys.stderr)
    print(f"stored {stored}, already present {present}, refused {len(failures)}")
    if failures:
        raise typer.Exit(1)


@app.command("export")
def export_bundle(
    data: Data,
    user_id: UserId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The bundle file; default: stdout.")
    ] = None,
    collection: CollectionName = "intel",
    database: Database = None,
) -> None:
    """Write a bundle of every object (every version) the user may see."""
    from gsoia.node.stix import EXTENSION_DEFINITION, IDENTITY
    from gsoia.node.stix_index import Query
    from gsoia.node.taxii_store import TaxiiStore

    node = open_node(data, database)
    user = _user(node, user_id)
    source = _collection(collection)
    store = TaxiiStore(node)
    objects: list[dict[str, Any]] = [IDENTITY, EXTENSION_DEFINITION]
    try:
        with _progress() as progress:
            task = progress.add_task("exporting", total=None)
            for obj in store.iterate(
                user, source, Query(versions=("all",)), lambda n: progress.advance(task, n)
            ):
                objects.append(obj)
    except GsoiaError as e:
        refuse(e)
    finally:
        node.close()
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    text = json.dumps(bundle, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, "utf-8")
        print(f"exported {len(objects) - 2} objects to {output}", file=sys.stderr)
