"""The third-party rule over the federation: consent asked, given or refused, received.

A custodian (CAN holding JPN's item) may pass the item on to a third party (USA) only with
the originator's prior written consent. CAN's analyst asks (a consent request travels to
JPN); JPN's officer grants or refuses it, or gives consent unasked; a grant is the
originator's signature over item, custodian and third party, and travels back to each
custodian that asked (or is named), which keeps it with its copy and forwards it with the
release it allows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from gsoia.errors import RequestError
from gsoia.federation.courier import Courier, enqueue
from gsoia.federation.outbox import State
from gsoia.federation.packages import (
    Kind,
    Package,
    PackageRejected,
    Rejection,
    check_grant,
    make_grant,
)
from gsoia.node.authority import Action
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.exchange.bodies import ConsentReplyBody, ConsentRequestBody, read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import held_by_sender, known_party, record, usable_id
from gsoia.node.item import find_item
from gsoia.node.naming import with_names
from gsoia.node.users import User
from gsoia.store.schema import (
    consent_requests,
    consents_asked,
    onward_releases,
    outbox,
    releases,
)

if TYPE_CHECKING:
    from gsoia.node.service import Node


@dataclass(frozen=True)
class Reply:
    """The originator's answer about a third party, as it travels to a custodian."""

    item: str
    to: str
    granted: bool
    note: str | None = None
    withdrawn: bool = False

    @property
    def audited(self) -> str:
        if self.withdrawn:
            return "consent.withdrawal_sent"
        return "consent.granted" if self.granted else "consent.refused"

    def body(self, request_id: str | None, grant: dict[str, Any] | None) -> dict[str, Any]:
        body = {
            "request": request_id,
            "item": self.item,
            "to": self.to,
            "granted": self.granted,
            "grant": grant,
        }
        if self.withdrawn:
            body["withdrawn"] = True
        if self.note:
            body["note"] = self.note
        return body


def custodians_of(connection: Connection, item_id: str) -> set[str]:
    """The nations that hold this node's item, or will: each a release of it went to (or
    waits to go to: not refused, not cancelled), and each a custodian told it released the
    item on to (``exchange.onward``)."""
    released = (
        select(releases.c.peer)
        .select_from(releases.join(outbox, outbox.c.package_id == releases.c.package_id))
        .where(releases.c.item_id == item_id)
        .where(outbox.c.state.not_in([State.FAILED, State.CANCELLED]))
    )
    onward = select(onward_releases.c.to_party).where(onward_releases.c.item_id == item_id)
    return set(connection.execute(released).scalars()) | set(connection.execute(onward).scalars())


