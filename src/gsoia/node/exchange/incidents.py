"""Incident notices: a loss or compromise of an item is told to its originator at once.

The reporter's node records the incident (``Node.report_incident``) and, in the same
transaction, puts a notice for the originator's node in the outbox; the originator's node
records it as told. The deadline to tell is a setting (``incident_deadline_hours``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from gsoia.federation.courier import Courier, enqueue
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection
from gsoia.node.exchange.bodies import IncidentBody, read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import held_by_sender, record
from gsoia.node.users import User
from gsoia.store.schema import incidents

if TYPE_CHECKING:
    from gsoia.node.service import Node


class IncidentNotices:
    """Incidents reported here, told to the originator; and notices received."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier

    def report(self, user: User, item_id: str, kind: str, description: str) -> dict[str, Any]:
        """Report a loss or compromise; a notice travels to the originator's node (Art. 17)."""

        def notify(connection: Connection, incident: dict[str, Any], originator: str) -> None:
            if originator == self.node.nation or self.peers.cached(originator) is None:
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

    def receive(self, package: Package) -> dict[str, Any]:
        """The originator's node: an incident about one of its items, recorded as told."""
        node = self.node
        body = read_body(IncidentBody, package)
        with node.audit.transaction() as tx:
            held_by_sender(tx.connection, node.nation, body.item, package)
            repeated = tx.connection.execute(
                select(incidents.c.id).where(incidents.c.id == body.incident)
            ).first()
            if repeated is not None:
                raise PackageRejected(
                    Rejection.REPLAY, f"incident {body.incident} exists", package.id
                )
            record(tx.connection, package, body.item, node.audit.now())
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
                    reported_from=package.sender,
                )
            )
            tx.append(
                "incident.received",
                package.sender,
                {"incident": body.incident, "item": body.item, "kind": body.kind},
            )
        return {"status": "recorded", "incident": body.incident}
