"""The accounts' REST API (``/api/v1/users``) through a real server, on SQLite and
PostgreSQL: an admin lists, adds, reads, changes, disables, enables, re-keys and removes
accounts; everyone else, and an admin beyond its own clearance or on its own account, is
refused with the authority's reason code; a disabled user's token is a 401 everywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from gsoia.node.users import Role, token_hash
from gsoia.store.schema import audit_entries
from tests import loopback
from tests.node.conftest import RunningNode
from tests.node.test_api_items import assert_problem, places

USERS = "/api/v1/users"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_log(jpn: RunningNode) -> list[dict[str, Any]]:
    node = jpn.open()
    try:
        assert node.verify_audit() is not None
        with node.engine.connect() as connection:
            bodies = connection.execute(select(audit_entries.c.body).order_by(audit_entries.c.seq))
            return [json.loads(body) for body in bodies.scalars()]
    finally:
        node.close()


def test_an_admin_manages_accounts(jpn: RunningNode) -> None:
    jpn.add_user("adm", "JPN", "GOKUHI", role=Role.ADMIN)
    jpn.start()
    with jpn.client("adm") as admin, loopback.client(base_url=jpn.url, timeout=30) as anyone:
        added = admin.post(
            USERS,
            json={"id": "a1", "nation": "JPN", "clearance": "HI", "need_to_know": ["maritime"]},
        )
        assert added.status_code == 201, added.text
        assert added.headers["cache-control"] == "no-store"
        token = added.json()["token"]
        assert added.json()["user"]["disabled"] is False
        me = anyone.get("/api/v1/me", headers=bearer(token))
        assert me.json()["clearance"] == "HI"
        assert [u["id"] for u in admin.get(USERS).json()] == ["a1", "adm"]
        assert "token" not in json.dumps(admin.get(USERS).json())
        assert admin.get(f"{USERS}/a1").json()["need_to_know"] == ["maritime"]

        changed = admin.patch(f"{USERS}/a1", json={"clearance": "GOKUHI", "need_to_know": []})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["clearance"], changed.json()["need_to_know"]) == ("GOKUHI", [])
        me = anyone.get("/api/v1/me", headers=bearer(token))  # the change was made here: at once
        assert me.json()["clearance"] == "GOKUHI"
        cleared = admin.patch(f"{USERS}/a1", json={"clearance": None, "role": "officer"})
        assert (cleared.json()["clearance"], cleared.json()["role"]) == (None, "officer")

        assert admin.post(f"{USERS}/a1/disable").json()["disabled"] is True
        for path in ("/api/v1/me", "/api/v1/items", "/taxii2/"):
            refused = anyone.get(path, headers=bearer(token))
            assert refused.status_code == 401, (path, refused.text)
            if path.startswith("/api/"):
                assert assert_problem(refused, 401)["detail"] == "the account 'a1' is disabled"
        assert admin.post(f"{USERS}/a1/enable").json()["disabled"] is False
        assert anyone.get("/api/v1/me", headers=bearer(token)).status_code == 200

        rotated = admin.post(f"{USERS}/a1/rotate-token")
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        new = rotated.json()["token"]
        assert new != token
        assert anyone.get("/api/v1/me", headers=bearer(token)).status_code == 401
        assert anyone.get("/api/v1/me", headers=bearer(new)).status_code == 200

        removed = admin.delete(f"{USERS}/a1")
        assert removed.status_code == 204, removed.text
        assert anyone.get("/api/v1/me", headers=bearer(new)).status_code == 401
        assert_problem(admin.get(f"{USERS}/a1"), 404, "not-found")
    log = audit_log(jpn)
    kinds = [(e["kind"], e["actor"]) for e in log if e["kind"].startswith("user.")]
    assert kinds == [
        ("user.added", "cli"),
        ("user.added", "adm"),
        ("user.changed", "adm"),
        ("user.changed", "adm"),
        ("user.disabled", "adm"),
        ("user.enabled", "adm"),
        ("user.token_rotated", "adm"),
        ("user.removed", "adm"),
    ]
    text = json.dumps(log)
    for secret in (token, new, token_hash(token), token_hash(new)):
        assert secret not in text


def test_everyone_else_is_refused_with_the_authoritys_reason(jpn: RunningNode) -> None:
    jpn.add_user("adm", "JPN", "GOKUHI", role=Role.ADMIN)
    jpn.add_user("off", "JPN", "KIMITSU", role=Role.OFFICER)
    jpn.add_user("ana", "JPN", "KIMITSU")
    jpn.add_user("low", "JPN", "HI")
    jpn.start()
    calls: list[tuple[str, str, Any]] = [
        ("GET", USERS, None),
        ("POST", USERS, {"id": "x", "nation": "JPN"}),
        ("GET", f"{USERS}/low", None),
        ("PATCH", f"{USERS}/low", {"role": "admin"}),
        ("POST", f"{USERS}/low/disable", None),
        ("POST", f"{USERS}/low/enable", None),
        ("POST", f"{USERS}/low/rotate-token", None),
        ("DELETE", f"{USERS}/low", None),
        ("DELETE", f"{USERS}/nobody", None),
    ]
    for user_id in ("off", "ana"):
        with jpn.client(user_id) as client:
            for method, path, body in calls:
                refused = client.request(method, path, json=body)
                assert assert_problem(refused, 403, "forbidden")["reason"] == "ROLE", (
                    user_id,
                    method,
                    path,
                )
    with loopback.client(base_url=jpn.url, timeout=30) as anonymous:
        for method, path, body in calls:
            assert_problem(anonymous.request(method, path, json=body), 401, "unauthorized")

    with jpn.client("adm") as admin:
        above = [
            admin.post(USERS, json={"id": "x", "nation": "JPN", "clearance": "KIMITSU"}),
            admin.patch(f"{USERS}/low", json={"clearance": "TOKUTEI"}),
            admin.post(f"{USERS}/ana/disable"),  # cleared above the admin
        ]
        for refused in above:
            assert assert_problem(refused, 403)["reason"] == "ABOVE_OWN_CLEARANCE"
        own = [
            admin.post("/api/v1/users/adm/disable"),
            admin.patch("/api/v1/users/adm", json={"clearance": "HI"}),
            admin.post("/api/v1/users/adm/rotate-token"),
            admin.delete("/api/v1/users/adm"),
        ]
        for refused in own:
            assert assert_problem(refused, 403)["reason"] == "OWN_ACCOUNT"
        invalid = {
            "nation": admin.post(USERS, json={"id": "x", "nation": "ZZZ"}),
            "clearance": admin.patch(f"{USERS}/low", json={"clearance": "S"}),
            "body.extra": admin.patch(f"{USERS}/low", json={"extra": 1}),
            "body.role": admin.patch(f"{USERS}/low", json={"role": None}),
            "changes": admin.patch(f"{USERS}/low", json={}),
            "id": admin.post(USERS, json={"id": "a:b", "nation": "JPN"}),
        }
        for place, refused in invalid.items():
            assert place in places(assert_problem(refused, 422, "invalid")), (place, refused.text)
        assert_problem(admin.post(f"{USERS}/nobody/disable"), 404, "not-found")
        assert_problem(admin.post(USERS, json={"id": "low", "nation": "JPN"}), 409, "conflict")
        assert [u["id"] for u in admin.get(USERS).json()] == ["adm", "ana", "low", "off"]
        assert admin.get(f"{USERS}/low").json()["role"] == "analyst"
    log = audit_log(jpn)
    refusals = [e for e in log if e["kind"] == "refused"]
    # (the anonymous calls' refusals are counted in one entry a minute, not one each)
    assert len(refusals) >= 2 * len(calls) + 1 + 3 + 4 + 6 + 2
    assert {e["actor"] for e in refusals} >= {"off", "ana", "anonymous", "adm"}
    assert [e["kind"] for e in log if e["kind"].startswith("user.")] == ["user.added"] * 4


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_routes_are_in_the_authoritys_table(jpn: RunningNode) -> None:
    """Every path of the accounts (REST and web) is mapped to ``users.manage``."""
    from gsoia.api.users import users_router
    from gsoia.node.authority import Action
    from gsoia.node.routes import ROUTES
    from gsoia.web import web_router

    node = jpn.open()
    try:
        routes = [*users_router(node).routes, *web_router(node).routes]
    finally:
        node.close()
    mine = {
        (method, path)
        for route in routes
        if "/users" in (path := getattr(route, "path", ""))
        for method in getattr(route, "methods", ())
    }
    assert len(mine) == 15, mine
    assert {ROUTES.get(route) for route in mine} == {Action.USERS}
