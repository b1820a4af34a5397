"""Downgrade and declassification: only the originator changes a classification, and every
custodian is told (Art. 6(g)).

The originator's officer reclassifies (the authority: it may read the item at its level
and at the new one); the item is re-signed with a new originator's seal, and a notice with
that seal goes to each peer it was released to and to each third party it consented to (a
custodian may have passed it on to them; one that holds no copy refuses the notice). A
third party that is no pinned peer cannot be told: it is named in the answer and in the
audit entry. A custodian checks the new seal with the originator's keys and re-marks its
copy with its own equivalent of the new level.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gsoia.decision.categories import category_problems
from gsoia.decision.request import categories_of
from gsoia.errors import RequestError
from gsoia.federation.courier import Courier, enqueue
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection
from gsoia.node import origin
from gsoia.node.authority import Action
from gsoia.node.errors import NotFound
from gsoia.node.exchange.bodies import ReclassifyBody, read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import record
from gsoia.node.item import find_item, item_label
from gsoia.node.partners import partner_decision
from gsoia.node.users import User
from gsoia.store.schema import consents, releases

if TYPE_CHECKING:
    from gsoia.node.service import Node


class Reclassifications:
    """Classifications changed here (the originator), and re-markings (a custodian)."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier

    def reclassify(self, user: User, item_id: str, classification: str) -> dict[str, Any]:
        """Change an item's classification; every custodian is told."""
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
            excluded = category_problems(
                node.rulebook.catalogue.policies[node.nation],
                classification,
                categories_of(item_label(row)) or {},
                "classification",
            )
            if excluded:  # a category of the item not allowed at the new level
                raise RequestError(excluded)
            new_seal = origin.make_seal(
                node.keys.signing,
                origin.origin_fields(row._asdict() | {"classification": classification}),
                node.decrypt(row),
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
            third_parties = sorted(p for p in consented if self.peers.known(p) is not None)
            not_pinned = sorted(consented - set(third_parties))
            for custodian in [*custodians, *third_parties]:
                package_id = str(uuid.uuid4())
                sealing = self.peers.required(custodian).keys.sealing
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

    def receive(self, package: Package) -> dict[str, Any]:
        """A custodian: the originator's new classification, its copy re-marked."""
        node = self.node
        body = read_body(ReclassifyBody, package)
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
            fields = row._asdict() | {"classification": body.classification}
            origin.check_seal(
                self.peers.signing_keys(package.sender),
                origin.origin_fields(fields),
                node.decrypt(row),
                new_seal,
                package.id,
            )
            record(tx.connection, package, body.item, node.audit.now())
            relabelled = item_label(row)
            relabelled["classification"] = body.classification
            decision = partner_decision(
                node.rulebook,
                relabelled,
                node.nation,
                custodian=row.custodian,
                consented_to=json.loads(row.consented_to),
                at=node.today(),
            )
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
