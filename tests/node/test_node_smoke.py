"""A node serves, and what it stores it shows to exactly those the agreements allow."""

from __future__ import annotations

from tests.node.conftest import RunningNode

LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}


def test_create_list_read_on_each_database(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU", ["maritime"])
    jpn.add_user("ca-s", "CAN", "S", ["maritime"])
    jpn.add_user("ca-c", "CAN", "C", ["maritime"])
    jpn.start()
    with jpn.client("jp") as jp:
        created = jp.post("/api/v1/items", json={"label": LABEL, "title": "Patrol", "content": "x"})
        assert created.status_code == 201, created.text
        item = created.json()["id"]
    with jpn.client("ca-s") as ca:
        listed = ca.get("/api/v1/items").json()
        assert [i["id"] for i in listed["items"]] == [item]
        assert listed["items"][0]["marking"]["text"] == "CAN SECRET // JPN 極秘 // JPN-CAN"
        read = ca.get(f"/api/v1/items/{item}")
        assert read.status_code == 200
        assert read.json()["content"] == "x"
    with jpn.client("ca-c") as ca:
        assert ca.get("/api/v1/items").json()["items"] == []
        refused = ca.get(f"/api/v1/items/{item}")
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["reason"] == "CLEARANCE"
