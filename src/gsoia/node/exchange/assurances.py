"""Personnel security assurances: a nation confirms one of its people's clearance to a
partner (the Japan–Korea agreement, Art. 7).

CAN's officer issues an assurance for a person to JPN: CAN's node checks that an agreement
between CAN and JPN is in force and maps the clearance (``gsoia.catalogue.matrix.pairing``),
keeps it with the person's name and birth data encrypted (``gsoia.node.personal``), and
sends it to JPN's node, the personal data sealed to it. JPN's node checks it again (the
agreement, the level, the expiry), keeps it encrypted, and lists it to its officers with
the equivalent level in JPN's scheme. A withdrawal travels the same way at once; at JPN it
ends the accounts of the person's visits (``gsoia.node.visitors``). The audit log names
the assurance and the person by id only.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import Connection, insert, select, update

from gsoia.catalogue.matrix import Pairing, pairing
from gsoia.crypto.errors import CryptoError
from gsoia.crypto.seal import seal, unseal
from gsoia.errors import RequestError
from gsoia.federation.courier import Courier, enqueue
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection, b64, unb64
from gsoia.node import personal
from gsoia.node.accounts import check_topics
from gsoia.node.authority import Action, Operator
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.exchange.bodies import read_body
from gsoia.node.exchange.erasure import erase_personal
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import record, usable_id
from gsoia.node.exchange.visit_bodies import AssuranceBody, AssuranceWithdrawnBody, Person
from gsoia.node.users import User
from gsoia.node.visitors import end_accounts
from gsoia.store.schema import assurances, visitor_accounts

if TYPE_CHECKING:
    from gsoia.node.service import Node

VALID = "valid"
WITHDRAWN = "withdrawn"


def context(assurance_id: str) -> str:
    """What an assurance's personal data is bound to at rest."""
    return f"assurance:{assurance_id}"


def tell(
    connection: Connection, package_id: str, kind: Kind, peer: str, body: Any, now: str
) -> None:
    """Put a package about assurances or visits (no item) in the outbox, in the caller's
    transaction."""
    enqueue(
        connection, package_id=package_id, kind=kind, peer=peer, body=body, item_id=None, now=now
    )


PERSON_FIELDS = ("birth_date", "birth_place")
"""What an assurance may say of a person beyond the id and the name, where the receiving
policy asks for it (its ``assurance_fields``)."""


def asked_fields(node: Node, receiver: str, details: dict[str, Any]) -> str | None:
    """What is wrong with a person's details for ``receiver``'s policy, which asks for its
    ``assurance_fields`` and nothing else; None if nothing."""
    asks = node.rulebook.catalogue.policies[receiver].assurance_fields
    given = [f for f in PERSON_FIELDS if details.get(f) is not None]
    extra = [f for f in given if f not in asks]
    if extra:
        return f"{receiver}'s policy does not ask for {', '.join(extra)} (nothing else is sent)"
    missing = [f for f in asks if f not in given]
    if missing:
        return f"{receiver}'s policy asks for {', '.join(missing)}"
    return None


def check_person(node: Node, to: str, person: Person) -> None:
    """``RequestError`` unless ``person`` gives what ``to``'s policy asks, and no more."""
    wrong = asked_fields(node, to, person.model_dump(mode="json", exclude_none=True))
    if wrong is not None:
        raise RequestError.of("person", wrong)


def mapped(node: Node, source: str, to: str, day: dt.date) -> Pairing | None:
    """How ``source``'s levels map into ``to``'s under the agreement in force, if any."""
    if source == to:
        return None
    return pairing(node.rulebook.catalogue, source, to, day)


