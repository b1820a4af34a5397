"""``gsoia audit verify``, ``gsoia audit prove``, ``gsoia audit check``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gsoia.cli.node_cmd import Data, Database, open_node
from gsoia.cli.refusal import parse_day, refuse
from gsoia.errors import GsoiaError

if TYPE_CHECKING:
    from gsoia.audit.log import TreeHead

app = typer.Typer(
    help="Check the node's audit log; prove entries to an inspector.", no_args_is_help=True
)


@app.command("verify")
def audit_verify(
    data: Data,
    database: Database = None,
    witness: Annotated[
        bool,
        typer.Option(
            "--witness",
            help="Also ask every pinned peer for the head it holds of this node's log, and"
            " check that this log holds each.",
        ),
    ] = False,
) -> None:
    """Recompute the audit log's hashes, roots and signed heads; name the first bad entry.

    The log must also hold the signed head kept in the data directory (audit-head.json):
    a log shorter than it, or not the log it signed, fails, naming the range.
    """
    from gsoia.node.authority import OPERATOR, Action

    node = open_node(data, database, anchored=False)
    try:
        node.require(OPERATOR, Action.AUDIT)
        head = node.verify_audit(progress=lambda n: print(f"  {n:,} entries…", file=sys.stderr))
        anchor = node.audit.anchor.read() if node.audit.anchor is not None else None
        held = (
            node.exchange.witnesses.heads_held_of_me(node.exchange.fetch_held_head)
            if witness
            else []
        )
    except GsoiaError as e:
        refuse(e)
    finally:
        node.close()
    for line in verified(head, anchor):
        print(line)
    for report in held:
        if report.failure is not None:
            print(f"{report.nation}: {report.failure}")
        elif report.head is None:
            print(f"{report.nation}: holds no head of this log yet")
        else:
            print(f"{report.nation}: holds the head of {report.head.size} entries, consistent")
    failed = [r.nation for r in held if r.failure is not None]
    if failed:
        refuse(GsoiaError(f"audit log: not as {', '.join(failed)} witnessed it (see above)"))


def verified(head: TreeHead | None, anchor: TreeHead | None) -> list[str]:
    """What a verified log and its anchor read as, one line each."""
    if head is None:
        log = "audit log: empty, verified"
    else:
        log = f"audit log: {head.size} entries verified; root {head.root.hex()} ({head.at})"
    if anchor is None:
        return [log, "anchor: none in the data directory (the log's length is not pinned here)"]
    return [log, f"anchor: holds the head of {anchor.size} entries ({anchor.at}), consistent"]


@app.command("prove")
def audit_prove(
    data: Data,
    out: Annotated[Path, typer.Option("--out", help="The bundle to write (JSON).")],
    item: Annotated[str | None, typer.Option("--item", help="Every entry about this item.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Every entry from this day (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Every entry to this day, included (YYYY-MM-DD).")
    ] = None,
    database: Database = None,
) -> None:
    """Write the entries about an item, or of a period, with their inclusion proofs, the
    signed head and the node's public keys: evidence ``gsoia audit check`` verifies with no
    database and no network."""
    from gsoia.node.authority import OPERATOR
    from gsoia.node.evidence import prove

    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    node = open_node(data, database)
    try:
        bundle = prove(node, OPERATOR, item=item, start=first, end=last)
    except GsoiaError as e:
        refuse(e)
    finally:
        node.close()
    text = json.dumps(bundle, indent=1, sort_keys=True) + "\n"
    try:
        partial = out.with_name(f".{out.name}.partial")
        partial.write_text(text, "utf-8")
        partial.replace(out)
    except OSError as e:
        refuse(f"--out: cannot write {out} ({e.strerror})")
    head = bundle["head"]
    print(f"{out}: {len(bundle['entries'])} entries, proven in the head of {head['size']} entries")


@app.command("check")
def audit_check(
    bundle: Annotated[Path, typer.Argument(help="A bundle written by gsoia audit prove.")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The node's signing key (hex) as you know it; without it, the bundle's own"
            " keys are trusted and their signer's fingerprint printed for you to compare.",
        ),
    ] = None,
) -> None:
    """Verify an evidence bundle with nothing but itself: the head's signature, each
    entry's inclusion proof, each partner's receipt. Exit 0, or 1 naming the first
    failure."""
    from gsoia.audit.evidence import check_bundle

    try:
        raw = bundle.read_bytes()
    except OSError as e:
        refuse(f"{bundle}: cannot be read ({e.strerror})")
    try:
        known = bytes.fromhex(key) if key is not None else None
    except ValueError:
        refuse(f"--key: '{key}' is not a hex key")
    try:
        checked = check_bundle(raw, known)
    except GsoiaError as e:
        refuse(e)
    head = checked.head
    print(
        f"{bundle}: {checked.entries} entries of {checked.node}'s audit log, proven in its"
        f" signed head of {head.size} entries ({head.at})"
    )
    print(f"signed by {checked.key.hex()}" + (" (the key given)" if known else ""))
    if checked.receipts:
        print(
            f"{checked.receipts} partners' receipts, each for the item, its entry proven in the"
            " partner's signed head"
        )
