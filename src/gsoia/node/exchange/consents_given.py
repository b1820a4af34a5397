"""The consents an item carries: listed for its readers, withdrawn by its originator.

On the originator's node an item's consents are those its officers gave (each with its
note, and its withdrawal if withdrawn); on a custodian's, the originator's signed grants
kept with the copy. Withdrawing a consent takes the third party off the item's consents
and tells every custodian (``consent.custodians_of``), which takes it off its copy: a
release to that third party is refused from then on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from gsoia.errors import RequestError
from gsoia.node.authority import Action
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.exchange.acknowledged import read_item_row
from gsoia.node.exchange.consent import Reply, custodians_of
from gsoia.node.exchange.received import usable_id
from gsoia.node.item import find_item
from gsoia.node.users import User
from gsoia.store.schema import consents

if TYPE_CHECKING:
    from gsoia.node.exchange.consent import Consents
    from gsoia.node.service import Node


def consents_listed(node: Node, user: User, item_id: str) -> list[dict[str, Any]]:
    """The item's consents, newest first (readers of the item)."""
    with node.engine.connect() as connection:
        row = read_item_row(node, connection, user, item_id)
        given = connection.execute(
            select(consents).where(consents.c.item_id == item_id).order_by(consents.c.seq.desc())
        ).all()
    if row.originator == node.nation:
        return [
            {
                "to": r.to_party,
                "state": "withdrawn" if r.withdrawn_at else "given",
                "granted_by": r.granted_by,
                "granted_at": r.granted_at,
                "note": r.note,
                "withdrawn_by": r.withdrawn_by,
                "withdrawn_at": r.withdrawn_at,
            }
            for r in given
        ]
    grants = json.loads(row.grants or "[]")
    return [
        {
            "to": g.get("to"),
            "state": "received",
            "originator": g.get("originator"),
            "granted_by": g.get("granted_by"),
            "granted_at": g.get("granted_at"),
        }
        for g in sorted(grants, key=lambda g: str(g.get("granted_at")), reverse=True)
    ]


def withdraw(
    consenting: Consents, user: User, item_id: str, to: str, note: str | None
) -> dict[str, Any]:
    """The originator's officer withdraws its consent to ``to``; every custodian is told."""
    node = consenting.node
    node.require(user, Action.CONSENT)
    if to not in node.rulebook.catalogue.policies:
        raise RequestError.of("to", f"unknown policy '{to}'")
    with node.audit.transaction() as tx:
        row = find_item(tx.connection, item_id) if usable_id(item_id) else None
        if row is None:
            raise NotFound(f"no item {item_id}")
        node.on_item(user, Action.CONSENT, row)
        consented = set(json.loads(row.consented_to))
        if to not in consented:
            raise Conflict(f"item {item_id} carries no consent to {to}")
        node.rewrite(tx, row, {"consented_to": json.dumps(sorted(consented - {to}))})
        now = node.audit.now()
        tx.connection.execute(
            update(consents)
            .where(consents.c.item_id == item_id)
            .where(consents.c.to_party == to)
            .where(consents.c.withdrawn_at.is_(None))
            .values(withdrawn_by=user.id, withdrawn_at=now)
        )
        tx.append(
            "consent.withdrawn",
            user.id,
            {"item": item_id, "to": to} | ({"note": note} if note else {}),
        )
        holders = custodians_of(tx.connection, item_id) - {node.nation, to}
    pinned = sorted(h for h in holders if consenting.peers.known(h) is not None)
    reply = Reply(item_id, to, granted=False, note=note, withdrawn=True)
    sent = [consenting.send_reply(user, reply, holder, None) for holder in pinned]
    return {
        "item": item_id,
        "to": to,
        "withdrawn_by": user.id,
        "withdrawn_at": now,
        "notified": sent,
        "not_pinned": sorted(holders - set(pinned)),
    }
