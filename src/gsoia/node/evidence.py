"""``gsoia audit prove``: the entries about an item, or of a period, as evidence an
inspector checks offline (``audit.evidence``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from gsoia.audit.evidence import make_bundle
from gsoia.errors import InputError
from gsoia.node.authority import Action, Actor, entry_item
from gsoia.node.exchange.acknowledged import receipts_of
from gsoia.node.rotation import own_signing_keys

if TYPE_CHECKING:
    from gsoia.node.service import Node


def prove(
    node: Node,
    actor: Actor,
    *,
    item: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """The bundle of every entry about ``item`` (or, without one, of the days ``start`` to
    ``end``, both included), proven in the latest signed head."""
    node.require(actor, Action.AUDIT)
    if item is None and start is None and end is None:
        raise InputError.of("--item", "name an item, or a period (--from, --to)")
    if start is not None and end is not None and end < start:
        raise InputError.of("--to", f"{end} is before --from {start}")
    head = node.audit.head()
    if head is None:
        raise InputError.of("--data", "the audit log is empty")
    chosen: list[tuple[int, str]] = []
    with node.audit.store.entries() as rows:
        for row in rows:
            if row.seq >= head.size:
                break
            if _about(json.loads(row.body), item, start, end):
                chosen.append((int(row.seq), str(row.body)))
    if not chosen:
        place = "--item" if item is not None else "--from"
        raise InputError.of(place, "no entry of the audit log matches")
    about = {"item": item} if item is not None else {}
    about.update({k: str(v) for k, v in (("from", start), ("to", end)) if v is not None})
    leaves = node.audit.leaves(head.size)
    receipts = [] if item is None else _receipts(node, item)
    return make_bundle(
        node.keys.signing,
        node.nation,
        own_signing_keys(node),
        head,
        leaves,
        chosen,
        about,
        receipts,
    )


def _receipts(node: Node, item: str) -> list[dict[str, Any]]:
    """The partners' receipts for the releases of ``item``, each with the partner's keys."""
    with node.engine.connect() as connection:
        receipts = receipts_of(connection, item)
    book = node.exchange.peers_book
    book.load()
    return [
        {
            "partner": receipt["receiver"],
            "signing_keys": [k.hex() for k in book.signing_keys(receipt["receiver"])],
            "receipt": receipt,
        }
        for receipt in receipts
    ]


def _about(
    entry: dict[str, Any], item: str | None, start: dt.date | None, end: dt.date | None
) -> bool:
    if item is not None and entry_item(entry) != item:
        return False
    day = dt.datetime.fromisoformat(entry["at"]).astimezone(dt.UTC).date()
    return (start is None or day >= start) and (end is None or day <= end)
