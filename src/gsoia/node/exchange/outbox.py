"""The outbox as its officers see it: what this node sends, and a delivery cancelled."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select, update

from gsoia.federation.courier import State
from gsoia.federation.packages import Kind
from gsoia.node.authority import Action
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.exchange.onward import outcome_notices
from gsoia.node.exchange.received import usable_id
from gsoia.node.naming import with_names
from gsoia.node.rotation import Announcer
from gsoia.node.users import User
from gsoia.store.schema import incidents, outbox

if TYPE_CHECKING:
    from gsoia.node.service import Node

_UNLISTED = ("payload", "claimed_by", "claimed_until")
"""Columns an outbox listing leaves out: the package itself, and which process holds it."""


class Outbox:
    """The packages this node sends: listed, cancelled, and what their delivery settles."""

    def __init__(self, node: Node, announcer: Announcer) -> None:
        self.node = node
        self.announcer = announcer

    def listed(self, user: User) -> list[dict[str, Any]]:
        """Every package, newest first, without its payload, its item named where the
        officer may read it (officers)."""
        self.node.require(user, Action.OUTBOX)
        with self.node.engine.connect() as connection:
            rows = connection.execute(select(outbox).order_by(outbox.c.created_at.desc()))
            listed = [{k: v for k, v in r._mapping.items() if k not in _UNLISTED} for r in rows]
        return with_names(self.node, user, listed)

    def cancel(self, user: User, package_id: str, note: str | None = None) -> dict[str, Any]:
        """Cancel a delivery not yet made (officers); ``note``: why, audited."""
        node = self.node
        node.require(user, Action.CANCEL)
        with node.audit.transaction() as tx:
            row = (
                tx.connection.execute(
                    select(outbox).where(outbox.c.package_id == package_id)
                ).first()
                if usable_id(package_id)
                else None
            )
            if row is None:
                raise NotFound(f"no package {package_id}")
            if row.state not in (State.PENDING, State.FAILED):
                raise Conflict(f"package {package_id} is {row.state}")
            now = node.audit.now()
            cancelled = tx.connection.execute(  # not while a process delivers it
                update(outbox)
                .where(outbox.c.package_id == package_id)
                .where(outbox.c.state == row.state)
                .where(or_(outbox.c.claimed_by.is_(None), outbox.c.claimed_until < now))
                .values(state=State.CANCELLED, claimed_by=None, claimed_until=None)
            )
            if cancelled.rowcount != 1:
                raise Conflict(f"package {package_id} is being delivered: try again")
            noted = {"note": note} if note else {}
            tx.append("package.cancelled", user.id, {"package": package_id, "to": row.peer} | noted)
            outcome_notices(tx, [(row, "cancelled", note)], now, user.id)  # if onward
            if row.kind == Kind.ROTATION.value:
                tx.on_commit(lambda: self.announcer.settled(row.peer))
        return {"package": package_id, "state": State.CANCELLED, "note": note}

    def delivered(self, connection: Connection, row: Any) -> None:
        """What a delivery settles: a rotation announced, an incident told."""
        if row.kind == Kind.ROTATION.value:
            self.announcer.settled(row.peer)
        if row.kind == Kind.INCIDENT.value:
            incident = json.loads(row.payload)["incident"]
            connection.execute(
                update(incidents)
                .where(incidents.c.id == incident)
                .values(notified_at=self.node.audit.now())
            )
