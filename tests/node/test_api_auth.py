"""Authentication of the REST API through a real server: Bearer and HTTP Basic both work;
every other way in is a 401 problem+json with WWW-Authenticate, and is audited."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from gsoia.node import accounts
from gsoia.node.authority import OPERATOR
from gsoia.node.errors import Unauthorized
from gsoia.node.users import SIGNED_IN_FOR, Role
from gsoia.store.schema import users
from tests import loopback
from tests.node.conftest import RunningNode
from tests.node.test_api_items import assert_problem, create, label, verified_audit_size


def basic(user_id: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user_id}:{token}".encode()).decode()


def assert_unauthorized(response: httpx.Response) -> Any:
    body = assert_problem(response, 401, "unauthorized")
    challenge = response.headers.get("www-authenticate", "")
    assert "Bearer" in challenge, response.headers
    assert "Basic" in challenge, response.headers
    return body


# every endpoint of the REST API, with a body that would be valid once signed in
ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/items", None),
    ("POST", "/api/v1/items", {"label": label(), "title": "t", "content": "x"}),
    ("GET", "/api/v1/items/{item}", None),
    ("POST", "/api/v1/items/{item}/consents", {"to": "USA"}),
    ("POST", "/api/v1/incidents", {"item": "{item}", "kind": "loss"}),
    ("GET", "/api/v1/incidents", None),
    ("GET", "/api/v1/agreements", None),
    ("GET", "/api/v1/audit", None),
    (
        "POST",
        "/api/v1/decide",
        {
            "subject": {"id": "s", "nation": "JPN", "clearance": "HI"},
            "label": {"originator": "JPN", "classification": "HI"},
        },
    ),
]


def test_bearer_and_basic_both_work(jpn: RunningNode) -> None:
    token = jpn.add_user("jp", "JPN", "KIMITSU", ["maritime"], role=Role.OFFICER)
    other = jpn.add_user("ca", "CAN", "S")
    jpn.start()
    expected = {
        "id": "jp",
        "nation": "JPN",
        "clearance": "KIMITSU",
        "clearance_expires": None,
        "need_to_know": ["maritime"],
        "role": "officer",
    }
    with loopback.client(base_url=jpn.url, timeout=30) as client:
        for header in [
            f"Bearer {token}",
            f"bearer {token}",  # the scheme is case-insensitive (RFC 9110 §11.1)
            basic("jp", token),
        ]:
            response = client.get("/api/v1/me", headers={"Authorization": header})
            assert response.status_code == 200, (header, response.text)
            assert response.json() == expected | {"categories": {}}
        response = client.get("/api/v1/me", headers={"Authorization": basic("ca", other)})
        assert response.json()["id"] == "ca"

        # Basic works on every endpoint, not only /me
        headers = {"Authorization": basic("jp", token)}
        created = client.post(
            "/api/v1/items",
            json={"label": label(), "title": "t", "content": "x"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        item = created.json()["id"]
        assert client.get(f"/api/v1/items/{item}", headers=headers).status_code == 200
        assert client.get("/api/v1/audit", headers=headers).status_code == 200
    assert verified_audit_size(jpn) > 0


def test_every_other_way_in_is_a_401(jpn: RunningNode) -> None:
    token = jpn.add_user("jp", "JPN", "KIMITSU", role=Role.OFFICER)
    other = jpn.add_user("ca", "CAN", "S")
    jpn.start()
    with jpn.client("jp") as jp:
        item = create(jp, "Item", label("HI", ["CAN"]))
        before = jp.get("/api/v1/audit", params={"limit": 1000}).json()["head"]["size"]

    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic"},
        {"Authorization": "Bearer gsoia_wrong"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": token},  # no scheme
        {"Authorization": f"Token {token}"},
        {"Authorization": f"Digest {token}"},
        {"Authorization": basic("ca", token)},  # another user's id with this token
        {"Authorization": basic("nobody", token)},
        {"Authorization": basic("jp", other)},
        {"Authorization": basic("jp", "")},
        {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()},  # no ':'
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(b"jp:\xff\xfe").decode()},
    ]
    with loopback.client(base_url=jpn.url, timeout=30) as client:
        for headers in bad_headers:
            response = client.get("/api/v1/me", headers=headers)
            body = assert_unauthorized(response)
            assert token not in response.text, headers
            assert body["instance"] == "/api/v1/me"

        # every endpoint refuses a caller without credentials, whatever the body
        for method, path, payload in ENDPOINTS:
            url = path.replace("{item}", item)
            if isinstance(payload, dict) and payload.get("item") == "{item}":
                payload = {**payload, "item": item}
            for headers in [{}, {"Authorization": "Bearer gsoia_wrong"}]:
                response = client.request(method, url, json=payload, headers=headers)
                assert_unauthorized(response)

    # nothing was done, and every refusal was counted (gsoia.node.floods): one entry at
    # once, the others in the next (the one the server writes as it stops)
    with jpn.client("jp") as jp:
        log = jp.get("/api/v1/audit", params={"after": before - 1, "limit": 1000}).json()
        assert [(e["kind"], e["data"]["count"]) for e in log["entries"]] == [("refused", 1)]
        listed = jp.get("/api/v1/items").json()
        assert [i["id"] for i in listed["items"]] == [item]
    jpn.stop()
    opened = jpn.open()
    try:
        log = opened.audit_entries(opened.authenticate(token), after=before - 1, limit=1000)
    finally:
        opened.close()
    refused = [e for e in log["entries"] if e["kind"] == "refused"]
    assert {e["kind"] for e in log["entries"]} == {"refused", "items.listed"}
    assert all(e["actor"] == "anonymous" for e in refused)
    assert {e["data"]["source"] for e in refused} == {"127.0.0.1"}
    assert len(refused) == 2
    assert sum(e["data"]["count"] for e in refused) == len(bad_headers) + 2 * len(ENDPOINTS)
    assert all(token not in str(e) and other not in str(e) for e in log["entries"])
    assert verified_audit_size(jpn) == before + len(refused) + 1  # + the items.listed above


def test_credentials_are_checked_before_the_body(jpn: RunningNode) -> None:
    """An anonymous caller learns nothing about its body: 401, never a 422."""
    jpn.add_user("jp", "JPN", "KIMITSU")
    jpn.start()
    with loopback.client(base_url=jpn.url, timeout=30) as client:
        for path in ["/api/v1/items", "/api/v1/decide", "/api/v1/incidents"]:
            for body in [b"{", b"not json", b"[]", b"{}"]:
                response = client.post(
                    path, content=body, headers={"content-type": "application/json"}
                )
                assert_unauthorized(response)
    assert verified_audit_size(jpn) > 0


def test_a_token_found_is_trusted_for_a_moment_and_one_not_found_never(
    jpn: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Node.authenticate`` keeps a token it found for ``SIGNED_IN_FOR`` seconds: a row
    removed behind the node's back (as a revocation would) stops working after that; a
    token it did not find is looked up again each time."""
    token = jpn.add_user("jp", "JPN", "KIMITSU")
    later = jpn.add_user("jp-later", "JPN", "KIMITSU")
    node = jpn.open()
    try:
        assert node.authenticate(token).id == "jp"
        with node.engine.begin() as connection:
            connection.execute(delete(users).where(users.c.id == "jp"))
        assert node.authenticate(token).id == "jp"  # within the moment
        time.sleep(SIGNED_IN_FOR + 0.2)
        with pytest.raises(Unauthorized):
            node.authenticate(token)
        # not found, then stored: found at once
        unknown = "gsoia_" + "x" * 43
        with pytest.raises(Unauthorized):
            node.authenticate(unknown)
        other = jpn.open()  # another process gives jp-later that very token
        try:
            monkeypatch.setattr(accounts, "new_token", lambda: unknown)
            other.accounts.rotate_token(OPERATOR, "jp-later")
        finally:
            other.close()
        assert node.authenticate(unknown).id == "jp-later"
        with pytest.raises(Unauthorized):
            node.authenticate(later)  # never found before: asked, and gone
        with pytest.raises(Unauthorized):
            node.authenticate(unknown, user_id="jp")  # Basic: the token is not jp's
    finally:
        node.close()
