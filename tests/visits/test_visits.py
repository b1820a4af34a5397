"""Visits between two real nodes: CAN requests, JPN approves, each visitor's token reaches
CAN sealed and is shown once; the visitor reads at JPN within the visit, as assured and
capped; a withdrawn assurance or a cancelled visit ends the account at once; bad requests
and forged or replayed answers are refused, nothing stored, the refusal audited."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import Kind, make_package_bytes
from gsoia.store.schema import outbox, visitor_accounts, visits
from tests import loopback
from tests.node.test_api_items import label
from tests.visits.conftest import TODAY, Pair, can_down, delivered_late


def _visit_id(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _answer(pair: Pair, visit: str, verb: str = "approve", **body: Any) -> httpx.Response:
    with pair.jpn.client("jpn-officer") as client:
        return client.post(f"/api/v1/visits/{visit}/{verb}", json={"note": "welcome"} | body)


def _listed(pair: Pair, nation: str, visit: str) -> dict[str, Any]:
    runner = pair.jpn if nation == "JPN" else pair.can
    with runner.client(f"{nation.lower()}-officer") as client:
        response = client.get("/api/v1/visits")
    assert response.status_code == 200, response.text
    return dict(next(v for v in response.json() if v["id"] == visit))


def _tokens(pair: Pair, visit: str) -> dict[str, str]:
    with pair.can.client("can-officer") as client:
        response = client.get(f"/api/v1/visits/{visit}/tokens")
    assert response.status_code == 200, response.text
    return dict(response.json()["tokens"])


def _as_visitor(pair: Pair, token: str, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    with loopback.client(base_url=pair.jpn.url, headers=headers, timeout=30) as client:
        return client.get(path)


def _item(pair: Pair, classification: str) -> str:
    with pair.jpn.client("jpn-analyst") as client:
        response = client.post(
            "/api/v1/items",
            json={"label": label(classification), "title": "Patrol", "content": "東シナ海"},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _approved(pair: Pair, person: str, clearance: str = "S") -> tuple[str, str, str]:
    """An assurance, a visit approved at S (today to two days hence), and its token."""
    assurance = pair.assure(person, clearance)
    visit = _visit_id(pair.visit([assurance]))
    assert _answer(pair, visit, level="S").status_code == 200
    return assurance, visit, _tokens(pair, visit)[person]


def test_a_visit_approved_gives_each_visitor_a_token_shown_once(pair: Pair) -> None:
    first, second = pair.assure("v-1001", "S"), pair.assure("v-1002", "TS")
    visit = _visit_id(pair.visit([first, second]))
    asked = _listed(pair, "JPN", visit)
    assert (asked["direction"], asked["state"], asked["level"]) == ("received", "requested", "S")
    shown = {v["person"]["id"]: (v["person"]["name"], v["equivalent"]) for v in asked["visitors"]}
    assert shown == {
        "v-1001": ("Analyst v-1001", "GOKUHI"),
        "v-1002": ("Analyst v-1002", "KIMITSU"),
    }
    approved = _answer(pair, visit, level="S")
    assert approved.status_code == 200, approved.text
    assert approved.json()["delivery"] == "delivered"
    told = _listed(pair, "CAN", visit)
    assert (told["state"], told["approved_level"], told["note"]) == ("approved", "S", "welcome")
    tokens = _tokens(pair, visit)
    assert sorted(tokens) == ["v-1001", "v-1002"]
    assert _tokens(pair, visit) == {}  # shown once
    me = _as_visitor(pair, tokens["v-1002"], "/api/v1/me")
    assert me.status_code == 200, me.text
    # TS as assured, capped at the S approved; the visit's areas; never past its last day
    assert me.json() | {"id": "-"} == {
        "id": "-",
        "nation": "CAN",
        "clearance": "S",
        "clearance_expires": (TODAY + dt.timedelta(days=2)).isoformat(),
        "need_to_know": ["maritime"],
        "role": "analyst",
        "categories": {},
    }


def test_a_visitor_reads_within_the_visit_and_it_is_audited_as_theirs(pair: Pair) -> None:
    _, visit, token = _approved(pair, "v-2001", "TS")
    secret, top = _item(pair, "GOKUHI"), _item(pair, "KIMITSU")
    size = pair.audit_size(pair.jpn)
    read = _as_visitor(pair, token, f"/api/v1/items/{secret}")
    assert read.status_code == 200, read.text
    assert read.json()["marking"]["text"] == "CAN SECRET // JPN 極秘 // JPN-CAN"
    above = _as_visitor(pair, token, f"/api/v1/items/{top}")
    assert above.status_code == 403  # assured TS, approved S: 機密 is beyond the visit
    actors = {e["actor"] for e in pair.audit_since(pair.jpn, size)}
    assert actors == {f"visitor:{visit}:v-2001"}


@pytest.mark.parametrize(
    ("person", "ending"),
    [
        ("v-3001", "/api/v1/assurances/{assurance}/withdraw"),  # the assurance withdrawn
        ("v-4001", "/api/v1/visits/{visit}/cancel"),  # the visit cancelled
    ],
)
def test_the_account_ends_at_once(pair: Pair, person: str, ending: str) -> None:
    assurance, visit, token = _approved(pair, person)
    assert _as_visitor(pair, token, "/api/v1/me").status_code == 200
    with pair.can.client("can-officer") as client:
        ended = client.post(ending.format(assurance=assurance, visit=visit))
    assert ended.json()["delivery"] == "delivered", ended.text
    refused = _as_visitor(pair, token, "/api/v1/me")
    assert refused.status_code == 401
    with pair.store(pair.jpn).engine.connect() as connection:
        held = select(visitor_accounts).where(visitor_accounts.c.visit_id == visit)
        assert connection.execute(held).first() is None


def test_a_token_before_the_first_day_is_refused(pair: Pair) -> None:
    assurance = pair.assure("v-5001")
    first = TODAY + dt.timedelta(days=30)
    visit = _visit_id(
        pair.visit(
            [assurance],
            kind="one-time",
            reason=None,
            first_day=first.isoformat(),
            last_day=(first + dt.timedelta(days=3)).isoformat(),
        )
    )
    assert _answer(pair, visit).status_code == 200
    refused = _as_visitor(pair, _tokens(pair, visit)["v-5001"], "/api/v1/me")
    assert refused.status_code == 401
    assert f"holds from {first.isoformat()}" in refused.text


def test_a_level_above_an_assurance_is_not_approved(pair: Pair) -> None:
    assurance = pair.assure("v-6001", "C")
    visit = _visit_id(pair.visit([assurance]))
    refused = _answer(pair, visit, level="S")
    assert refused.status_code == 422, refused.text
    assert "above what v-6001's assurance maps" in refused.text
    assert _listed(pair, "JPN", visit)["state"] == "requested"
    with pair.store(pair.jpn).engine.connect() as connection:
        held = select(func.count()).select_from(visitor_accounts)
        assert connection.execute(held.where(visitor_accounts.c.visit_id == visit)).scalar() == 0
    assert _answer(pair, visit, "refuse").status_code == 200
    assert _listed(pair, "CAN", visit)["state"] == "refused"


LATE = (TODAY + dt.timedelta(days=5)).isoformat()
AHEAD = (TODAY + dt.timedelta(days=25)).isoformat()
BAD = [
    ({"visitors": ["no-such-assurance"]}, "visitors[0]"),
    ({"last_day": (TODAY - dt.timedelta(days=1)).isoformat()}, "before first_day"),
    ({"kind": "one-time", "reason": None, "first_day": LATE, "last_day": LATE}, "less than 20"),
    ({"reason": None}, "an emergency request says why"),
    ({"level": "TS"}, "above visitors[0]'s assured S"),
    ({"to": "USA"}, "no agreement between CAN and USA in force"),
    ({"areas": ["maritime", "air"]}, "air beyond visitors[0]'s assured need-to-know"),
    ({"kind": "amendment", "first_day": AHEAD, "last_day": AHEAD}, "amends"),
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(("change", "said"), BAD)
def test_bad_requests_are_refused_nothing_stored_audited(
    pair: Pair, change: dict[str, Any], said: str
) -> None:
    assurance = pair.assure(f"v-bad-{uuid.uuid4().hex[:6]}")
    store = pair.store(pair.can)
    with store.engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(visits)).scalar()
    size = pair.audit_size(pair.can)
    response = pair.visit([assurance], **change)
    assert response.status_code == 422, response.text
    assert said in response.text
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(visits)).scalar() == before
    assert [e["kind"] for e in pair.audit_since(pair.can, size)] == ["refused"]


def test_a_request_to_a_nation_without_an_agreement_in_force_is_refused(pair: Pair) -> None:
    # Japan and Ukraine signed theirs; it is not in force (the bundled catalogue)
    store = pair.store(pair.jpn)
    with store.engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(visits)).scalar()
    size = pair.audit_size(pair.jpn)
    body = {
        "to": "UKR", "visitors": ["a"], "purpose": "liaison", "place": "Kyiv",
        "first_day": TODAY.isoformat(), "last_day": TODAY.isoformat(), "areas": ["maritime"],
        "kind": "emergency", "reason": "now",
    }  # fmt: skip
    with pair.jpn.client("jpn-officer") as client:
        response = client.post("/api/v1/visits", json=body)
    assert response.status_code == 422, response.text
    assert "no agreement between JPN and UKR in force" in response.text
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(visits)).scalar() == before
    assert [e["kind"] for e in pair.audit_since(pair.jpn, size)] == ["refused"]


def test_a_level_the_agreement_does_not_map_is_not_approved(pair: Pair) -> None:
    visit = _visit_id(pair.visit([pair.assure("v-6101")]))
    size = pair.audit_size(pair.jpn)
    refused = _answer(pair, visit, level="GOKUHI")  # JPN's level, not CAN's
    assert refused.status_code == 422, refused.text
    assert "'GOKUHI' is not a level of CAN that JPN-CAN maps" in refused.text
    assert [e["kind"] for e in pair.audit_since(pair.jpn, size)] == ["refused"]
    assert _listed(pair, "JPN", visit)["state"] == "requested"


def _post_to_can(pair: Pair, raw: bytes) -> httpx.Response:
    with loopback.client_from(loopback.fresh_source(), base_url=pair.can.url) as client:
        return client.post(
            "/federation/v1/inbox", content=raw, headers={"content-type": "application/json"}
        )


def _answer_package(
    pair: Pair, visit: str, key: Any = None, package_id: str | None = None
) -> bytes:
    jpn = pair.store(pair.jpn)
    body = {"visit": visit, "approved": True, "note": "", "level": "S", "tokens": {}}
    head = jpn.audit.head()  # what every package of JPN's carries, for CAN to witness
    assert head is not None
    signer = key or jpn.keys.signing
    return make_package_bytes(
        signer, Kind.VISIT_ANSWER, "JPN", "CAN", body, jpn.clock(), package_id, head.to_dict()
    )


def _refused_at_can(pair: Pair, raw: bytes, status: int, reason: str) -> None:
    size = pair.audit_size(pair.can)
    response = _post_to_can(pair, raw)
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason
    entries = pair.audit_since(pair.can, size)
    assert [(e["kind"], e["data"]["reason"]) for e in entries] == [("package.refused", reason)]


def test_forged_and_replayed_answers_are_refused(pair: Pair) -> None:
    assurance = pair.assure("v-7001")
    visit = _visit_id(pair.visit([assurance]))
    forged = _answer_package(pair, visit, key=NodeKeys.generate().signing)
    _refused_at_can(pair, forged, 403, "BAD_SIGNATURE")
    _refused_at_can(pair, _answer_package(pair, str(uuid.uuid4())), 404, "UNKNOWN_VISIT")
    assert _listed(pair, "CAN", visit)["state"] == "requested"
    assert _answer(pair, visit).status_code == 200
    with pair.store(pair.jpn).engine.connect() as connection:
        sent = connection.execute(
            select(outbox.c.package_id)
            .where(outbox.c.kind == Kind.VISIT_ANSWER.value)
            .where(outbox.c.payload.contains(visit))
        ).scalar_one()
    _refused_at_can(pair, _answer_package(pair, visit, package_id=sent), 409, "REPLAY")
    _refused_at_can(pair, _answer_package(pair, visit), 409, "REPLAY")  # answered already


def test_an_answer_to_a_partner_down_waits_in_the_outbox(pair: Pair) -> None:
    assurance = pair.assure("v-8001")
    visit = _visit_id(pair.visit([assurance]))
    with can_down(pair):
        approved = _answer(pair, visit)
        assert approved.status_code == 200, approved.text
        assert approved.json()["delivery"] != "delivered"
        assert _listed(pair, "CAN", visit)["state"] == "requested"
    delivered_late(pair, Kind.VISIT_ANSWER, visit)
    assert _listed(pair, "CAN", visit)["state"] == "approved"
    assert list(_tokens(pair, visit)) == ["v-8001"]


def test_an_amended_assurance_is_told_and_ends_what_it_no_longer_covers(pair: Pair) -> None:
    assurance, _, token = _approved(pair, "v-9501", "TS")
    with pair.can.client("can-officer") as client:
        kept = client.post(
            f"/api/v1/assurances/{assurance}/amend", json={"need_to_know": ["maritime", "air"]}
        )
        assert kept.json()["delivery"] == "delivered", kept.text
        assert _as_visitor(pair, token, "/api/v1/me").status_code == 200  # still covered
        unmapped = client.post(f"/api/v1/assurances/{assurance}/amend", json={"clearance": "X"})
        assert unmapped.status_code == 422, unmapped.text
        lowered = client.post(f"/api/v1/assurances/{assurance}/amend", json={"clearance": "C"})
    assert lowered.json()["delivery"] == "delivered", lowered.text
    seen = next(a for a in _listed_assurances(pair) if a["id"] == assurance)
    assert (seen["clearance"], seen["equivalent"], seen["need_to_know"]) == (
        "C",
        "HI",
        ["maritime", "air"],
    )
    assert _as_visitor(pair, token, "/api/v1/me").status_code == 401  # approved at S, now C


def test_an_assurance_narrowed_below_the_visits_areas_ends_its_account(pair: Pair) -> None:
    assurance, _, token = _approved(pair, "v-9601")  # need-to-know and areas: maritime
    with pair.can.client("can-officer") as client:
        narrowed = client.post(
            f"/api/v1/assurances/{assurance}/amend", json={"need_to_know": ["air"]}
        )
    assert narrowed.json()["delivery"] == "delivered", narrowed.text
    assert _as_visitor(pair, token, "/api/v1/me").status_code == 401


def _listed_assurances(pair: Pair) -> list[dict[str, Any]]:
    with pair.jpn.client("jpn-officer") as client:
        return list(client.get("/api/v1/assurances").json())
