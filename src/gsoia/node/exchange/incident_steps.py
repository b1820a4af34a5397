"""Incidents as a workflow: reported, acknowledged, under investigation, closed.

An officer of the node the incident was reported on takes each step, in that order, with
a note; each step is recorded (``incident_steps``), audited, and told to the item's
originator's node (``Kind.INCIDENT_STEP``), which records it against the incident it was
told of. The originator's node takes no step on an incident it was told of: the reporting
node handles it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from gsoia.errors import RequestError
from gsoia.federation.courier import Courier, enqueue
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection
from gsoia.node.authority import Action
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.exchange.bodies import IncidentStepBody, read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import record, usable_id
from gsoia.node.item import find_item
from gsoia.node.users import User
from gsoia.store.schema import incident_steps, incidents

if TYPE_CHECKING:
    from gsoia.node.service import Node

STEPS = ("reported", "acknowledged", "investigating", "closed")
"""An incident's states, in the order its steps take it through them."""
MAX_NOTE = 2000


def check_step(current: str, state: str) -> None:
    """``Conflict`` unless ``state`` comes after ``current`` (``STEPS``)."""
    if STEPS.index(state) <= STEPS.index(current):
        raise Conflict(f"the incident is already {current}: it cannot become {state}")


def write_step(
    connection: Connection, incident_id: str, state: str, by: str, at: str, note: str
) -> None:
    connection.execute(update(incidents).where(incidents.c.id == incident_id).values(state=state))
    connection.execute(
        insert(incident_steps).values(incident_id=incident_id, state=state, by=by, at=at, note=note)
    )


class IncidentSteps:
    """Steps taken here on incidents reported here, and those told by reporting nodes."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier

    def step(self, user: User, incident_id: str, state: str, note: str) -> dict[str, Any]:
        """Take an incident reported here to ``state``, with a note; its originator is told."""
        node = self.node
        node.require(user, Action.HANDLE_INCIDENT)
        if state not in STEPS[1:]:
            raise RequestError.of("state", f"one of {', '.join(STEPS[1:])}")
        note = note.strip()
        if not note or len(note) > MAX_NOTE or "\x00" in note:
            raise RequestError.of("note", f"a note of 1 to {MAX_NOTE} characters")
        package_id = None
        with node.audit.transaction() as tx:
            row = (
                tx.connection.execute(
                    select(incidents).where(incidents.c.id == incident_id)
                ).first()
                if usable_id(incident_id)
                else None
            )
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            if row.reported_from is not None:
                raise Conflict(f"incident {incident_id} is handled by {row.reported_from}'s node")
            check_step(row.state, state)
            now = node.audit.now()
            write_step(tx.connection, incident_id, state, user.id, now, note)
            item = find_item(tx.connection, row.item_id)
            originator = item.originator if item is not None else node.nation
            if originator != node.nation and self.peers.cached(originator) is not None:
                package_id = str(uuid.uuid4())
                enqueue(
                    tx.connection,
                    package_id=package_id,
                    kind=Kind.INCIDENT_STEP,
                    peer=originator,
                    body={
                        "incident": incident_id,
                        "item": row.item_id,
                        "state": state,
                        "note": note,
                        "by": user.id,
                        "at": now,
                    },
                    item_id=row.item_id,
                    now=now,
                )
            tx.append(
                "incident.step",
                user.id,
                {"incident": incident_id, "item": row.item_id, "state": state, "note": note},
            )
        told = None
        if package_id is not None:
            told = {"nation": originator, "state": self.courier.deliver(package_id).state}
        return {"incident": incident_id, "state": state, "by": user.id, "at": now, "told": told}

    def receive(self, package: Package) -> dict[str, Any]:
        """The originator's node: a step the reporting node took on an incident it told."""
        node = self.node
        body = read_body(IncidentStepBody, package)
        with node.audit.transaction() as tx:
            row = tx.connection.execute(
                select(incidents).where(incidents.c.id == body.incident)
            ).first()
            if row is None or row.reported_from != package.sender or row.item_id != body.item:
                raise PackageRejected(
                    Rejection.UNKNOWN_ITEM,
                    f"{package.sender} told no incident {body.incident} about {body.item}",
                    package.id,
                )
            try:
                check_step(row.state, body.state)
            except Conflict as e:
                raise PackageRejected(Rejection.REFUSED, str(e), package.id) from e
            record(tx.connection, package, body.item, node.audit.now())
            by = f"{package.sender}/{body.by}"
            write_step(tx.connection, body.incident, body.state, by, body.at, body.note)
            tx.append(
                "incident.step_received",
                package.sender,
                {"incident": body.incident, "item": body.item, "state": body.state},
            )
        return {"status": "recorded", "state": body.state}
