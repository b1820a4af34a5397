"""Exchanges with partner nodes: release, receipt, consent, incident notices, re-marking.

Japan's node releases an item to Canada's: it decides for the partner nation (rules 1-5
of DECISION.md), seals the item for that node and sends it through the outbox. Canada's
node checks the package (``gsoia.federation.packages``), decides again for itself, marks
the item with its own equivalent level next to the original, and stores it with itself as
custodian. Nothing reaches a third country without the originator's signed consent.
Every step, and every refusal, is in the audit log of the node that took it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from gsoia.audit.log import AuditTransaction
from gsoia.crypto import aead
from gsoia.crypto.errors import BadSignature, CryptoError, DecryptionFailed
from gsoia.crypto.keys import PublicKeys
from gsoia.crypto.seal import seal, unseal
from gsoia.crypto.signing import binding_message, digest, sign, verify_any
from gsoia.decision import Decision
from gsoia.decision.request import Label, label_problems
from gsoia.errors import RequestError
from gsoia.federation.courier import Courier, State, enqueue, enqueue_many, outbox_row
from gsoia.federation.packages import (
    Kind,
    Package,
    PackageRejected,
    Rejection,
    b64,
    check_grant,
    created_at,
    make_grant,
    open_package,
    split_batch,
    unb64,
)
from gsoia.federation.peers import Peer, identity
from gsoia.node import origin, rotation
from gsoia.node.authority import Action
from gsoia.node.errors import (
    Conflict,
    Denied,
    IntegrityFailure,
    NodeError,
    NotFound,
)
from gsoia.node.floods import Refusal
from gsoia.node.partners import partner_decision
from gsoia.node.service import find_item
from gsoia.node.taxii_store import record_received
from gsoia.node.users import User
from gsoia.store.schema import (
    consent_requests,
    consents,
    inbox,
    incidents,
    items,
    outbox,
    peers,
    releases,
)

if TYPE_CHECKING:
    from gsoia.node.service import Node

log = logging.getLogger("gsoia.exchange")
_FORBID = ConfigDict(extra="forbid")
Text = Annotated[StrictStr, Field(max_length=1000)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class ItemIn(BaseModel):
    model_config = _FORBID
    id: Name
    title: Annotated[StrictStr, Field(min_length=1, max_length=1000)]
    originator: Name
    classification: Name
    area: Name | None
    releasable_to: list[Name]
    need_to_know: list[Name]
    created_at: Text
    created_by: Text


class ReleaseBody(BaseModel):
    model_config = _FORBID
    item: ItemIn
    custodian: Name
    grants: list[dict[str, Any]]
    sealed_key: StrictStr
    ciphertext: StrictStr
    content_sha384: Annotated[StrictStr, Field(min_length=96, max_length=96)]
    binding: StrictStr
    origin_seal: StrictStr
    """The originator's seal, encrypted under the content key (``gsoia.node.origin``)."""


Party = Annotated[StrictStr, Field(min_length=1, max_length=32)]
Actor = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class ConsentRequestBody(BaseModel):
    model_config = _FORBID
    request: Name
    item: Name
    to: Party
    custodian: Party
    requested_by: Actor


class ConsentReplyBody(BaseModel):
    model_config = _FORBID
    request: Name | None
    item: Name
    to: Party
    granted: bool
    grant: dict[str, Any] | None


