"""The releases of an item as their readers see them: where each went, whether it was
delivered, and the partner's receipt for it (``GET /api/v1/items/{item_id}/releases``,
the item page).

A release is ``delivered`` once its partner's signed receipt verified (the receipt is
shown: ``verified``, the partner's entry ``seq``, the head it is proven in, the marking the
partner gave it); ``unacknowledged`` while it was delivered without one that verifies (the
courier asks again); else its delivery's state (pending, failed, cancelled).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select

from gsoia.node.authority import Action
from gsoia.node.errors import NotFound
from gsoia.node.exchange.received import usable_id
from gsoia.node.item import StoredItem, find_item
from gsoia.node.users import User
from gsoia.store.schema import acknowledgements, outbox, releases

if TYPE_CHECKING:
    from gsoia.node.service import Node

OF_ITEM = (
    select(
        releases.c.peer,
        releases.c.package_id,
        releases.c.released_by,
        releases.c.released_at,
        outbox.c.state,
        outbox.c.attempts,
        outbox.c.delivered_at,
        outbox.c.last_error,
        acknowledgements.c.receipt,
        acknowledgements.c.seq,
        acknowledgements.c.verified_at,
    )
    .select_from(
        releases.outerjoin(outbox, outbox.c.package_id == releases.c.package_id).outerjoin(
            acknowledgements, acknowledgements.c.package_id == releases.c.package_id
        )
    )
    .where(releases.c.item_id == bindparam("item"))
    .order_by(releases.c.seq)
)
"""The releases of an item (``item``), oldest first, with their delivery and receipt."""
_RECEIPTS = select(acknowledgements.c.receipt).where(
    acknowledgements.c.item_id == bindparam("item")
)


def release_history(node: Node, user: User, item_id: str) -> list[dict[str, Any]]:
    """Each release of the item, oldest first, with its receipt (those who may read it)."""
    with node.engine.connect() as connection:
        read_item_row(node, connection, user, item_id)
        return [_shown(r) for r in connection.execute(OF_ITEM, {"item": item_id})]


def read_item_row(node: Node, connection: Connection, user: User, item_id: str) -> StoredItem:
    """The stored item ``user`` may read (the authority's ``item.read``), its refusal
    raised; ``NotFound`` for no such item."""
    row = find_item(connection, item_id) if usable_id(item_id) else None
    if row is None:
        raise NotFound(f"no item {item_id}")
    node.on_item(user, Action.READ, row)
    return row


def receipts_of(connection: Connection, item_id: str) -> list[dict[str, Any]]:
    """The verified receipts partners signed for the releases of an item, as signed."""
    rows = connection.execute(_RECEIPTS, {"item": item_id}).scalars()
    return [json.loads(receipt) for receipt in rows]


def _shown(row: Any) -> dict[str, Any]:
    receipt = None
    if row.receipt is not None:
        signed = json.loads(row.receipt)
        receipt = {
            "verified": True,
            "seq": signed["seq"],
            "tree_size": signed["head"]["tree_size"],
            "root": signed["head"]["root"],
            "marking": signed["marking"],
            "signature": signed["head"]["signature"],  # the head's: it signs the receipt
            "verified_at": row.verified_at,
        }
    return {
        "to": row.peer,
        "package": row.package_id,
        "released_by": row.released_by,
        "released_at": row.released_at,
        "state": row.state,
        "delivered_at": row.delivered_at,
        "last_error": row.last_error if row.state != "delivered" else None,
        "receipt": receipt,
    }
