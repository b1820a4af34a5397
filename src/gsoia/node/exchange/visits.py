"""Requests for visits to a partner's facilities (the Japan–Korea agreement, Art. 8; the
multinational visit procedures of MISWG document 7).

CAN's officer requests a visit to JPN for people CAN assured to JPN
(``gsoia.node.exchange.assurances``): purpose, place, first and last day, the areas, the
highest level of access asked (in CAN's scheme) and the kind — one-time, recurring (up to
a year), emergency (sooner than the lead time of the agreement in force, ``lead_times``, with
its reason) or the amendment of an earlier request, which replaces it
while it waits (``AMENDED``). The request travels to JPN's node under
one id, the same on both; JPN's officers see it with each visitor's assurance and answer
(``gsoia.node.exchange.visit_answers``). CAN's officer may cancel it; JPN's node then ends
the visitors' accounts at once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from gsoia.errors import Problem, RequestError
from gsoia.federation.courier import Courier
from gsoia.federation.packages import Kind, Package, PackageRejected, Rejection, created_at
from gsoia.node.authority import Action, Operator
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.exchange.assurances import VALID, Assurances, found_assurance, mapped, tell
from gsoia.node.exchange.bodies import read_body
from gsoia.node.exchange.erasure import erase_personal
from gsoia.node.exchange.lead_times import LeadTimes
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.received import record, usable_id
from gsoia.node.exchange.visit_bodies import VisitCancelledBody, VisitRequestBody
from gsoia.node.users import User
from gsoia.node.visitors import end_accounts
from gsoia.store.schema import (
    assurances,
    audit_entries,
    visit_tokens,
    visitor_accounts,
    visits,
)

if TYPE_CHECKING:
    from gsoia.node.service import Node

KINDS = ("one-time", "recurring", "emergency", "amendment")
RECURRING_DAYS = 366
"""A recurring visit spans at most a year."""
REQUESTED, APPROVED, REFUSED, CANCELLED = "requested", "approved", "refused", "cancelled"
ASKED, ENDED, AMENDED = "asked", "ended", "amended"
"""The host asked for more (``visit_steps``); the host ended it early; an amendment replaced
it while it waited."""
WAITING = (REQUESTED, ASKED)
"""What an amendment replaces."""
REQUEST_SKEW = dt.timedelta(seconds=1)
"""How far a request's time may pass its package's (which is signed to the millisecond)."""


@dataclass(frozen=True)
class VisitRequest:
    """What a visiting officer asks for (``POST /api/v1/visits``)."""

    to: str
    visitors: Sequence[str]
    purpose: str
    place: str
    first_day: dt.date
    last_day: dt.date
    areas: Sequence[str]
    kind: str
    reason: str | None = None
    amends: str | None = None
    level: str | None = None


def found_visit(connection: Connection, visit_id: str) -> Any:
    """A visit's row, or None."""
    if not usable_id(visit_id):
        return None
    return connection.execute(select(visits).where(visits.c.id == visit_id)).first()


def visit_here(
    connection: Connection, visit_id: str, *, visiting: str | None = None, host: str | None = None
) -> Any:
    """A visit, as an officer names it, of ``visiting`` or to ``host``; ``NotFound`` else."""
    row = found_visit(connection, visit_id)
    if row is None or visiting not in (None, row.visitor_nation) or host not in (None, row.host):
        raise NotFound(f"no visit {visit_id} of {visiting or 'a partner'} to {host or 'a partner'}")
    return row


def areas_beyond(areas: Sequence[str], assured: Any) -> str | None:
    """The areas of a visit that an assurance's need-to-know does not give, or None: a
    visitor's need-to-know at the host is never more than its own authority assured."""
    beyond = sorted(set(areas) - set(json.loads(assured.need_to_know)))
    return ", ".join(beyond) or None


def visit_told(connection: Connection, package: Package, visit_id: str, *, host: str) -> Any:
    """The visit a package is about, between its sender and this node (the visiting party
    or the ``host``); ``UNKNOWN_VISIT`` else."""
    row = found_visit(connection, visit_id)
    parties = None if row is None else {row.visitor_nation, row.host}
    if row is None or row.host != host or parties != {package.sender, package.to}:
        raise PackageRejected(
            Rejection.UNKNOWN_VISIT,
            f"no visit {visit_id} between {package.sender} and {package.to}",
            package.id,
        )
    return row


def replaced(connection: Connection, visit_id: str | None) -> None:
    """An earlier request, while it waits, replaced by its amendment (in its transaction)."""
    if visit_id is not None:
        connection.execute(
            update(visits)
            .where(visits.c.id == visit_id)
            .where(visits.c.state.in_(WAITING))
            .values(state=AMENDED)
        )


