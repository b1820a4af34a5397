"""The admin's accounts page (``/web/users``) and sessions kept in the store, without a
browser: forms posted with the session's CSRF token as a browser would, against a served
node. A session ends when another process signs it out, disables its user or rotates its
token, and a restart revives none of them."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from gsoia.node.users import SIGNED_IN_FOR, Role
from gsoia.store.schema import audit_entries
from tests import loopback
from tests.node.conftest import RunningNode
from tests.node.test_accounts_workers import cli
from tests.web.test_security import http_sign_in, page_csrf

TOKEN = re.compile(r'<code id="new-token">([^<]+)</code>')


def me(site: RunningNode, token: str) -> httpx.Response:
    with loopback.client(base_url=site.url, timeout=30) as client:
        return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def new_id() -> str:
    return f"web-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(site: RunningNode) -> Iterator[httpx.Client]:
    with http_sign_in(site, "jpn-admin") as client:
        yield client


def test_an_admin_adds_changes_disables_rotates_and_removes_on_the_page(
    site: RunningNode, admin: httpx.Client
) -> None:
    page = admin.get("/web/users")
    assert page.status_code == 200, page.text
    assert '<a href="/web/users" aria-current="page">Accounts</a>' in page.text
    assert 'data-user="jpn-analyst"' in page.text
    assert site.tokens["jpn-analyst"] not in page.text
    csrf = page_csrf(admin, "/web/users")
    user_id = new_id()

    added = admin.post(
        "/web/users",
        data={
            "csrf": csrf,
            "id": user_id,
            "nation": "JPN",
            "clearance": "HI",
            "need_to_know": "maritime, cyber",
            "role": "analyst",
        },
    )
    assert added.status_code == 200, added.text
    shown = TOKEN.search(added.text)
    assert shown, added.text
    token = shown.group(1)
    assert me(site, token).json()["need_to_know"] == ["maritime", "cyber"]
    assert token not in admin.get("/web/users").text  # shown once

    changed = admin.post(
        f"/web/users/{user_id}",
        data={"csrf": csrf, "clearance": "GOKUHI", "need_to_know": "", "role": "officer"},
    )
    assert changed.status_code == 303, changed.text
    assert changed.headers["location"] == f"/web/users?done=changed&user={user_id}#notice"
    after = me(site, token).json()
    assert (after["clearance"], after["need_to_know"], after["role"]) == ("GOKUHI", [], "officer")
    assert (
        f"Account <strong>{user_id}</strong> changed" in admin.get(changed.headers["location"]).text
    )

    assert admin.post(f"/web/users/{user_id}/disable", data={"csrf": csrf}).status_code == 303
    assert me(site, token).status_code == 401
    listed = admin.get("/web/users").text
    assert f'data-user="{user_id}" data-state="disabled"' in listed
    assert admin.post(f"/web/users/{user_id}/enable", data={"csrf": csrf}).status_code == 303
    assert me(site, token).status_code == 200

    rotated = admin.post(f"/web/users/{user_id}/rotate-token", data={"csrf": csrf})
    assert rotated.status_code == 200, rotated.text
    shown = TOKEN.search(rotated.text)
    assert shown
    assert me(site, token).status_code == 401
    assert me(site, shown.group(1)).status_code == 200

    assert admin.post(f"/web/users/{user_id}/remove", data={"csrf": csrf}).status_code == 303
    assert me(site, shown.group(1)).status_code == 401
    assert f'data-user="{user_id}"' not in admin.get("/web/users").text
    kinds = audited(site, user_id)
    assert kinds == [
        "user.added",
        "user.changed",
        "user.disabled",
        "user.enabled",
        "user.token_rotated",
        "user.removed",
    ]


def audited(site: RunningNode, user_id: str) -> list[str]:
    """The kinds of the audit entries of changes to ``user_id``, made by the admin."""
    node = site.open()
    try:
        with node.engine.connect() as connection:
            rows = connection.execute(
                select(audit_entries.c.kind, audit_entries.c.body).order_by(audit_entries.c.seq)
            ).all()
    finally:
        node.close()
    return [kind for kind, body in rows if kind.startswith("user.") and f'"{user_id}"' in body]


def test_the_forms_refuse_bad_input_and_a_missing_csrf_token(
    site: RunningNode, admin: httpx.Client
) -> None:
    csrf = page_csrf(admin, "/web/users")
    user_id = new_id()
    fields = {"id": user_id, "nation": "JPN", "clearance": "NOPE", "role": "analyst"}
    refused = admin.post("/web/users", data={"csrf": csrf, **fields})
    assert refused.status_code == 422
    assert "The account was not added" in refused.text
    assert "unknown level &#39;NOPE&#39; of JPN" in refused.text
    assert f'value="{user_id}"' in refused.text  # the form kept as typed
    for bad, place in (
        ({"nation": "ZZZ"}, "nation"),
        ({"clearance_expires": "soon"}, "clearance_expires"),
        ({"role": "king"}, "role"),
    ):
        answer = admin.post("/web/users", data={"csrf": csrf, **fields, "clearance": "", **bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert f"<code>{place}</code>" in answer.text
    for path in ("/web/users", "/web/users/jpn-junior/disable", "/web/users/jpn-junior"):
        assert admin.post(path, data={**fields, "clearance": ""}).status_code == 403
    assert admin.post("/web/users/nobody/disable", data={"csrf": csrf}).status_code == 404
    # beyond the admin's own clearance, and its own account: the authority's refusals
    above = admin.post("/web/users/jpn-analyst/disable", data={"csrf": csrf})
    assert above.status_code == 403
    assert "no clearance above its own" in above.text
    own = admin.post("/web/users/jpn-admin/rotate-token", data={"csrf": csrf})
    assert own.status_code == 403
    assert "its own account" in own.text
    assert me(site, site.tokens["jpn-junior"]).status_code == 200
    assert f'data-user="{user_id}"' not in admin.get("/web/users").text


@pytest.mark.parametrize("user_id", ["jpn-analyst", "jpn-officer"])
def test_the_page_is_only_for_admins(site: RunningNode, user_id: str) -> None:
    with http_sign_in(site, user_id) as client:
        items = client.get("/web/items")
        assert 'href="/web/users"' not in items.text
        page = client.get("/web/users")
        assert page.status_code == 403
        assert "<h1>Not permitted</h1>" in page.text
        assert "users.manage is for admin accounts, not" in page.text
        csrf = page_csrf(client)
        posted = client.post(
            "/web/users", data={"csrf": csrf, "id": new_id(), "nation": "JPN", "role": "admin"}
        )
        assert posted.status_code == 403
        assert client.post("/web/users/jpn-junior/disable", data={"csrf": csrf}).status_code == 403
    assert me(site, site.tokens["jpn-junior"]).status_code == 200


# -- sessions ended by another process, and a restart --------------------------------------


def signed_in(client: httpx.Client) -> bool:
    response = client.get("/web/items")
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def replay(node: RunningNode, cookie: str) -> bool:
    """Whether a copy of the cookie, sent from elsewhere, is still a session."""
    with loopback.client(base_url=node.url, cookies={"gsoia_session": cookie}) as other:
        return signed_in(other)


def test_sessions_end_by_another_process_and_a_restart_revives_none(jpn: RunningNode) -> None:
    for user_id in ("out", "off", "rot", "kept"):
        jpn.add_user(user_id, "JPN", "HI")
    jpn.add_user("adm", "JPN", "KIMITSU", role=Role.ADMIN)
    jpn.start()
    cookies = {}
    for user_id in ("out", "off", "rot", "kept"):
        with http_sign_in(jpn, user_id) as client:
            cookies[user_id] = client.cookies["gsoia_session"]
            if user_id == "out":
                client.post("/web/sign-out", data={"csrf": page_csrf(client)})
    cli(jpn, "disable", "--id", "off")
    new = cli(jpn, "rotate-token", "--id", "rot").strip()
    time.sleep(SIGNED_IN_FOR)  # the bound within which the server sees the change
    assert {u: replay(jpn, c) for u, c in cookies.items()} == {
        "out": False,
        "off": False,
        "rot": False,
        "kept": True,
    }
    jpn.stop()
    jpn.start()
    cli(jpn, "enable", "--id", "off")
    assert {u: replay(jpn, c) for u, c in cookies.items()} == {
        "out": False,
        "off": False,  # enabled again, but its sessions ended with the disabling
        "rot": False,
        "kept": True,  # a session that holds outlives the restart
    }
    jpn.tokens["rot"] = new
    for user_id in ("off", "rot"):
        with http_sign_in(jpn, user_id) as client:
            assert signed_in(client)
    with http_sign_in(jpn, "adm") as admin:  # disabled by an admin on the page: the same
        admin.post("/web/users/kept/disable", data={"csrf": page_csrf(admin, "/web/users")})
    assert not replay(jpn, cookies["kept"])
