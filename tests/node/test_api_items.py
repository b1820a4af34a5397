"""The items endpoints of the REST API, driven through a real ``gsoia serve`` process.

POST /api/v1/items, GET /api/v1/items (visibility, markings, paging, filters) and
GET /api/v1/items/{id} (content, and a 403 with the decision for each kind of denial).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import httpx

from gsoia.node.users import Role
from tests.node.conftest import RunningNode

PROBLEM = "application/problem+json"


def label(
    classification: str = "GOKUHI",
    releasable_to: list[str] | None = None,
    need_to_know: list[str] | None = None,
    area: str | None = "maritime",
    originator: str = "JPN",
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "originator": originator,
        "classification": classification,
        "releasable_to": releasable_to if releasable_to is not None else ["CAN"],
        "need_to_know": need_to_know or [],
    }
    if area is not None:
        result["area"] = area
    return result


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> Any:
    """A problem+json of ``status`` with a one-line ``detail``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    detail = body["detail"]
    assert isinstance(detail, str), body
    assert detail.strip(), body
    assert len(detail.splitlines()) == 1, detail
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    return body


def places(body: Any) -> list[str]:
    """The places named by a 422 problem."""
    return [e["place"] for e in body["errors"]]


def create(client: httpx.Client, title: str, item_label: dict[str, Any], content: str = "x") -> str:
    response = client.post(
        "/api/v1/items", json={"label": item_label, "title": title, "content": content}
    )
    assert response.status_code == 201, response.text
    item_id = response.json()["id"]
    assert isinstance(item_id, str)
    return item_id


def add_user_expiring(
    node: RunningNode, user_id: str, nation: str, clearance: str, expires: dt.date
) -> None:
    """A user whose clearance ends on ``expires`` (the conftest helper has no expiry)."""
    opened = node.open()
    try:
        _, token = opened.add_user(
            user_id, nation, clearance=clearance, clearance_expires=expires, role=Role.ANALYST
        )
    finally:
        opened.close()
    node.tokens[user_id] = token


def verified_audit_size(node: RunningNode) -> int:
    """Verify the node's audit log from the store; the number of entries."""
    opened = node.open()
    try:
        head = opened.verify_audit()
    finally:
        opened.close()
    assert head is not None
    return int(head.size)


