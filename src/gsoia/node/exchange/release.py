"""Releasing items to a partner node: decided for the partner, sealed, sent.

Japan's node releases an item to Canada's: the releaser must be able to read it (the
authority), the partner's node must be able to (``gsoia.node.partners``: rules 1-5 for
its cleared readers), Canada must be a pinned peer; then the item's content is encrypted
afresh for the package, its key sealed to Canada's node, label and content bound by this
node's signature, and the originator's seal passed on unchanged. A release of one item is
a release of many with one item: each item is checked, sealed and put in the outbox (or
refused, for the reason given) in one transaction with its audit entry, and the packages
then go to the partner together.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert

from gsoia.crypto import aead
from gsoia.crypto.seal import seal
from gsoia.crypto.signing import binding_message, digest, sign
from gsoia.decision import Decision
from gsoia.errors import RequestError
from gsoia.federation.courier import Courier, enqueue_many, outbox_row
from gsoia.federation.packages import Kind, b64
from gsoia.federation.peers import Peer
from gsoia.federation.posting import Attempt
from gsoia.node import origin
from gsoia.node.authority import Action
from gsoia.node.errors import Conflict, Denied, IntegrityFailure, NodeError, NotFound
from gsoia.node.exchange.onward import onward_notices
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.item import StoredItem, find_item, item_label, items_by_id, travelling
from gsoia.node.partners import partner_decision
from gsoia.node.users import User
from gsoia.store.schema import releases

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.service import Node

BULK = "POST /api/v1/releases"
"""The action a refusal in a release of many is audited as."""
_INSERT_RELEASE = insert(releases)


@dataclass(frozen=True)
class Sealed:
    """One item of a release, sealed for the partner."""

    item_id: str
    package_id: str
    body: dict[str, Any]
    decision: Decision
    originator: str

    def audited(self, to: str) -> dict[str, Any]:
        """The ``item.released`` entry's data."""
        return {
            "item": self.item_id,
            "to": to,
            "package": self.package_id,
            "agreement": self.decision.agreement,
            "marking": self.decision.marking.text if self.decision.marking else None,
        }


