"""Sessions and forms: the cookie's flags, CSRF on every form, one user's cookie never
showing another user's items, forged or foreign cookies refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import pytest
from playwright.sync_api import expect

from gsoia.node import holdings
from gsoia.node.item import MAX_ID
from tests import loopback
from tests.node.conftest import RunningNode
from tests.web.conftest import Opener, create_by_api, session_client, unique

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def http_sign_in(site: RunningNode, user_id: str) -> Iterator[httpx.Client]:
    """A client signed in through the form, as a browser would (cookies kept)."""
    with loopback.client(base_url=site.url, timeout=30) as client:
        form = client.get("/web/sign-in")
        match = CSRF.search(form.text)
        assert match, form.text
        response = client.post(
            "/web/sign-in", data={"csrf": match.group(1), "token": site.tokens[user_id]}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/web/items"
        yield client


def page_csrf(client: httpx.Client, path: str = "/web/items") -> str:
    match = CSRF.search(client.get(path).text)
    assert match
    return match.group(1)


def test_the_session_cookie_is_httponly_strict_and_never_holds_the_token(
    site: RunningNode,
) -> None:
    with loopback.client(base_url=site.url) as client:
        form = client.get("/web/sign-in")
        csrf = CSRF.search(form.text)
        assert csrf
        token = site.tokens["jpn-analyst"]
        response = client.post("/web/sign-in", data={"csrf": csrf.group(1), "token": token})
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("gsoia_session=")
    )
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/web" in flags
    value = cookie.split(";")[0].removeprefix("gsoia_session=")
    version, sid, secret = value.split(".")
    assert version == "v2"
    assert len(sid) == 22
    assert len(secret) >= 43  # 256 bits
    assert token not in value
    assert "jpn-analyst" not in value


def test_a_wrong_token_is_refused_on_the_sign_in_page(open_as: Opener) -> None:
    page = open_as(None)
    response = page.goto("/web/items")
    assert response is not None
    page.wait_for_url("**/web/sign-in?next=%2Fweb%2Fitems")
    page.get_by_label("API token").fill("gsoia_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_have_text("That token is unknown or revoked.")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_every_form_post_without_the_csrf_token_is_refused(site: RunningNode) -> None:
    title = unique("forged")
    with http_sign_in(site, "jpn-analyst") as client:
        good = page_csrf(client)
        fields = {
            "title": title,
            "classification": "HI",
            "content": "x",
            "action": "create",
        }
        for csrf in (None, "", "forged", good[:-2] + "xx"):
            data = fields if csrf is None else fields | {"csrf": csrf}
            response = client.post("/web/items", data=data)
            assert response.status_code == 403, response.text
            assert "CSRF" in response.text
        item = create_by_api(
            site, "jpn-analyst", unique("target"), {"originator": "JPN", "classification": "HI"}
        )
        response = client.post(
            f"/web/items/{item}/incidents", data={"kind": "loss", "description": "forged"}
        )
        assert response.status_code == 403
        assert client.post("/web/sign-out", data={}).status_code == 403
        assert client.get("/web/items").status_code == 200  # still signed in
        listed = client.get("/web/items", params={"q": title})
        assert "0 items match" in listed.text
        created = client.post("/web/items", data=fields | {"csrf": good})
        assert created.status_code == 303, created.text


def test_sign_in_without_its_form_token_is_refused(site: RunningNode) -> None:
    with loopback.client(base_url=site.url) as client:
        response = client.post("/web/sign-in", data={"token": site.tokens["jpn-analyst"]})
    assert response.status_code == 403
    assert "gsoia_session" not in response.headers.get("set-cookie", "")


def test_one_users_cookie_never_shows_another_users_items(
    open_as: Opener, site: RunningNode
) -> None:
    japanese = unique("Japanese eyes only")
    item = create_by_api(
        site, "jpn-analyst", japanese, {"originator": "JPN", "classification": "HI"}
    )
    jpn, can = open_as("jpn-analyst"), open_as("can-analyst")
    for page in (jpn, can):
        page.get_by_label("Search titles").fill(japanese)
        page.get_by_role("button", name="Search").click()
    expect(jpn.locator("li.item", has_text=japanese)).to_have_count(1)
    expect(can.locator("li.item", has_text=japanese)).to_have_count(0)
    expect(can.locator(".who strong")).to_have_text("can-analyst")

    with session_client(site, can) as client:
        shown = client.get("/web/items", params={"q": japanese})
        assert shown.status_code == 200
        assert "can-analyst" in shown.text
        assert "0 items match" in shown.text
        assert item not in shown.text
        # the session's id with another secret is a forgery
        value = client.cookies["gsoia_session"]
        version, sid, secret = value.split(".")
        client.cookies.set("gsoia_session", f"{version}.{sid}.{secret[::-1]}", path="/web")
        response = client.get("/web/items", params={"q": japanese})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/web/sign-in")


def test_a_cookie_of_one_node_is_refused_by_another(site: RunningNode, jpn: RunningNode) -> None:
    jpn.add_user("jpn-analyst", "JPN", clearance="KIMITSU")
    jpn.start()
    with http_sign_in(site, "jpn-analyst") as client:
        cookie = client.cookies["gsoia_session"]
    with loopback.client(base_url=jpn.url, cookies={"gsoia_session": cookie}) as other:
        response = other.get("/web/items")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/web/sign-in")


def test_signing_out_ends_the_session(site: RunningNode) -> None:
    with http_sign_in(site, "jpn-analyst") as client:
        cookie = client.cookies["gsoia_session"]
        response = client.post("/web/sign-out", data={"csrf": page_csrf(client)})
        assert response.status_code == 303
        assert client.get("/web/items").status_code == 303
    with loopback.client(base_url=site.url, cookies={"gsoia_session": cookie}) as replay:
        assert replay.get("/web/items").status_code == 303  # the old cookie is dead here


def test_pages_carry_security_headers(site: RunningNode) -> None:
    with http_sign_in(site, "jpn-analyst") as client:
        response = client.get("/web/items")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_htmx_is_vendored_with_its_licence(site: RunningNode) -> None:
    with loopback.client(base_url=site.url) as client:
        response = client.get("/web/static/htmx.min.js")
        assert client.get("/web/static/../node.json").status_code == 404
    assert response.status_code == 200
    assert response.text.startswith("/*! htmx 2.")
    assert "Zero-Clause BSD" in response.text.splitlines()[0]


def test_a_cursor_out_of_range_is_the_pages_own_422(site: RunningNode) -> None:
    """A cursor JSON cannot carry exactly (or not a number at all) is an error page naming
    the parameter, audited as a refusal of the signed-in user; never a 500."""
    with http_sign_in(site, "jpn-analyst") as client:
        for cursor in ("999999999999999999", "9007199254740992", "x"):
            refused = client.get("/web/items", params={"cursor": cursor})
            assert refused.status_code == 422, (cursor, refused.text[:300])
            assert refused.headers["content-type"].startswith("text/html")
            assert "cursor" in refused.text
        assert client.get("/web/items", params={"cursor": "9007199254740991"}).status_code == 200
    with site.client("jpn-officer") as officer:
        size = officer.get("/api/v1/audit", params={"limit": 1}).json()["head"]["size"]
        latest = {"after": max(-1, size - 30), "limit": 1000}
        entries = officer.get("/api/v1/audit", params=latest).json()["entries"]
    refusals = [
        e for e in entries if e["kind"] == "refused" and e["data"]["action"] == "GET /web/items"
    ]
    assert [e["actor"] for e in refusals[-3:]] == ["jpn-analyst"] * 3


def test_an_id_longer_than_an_item_can_have_names_no_item(
    site: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page or form of an item whose id runs past the longest an item's can be (64
    characters) is refused as no such item, never taken as the item its first 64
    characters name."""
    longest = "item-" + unique("longest").encode().hex()
    longest = (longest + "0" * MAX_ID)[:MAX_ID]
    next_id = SimpleNamespace(uuid4=lambda: longest)
    monkeypatch.setattr(holdings, "uuid", next_id)  # the id of the item made below
    node = site.open()
    try:
        analyst = node.authenticate(site.tokens["jpn-analyst"])
        label = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN", "USA"]}
        made = node.create_item(analyst, label, "Longest id", b"x")
    finally:
        node.close()
    assert made["id"] == longest
    longer = longest + "z"
    with http_sign_in(site, "jpn-analyst") as client:
        assert client.get(f"/web/items/{longest}").status_code == 200
        assert client.get(f"/web/items/{longer}").status_code == 404
        preview = client.get(f"/web/items/{longer}/release", params={"to": "CAN"})
        assert preview.status_code == 404, preview.text[:300]
        csrf = page_csrf(client)
        posts = [
            (f"/web/items/{longer}/release", {"to": "CAN"}),
            (f"/web/items/{longer}/incidents", {"kind": "loss", "description": "gone"}),
            (f"/web/items/{longer}/consent-requests", {"to": "USA"}),
        ]
        for path, fields in posts:
            refused = client.post(path, data=fields | {"csrf": csrf})
            assert refused.status_code == 404, (path, refused.text[:300])
    with site.client("jpn-officer") as officer:
        custody = officer.get(f"/api/v1/items/{longest}/custody").json()
        consents = officer.get(f"/api/v1/items/{longest}/consents").json()
        with http_sign_in(site, "jpn-officer") as client:
            csrf = page_csrf(client)
            for path, fields in [
                (f"/web/items/{longer}/consents", {"to": "USA"}),
                (f"/web/items/{longer}/consents/USA/withdraw", {}),
            ]:
                refused = client.post(path, data=fields | {"csrf": csrf})
                assert refused.status_code == 404, (path, refused.text[:300])
        assert officer.get(f"/api/v1/items/{longest}/custody").json() == custody
        assert officer.get(f"/api/v1/items/{longest}/consents").json() == consents
