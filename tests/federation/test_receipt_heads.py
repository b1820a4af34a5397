"""A receipt's head is witnessed as a package's is: Japan's node, holding a head of
Canada's log (from a package Canada sent), checks the head of each receipt Canada answers
a release with against it. A head that extends it is held in its place (proven with
Canada's consistency proof); one of another history raises the alarm, and the release
stays unacknowledged (a true receipt too, while the alarm is open).

Both nodes real and in this process (``tests.federation.test_receipts``: Japan's on
SQLite or PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from gsoia.audit.log import TreeHead
from gsoia.federation.courier import State
from gsoia.federation.packages import Kind, make_package_bytes
from gsoia.store.schema import audit_entries
from tests.federation.test_receipts import Pair, Tamper, database, pair
from tests.receipts import signed_receipt

__all__ = ["database", "pair"]


def canada_shows_its_head(pair: Pair) -> TreeHead:
    """Canada's head, in a ``head`` package Japan witnesses: the head Japan holds."""
    head = pair.can.audit.head()
    assert head is not None
    raw = make_package_bytes(
        pair.can.keys.signing,
        Kind.HEAD,
        "CAN",
        "JPN",
        {},
        dt.datetime.now(dt.UTC),
        None,
        head.to_dict(),
    )
    assert pair.jpn.exchange.receive(raw)["head"] == "witnessed"
    assert pair.jpn.exchange.witnesses.held("CAN") == head
    return head


def another_history(pair: Pair) -> Tamper:
    """Canada's receipt for the same release, signed with its key, proven in a head of a
    log of its that is not the one it showed Japan."""

    def tamper(receipt: dict[str, Any]) -> dict[str, Any]:
        return signed_receipt(
            pair.can.keys.signing,
            package=receipt["package"],
            item=receipt["item"],
            marking=receipt["marking"],
        )

    return tamper


def jpn_alarms(pair: Pair) -> list[dict[str, Any]]:
    with pair.jpn.engine.connect() as connection:
        bodies = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.kind == "witness.alarm")
        ).scalars()
        return [json.loads(b)["data"] for b in bodies]


def test_a_receipts_head_that_extends_the_head_held_is_held(pair: Pair) -> None:
    held = canada_shows_its_head(pair)
    [item] = pair.items(1)
    assert pair.release(item)["state"] == State.DELIVERED
    [shown] = pair.history(item)
    size = shown["receipt"]["tree_size"]
    assert size > held.size
    now_held = pair.jpn.exchange.witnesses.held("CAN")
    assert now_held is not None
    assert (now_held.size, now_held.root.hex()) == (size, shown["receipt"]["root"])
    assert pair.jpn.exchange.witnesses.open_alarms() == []


def test_a_receipts_head_of_another_history_raises_the_alarm(pair: Pair) -> None:
    held = canada_shows_its_head(pair)
    [item] = pair.items(1)
    pair.wire.tamper = another_history(pair)
    released = pair.release(item)
    assert released["state"] == State.UNACKNOWLEDGED, released
    [why] = pair.audited("package.unacknowledged")
    assert why["reason"].startswith("its head shows another history of CAN's audit log"), why
    [alarm] = pair.jpn.exchange.witnesses.open_alarms()
    assert alarm.nation == "CAN"
    assert [a["alarm"] for a in jpn_alarms(pair)] == [alarm.id]
    assert pair.jpn.metrics.witness_alarms._value.get() == 1
    assert pair.jpn.exchange.witnesses.held("CAN") == held  # the other history not kept
    assert pair.history(item)[0]["receipt"] is None

    # a true receipt is not taken while the alarm is open: asked again after it
    pair.wire.tamper = None
    pair.due_now(released["package"])
    pair.jpn.exchange.courier.run_due()
    [shown] = pair.history(item)
    assert (shown["state"], shown["receipt"]) == ("unacknowledged", None)
    assert (
        "must acknowledge the alarm first" in pair.audited("package.unacknowledged")[-1]["reason"]
    )
    assert len(jpn_alarms(pair)) == 1  # one alarm, not one a receipt