class Releases:
    """Releasing this node's copies to partner nodes."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier
        self._planning = threading.Lock()

    def partner_decision(self, row: StoredItem, to: str, at: dt.date) -> Decision:
        """Rules 1-5 for a partner nation: its node stands for its cleared readers."""
        return partner_decision(
            self.node.rulebook,
            item_label(row),
            to,
            custodian=row.custodian,
            consented_to=json.loads(row.consented_to),
            at=at,
        )

    def preview(self, user: User, item_id: str, to: str) -> Decision:
        """What a release to ``to`` would decide, without sending anything."""
        node = self.node
        self._may_release(user, to)
        with node.engine.connect() as connection:
            row = find_item(connection, item_id)
        if row is None:
            raise NotFound(f"no item {item_id}")
        node.on_item(user, Action.RELEASE, row)
        return self.partner_decision(row, to, node.today())

    def release(self, user: User, item_id: str, to: str) -> dict[str, Any]:
        """Decide for the partner, seal the item for its node, send it (``release_many``
        of this one item); the refusal raised."""
        [outcome] = self.release_many(user, to, [item_id], alone=True)
        if isinstance(outcome, NodeError):
            raise outcome
        return outcome

    def release_many(
        self, user: User, to: str, item_ids: Sequence[str], *, alone: bool = False
    ) -> list[dict[str, Any] | NodeError]:
        """Release several items to one partner: each decided, sealed, sent together.

        Each item is refused for its own reason (``NotFound``, ``Denied``,
        ``IntegrityFailure``, ``Conflict``) or sealed into its own package and put in the
        outbox. Every release and every refusal is written, and audited, in one
        transaction: an item is released (outbox, releases, audit entry) or not at all.
        The packages then go to the partner's node together (``Courier.deliver_many``).
        ``alone``: a release of one item through its own route, whose refusals other
        than the partner's decision its caller audits (as the route it came by).

        Returns, in the order of ``item_ids``, what was sent for each item or the error
        refusing it (audited, unless ``alone``).

        Raises:
            RequestError: ``to`` is not a partner; Forbidden: the authority refused.
        """
        node = self.node
        self._may_release(user, to)
        planned = self._plans(user, to, item_ids)
        sealed = [p for p in planned if isinstance(p, Sealed)]
        claim = self.courier.new_claim()  # put in the outbox as this caller's: not the loop's
        told: list[str] = []  # the onward notices to the originators (``exchange.onward``)

        def write(tx: AuditTransaction) -> None:
            now = node.audit.now()
            rows = [
                outbox_row(
                    package_id=s.package_id,
                    kind=Kind.RELEASE,
                    peer=to,
                    body=s.body,
                    item_id=s.item_id,
                    now=now,
                )
                for s in sealed
            ]
            released = [(s.item_id, s.originator, s.package_id) for s in sealed]
            notices = onward_notices(self.peers, node.nation, to, released, user.id, now)
            told[:] = [n["package_id"] for n in notices]
            enqueue_many(tx.connection, [r | claim.columns() for r in rows + notices])
            _record_releases(tx.connection, user, to, sealed, now)
            _audit_releases(tx, user, to, item_ids, planned, alone)

        node.audit.batched(write)
        package_ids = [s.package_id for s in sealed] + told
        self.courier.hold(claim, package_ids)
        if not alone:
            for entry in planned:
                if isinstance(entry, NodeError):
                    entry.audited = True
        attempts = self.courier.deliver_many(package_ids, claimed=True) if package_ids else {}
        return [
            entry if isinstance(entry, NodeError) else _sent(entry, to, attempts[entry.package_id])
            for entry in planned
        ]

    def _plans(self, user: User, to: str, item_ids: Sequence[str]) -> list[Sealed | NodeError]:
        """Each item checked and sealed for ``to``, or the error refusing it."""
        node = self.node
        with self._planning:  # CPU-bound: one plan at a time gains nothing but switches
            with node.engine.connect() as connection:
                rows = items_by_id(connection, item_ids)
                node.versions.catch_up(connection)  # once for them all, after the rows
            peer = self.peers.known(to)
            today = node.today()
            planned: list[Sealed | NodeError] = []
            for item_id in item_ids:
                try:
                    planned.append(self._plan(user, rows.get(item_id), item_id, to, peer, today))
                except NodeError as e:
                    planned.append(e)
        return planned

    def _may_release(self, user: User, to: str) -> None:
        node = self.node
        if to not in node.rulebook.catalogue.policies:
            raise RequestError.of("to", f"unknown policy '{to}'")
        if to == node.nation:
            raise RequestError.of("to", "an item is released to another nation")
        node.require(user, Action.RELEASE)

    def _plan(
        self,
        user: User,
        row: StoredItem | None,
        item_id: str,
        to: str,
        peer: Peer | None,
        today: dt.date,
    ) -> Sealed:
        """One item of a release: checked and sealed, or refused."""
        node = self.node
        if row is None:
            raise NotFound(f"no item {item_id}")
        node.on_item(user, Action.RELEASE, row, caught_up=True)
        decision = self.partner_decision(row, to, today)
        if not decision.allow:
            raise Denied(decision, audited=True)  # (audited with the release's transaction)
        if peer is None:
            raise Conflict(f"{to} is not a peer of this node (gsoia peer add)")
        package_id = str(uuid.uuid4())
        body = self._sealed_body(row, peer, package_id, to)
        return Sealed(item_id, package_id, body, decision, row.originator)

    def _sealed_body(self, row: StoredItem, peer: Peer, package_id: str, to: str) -> dict[str, Any]:
        node = self.node
        content = node.decrypt(row)
        key = aead.new_key()
        ciphertext = aead.encrypt(key, content, aad=package_id.encode())
        content_digest = digest(ciphertext)
        item = travelling(row)
        grants = [g for g in json.loads(row.grants or "[]") if g.get("to") == to]
        if row.origin_seal is None:
            raise IntegrityFailure(f"item {row.id}: no originator's seal; it is not released")
        return {
            "item": item,
            "custodian": node.nation,
            "grants": grants,
            "sealed_key": b64(seal(peer.keys.sealing, key, package_id.encode())),
            "ciphertext": b64(ciphertext),
            "content_sha384": content_digest.hex(),
            "binding": b64(sign(node.keys.signing, binding_message(item, content_digest))),
            # unchanged from the originator, whoever releases: a third node checks it
            "origin_seal": origin.close_with_content_key(key, bytes(row.origin_seal), package_id),
        }


def _audit_releases(
    tx: AuditTransaction,
    user: User,
    to: str,
    item_ids: Sequence[str],
    planned: Sequence[Sealed | NodeError],
    alone: bool,
) -> None:
    """Each release, and each refusal, in the release's transaction."""
    for item_id, entry in zip(item_ids, planned, strict=True):
        if isinstance(entry, Sealed):
            tx.append("item.released", user.id, entry.audited(to))
        elif isinstance(entry, Denied) and entry.audited:  # the partner's decision
            tx.append(
                "release.refused",
                user.id,
                {"item": item_id, "to": to, "reason": entry.decision.reason.value},
            )
        elif not alone:  # what the HTTP layer audits for a release refused alone
            reason = f"item {item_id}: {entry.diagnostics()}"
            tx.append("refused", user.id, {"action": BULK, "reason": reason[:500]})


def _sent(entry: Sealed, to: str, attempt: Attempt) -> dict[str, Any]:
    """What was sent for one item, and how its delivery went."""
    return {
        "package": entry.package_id,
        "item": entry.item_id,
        "to": to,
        "state": attempt.state,
        "detail": attempt.detail,
        "decision": entry.decision.to_dict(),
    }


def _record_releases(
    connection: Connection, user: User, to: str, sealed: Sequence[Sealed], now: str
) -> None:
    if sealed:
        connection.execute(
            _INSERT_RELEASE,
            [
                {
                    "item_id": s.item_id,
                    "peer": to,
                    "package_id": s.package_id,
                    "released_by": user.id,
                    "released_at": now,
                }
                for s in sealed
            ],
        )