class Consents:
    """Consent requests, grants and refusals, sent and received."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier

    # -- the custodian asks ---------------------------------------------------------------------

    def request(self, user: User, item_id: str, to: str) -> dict[str, Any]:
        """A custodian asks the originator for consent to release to a third party."""
        node = self.node
        if to not in node.rulebook.catalogue.policies:
            raise RequestError.of("to", f"unknown policy '{to}'")
        node.require(user, Action.REQUEST_CONSENT)
        with node.engine.connect() as connection:
            row = find_item(connection, item_id)
        verdict = None if row is None else node.verdict_on(user, Action.REQUEST_CONSENT, row)
        if row is None or verdict is None:
            raise NotFound(f"no item {item_id}")
        verdict.check()
        self.peers.required(row.originator)
        request_id = str(uuid.uuid4())
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            enqueue(
                tx.connection,
                package_id=package_id,
                kind=Kind.CONSENT_REQUEST,
                peer=row.originator,
                body={
                    "request": request_id,
                    "item": item_id,
                    "to": to,
                    "custodian": node.nation,
                    "requested_by": user.id,
                },
                item_id=item_id,
                now=node.audit.now(),
            )
            tx.connection.execute(
                insert(consents_asked).values(
                    id=request_id,
                    item_id=item_id,
                    originator=row.originator,
                    to_party=to,
                    requested_by=user.id,
                    requested_at=node.audit.now(),
                    state="pending",
                )
            )
            tx.append(
                "consent.requested",
                user.id,
                {"request": request_id, "item": item_id, "to": to, "package": package_id},
            )
        attempt = self.courier.deliver(package_id)
        return {"request": request_id, "item": item_id, "to": to, "state": attempt.state}

    def receive_request(self, package: Package) -> dict[str, Any]:
        """The originator's node: a custodian's request, queued for its officers."""
        node = self.node
        body = read_body(ConsentRequestBody, package)
        if body.custodian != package.sender:
            raise PackageRejected(
                Rejection.MALFORMED, "the custodian is not the sender", package.id
            )
        known_party(node.rulebook.catalogue.policies, body.to, package)
        with node.audit.transaction() as tx:
            held_by_sender(tx.connection, node.nation, body.item, package)
            repeated = tx.connection.execute(
                select(consent_requests.c.id).where(consent_requests.c.id == body.request)
            ).first()
            if repeated is not None:
                raise PackageRejected(
                    Rejection.REPLAY, f"consent request {body.request} exists", package.id
                )
            record(tx.connection, package, body.item, node.audit.now())
            tx.connection.execute(
                insert(consent_requests).values(
                    id=body.request,
                    item_id=body.item,
                    custodian=package.sender,
                    to_party=body.to,
                    requested_by=f"{package.sender}/{body.requested_by}",
                    requested_at=node.audit.now(),
                    state="pending",
                )
            )
            tx.append(
                "consent.request_received",
                package.sender,
                {"request": body.request, "item": body.item, "to": body.to},
            )
        return {"status": "queued", "request": body.request}

    # -- the originator's officer answers ----------------------------------------------------------

    def requests(self, user: User) -> list[dict[str, Any]]:
        """The consent requests custodians sent this node, newest first, their items named
        where the officer may read them (officers)."""
        self.node.require(user, Action.CONSENT_REQUESTS)
        with self.node.engine.connect() as connection:
            rows = connection.execute(
                select(consent_requests).order_by(consent_requests.c.requested_at.desc())
            )
            listed = [{k: v for k, v in r._mapping.items() if k != "grant"} for r in rows]
        return with_names(self.node, user, listed)

    def asked(self, user: User) -> list[dict[str, Any]]:
        """The consent requests this node sent, newest first, each with its answer once
        the originator's node gave it, its item named where the officer may read it."""
        self.node.require(user, Action.CONSENT_REQUESTS)
        with self.node.engine.connect() as connection:
            rows = connection.execute(
                select(consents_asked).order_by(consents_asked.c.requested_at.desc())
            )
            listed = [dict(r._mapping) for r in rows]
        return with_names(self.node, user, listed)

    def consent(
        self,
        user: User,
        item_id: str,
        to: str,
        custodian: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """The originator's officer consents; every custodian of the item is told: those
        that asked, those it was released to, those they passed it on to (and
        ``custodian``); one that is no pinned peer is named in ``not_pinned``."""
        node = self.node
        if custodian is not None and custodian not in node.rulebook.catalogue.policies:
            raise RequestError.of("custodian", f"unknown policy '{custodian}'")
        result = node.add_consent(user, item_id, to, note)
        with node.engine.connect() as connection:
            pending = connection.execute(
                select(consent_requests)
                .where(consent_requests.c.item_id == item_id)
                .where(consent_requests.c.to_party == to)
                .where(consent_requests.c.state == "pending")
            ).all()
            holders = custodians_of(connection, item_id)
        targets: dict[str, str | None] = {r.custodian: r.id for r in pending}
        if custodian is not None:
            targets.setdefault(custodian, None)
        for holder in holders - {node.nation, to}:
            targets.setdefault(holder, None)
        pinned = {c: r for c, r in targets.items() if self.peers.known(c) is not None}
        reply = Reply(item_id, to, granted=True, note=note)
        sent = [self.send_reply(user, reply, c, r) for c, r in sorted(pinned.items())]
        return result | {"notified": sent, "not_pinned": sorted(set(targets) - set(pinned))}

    def decide(
        self, user: User, request_id: str, *, grant: bool, note: str | None = None
    ) -> dict[str, Any]:
        """Grant or refuse a pending consent request (officer of the originator)."""
        node = self.node
        node.require(user, Action.CONSENT)
        with node.engine.connect() as connection:
            request = (
                None
                if not usable_id(request_id)
                else connection.execute(
                    select(consent_requests).where(consent_requests.c.id == request_id)
                ).first()
            )
        if request is None:
            raise NotFound(f"no consent request {request_id}")
        if request.state != "pending":
            raise Conflict(f"consent request {request_id} is already {request.state}")
        if grant:
            return self.consent(user, request.item_id, request.to_party, request.custodian, note)
        with node.engine.connect() as connection:
            row = find_item(connection, request.item_id)
        if row is None:
            raise NotFound(f"no item {request.item_id}")
        node.on_item(user, Action.CONSENT, row)
        reply = Reply(request.item_id, request.to_party, granted=False, note=note)
        sent = self.send_reply(user, reply, request.custodian, request_id)
        return {"request": request_id, "state": "refused", "notified": [sent], "note": note}

    def send_reply(
        self, user: User, reply: Reply, custodian: str, request_id: str | None
    ) -> dict[str, Any]:
        node = self.node
        self.peers.required(custodian)
        now = node.audit.now()
        grant = (
            make_grant(
                node.keys.signing,
                item=reply.item,
                originator=node.nation,
                custodian=custodian,
                to=reply.to,
                granted_by=user.id,
                granted_at=now,
            )
            if reply.granted
            else None
        )
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            enqueue(
                tx.connection,
                package_id=package_id,
                kind=Kind.CONSENT_REPLY,
                peer=custodian,
                body=reply.body(request_id, grant),
                item_id=reply.item,
                now=now,
            )
            if request_id is not None:
                tx.connection.execute(
                    update(consent_requests)
                    .where(consent_requests.c.id == request_id)
                    .values(
                        state="granted" if reply.granted else "refused",
                        decided_by=user.id,
                        decided_at=now,
                        grant=json.dumps(grant) if grant else None,
                        note=reply.note,
                    )
                )
            tx.append(
                reply.audited,
                user.id,
                {"item": reply.item, "to": reply.to, "custodian": custodian, "request": request_id}
                | ({"note": reply.note} if reply.note else {}),
            )
        attempt = self.courier.deliver(package_id)
        return {"custodian": custodian, "package": package_id, "state": attempt.state}

    # -- the custodian hears -------------------------------------------------------------------

    def receive_reply(self, package: Package) -> dict[str, Any]:
        """The custodian's node: the originator's grant (kept with the copy) or refusal."""
        node = self.node
        body = read_body(ConsentReplyBody, package)
        known_party(node.rulebook.catalogue.policies, body.to, package)
        with node.audit.transaction() as tx:
            row = find_item(tx.connection, body.item)
            if row is None or row.originator != package.sender:
                raise PackageRejected(
                    Rejection.NOT_ORIGINATOR,
                    f"{package.sender} is not the originator of an item held here",
                    package.id,
                )
            record(tx.connection, package, body.item, node.audit.now())
            noted = {"note": body.note} if body.note else {}
            if body.request is not None and not body.withdrawn:
                tx.connection.execute(
                    update(consents_asked)
                    .where(consents_asked.c.id == body.request)
                    .where(consents_asked.c.item_id == body.item)
                    .where(consents_asked.c.state == "pending")
                    .values(
                        state="granted" if body.granted else "refused",
                        answered_at=node.audit.now(),
                        note=body.note,
                    )
                )
            if body.withdrawn and not body.granted:
                consented = sorted(set(json.loads(row.consented_to)) - {body.to})
                grants = [g for g in json.loads(row.grants or "[]") if g.get("to") != body.to]
                node.rewrite(
                    tx,
                    row,
                    {"consented_to": json.dumps(consented), "grants": json.dumps(grants)},
                )
                tx.append(
                    "consent.withdrawal_received",
                    package.sender,
                    {"item": body.item, "to": body.to} | noted,
                )
                return {"status": "applied"}
            if not body.granted:
                tx.append(
                    "consent.refusal_received",
                    package.sender,
                    {"item": body.item, "to": body.to, "request": body.request} | noted,
                )
                return {"status": "noted"}
            grant = check_grant(body.grant, self.peers.signing_keys(package.sender))
            if (
                grant["item"] != body.item
                or grant["custodian"] != node.nation
                or grant["to"] != body.to
                or grant["originator"] != package.sender
            ):
                raise PackageRejected(
                    Rejection.NO_CONSENT, "the grant is for another item or party", package.id
                )
            consented = sorted({*json.loads(row.consented_to), body.to})
            grants = [*json.loads(row.grants or "[]"), grant]
            node.rewrite(
                tx,
                row,
                {"consented_to": json.dumps(consented), "grants": json.dumps(grants)},
            )
            tx.append(
                "consent.received",
                package.sender,
                {"item": body.item, "to": body.to, "request": body.request} | noted,
            )
        return {"status": "applied"}
