"""This node as a witness of its partners' logs: the head each showed last, and alarms.

Every package a partner signs carries its latest signed tree head. Before the package is
applied (``Witnesses.observe``), the head's signature is checked with the partner's
pinned key (or a key it retired), and the head judged against the one held
(``audit.witness.judge``), asking the partner for a consistency proof when the sizes
differ (``federation.witnessing``). A larger head proven to extend the one held replaces
it. Two histories — a root that differs at the same size, a proof that fails, a partner
that cannot prove a head it signed — raise an alarm (``alarms``): an audit entry
(``witness.alarm``), a metric, a banner for officers, and every package from that partner
refused (``WITNESS_ALARM``, answered 503 so the sender keeps it) until an officer
acknowledges the alarm (``acknowledge``). A head that cannot be checked now (the partner does not
answer for a proof) does not hold its package back: it waits, and is checked before any
later head as soon as a proof can be had.

A package without a head is refused from a partner that showed heads before (a partner
cannot stop being witnessed by leaving them out); one that never did is not witnessed.
The heads held are also compared with those other partners hold (``gossip``), which
raise the same alarm about the node that showed the two.

The head in a partner's receipt for a release this node sent (``observe_receipt``, handed
by the courier once the receipt verifies) is checked the same way against the head held
of that partner, and held in its place when it extends it. One of another history raises
the same alarm, and the release stays unacknowledged; so do the receipts of a partner
under an alarm. A partner whose head this node holds none of is first witnessed by the
head of a package it sends, not by a receipt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from gsoia.audit import proofs
from gsoia.audit.acknowledgement import SignedHead
from gsoia.audit.anchor import check_anchor
from gsoia.audit.log import AuditVerifyError, TreeHead, head_message
from gsoia.audit.merkle import ProofError
from gsoia.audit.witness import Judgement, NotAHead, Seen, judge, read_head
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import verify_any
from gsoia.errors import InputError
from gsoia.federation.carried import CarriedProof
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection, check_rotation
from gsoia.federation.witnessing import CONSISTENCY, HELD_HEAD, ProofUnavailable, check_request
from gsoia.node.authority import Action
from gsoia.node.exchange.alarms import Alarm, Alarms, open_in
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.floods import Refusal
from gsoia.node.rotation import own_signing_keys
from gsoia.node.users import User
from gsoia.store.database import writing
from gsoia.store.schema import witnessed_heads

if TYPE_CHECKING:
    from gsoia.node.service import Node

log = logging.getLogger("gsoia.exchange")

PROVEN = 4096
"""Pairs of heads proven consistent kept in memory at most (then forgotten, all)."""
FetchProof = Callable[[str, int, int], list[bytes]]
"""``fetch(nation, first, second)``: the partner's consistency proof, or ProofUnavailable."""
FetchHeld = Callable[[str], dict[str, Any] | None]
ShownAs = tuple[str, object]
"""A head as a package showed it, with its sender (``Witnesses.observe``'s ``witnessed``)."""
_HELD = select(witnessed_heads).where(witnessed_heads.c.nation == bindparam("nation"))
"""``fetch(nation)``: the head a partner holds of this node's log, or ProofUnavailable."""
_KEEP_HELD = update(witnessed_heads).where(witnessed_heads.c.nation == bindparam("held_of"))
"""The head held of a partner replaced (``Witnesses._store``; the columns set are those
given): built once, not a call."""
_FIRST_HELD = insert(witnessed_heads)


@dataclass(frozen=True)
class HeldOfMe:
    """What one partner holds of this node's log: a head this log holds (``head``), none
    (both None), or a ``failure``."""

    nation: str
    head: TreeHead | None
    failure: str | None


