"""What came of posting packages, written down: each delivered, unacknowledged, refused or
to be tried again.

A release the peer took is delivered only with a receipt that verifies
(``federation.acknowledgements``), kept in the transaction that marks it. Every change is
guarded by the state it expects: a package settled meanwhile by another process (its claim
had expired), or cancelled, keeps its state, and is reported as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from gsoia.audit.log import AuditLog, AuditTransaction
from gsoia.federation.acknowledgements import Acknowledgements, keep, proven
from gsoia.federation.claims import Claims, stamp
from gsoia.federation.outbox import (
    BY_IDS,
    MARK_DELIVERED,
    MARK_FAILED,
    MARK_RETRY,
    MARK_UNACKNOWLEDGED,
    NOT_BEFORE_NOW,
    State,
    backoff,
    tell_courier,
)
from gsoia.federation.posting import Attempt, Outcome
from gsoia.store.database import writing

log = logging.getLogger("gsoia.courier")


class Settlement:
    """Marks the outcomes of a courier's postings in the outbox, audited."""

    def __init__(
        self,
        *,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        claims: Claims,
        on_delivered: Callable[[Connection, Any], None],
        wake: Callable[[], None],
        acknowledgements: Acknowledgements | None,
        on_settled: Callable[[AuditTransaction, list[Outcome], str], None] | None = None,
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.claims = claims
        self.on_delivered = on_delivered
        """What a package's first delivery settles (in the transaction that marks it)."""
        self.wake = wake
        """Wakes the delivery loop: the peer answers again."""
        self.acknowledgements = acknowledgements
        """Checks the receipts of releases (None: a release the peer takes is delivered)."""
        self.on_settled = on_settled
        """What the packages marked settle (in the transaction that marks them, with its
        time): a custodian's onward release told to the originator (``exchange.onward``)."""

    def settle(self, outcomes: list[Outcome]) -> list[Attempt]:
        """Mark each package delivered, unacknowledged, refused (one transaction, audited)
        or to retry; a release the peer took is delivered only with a receipt that verifies
        (``federation.acknowledgements``), kept in that transaction.

        Each only if it is still pending (or unacknowledged): one settled meanwhile by
        another process (its claim had expired), or cancelled, keeps its state, and is
        reported as it is.
        """
        if self.acknowledgements is not None:
            outcomes = self.acknowledgements.checked(outcomes)
        final = [o for o in outcomes if o.state != State.PENDING]
        marked: set[str] = set()
        if final:
            marked = self.audit.batched(lambda tx: self._settled(tx, final))
            self.claims.forget(o.row.package_id for o in final)
        retries = [o for o in outcomes if o.state == State.PENDING]
        if retries:
            self._retry(retries)
        attempts = [Attempt(o.row.package_id, o.state, o.reason) for o in outcomes]
        unmarked = [o.row.package_id for o in final if o.row.package_id not in marked]
        if unmarked:
            states = self._states(unmarked)
            for package_id in unmarked:
                log.warning(
                    "courier: package %s was posted but is %s already",
                    package_id,
                    states.get(package_id, "unknown"),
                )
            attempts = [
                Attempt(a.package_id, states.get(a.package_id, "unknown"))
                if a.package_id in unmarked
                else a
                for a in attempts
            ]
        return attempts

    def _states(self, package_ids: list[str]) -> dict[str, str]:
        with self.audit.engine.connect() as connection:
            rows = connection.execute(BY_IDS, {"ids": package_ids}).all()
        return {row.package_id: row.state for row in rows}

    def _settled(self, tx: AuditTransaction, outcomes: list[Outcome]) -> set[str]:
        """Mark the packages still pending (or unacknowledged); those marked (and audited)."""
        now = self.audit.now()
        marked = self._delivered(tx, [o for o in outcomes if o.state == State.DELIVERED], now)
        clock = self.clock()
        for o in outcomes:
            if o.state == State.UNACKNOWLEDGED:
                due = stamp(clock + backoff(o.row.attempts + 1))
                about = {"p": o.row.package_id, "at": now, "due": due, "e": o.reason}
                done = tx.connection.execute(MARK_UNACKNOWLEDGED, about).first()
            elif o.state == State.FAILED:
                done = tx.connection.execute(
                    MARK_FAILED, {"p": o.row.package_id, "e": o.reason}
                ).first()
            else:
                continue
            if done is not None:
                marked.add(o.row.package_id)
        for o in outcomes:
            if o.row.package_id in marked:
                self._audited(tx, o)
        if self.on_settled is not None and marked:
            self.on_settled(tx, [o for o in outcomes if o.row.package_id in marked], now)
        return marked

    def _delivered(self, tx: AuditTransaction, delivered: list[Outcome], now: str) -> set[str]:
        """Mark these delivered and keep their receipts; those marked."""
        marked: set[str] = set()
        if not delivered:
            return marked
        ids = [o.row.package_id for o in delivered]
        for start in range(0, len(ids), 500):
            marked.update(
                tx.connection.execute(
                    MARK_DELIVERED, {"ids": ids[start : start + 500], "at": now}
                ).scalars()
            )
        delivered = [o for o in delivered if o.row.package_id in marked]
        keep(tx.connection, delivered, now)
        # the peer answers again: what waits for it need not wait out its backoff
        # (only the packages still backing off: those already due are left as they are)
        for peer in dict.fromkeys(o.row.peer for o in delivered):
            tx.connection.execute(NOT_BEFORE_NOW, {"to_peer": peer, "now": now})
        tx.on_commit(self.wake)
        return marked

    def _audited(self, tx: AuditTransaction, o: Outcome) -> None:
        """A package marked: on its first delivery, what that settles; its entries."""
        row = o.row
        about: dict[str, Any] = {"package": row.package_id, "kind": row.kind, "to": row.peer}
        first = row.state == State.PENDING  # delivered now (unacknowledged: before)
        if first and o.state in (State.DELIVERED, State.UNACKNOWLEDGED):
            self.on_delivered(tx.connection, row)
        receipt = {} if o.acknowledgement is None else {"receipt": proven(o.acknowledgement)}
        if o.state == State.DELIVERED:
            tx.append(
                "package.delivered" if first else "package.acknowledged", "courier", about | receipt
            )
        elif o.state == State.UNACKNOWLEDGED:
            if first:
                tx.append("package.delivered", "courier", about)
            tx.append("package.unacknowledged", "courier", about | {"reason": o.reason})
        else:
            tx.append("package.refused_by_peer", "courier", about | {"reason": o.reason})

    def _retry(self, outcomes: list[Outcome]) -> None:
        clock = self.clock()
        held = self.claims.tokens(o.row.package_id for o in outcomes)
        mine = [o for o in outcomes if held[o.row.package_id]]
        if mine:
            with writing(self.audit.engine) as connection:
                connection.execute(
                    MARK_RETRY,
                    [
                        {
                            "p": o.row.package_id,
                            "by": held[o.row.package_id],
                            "n": o.row.attempts + 1,
                            "due": stamp(clock + backoff(o.row.attempts + 1)),
                            "e": o.reason,
                        }
                        for o in mine
                    ],
                )
                tell_courier(connection)  # when to try again: the loop's, wherever it runs
        self.claims.forget(o.row.package_id for o in mine)
