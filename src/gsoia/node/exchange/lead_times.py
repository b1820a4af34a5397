"""The lead time of requests for visits, per agreement: how many days before its first day
a request (other than an emergency) must be made.

An officer sets it for an agreement this node's nation is a party to (``gsoia visit
lead-time``, ``PUT /api/v1/visit-lead-times/{agreement}``): a whole number of days from 0
to ``MOST_DAYS``. The setting is the audit log's entry ``visit.lead_time`` (the latest
for that agreement holds), so every worker reads the same and a change is in the log that
partners witness; an agreement never set takes ``visit_lead_days_by_agreement`` of
``node.json``, then ``visit_lead_days`` (default 20).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from gsoia.errors import RequestError
from gsoia.node.authority import Action, Operator
from gsoia.node.users import User
from gsoia.store.schema import audit_entries

if TYPE_CHECKING:
    from gsoia.node.service import Node

ENTRY = "visit.lead_time"
MOST_DAYS = 365
"""A lead time longer than a year is a mistake, not a setting."""


def set_lead_times(connection: Connection) -> dict[str, int]:
    """The lead time officers set for each agreement (the latest entry of each)."""
    found: dict[str, int] = {}
    bodies = connection.execute(
        select(audit_entries.c.body)
        .where(audit_entries.c.kind == ENTRY)
        .order_by(audit_entries.c.seq.desc())
    ).scalars()
    for body in bodies:
        data = json.loads(body)["data"]
        found.setdefault(str(data["agreement"]), int(data["days"]))
    return found


class LeadTimes:
    """Each agreement's lead time for visits, as set here or in ``node.json``."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def days(self, agreement: str | None) -> int:
        """The lead time of a request under ``agreement`` (None: the node's default)."""
        if agreement is not None:
            with self.node.engine.connect() as connection:
                held = set_lead_times(connection)
            if agreement in held:
                return held[agreement]
        return self.node.config.lead_days(agreement)

    def listed(self, user: User | Operator) -> list[dict[str, Any]]:
        """Each agreement this nation is a party to, with its lead time and where it comes
        from: ``set`` (by an officer), ``node.json`` or ``default`` (officer)."""
        node = self.node
        node.require(user, Action.VISITS)
        with node.engine.connect() as connection:
            held = set_lead_times(connection)
        today = node.today()
        found = []
        for agreement in node.rulebook.catalogue.agreements:
            if node.nation not in agreement.parties:
                continue
            status = agreement.status_on(today)
            if agreement.id in held:
                days, source = held[agreement.id], "set"
            elif agreement.id in node.config.visit_lead_days_by_agreement:
                days, source = node.config.lead_days(agreement.id), "node.json"
            else:
                days, source = node.config.visit_lead_days, "default"
            found.append(
                {
                    "agreement": agreement.id,
                    "parties": list(agreement.parties),
                    "status": status.value if status is not None else None,
                    "days": days,
                    "source": source,
                }
            )
        return found

    def set(self, user: User | Operator, agreement_id: str, days: int) -> dict[str, Any]:
        """Set the lead time of visits under an agreement of this nation, audited (officer)."""
        node = self.node
        node.require(user, Action.VISITS)
        agreement = node.rulebook.catalogue.agreement(agreement_id)
        if agreement is None or node.nation not in agreement.parties:
            raise RequestError.of("agreement", f"no agreement {agreement_id} of {node.nation}")
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MOST_DAYS:
            raise RequestError.of("days", f"a whole number of days from 0 to {MOST_DAYS}")
        before = self.days(agreement_id)
        node.audit.record(
            ENTRY, user.id, {"agreement": agreement_id, "days": days, "before": before}
        )
        return {"agreement": agreement_id, "days": days, "before": before}
