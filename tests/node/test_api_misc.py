"""The rest of the REST API through a real server: agreements, decide, me, /openapi.json,
and the problem+json of unknown routes and methods."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

import gsoia
from gsoia.node.users import Role
from tests import loopback
from tests.node.conftest import RunningNode
from tests.node.test_api_items import (
    add_user_expiring,
    assert_problem,
    places,
    verified_audit_size,
)

# docs/decision.md §2, and the decision of §4 it gets under the bundled catalogue
REQUEST: dict[str, Any] = {
    "subject": {
        "id": "can-0042",
        "nation": "CAN",
        "clearance": "S",
        "clearance_expires": "2027-06-30",
        "need_to_know": ["maritime"],
    },
    "label": {
        "originator": "JPN",
        "classification": "GOKUHI",
        "area": "defence",
        "releasable_to": ["CAN", "FVEY"],
        "need_to_know": ["maritime"],
    },
    "custodian": "JPN",
    "consented_to": [],
    "at": "2026-03-01",
}
DECISION: dict[str, Any] = {
    "allow": True,
    "reason": "ALLOW",
    "agreement": "JPN-CAN",
    "marking": {
        "level": {"policy": "CAN", "id": "S", "name": "SECRET"},
        "original": {"policy": "JPN", "id": "GOKUHI", "name": "極秘"},
        "text": "CAN SECRET // JPN 極秘 // JPN-CAN",
    },
}

# the REST paths of docs/interfaces.md (and the node's identity), with their methods
INTERFACES_PATHS: list[tuple[str, str]] = [
    ("post", "/api/v1/items"),
    ("get", "/api/v1/items"),
    ("get", "/api/v1/items/{id}"),
    ("post", "/api/v1/items/{id}/releases"),
    ("post", "/api/v1/items/{id}/consents"),
    ("post", "/api/v1/incidents"),
    ("get", "/api/v1/agreements"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/decide"),
    ("get", "/.well-known/gsoia"),
]
# those the node serves today, at least
REQUIRED = {
    ("post", "/api/v1/items"),
    ("get", "/api/v1/items"),
    ("get", "/api/v1/items/{id}"),
    ("post", "/api/v1/items/{id}/consents"),
    ("post", "/api/v1/incidents"),
    ("get", "/api/v1/incidents"),
    ("get", "/api/v1/agreements"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/decide"),
    ("get", "/api/v1/me"),
}


def _generic(path: str) -> str:
    """``/api/v1/items/{item_id}`` -> ``/api/v1/items/{}``: parameter names may differ."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_agreements(jpn: RunningNode) -> None:
    jpn.add_user("ca", "CAN", "S")
    jpn.start()
    catalogue_ids = {a["id"] for a in gsoia.load_catalogue().catalogue.model_dump()["agreements"]}
    with jpn.client("ca") as ca:

        def status(at: str | None = None) -> dict[str, Any]:
            response = ca.get("/api/v1/agreements", params={"at": at} if at else {})
            assert response.status_code == 200, response.text
            agreements = response.json()
            assert {a["id"] for a in agreements} == catalogue_ids
            return {a["id"]: a["status"] for a in agreements}

        today = ca.get("/api/v1/agreements").json()
        by_id = {a["id"]: a for a in today}
        can = by_id["JPN-CAN"]
        assert can["parties"] == ["JPN", "CAN"]
        assert can["scope"] == ["*"]
        assert can["title"]
        assert [e["status"] for e in can["events"]] == ["negotiating", "signed", "in_force"]
        assert can["events"][-1]["date"] == "2025-10-16"
        assert {"JPN": ["KIMITSU"], "CAN": ["TS"]} in can["equivalence"]
        assert status()["JPN-CAN"] == "in_force"
        assert status()["JPN-UKR"] == "signed"
        assert status()["JPN-USA"] == "in_force"

        assert status("2025-10-15")["JPN-CAN"] == "signed"
        assert status("2025-10-16")["JPN-CAN"] == "in_force"
        assert status("2022-10-11")["JPN-CAN"] == "negotiating"
        assert status("2022-10-10")["JPN-CAN"] is None  # before its first event
        assert status("2007-08-09")["JPN-USA"] is None
        assert status("2007-08-10")["JPN-USA"] == "in_force"

        for bad in ["yesterday", "2025-13-01", "2025-02-30", "15/10/2025"]:
            body = assert_problem(ca.get("/api/v1/agreements", params={"at": bad}), 422)
            assert any("at" in p for p in places(body)), body
    assert verified_audit_size(jpn) > 0