def rank(node: Node, nation: str, level: str) -> int:
    found = node.rulebook.catalogue.policies[nation].rank(level)
    assert found is not None  # INVARIANT: levels stored were checked against the catalogue
    return found


class Visits:
    """Requests for visits made here, and those partners made to this node."""

    def __init__(self, node: Node, peers: PeerBook, courier: Courier, assured: Assurances) -> None:
        self.node = node
        self.peers = peers
        self.courier = courier
        self.assured = assured

    # -- the visiting party asks ---------------------------------------------------------------

    def request(self, user: User | Operator, asked: VisitRequest) -> dict[str, Any]:
        """Request a visit to a partner for people assured to it (officer)."""
        node = self.node
        node.require(user, Action.VISITS)
        today = node.today()
        self._check_dates(asked, today)
        with node.engine.connect() as connection:
            rows = self._visitors(connection, asked)
            self._check_amends(connection, asked)
        level = asked.level or min(
            (r.clearance for r in rows), key=lambda lv: rank(node, node.nation, lv)
        )
        self.assured.check_level(asked.to, level, today)
        for i, row in enumerate(rows):
            if rank(node, node.nation, level) > rank(node, node.nation, row.clearance):
                raise RequestError.of(
                    "level", f"{level} is above visitors[{i}]'s assured {row.clearance}"
                )
        self.peers.required(asked.to)
        visit_id, package_id = str(uuid.uuid4()), str(uuid.uuid4())
        now = node.audit.now()
        body = {
            "visit": visit_id,
            "visitors": list(asked.visitors),
            "purpose": asked.purpose,
            "place": asked.place,
            "first_day": asked.first_day.isoformat(),
            "last_day": asked.last_day.isoformat(),
            "areas": list(asked.areas),
            "kind": asked.kind,
            "reason": asked.reason,
            "amends": asked.amends,
            "level": level,
            "requested_by": user.id,
            "requested_at": now,
        }
        with node.audit.transaction() as tx:
            tx.connection.execute(insert(visits).values(**_row(body, node.nation, asked.to, now)))
            replaced(tx.connection, asked.amends)
            tell(tx.connection, package_id, Kind.VISIT_REQUEST, asked.to, body, now)
            tx.append(
                "visit.requested",
                user.id,
                {"visit": visit_id, "to": asked.to, "visitors": list(asked.visitors)},
            )
        attempt = self.courier.deliver(package_id)
        with node.engine.connect() as connection:
            row = found_visit(connection, visit_id)  # refused on arrival: says so
        shown = {"id": visit_id, "to": asked.to, "state": row.state, "delivery": attempt.state}
        return shown | ({"note": row.note} if row.note else {})

    def _check_dates(self, asked: VisitRequest, today: dt.date) -> None:
        if asked.kind not in KINDS:
            raise RequestError.of("kind", f"one of {', '.join(KINDS)}")
        if asked.last_day < asked.first_day:
            raise RequestError.of("last_day", "before first_day")
        if asked.first_day < today:
            raise RequestError.of("first_day", f"before today ({today.isoformat()})")
        found = mapped(self.node, self.node.nation, asked.to, today)
        if found is None:
            raise RequestError.of(
                "to", f"no agreement between {self.node.nation} and {asked.to} in force"
            )
        agreement = found.agreement
        lead = LeadTimes(self.node).days(agreement)
        if asked.kind == "emergency":
            if not (asked.reason or "").strip():
                raise RequestError.of("reason", "an emergency request says why")
        elif asked.first_day < today + dt.timedelta(days=lead):
            raise RequestError.of(
                "first_day",
                f"less than {lead} days ahead, the lead time of {agreement} (an"
                " emergency request, with its reason, may be sooner)",
            )
        if asked.kind == "recurring" and (asked.last_day - asked.first_day).days > RECURRING_DAYS:
            raise RequestError.of(
                "last_day", f"a recurring visit spans {RECURRING_DAYS} days at most"
            )

    def _visitors(self, connection: Connection, asked: VisitRequest) -> list[Any]:
        """Each visitor's assurance to the host, valid on the first day; ``RequestError``
        naming each visitor without one."""
        if not asked.visitors:
            raise RequestError.of("visitors", "at least one")
        if len(set(asked.visitors)) != len(asked.visitors):
            raise RequestError.of("visitors", "each once")
        rows, problems = [], []
        for i, assurance_id in enumerate(asked.visitors):
            row = found_assurance(connection, assurance_id)
            if (
                row is None
                or row.sender != self.node.nation
                or row.receiver != asked.to
                or row.state != VALID
                or dt.date.fromisoformat(row.expires) < asked.first_day
            ):
                problems.append(
                    Problem(
                        f"visitors[{i}]",
                        f"no assurance {assurance_id} to {asked.to} valid on the first day",
                    )
                )
            elif beyond := areas_beyond(asked.areas, row):
                problems.append(
                    Problem("areas", f"{beyond} beyond visitors[{i}]'s assured need-to-know")
                )
            rows.append(row)
        if problems:
            raise RequestError(problems)
        return rows

    def _check_amends(self, connection: Connection, asked: VisitRequest) -> None:
        if asked.kind != "amendment":
            if asked.amends is not None:
                raise RequestError.of("amends", "only an amendment amends a request")
            return
        earlier = None if asked.amends is None else found_visit(connection, asked.amends)
        if (
            earlier is None
            or earlier.visitor_nation != self.node.nation
            or earlier.host != asked.to
        ):
            raise RequestError.of("amends", f"the id of an earlier request to {asked.to}")

    # -- the host receives ---------------------------------------------------------------------

    def receive_request(self, package: Package) -> dict[str, Any]:
        """A partner's request for a visit: checked, queued for this node's officers."""
        node = self.node
        body = read_body(VisitRequestBody, package)
        found = mapped(node, package.sender, node.nation, node.today())
        if found is None:
            raise PackageRejected(
                Rejection.REFUSED,
                f"no agreement between {package.sender} and {node.nation} in force",
                package.id,
            )
        if body.last_day < body.first_day:
            raise PackageRejected(Rejection.MALFORMED, "last_day before first_day", package.id)
        self._check_lead(body, package, found.agreement)
        if body.level not in node.rulebook.catalogue.policies[package.sender].ranks:
            raise PackageRejected(Rejection.MALFORMED, f"unknown level {body.level}", package.id)
        with node.audit.transaction() as tx:
            for assurance_id in body.visitors:
                row = found_assurance(tx.connection, assurance_id)
                if row is None or row.sender != package.sender or row.state != VALID:
                    raise PackageRejected(
                        Rejection.UNKNOWN_VISIT,
                        f"no valid assurance {assurance_id} from {package.sender}",
                        package.id,
                    )
                if beyond := areas_beyond(body.areas, row):
                    raise PackageRejected(
                        Rejection.REFUSED,
                        f"{beyond} beyond the need-to-know assurance {assurance_id} gives",
                        package.id,
                    )
            if found_visit(tx.connection, body.visit) is not None:
                raise PackageRejected(Rejection.REPLAY, f"visit {body.visit} exists", package.id)
            record(tx.connection, package, None, node.audit.now())
            if body.kind == "amendment":
                earlier = found_visit(tx.connection, body.amends or "")
                if earlier is not None and earlier.visitor_nation == package.sender:
                    replaced(tx.connection, earlier.id)
            values = body.model_dump(mode="json")
            tx.connection.execute(
                insert(visits).values(
                    **_row(values, package.sender, node.nation, node.audit.now())
                    | {"requested_by": f"{package.sender}/{body.requested_by}"}
                )
            )
            tx.append(
                "visit.request_received",
                package.sender,
                {"visit": body.visit, "visitors": body.visitors},
            )
        return {"status": "queued", "visit": body.visit}

    def _check_lead(self, body: VisitRequestBody, package: Package, agreement: str) -> None:
        """A request's first day against this node's own lead time of ``agreement``, from
        the day the sender's officer made it (``requested_at``, else the package's time):
        a package that waited in the outbox is judged by when it was made, not when it
        came; REFUSED if sooner, other than an emergency that says why."""
        node = self.node
        made = created_at(package)
        asked = body.requested_at or made
        if asked > made + REQUEST_SKEW:
            raise PackageRejected(
                Rejection.MALFORMED, "requested_at after the package was made", package.id
            )
        if body.kind == "emergency":
            if not (body.reason or "").strip():
                raise PackageRejected(
                    Rejection.REFUSED, "an emergency request says why", package.id
                )
            return
        on = asked.astimezone(dt.UTC).date()  # not the sender's local date, nor --today
        lead = LeadTimes(node).days(agreement)
        if body.first_day < on + dt.timedelta(days=lead):
            raise PackageRejected(
                Rejection.REFUSED,
                f"first day {body.first_day.isoformat()} is less than {lead} days after the"
                f" request ({on.isoformat()}), {node.nation}'s lead time of {agreement} (an"
                " emergency request, with its reason, may be sooner)",
                package.id,
            )

    # -- cancelled --------------------------------------------------------------------------------

    def cancel(self, user: User | Operator, visit_id: str) -> dict[str, Any]:
        """Cancel a visit this node requested; the host ends the accounts at once (officer)."""
        node = self.node
        node.require(user, Action.VISITS)
        package_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            row = visit_here(tx.connection, visit_id, visiting=node.nation)
            if row.state in (REFUSED, CANCELLED, ENDED, AMENDED):
                raise Conflict(f"visit {visit_id} is {row.state}")
            now = node.audit.now()
            tx.connection.execute(
                update(visits).where(visits.c.id == visit_id).values(state=CANCELLED)
            )
            tx.connection.execute(
                update(visit_tokens).where(visit_tokens.c.visit_id == visit_id).values(sealed=None)
            )
            tell(
                tx.connection, package_id, Kind.VISIT_CANCELLED, row.host, {"visit": visit_id}, now
            )
            tx.append("visit.cancelled", user.id, {"visit": visit_id, "package": package_id})
        attempt = self.courier.deliver(package_id)
        return {"id": visit_id, "state": CANCELLED, "delivery": attempt.state}

    def receive_cancel(self, package: Package) -> dict[str, Any]:
        """The visiting party cancels: the visitors' accounts end at once."""
        node = self.node
        body = read_body(VisitCancelledBody, package)
        with node.audit.transaction() as tx:
            row = visit_told(tx.connection, package, body.visit, host=node.nation)
            if row.state == CANCELLED:
                raise PackageRejected(
                    Rejection.REPLAY, f"visit {body.visit} is cancelled", package.id
                )
            record(tx.connection, package, None, node.audit.now())
            tx.connection.execute(
                update(visits).where(visits.c.id == body.visit).values(state=CANCELLED)
            )
            end_accounts(node, tx, package.sender, visitor_accounts.c.visit_id == body.visit)
            tx.append("visit.cancel_received", package.sender, {"visit": body.visit})
        return {"status": "cancelled", "visit": body.visit}

    # -- shown to officers ---------------------------------------------------------------------

    def listed(self, user: User | Operator) -> list[dict[str, Any]]:
        """Every visit requested here or to this node, each visitor with its assurance
        (officer)."""
        node = self.node
        node.require(user, Action.VISITS)
        erase_personal(node)
        with node.engine.connect() as connection:
            rows = connection.execute(select(visits).order_by(visits.c.first_day)).all()
            held = {
                r.id: r
                for r in connection.execute(
                    select(assurances).where(
                        assurances.c.id.in_({a for v in rows for a in json.loads(v.visitors)})
                    )
                )
            }
            gone = removed_visitors(connection)
        return [self.view(row, held, gone.get(row.id, [])) for row in rows]

    def view(self, row: Any, held: dict[str, Any], removed: list[str]) -> dict[str, Any]:
        """A visit as officers see it; ``removed``: the people whose accounts the host's
        admin removed."""
        visitors = [
            self.assured.view(held[a]) if a in held else {"id": a} for a in json.loads(row.visitors)
        ]
        return {
            "id": row.id,
            "direction": "requested" if row.visitor_nation == self.node.nation else "received",
            "from": row.visitor_nation,
            "to": row.host,
            "visitors": visitors,
            "purpose": row.purpose,
            "place": row.place,
            "first_day": row.first_day,
            "last_day": row.last_day,
            "areas": json.loads(row.areas),
            "kind": row.kind,
            "reason": row.reason,
            "amends": row.amends,
            "level": row.level,
            "state": row.state,
            "note": row.note,
            "approved_level": row.approved_level,
            "requested_by": row.requested_by,
            "requested_at": row.requested_at,
            "decided_by": row.decided_by,
            "decided_at": row.decided_at,
            "removed": removed,
        }


