"""Exchanges with partner nodes: release, receipt, consent, incident notices, re-marking.

Japan's node releases an item to Canada's: it decides for the partner nation (rules 1-5
of the release decision, for the partner's cleared readers), seals the item for that node
and sends it through the outbox. Canada's node checks the package (``intake``), decides
again for itself, marks the item with its own equivalent level next to the original,
stores it with itself as custodian, and answers with a signed receipt (``acknowledge``),
which Japan's node checks and keeps with the release (``acknowledgements``). Nothing
reaches a third country without the originator's signed consent (``consent``). Every
step, and every refusal, is in the audit log of the node that took it.

One module per kind of package, each sending and receiving it: ``release`` and
``intake``, ``consent``, ``incidents``, ``reclassify``, ``rotated`` (a peer's new keys);
``onward`` (a custodian's release told to the originator); ``custody`` shows where an item
is held; ``inbox`` opens what arrives and hands it to its kind; ``peers`` keeps the pinned
peers; ``assurances``, ``visits``, ``visit_answers`` and ``visit_steps`` the personnel
security assurances and requests for visits; ``outbox`` is what the officers see of what is sent;
``witnesses``, ``gossip`` and ``alarms`` witness the partners' audit logs, ``heads`` sends
heads to them. ``Exchange`` puts them together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gsoia.decision import Decision
from gsoia.federation import posting
from gsoia.federation.acknowledgements import Acknowledgements
from gsoia.federation.courier import Courier, Leader
from gsoia.federation.packages import Kind
from gsoia.federation.peers import Peer
from gsoia.federation.witnessing import (
    fetch_consistency,
    fetch_held_head,
    request_headers,
)
from gsoia.node import rotation
from gsoia.node.errors import NodeError
from gsoia.node.exchange.acknowledge import Acknowledger
from gsoia.node.exchange.acknowledged import release_history
from gsoia.node.exchange.amendments import Amendments
from gsoia.node.exchange.assurances import Assurances
from gsoia.node.exchange.consent import Consents
from gsoia.node.exchange.consents_given import consents_listed, withdraw
from gsoia.node.exchange.custody import custody, unsent_releases
from gsoia.node.exchange.erasure import ErasureRounds
from gsoia.node.exchange.gossip import Gossip
from gsoia.node.exchange.heads import HeadRounds
from gsoia.node.exchange.inbox import Inbox
from gsoia.node.exchange.incident_steps import IncidentSteps
from gsoia.node.exchange.incidents import IncidentNotices
from gsoia.node.exchange.intake import Intake, Outcome
from gsoia.node.exchange.lead_times import LeadTimes
from gsoia.node.exchange.onward import outcomes_settled, receive_onward
from gsoia.node.exchange.outbox import Outbox
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.reclassify import Reclassifications
from gsoia.node.exchange.release import Releases
from gsoia.node.exchange.rotated import receive_rotation
from gsoia.node.exchange.visit_answers import VisitAnswers
from gsoia.node.exchange.visit_refusals import requests_refused
from gsoia.node.exchange.visit_steps import VisitSteps
from gsoia.node.exchange.visits import Visits
from gsoia.node.exchange.witnesses import Witnesses
from gsoia.node.item import StoredItem
from gsoia.node.users import User

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.service import Node


def settled(tx: AuditTransaction, outcomes: list[posting.Outcome], now: str) -> None:
    """What the courier's packages settled mean here (in the transaction that marks them):
    onward releases told their originator, requests for visits refused on arrival."""
    outcomes_settled(tx, outcomes, now)
    requests_refused(tx, outcomes, now)


class Exchange:
    """The federation use cases of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.peers_book = book = PeerBook(node)
        self.announcer = rotation.Announcer(node, node.keys_dir)
        self.outbox_view = Outbox(node, self.announcer)
        self.courier = Courier(
            nation=node.nation,
            keys=node.keys,
            audit=node.audit,
            peer=self.peers_book.known,
            clock=node.clock,
            on_delivered=self.outbox_view.delivered,
            on_settled=settled,
            counted=lambda state: node.metrics.deliveries.labels(state).inc(),
            signer=self.announcer.signer,
            heads=node.config.witnessing,
            acknowledgements=(
                Acknowledgements(
                    lambda peer: list(book.signing_keys(peer)),
                    lambda peer, head: self.witnesses.observe_receipt(peer, head),
                )
                if node.config.witnessing
                else None
            ),
        )
        courier = self.courier
        self.releases = Releases(node, book, courier)
        self.consents = Consents(node, book, courier)
        self.incidents = IncidentNotices(node, book, courier)
        self.incident_steps = IncidentSteps(node, book, courier)
        self.reclassifications = Reclassifications(node, book, courier)
        self.assurances = Assurances(node, book, courier)
        self.amendments = Amendments(node, courier, self.assurances)
        self.visits = Visits(node, book, courier, self.assurances)
        self.lead_times = LeadTimes(node)
        self.visit_answers = VisitAnswers(node, book, courier)
        self.visit_steps = VisitSteps(node, courier)
        self.witnesses = Witnesses(node, book, self.fetch_proof)
        self.gossip = Gossip(node, book, self.witnesses)
        self.inbox = Inbox(
            node,
            book,
            self.witnesses,
            Intake(node, book, Acknowledger(node)),
            {
                Kind.CONSENT_REQUEST: self.consents.receive_request,
                Kind.CONSENT_REPLY: self.consents.receive_reply,
                Kind.INCIDENT: self.incidents.receive,
                Kind.RECLASSIFY: self.reclassifications.receive,
                Kind.ROTATION: lambda package: receive_rotation(node, book, package),
                Kind.HEAD: self.gossip.receive,
                Kind.ASSURANCE: self.assurances.receive,
                Kind.ASSURANCE_AMENDED: self.amendments.receive,
                Kind.ASSURANCE_WITHDRAWN: self.assurances.receive_withdrawal,
                Kind.VISIT_REQUEST: self.visits.receive_request,
                Kind.VISIT_ANSWER: self.visit_answers.receive,
                Kind.VISIT_CANCELLED: self.visits.receive_cancel,
                Kind.VISIT_MORE_ASKED: self.visit_steps.receive,
                Kind.VISIT_ENDED: self.visit_steps.receive,
                Kind.VISITOR_REMOVED: self.visit_steps.receive_removal,
                Kind.ONWARD: lambda package: receive_onward(node, package),
                Kind.INCIDENT_STEP: self.incident_steps.receive,
            },
        )
        self.head_rounds = HeadRounds(node, book, self.courier, self.gossip.body_for)
        self.erasure_rounds = ErasureRounds(node)

    # -- peers ------------------------------------------------------------------------------

    @property
    def retired(self) -> dict[str, list[bytes]]:
        """The signing keys each peer retired, newest first."""
        return self.peers_book.retired

    def identity(self) -> dict[str, Any]:
        return self.peers_book.identity()

    def add_peer(self, peer: Peer, *, fingerprint: str | None = None) -> Peer:
        return self.peers_book.add(peer, fingerprint=fingerprint)

    def known_peer(self, nation: str) -> Peer | None:
        return self.peers_book.known(nation)

    def peers(self) -> list[dict[str, Any]]:
        return self.peers_book.listed()

    # -- what this node's users do ----------------------------------------------------------------

    def partner_decision(self, row: StoredItem, to: str, at: dt.date) -> Decision:
        return self.releases.partner_decision(row, to, at)

    def preview(self, user: User, item_id: str, to: str) -> Decision:
        return self.releases.preview(user, item_id, to)

    def release(self, user: User, item_id: str, to: str) -> dict[str, Any]:
        return self.releases.release(user, item_id, to)

    def release_many(
        self, user: User, to: str, item_ids: Sequence[str]
    ) -> list[dict[str, Any] | NodeError]:
        return self.releases.release_many(user, to, item_ids)

    def release_history(self, user: User, item_id: str) -> list[dict[str, Any]]:
        return release_history(self.node, user, item_id)

    def request_consent(self, user: User, item_id: str, to: str) -> dict[str, Any]:
        return self.consents.request(user, item_id, to)

    def consent_requests(self, user: User) -> list[dict[str, Any]]:
        return self.consents.requests(user)

    def consent_requests_sent(self, user: User) -> list[dict[str, Any]]:
        return self.consents.asked(user)

    def consent(
        self,
        user: User,
        item_id: str,
        to: str,
        custodian: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        return self.consents.consent(user, item_id, to, custodian, note)

    def consents_of(self, user: User, item_id: str) -> list[dict[str, Any]]:
        return consents_listed(self.node, user, item_id)

    def withdraw_consent(
        self, user: User, item_id: str, to: str, note: str | None = None
    ) -> dict[str, Any]:
        return withdraw(self.consents, user, item_id, to, note)

    def decide_request(
        self, user: User, request_id: str, *, grant: bool, note: str | None = None
    ) -> dict[str, Any]:
        return self.consents.decide(user, request_id, grant=grant, note=note)

    def custody(self, user: User, item_id: str) -> dict[str, Any]:
        return custody(self.node, user, item_id)

    def report_incident(
        self, user: User, item_id: str, kind: str, description: str
    ) -> dict[str, Any]:
        return self.incidents.report(user, item_id, kind, description)

    def step_incident(self, user: User, incident_id: str, state: str, note: str) -> dict[str, Any]:
        return self.incident_steps.step(user, incident_id, state, note)

    def reclassify(self, user: User, item_id: str, classification: str) -> dict[str, Any]:
        return self.reclassifications.reclassify(user, item_id, classification)

    def outbox(self, user: User) -> list[dict[str, Any]]:
        return self.outbox_view.listed(user)

    def cancel(self, user: User, package_id: str, note: str | None = None) -> dict[str, Any]:
        return self.outbox_view.cancel(user, package_id, note)

    def unsent(self, user: User) -> list[dict[str, Any]]:
        return unsent_releases(self.node, user)

    def courier_leader(self) -> Leader | None:
        """On PostgreSQL, the lead of the courier loop among every process of the node, on
        every host (an advisory lock: ``store.postgres.AdvisoryLeader``); None on SQLite,
        where the data directory's lock file leads (``api.served.courier_lock``)."""
        if self.node.engine.dialect.name != "postgresql":
            return None
        from gsoia.store.postgres import AdvisoryLeader

        return AdvisoryLeader(self.node.engine)

    # -- witnessing --------------------------------------------------------------------------------

    def fetch_proof(self, nation: str, first: int, second: int) -> list[bytes]:
        """A partner's consistency proof of its log (``federation.witnessing``)."""
        from gsoia.federation.witnessing import ProofUnavailable

        peer = self.peers_book.known(nation)
        if peer is None:
            raise ProofUnavailable(f"{nation} is not a pinned peer")
        key = self.announcer.signer(nation)
        headers = request_headers(key, self.node.nation, nation, first, second, self.node.clock())
        return fetch_consistency(self.courier.http, peer.url, headers, first, second)

    def fetch_held_head(self, nation: str) -> dict[str, Any] | None:
        """The head a partner holds of this node's log (``federation.witnessing``)."""
        from gsoia.federation.witnessing import ProofUnavailable

        peer = self.peers_book.known(nation)
        if peer is None:
            raise ProofUnavailable(f"{nation} is not a pinned peer")
        key = self.announcer.signer(nation)
        headers = request_headers(
            key, self.node.nation, nation, 0, 0, self.node.clock(), what="held-head"
        )
        return fetch_held_head(self.courier.http, peer.url, headers)

    # -- what partner nodes send ------------------------------------------------------------------

    def receive(
        self, raw: bytes, *, source: str | None = None, carried: str | None = None
    ) -> dict[str, Any]:
        return self.inbox.receive(raw, source=source, carried=carried)

    def receive_batch(
        self, raw: bytes, *, source: str | None = None, carried: str | None = None
    ) -> list[tuple[str | None, Outcome]]:
        return self.inbox.receive_batch(raw, source=source, carried=carried)


__all__ = ["Exchange"]
