"""The audit log as an auditor reads it: entries about items the auditor may not read
withheld (their place in the tree still proven by their leaf), others' searches hidden."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from gsoia.node.authority import Action, entry_item, withheld, without_search
from gsoia.node.users import User
from gsoia.store.schema import audit_entries

if TYPE_CHECKING:
    from gsoia.node.service import Node

MAX_ENTRIES = 1000


def audit_page(node: Node, user: User, *, after: int = -1, limit: int = 100) -> dict[str, Any]:
    """Up to ``limit`` entries after ``after``, with the log's signed head (auditor)."""
    node.require(user, Action.AUDIT)
    limit = max(1, min(limit, MAX_ENTRIES))
    with node.engine.connect() as connection:
        rows = connection.execute(
            select(audit_entries.c.seq, audit_entries.c.body, audit_entries.c.leaf)
            .where(audit_entries.c.seq > after)
            .order_by(audit_entries.c.seq)
            .limit(limit)
        ).all()
        shown = shown_entries(node, connection, user, [(body, leaf) for _, body, leaf in rows])
    head = node.audit.head()
    return {
        "entries": shown,
        "head": head.to_dict() if head else None,
        "signing_key": node.public.signing.hex(),
    }


def shown_entries(
    node: Node, connection: Connection, user: User, rows: list[tuple[str, bytes]]
) -> list[dict[str, Any]]:
    """Entries from their ``(body, leaf)`` rows as ``user`` may read them: those about an
    item ``user`` may not read withheld (with their leaf), others' searches hidden."""
    entries = [(json.loads(body), bytes(leaf)) for body, leaf in rows]
    about = {e["seq"]: entry_item(e) for e, _ in entries}
    readable = node.holdings.readable(connection, user, {i for i in about.values() if i})
    shown = []
    for entry, leaf in entries:
        item_id = about[entry["seq"]]
        if item_id is not None and item_id not in readable:
            entry = withheld(entry)
        elif entry["kind"] == "items.listed" and entry["actor"] != user.id:
            entry = without_search(entry)
        if "withheld" in entry:  # its place in the tree still proven, by its leaf
            entry["leaf"] = leaf.hex()
        shown.append(entry)
    return shown
