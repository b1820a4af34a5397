"""An item's custody as its readers see it: where it is held, how each copy got there, and
what happened to it, in time order (``GET /api/v1/items/{item_id}/custody``, the item page).

The chain is one link per package that carried the item: the releases this node made
(their state from the outbox and the partner's receipt), the release that brought the
item here (a custodian's copy), and the onward releases custodians told this node of
(``exchange.onward``). A link's state is, for a release of this node's:

- ``queued``: in the outbox, not tried yet (or the partner's node never answered);
- ``retrying``: tried, and to be tried again (``last_error`` says why it failed);
- ``delivered``: the partner's node took it, its signed receipt not verified (yet);
- ``received``: the partner's node stored it, and its signed receipt verified;
- ``refused``: the partner's node refused it (``last_error``: its reason);
- ``cancelled``: an officer of this node cancelled it before it was delivered.

A copy received here is ``received``. An onward release a custodian told of is in the
state the custodian last told (``exchange.onward``): ``reported`` (made, not yet taken),
then ``delivered``, ``received``, ``refused`` (``last_error``: the third party's reason)
or ``cancelled`` (``last_error``: the custodian's officer's note). The item is held by its
originator, by this node, and by each nation a link in the state ``delivered`` or
``received`` reached.

Its events are the item's creation, its packages, consents, consent requests, notices,
incidents, and the changes of its classification made here (the originator's
``item.reclassified`` audit entries: made with or without a custodian to tell).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from gsoia.federation.outbox import State
from gsoia.federation.packages import Kind
from gsoia.node.exchange.acknowledged import OF_ITEM, read_item_row
from gsoia.node.item import StoredItem
from gsoia.node.naming import with_names
from gsoia.node.users import User
from gsoia.store.schema import (
    audit_entries,
    consent_requests,
    consents,
    inbox,
    incidents,
    onward_releases,
    outbox,
    releases,
)

if TYPE_CHECKING:
    from gsoia.node.service import Node

HELD = ("delivered", "received")
"""The states of a link whose nation holds the item."""


@dataclass(frozen=True)
class Link:
    """One package that carried the item from one nation to another."""

    source: str
    to: str
    state: str
    at: str
    package: str
    by: str | None = None
    last_error: str | None = None
    delivered_at: str | None = None
    receipt: dict[str, Any] | None = None
    told_by: str | None = None
    told_at: str | None = None
    """When the custodian's node learnt the state it told (an onward release)."""

    def to_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown["from"] = shown.pop("source")
        return shown


@dataclass
class Holder:
    nation: str
    role: str
    since: str
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"nation": self.nation, "role": self.role, "since": self.since, "from": self.source}


@dataclass
class Custody:
    """What ``custody`` answers."""

    item: str
    originator: str
    links: list[Link]
    events: list[dict[str, Any]] = field(default_factory=list)

    def holders(self, here: str, created_at: str) -> list[Holder]:
        found = {self.originator: Holder(self.originator, "originator", created_at)}
        for link in self.links:
            if link.state in HELD and link.to not in found:
                role = "custodian" if link.source == self.originator else "third party"
                found[link.to] = Holder(link.to, role, link.delivered_at or link.at, link.source)
        if here not in found:  # a copy held here, however it came
            found[here] = Holder(here, "custodian", created_at)
        return list(found.values())


def package_state(state: str | None, attempts: int, receipt: object) -> str:
    """A release's state as custody shows it, from its outbox row (see the module)."""
    if state == State.PENDING or state is None:
        return "retrying" if attempts else "queued"
    if state == State.UNACKNOWLEDGED:
        return "delivered"
    if state == State.DELIVERED:
        return "received" if receipt is not None else "delivered"
    if state == State.FAILED:
        return "refused"
    return state


def custody(node: Node, user: User, item_id: str) -> dict[str, Any]:
    """Where the item is held and how it got there, in time order (readers of the item)."""
    with node.engine.connect() as connection:
        row = read_item_row(node, connection, user, item_id)
        links = sorted(
            [
                *_received(connection, node.nation, item_id),
                *_released(connection, node.nation, item_id),
                *_onward(connection, item_id),
            ],
            key=lambda link: link.at,
        )
        found = Custody(item_id, row.originator, links)
        events = [*_created(row), *(e for link in links for e in _link_events(link))]
        events += [*_consents(connection, row), *_requests(connection, item_id)]
        events += [*_notices(connection, item_id), *_incidents(connection, item_id)]
        events += list(_reclassified(connection, item_id))
    holders = found.holders(node.nation, row.created_at)
    return {
        "item": item_id,
        "originator": row.originator,
        "holders": [h.to_dict() for h in holders],
        "chain": [link.to_dict() for link in links],
        "events": sorted(events, key=lambda e: str(e["at"])),
    }


