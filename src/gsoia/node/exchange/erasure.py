"""Personal data erased a set time after the visits (``NodeConfig.personal_retention_days``).

An assurance's personal data (the person's name and birth data) is erased from the live
tables once the retention has passed since the last day of the latest visit that named
it, or, for an assurance no visit named, since it expired or was withdrawn. A visit's
tokens not yet shown and its visitors' accounts go with it. What stays is what the audit
log always held: ids. Each erasure is audited (``personal.erased``, the ids only). The
visitors' accounts past their visit's last day are removed first (``visitors.remove_past``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from gsoia.node.visitors import end_accounts, remove_past
from gsoia.store.schema import assurances, visit_tokens, visitor_accounts, visits

if TYPE_CHECKING:
    from gsoia.node.service import Node


def erase_personal(node: Node, today: dt.date | None = None) -> dict[str, list[str]]:
    """Erase what is due on ``today`` (default: the node's today); what was erased."""
    day = today or node.today()
    remove_past(node, day)
    cutoff = (day - dt.timedelta(days=node.config.personal_retention_days)).isoformat()
    with node.engine.connect() as connection:
        held = connection.execute(
            select(assurances.c.id, assurances.c.expires, assurances.c.withdrawn_at).where(
                assurances.c.personal.is_not(None)
            )
        ).all()
        every_visit = connection.execute(
            select(visits.c.id, visits.c.visitors, visits.c.last_day)
        ).all()
    latest: dict[str, str] = {}
    for visit in every_visit:
        for assurance_id in json.loads(visit.visitors):
            latest[assurance_id] = max(latest.get(assurance_id, ""), visit.last_day)
    due = [a.id for a in held if _over(a, latest.get(a.id), cutoff)]
    ended = [v.id for v in every_visit if v.last_day < cutoff]
    if not due and not _leftovers(node, ended):
        return {"assurances": [], "visits": []}
    with node.audit.transaction() as tx:
        if due:
            tx.connection.execute(
                update(assurances).where(assurances.c.id.in_(due)).values(personal=None)
            )
        if ended:
            tx.connection.execute(delete(visit_tokens).where(visit_tokens.c.visit_id.in_(ended)))
            end_accounts(node, tx, "node", visitor_accounts.c.visit_id.in_(ended))
        tx.append("personal.erased", "node", {"assurances": due, "visits": ended})
    return {"assurances": due, "visits": ended}


def _over(assurance: Any, last_visit: str | None, cutoff: str) -> bool:
    """Whether an assurance's personal data is past its retention."""
    if last_visit is not None:
        return last_visit < cutoff
    withdrawn = (assurance.withdrawn_at or "9999")[:10]
    return assurance.expires < cutoff or withdrawn < cutoff


def _leftovers(node: Node, ended: list[str]) -> bool:
    """Whether visits ended long ago still have tokens or accounts."""
    if not ended:
        return False
    with node.engine.connect() as connection:
        tokens = connection.execute(
            select(visit_tokens.c.visit_id).where(visit_tokens.c.visit_id.in_(ended)).limit(1)
        ).first()
        accounts = connection.execute(
            select(visitor_accounts.c.user_id)
            .where(visitor_accounts.c.visit_id.in_(ended))
            .limit(1)
        ).first()
    return tokens is not None or accounts is not None
