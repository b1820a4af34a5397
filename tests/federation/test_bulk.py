"""Bulk releases (``POST /api/v1/releases``) between real nodes, and what travels in batches.

Each item of a bulk release is decided and released as ``POST /api/v1/items/{id}/releases``
would, or refused with the problem that would answer, and audited as it would be; the
packages reach the partner's node together (its batch inbox). A malformed request is
refused whole and stores nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from gsoia.node.users import Role
from tests.federation.conftest import RunningNode
from tests.federation.test_exchange import LABEL, create

PROBLEM = "application/problem+json"
NOT_FOR_CAN = LABEL | {"releasable_to": ["USA"]}


def bulk(node: RunningNode, user: str | None, body: Any) -> httpx.Response:
    with node.client(user) as client:
        return client.post("/api/v1/releases", json=body)


def single(node: RunningNode, user: str | None, item: str, to: str) -> httpx.Response:
    with node.client(user) as client:
        return client.post(f"/api/v1/items/{item}/releases", json={"to": to})


def audit_after(node: RunningNode, officer: str, seq: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    with node.client(officer) as client:
        while True:
            page = client.get("/api/v1/audit", params={"after": seq, "limit": 1000}).json()
            entries += page["entries"]
            if not page["entries"]:
                return entries
            seq = page["entries"][-1]["seq"]


def audit_size(node: RunningNode, officer: str) -> int:
    with node.client(officer) as client:
        head = client.get("/api/v1/audit", params={"limit": 1}).json()["head"]
    return int(head["size"]) - 1 if head else -1


def outbox_size(node: RunningNode, officer: str) -> int:
    with node.client(officer) as client:
        return len(client.get("/api/v1/outbox").json())


def test_a_bulk_release_decides_each_item_as_a_release_alone(
    nodes: dict[str, RunningNode],
) -> None:
    jpn, can = nodes["JPN"], nodes["CAN"]
    good = [create(jpn, f"Bulk report {n}") for n in range(3)]
    refused = create(jpn, "Not for Canada", NOT_FOR_CAN)
    missing = str(uuid.uuid4())
    items = [good[0], refused, good[1], missing, good[2]]
    before = audit_size(jpn, "jpn-officer")

    answer = bulk(jpn, "jpn-analyst", {"to": "CAN", "items": items})
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert (document["to"], document["released"], document["refused"]) == ("CAN", 3, 2)
    results = document["results"]
    assert [r["item"] for r in results] == items
    assert [r["released"] for r in results] == [True, False, True, False, True]
    for result in (results[0], results[2], results[4]):
        assert result["state"] == "delivered", result
        assert result["to"] == "CAN"
        assert result["decision"]["marking"]["text"] == "CAN SECRET // JPN 極秘 // JPN-CAN"
    # a refusal is the problem the release alone answers (and stays refused)
    alone = single(jpn, "jpn-analyst", refused, "CAN")
    assert alone.status_code == 403
    assert results[1]["problem"] | {"instance": None} == alone.json() | {"instance": None}
    assert results[1]["problem"]["reason"] == "NOT_RELEASABLE"
    alone = single(jpn, "jpn-analyst", missing, "CAN")
    assert alone.status_code == 404
    assert results[3]["problem"]["status"] == 404
    assert results[3]["problem"]["type"] == alone.json()["type"]

    entries = audit_after(jpn, "jpn-officer", before)
    mine = [e for e in entries if e["actor"] == "jpn-analyst"][:5]  # the bulk's, in order
    assert [e["kind"] for e in mine] == [
        "item.released",
        "release.refused",
        "item.released",
        "refused",
        "item.released",
    ]
    assert [e["data"].get("item") for e in mine[:3]] == items[:3]
    assert mine[1]["data"] == {"item": refused, "to": "CAN", "reason": "NOT_RELEASABLE"}
    assert missing in mine[3]["data"]["reason"]
    assert mine[3]["data"]["action"] == "POST /api/v1/releases"
    packages = {r["package"] for r in results if r["released"]}
    assert {e["data"]["package"] for e in mine if e["kind"] == "item.released"} == packages
    delivered = [e["data"]["package"] for e in entries if e["kind"] == "package.delivered"]
    assert packages <= set(delivered)

    with can.client("can-secret") as client:
        for item in good:
            read = client.get(f"/api/v1/items/{item}")
            assert read.status_code == 200, read.text
            assert read.json()["custodian"] == "CAN"
        assert client.get(f"/api/v1/items/{refused}").status_code == 404


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ({"to": "CAN"}, "items"),
        ({"to": "CAN", "items": []}, "items"),
        ({"to": "CAN", "items": "one"}, "items"),
        ({"to": "CAN", "items": [7]}, "items"),
        ({"to": "CAN", "items": ["x" * 65]}, "items"),
        ({"to": "CAN", "items": [""]}, "items"),
        ({"to": "CAN", "items": [str(n) for n in range(1001)]}, "items"),
        ({"items": ["an-item"]}, "to"),
        ({"to": "CAN", "items": ["an-item"], "why": "extra"}, "why"),
        ({"to": "XXX", "items": ["an-item"]}, "to"),
        ({"to": "JPN", "items": ["an-item"]}, "to"),
        ([{"to": "CAN"}], ""),
    ],
)
def test_a_malformed_bulk_release_is_refused_whole(
    nodes: dict[str, RunningNode], body: Any, place: str
) -> None:
    jpn = nodes["JPN"]
    item = create(jpn, "Held back")
    if isinstance(body, dict) and body.get("items") == ["an-item"]:
        body = body | {"items": [item]}
    outbox = outbox_size(jpn, "jpn-officer")
    before = audit_size(jpn, "jpn-officer")

    answer = bulk(jpn, "jpn-analyst", body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert problem["status"] == 422
    assert any(place in e["place"] for e in problem["errors"]), problem
    assert outbox_size(jpn, "jpn-officer") == outbox
    entries = audit_after(jpn, "jpn-officer", before)
    assert [e["kind"] for e in entries if e["actor"] == "jpn-analyst"] == ["refused"]


def test_a_duplicate_item_is_refused_whole(nodes: dict[str, RunningNode]) -> None:
    jpn = nodes["JPN"]
    item = create(jpn, "Twice")
    outbox = outbox_size(jpn, "jpn-officer")
    answer = bulk(jpn, "jpn-analyst", {"to": "CAN", "items": [item, item]})
    assert answer.status_code == 422, answer.text
    assert "each item once" in answer.json()["detail"]
    assert outbox_size(jpn, "jpn-officer") == outbox


def test_who_may_release_in_bulk_is_who_may_release_alone(
    nodes: dict[str, RunningNode],
) -> None:
    jpn, can = nodes["JPN"], nodes["CAN"]
    jpn.add_user("jpn-guest", "USA", "TS", ["maritime"])  # a reader of another nation
    jpn.add_user("jpn-plain", "JPN", "KIMITSU", [], role=Role.OFFICER)  # no need-to-know
    by_analyst = create(jpn, "For the analyst")
    by_officer = create(jpn, "For the officer", LABEL | {"need_to_know": []})

    # an analyst and an officer of the node release what they may read, no role needed
    answer = bulk(jpn, "jpn-plain", {"to": "CAN", "items": [by_officer]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0].get("state") == "delivered", answer.text
    answer = bulk(jpn, "jpn-analyst", {"to": "CAN", "items": [by_analyst]})
    assert answer.json()["results"][0].get("state") == "delivered", answer.text
    # the officer lacks the analyst's need-to-know: refused as the release alone is
    unread = create(jpn, "Maritime only")
    answer = bulk(jpn, "jpn-plain", {"to": "CAN", "items": [unread]})
    alone = single(jpn, "jpn-plain", unread, "CAN")
    [result] = answer.json()["results"]
    assert (result["released"], alone.status_code) == (False, 403), answer.text
    assert result["problem"] | {"instance": None} == alone.json() | {"instance": None}
    assert result["problem"]["reason"] == "NEED_TO_KNOW"

    other = create(jpn, "Not for guests")
    for user, status in (("jpn-guest", 403), (None, 401)):
        alone = single(jpn, user, other, "CAN")
        together = bulk(jpn, user, {"to": "CAN", "items": [other]})
        assert (alone.status_code, together.status_code) == (status, status), together.text
        assert together.headers["content-type"].startswith(PROBLEM)
        assert together.json()["type"] == alone.json()["type"]

    # a custodian's analyst: what JPN's consent does not cover is refused, item by item
    with can.client("can-secret") as client:
        answer = client.post("/api/v1/releases", json={"to": "USA", "items": [by_analyst]})
        alone = client.post(f"/api/v1/items/{by_analyst}/releases", json={"to": "USA"})
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["released"] is False
    assert result["problem"]["status"] == alone.status_code == 403
    assert result["problem"]["reason"] == alone.json()["reason"] == "THIRD_PARTY"