def ids(page: Any) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_create_item(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU", ["maritime"])
    jpn.add_user("jp-hi", "JPN", "HI")
    jpn.add_user("ca", "CAN", "TS", ["maritime"])
    jpn.start()
    with jpn.client("jp") as jp:
        sent = label("GOKUHI", ["CAN", "FVEY"], ["maritime"])
        response = jp.post(
            "/api/v1/items", json={"label": sent, "title": "Patrol", "content": "日本語 text"}
        )
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/json"
        view = response.json()
        uuid.UUID(view["id"])
        assert view["title"] == "Patrol"
        assert view["label"] == sent
        assert view["custodian"] == "JPN"
        assert view["consented_to"] == []
        assert view["created_by"] == "jp"
        assert view["agreement"] is None
        assert view["marking"]["text"] == "JPN 極秘"
        assert view["marking"]["original"] == {"policy": "JPN", "id": "GOKUHI", "name": "極秘"}
        assert "content" not in view or view["content"] == "日本語 text"
        text_item = view["id"]

        # optional label fields absent: the stored label has them all, empty
        minimal = jp.post(
            "/api/v1/items",
            json={
                "label": {"originator": "JPN", "classification": "HI"},
                "title": "Minimal",
                "content": "",
            },
        )
        assert minimal.status_code == 201, minimal.text
        assert minimal.json()["label"] == {
            "originator": "JPN",
            "classification": "HI",
            "area": None,
            "releasable_to": [],
            "need_to_know": [],
        }

        binary = bytes(range(256))
        response = jp.post(
            "/api/v1/items",
            json={
                "label": label("HI"),
                "title": "Binary",
                "content_b64": base64.b64encode(binary).decode(),
            },
        )
        assert response.status_code == 201, response.text
        binary_item = response.json()["id"]

        read = jp.get(f"/api/v1/items/{text_item}").json()
        assert read["content"] == "日本語 text"
        assert base64.b64decode(read["content_b64"]) == "日本語 text".encode()
        read = jp.get(f"/api/v1/items/{binary_item}").json()
        assert read["content"] is None
        assert base64.b64decode(read["content_b64"]) == binary

        # exactly one of content and content_b64
        both = jp.post(
            "/api/v1/items",
            json={"label": label(), "title": "t", "content": "x", "content_b64": "eA=="},
        )
        body = assert_problem(both, 422, "invalid")
        assert any("content" in p for p in places(body)), body
        neither = jp.post("/api/v1/items", json={"label": label(), "title": "t"})
        body = assert_problem(neither, 422, "invalid")
        assert any("content" in p for p in places(body)), body
        bad_b64 = jp.post(
            "/api/v1/items", json={"label": label(), "title": "t", "content_b64": "not base64!"}
        )
        body = assert_problem(bad_b64, 422, "invalid")
        assert any("content_b64" in p for p in places(body)), body

        # the label's originator must be this node's nation
        foreign = jp.post(
            "/api/v1/items",
            json={"label": label("S", originator="CAN"), "title": "t", "content": "x"},
        )
        body = assert_problem(foreign, 422, "invalid")
        assert "label.originator" in places(body), body
        assert "label.originator" in body["detail"]

        # other bad labels and bodies: 422 naming the field
        for bad, place in [
            (label("TS"), "label.classification"),
            (label(releasable_to=["XXX"]), "label.releasable_to[0]"),
            ({**label(), "custodian": "CAN"}, "label.custodian"),
            ({**label(), "consented_to": ["USA"]}, "label.consented_to"),
        ]:
            response = jp.post("/api/v1/items", json={"label": bad, "title": "t", "content": "x"})
            body = assert_problem(response, 422, "invalid")
            assert place in places(body), (bad, body)
        for payload in [
            {"label": label(), "title": "", "content": "x"},
            {"label": label(), "title": "   ", "content": "x"},
            {"label": label(), "title": "t" * 1001, "content": "x"},
            {"label": label(), "content": "x"},
            {"title": "t", "content": "x"},
            {"label": label(), "title": "t", "content": "x", "extra": 1},
            {"label": "JPN GOKUHI", "title": "t", "content": "x"},
            [],
        ]:
            assert_problem(jp.post("/api/v1/items", json=payload), 422, "invalid")
        malformed = jp.post(
            "/api/v1/items", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(malformed, 422, "invalid")

        # content over 8 MiB is refused by the node, a body over 12 MiB before it is read
        big = jp.post(
            "/api/v1/items",
            json={"label": label(), "title": "Big", "content": "x" * (8 * 1024 * 1024 + 1)},
        )
        body = assert_problem(big, 422, "invalid")
        assert "content" in places(body)
        huge = jp.post(
            "/api/v1/items",
            content=b" " * (12 * 1024 * 1024 + 1),
            headers={"content-type": "application/json"},
        )
        assert_problem(huge, 413)

    # a user of another nation cannot originate on this node: 403
    with jpn.client("ca") as ca:
        response = ca.post("/api/v1/items", json={"label": label(), "title": "t", "content": "x"})
        assert_problem(response, 403, "forbidden")

    # a user not cleared for the level: 403 with the decision
    with jpn.client("jp-hi") as jp_hi:
        response = jp_hi.post(
            "/api/v1/items", json={"label": label("GOKUHI"), "title": "t", "content": "x"}
        )
        body = assert_problem(response, 403, "denied")
        assert body["reason"] == "CLEARANCE"
        assert body["rule"] == 1
        assert body["explanation"]
        # ... and may file what it can read
        create(jp_hi, "Low", label("HI"))

    # nothing refused was stored
    with jpn.client("jp") as jp:
        listed = jp.get("/api/v1/items").json()
        assert sorted(i["title"] for i in listed["items"]) == [
            "Binary",
            "Low",
            "Minimal",
            "Patrol",
        ]
        assert listed["total"] == 4
    assert verified_audit_size(jpn) > 0


def test_list_shows_only_what_the_caller_may_see(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU", ["maritime", "cyber"])
    jpn.add_user("jp-hi", "JPN", "HI")
    jpn.add_user("ca", "CAN", "S")
    jpn.add_user("us", "USA", "TS")
    jpn.add_user("ukr", "UKR", "OV", ["maritime", "cyber"])
    jpn.add_user("kor", "KOR", "I")
    jpn.start()
    with jpn.client("jp") as jp:
        gokuhi_can = create(jp, "A", label("GOKUHI", ["CAN"]))
        kimitsu_can = create(jp, "B", label("KIMITSU", ["CAN"]))
        hi_fvey = create(jp, "C", label("HI", ["FVEY"]))
        noforn = create(jp, "D", label("GOKUHI", []))
        hi_ukr = create(jp, "E", label("HI", ["UKR", "KOR"]))
        cyber = create(jp, "F", label("GOKUHI", ["CAN"], ["cyber"]))
        kimitsu_kor = create(jp, "G", label("KIMITSU", ["KOR"]))
        everyone = [gokuhi_can, kimitsu_can, hi_fvey, noforn, hi_ukr, cyber, kimitsu_kor]
        page = jp.get("/api/v1/items").json()
        assert ids(page) == everyone
        assert page["total"] == len(everyone)
        assert page["next"] is None

    expected: dict[str, dict[str, str]] = {
        "jp": {
            gokuhi_can: "JPN 極秘",
            kimitsu_can: "JPN 機密",
            hi_fvey: "JPN 秘",
            noforn: "JPN 極秘",
            hi_ukr: "JPN 秘",
            cyber: "JPN 極秘",
            kimitsu_kor: "JPN 機密",
        },
        "jp-hi": {hi_fvey: "JPN 秘", hi_ukr: "JPN 秘"},
        "ca": {
            gokuhi_can: "CAN SECRET // JPN 極秘 // JPN-CAN",
            hi_fvey: "CAN CONFIDENTIAL // JPN 秘 // JPN-CAN",
        },
        "us": {hi_fvey: "USA CONFIDENTIAL // JPN 秘 // JPN-USA"},
        "ukr": {},  # JPN-UKR is only signed
        "kor": {hi_ukr: "KOR 군사III급비밀 // JPN 秘 // JPN-KOR"},  # KIMITSU: no equivalent
    }
    for user, markings in expected.items():
        with jpn.client(user) as client:
            page = client.get("/api/v1/items").json()
            assert page["total"] == len(markings), (user, page)
            assert {i["id"]: i["marking"]["text"] for i in page["items"]} == markings, user
            assert ids(page) == [i for i in everyone if i in markings], user  # in order
            for item in page["items"]:
                assert "content" not in item
                assert "content_b64" not in item
    assert verified_audit_size(jpn) > 0


def test_list_pages_with_next_without_repeats_or_gaps(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU")
    jpn.add_user("ca", "CAN", "S")
    jpn.start()
    visible: list[str] = []
    with jpn.client("jp") as jp:
        for i in range(15):
            if i % 3 == 2:  # NOFORN, interleaved: the pages must skip them
                create(jp, f"hidden {i}", label("HI", []))
            else:
                visible.append(create(jp, f"shown {i}", label("HI", ["CAN"])))
    with jpn.client("ca") as ca:
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3}
            if cursor is not None:
                params["cursor"] = cursor
            response = ca.get("/api/v1/items", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            pages += 1
            assert len(page["items"]) <= 3
            assert page["total"] == len(visible)
            seen += ids(page)
            if pages == 1:
                # an item added while paging shows up at the end, once
                with jpn.client("jp") as jp:
                    visible.append(create(jp, "late", label("HI", ["CAN"])))
            cursor = page["next"]
            if cursor is None:
                break
            assert isinstance(cursor, str)
            assert pages < 10
        assert seen == visible
        assert len(set(seen)) == len(seen)
        assert pages == 4  # 11 items, 3 a page

        # an exact multiple of the page size: no empty extra page
        page = ca.get("/api/v1/items", params={"limit": 11}).json()
        assert len(page["items"]) == 11
        assert page["next"] is None
        page = ca.get("/api/v1/items", params={"limit": 1000}).json()
        assert ids(page) == visible
        assert page["next"] is None

        bad_params: list[dict[str, Any]] = [
            {"limit": 0},
            {"limit": 1001},
            {"limit": "many"},
            {"cursor": "abc"},
            {"cursor": "-1"},
        ]
        for bad in bad_params:
            assert_problem(ca.get("/api/v1/items", params=bad), 422, "invalid")
    assert verified_audit_size(jpn) > 0


def test_list_filters(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU")
    jpn.add_user("ca", "CAN", "S")
    jpn.start()
    with jpn.client("jp") as jp:
        patrol = create(jp, "Patrol report", label("HI", ["CAN"], area="maritime"))
        pct = create(jp, "100% ready", label("GOKUHI", ["CAN"], area="cyber"))
        percent = create(jp, "100 percent", label("GOKUHI", [], area="cyber"))
        snake = create(jp, "snake_case", label("HI", ["CAN"], area="land"))
        snakex = create(jp, "snakeXcase", label("HI", ["CAN"], area="land"))
        mixed = create(jp, "Mixed CASE Title", label("KIMITSU", ["CAN"], area="maritime"))
        slash = create(jp, "back\\slash", label("HI", [], area=None))
        accent = create(jp, "Équipe navale", label("HI", ["CAN"], area="maritime"))
        everyone = [patrol, pct, percent, snake, snakex, mixed, slash, accent]

        def listed(client: httpx.Client = jp, **params: Any) -> list[str]:
            response = client.get("/api/v1/items", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["total"] == len(page["items"]), page
            return ids(page)

        assert listed(area="maritime") == [patrol, mixed, accent]
        assert listed(area="cyber") == [pct, percent]
        assert listed(area="nowhere") == []
        assert listed(originator="JPN") == everyone
        assert listed(originator="CAN") == []
        assert listed(level="HI") == [patrol, snake, snakex, slash, accent]
        assert listed(level="KIMITSU") == [mixed]
        assert listed(area="cyber", level="GOKUHI") == [pct, percent]
        assert listed(area="maritime", level="GOKUHI") == []
        assert listed(q="patrol") == [patrol]
        assert listed(q="PATROL REPORT") == [patrol]
        assert listed(q="mixed case") == [mixed]
        assert listed(q="100") == [pct, percent]
        assert listed(q="100%") == [pct]
        assert listed(q="%") == [pct]
        assert listed(q="_") == [snake]
        assert listed(q="e_c") == [snake]
        assert listed(q="snake%case") == []
        assert listed(q="\\") == [slash]
        assert listed(q="X") == [snakex, mixed]
        assert listed(q="nothing like it") == []
        assert listed(q="Équipe") == [accent]
        assert listed(area="cyber", q="percent") == [percent]

        # filters page like the full listing
        first = jp.get("/api/v1/items", params={"level": "HI", "limit": 2}).json()
        assert ids(first) == [patrol, snake]
        assert first["total"] == 5
        second = jp.get(
            "/api/v1/items", params={"level": "HI", "limit": 2, "cursor": first["next"]}
        ).json()
        assert ids(second) == [snakex, slash]
        assert second["total"] == 5
        third = jp.get(
            "/api/v1/items", params={"level": "HI", "limit": 2, "cursor": second["next"]}
        ).json()
        assert ids(third) == [accent]
        assert third["next"] is None

    # filters narrow what the caller may see, never widen it
    with jpn.client("ca") as ca:
        assert listed(ca) == [patrol, pct, snake, snakex, accent]
        assert listed(ca, area="cyber") == [pct]
        assert listed(ca, q="100") == [pct]
        assert listed(ca, level="KIMITSU") == []
        assert listed(ca, q="\\") == []
    assert verified_audit_size(jpn) > 0

    # case-insensitive beyond ASCII too (last: known to fail on SQLite, see the report)
    with jpn.client("jp") as jp:
        assert listed(jp, q="équipe NAVALE") == [accent]


def test_read_item_and_every_denial(jpn: RunningNode) -> None:
    jpn.add_user("jp", "JPN", "KIMITSU", ["maritime"])
    jpn.add_user("jp-hi", "JPN", "HI", ["maritime"])
    jpn.add_user("jp-nontk", "JPN", "KIMITSU")
    jpn.add_user("ca", "CAN", "S", ["maritime"])
    jpn.add_user("ca-nontk", "CAN", "TS")
    jpn.add_user("ca-c", "CAN", "C", ["maritime"])
    jpn.add_user("ukr", "UKR", "OV", ["maritime"])
    jpn.add_user("kor", "KOR", "I", ["maritime"])
    add_user_expiring(jpn, "ca-expired", "CAN", "TS", dt.date(2020, 1, 1))
    jpn.start()
    with jpn.client("jp") as jp:
        shared = create(
            jp,
            "Shared",
            label("GOKUHI", ["CAN", "UKR", "KOR"], ["maritime"]),
            content="the secret",
        )
        noforn = create(jp, "NOFORN", label("GOKUHI", [], ["maritime"]))
        kimitsu_kor = create(jp, "Top", label("KIMITSU", ["KOR"], ["maritime"]))
        read = jp.get(f"/api/v1/items/{shared}")
        assert read.status_code == 200, read.text
        assert read.json()["content"] == "the secret"
        assert read.json()["marking"]["text"] == "JPN 極秘"

    with jpn.client("ca") as ca:
        read = ca.get(f"/api/v1/items/{shared}")
        assert read.status_code == 200, read.text
        view = read.json()
        assert view["id"] == shared
        assert view["title"] == "Shared"
        assert view["content"] == "the secret"
        assert base64.b64decode(view["content_b64"]) == b"the secret"
        assert view["agreement"] == "JPN-CAN"
        assert view["marking"] == {
            "level": {"policy": "CAN", "id": "S", "name": "SECRET"},
            "original": {"policy": "JPN", "id": "GOKUHI", "name": "極秘"},
            "text": "CAN SECRET // JPN 極秘 // JPN-CAN",
            "display": "CAN SECRET // JPN 極秘 // JPN-CAN",  # no policy has a SPIF
        }
        assert view["label"]["releasable_to"] == ["CAN", "UKR", "KOR"]

    denials = [
        ("ca", noforn, "NOT_RELEASABLE", 1),
        ("ukr", shared, "NO_AGREEMENT", 3),  # JPN-UKR signed, not in force
        ("kor", kimitsu_kor, "NO_EQUIVALENT", 5),  # JPN-KOR has no KIMITSU row
        ("ca-c", shared, "CLEARANCE", 6),
        ("ca-expired", shared, "CLEARANCE", 6),
        ("ca-nontk", shared, "NEED_TO_KNOW", 7),
        ("jp-hi", shared, "CLEARANCE", 1),
        ("jp-nontk", shared, "NEED_TO_KNOW", 2),
    ]
    for user, item, reason, rule in denials:
        with jpn.client(user) as client:
            response = client.get(f"/api/v1/items/{item}")
            body = assert_problem(response, 403, "denied")
            assert body["reason"] == reason, (user, body)
            assert body["rule"] == rule, (user, body)
            explanation = body["explanation"]
            assert isinstance(explanation, str)
            assert f"Rule {rule} ({reason})" in explanation, explanation
            assert reason in body["detail"]
            # a refusal shows nothing of the item
            assert "content" not in body
            assert "content_b64" not in body
            assert body["title"] != "Shared"
            assert "the secret" not in response.text
            if reason in ("CLEARANCE", "NEED_TO_KNOW") and user.startswith("ca"):
                assert body["agreement"] == "JPN-CAN"
            if user.startswith("jp"):
                assert body["agreement"] is None

    with jpn.client("ca") as ca:
        for unknown in [str(uuid.uuid4()), "no-such-item", "x" * 300]:
            body = assert_problem(ca.get(f"/api/v1/items/{unknown}"), 404, "not-found")
            assert "reason" not in body
    assert verified_audit_size(jpn) > 0
