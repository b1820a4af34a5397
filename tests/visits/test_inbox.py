"""What the host's node checks again of what the visiting node sends: an assurance at a
level the agreement does not map or already expired, a visit for someone without an
assurance, with its dates in the wrong order or areas beyond the assured need-to-know,
from a nation without an agreement in force; a visitor's removal forged, replayed or
about no visitor of the visit — each refused, nothing stored, audited. And personal data
erased a set time after the visit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import Kind, b64
from gsoia.node.exchange.erasure import erase_personal
from gsoia.node.visitors import OutsideVisit, Window
from gsoia.store.schema import assurances, users, visits
from tests.visits.conftest import TODAY, Pair, assurance_body, refused_at, signed


def _count(pair: Pair, table: Any) -> int:
    with pair.store(pair.jpn).engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)


BORN = b'{"name": "Nobody", "birth_date": "1985-04-01"}'


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({}, 200, None),  # the positive control
        ({"clearance": "GOKUHI"}, 403, "REFUSED"),  # not a level of CAN the agreement maps
        ({"expires": (TODAY - dt.timedelta(days=1)).isoformat()}, 403, "REFUSED"),
        ({"sealed_person": b64(b"x" * 80)}, 422, "BAD_SEAL"),
        ({"birth": "1980"}, 422, "MALFORMED"),
        ({"person": BORN}, 403, "REFUSED"),  # birth data JPN's policy does not ask for
    ],
)
def test_an_assurance_is_checked_again_at_the_host(
    pair: Pair, change: dict[str, Any], status: int, reason: str | None
) -> None:
    package_id = str(uuid.uuid4())
    body = assurance_body(pair.store(pair.jpn), package_id, **change)
    raw = signed(pair.store(pair.can), "JPN", Kind.ASSURANCE, body, package_id=package_id)
    before = _count(pair, assurances)
    if reason is None:
        from tests import loopback

        with loopback.client(base_url=pair.jpn.url) as client:
            response = client.post("/federation/v1/inbox", content=raw)
        assert response.status_code == status, response.text
        assert _count(pair, assurances) == before + 1
        return
    refused_at(pair, pair.jpn, raw, status, reason)
    assert _count(pair, assurances) == before


def _request(visitors: list[str], **change: Any) -> dict[str, Any]:
    return {
        "visit": str(uuid.uuid4()),
        "visitors": visitors,
        "purpose": "liaison",
        "place": "Ichigaya",
        "first_day": TODAY.isoformat(),
        "last_day": TODAY.isoformat(),
        "areas": ["maritime"],
        "kind": "emergency",
        "reason": "now",
        "amends": None,
        "level": "S",
        "requested_by": "can-officer",
    } | change


def test_a_visit_for_someone_without_an_assurance_is_refused_at_the_host(pair: Pair) -> None:
    before = _count(pair, visits)
    raw = signed(pair.store(pair.can), "JPN", Kind.VISIT_REQUEST, _request(["nobody"]))
    refused_at(pair, pair.jpn, raw, 404, "UNKNOWN_VISIT")
    assured = pair.assure("v-9001")
    backwards = _request([assured], first_day=(TODAY + dt.timedelta(days=1)).isoformat())
    raw = signed(pair.store(pair.can), "JPN", Kind.VISIT_REQUEST, backwards)
    refused_at(pair, pair.jpn, raw, 422, "MALFORMED")
    wider = _request([assured], areas=["maritime", "air"])  # assured: maritime only
    raw = signed(pair.store(pair.can), "JPN", Kind.VISIT_REQUEST, wider)
    refused_at(pair, pair.jpn, raw, 403, "REFUSED")
    assert _count(pair, visits) == before


def test_a_request_from_a_nation_without_an_agreement_in_force_is_refused(
    pair: Pair,
) -> None:
    jpn = pair.store(pair.jpn)
    before = _count(pair, visits)
    assured = pair.assure("v-9011")
    raw = signed(pair.store(pair.can), "JPN", Kind.VISIT_REQUEST, _request([assured]))
    jpn.today_override = dt.date(2025, 10, 15)  # the eve of JPN-CAN's entry into force
    try:
        refused_at(pair, pair.jpn, raw, 403, "REFUSED")
    finally:
        jpn.today_override = None
    assert _count(pair, visits) == before


def test_a_removal_of_a_visitor_the_visit_does_not_have_is_refused(pair: Pair) -> None:
    from tests.visits.test_visits import _approved

    _, visit, _ = _approved(pair, "v-9021")
    jpn = pair.store(pair.jpn)
    for body, status, reason in (
        ({"visit": visit, "person_id": "someone-else"}, 404, "UNKNOWN_VISIT"),
        ({"visit": str(uuid.uuid4()), "person_id": "v-9021"}, 404, "UNKNOWN_VISIT"),
        ({"visit": visit, "person_id": "v-9021", "note": "x"}, 422, "MALFORMED"),
    ):
        raw = signed(jpn, "CAN", Kind.VISITOR_REMOVED, body)
        refused_at(pair, pair.can, raw, status, reason)
    forged = signed(
        jpn, "CAN", Kind.VISITOR_REMOVED, {"visit": visit, "person_id": "v-9021"},
        key=NodeKeys.generate().signing,
    )  # fmt: skip
    refused_at(pair, pair.can, forged, 403, "BAD_SIGNATURE")
    package_id = str(uuid.uuid4())
    told = signed(
        jpn, "CAN", Kind.VISITOR_REMOVED, {"visit": visit, "person_id": "v-9021"},
        package_id=package_id,
    )  # fmt: skip
    from tests import loopback

    with loopback.client(base_url=pair.can.url) as client:
        assert client.post("/federation/v1/inbox", content=told).status_code == 200
    refused_at(pair, pair.can, told, 409, "REPLAY")  # the same package again
    again = signed(jpn, "CAN", Kind.VISITOR_REMOVED, {"visit": visit, "person_id": "v-9021"})
    refused_at(pair, pair.can, again, 404, "UNKNOWN_VISIT")  # removed already


def test_a_visitor_is_refused_the_day_after_the_visit() -> None:
    window = Window(TODAY, TODAY + dt.timedelta(days=2))
    window.check("v", TODAY + dt.timedelta(days=2))
    with pytest.raises(OutsideVisit, match="held until"):
        window.check("v", TODAY + dt.timedelta(days=3))
    with pytest.raises(OutsideVisit, match="holds from"):
        window.check("v", TODAY - dt.timedelta(days=1))


def test_personal_data_is_erased_after_the_visit(pair: Pair) -> None:
    assured = pair.assure("v-9101", person={"id": "v-9101", "name": "Erasable Name"})
    response = pair.visit([assured])
    visit = response.json()["id"]
    with pair.jpn.client("jpn-officer") as client:
        assert client.post(f"/api/v1/visits/{visit}/approve", json={}).status_code == 200
    later = TODAY + dt.timedelta(days=2 + 31)  # the last day, then the 30 days kept
    for runner in (pair.can, pair.jpn):
        store = pair.store(runner)
        size = pair.audit_size(runner)
        erased = erase_personal(store, today=later)
        assert assured in erased["assurances"]
        assert visit in erased["visits"]
        with store.engine.connect() as connection:
            row = connection.execute(select(assurances).where(assurances.c.id == assured)).one()
        assert row.personal is None
        assert "Erasable" not in str(pair.audit_since(runner, size))
    with pair.jpn.client("jpn-officer") as client:
        listed = [a for a in client.get("/api/v1/assurances").json() if a["id"] == assured]
    assert listed[0]["person"] == {"id": "v-9101", "erased": True}
    with pair.store(pair.jpn).engine.connect() as connection:
        left = connection.execute(select(users.c.id).where(users.c.id.contains(visit))).all()
    assert left == []  # the visitor's account went with it