REMOVED = ("visit.visitor_removed", "visit.visitor_removed_received")
"""The audit log's entries of a visitor's account removed by the host's admin, as the host
and the visiting node write them (``visit_steps``)."""


def removed_visitors(connection: Connection) -> dict[str, list[str]]:
    """The people of each visit whose accounts the host's admin removed, from the audit log
    (which names them by id only)."""
    found: dict[str, list[str]] = {}
    bodies = connection.execute(
        select(audit_entries.c.body)
        .where(audit_entries.c.kind.in_(REMOVED))
        .order_by(audit_entries.c.seq)
    ).scalars()
    for body in bodies:
        data = json.loads(body)["data"]
        found.setdefault(str(data["visit"]), []).append(str(data["person"]))
    return found


def _row(body: dict[str, Any], visitor_nation: str, host: str, now: str) -> dict[str, Any]:
    """A visit's row from a request's body, as requested ``now``."""
    return {
        "id": body["visit"],
        "visitor_nation": visitor_nation,
        "host": host,
        "visitors": json.dumps(body["visitors"]),
        "purpose": body["purpose"],
        "place": body["place"],
        "first_day": body["first_day"],
        "last_day": body["last_day"],
        "areas": json.dumps(body["areas"]),
        "kind": body["kind"],
        "reason": body["reason"],
        "amends": body["amends"],
        "level": body["level"],
        "state": REQUESTED,
        "requested_by": body["requested_by"],
        "requested_at": now,
    }
