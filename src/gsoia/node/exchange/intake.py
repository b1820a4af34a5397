"""Receiving a release: every check of the package, then the copy stored as this node's.

A release is checked in order, nothing stored until all pass: the label names what the
catalogue knows; the custodian is the sender; the ciphertext is the one the sender's
signature binds to the label; a custodian that is not the originator shows the
originator's signed consent to release to this node; this node decides for itself
(rules 1-5 for its own cleared readers) on the day the package was made; the content
opens with this node's sealing key; and the originator's seal, checked with the
originator's keys, covers the label and the plaintext. Then the copy is stored with this
node as custodian and its own marking next to the original, and the package joins the
inbox. The releases of a batch are stored together, in one transaction, in their order;
once it commits, each is answered with its signed receipt (``acknowledge``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gsoia.audit.acknowledgement import RECEIVED
from gsoia.crypto import aead
from gsoia.crypto.errors import BadSignature, CryptoError, DecryptionFailed
from gsoia.crypto.seal import unseal
from gsoia.crypto.signing import binding_message, digest, verify_any
from gsoia.decision import Decision
from gsoia.decision.request import CategorizedLabel, label_problems
from gsoia.federation.packages import (
    Package,
    PackageRejected,
    Rejection,
    check_grant,
    created_at,
    unb64,
)
from gsoia.node import origin
from gsoia.node.exchange.acknowledge import Acknowledger, Ledger
from gsoia.node.exchange.bodies import ReleaseBody, read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import INSERT_INBOX, inbox_row, refusal, replay
from gsoia.node.item import Received
from gsoia.node.partners import partner_decision
from gsoia.node.taxii_store import record_received
from gsoia.node.versions import item_subject, versioned

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.columns import EncodedLabel
    from gsoia.node.service import Node

Outcome = dict[str, Any] | Exception


@dataclass(frozen=True)
class Arrival:
    """A release that passed every check (``Intake.check``), ready to store."""

    package: Package
    item: dict[str, Any]
    content: bytes
    decision: Decision
    marking: str
    origin_seal: bytes


class Intake:
    """Checking and storing the releases this node receives."""

    def __init__(self, node: Node, peers: PeerBook, acknowledger: Acknowledger) -> None:
        self.node = node
        self.peers = peers
        self.acknowledger = acknowledger

    def receive(self, package: Package) -> dict[str, Any]:
        """A release posted alone: checked, then stored in a transaction of its own."""
        arrival = self.check(package)
        ledger = Ledger()
        outcome = self.node.audit.batched(
            lambda tx: self.store_alone(ledger.begin(tx), arrival, ledger)
        )
        self.acknowledger.acknowledge(ledger)
        return outcome

    def check(self, package: Package) -> Arrival:
        """Every check of a release, in order (nothing stored); ``PackageRejected`` else."""
        node = self.node
        body = read_body(ReleaseBody, package)
        item = body.item.model_dump()
        label: CategorizedLabel = {
            "originator": item["originator"],
            "classification": item["classification"],
            "area": item["area"],
            "releasable_to": item["releasable_to"],
            "need_to_know": item["need_to_know"],
        }
        if item["categories"] is None:  # bound and sealed only where the label has them
            del item["categories"]
        else:
            label["categories"] = item["categories"]
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
                self.peers.signing_keys(package.sender),
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
        decision = partner_decision(
            node.rulebook,
            label,
            node.nation,
            custodian=package.sender,
            consented_to=consented,
            at=node.today_override or on,
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
            self.peers.signing_keys(label["originator"]),
            item,
            content,
            origin_seal,
            package.id,
        )
        assert decision.marking is not None  # an allowed release is marked
        return Arrival(package, item, content, decision, decision.marking.text, origin_seal)

    def _consents_for_me(
        self, grants: list[dict[str, Any]], item_id: str, originator: str, package: Package
    ) -> list[str]:
        if self.peers.known(originator) is None:
            raise PackageRejected(
                Rejection.NO_CONSENT,
                f"the originator {originator} is not a pinned peer: its consent cannot be checked",
                package.id,
            )
        nation = self.node.nation
        for grant in grants:
            checked = check_grant(grant, self.peers.signing_keys(originator))
            if (
                checked["item"] == item_id
                and checked["originator"] == originator
                and checked["custodian"] == package.sender
                and checked["to"] == nation
            ):
                return [nation]
        raise PackageRejected(
            Rejection.NO_CONSENT,
            f"{package.sender} may not release {originator}'s item to {nation}"
            f" without {originator}'s written consent",
            package.id,
        )

    # -- storing ------------------------------------------------------------------------------

    def stored_together(
        self,
        tx: AuditTransaction,
        run: list[Arrival | PackageRejected],
        ledger: Ledger,
        *,
        counted: bool,
    ) -> list[Outcome]:
        """Store the checked releases of a run and audit its refusals, in their order, in
        ``tx``; ``counted``: the refusals no pinned peer signed are counted by the caller,
        not audited here. Each release stored joins ``ledger``, to be acknowledged.

        The copies of the run are stored first, together (``Holdings.store_received_many``:
        one statement, one signature), then each entry is audited in the run's order.
        """
        arrivals = [entry for entry in run if isinstance(entry, Arrival)]
        held = self.node.vault.held(tx.connection, [a.item["id"] for a in arrivals])
        sorted_out: list[tuple[Arrival, bool] | PackageRejected] = []  # (arrival, held)
        stored: set[str] = set()
        for entry in run:
            if isinstance(entry, Arrival) and entry.package.id in stored:  # twice in the batch
                entry = replay(entry.package)
            if isinstance(entry, PackageRejected):
                sorted_out.append(entry)
                continue
            item_id = entry.item["id"]
            sorted_out.append((entry, item_id in held))
            stored.add(entry.package.id)
            held.add(item_id)
        new = [one[0] for one in sorted_out if isinstance(one, tuple) and not one[1]]
        copies = iter(self._copies(tx, new))
        received: list[dict[str, Any]] = []  # the inbox's rows, written together
        outcomes: list[Outcome] = []
        for one in sorted_out:
            if isinstance(one, PackageRejected):
                if not (one.anonymous and counted):
                    tx.append("package.refused", "inbox", refusal(one))
                outcomes.append(one)
                continue
            arrival, was_held = one
            copy = None if was_held else next(copies)
            outcomes.append(self._audited(tx, arrival, ledger, copy, inbox=received))
        if received:  # a package stored meanwhile by another request: this fails, all undone
            tx.connection.execute(INSERT_INBOX, received)
        return outcomes

    def store_alone(self, tx: AuditTransaction, arrival: Arrival, ledger: Ledger) -> dict[str, Any]:
        held = self.node.vault.held(tx.connection, [arrival.item["id"]])
        copy = None if held else self._copies(tx, [arrival])[0]
        return self._audited(tx, arrival, ledger, copy)

    def _copies(self, tx: AuditTransaction, arrivals: list[Arrival]) -> list[EncodedLabel]:
        """This node's copies of ``arrivals`` stored (with this node as custodian)."""
        if not arrivals:
            return []
        return self.node.store_received_many(
            tx,
            [
                Received(
                    a.item,
                    a.content,
                    sender=a.package.sender,
                    package_id=a.package.id,
                    marking=a.marking,
                    origin_seal=a.origin_seal,
                )
                for a in arrivals
            ],
        )

    def _audited(
        self,
        tx: AuditTransaction,
        arrival: Arrival,
        ledger: Ledger,
        copy: EncodedLabel | None,
        *,
        inbox: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Audit a checked release, stored as ``copy`` (None: the item was held already);
        its entry joins ``ledger`` (the receipt proves it).

        The package joins the inbox now, or joins ``inbox`` for the caller to write, with
        the seq of its entry (a package posted again is answered with its receipt again).
        """
        node = self.node
        package, item = arrival.package, arrival.item
        about = {"package": package.id, "item": item["id"]}
        if copy is None:
            seq = tx.append(
                RECEIVED,
                package.sender,
                about | {"status": "already held", "marking": arrival.marking},
            )
            outcome = {"status": "already held", "item": item["id"]}
        else:
            # a STIX object joins this node's TAXII collection, with the custodian's marking
            added = int(node.clock().timestamp() * 1_000_000)
            record_received(tx.connection, item["id"], copy.seq, arrival.content, added)
            seq = tx.append(
                RECEIVED,
                package.sender,
                versioned(
                    about
                    | {
                        "status": "stored",
                        "agreement": arrival.decision.agreement,
                        "marking": arrival.marking,
                    },
                    item_subject(item["id"]),
                    1,  # the copy's first version (``gsoia.node.versions``)
                ),
            )
            outcome = {"status": "stored", "item": item["id"], "marking": arrival.marking}
        row = inbox_row(package, item["id"], node.audit.now(), seq)
        if inbox is None:
            tx.connection.execute(INSERT_INBOX, row)
        else:
            inbox.append(row)
        ledger.add(outcome, package.id, seq, tx.appended(seq), arrival.marking)
        return outcome
