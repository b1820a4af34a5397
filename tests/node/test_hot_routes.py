"""The item routes answered past FastAPI's router (``gsoia.api.hot``).

Plainly well-formed listings, reads and creations are answered by ``HotRoutes``; anything
else goes on to FastAPI. Both ways must give the same answers: the listing tests ask the
same question each way (a repeated parameter sends it to FastAPI, which takes the last),
and the refusals are FastAPI's own problems.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gsoia.api.hot import listing_query
from gsoia.node.listing import ListFilter
from tests import loopback
from tests.node.conftest import RunningNode
from tests.node.test_api_items import assert_problem, create, label, places


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", (100, 0, ListFilter())),
        (b"limit=1000", (1000, 0, ListFilter())),
        (b"limit=0100&cursor=42", (100, 42, ListFilter())),
        (b"area=maritime&level=SECRET", (100, 0, ListFilter(area="maritime", level="SECRET"))),
        (b"q=%E6%B5%B7%E4%B8%8A&originator=JPN", (100, 0, ListFilter(q="海上", originator="JPN"))),
        (b"limit=5&unknown=x&unknown=y", (5, 0, ListFilter())),  # unknown: ignored, as FastAPI
        (b"area=" + b"a" * 64, (100, 0, ListFilter(area="a" * 64))),
    ],
)
def test_plain_listing_queries_are_read(query: bytes, expected: Any) -> None:
    assert listing_query(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        b"limit=0",
        b"limit=1001",
        b"limit=10000",
        b"limit=%2B5",  # +5
        b"limit=1e2",
        b"limit=%D9%A1",  # an Arabic-Indic digit
        b"limit=5&limit=6",
        b"limit=",
        b"cursor=",
        b"cursor=abc",
        b"cursor=1234567890123456789",
        b"cursor=-1",
        b"cursor=9007199254740992",  # 2**53: beyond what JSON (and the audit log) carry
        b"cursor=999999999999999999",
        b"area=" + b"a" * 65,
        b"originator=" + b"J" * 33,
        b"q=" + b"x" * 201,
        b"area=",
        b"area=a&area=b",
    ],
)
def test_anything_else_is_left_to_fastapi(query: bytes) -> None:
    assert listing_query(query) is None


def test_both_ways_give_the_same_answers(jpn: RunningNode) -> None:
    jpn.add_user("jp-s", "JPN", clearance="KIMITSU")
    jpn.add_user("us", "USA", clearance="TS")
    jpn.in_process = False  # its serve.log is read below
    jpn.start()
    with jpn.client("jp-s") as jp:
        ids = [
            create(jp, f"Report {n}", label(area="maritime" if n % 2 else "air")) for n in range(5)
        ]
        for query in ("limit=2", "limit=2&area=maritime", "q=Report&limit=3", "cursor=0&limit=4"):
            hot = jp.get(f"/api/v1/items?{query}")
            repeated = "&".join(f"{p}&{p}" for p in query.split("&"))  # FastAPI: the last
            routed = jp.get(f"/api/v1/items?{repeated}")
            assert hot.status_code == routed.status_code == 200, (hot.text, routed.text)
            assert hot.json() == routed.json(), query
            assert hot.headers["content-type"] == routed.headers["content-type"]
        page = jp.get("/api/v1/items?limit=2").json()
        following = jp.get(f"/api/v1/items?limit=2&cursor={page['next']}").json()
        assert [i["id"] for i in page["items"] + following["items"]] == ids[:4]
        read = jp.get(f"/api/v1/items/{ids[0]}")
        assert read.status_code == 200
        assert read.json()["content"] == "x"
        # left to FastAPI: its own 422s, naming the place
        assert places(assert_problem(jp.get("/api/v1/items?limit=0"), 422)) == ["query.limit"]
        assert places(assert_problem(jp.get("/api/v1/items?cursor=x"), 422)) == ["query.cursor"]
        for cursor in ("9007199254740992", "999999999999999999"):  # never a 500
            for query in (f"cursor={cursor}", f"cursor={cursor}&cursor={cursor}"):
                refused = assert_problem(jp.get(f"/api/v1/items?{query}"), 422)
                assert places(refused) == ["query.cursor"], query
        last = jp.get("/api/v1/items?cursor=9007199254740991")
        assert last.status_code == 200
        assert last.json()["items"] == []
        empty_title = {"label": label(), "title": "", "content": "x"}
        assert places(assert_problem(jp.post("/api/v1/items", json=empty_title), 422)) == [
            "body.title"
        ]
        both = {"label": label(), "title": "t", "content": "x", "content_b64": "eA=="}
        assert places(assert_problem(jp.post("/api/v1/items", json=both), 422)) == ["body.content"]
    with jpn.client("us") as us:  # not releasable to USA: the app handler refuses
        denied = assert_problem(us.get(f"/api/v1/items/{ids[1]}"), 403, "denied")
        assert denied["reason"]
    with loopback.client(base_url=jpn.url, headers={"Authorization": "Bearer nope"}) as anyone:
        for response in (
            anyone.get("/api/v1/items"),
            anyone.get(f"/api/v1/items/{ids[0]}"),
            anyone.post("/api/v1/items", json={"label": label(), "title": "t", "content": "x"}),
        ):
            assert_problem(response, 401, "unauthorized")
            assert "Bearer" in response.headers["www-authenticate"]
    jpn.stop()
    logged = [
        json.loads(line)
        for line in (jpn.data / "serve.log").read_text("utf-8").splitlines()
        if line.startswith("{")
    ]
    listings = [r for r in logged if r.get("event") == "request" and r["path"] == "/api/v1/items"]
    assert listings
    assert all(r["user"] == "jp-s" for r in listings if r["status"] in (200, 201))
    assert all(r["user"] is None for r in listings if r["status"] == 401)


def test_a_hot_listing_and_a_refusal_are_audited(jpn: RunningNode) -> None:
    jpn.add_user("jp-s", "JPN", clearance="KIMITSU")
    jpn.start()
    with jpn.client("jp-s") as jp:
        create(jp, "One", label())
        assert jp.get("/api/v1/items?area=maritime").status_code == 200
        assert jp.get("/api/v1/items?area=ma%00ritime").status_code == 422  # NUL: the node's
    with loopback.client(base_url=jpn.url, headers={"Authorization": "Bearer nope"}) as anyone:
        assert anyone.get("/api/v1/items").status_code == 401
    jpn.stop()
    node = jpn.open()
    try:
        entries = [json.loads(e["body"]) for e in _entries(node)]
    finally:
        node.close()
    listed = [e for e in entries if e["kind"] == "items.listed"]
    assert [e["data"]["filter"].get("area") for e in listed] == ["maritime"]
    assert listed[0]["actor"] == "jp-s"
    assert listed[0]["data"]["returned"] == 1
    refused = [e for e in entries if e["kind"] == "refused"]
    assert {e["actor"] for e in refused} == {"jp-s", "anonymous"}, refused


def _entries(node: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from gsoia.store.schema import audit_entries

    with node.engine.connect() as connection:
        return [
            dict(r._mapping)
            for r in connection.execute(select(audit_entries).order_by(audit_entries.c.seq))
        ]