def _received(connection: Connection, nation: str, item_id: str) -> Iterator[Link]:
    query = (
        select(inbox.c.sender, inbox.c.package_id, inbox.c.received_at)
        .where(inbox.c.item_id == item_id)
        .where(inbox.c.kind == Kind.RELEASE.value)
    )
    for r in connection.execute(query):
        yield Link(r.sender, nation, "received", r.received_at, r.package_id)


def _released(connection: Connection, nation: str, item_id: str) -> Iterator[Link]:
    for r in connection.execute(OF_ITEM, {"item": item_id}):
        state = package_state(r.state, r.attempts or 0, r.receipt)
        receipt = None
        if r.receipt is not None:
            receipt = {
                "seq": r.seq,
                "marking": json.loads(r.receipt)["marking"],
                "verified_at": r.verified_at,
            }
        yield Link(
            nation,
            r.peer,
            state,
            r.released_at,
            r.package_id,
            by=r.released_by,
            last_error=r.last_error if state in ("retrying", "refused", "delivered") else None,
            delivered_at=r.delivered_at,
            receipt=receipt,
        )


def _onward(connection: Connection, item_id: str) -> Iterator[Link]:
    query = select(onward_releases).where(onward_releases.c.item_id == item_id)
    for r in connection.execute(query):
        yield Link(
            r.custodian,
            r.to_party,
            r.state,
            r.released_at,
            r.package_id,
            by=r.released_by,
            last_error=r.reason if r.state in ("refused", "cancelled") else None,
            delivered_at=r.state_at if r.state in HELD else None,
            told_by=r.custodian,
            told_at=r.state_at or r.received_at,
        )


def _created(row: StoredItem) -> Iterator[dict[str, Any]]:
    yield {
        "at": row.created_at,
        "event": "created",
        "nation": row.originator,
        "by": row.created_by,
    }


def _link_events(link: Link) -> Iterator[dict[str, Any]]:
    event = "received" if link.state == "received" and link.by is None else "released"
    if link.told_by is not None:
        event = "released onward"
    yield {
        "at": link.at,
        "event": event,
        "from": link.source,
        "to": link.to,
        "by": link.by,
        "package": link.package,
        "state": link.state,
    }
    if link.told_by is not None and link.state != "reported":
        yield {
            "at": link.told_at,
            "event": f"onward release {link.state}",
            "from": link.told_by,
            "to": link.to,
            "package": link.package,
            "state": link.state,
            "note": link.last_error,
        }
    if link.receipt is not None:
        yield {
            "at": link.receipt["verified_at"],
            "event": "receipt verified",
            "from": link.to,
            "package": link.package,
            "marking": link.receipt["marking"],
        }


def _consents(connection: Connection, row: StoredItem) -> Iterator[dict[str, Any]]:
    """Consents given here (the originator), or kept with this copy (a custodian)."""
    query = select(consents).where(consents.c.item_id == row.id)
    for r in connection.execute(query):
        yield {
            "at": r.granted_at,
            "event": "consent given",
            "to": r.to_party,
            "by": r.granted_by,
            "note": r.note,
        }
        if r.withdrawn_at is not None:
            yield {
                "at": r.withdrawn_at,
                "event": "consent withdrawn",
                "to": r.to_party,
                "by": r.withdrawn_by,
            }
    for grant in json.loads(row.grants or "[]"):
        yield {
            "at": grant.get("granted_at"),
            "event": "consent received",
            "from": grant.get("originator"),
            "to": grant.get("to"),
            "by": grant.get("granted_by"),
        }