class Assurances:
    """Assurances issued by this node's officers, and those partners issued to it."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier

    # -- issued here ------------------------------------------------------------------------------

    def issue(
        self,
        user: User | Operator,
        to: str,
        person_id: str,
        person: Person,
        clearance: str,
        expires: dt.date,
        need_to_know: Sequence[str],
    ) -> dict[str, Any]:
        """Assure ``person``'s clearance (in this nation's scheme) to ``to`` (officer)."""
        node = self.node
        node.require(user, Action.ASSURANCES)
        today = node.today()
        self.check_level(to, clearance, today)
        check_person(node, to, person)
        check_topics(need_to_know)
        if expires <= today:
            raise RequestError.of("expires", f"{expires.isoformat()} is not after today")
        peer = self.peers.required(to)
        assurance_id, package_id = str(uuid.uuid4()), str(uuid.uuid4())
        details = person.model_dump(mode="json", exclude_none=True)
        sealed = seal(peer.keys.sealing, json.dumps(details).encode(), package_id.encode())
        now = node.audit.now()
        row = {
            "id": assurance_id,
            "sender": node.nation,
            "receiver": to,
            "person_id": person_id,
            "personal": personal.close_json(node.keys.storage, context(assurance_id), details),
            "clearance": clearance,
            "expires": expires.isoformat(),
            "need_to_know": json.dumps(list(need_to_know)),
            "state": VALID,
            "issued_by": user.id,
            "issued_at": now,
            "withdrawn_at": None,
        }
        with node.audit.transaction() as tx:
            tx.connection.execute(insert(assurances).values(**row))
            tell(
                tx.connection,
                package_id,
                Kind.ASSURANCE,
                to,
                {
                    "assurance": assurance_id,
                    "person_id": person_id,
                    "sealed_person": b64(sealed),
                    "clearance": clearance,
                    "expires": expires.isoformat(),
                    "need_to_know": list(need_to_know),
                    "issued_by": user.id,
                    "issued_at": now,
                },
                now,
            )
            tx.append(
                "assurance.issued",
                user.id,
                {"assurance": assurance_id, "to": to, "person": person_id, "package": package_id},
            )
        attempt = self.courier.deliver(package_id)
        return {"id": assurance_id, "to": to, "state": attempt.state}

    def check_level(self, to: str, clearance: str, day: dt.date) -> Pairing:
        """The agreement in force with ``to`` mapping ``clearance``; ``RequestError`` else."""
        node = self.node
        if to not in node.rulebook.catalogue.policies or to == node.nation:
            raise RequestError.of("to", f"'{to}' is not a partner policy of the catalogue")
        found = mapped(node, node.nation, to, day)
        if found is None:
            raise RequestError.of("to", f"no agreement between {node.nation} and {to} in force")
        if clearance not in node.rulebook.catalogue.policies[node.nation].ranks:
            raise RequestError.of("clearance", f"unknown level '{clearance}' of {node.nation}")
        if clearance not in dict(found.levels):
            highest = found.levels[-1][0] if found.levels else "none"
            raise RequestError.of(
                "clearance",
                f"{clearance} is above what {found.agreement} maps (its highest: {highest})",
            )
        return found

    def withdraw(self, user: User | Operator, assurance_id: str) -> dict[str, Any]:
        """Withdraw an assurance this node issued; the partner is told at once (officer)."""
        node = self.node
        node.require(user, Action.ASSURANCES)
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            row = found_assurance(tx.connection, assurance_id)
            if row is None or row.sender != node.nation:
                raise NotFound(f"no assurance {assurance_id} issued by {node.nation}")
            if row.state != VALID:
                raise Conflict(f"assurance {assurance_id} is already {row.state}")
            now = node.audit.now()
            tx.connection.execute(
                update(assurances)
                .where(assurances.c.id == assurance_id)
                .values(state=WITHDRAWN, withdrawn_at=now)
            )
            tell(
                tx.connection,
                package_id,
                Kind.ASSURANCE_WITHDRAWN,
                row.receiver,
                {"assurance": assurance_id},
                now,
            )
            tx.append(
                "assurance.withdrawn",
                user.id,
                {"assurance": assurance_id, "to": row.receiver, "package": package_id},
            )
        attempt = self.courier.deliver(package_id)
        return {"id": assurance_id, "state": WITHDRAWN, "delivery": attempt.state}

    # -- received -------------------------------------------------------------------------------

    def receive(self, package: Package) -> dict[str, Any]:
        """A partner's assurance: checked against the agreement, kept encrypted."""
        node = self.node
        body = read_body(AssuranceBody, package)
        today = node.today()
        found = mapped(node, package.sender, node.nation, today)
        if found is None:
            raise PackageRejected(
                Rejection.REFUSED,
                f"no agreement between {package.sender} and {node.nation} in force",
                package.id,
            )
        if body.clearance not in dict(found.levels):
            raise PackageRejected(
                Rejection.REFUSED,
                f"{body.clearance} is not a level of {package.sender} that {found.agreement} maps",
                package.id,
            )
        if body.expires <= today:
            raise PackageRejected(Rejection.REFUSED, "the assurance has expired", package.id)
        details = self._opened(package, body.sealed_person)
        unasked = asked_fields(node, node.nation, details)
        if unasked:
            raise PackageRejected(Rejection.REFUSED, f"person: {unasked}", package.id)
        with node.audit.transaction() as tx:
            if found_assurance(tx.connection, body.assurance) is not None:
                raise PackageRejected(
                    Rejection.REPLAY, f"assurance {body.assurance} exists", package.id
                )
            record(tx.connection, package, None, node.audit.now())
            sealed = personal.close_json(node.keys.storage, context(body.assurance), details)
            tx.connection.execute(
                insert(assurances).values(
                    id=body.assurance,
                    sender=package.sender,
                    receiver=node.nation,
                    person_id=body.person_id,
                    personal=sealed,
                    clearance=body.clearance,
                    expires=body.expires.isoformat(),
                    need_to_know=json.dumps(body.need_to_know),
                    state=VALID,
                    issued_by=f"{package.sender}/{body.issued_by}",
                    issued_at=body.issued_at,
                )
            )
            tx.append(
                "assurance.received",
                package.sender,
                {"assurance": body.assurance, "person": body.person_id},
            )
        return {"status": "recorded", "assurance": body.assurance}

    def _opened(self, package: Package, sealed: str) -> dict[str, Any]:
        """The person's details sealed to this node; BAD_SEAL or MALFORMED otherwise."""
        try:
            raw = unseal(
                self.node.keys.sealing, unb64(sealed, "body.sealed_person"), package.id.encode()
            )
        except CryptoError as e:
            raise PackageRejected(
                Rejection.BAD_SEAL, "the person's details do not open", package.id
            ) from e
        try:
            person = Person.model_validate_json(raw)
        except ValidationError as e:
            raise PackageRejected(
                Rejection.MALFORMED, "body.sealed_person: not a person", package.id
            ) from e
        return person.model_dump(mode="json", exclude_none=True)

    def receive_withdrawal(self, package: Package) -> dict[str, Any]:
        """A partner withdraws its assurance: the accounts of its person's visits end."""
        node = self.node
        body = read_body(AssuranceWithdrawnBody, package)
        with node.audit.transaction() as tx:
            row = found_assurance(tx.connection, body.assurance)
            if row is None or row.sender != package.sender or row.receiver != node.nation:
                raise PackageRejected(
                    Rejection.UNKNOWN_VISIT,
                    f"{package.sender} issued no assurance {body.assurance} to {node.nation}",
                    package.id,
                )
            if row.state != VALID:
                raise PackageRejected(
                    Rejection.REPLAY, f"assurance {body.assurance} is withdrawn", package.id
                )
            record(tx.connection, package, None, node.audit.now())
            tx.connection.execute(
                update(assurances)
                .where(assurances.c.id == body.assurance)
                .values(state=WITHDRAWN, withdrawn_at=node.audit.now())
            )
            where = visitor_accounts.c.assurance_id == body.assurance
            end_accounts(node, tx, package.sender, where)
            tx.append(
                "assurance.withdrawal_received", package.sender, {"assurance": body.assurance}
            )
        return {"status": "withdrawn", "assurance": body.assurance}

    # -- shown to officers ---------------------------------------------------------------------

    def listed(self, user: User | Operator) -> list[dict[str, Any]]:
        """Every assurance issued here or received, with the person's details (what is past
        its retention erased first: ``erasure``) and the equivalent level in the other
        party's scheme (officer)."""
        node = self.node
        node.require(user, Action.ASSURANCES)
        erase_personal(node)
        with node.engine.connect() as connection:
            rows = connection.execute(select(assurances).order_by(assurances.c.issued_at)).all()
        return [self.view(row) for row in rows]

    def view(self, row: Any) -> dict[str, Any]:
        """An assurance as its officers see it."""
        node = self.node
        found = mapped(node, row.sender, row.receiver, node.today())
        details = personal.open_json(node.keys.storage, context(row.id), row.personal)
        return {
            "id": row.id,
            "direction": "issued" if row.sender == node.nation else "received",
            "from": row.sender,
            "to": row.receiver,
            "person": {"id": row.person_id, **(details or {"erased": True})},
            "clearance": row.clearance,
            "equivalent": dict(found.levels).get(row.clearance) if found else None,
            "agreement": found.agreement if found else None,
            "expires": row.expires,
            "need_to_know": json.loads(row.need_to_know),
            "state": row.state,
            "issued_by": row.issued_by,
            "issued_at": row.issued_at,
            "withdrawn_at": row.withdrawn_at,
        }


def found_assurance(connection: Connection, assurance_id: str) -> Any:
    """An assurance's row, or None."""
    if not usable_id(assurance_id):
        return None
    return connection.execute(select(assurances).where(assurances.c.id == assurance_id)).first()


__all__ = ["Assurances", "check_topics", "found_assurance", "mapped"]
