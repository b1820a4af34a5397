"""Onward releases told to the originator: its picture of custody made whole.

Canada's node, holding Japan's item, releases it to the United States with Japan's
consent; in the release's transaction it puts a small notice for Japan's node in the
outbox (item, third party, the release's package, who released it and when). Japan's node
keeps what it is told (``onward_releases``) and shows it in the item's custody
(``gsoia.node.exchange.custody``). A notice from a node that holds no copy of the item is
refused (UNKNOWN_ITEM), one told before (its package again) as a REPLAY.

What then comes of that release is told the same way, once, in the transaction that
settles it at Canada's node (``outcome_notices``): the United States' node took it
(``delivered``), stored it with a signed receipt that verified (``received``), refused it
(``refused``, with its reason), or Canada's officer cancelled it (``cancelled``, with the
note). Japan's node keeps the latest state it is told; a state told again is a REPLAY, a
notice overtaken by a later one is recorded and audited but changes nothing. Both sides
audit it (``custody.onward_told``, ``custody.onward``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from gsoia.audit.log import AuditTransaction
from gsoia.federation.courier import outbox_row
from gsoia.federation.outbox import State, enqueue_many
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection
from gsoia.federation.posting import Outcome
from gsoia.node.exchange.bodies import OnwardBody, read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import held_by_sender, known_party, record
from gsoia.store.schema import onward_releases, outbox

if TYPE_CHECKING:
    from gsoia.node.service import Node


def onward_notices(
    peers: PeerBook,
    nation: str,
    to: str,
    released: Iterable[tuple[str, str, str]],
    released_by: str,
    now: str,
) -> list[dict[str, Any]]:
    """The outbox rows telling each originator of the items ``released`` (item, its
    originator, the release's package) that this node (``nation``) released it to ``to``:
    none for this node's own items, the originator's own copy, or an originator that is
    no pinned peer."""
    rows = []
    for item_id, originator, package_id in released:
        if originator in (nation, to) or peers.cached(originator) is None:
            continue
        body = {
            "item": item_id,
            "to": to,
            "package": package_id,
            "released_by": released_by,
            "released_at": now,
        }
        rows.append(
            outbox_row(
                package_id=_notice_id(package_id),
                kind=Kind.ONWARD,
                peer=originator,
                body=body,
                item_id=item_id,
                now=now,
            )
        )
    return rows


STATES = {"reported": 0, "delivered": 1, "received": 2, "refused": 2, "cancelled": 3}
"""An onward release's states, in the order they follow one another: a notice of an
earlier state arriving after a later one changes nothing."""


MAX_REASON = 1000
"""The longest reason a notice carries (``bodies.OnwardBody``)."""


def _notice_id(package_id: str, state: str | None = None) -> str:
    return f"onward-{package_id}" if state is None else f"onward-{package_id}-{state}"


def settled_state(outcome: Outcome) -> str | None:
    """What a settled release came to as the originator is told it (None: nothing new)."""
    if outcome.state == State.FAILED:
        return "refused"
    first = outcome.row.state == State.PENDING
    if outcome.state == State.DELIVERED:
        return "received" if outcome.acknowledgement is not None else "delivered"
    return "delivered" if first and outcome.state == State.UNACKNOWLEDGED else None


def outcome_notices(
    tx: AuditTransaction,
    settled: Sequence[tuple[Any, str, str | None]],
    now: str,
    actor: str = "courier",
) -> list[str]:
    """Tell each originator what came of the onward releases ``settled`` (outbox row, state,
    reason): only the releases an originator was told of (``onward_notices``); audited as
    ``actor``'s. The notices' package ids."""
    told = {_notice_id(row.package_id): (row, state, reason) for row, state, reason in settled}
    told = {k: v for k, v in told.items() if v[0].kind == Kind.RELEASE.value}
    if not told:
        return []
    query = select(outbox.c.package_id, outbox.c.peer, outbox.c.payload).where(
        outbox.c.package_id.in_(list(told))
    )
    rows = []
    for notice in tx.connection.execute(query):
        row, state, reason = told[notice.package_id]
        body = json.loads(notice.payload) | {"state": state, "at": now}
        if reason is not None:
            body["reason"] = reason[:MAX_REASON]
        rows.append(
            outbox_row(
                package_id=_notice_id(row.package_id, state),
                kind=Kind.ONWARD,
                peer=notice.peer,
                body=body,
                item_id=body["item"],
                now=now,
            )
        )
        tx.append(
            "custody.onward_told",
            actor,
            {"item": body["item"], "to": row.peer, "package": row.package_id}
            | {"originator": notice.peer, "state": state},
        )
    enqueue_many(tx.connection, rows)
    return [r["package_id"] for r in rows]


def outcomes_settled(tx: AuditTransaction, outcomes: list[Outcome], now: str) -> None:
    """The courier's packages settled: each onward release among them told its originator
    (the third party's reason with a refusal)."""
    settled = []
    for o in outcomes:
        state = settled_state(o)
        if state is not None:
            settled.append((o.row, state, o.reason if state == "refused" else None))
    outcome_notices(tx, settled, now)


def receive_onward(node: Node, package: Package) -> dict[str, Any]:
    """The originator's node: a custodian's release of its item to a third party, or what
    came of it."""
    body = read_body(OnwardBody, package)
    known_party(node.rulebook.catalogue.policies, body.to, package)
    state = body.state or "reported"
    with node.audit.transaction() as tx:
        held_by_sender(tx.connection, node.nation, body.item, package)
        told = _told(tx.connection, body.package)
        if told is not None and (told.custodian, told.item_id) != (package.sender, body.item):
            raise PackageRejected(
                Rejection.UNKNOWN_ITEM,
                f"release {body.package} is not one {package.sender} told of",
                package.id,
            )
        if told is not None and told.state == state:
            raise PackageRejected(
                Rejection.REPLAY, f"release {body.package} was told {state} before", package.id
            )
        record(tx.connection, package, body.item, node.audit.now())
        now = node.audit.now()
        if told is None:
            tx.connection.execute(
                insert(onward_releases).values(
                    package_id=body.package,
                    item_id=body.item,
                    custodian=package.sender,
                    to_party=body.to,
                    released_by=f"{package.sender}/{body.released_by}",
                    released_at=body.released_at,
                    received_at=now,
                    state=state,
                    reason=body.reason,
                    state_at=body.at,
                )
            )
        elif STATES[state] > STATES[told.state]:
            tx.connection.execute(
                update(onward_releases)
                .where(onward_releases.c.package_id == body.package)
                .values(state=state, reason=body.reason, state_at=body.at)
            )
        kept = told is None or STATES[state] > STATES[told.state]
        about = {"item": body.item, "to": body.to, "package": body.package, "state": state}
        if body.reason is not None:
            about["reason"] = body.reason
        if not kept and told is not None:
            about["kept"] = told.state  # overtaken by a later state told before
        tx.append("custody.onward", package.sender, about)
    return {"status": "recorded"}


def _told(connection: Connection, package_id: str) -> Row[Any] | None:
    query = select(onward_releases).where(onward_releases.c.package_id == package_id)
    return connection.execute(query).first()