class IncidentBody(BaseModel):
    model_config = _FORBID
    incident: Name
    item: Name
    kind: Literal["loss", "compromise", "possible_loss", "possible_compromise"]
    description: Annotated[StrictStr, Field(max_length=10_000)]
    reported_by: Actor
    reported_at: dt.datetime

    @field_validator("reported_at")
    @classmethod
    def _zoned(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("a timestamp with its time zone")
        return value


class ReclassifyBody(BaseModel):
    model_config = _FORBID
    item: Name
    classification: Name
    origin_seal: StrictStr
    """The originator's new seal, sealed to the custodian (``gsoia.node.origin``)."""


M = TypeVar("M", bound=BaseModel)

PEERS_FRESH = 2.0
"""Seconds a node goes on sending with the peers as it last read them: a pin that
``gsoia peer add`` (another process) makes or changes takes effect within them. (The
inbox reads them for every package.)"""


def _body(model: type[M], package: Package) -> M:
    try:
        return model.model_validate(package.body)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        place = ".".join(str(p) for p in first["loc"])
        raise PackageRejected(
            Rejection.MALFORMED, f"body.{place}: {first['msg']}", package.id
        ) from e


class Exchange:
    """The federation use cases of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._planning = threading.Lock()
        self._peers: dict[str, Peer] = {}
        self._peers_read = 0.0  # time.monotonic() when they were read
        self.retired: dict[str, list[bytes]] = {}
        """The signing keys each peer retired, newest first (``gsoia.node.rotation``)."""
        self._load_peers()
        self.announcer = rotation.Announcer(node, node.keys_dir)
        self.courier = Courier(
            nation=node.nation,
            keys=node.keys,
            audit=node.audit,
            peer=self.known_peer,
            clock=node.clock,
            on_delivered=self._on_delivered,
            counted=lambda state: node.metrics.deliveries.labels(state).inc(),
            signer=self.announcer.signer,
        )

    # -- peers ------------------------------------------------------------------------------

    def _load_peers(self) -> None:
        """The pinned peers read again (replaced whole: readers iterate the old dicts)."""
        read_at = time.monotonic()
        with self.node.engine.connect() as connection:
            pinned = {row.nation: _pinned(row) for row in connection.execute(select(peers))}
            retired = rotation.load_retired(connection)
        self._peers, self.retired, self._peers_read = pinned, retired, read_at

    def identity(self) -> dict[str, Any]:
        return identity(self.node.nation, self.node.public)

    def add_peer(self, peer: Peer, *, fingerprint: str | None = None) -> Peer:
        """Pin a peer's keys (``gsoia peer add``); refuses a fingerprint that differs."""
        node = self.node
        if fingerprint is not None and fingerprint.lower() != peer.keys.fingerprint():
            raise Conflict(
                f"--fingerprint: {peer.url} presents {peer.keys.fingerprint()}, not {fingerprint}"
            )
        if peer.nation not in node.rulebook.catalogue.policies:
            raise RequestError.of("nation", f"unknown policy '{peer.nation}'")
        if peer.nation == node.nation:
            raise RequestError.of("nation", "a node is not its own peer")
        with node.audit.transaction() as tx:
            existing = tx.connection.execute(
                select(peers).where(peers.c.nation == peer.nation)
            ).first()
            values = {
                "url": peer.url,
                "signing_key": peer.keys.signing,
                "sealing_key": peer.keys.sealing,
                "fingerprint": peer.keys.fingerprint(),
            }
            if existing is None:
                tx.connection.execute(
                    insert(peers).values(nation=peer.nation, added_at=node.audit.now(), **values)
                )
            else:
                tx.connection.execute(
                    update(peers).where(peers.c.nation == peer.nation).values(**values)
                )
            tx.append("peer.pinned", "cli", peer.to_dict())
        self._peers = {**self._peers, peer.nation: peer}
        return peer

    def repin(self, peer: Peer, retired: list[bytes]) -> None:
        """A peer's new keys, learnt from its rotation package (``gsoia.node.rotation``)."""
        self._peers = {**self._peers, peer.nation: peer}
        self.retired = {**self.retired, peer.nation: retired}

    def known_peer(self, nation: str) -> Peer | None:
        """A pinned peer, as pinned at most ``PEERS_FRESH`` seconds ago (a pin made or
        changed since start by another process, ``gsoia peer add``, included)."""
        if nation not in self._peers or time.monotonic() - self._peers_read > PEERS_FRESH:
            self._load_peers()
        return self._peers.get(nation)

    def peers(self) -> list[dict[str, Any]]:
        """Every pinned peer as the database holds it: pins made since start by another
        process (``gsoia peer add``) included."""
        with self.node.engine.connect() as connection:
            rows = connection.execute(select(peers).order_by(peers.c.nation)).all()
        return [_pinned(row).to_dict() for row in rows]

    def _peer(self, nation: str) -> Peer:
        peer = self.known_peer(nation)
        if peer is None:
            raise Conflict(f"{nation} is not a peer of this node (gsoia peer add)")
        return peer

    # -- release ----------------------------------------------------------------------------

    def partner_decision(self, row: Any, to: str, at: dt.date) -> Decision:
        """Rules 1-5 for a partner nation: its node stands for its cleared readers."""
        return partner_decision(
            self.node.rulebook,
            _label(row),
            to,
            custodian=row.custodian,
            consented_to=json.loads(row.consented_to),
            at=at,
        )

    def _releasable_row(self, user: User, item_id: str, to: str) -> Any:
        node = self.node
        if to not in node.rulebook.catalogue.policies:
            raise RequestError.of("to", f"unknown policy '{to}'")
        if to == node.nation:
            raise RequestError.of("to", "an item is released to another nation")
        node.require(user, Action.RELEASE)
        with node.engine.connect() as connection:
            row = find_item(connection, item_id)
        if row is None:
            raise NotFound(f"no item {item_id}")
        node.on_item(user, Action.RELEASE, row)
        return row

    def preview(self, user: User, item_id: str, to: str) -> Decision:
        """What a release to ``to`` would decide, without sending anything."""
        row = self._releasable_row(user, item_id, to)
        return self.partner_decision(row, to, self.node.today())

    def release(self, user: User, item_id: str, to: str) -> dict[str, Any]:
        """Decide for the partner, seal the item for its node, send it (DECISION rules 1-5)."""
        node = self.node
        row = self._releasable_row(user, item_id, to)
        decision = self.partner_decision(row, to, node.today())
        if not decision.allow:
            node.audit.record(
                "release.refused",
                user.id,
                {"item": item_id, "to": to, "reason": decision.reason.value},
            )
            raise Denied(decision, audited=True)
        peer = self._peer(to)
        if not node._intact(row):
            raise IntegrityFailure(f"item {item_id}: no longer matches its signature")
        package_id = str(uuid.uuid4())
        body = self._release_body(row, peer, package_id, to)

        def enqueued(tx: AuditTransaction) -> None:
            enqueue(
                tx.connection,
                package_id=package_id,
                kind=Kind.RELEASE,
                peer=to,
                body=body,
                item_id=item_id,
                now=node.audit.now(),
            )
            tx.connection.execute(
                insert(releases).values(
                    item_id=item_id,
                    peer=to,
                    package_id=package_id,
                    released_by=user.id,
                    released_at=node.audit.now(),
                )
            )
            tx.append(
                "item.released",
                user.id,
                {
                    "item": item_id,
                    "to": to,
                    "package": package_id,
                    "agreement": decision.agreement,
                    "marking": decision.marking.text if decision.marking else None,
                },
            )

        node.audit.batched(enqueued)
        attempt = self.courier.deliver(package_id)
        return {
            "package": package_id,
            "item": item_id,
            "to": to,
            "state": attempt.state,
            "detail": attempt.detail,
            "decision": decision.to_dict(),
        }

    def release_many(
        self, user: User, to: str, item_ids: Sequence[str]
    ) -> list[dict[str, Any] | NodeError]:
        """Release several items to one partner: each as ``release`` would, sent together.

        Each item is decided for the partner, sealed into its own package and put in the
        outbox exactly as ``release`` does, or refused for the reason ``release`` would
        refuse it (``NotFound``, ``Denied``, ``IntegrityFailure``, ``Conflict``). Every
        release and every refusal is written, and audited, in one transaction: an item is
        released (outbox, releases, audit entry) or not at all. The packages then go to
        the partner's node together (``Courier.deliver_many``).

        Returns, in the order of ``item_ids``, what ``release`` returns for each item or
        the error it would raise (already audited).

        Raises:
            RequestError: ``to`` is not a partner; Forbidden: a user of another nation.
        """
        node = self.node
        self._may_release(user, to)
        with self._planning:  # CPU-bound: one bulk release at a time gains nothing but switches
            with node.engine.connect() as connection:
                rows = _rows_by_id(connection, item_ids)
            peer = self.known_peer(to)
            today = node.today()
            planned: list[_Release | NodeError] = []
            for item_id in item_ids:
                try:
                    planned.append(self._plan(user, rows.get(item_id), item_id, to, peer, today))
                except NodeError as e:
                    planned.append(e)
        releases_ = [p for p in planned if isinstance(p, _Release)]

        def write(tx: AuditTransaction) -> None:
            now = node.audit.now()
            enqueue_many(
                tx.connection,
                [
                    outbox_row(
                        package_id=r.package_id,
                        kind=Kind.RELEASE,
                        peer=to,
                        body=r.body,
                        item_id=r.item_id,
                        now=now,
                    )
                    for r in releases_
                ],
            )
            if releases_:
                tx.connection.execute(
                    _INSERT_RELEASE,
                    [
                        {
                            "item_id": r.item_id,
                            "peer": to,
                            "package_id": r.package_id,
                            "released_by": user.id,
                            "released_at": now,
                        }
                        for r in releases_
                    ],
                )
            for item_id, entry in zip(item_ids, planned, strict=True):
                if isinstance(entry, _Release):
                    tx.append("item.released", user.id, entry.audited(to))
                elif isinstance(entry, Denied) and entry.audited:  # the partner's decision
                    tx.append(
                        "release.refused",
                        user.id,
                        {"item": item_id, "to": to, "reason": entry.decision.reason.value},
                    )
                else:  # what the HTTP layer audits for a release refused alone
                    reason = f"item {item_id}: {entry.diagnostics()}"
                    tx.append("refused", user.id, {"action": _BULK, "reason": reason[:500]})

        package_ids = self.courier.claim(r.package_id for r in releases_)  # not the loop's
        try:
            node.audit.batched(write)
        except BaseException:
            self.courier.unclaim(package_ids)
            raise
        for entry in planned:
            if isinstance(entry, NodeError):
                entry.audited = True
        attempts = self.courier.deliver_many(package_ids, claimed=True)
        results: list[dict[str, Any] | NodeError] = []
        for entry in planned:
            if isinstance(entry, NodeError):
                results.append(entry)
                continue
            attempt = attempts[entry.package_id]
            results.append(
                {
                    "package": entry.package_id,
                    "item": entry.item_id,
                    "to": to,
                    "state": attempt.state,
                    "detail": attempt.detail,
                    "decision": entry.decision.to_dict(),
                }
            )
        return results

    def _may_release(self, user: User, to: str) -> None:
        node = self.node
        if to not in node.rulebook.catalogue.policies:
            raise RequestError.of("to", f"unknown policy '{to}'")
        if to == node.nation:
            raise RequestError.of("to", "an item is released to another nation")
        node.require(user, Action.RELEASE)

    def _plan(
        self, user: User, row: Any, item_id: str, to: str, peer: Peer | None, today: dt.date
    ) -> _Release:
        """One item of ``release_many``: checked and sealed as ``release`` does, or refused."""
        node = self.node
        if row is None:
            raise NotFound(f"no item {item_id}")
        node.on_item(user, Action.RELEASE, row)
        decision = self.partner_decision(row, to, today)
        if not decision.allow:
            raise Denied(decision, audited=True)  # (audited with the batch's transaction)
        if peer is None:
            raise Conflict(f"{to} is not a peer of this node (gsoia peer add)")
        if not node._intact(row):
            raise IntegrityFailure(f"item {item_id}: no longer matches its signature")
        package_id = str(uuid.uuid4())
        body = self._release_body(row, peer, package_id, to)
        return _Release(item_id, package_id, body, decision)

    def _release_body(self, row: Any, peer: Peer, package_id: str, to: str) -> dict[str, Any]:
        node = self.node
        content = node._decrypt(row)
        key = aead.new_key()
        ciphertext = aead.encrypt(key, content, aad=package_id.encode())
        content_digest = digest(ciphertext)
        item = _item_fields(row)
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

    # -- the inbox ----------------------------------------------------------------------------

    def receive(self, raw: bytes, *, source: str | None = None) -> dict[str, Any]:
        """Check and apply a package from a peer; ``PackageRejected`` (audited) otherwise.

        ``source``: the client address it came from; a refusal of a package no pinned peer
        signed is then counted for it (``gsoia.node.floods``), not written alone.
        """
        node = self.node
        try:
            self._load_peers()
            package = open_package(
                raw,
                me=node.nation,
                peer_keys={n: p.keys.signing for n, p in self._peers.items()},
                now=node.clock(),
            )
            with node.engine.connect() as connection:
                seen = connection.execute(_SEEN, {"id": package.id}).first()
            if seen is not None:
                raise _replay(package)
            return self._apply(package)
        except PackageRejected as e:
            if e.package_id is None and "package" in locals():
                e.package_id = package.id
            self._refused(e, source)
            raise

    def _refused(self, error: PackageRejected, source: str | None) -> None:
        """Audit a refused package: alone, or counted for ``source`` when no pinned peer
        signed it (its sender is not authenticated)."""
        if error.anonymous and source is not None:
            refusal = Refusal("package.refused", "inbox", _refusal(error))
            self.node.count_refusal(source, refusal)
        else:
            self.node.audit.record("package.refused", "inbox", _refusal(error))

    def _apply(self, package: Package) -> dict[str, Any]:
        """Apply a package that passed ``open_package`` and was not seen before."""
        handler = {
            Kind.RELEASE: self._receive_release,
            Kind.CONSENT_REQUEST: self._receive_consent_request,
            Kind.CONSENT_REPLY: self._receive_consent_reply,
            Kind.INCIDENT: self._receive_incident,
            Kind.RECLASSIFY: self._receive_reclassify,
            Kind.ROTATION: self._receive_rotation,
        }[package.kind]
        try:
            return handler(package)
        except IntegrityError as e:  # the same package, received twice at once
            raise PackageRejected(
                Rejection.REPLAY, "this package is being received", package.id
            ) from e

    def receive_batch(
        self, raw: bytes, *, source: str | None = None
    ) -> list[tuple[str | None, dict[str, Any] | Exception]]:
        """Check and apply the packages of a batch (one per line), in order, each on its own.

        Each package is checked exactly as ``receive`` checks a package posted alone, in
        the state the packages before it left (a key rotation in the batch is learnt before
        the next package is opened), and refused (``PackageRejected``, audited) or applied.
        What changes is how it is stored: the releases that follow each other in the batch
        are stored in one transaction, with their refusals' entries, in their order (a
        package of another kind is applied alone, once what came before it is). If that
        transaction fails (another request stored one of its packages meanwhile), each is
        stored alone, as ``receive`` would.

        Returns, for each package in order, its id (if it could be read) and what came of
        it: what ``receive`` returns, the ``PackageRejected``, or another exception (the
        node failed: the sender tries again later). ``source`` as for ``receive``.

        Raises:
            PackageRejected: the batch itself is not one (audited; nothing applied).
        """
        node = self.node
        try:
            lines = split_batch(raw)
        except PackageRejected as e:
            self._refused(e, source)
            raise
        self._load_peers()
        keys = self._peer_keys()
        results: list[tuple[str | None, dict[str, Any] | Exception]] = []
        opened: list[Package | PackageRejected] = []  # releases, checked and stored together
        for line in lines:
            try:
                package = open_package(line, me=node.nation, peer_keys=keys, now=node.clock())
            except PackageRejected as e:
                opened.append(e)
                continue
            if package.kind is Kind.RELEASE:
                opened.append(package)
                continue
            # another kind: what came before it first, then it alone
            results += self._releases(opened, source)
            opened = []
            results.append((package.id, self._receive_alone(package)))
            self._load_peers()  # (a key rotation changes what the next ones are checked with)
            keys = self._peer_keys()
        results += self._releases(opened, source)
        return results

    def _peer_keys(self) -> dict[str, bytes]:
        return {n: p.keys.signing for n, p in self._peers.items()}

    def _releases(
        self, opened: list[Package | PackageRejected], source: str | None
    ) -> list[tuple[str | None, dict[str, Any] | Exception]]:
        """Check the releases of a batch (opened, in order) and store them together."""
        seen = self._seen([p.id for p in opened if isinstance(p, Package)])
        results: list[tuple[str | None, dict[str, Any] | Exception]] = []
        run: list[_Receipt | PackageRejected] = []
        for package in opened:
            if isinstance(package, PackageRejected):
                run.append(package)
            elif package.id in seen:
                run.append(_replay(package))
            else:
                try:
                    run.append(self._check_release(package))
                except PackageRejected as e:
                    e.package_id = e.package_id or package.id
                    run.append(e)
                except Exception as e:  # the node's fault, not the package's: said, logged
                    results += self._store_run(run, source)
                    run = []
                    results.append((package.id, self._failed(package, e)))
        results += self._store_run(run, source)
        return results

    def _seen(self, package_ids: list[str]) -> set[str]:
        seen: set[str] = set()
        with self.node.engine.connect() as connection:
            for start in range(0, len(package_ids), 500):
                chunk = package_ids[start : start + 500]
                seen.update(connection.execute(_SEEN_ANY, {"ids": chunk}).scalars())
        return seen

    def _receive_alone(self, package: Package) -> dict[str, Any] | Exception:
        """A package of a batch applied as ``receive`` applies it (its refusal audited)."""
        try:
            if self._seen([package.id]):
                raise _replay(package)
            return self._apply(package)
        except PackageRejected as e:
            e.package_id = e.package_id or package.id
            self.node.audit.record("package.refused", "inbox", _refusal(e))
            return e
        except Exception as e:
            return self._failed(package, e)

    def _failed(self, package: Package, error: Exception) -> Exception:
        log.error("inbox: package %s could not be applied", package.id, exc_info=error)
        self.node.refuse("inbox", "POST /federation/v1/inbox/batch", f"500 {type(error).__name__}")
        return error

    def _store_run(
        self, run: list[_Receipt | PackageRejected], source: str | None
    ) -> list[tuple[str | None, dict[str, Any] | Exception]]:
        """Store checked releases and audit refusals in one transaction, in their order
        (the refusals counted for ``source``, once it committed)."""
        if not run:
            return []
        counted = source is not None
        try:
            outcomes = self.node.audit.batched(
                lambda tx: self._stored_together(tx, run, counted=counted)
            )
        except Exception:  # e.g. a package another request stored meanwhile: each alone
            outcomes = [self._stored_alone(entry, source) for entry in run]
        else:
            for entry in run:
                if isinstance(entry, PackageRejected) and entry.anonymous and counted:
                    self._refused(entry, source)
        return [
            (entry.package_id if isinstance(entry, PackageRejected) else entry.package.id, out)
            for entry, out in zip(run, outcomes, strict=True)
        ]

    def _stored_together(
        self,
        tx: AuditTransaction,
        run: list[_Receipt | PackageRejected],
        *,
        counted: bool,
    ) -> list[dict[str, Any] | Exception]:
        """``counted``: the refusals no pinned peer signed are counted by the caller, not
        audited here."""
        receipts = [entry for entry in run if isinstance(entry, _Receipt)]
        held = self._held(tx.connection, [r.item["id"] for r in receipts])
        received: list[dict[str, Any]] = []  # the inbox's rows, written together
        stored: set[str] = set()
        outcomes: list[dict[str, Any] | Exception] = []
        for entry in run:
            if isinstance(entry, _Receipt) and entry.package.id in stored:  # twice in the batch
                entry = _replay(entry.package)
            if isinstance(entry, PackageRejected):
                if not (entry.anonymous and counted):
                    tx.append("package.refused", "inbox", _refusal(entry))
                outcomes.append(entry)
                continue
            item_id = entry.item["id"]
            outcomes.append(self._store_release(tx, entry, held=item_id in held, inbox=received))
            stored.add(entry.package.id)
            held.add(item_id)
        if received:  # a package stored meanwhile by another request: this fails, all undone
            tx.connection.execute(_INSERT_INBOX, received)
        return outcomes

    def _stored_alone(
        self, entry: _Receipt | PackageRejected, source: str | None
    ) -> dict[str, Any] | Exception:
        node = self.node
        if isinstance(entry, PackageRejected):
            self._refused(entry, source)
            return entry
        try:
            try:
                return node.audit.batched(lambda tx: self._store_alone(tx, entry))
            except IntegrityError as e:  # the same package, received twice at once
                raise PackageRejected(
                    Rejection.REPLAY, "this package is being received", entry.package.id
                ) from e
        except PackageRejected as e:
            node.audit.record("package.refused", "inbox", _refusal(e))
            return e
        except Exception as e:
            return self._failed(entry.package, e)

    def _receive_rotation(self, package: Package) -> dict[str, Any]:
        return rotation.receive(self, package)

    def _record(self, connection: Connection, package: Package, item_id: str | None) -> None:
        connection.execute(_INSERT_INBOX, self._inbox_row(package, item_id))

    def _inbox_row(self, package: Package, item_id: str | None) -> dict[str, Any]:
        return {
            "package_id": package.id,
            "sender": package.sender,
            "kind": package.kind.value,
            "item_id": item_id,
            "received_at": self.node.audit.now(),
        }

    def _held(self, connection: Connection, item_ids: list[str]) -> set[str]:
        """Which of these items this node holds already."""
        held: set[str] = set()
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            held.update(connection.execute(_HELD, {"ids": chunk}).scalars())
        return held

    def _receive_release(self, package: Package) -> dict[str, Any]:
        receipt = self._check_release(package)
        return self.node.audit.batched(lambda tx: self._store_alone(tx, receipt))

    def _store_alone(self, tx: AuditTransaction, receipt: _Receipt) -> dict[str, Any]:
        held = self._held(tx.connection, [receipt.item["id"]])
        return self._store_release(tx, receipt, held=bool(held))

    def _check_release(self, package: Package) -> _Receipt:
        """Every check of a release, in order (nothing stored); ``PackageRejected`` else."""
        node = self.node
        body = _body(ReleaseBody, package)
        item = body.item.model_dump()
        label: Label = {
            "originator": item["originator"],
            "classification": item["classification"],
            "area": item["area"],
            "releasable_to": item["releasable_to"],
            "need_to_know": item["need_to_know"],
        }
        found = label_problems(node.rulebook.catalogue, label, "body.item", None, [], "body.")
        if found:
            raise PackageRejected(Rejection.MALFORMED, str(found[0]), package.id)
        if body.custodian != package.sender:
            raise PackageRejected(
                Rejection.MALFORMED, f"custodian {body.custodian} is not the sender", package.id
            )
        ciphertext = unb64(body.ciphertext, "body.ciphertext")
        content_digest = digest(ciphertext)
        if content_digest.hex() != body.content_sha384:
            raise PackageRejected(
                Rejection.BAD_BINDING, "the ciphertext digest differs", package.id
            )
        try:
            verify_any(
                rotation.signing_keys(self, package.sender),
                binding_message(item, content_digest),
                unb64(body.binding, "body.binding"),
            )
        except BadSignature as e:
            raise PackageRejected(
                Rejection.BAD_BINDING, "label and content are not bound by the sender", package.id
            ) from e
        consented: list[str] = []
        # the third-party rule: not for a copy coming home to its originator
        if package.sender != label["originator"] and label["originator"] != node.nation:
            consented = self._consents_for_me(body.grants, item["id"], label["originator"], package)
        on = created_at(package).astimezone(dt.UTC).date()  # not the sender's local date
        decision = self.partner_decision(
            _Fields(item | {"custodian": package.sender, "consented_to": json.dumps(consented)}),
            node.nation,
            node.today_override or on,
        )
        if not decision.allow:
            raise PackageRejected(
                Rejection.REFUSED,
                f"{decision.reason.value}: {decision.explanation}",
                package.id,
            )
        try:
            key = unseal(
                node.keys.sealing, unb64(body.sealed_key, "body.sealed_key"), package.id.encode()
            )
            content = aead.decrypt(key, ciphertext, aad=package.id.encode())
        except (DecryptionFailed, CryptoError) as e:
            raise PackageRejected(
                Rejection.BAD_SEAL, "the content does not open", package.id
            ) from e
        # the originator's seal, with the originator's keys (not the sender's)
        origin_seal = origin.open_with_content_key(key, body.origin_seal, package.id)
        origin.check_seal(
            rotation.signing_keys(self, label["originator"]),
            item,
            content,
            origin_seal,
            package.id,
        )
        assert decision.marking is not None  # an allowed release is marked
        return _Receipt(package, item, content, decision, decision.marking.text, origin_seal)

    def _store_release(
        self,
        tx: AuditTransaction,
        receipt: _Receipt,
        *,
        held: bool,
        inbox: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Store a checked release (unless the item is ``held`` already) and audit it.

        The package joins the inbox now, or joins ``inbox`` for the caller to write.
        """
        node = self.node
        package, item = receipt.package, receipt.item
        if inbox is None:
            self._record(tx.connection, package, item["id"])
        else:
            inbox.append(self._inbox_row(package, item["id"]))
        if held:
            tx.append(
                "package.received",
                package.sender,
                {"package": package.id, "item": item["id"], "status": "already held"},
            )
            return {"status": "already held", "item": item["id"]}
        stored = node.store_received(
            tx,
            item,
            receipt.content,
            sender=package.sender,
            package_id=package.id,
            marking=receipt.marking,
            origin_seal=receipt.origin_seal,
        )
        # a STIX object joins this node's TAXII collection, with the custodian's marking
        added = int(node.clock().timestamp() * 1_000_000)
        record_received(tx.connection, item["id"], stored.seq, receipt.content, added)
        tx.append(
            "package.received",
            package.sender,
            {
                "package": package.id,
                "item": item["id"],
                "status": "stored",
                "agreement": receipt.decision.agreement,
                "marking": receipt.marking,
            },
        )
        return {"status": "stored", "item": item["id"], "marking": receipt.marking}

    def _consents_for_me(
        self, grants: list[dict[str, Any]], item_id: str, originator: str, package: Package
    ) -> list[str]:
        originator_peer = self.known_peer(originator)
        if originator_peer is None:
            raise PackageRejected(
                Rejection.NO_CONSENT,
                f"the originator {originator} is not a pinned peer: its consent cannot be checked",
                package.id,
            )
        for grant in grants:
            checked = check_grant(grant, rotation.signing_keys(self, originator))
            if (
                checked["item"] == item_id
                and checked["originator"] == originator
                and checked["custodian"] == package.sender
                and checked["to"] == self.node.nation
            ):
                return [self.node.nation]
        raise PackageRejected(
            Rejection.NO_CONSENT,
            f"{package.sender} may not release {originator}'s item to {self.node.nation}"
            f" without {originator}'s written consent",
            package.id,
        )

    # -- consent ------------------------------------------------------------------------------

    def request_consent(self, user: User, item_id: str, to: str) -> dict[str, Any]:
        """A custodian asks the originator for consent to release to a third party."""
        node = self.node
        if to not in node.rulebook.catalogue.policies:
            raise RequestError.of("to", f"unknown policy '{to}'")
        node.require(user, Action.REQUEST_CONSENT)
        with node.engine.connect() as connection:
            row = find_item(connection, item_id)
        verdict = None if row is None else node.verdict_on(user, Action.REQUEST_CONSENT, row)
        if verdict is None:
            raise NotFound(f"no item {item_id}")
        verdict.check()
        self._peer(row.originator)
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
            tx.append(
                "consent.requested",
                user.id,
                {"request": request_id, "item": item_id, "to": to, "package": package_id},
            )
        attempt = self.courier.deliver(package_id)
        return {"request": request_id, "item": item_id, "to": to, "state": attempt.state}

    def _receive_consent_request(self, package: Package) -> dict[str, Any]:
        node = self.node
        body = _body(ConsentRequestBody, package)
        if body.custodian != package.sender:
            raise PackageRejected(
                Rejection.MALFORMED, "the custodian is not the sender", package.id
            )
        self._known_party(body.to, package)
        with node.audit.transaction() as tx:
            self._holder_of_ours(tx.connection, body.item, package)
            repeated = tx.connection.execute(
                select(consent_requests.c.id).where(consent_requests.c.id == body.request)
            ).first()
            if repeated is not None:
                raise PackageRejected(
                    Rejection.REPLAY, f"consent request {body.request} exists", package.id
                )
            self._record(tx.connection, package, body.item)
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

    def _known_party(self, party: str, package: Package) -> None:
        if party not in self.node.rulebook.catalogue.policies:
            raise PackageRejected(Rejection.MALFORMED, f"unknown policy '{party}'", package.id)

    def _holder_of_ours(self, connection: Connection, item_id: str, package: Package) -> Any:
        """The row of one of this node's items that the sender holds a copy of."""
        row = find_item(connection, item_id)
        holders: set[str] = set()
        if row is not None and row.originator == self.node.nation:
            released = select(releases.c.peer).where(releases.c.item_id == item_id)
            holders = set(connection.execute(released).scalars())
            holders |= set(json.loads(row.consented_to))  # passed on with our consent
        if package.sender not in holders:
            raise PackageRejected(
                Rejection.UNKNOWN_ITEM,
                f"{package.sender} holds no item {item_id} of {self.node.nation}",
                package.id,
            )
        return row

    def consent_requests(self, user: User) -> list[dict[str, Any]]:
        self.node.require(user, Action.CONSENT_REQUESTS)
        with self.node.engine.connect() as connection:
            rows = connection.execute(
                select(consent_requests).order_by(consent_requests.c.requested_at)
            )
            return [{k: v for k, v in r._mapping.items() if k != "grant"} for r in rows]

    def consent(
        self, user: User, item_id: str, to: str, custodian: str | None = None
    ) -> dict[str, Any]:
        """The originator's officer consents; custodians that asked (or ``custodian``) are told."""
        node = self.node
        if custodian is not None and custodian not in node.rulebook.catalogue.policies:
            raise RequestError.of("custodian", f"unknown policy '{custodian}'")
        result = node.add_consent(user, item_id, to)
        with node.engine.connect() as connection:
            pending = connection.execute(
                select(consent_requests)
                .where(consent_requests.c.item_id == item_id)
                .where(consent_requests.c.to_party == to)
                .where(consent_requests.c.state == "pending")
            ).all()
        targets: dict[str, str | None] = {r.custodian: r.id for r in pending}
        if custodian is not None:
            targets.setdefault(custodian, None)
        sent = [self._reply(user, item_id, to, c, r, granted=True) for c, r in targets.items()]
        return result | {"notified": sent}

    def decide_request(self, user: User, request_id: str, *, grant: bool) -> dict[str, Any]:
        """Grant or refuse a pending consent request (officer of the originator)."""
        node = self.node
        node.require(user, Action.CONSENT)
        with node.engine.connect() as connection:
            request = (
                None
                if not _usable_id(request_id)
                else connection.execute(
                    select(consent_requests).where(consent_requests.c.id == request_id)
                ).first()
            )
        if request is None:
            raise NotFound(f"no consent request {request_id}")
        if request.state != "pending":
            raise Conflict(f"consent request {request_id} is already {request.state}")
        if grant:
            return self.consent(user, request.item_id, request.to_party, request.custodian)
        with node.engine.connect() as connection:
            row = find_item(connection, request.item_id)
        if row is None:
            raise NotFound(f"no item {request.item_id}")
        node.on_item(user, Action.CONSENT, row)
        sent = self._reply(
            user, request.item_id, request.to_party, request.custodian, request_id, granted=False
        )
        return {"request": request_id, "state": "refused", "notified": [sent]}

    def _reply(
        self,
        user: User,
        item_id: str,
        to: str,
        custodian: str,
        request_id: str | None,
        *,
        granted: bool,
    ) -> dict[str, Any]:
        node = self.node
        self._peer(custodian)
        now = node.audit.now()
        grant = (
            make_grant(
                node.keys.signing,
                item=item_id,
                originator=node.nation,
                custodian=custodian,
                to=to,
                granted_by=user.id,
                granted_at=now,
            )
            if granted
            else None
        )
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            enqueue(
                tx.connection,
                package_id=package_id,
                kind=Kind.CONSENT_REPLY,
                peer=custodian,
                body={
                    "request": request_id,
                    "item": item_id,
                    "to": to,
                    "granted": granted,
                    "grant": grant,
                },
                item_id=item_id,
                now=now,
            )
            if request_id is not None:
                tx.connection.execute(
                    update(consent_requests)
                    .where(consent_requests.c.id == request_id)
                    .values(
                        state="granted" if granted else "refused",
                        decided_by=user.id,
                        decided_at=now,
                        grant=json.dumps(grant) if grant else None,
                    )
                )
            tx.append(
                "consent.granted" if granted else "consent.refused",
                user.id,
                {"item": item_id, "to": to, "custodian": custodian, "request": request_id},
            )
        attempt = self.courier.deliver(package_id)
        return {"custodian": custodian, "package": package_id, "state": attempt.state}

    def _receive_consent_reply(self, package: Package) -> dict[str, Any]:
        node = self.node
        body = _body(ConsentReplyBody, package)
        self._known_party(body.to, package)
        with node.audit.transaction() as tx:
            row = find_item(tx.connection, body.item)
            if row is None or row.originator != package.sender:
                raise PackageRejected(
                    Rejection.NOT_ORIGINATOR,
                    f"{package.sender} is not the originator of an item held here",
                    package.id,
                )
            self._record(tx.connection, package, body.item)
            if not body.granted:
                tx.append(
                    "consent.refusal_received",
                    package.sender,
                    {"item": body.item, "to": body.to, "request": body.request},
                )
                return {"status": "noted"}
            grant = check_grant(body.grant, rotation.signing_keys(self, package.sender))
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
                {"item": body.item, "to": body.to, "request": body.request},
            )
        return {"status": "applied"}

    # -- incidents ----------------------------------------------------------------------------

    def report_incident(
        self, user: User, item_id: str, kind: str, description: str
    ) -> dict[str, Any]:
        """Report a loss or compromise; a notice travels to the originator's node (Art. 17)."""

        def notify(connection: Connection, incident: dict[str, Any], originator: str) -> None:
            if originator == self.node.nation or originator not in self._peers:
                return
            enqueue(
                connection,
                package_id=str(uuid.uuid4()),
                kind=Kind.INCIDENT,
                peer=originator,
                body={
                    "incident": incident["id"],
                    "item": item_id,
                    "kind": kind,
                    "description": description,
                    "reported_by": user.id,
                    "reported_at": incident["reported_at"],
                },
                item_id=item_id,
                now=self.node.audit.now(),
            )

        incident = self.node.report_incident(user, item_id, kind, description, notify=notify)
        self.courier.wake()
        return incident

    def _receive_incident(self, package: Package) -> dict[str, Any]:
        node = self.node
        body = _body(IncidentBody, package)
        with node.audit.transaction() as tx:
            self._holder_of_ours(tx.connection, body.item, package)
            repeated = tx.connection.execute(
                select(incidents.c.id).where(incidents.c.id == body.incident)
            ).first()
            if repeated is not None:
                raise PackageRejected(
                    Rejection.REPLAY, f"incident {body.incident} exists", package.id
                )
            self._record(tx.connection, package, body.item)
            reported = body.reported_at.astimezone(dt.UTC)
            deadline = reported + dt.timedelta(hours=node.config.incident_deadline_hours)
            tx.connection.execute(
                insert(incidents).values(
                    id=body.incident,
                    item_id=body.item,
                    kind=body.kind,
                    description=body.description,
                    reported_by=f"{package.sender}/{body.reported_by}",
                    reported_at=reported.isoformat(timespec="seconds"),
                    notify_by=deadline.isoformat(timespec="seconds"),
                    notified_at=node.audit.now(),
                )
            )
            tx.append(
                "incident.received",
                package.sender,
                {"incident": body.incident, "item": body.item, "kind": body.kind},
            )
        return {"status": "recorded", "incident": body.incident}

    # -- downgrade and declassification ---------------------------------------------------------

    def reclassify(self, user: User, item_id: str, classification: str) -> dict[str, Any]:
        """Only the originator changes a classification; every custodian is told (Art. 6(g)).

        Told: the peers it was released to, and the third parties the originator consented
        to (a custodian may have passed it on to them; one that holds no copy refuses the
        notice). A third party that is not a pinned peer cannot be told: it is named in
        ``not_pinned``, and in the audit entry.
        """
        node = self.node
        node.require(user, Action.RECLASSIFY)
        if classification not in node.rulebook.catalogue.policies[node.nation].ranks:
            raise RequestError.of(
                "classification", f"unknown level '{classification}' of {node.nation}"
            )
        with node.audit.transaction() as tx:
            row = find_item(tx.connection, item_id)
            if row is None:
                raise NotFound(f"no item {item_id}")
            node.on_item(user, Action.RECLASSIFY, row, level=classification)
            new_seal = origin.make_seal(
                node.keys.signing,
                origin.origin_fields(dict(row._mapping) | {"classification": classification}),
                node._decrypt(row),
            )
            node.rewrite(tx, row, {"classification": classification, "origin_seal": new_seal})
            custodians = sorted(
                set(
                    tx.connection.execute(
                        select(releases.c.peer).where(releases.c.item_id == item_id)
                    ).scalars()
                )
            )
            # third parties a custodian may have passed it on to: those consented to
            consented = set(
                tx.connection.execute(
                    select(consents.c.to_party).where(consents.c.item_id == item_id)
                ).scalars()
            ) - {*custodians, node.nation}
            third_parties = sorted(p for p in consented if self.known_peer(p) is not None)
            not_pinned = sorted(consented - set(third_parties))
            for custodian in [*custodians, *third_parties]:
                package_id = str(uuid.uuid4())
                sealing = self._peer(custodian).keys.sealing
                enqueue(
                    tx.connection,
                    package_id=package_id,
                    kind=Kind.RECLASSIFY,
                    peer=custodian,
                    body={
                        "item": item_id,
                        "classification": classification,
                        "origin_seal": origin.close_for_custodian(sealing, new_seal, package_id),
                    },
                    item_id=item_id,
                    now=node.audit.now(),
                )
            tx.append(
                "item.reclassified",
                user.id,
                {
                    "item": item_id,
                    "from": row.classification,
                    "to": classification,
                    "custodians": custodians,
                    "third_parties": third_parties,
                    "not_pinned": not_pinned,
                },
            )
        self.courier.wake()
        return {
            "item": item_id,
            "classification": classification,
            "custodians": custodians,
            "third_parties": third_parties,
            "not_pinned": not_pinned,
        }

    def _receive_reclassify(self, package: Package) -> dict[str, Any]:
        node = self.node
        body = _body(ReclassifyBody, package)
        with node.audit.transaction() as tx:
            row = find_item(tx.connection, body.item)
            if row is None or row.originator != package.sender:
                raise PackageRejected(
                    Rejection.NOT_ORIGINATOR,
                    f"{package.sender} is not the originator of an item held here",
                    package.id,
                )
            if body.classification not in node.rulebook.catalogue.policies[row.originator].ranks:
                raise PackageRejected(
                    Rejection.MALFORMED, f"unknown level '{body.classification}'", package.id
                )
            # the originator's new seal: what its label now says, over the same content
            new_seal = origin.open_for_custodian(node.keys.sealing, body.origin_seal, package.id)
            fields = dict(row._mapping) | {"classification": body.classification}
            origin.check_seal(
                rotation.signing_keys(self, package.sender),
                origin.origin_fields(fields),
                node._decrypt(row),
                new_seal,
                package.id,
            )
            self._record(tx.connection, package, body.item)
            changed = _Fields(fields)
            decision = self.partner_decision(changed, node.nation, node.today())
            marking = decision.marking.text if decision.marking else None
            node.rewrite(
                tx,
                row,
                {
                    "classification": body.classification,
                    "custodian_marking": marking,
                    "origin_seal": new_seal,
                },
            )
            tx.append(
                "item.remarked",
                package.sender,
                {
                    "item": body.item,
                    "from": row.classification,
                    "to": body.classification,
                    "marking": marking,
                },
            )
        return {"status": "remarked", "marking": marking}

    # -- the outbox ---------------------------------------------------------------------------

    def outbox(self, user: User) -> list[dict[str, Any]]:
        self.node.require(user, Action.OUTBOX)
        with self.node.engine.connect() as connection:
            rows = connection.execute(select(outbox).order_by(outbox.c.created_at.desc()))
            return [{k: v for k, v in r._mapping.items() if k != "payload"} for r in rows]

    def cancel(self, user: User, package_id: str) -> dict[str, Any]:
        node = self.node
        node.require(user, Action.CANCEL)
        with node.audit.transaction() as tx:
            row = (
                tx.connection.execute(
                    select(outbox).where(outbox.c.package_id == package_id)
                ).first()
                if _usable_id(package_id)
                else None
            )
            if row is None:
                raise NotFound(f"no package {package_id}")
            if row.state not in (State.PENDING, State.FAILED):
                raise Conflict(f"package {package_id} is {row.state}")
            tx.connection.execute(
                update(outbox)
                .where(outbox.c.package_id == package_id)
                .values(state=State.CANCELLED)
            )
            tx.append("package.cancelled", user.id, {"package": package_id, "to": row.peer})
            if row.kind == Kind.ROTATION.value:
                tx.on_commit(lambda: self.announcer.settled(row.peer))
        return {"package": package_id, "state": State.CANCELLED}

    def _on_delivered(self, connection: Connection, row: Any) -> None:
        if row.kind == Kind.ROTATION.value:
            self.announcer.settled(row.peer)
        if row.kind == Kind.INCIDENT.value:
            incident = json.loads(row.payload)["incident"]
            connection.execute(
                update(incidents)
                .where(incidents.c.id == incident)
                .values(notified_at=self.node.audit.now())
            )


@dataclass(frozen=True)
class _Release:
    """One item of a bulk release, sealed for the partner (``Exchange.release_many``)."""

    item_id: str
    package_id: str
    body: dict[str, Any]
    decision: Decision

    def audited(self, to: str) -> dict[str, Any]:
        """The ``item.released`` entry's data, as ``Exchange.release`` writes it."""
        return {
            "item": self.item_id,
            "to": to,
            "package": self.package_id,
            "agreement": self.decision.agreement,
            "marking": self.decision.marking.text if self.decision.marking else None,
        }


@dataclass(frozen=True)
class _Receipt:
    """A release that passed every check (``Exchange._check_release``), ready to store."""

    package: Package
    item: dict[str, Any]
    content: bytes
    decision: Decision
    marking: str
    origin_seal: bytes


_BULK = "POST /api/v1/releases"
_BY_IDS = select(items).where(items.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_RELEASE = insert(releases)
_SEEN = select(inbox.c.package_id).where(inbox.c.package_id == bindparam("id"))
_SEEN_ANY = select(inbox.c.package_id).where(
    inbox.c.package_id.in_(bindparam("ids", expanding=True))
)
_HELD = select(items.c.id).where(items.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_INBOX = insert(inbox)


def _rows_by_id(connection: Connection, item_ids: Sequence[str]) -> dict[str, Any]:
    """The stored rows of these items, by id (ids no item can have are left out)."""
    usable = [i for i in dict.fromkeys(item_ids) if _usable_id(i)]
    rows: dict[str, Any] = {}
    for start in range(0, len(usable), 500):
        chunk = usable[start : start + 500]
        rows.update((row.id, row) for row in connection.execute(_BY_IDS, {"ids": chunk}))
    return rows


def _replay(package: Package) -> PackageRejected:
    return PackageRejected(Rejection.REPLAY, "this package was received before", package.id)


def _refusal(error: PackageRejected) -> dict[str, Any]:
    """A refused package, as the audit log says it."""
    return {"package": error.package_id, "reason": error.reason.value, "detail": error.detail[:500]}


class _Fields:
    """Attribute access over an item's fields, like a stored row."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._mapping = fields

    def __getattr__(self, name: str) -> Any:
        value = self._mapping[name]
        if name in ("releasable_to", "need_to_know") and isinstance(value, list):
            return json.dumps(value)
        return value


def _usable_id(value: str) -> bool:
    """Whether an id from a URL can name anything stored (no NUL, not overlong)."""
    return 0 < len(value) <= 64 and "\x00" not in value


def _label(row: Any) -> Label:
    return {
        "originator": row.originator,
        "classification": row.classification,
        "area": row.area,
        "releasable_to": json.loads(row.releasable_to),
        "need_to_know": json.loads(row.need_to_know),
    }


def _item_fields(row: Any) -> dict[str, Any]:
    """The originator's item as it travels: what the sender's binding signature covers."""
    return {
        "id": row.id,
        "title": row.title,
        "originator": row.originator,
        "classification": row.classification,
        "area": row.area,
        "releasable_to": json.loads(row.releasable_to),
        "need_to_know": json.loads(row.need_to_know),
        "created_at": row.created_at,
        "created_by": row.created_by,
    }


def _pinned(row: Any) -> Peer:
    """A peer as its row in ``peers`` pins it."""
    return Peer(row.nation, row.url, PublicKeys(bytes(row.signing_key), bytes(row.sealing_key)))


__all__ = ["Exchange"]
