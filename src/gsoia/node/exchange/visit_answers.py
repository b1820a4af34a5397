"""The host's answer to a request for a visit, and the visitors' tokens.

JPN's officer approves a visit with a note and the highest level of access (in the
visiting party's scheme; never above any visitor's assured clearance, and one the
agreement in force maps), or refuses it. Approval adds, in the same transaction, one
account per visitor (``gsoia.node.visitors``): nation CAN, clearance the level approved,
need-to-know the visit's areas, valid from the first day to the last and never past the
assurance's expiry. The answer travels back with each token sealed to CAN's node, which
keeps them encrypted until CAN's officer asks for them: each is shown once. An answer from
a node that was not asked, or a second answer, is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from gsoia.crypto.errors import CryptoError
from gsoia.crypto.seal import seal, unseal
from gsoia.errors import RequestError
from gsoia.federation.courier import Courier
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection, b64, unb64
from gsoia.node import personal
from gsoia.node.authority import Action, Operator
from gsoia.node.errors import Conflict
from gsoia.node.exchange.assurances import VALID, found_assurance, mapped, tell
from gsoia.node.exchange.bodies import read_body
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import record
from gsoia.node.exchange.visit_bodies import VisitAnswerBody
from gsoia.node.exchange.visits import (
    APPROVED,
    REFUSED,
    REQUESTED,
    areas_beyond,
    rank,
    visit_here,
    visit_told,
)
from gsoia.node.users import Role, User
from gsoia.node.visitors import visitor_id
from gsoia.store.schema import visit_tokens, visitor_accounts, visits

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.service import Node


def token_context(visit_id: str, person_id: str) -> str:
    return f"token:{visit_id}:{person_id}"


class VisitAnswers:
    """The host's approvals and refusals; the visiting node's tokens."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier

    # -- the host answers ----------------------------------------------------------------------

    def decide(
        self, user: User | Operator, visit_id: str, *, approve: bool, note: str, level: str | None
    ) -> dict[str, Any]:
        """Approve (at ``level`` or the level asked) or refuse a visit requested to this
        node (officer); the answer travels back."""
        node = self.node
        node.require(user, Action.VISITS)
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            row = visit_here(tx.connection, visit_id, host=node.nation)
            if row.state != REQUESTED:
                raise Conflict(f"visit {visit_id} is already {row.state}")
            peer = self.peers.required(row.visitor_nation)
            now = node.audit.now()
            granted = level or row.level
            tokens: dict[str, str] = {}
            accounts: list[str] = []
            if approve:
                accounts, tokens = self._admit(
                    tx, user, row, granted, peer.keys.sealing, package_id
                )
            tx.connection.execute(
                update(visits)
                .where(visits.c.id == visit_id)
                .values(
                    state=APPROVED if approve else REFUSED,
                    note=note,
                    approved_level=granted if approve else None,
                    decided_by=user.id,
                    decided_at=now,
                )
            )
            tell(
                tx.connection,
                package_id,
                Kind.VISIT_ANSWER,
                row.visitor_nation,
                {
                    "visit": visit_id,
                    "approved": approve,
                    "note": note,
                    "level": granted if approve else None,
                    "tokens": tokens,
                },
                now,
            )
            tx.append(
                "visit.approved" if approve else "visit.refused",
                user.id,
                {"visit": visit_id, "level": granted if approve else None, "accounts": accounts},
            )
        attempt = self.courier.deliver(package_id)
        state = APPROVED if approve else REFUSED
        return {"id": visit_id, "state": state, "accounts": accounts, "delivery": attempt.state}

    def _admit(
        self,
        tx: AuditTransaction,
        user: User | Operator,
        row: Any,
        level: str,
        sealing: bytes,
        package_id: str,
    ) -> tuple[list[str], dict[str, str]]:
        """An account for each visitor, at ``level`` (checked); their ids, and each token
        sealed to the visiting node by person id."""
        node = self.node
        visiting = row.visitor_nation
        pairing = mapped(node, visiting, node.nation, node.today())
        if pairing is None:
            raise Conflict(f"no agreement between {visiting} and {node.nation} in force")
        if level not in dict(pairing.levels):
            raise RequestError.of(
                "level", f"'{level}' is not a level of {visiting} that {pairing.agreement} maps"
            )
        first = dt.date.fromisoformat(row.first_day)
        last = dt.date.fromisoformat(row.last_day)
        planned = []
        for assurance_id in json.loads(row.visitors):
            assured = found_assurance(tx.connection, assurance_id)
            if assured is None or assured.state != VALID:
                raise Conflict(f"the assurance {assurance_id} is no longer valid")
            if beyond := areas_beyond(json.loads(row.areas), assured):
                raise Conflict(f"{beyond} beyond the need-to-know {assurance_id} gives")
            if rank(node, visiting, level) > rank(node, visiting, assured.clearance):
                raise RequestError.of(
                    "level",
                    f"{level} is above what {assured.person_id}'s assurance maps"
                    f" ({assured.clearance})",
                )
            until = min(last, dt.date.fromisoformat(assured.expires))
            if until < max(first, node.today()):
                raise Conflict(f"the visit is over for {assured.person_id}")
            planned.append((assured, until))
        accounts, tokens = [], {}
        for assured, until in planned:
            account = User(
                visitor_id(row.id, assured.person_id),
                visiting,
                level,
                until,
                tuple(json.loads(row.areas)),
                Role.ANALYST,
            )
            token = node.accounts.admit_visitor(tx, user.id, account)
            tx.connection.execute(
                insert(visitor_accounts).values(
                    user_id=account.id,
                    visit_id=row.id,
                    person_id=assured.person_id,
                    assurance_id=assured.id,
                    valid_from=first.isoformat(),
                    valid_until=until.isoformat(),
                )
            )
            accounts.append(account.id)
            tokens[assured.person_id] = b64(seal(sealing, token.encode(), package_id.encode()))
        return accounts, tokens

    # -- the visiting node hears ---------------------------------------------------------------

    def receive(self, package: Package) -> dict[str, Any]:
        """The host's answer to a visit this node requested of it; the tokens kept encrypted."""
        node = self.node
        body = read_body(VisitAnswerBody, package)
        with node.audit.transaction() as tx:
            row = visit_told(tx.connection, package, body.visit, host=package.sender)
            if row.state != REQUESTED:
                raise PackageRejected(
                    Rejection.REPLAY, f"visit {body.visit} is already {row.state}", package.id
                )
            tokens = self._tokens(tx, row, body, package) if body.approved else {}
            record(tx.connection, package, None, node.audit.now())
            tx.connection.execute(
                update(visits)
                .where(visits.c.id == body.visit)
                .values(
                    state=APPROVED if body.approved else REFUSED,
                    note=body.note,
                    approved_level=body.level,
                    decided_by=package.sender,
                    decided_at=node.audit.now(),
                )
            )
            if tokens:
                tx.connection.execute(insert(visit_tokens), list(tokens.values()))
            tx.append(
                "visit.answer_received",
                package.sender,
                {"visit": body.visit, "approved": body.approved, "level": body.level},
            )
        return {"status": "approved" if body.approved else "refused", "visit": body.visit}

    def _tokens(
        self, tx: AuditTransaction, row: Any, body: VisitAnswerBody, package: Package
    ) -> dict[str, dict[str, Any]]:
        """The rows of ``visit_tokens`` for an approval; MALFORMED or BAD_SEAL otherwise."""
        node = self.node
        people = set()
        for assurance_id in json.loads(row.visitors):
            assured = found_assurance(tx.connection, assurance_id)
            people.add(assured.person_id if assured is not None else assurance_id)
        if set(body.tokens) != people or body.level is None:
            raise PackageRejected(
                Rejection.MALFORMED,
                "an approval carries a level and each visitor's token",
                package.id,
            )
        if body.level not in node.rulebook.catalogue.policies[node.nation].ranks:
            raise PackageRejected(Rejection.MALFORMED, f"unknown level {body.level}", package.id)
        rows = {}
        for person_id, sealed in body.tokens.items():
            try:
                token = unseal(node.keys.sealing, unb64(sealed, "body.tokens"), package.id.encode())
            except CryptoError as e:
                raise PackageRejected(
                    Rejection.BAD_SEAL, "a visitor's token does not open", package.id
                ) from e
            closed = personal.close(node.keys.storage, token_context(row.id, person_id), token)
            rows[person_id] = {"visit_id": row.id, "person_id": person_id, "sealed": closed}
        return rows

    def tokens(self, user: User | Operator, visit_id: str) -> dict[str, Any]:
        """The visitors' tokens of an approved visit this node requested, each shown once
        (officer)."""
        node = self.node
        node.require(user, Action.VISITS)
        with node.audit.transaction() as tx:
            row = visit_here(tx.connection, visit_id, visiting=node.nation)
            if row.state != APPROVED:
                raise Conflict(f"visit {visit_id} is {row.state}, not approved")
            waiting = tx.connection.execute(
                select(visit_tokens)
                .where(visit_tokens.c.visit_id == visit_id)
                .where(visit_tokens.c.sealed.is_not(None))
            ).all()
            shown = {
                r.person_id: personal.open_closed(
                    node.keys.storage, token_context(visit_id, r.person_id), bytes(r.sealed)
                ).decode()
                for r in waiting
            }
            if shown:
                tx.connection.execute(
                    update(visit_tokens)
                    .where(visit_tokens.c.visit_id == visit_id)
                    .values(sealed=None, shown_at=node.audit.now())
                )
                tx.append(
                    "visit.tokens_shown", user.id, {"visit": visit_id, "persons": sorted(shown)}
                )
        return {"tokens": shown}