def test_decide(jpn: RunningNode) -> None:
    jpn.add_user("ca", "CAN")  # any user may ask; an uncleared one too
    jpn.start()
    catalogue = gsoia.load_catalogue()
    with jpn.client("ca") as ca:
        response = ca.post("/api/v1/decide", json=REQUEST)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        decision = response.json()
        assert {k: decision[k] for k in DECISION} == DECISION
        assert decision == catalogue.decide(REQUEST).to_dict()

        # denials are decisions too: 200, with the reason and an explanation
        denials: list[tuple[dict[str, Any], str, str | None]] = [
            ({"at": "2025-10-15"}, "NO_AGREEMENT", None),
            ({"at": "2027-07-01"}, "CLEARANCE", "JPN-CAN"),  # the clearance has expired
            ({"label": {**REQUEST["label"], "releasable_to": []}}, "NOT_RELEASABLE", None),
            ({"custodian": "USA"}, "THIRD_PARTY", None),
            ({"subject": {**REQUEST["subject"], "need_to_know": []}}, "NEED_TO_KNOW", "JPN-CAN"),
        ]
        for change, reason, agreement in denials:
            request = copy.deepcopy(REQUEST) | change
            response = ca.post("/api/v1/decide", json=request)
            assert response.status_code == 200, response.text
            decision = response.json()
            assert decision["allow"] is False
            assert decision["reason"] == reason
            assert "marking" not in decision or decision["marking"] is None
            assert decision["explanation"]
            if agreement is not None:
                assert decision["agreement"] == agreement
            assert decision == catalogue.decide(request).to_dict()
        consented = copy.deepcopy(REQUEST) | {"custodian": "USA", "consented_to": ["CAN"]}
        # the third-party rule passes; JPN-CAN then governs as before
        response = ca.post("/api/v1/decide", json=consented)
        assert response.json()["reason"] == "ALLOW"

        # defaults: no custodian, consent or date
        minimal = {
            "subject": {"id": "s", "nation": "JPN", "clearance": "HI"},
            "label": {"originator": "JPN", "classification": "HI"},
        }
        response = ca.post("/api/v1/decide", json=minimal)
        assert response.status_code == 200, response.text
        assert response.json()["allow"] is True
        assert response.json()["agreement"] is None
        assert response.json()["marking"]["text"] == "JPN 秘"

        # malformed: 422 naming the field, never a decision
        malformed: list[tuple[Any, str]] = [
            ({"label": REQUEST["label"]}, "subject"),
            ({"subject": REQUEST["subject"]}, "label"),
            (REQUEST | {"label": {**REQUEST["label"], "classification": "S"}}, "classification"),
            (REQUEST | {"label": {**REQUEST["label"], "releasable_to": ["XX"]}}, "releasable_to"),
            (REQUEST | {"subject": {**REQUEST["subject"], "nation": "ZZZ"}}, "nation"),
            (REQUEST | {"subject": {**REQUEST["subject"], "clearance": "GOKUHI"}}, "clearance"),
            (REQUEST | {"at": "2026-13-01"}, "at"),
            (REQUEST | {"custodian": "ZZZ"}, "custodian"),
            (REQUEST | {"consented_to": "CAN"}, "consented_to"),
            (REQUEST | {"surprise": 1}, "surprise"),
            ([REQUEST], ""),
            ("decide", ""),
        ]
        for payload, place in malformed:
            response = ca.post("/api/v1/decide", json=payload)
            body = assert_problem(response, 422, "invalid")
            assert "allow" not in body
            assert any(place in p for p in places(body)), (payload, body)
        response = ca.post(
            "/api/v1/decide", content=b"{", headers={"content-type": "application/json"}
        )
        assert_problem(response, 422, "invalid")
    assert verified_audit_size(jpn) > 0


def test_me(jpn: RunningNode) -> None:
    jpn.add_user("admin", "JPN", "KIMITSU", ["maritime", "cyber"], role=Role.ADMIN)
    jpn.add_user("uncleared", "CAN")
    add_user_expiring(jpn, "expiring", "USA", "TS", dt.date(2030, 1, 31))
    jpn.start()
    expected = {
        "admin": {
            "id": "admin",
            "nation": "JPN",
            "clearance": "KIMITSU",
            "clearance_expires": None,
            "need_to_know": ["maritime", "cyber"],
            "role": "admin",
        },
        "uncleared": {
            "id": "uncleared",
            "nation": "CAN",
            "clearance": None,
            "clearance_expires": None,
            "need_to_know": [],
            "role": "analyst",
        },
        "expiring": {
            "id": "expiring",
            "nation": "USA",
            "clearance": "TS",
            "clearance_expires": "2030-01-31",
            "need_to_know": [],
            "role": "analyst",
        },
    }
    for user, me in expected.items():
        with jpn.client(user) as client:
            response = client.get("/api/v1/me")
            assert response.status_code == 200, response.text
            assert response.json() == me | {"categories": {}}
            assert "token" not in response.text
    assert verified_audit_size(jpn) > 0


