"""Incidents: the loss or compromise of an item, reported and shown (Art. 17).

An incident about an item held for another originator must be told to it within the
agreed deadline (``NodeConfig.incident_deadline_hours``); the exchange sends the notice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from gsoia.errors import RequestError
from gsoia.node.authority import Action
from gsoia.node.errors import NotFound
from gsoia.node.item import find_item
from gsoia.node.naming import with_names
from gsoia.node.users import User
from gsoia.store.schema import incident_steps, incidents

if TYPE_CHECKING:
    from gsoia.node.service import Node

INCIDENT_KINDS = ("loss", "compromise", "possible_loss", "possible_compromise")
MAX_DESCRIPTION = 10_000


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class Incidents:
    """Reporting incidents, and the officers' view of them."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def report(
        self,
        user: User,
        item_id: str,
        kind: str,
        description: str,
        notify: Callable[[Connection, dict[str, Any], str], None] | None = None,
    ) -> dict[str, Any]:
        """Report the loss or compromise of an item the reporter may see (Art. 17)."""
        node = self.node
        node.require(user, Action.REPORT_INCIDENT)
        if kind not in INCIDENT_KINDS:
            raise RequestError.of("kind", f"one of {', '.join(INCIDENT_KINDS)}")
        if len(description) > MAX_DESCRIPTION:
            raise RequestError.of("description", f"at most {MAX_DESCRIPTION} characters")
        if "\x00" in description:
            raise RequestError.of("description", "NUL characters are not accepted")
        with node.audit.transaction() as tx:
            item = find_item(tx.connection, item_id)
            verdict = (
                None
                if item is None
                else node.holdings.verdict_on(user, Action.REPORT_INCIDENT, item)
            )
            if item is None or verdict is None or not verdict.allowed:
                missing = True
            else:
                missing = False
                now = node.clock()
                incident = {
                    "id": str(uuid.uuid4()),
                    "item_id": item_id,
                    "kind": kind,
                    "description": description,
                    "reported_by": user.id,
                    "reported_at": iso(now),
                    "notify_by": iso(now + dt.timedelta(hours=node.config.incident_deadline_hours)),
                    "notified_at": None,
                }
                if item.originator == node.nation:  # the originator is this node: told now
                    incident["notified_at"] = incident["reported_at"]
                tx.connection.execute(insert(incidents).values(**incident))
                if notify is not None:  # the notice to the originator, in this transaction
                    notify(tx.connection, incident, item.originator)
                tx.append(
                    "incident.reported",
                    user.id,
                    {"incident": incident["id"], "item": item_id, "kind": kind},
                )
        if missing:
            raise NotFound(f"no item {item_id}")
        return self._view(incident)

    def shown(self, user: User) -> list[dict[str, Any]]:
        """Every incident, newest first, with the time left before the originator must be
        told, its steps, and its item's title and marking where the officer may read it."""
        node = self.node
        node.require(user, Action.INCIDENTS)
        with node.engine.connect() as connection:
            rows = connection.execute(
                select(incidents).order_by(incidents.c.reported_at.desc())
            ).all()
            readable = node.holdings.readable(connection, user, {r.item_id for r in rows})
            steps: dict[str, list[dict[str, Any]]] = {}
            for step in connection.execute(select(incident_steps).order_by(incident_steps.c.seq)):
                steps.setdefault(step.incident_id, []).append(
                    {"state": step.state, "by": step.by, "at": step.at, "note": step.note}
                )
        views = []
        for row in rows:
            view = self._view(dict(row._mapping)) | {"steps": steps.get(row.id, [])}
            if row.item_id not in readable:  # what it says of an item the officer may not read
                view["description"] = None
                view["withheld"] = ["description"]
            views.append(view)
        return with_names(node, user, views)

    def _view(self, incident: dict[str, Any]) -> dict[str, Any]:
        clock = self.node.clock
        deadline = dt.datetime.fromisoformat(incident["notify_by"])
        overdue = incident["notified_at"] is None and clock() > deadline
        left = (deadline - clock()).total_seconds()
        state = incident.get("state") or "reported"
        return incident | {
            "overdue": overdue,
            "seconds_left": max(0, int(left)),
            "state": state,
            "open": state != "closed",
        }
