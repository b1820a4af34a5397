"""A request for a visit the host's node refused on arrival, shown on the visit.

CAN's request reaches JPN's inbox, which may refuse it before any officer sees it: a
visitor without a valid assurance there, areas beyond an assurance, no agreement in force
at the host, a first day sooner than the host's lead time. The courier marks the package
refused; in that same transaction the visit CAN requested becomes ``refused``, its note
``refused by JPN's node: <reason>``, audited as ``visit.refused_on_arrival`` (ids and the
host's reason only). A visit answered or cancelled meanwhile keeps its state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import update

from gsoia.audit.log import AuditTransaction
from gsoia.federation.outbox import State
from gsoia.federation.packages import Kind
from gsoia.federation.posting import Outcome
from gsoia.node.exchange.visits import REFUSED, REQUESTED
from gsoia.store.schema import visits


def refusal_note(host: str, reason: str | None) -> str:
    """The note a visit refused on arrival shows."""
    return f"refused by {host}'s node: {reason or 'no reason given'}"


def requests_refused(tx: AuditTransaction, outcomes: Sequence[Outcome], now: str) -> None:
    """Each request for a visit among the packages settled that the host's node refused:
    its visit refused, with the host's reason (in the transaction that settles them)."""
    for o in outcomes:
        if o.state != State.FAILED or o.row.kind != Kind.VISIT_REQUEST.value:
            continue
        visit_id = str(json.loads(o.row.payload)["visit"])
        note = refusal_note(o.row.peer, o.reason)
        done = tx.connection.execute(
            update(visits)
            .where(visits.c.id == visit_id)
            .where(visits.c.state == REQUESTED)
            .values(state=REFUSED, note=note, decided_by=o.row.peer, decided_at=now)
        )
        if done.rowcount == 1:
            tx.append(
                "visit.refused_on_arrival",
                "courier",
                {
                    "visit": visit_id,
                    "by": o.row.peer,
                    "package": o.row.package_id,
                    "reason": o.reason,
                },
            )