def _requests(connection: Connection, item_id: str) -> Iterator[dict[str, Any]]:
    """Consent requests custodians sent this node about the item, and their answers."""
    query = select(consent_requests).where(consent_requests.c.item_id == item_id)
    for r in connection.execute(query):
        yield {
            "at": r.requested_at,
            "event": "consent requested",
            "from": r.custodian,
            "to": r.to_party,
            "by": r.requested_by,
            "state": r.state,
        }
        if r.decided_at is not None:
            yield {
                "at": r.decided_at,
                "event": f"consent request {r.state}",
                "from": r.custodian,
                "to": r.to_party,
                "by": r.decided_by,
                "note": r.note,
            }


_NOTICES = {
    Kind.CONSENT_REQUEST.value: "consent requested",
    Kind.CONSENT_REPLY.value: "consent answer",
    Kind.RECLASSIFY.value: "reclassified",
}


def _notices(connection: Connection, item_id: str) -> Iterator[dict[str, Any]]:
    """Consent requests and answers, and reclassifications, sent and received here."""
    sent = (
        select(outbox.c.kind, outbox.c.peer, outbox.c.payload, outbox.c.created_at, outbox.c.state)
        .where(outbox.c.item_id == item_id)
        .where(outbox.c.kind.in_(list(_NOTICES)))
    )
    for r in connection.execute(sent):
        body = json.loads(r.payload)
        shown = {"at": r.created_at, "event": _NOTICES[r.kind], "told": r.peer, "state": r.state}
        if r.kind == Kind.RECLASSIFY.value:
            shown["classification"] = body.get("classification")
        else:
            shown["to"] = body.get("to")
        if r.kind == Kind.CONSENT_REPLY.value:
            shown["event"] = _answer(body)
            shown["note"] = body.get("note")
        yield shown
    received = (
        select(inbox.c.kind, inbox.c.sender, inbox.c.received_at)
        .where(inbox.c.item_id == item_id)
        .where(inbox.c.kind == Kind.RECLASSIFY.value)
    )
    for got in connection.execute(received):
        yield {"at": got.received_at, "event": "reclassified", "from": got.sender}


def _reclassified(connection: Connection, item_id: str) -> Iterator[dict[str, Any]]:
    """The item's classification changed here, from the audit log (the kind's index, then
    the entries that name the item)."""
    query = (
        select(audit_entries.c.body)
        .where(audit_entries.c.kind == "item.reclassified")
        .where(audit_entries.c.body.contains(json.dumps(item_id), autoescape=True))
    )
    for (body,) in connection.execute(query):
        entry = json.loads(body)
        data = entry["data"]
        if data.get("item") == item_id:
            yield {
                "at": entry["at"],
                "event": "classification changed",
                "by": entry["actor"],
                "was": data.get("from"),
                "classification": data.get("to"),
            }


def _answer(body: dict[str, Any]) -> str:
    if body.get("withdrawn"):
        return "consent withdrawal told"
    return "consent told" if body.get("granted") else "consent refusal told"


def _incidents(connection: Connection, item_id: str) -> Iterator[dict[str, Any]]:
    query = select(incidents).where(incidents.c.item_id == item_id)
    for r in connection.execute(query):
        yield {
            "at": r.reported_at,
            "event": "incident reported",
            "kind": r.kind,
            "by": r.reported_by,
            "state": r.state,
        }


UNSENT_SHOWN = 20


def unsent_releases(node: Node, user: User) -> list[dict[str, Any]]:
    """The user's own releases that did not reach their partner, newest first: refused by
    the partner's node (``last_error``: its reason) or cancelled by an officer; each
    item named where the user may still read it."""
    query = (
        select(
            releases.c.item_id,
            releases.c.peer,
            releases.c.package_id,
            releases.c.released_at,
            outbox.c.state,
            outbox.c.last_error,
        )
        .select_from(releases.join(outbox, outbox.c.package_id == releases.c.package_id))
        .where(releases.c.released_by == user.id)
        .where(outbox.c.state.in_([State.FAILED, State.CANCELLED]))
        .order_by(releases.c.seq.desc())
        .limit(UNSENT_SHOWN)
    )
    with node.engine.connect() as connection:
        rows = [
            {
                "item_id": r.item_id,
                "to": r.peer,
                "package": r.package_id,
                "released_at": r.released_at,
                "state": package_state(r.state, 1, None),
                "last_error": r.last_error,
            }
            for r in connection.execute(query)
        ]
    return with_names(node, user, rows)