def test_openapi_and_unknown_routes(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU")
    jpn.start()
    with loopback.client(base_url=jpn.url, timeout=30) as anonymous:
        response = anonymous.get("/openapi.json")
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["openapi"].startswith("3.")
        assert document["info"]["version"] == gsoia.__version__
        served = {
            (method, _generic(path))
            for path, operations in document["paths"].items()
            for method in operations
        }
        for method, path in sorted(REQUIRED):
            assert (method, _generic(path)) in served, (method, path)

        # a path of docs/interfaces.md the node routes is documented; an unrouted one is a 404
        for method, path in INTERFACES_PATHS:
            probe = anonymous.request(method, path.replace("{id}", "probe"))
            routed = probe.status_code != 404 or probe.json().get("detail") != "Not Found"
            if routed:
                assert (method, _generic(path)) in served, (method, path)
            else:
                assert (method, path) not in REQUIRED, (method, path)
        # every operation has a summary or description and at least one response
        for operations in document["paths"].values():
            for operation in operations.values():
                assert operation.get("summary") or operation.get("description")
                assert operation["responses"]

        # unknown routes and methods are problem+json too
        assert_problem(anonymous.get("/api/v1/nothing"), 404, "not-found")
        assert_problem(anonymous.delete("/api/v1/items"), 405, "method-not-allowed")
    with jpn.client("jp") as jp:
        assert_problem(jp.get("/api/v1/nothing"), 404, "not-found")
        assert_problem(jp.put("/api/v1/decide", json={}), 405, "method-not-allowed")
    assert verified_audit_size(jpn) > 0


def test_every_rest_and_taxii_answer_says_no_store(jpn: RunningNode) -> None:
    """Item data and refusals are never cached along the way: every answer of the REST API,
    TAXII and the inbox (hot routes, FastAPI routes, each guard's and handler's refusals)
    carries ``Cache-Control: no-store``; the web's static files keep their own."""
    jpn.add_user("jp", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    jpn.start()
    taxii = {"Accept": "application/taxii+json;version=2.1"}
    big = b" " * (13 * 1024 * 1024)
    as_json = {"content-type": "application/json"}
    with jpn.client("jp") as jp:
        label = {"originator": "JPN", "classification": "HI"}
        created = jp.post("/api/v1/items", json={"label": label, "title": "t", "content": "x"})
        answers = {
            "hot create": created,
            "hot listing": jp.get("/api/v1/items"),
            "hot read": jp.get(f"/api/v1/items/{created.json()['id']}"),
            "route": jp.get("/api/v1/me"),
            "audit": jp.get("/api/v1/audit"),
            "422": jp.get("/api/v1/items", params={"cursor": "x"}),
            "404": jp.get("/api/v1/nothing"),
            "415": jp.post("/api/v1/items", content=b"x", headers={"content-type": "text/plain"}),
            "413": jp.post("/api/v1/items", content=big, headers=as_json),
            "taxii": jp.get("/taxii2/api1/collections/intel/objects/", headers=taxii),
            "taxii 406": jp.get("/taxii2/", headers={"Accept": "text/html"}),
            "taxii 413": jp.post(
                "/taxii2/api1/collections/intel/objects/", content=big, headers=taxii
            ),
            "inbox 422": jp.post("/federation/v1/inbox", content=b"{}"),
        }
    with loopback.client(base_url=jpn.url) as anyone:
        answers["401"] = anyone.get("/api/v1/items")
        answers["taxii 401"] = anyone.get("/taxii2/", headers=taxii)
        static = anyone.get("/web/static/gsoia.css")
    assert answers["hot listing"].status_code == 200
    assert answers["413"].status_code == answers["taxii 413"].status_code == 413
    assert {name: r.headers.get("cache-control") for name, r in answers.items()} == dict.fromkeys(
        answers, "no-store"
    )
    assert static.headers["cache-control"] == "public, max-age=3600"