class Witnesses:
    """The heads held of each partner, checked as packages arrive."""

    def __init__(self, node: Node, peers: PeerBook, fetch: FetchProof) -> None:
        self.node = node
        self.peers = peers
        self.fetch = fetch
        self.alarms = Alarms(node)
        self._proven: set[tuple[str, int, bytes, int, bytes]] = set()
        """Pairs of heads proven consistent (nation, then size and root of the smaller
        and of the larger): a proof is fetched once per pair."""

    # -- receiving --------------------------------------------------------------------------

    def observe(
        self,
        package: Package,
        witnessed: set[ShownAs] | None = None,
        carried: CarriedProof | None = None,
    ) -> None:
        """Check the head ``package`` carries; ``PackageRejected`` (the caller audits it)
        when it is bad or contradicts the head held, or its sender is under an alarm.

        A head that cannot be checked now (no proof could be fetched: the sender does not
        answer) does not hold the package back: it is kept as pending, and checked, before
        any later head, as soon as a proof can be had. ``witnessed``: (sender, head) pairs
        found consistent earlier in the same batch, not checked again. ``carried``: the
        proof the sender sent with the package (``federation.carried``), used in place of
        asking for it when it is the one needed and holds (one that fails accuses no one: it
        is not signed, so the sender is asked for the proof, as without it).
        """
        if not self.node.config.witnessing:
            return
        sender = package.sender
        known = shown_as(sender, package.head)
        if witnessed is not None and package.head is not None and known in witnessed:
            return
        alarm, held, pending = self._standing(sender)
        if alarm is not None:
            raise PackageRejected(
                Rejection.WITNESS_ALARM,
                f"{sender} showed two histories of its audit log: an officer of"
                f" {self.node.nation} must acknowledge the alarm first",
                package.id,
            )
        if package.head is None:
            if held is not None:
                raise PackageRejected(
                    Rejection.BAD_HEAD,
                    f"it carries no head, though {sender} showed its heads before",
                    package.id,
                )
            return  # a partner that never showed a head is not witnessed
        shown = self._signed_head(package)
        if held is None:
            self._store(sender, shown, None)
            return
        forked = self._witnessed(sender, held, pending, shown, carried)
        if forked is not None:
            raise PackageRejected(
                Rejection.WITNESS_ALARM,
                f"{sender} showed two histories of its audit log: {forked}",
                package.id,
            )
        if witnessed is not None:
            witnessed.add(known)

    def observe_receipt(self, receiver: str, head: SignedHead) -> str | None:
        """Check the head of a receipt ``receiver`` answered a release with (its signature
        verified with the receipt, ``audit.acknowledgement.check``) as a package's head is
        checked: against the head held of ``receiver``, kept if it extends it. Returns None,
        or why the receipt is not taken: ``receiver`` is under an alarm, or this head shows
        another history (the alarm is raised). A partner whose head this node does not hold
        yet is not witnessed from its receipts: its first head comes with a package."""
        if not self.node.config.witnessing:
            return None
        alarm, held, pending = self._standing(receiver)
        if alarm is not None:
            return (
                f"{receiver} showed two histories of its audit log: an officer of"
                f" {self.node.nation} must acknowledge the alarm first"
            )
        if held is None:
            return None
        shown = TreeHead(head.size, head.root, head.signature, head.at)
        forked = self._witnessed(receiver, held, pending, shown, None)
        if forked is None:
            return None
        return f"its head shows another history of {receiver}'s audit log: {forked}"

    def _witnessed(
        self,
        sender: str,
        held: TreeHead,
        pending: TreeHead | None,
        shown: TreeHead,
        carried: CarriedProof | None,
    ) -> str | None:
        """``shown`` (then the head waiting unchecked, first) judged against ``held``, and
        the head held kept or advanced; the reason of the alarm raised if it forks (None:
        consistent, or waiting to be checked)."""
        for candidate in ([pending] if pending is not None else []) + [shown]:
            judgement = self.judged(sender, held, candidate, carried)
            if judgement is None:  # not now: the first head unchecked waits
                self._store(sender, held, pending or candidate)
                log.warning("witness: %s's head of %d entries unchecked", sender, candidate.size)
                return None
            if judgement.seen is Seen.FORKED:
                self.alarms.raise_alarm(sender, judgement.reason, held, candidate)
                return judgement.reason
            if judgement.keep:
                held = candidate
        self._store(sender, held, None)
        return None

    def judged(
        self, sender: str, held: TreeHead, shown: TreeHead, carried: CarriedProof | None = None
    ) -> Judgement | None:
        """``shown`` (a head ``sender`` signed) judged against ``held``, with ``sender``'s
        proof if one is needed (``carried``, if it is that one; else asked for); None if it
        cannot be had now."""
        judgement = judge(held, shown)
        if judgement.seen is not Seen.NEEDS_PROOF:
            return judgement
        small, large = (held, shown) if held.size < shown.size else (shown, held)
        pair = (sender, small.size, small.root, large.size, large.root)
        if pair in self._proven:
            return Judgement(Seen.EXTENDS if large is shown else Seen.OLDER)
        if carried is not None and carried.proves(sender, small.size, large.size):
            judgement = judge(held, shown, list(carried.path))
            if judgement.seen is not Seen.FORKED:
                return self._remembered(pair, judgement)
            # not signed, so not trusted to accuse: the sender is asked, over its own URL
            log.warning("witness: the proof carried for %s does not hold: asking it", sender)
        try:
            proof = self.fetch(sender, small.size, large.size)
        except ProofUnavailable as e:
            if not e.refused:
                log.warning("witness: no proof from %s: %s", sender, e)
                return None
            return Judgement(
                Seen.FORKED,
                f"{sender} signed heads of {held.size} and {shown.size} entries and cannot"
                f" prove one a prefix of the other: {e}",
            )
        return self._remembered(pair, judge(held, shown, proof))

    def _remembered(
        self, pair: tuple[str, int, bytes, int, bytes], judgement: Judgement
    ) -> Judgement:
        """A pair of heads judged with a proof: remembered if proven consistent."""
        if judgement.seen is not Seen.FORKED:
            if len(self._proven) >= PROVEN:
                self._proven.clear()
            self._proven.add(pair)
        return judgement

    def _signed_head(self, package: Package) -> TreeHead:
        try:
            head = read_head(package.head)
        except NotAHead as e:
            raise PackageRejected(
                Rejection.BAD_HEAD, "its head is not a signed tree head", package.id
            ) from e
        pinned = self.peers.known(package.sender)
        keys = [] if pinned is None else [pinned.keys.signing]
        keys += self.peers.retired.get(package.sender, [])
        if package.kind is Kind.ROTATION and pinned is not None:
            with suppress(PackageRejected):  # its head may be signed by the key it announces
                keys.append(check_rotation(package, pinned.keys).signing)
        try:
            verify_any(keys, head_message(head.size, head.root), head.signature)
        except BadSignature as e:
            raise PackageRejected(
                Rejection.BAD_HEAD, f"its head is not signed by {package.sender}", package.id
            ) from e
        return head

    def _store(self, nation: str, held: TreeHead, pending: TreeHead | None) -> None:
        """Keep ``held`` as the head held of ``nation``, and ``pending`` as unchecked."""
        values = {
            "size": held.size,
            "root": held.root,
            "signature": held.signature,
            "at": held.at,
            "seen_at": self.node.audit.now(),
            "pending": None if pending is None else json.dumps(pending.to_dict()),
        }
        for _ in range(2):
            try:
                with writing(self.node.engine) as connection:
                    if not connection.execute(_KEEP_HELD, values | {"held_of": nation}).rowcount:
                        connection.execute(_FIRST_HELD, values | {"nation": nation})
                return
            except IntegrityError:  # another request kept the first head meanwhile: update it
                continue

    # -- alarms (kept by ``alarms``; these for the routes and pages) -------------------------

    def open_alarm(self, nation: str) -> Alarm | None:
        return self.alarms.open_for(nation)

    def open_alarms(self) -> list[Alarm]:
        return self.alarms.open()

    def acknowledge(self, user: User, alarm_id: str, note: str) -> dict[str, Any]:
        return self.alarms.acknowledge(user, alarm_id, note)

    # -- answering a witness ----------------------------------------------------------------

    def consistency_for(
        self, headers: Mapping[str, str], first: int, second: int, source: str | None
    ) -> dict[str, Any]:
        """A consistency proof of this node's log for a pinned peer that asked in a signed
        request (``GET /federation/v1/audit/consistency``); ``PackageRejected`` (audited, or
        counted for ``source`` when no pinned peer signed it) otherwise, ``InputError``
        when the log holds no such trees."""
        node = self.node
        self._signed_by_a_peer(headers, source, CONSISTENCY, first, second, "consistency")
        try:
            proof = proofs.consistency(node.audit, first, second)
        except ProofError as e:
            raise InputError.of("second" if first <= second else "first", str(e)) from e
        return {
            "tree_size_1": first,
            "tree_size_2": second,
            "consistency_path": [h.hex() for h in proof.path],
        }

    def held_for(self, headers: Mapping[str, str], source: str | None) -> dict[str, Any]:
        """The head this node holds of the log of the pinned peer that asked in a signed
        request (``GET /federation/v1/witness/head``; ``gsoia audit verify --witness``)."""
        node = self.node
        sender = self._signed_by_a_peer(headers, source, HELD_HEAD, 0, 0, "held-head")
        held = self.held(sender)
        return {"nation": node.nation, "head": None if held is None else held.to_dict()}

    def _signed_by_a_peer(
        self,
        headers: Mapping[str, str],
        source: str | None,
        path: str,
        first: int,
        second: int,
        what: str,
    ) -> str:
        """The pinned peer that signed a request to ``path``; its refusal audited (or
        counted for ``source`` when no pinned peer signed it) and raised."""
        node = self.node
        self.peers.load()
        try:
            return check_request(
                headers,
                me=node.nation,
                peer_keys=self.peers.signing_keys_of(),
                first=first,
                second=second,
                now=node.clock(),
                what=what,
            )
        except PackageRejected as e:
            data = {"action": f"GET {path}", "reason": f"{e.reason.value}: {e.detail}"[:500]}
            if e.anonymous and source is not None:
                node.count_refusal(source, Refusal("refused", "federation", data))
            else:
                node.audit.record("refused", "federation", data)
            raise

    def heads_held_of_me(self, fetch: FetchHeld) -> list[HeldOfMe]:
        """What each pinned peer holds of this node's log, checked against it."""
        node = self.node
        keys = own_signing_keys(node)
        mine = node.audit.head()
        size = 0 if mine is None else mine.size
        reports = []
        for peer in self.peers.listed():
            nation = peer["nation"]
            try:
                data = fetch(nation)
            except ProofUnavailable as e:
                reports.append(HeldOfMe(nation, None, f"could not be asked: {e}"))
                continue
            if data is None:
                reports.append(HeldOfMe(nation, None, None))
                continue
            try:
                head = _head(data)
                check_anchor(head, size, node.audit.leaves, keys, f"held by {nation}")
            except AuditVerifyError as e:
                reports.append(HeldOfMe(nation, None, str(e)))
            except (KeyError, TypeError, ValueError):
                reports.append(HeldOfMe(nation, None, "answered no signed tree head"))
            else:
                reports.append(HeldOfMe(nation, head, None))
        return reports

    # -- reading ----------------------------------------------------------------------------

    def held(self, nation: str) -> TreeHead | None:
        return self.held_and_pending(nation)[0]

    def held_and_pending(self, nation: str) -> tuple[TreeHead | None, TreeHead | None]:
        """The head held of ``nation``, and the first shown since that is unchecked."""
        with self.node.engine.connect() as connection:
            row = connection.execute(_HELD, {"nation": nation}).first()
        return _held(row)

    def _standing(self, nation: str) -> tuple[Alarm | None, TreeHead | None, TreeHead | None]:
        """The open alarm about ``nation`` (None if none: then the head held of it and the
        first shown since that is unchecked), read on one connection: a head is judged
        once a batch, and each connection taken costs."""
        with self.node.engine.connect() as connection:
            alarm = open_in(connection, nation)
            if alarm is not None:
                return alarm, None, None
            row = connection.execute(_HELD, {"nation": nation}).first()
        return None, *_held(row)

    def held_heads(self) -> dict[str, TreeHead]:
        """The head held of each partner that showed one (what this node gossips)."""
        with self.node.engine.connect() as connection:
            rows = connection.execute(select(witnessed_heads)).all()
        return {
            row.nation: TreeHead(int(row.size), bytes(row.root), bytes(row.signature), row.at)
            for row in rows
        }

    def advance(self, nation: str, held: TreeHead, newer: TreeHead) -> bool:
        """Hold ``newer`` (proven to extend ``held``) of ``nation``, if ``held`` is still
        the head held (what waits unchecked is kept); whether it was."""
        with writing(self.node.engine) as connection:
            done = connection.execute(
                update(witnessed_heads)
                .where(
                    witnessed_heads.c.nation == nation,
                    witnessed_heads.c.size == held.size,
                    witnessed_heads.c.root == held.root,
                )
                .values(
                    size=newer.size,
                    root=newer.root,
                    signature=newer.signature,
                    at=newer.at,
                    seen_at=self.node.audit.now(),
                )
            ).rowcount
        return bool(done)

    def view(self, user: User) -> dict[str, Any]:
        """The heads held of each partner and every alarm (``GET /api/v1/witness``)."""
        self.node.require(user, Action.AUDIT)
        with self.node.engine.connect() as connection:
            heads = connection.execute(select(witnessed_heads).order_by(witnessed_heads.c.nation))
            held = [
                {
                    "nation": row.nation,
                    "head": TreeHead(
                        int(row.size), bytes(row.root), bytes(row.signature), row.at
                    ).to_dict(),
                    "seen_at": row.seen_at,
                }
                for row in heads
            ]
        return {"heads": held, "alarms": [a.to_dict() for a in self.alarms.listed()]}


def shown_as(sender: str, head: object) -> ShownAs:
    """``head`` as a key of the heads found consistent in a batch: its fields with their
    types (``1`` and ``True`` are not one key), or its JSON if a value is not hashable."""
    if isinstance(head, dict):
        try:
            fields = tuple((k, type(v), v) for k, v in head.items())
            hash(fields)
        except TypeError:
            return sender, json.dumps(head, sort_keys=True)
        return sender, fields
    return sender, json.dumps(head, sort_keys=True)


def _held(row: Any) -> tuple[TreeHead | None, TreeHead | None]:
    """The head held in a ``witnessed_heads`` row (None: no row), and the one pending."""
    if row is None:
        return None, None
    held = TreeHead(int(row.size), bytes(row.root), bytes(row.signature), row.at)
    return held, None if row.pending is None else _head(json.loads(row.pending))


def _head(data: dict[str, Any]) -> TreeHead:
    return TreeHead(
        data["size"], bytes.fromhex(data["root"]), bytes.fromhex(data["signature"]), data["at"]
    )
