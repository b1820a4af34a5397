"""The host's other answers: it asks for more on a request, or ends an approved visit early.

JPN's officer, seeing CAN's request, may ask for more with a note instead of deciding
(``ASKED``); the note travels back, and CAN's officer may answer with an amendment (a
request of kind ``amendment`` naming it, ``gsoia.node.exchange.visits``), which replaces it
at both nodes. JPN's officer may also end an approved visit before its last day
(``ENDED``): the visitors' accounts are removed in the same transaction, so every worker
refuses their tokens from then on (``gsoia.node.accounts``), and CAN is told; the tokens
CAN had not yet shown are dropped. An admin who removes one visitor's account by hand
(``gsoia user remove``, ``DELETE /api/v1/users/{id}``) has CAN told too
(``visitor_removed``): CAN drops that visitor's token, shown or not.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from gsoia.errors import RequestError
from gsoia.federation.courier import Courier
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection
from gsoia.node.authority import Action, Operator
from gsoia.node.errors import Conflict
from gsoia.node.exchange.assurances import tell
from gsoia.node.exchange.bodies import read_body
from gsoia.node.exchange.received import record
from gsoia.node.exchange.visit_bodies import VisitorRemovedBody, VisitStepBody
from gsoia.node.exchange.visits import (
    APPROVED,
    ASKED,
    ENDED,
    REQUESTED,
    found_visit,
    visit_here,
    visit_told,
)
from gsoia.node.users import User
from gsoia.node.visitors import end_accounts
from gsoia.store.schema import visit_tokens, visitor_accounts, visits

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.service import Node

STEPS = {
    Kind.VISIT_MORE_ASKED: (REQUESTED, ASKED, "visit.more_asked"),
    Kind.VISIT_ENDED: (APPROVED, ENDED, "visit.ended"),
}
"""Each step: the state it takes a visit from, the state it leaves it in, its entry."""


class VisitSteps:
    """The host asks for more or ends a visit; the visiting node hears it."""

    def __init__(self, node: Node, courier: Courier) -> None:
        self.node = node
        self.courier = courier

    def ask(self, user: User | Operator, visit_id: str, note: str) -> dict[str, Any]:
        """Ask the visiting party for more on a request to this node, saying what (officer)."""
        if not note.strip():
            raise RequestError.of("note", "say what more the request needs")
        return self._step(user, visit_id, note, Kind.VISIT_MORE_ASKED)

    def end(self, user: User | Operator, visit_id: str, note: str) -> dict[str, Any]:
        """End an approved visit to this node now: its visitors' accounts removed (officer)."""
        return self._step(user, visit_id, note, Kind.VISIT_ENDED)

    def _step(self, user: User | Operator, visit_id: str, note: str, kind: Kind) -> dict[str, Any]:
        node = self.node
        node.require(user, Action.VISITS)
        before, after, entry = STEPS[kind]
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            row = visit_here(tx.connection, visit_id, host=node.nation)
            if row.state != before:
                raise Conflict(f"visit {visit_id} is {row.state}, not {before}")
            ended = []
            if kind == Kind.VISIT_ENDED:
                ended = end_accounts(node, tx, user.id, visitor_accounts.c.visit_id == visit_id)
            now = node.audit.now()
            tx.connection.execute(
                update(visits)
                .where(visits.c.id == visit_id)
                .values(state=after, note=note, decided_by=user.id, decided_at=now)
            )
            body = {"visit": visit_id, "note": note}
            tell(tx.connection, package_id, kind, row.visitor_nation, body, now)
            tx.append(entry, user.id, {"visit": visit_id, "package": package_id, "accounts": ended})
        attempt = self.courier.deliver(package_id)
        return {"id": visit_id, "state": after, "accounts": ended, "delivery": attempt.state}

    def receive(self, package: Package) -> dict[str, Any]:
        """The host asked for more, or ended the visit: the visit here follows."""
        node = self.node
        kind = package.kind
        before, after, entry = STEPS[kind]
        body = read_body(VisitStepBody, package)
        with node.audit.transaction() as tx:
            row = visit_told(tx.connection, package, body.visit, host=package.sender)
            if row.state != before:
                raise PackageRejected(
                    Rejection.REPLAY, f"visit {body.visit} is {row.state}", package.id
                )
            record(tx.connection, package, None, node.audit.now())
            tx.connection.execute(
                update(visits).where(visits.c.id == body.visit).values(state=after, note=body.note)
            )
            if kind == Kind.VISIT_ENDED:
                tx.connection.execute(
                    update(visit_tokens)
                    .where(visit_tokens.c.visit_id == body.visit)
                    .values(sealed=None)
                )
            tx.append(f"{entry}_received", package.sender, {"visit": body.visit})
        return {"status": after, "visit": body.visit}

    def tell_removed(self, tx: AuditTransaction, actor_id: str, user_id: str) -> str | None:
        """Tell the visiting party, in ``tx``, that an admin removes the visitor's account
        ``user_id`` (before its row of days goes); the package's id, None if it had no row."""
        node = self.node
        row = tx.connection.execute(
            select(visitor_accounts.c.visit_id, visitor_accounts.c.person_id).where(
                visitor_accounts.c.user_id == user_id
            )
        ).first()
        visit = None if row is None else found_visit(tx.connection, row.visit_id)
        if row is None or visit is None:
            return None
        package_id = str(uuid.uuid4())
        body = {"visit": row.visit_id, "person_id": row.person_id}
        tell(
            tx.connection,
            package_id,
            Kind.VISITOR_REMOVED,
            visit.visitor_nation,
            body,
            node.audit.now(),
        )
        tx.append(
            "visit.visitor_removed",
            actor_id,
            {"visit": row.visit_id, "person": row.person_id, "package": package_id},
        )
        return package_id

    def receive_removal(self, package: Package) -> dict[str, Any]:
        """The host removed one visitor's account: that visitor's token is dropped here."""
        node = self.node
        body = read_body(VisitorRemovedBody, package)
        with node.audit.transaction() as tx:
            row = visit_told(tx.connection, package, body.visit, host=package.sender)
            held = (visit_tokens.c.visit_id == body.visit) & (
                visit_tokens.c.person_id == body.person_id
            )
            if (
                row.state != APPROVED
                or tx.connection.execute(select(visit_tokens).where(held)).first() is None
            ):
                raise PackageRejected(
                    Rejection.UNKNOWN_VISIT,
                    f"no visitor {body.person_id} of an approved visit {body.visit}",
                    package.id,
                )
            record(tx.connection, package, None, node.audit.now())
            tx.connection.execute(delete(visit_tokens).where(held))
            tx.append(
                "visit.visitor_removed_received",
                package.sender,
                {"visit": body.visit, "person": body.person_id},
            )
        return {"status": "removed", "visit": body.visit, "person": body.person_id}
