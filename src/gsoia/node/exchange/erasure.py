"""Personal data erased a set time after the visits (``NodeConfig.personal_retention_days``).

An assurance's personal data (the person's name and birth data) is erased from the live
tables once the retention has passed since the last day of the latest visit that named
it, or, for an assurance no visit named, since it expired or was withdrawn. A visit's
tokens not yet shown and its visitors' accounts go with it. What stays is what the audit
log always held: ids. Each erasure is audited (``personal.erased``, the ids only). The
visitors' accounts past their visit's last day are removed first (``visitors.remove_past``).
A served node erases on its own (``ErasureRounds``, hourly); officers'
listings of assurances and visits and ``gsoia visit erase`` erase too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from gsoia.node.visitors import end_accounts, remove_past
from gsoia.store.schema import assurances, visit_tokens, visitor_accounts, visits

if TYPE_CHECKING:
    from gsoia.node.service import Node

log = logging.getLogger("gsoia.exchange")
ERASURE_INTERVAL = 3600.0
"""Seconds between two rounds of ``ErasureRounds`` (a visit's days are whole days)."""


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
    with node.audit.transaction() as tx:  # (another worker's round may have done it since)
        erased = list(
            tx.connection.execute(
                select(assurances.c.id)
                .where(assurances.c.id.in_(due))
                .where(assurances.c.personal.is_not(None))
            ).scalars()
        )
        if erased:
            tx.connection.execute(
                update(assurances).where(assurances.c.id.in_(erased)).values(personal=None)
            )
        dropped = 0
        accounts: list[str] = []
        if ended:
            dropped = tx.connection.execute(
                delete(visit_tokens).where(visit_tokens.c.visit_id.in_(ended))
            ).rowcount
            accounts = end_accounts(node, tx, "node", visitor_accounts.c.visit_id.in_(ended))
        if not (erased or dropped or accounts):
            return {"assurances": [], "visits": []}
        tx.append("personal.erased", "node", {"assurances": erased, "visits": ended})
    return {"assurances": erased, "visits": ended}


class ErasureRounds:
    """Erases what is due (``erase_personal``) in a background thread while the node
    serves, every ``interval`` seconds (or when woken), so that the accounts of a
    visit past and the personal data past its retention go without an officer."""

    def __init__(self, node: Node, interval: float = ERASURE_INTERVAL) -> None:
        self.node = node
        self.interval = interval
        self.rounds = 0
        """Rounds run so far (``wait_for``)."""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            self._wake.wait(self.interval)  # (a node just started: its token checks by date)
            self._wake.clear()
            while not self._stop.is_set():
                with self._done:
                    self._running = True
                try:
                    erase_personal(self.node)
                except Exception:  # the next round tries again
                    log.exception("erasure: nothing erased this round")
                with self._done:
                    self.rounds += 1
                    self._running = False
                    self._done.notify_all()
                self._wake.wait(self.interval)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="gsoia-erasure", daemon=True)
        self._thread.start()

    def wake(self) -> int:
        """Run a round now (after the one running, if any); the number it will have (for
        ``wait_for``)."""
        with self._done:
            after = self.rounds + (2 if self._running else 1)
        self._wake.set()
        return after

    def wait_for(self, rounds: int, timeout: float) -> bool:
        """Wait until ``rounds`` rounds have run; whether they have."""
        with self._done:
            return self._done.wait_for(lambda: self.rounds >= rounds, timeout)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


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
