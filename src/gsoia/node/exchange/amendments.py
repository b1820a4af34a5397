"""An assurance amended by the nation that issued it: its clearance, expiry or need-to-know.

The issuing node checks the amended assurance as it checks a new one (an agreement in
force mapping the level, an expiry after today) and tells the partner at once. The
partner checks it again; a visitor's account that the amended assurance no longer covers
(a clearance now below the level its visit was approved at, an expiry before its last
day, a need-to-know without one of the visit's areas) ends at once: the visit must be
requested again.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from gsoia.errors import RequestError
from gsoia.federation.courier import Courier
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection
from gsoia.node.authority import Action, Operator
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.exchange.assurances import (
    VALID,
    Assurances,
    check_topics,
    found_assurance,
    mapped,
    tell,
)
from gsoia.node.exchange.bodies import read_body
from gsoia.node.exchange.received import record
from gsoia.node.exchange.visit_bodies import AssuranceAmendedBody
from gsoia.node.users import User
from gsoia.node.visitors import end_accounts
from gsoia.store.schema import assurances, users, visitor_accounts

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.service import Node


@dataclass(frozen=True)
class Amendment:
    """What an amendment changes (None: kept)."""

    clearance: str | None = None
    expires: dt.date | None = None
    need_to_know: Sequence[str] | None = None


class Amendments:
    """Amendments of assurances: made here, and received from partners."""

    def __init__(self, node: Node, courier: Courier, assured: Assurances) -> None:
        self.node = node
        self.courier = courier
        self.assured = assured

    def amend(self, user: User | Operator, assurance_id: str, change: Amendment) -> dict[str, Any]:
        """Amend an assurance issued here; the partner is told at once (officer)."""
        node = self.node
        node.require(user, Action.ASSURANCES)
        if change == Amendment():
            raise RequestError.of("amendment", "change clearance, expires or need_to_know")
        with node.engine.connect() as connection:
            row = found_assurance(connection, assurance_id)
        if row is None or row.sender != node.nation:
            raise NotFound(f"no assurance {assurance_id} issued by {node.nation}")
        if row.state != VALID:
            raise Conflict(f"assurance {assurance_id} is {row.state}")
        today = node.today()
        clearance = change.clearance or row.clearance
        self.assured.check_level(row.receiver, clearance, today)
        expires = change.expires or dt.date.fromisoformat(row.expires)
        if expires <= today:
            raise RequestError.of("expires", f"{expires.isoformat()} is not after today")
        topics = list(change.need_to_know) if change.need_to_know is not None else None
        check_topics(topics or [])
        body = {
            "assurance": assurance_id,
            "clearance": clearance,
            "expires": expires.isoformat(),
            "need_to_know": topics if topics is not None else json.loads(row.need_to_know),
        }
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            self._apply(tx, body)
            tell(
                tx.connection,
                package_id,
                Kind.ASSURANCE_AMENDED,
                row.receiver,
                body,
                node.audit.now(),
            )
            data = {"assurance": assurance_id, "to": row.receiver, "package": package_id}
            tx.append("assurance.amended", user.id, data)
        attempt = self.courier.deliver(package_id)
        return {"id": assurance_id, "state": VALID, "delivery": attempt.state}

    def receive(self, package: Package) -> dict[str, Any]:
        """A partner amends its assurance: checked again; accounts it no longer covers end."""
        node = self.node
        body = read_body(AssuranceAmendedBody, package)
        found = mapped(node, package.sender, node.nation, node.today())
        if found is None or body.clearance not in dict(found.levels):
            raise PackageRejected(
                Rejection.REFUSED,
                f"{body.clearance} is not a level of {package.sender} an agreement in force maps",
                package.id,
            )
        if body.expires <= node.today():
            raise PackageRejected(Rejection.REFUSED, "the assurance has expired", package.id)
        with node.audit.transaction() as tx:
            row = found_assurance(tx.connection, body.assurance)
            if row is None or row.sender != package.sender or row.state != VALID:
                raise PackageRejected(
                    Rejection.UNKNOWN_VISIT,
                    f"{package.sender} issued no valid assurance {body.assurance} here",
                    package.id,
                )
            record(tx.connection, package, None, node.audit.now())
            self._apply(tx, body.model_dump(mode="json"))
            ended = self._uncovered(tx, package.sender, body)
            data = {"assurance": body.assurance, "accounts_ended": ended}
            tx.append("assurance.amendment_received", package.sender, data)
        return {"status": "amended", "assurance": body.assurance}

    def _apply(self, tx: AuditTransaction, body: dict[str, Any]) -> None:
        tx.connection.execute(
            update(assurances)
            .where(assurances.c.id == body["assurance"])
            .values(
                clearance=body["clearance"],
                expires=body["expires"],
                need_to_know=json.dumps(body["need_to_know"]),
            )
        )

    def _uncovered(
        self, tx: AuditTransaction, sender: str, body: AssuranceAmendedBody
    ) -> list[str]:
        """End the visitors' accounts of the assurance that it no longer covers."""
        policy = self.node.rulebook.catalogue.policies[sender]
        held = tx.connection.execute(
            select(
                visitor_accounts.c.user_id,
                visitor_accounts.c.valid_until,
                users.c.clearance,
                users.c.need_to_know,
            )
            .join_from(visitor_accounts, users, users.c.id == visitor_accounts.c.user_id)
            .where(visitor_accounts.c.assurance_id == body.assurance)
        ).all()
        rank = policy.rank(body.clearance)
        uncovered = [
            r.user_id
            for r in held
            if r.valid_until > body.expires.isoformat()
            or rank is None
            or (policy.rank(r.clearance) or 0) > rank
            or not set(json.loads(r.need_to_know)) <= set(body.need_to_know)
        ]
        if not uncovered:
            return []
        return end_accounts(self.node, tx, sender, visitor_accounts.c.user_id.in_(uncovered))
