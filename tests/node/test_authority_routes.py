"""No route escapes the authority.

- Every route of the served node (its OpenAPI document, the web router, the routes left out
  of the document) maps to an action of the authority's table, and the table names no
  route that does not exist: a new route without an entry fails here, and is refused
  when called.
- Users of every role, nation, clearance and need-to-know, against items of every level:
  each route's answer (status, and the reason code where it gives one) is the authority's
  verdict (``Authority.decide``) on the item as the node holds it at that moment — every
  gate-only route for every user, the routes that act on an item for users, items and
  levels drawn by hypothesis, and every listing equal to the items the authority lets
  each user read.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsoia.api import create_app
from gsoia.api.auth import Caller
from gsoia.node.authority import Action, Copy, Target, Verdict
from gsoia.node.errors import Denied, Forbidden
from gsoia.node.item import find_item, held_copy
from gsoia.node.routes import ROUTES, route_action, unmapped
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.web.site import status_of
from tests import loopback
from tests.budget import examples

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TAXII = {"Accept": "application/taxii+json;version=2.1"}
CLEARANCES = {"JPN": [None, "HI", "GOKUHI", "KIMITSU"], "CAN": [None, "C", "S", "TS"]}
JPN_LEVELS = ["HI", "GOKUHI", "TOKUTEI", "KIMITSU"]


def routes_of(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the application answers, its included routers' too."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif hasattr(route, "path"):
                for method in getattr(route, "methods", None) or ():
                    if method != "HEAD":
                        found.add((method, route.path))

    walk(app.routes)
    return found


@pytest.fixture(scope="module")
def plain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node.init(tmp_path_factory.mktemp("routes") / "jpn", "JPN")
    try:
        yield node
    finally:
        node.close()


def test_every_route_maps_to_an_action(plain_node: Node) -> None:
    app = create_app(plain_node)
    served = routes_of(app)
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= served
    assert len(served) > 60
    assert unmapped(served) == []
    # and the table names no route the node does not have
    assert set(ROUTES) - served == set()


def test_a_route_without_an_action_is_found_and_refused(plain_node: Node) -> None:
    app = create_app(plain_node)

    @app.get("/api/v1/new-thing")
    def new_thing(caller: Caller) -> dict[str, str]:
        return {"shown": "to whom?"}

    assert unmapped(routes_of(app)) == [("GET", "/api/v1/new-thing")]
    _, token = plain_node.add_user("officer-new", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    with loopback.client(
        transport=loopback.InProcess(app),
        base_url="http://node.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        response = client.get("/api/v1/new-thing")
    assert response.status_code == 403, response.text
    assert response.json()["reason"] == "UNMAPPED"


# -- a world of users and items -------------------------------------------------------------


@dataclass
class World:
    node: Node
    users: dict[str, User]
    tokens: dict[str, str]
    items: list[str]
    transport: httpx.BaseTransport
    web: dict[str, tuple[httpx.Client, str]]

    def api(self, user_id: str) -> httpx.Client:
        return loopback.client(
            transport=self.transport,
            base_url="http://node.test",
            headers={"Authorization": f"Bearer {self.tokens[user_id]}"},
        )

    def browser(self, user_id: str) -> tuple[httpx.Client, str]:
        """A client signed in through the web form (cookies kept), and its CSRF token."""
        if user_id not in self.web:
            client = loopback.client(transport=self.transport, base_url="http://node.test")
            form = client.get("/web/sign-in")
            found = CSRF.search(form.text)
            assert found, form.text
            signed = client.post(
                "/web/sign-in", data={"csrf": found.group(1), "token": self.tokens[user_id]}
            )
            assert signed.status_code == 303, signed.text
            page = client.get("/web/agreements")
            csrf = CSRF.search(page.text)
            assert csrf, page.text
            self.web[user_id] = (client, csrf.group(1))
        return self.web[user_id]

    def copy(self, item_id: str) -> Copy:
        with self.node.engine.connect() as connection:
            row = find_item(connection, item_id)
        assert row is not None
        return held_copy(row)

    def verdict(self, user_id: str, action: Action, target: Target) -> Verdict:
        return self.node.authority.decide(self.users[user_id], action, target, self.node.today())


def _label(level: str, need: list[str], releasable: list[str]) -> dict[str, Any]:
    return {
        "originator": "JPN",
        "classification": level,
        "area": "maritime",
        "releasable_to": releasable,
        "need_to_know": need,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    node = Node.init(Path(tmp_path_factory.mktemp("world")) / "jpn", "JPN")
    users: dict[str, User] = {}
    tokens: dict[str, str] = {}
    for role in Role:
        for nation, levels in CLEARANCES.items():
            for clearance in levels:
                for need in ([], ["maritime"]):
                    user_id = f"{role.value}-{nation}-{clearance or 'none'}-{len(need)}"
                    users[user_id], tokens[user_id] = node.add_user(
                        user_id, nation, clearance=clearance, need_to_know=need, role=role
                    )
    filer = users["analyst-JPN-KIMITSU-1"]
    items = [
        node.create_item(filer, _label(level, need, releasable), f"{level} report", b"text")["id"]
        for level in JPN_LEVELS
        for need in ([], ["maritime"])
        for releasable in ([], ["CAN"])
    ]
    for level in ("C", "S", "TS"):  # copies of Canada's items held here
        item_id = str(uuid.uuid4())
        with node.audit.transaction() as tx:
            node.store_received(
                tx,
                {
                    "id": item_id,
                    "title": f"Canada {level}",
                    "originator": "CAN",
                    "classification": level,
                    "area": "maritime",
                    "releasable_to": ["JPN"],
                    "need_to_know": [],
                    "created_at": "2026-01-01T00:00:00+00:00",
                    "created_by": "can-analyst",
                },
                b"text",
                sender="CAN",
                package_id=str(uuid.uuid4()),
                marking=f"CAN {level}",
            )
        items.append(item_id)
    app = create_app(node)
    world = World(node, users, tokens, items, loopback.InProcess(app), {})
    try:
        yield world
    finally:
        for client, _ in world.web.values():
            client.close()
        node.close()


def expected_status(verdict: Verdict, allowed: int) -> int:
    error = verdict.error()
    return allowed if error is None else status_of(error)


def assert_answer(response: httpx.Response, verdict: Verdict, allowed: int, api: bool) -> None:
    """The route answered as the authority's verdict says (status; reason code on the API)."""
    assert response.status_code == expected_status(verdict, allowed), (
        verdict,
        response.text[:300],
    )
    error = verdict.error()
    if api and isinstance(error, Denied | Forbidden):
        assert response.json()["reason"] == verdict.reason


# -- every gate-only route, for every user ----------------------------------------------------

Call = Callable[[httpx.Client], httpx.Response]
ANY = str(uuid.uuid4())

API_GATES: list[tuple[str, str, Call, int]] = [
    ("GET", "/api/v1/me", lambda c: c.get("/api/v1/me"), 200),
    ("GET", "/api/v1/agreements", lambda c: c.get("/api/v1/agreements"), 200),
    ("GET", "/api/v1/peers", lambda c: c.get("/api/v1/peers"), 200),
    (
        "POST",
        "/api/v1/decide",
        lambda c: c.post(
            "/api/v1/decide",
            json={
                "subject": {"id": "x", "nation": "CAN", "clearance": "S"},
                "label": {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]},
            },
        ),
        200,
    ),
    ("GET", "/api/v1/items", lambda c: c.get("/api/v1/items"), 200),
    ("GET", "/api/v1/audit", lambda c: c.get("/api/v1/audit"), 200),
    ("GET", "/api/v1/incidents", lambda c: c.get("/api/v1/incidents"), 200),
    ("GET", "/api/v1/outbox", lambda c: c.get("/api/v1/outbox"), 200),
    ("GET", "/api/v1/consent-requests", lambda c: c.get("/api/v1/consent-requests"), 200),
    (
        "POST",
        "/api/v1/consent-requests/{request_id}",
        lambda c: c.post(f"/api/v1/consent-requests/{ANY}", json={"grant": True}),
        404,
    ),
    (
        "POST",
        "/api/v1/outbox/{package_id}/cancel",
        lambda c: c.post(f"/api/v1/outbox/{ANY}/cancel"),
        404,
    ),
    (  # a release to the node's own nation: the gate first, then the input's 422
        "POST",
        "/api/v1/items/{item_id}/releases",
        lambda c: c.post(f"/api/v1/items/{ANY}/releases", json={"to": "JPN"}),
        422,
    ),
    (
        "POST",
        "/api/v1/releases",
        lambda c: c.post("/api/v1/releases", json={"to": "JPN", "items": [ANY]}),
        422,
    ),
    ("GET", "/metrics", lambda c: c.get("/metrics"), 200),
    ("GET", "/api/v1/users", lambda c: c.get("/api/v1/users"), 200),
    ("GET", "/taxii2/", lambda c: c.get("/taxii2/", headers=TAXII), 200),
    ("GET", "/taxii2/api1/", lambda c: c.get("/taxii2/api1/", headers=TAXII), 200),
    (
        "GET",
        "/taxii2/api1/collections/",
        lambda c: c.get("/taxii2/api1/collections/", headers=TAXII),
        200,
    ),
    (
        "GET",
        "/taxii2/api1/collections/{collection_id}/",
        lambda c: c.get("/taxii2/api1/collections/intel/", headers=TAXII),
        200,
    ),
    (
        "GET",
        "/taxii2/api1/collections/{collection_id}/objects/",
        lambda c: c.get("/taxii2/api1/collections/intel/objects/", headers=TAXII),
        200,
    ),
    (
        "GET",
        "/taxii2/api1/collections/{collection_id}/manifest/",
        lambda c: c.get("/taxii2/api1/collections/intel/manifest/", headers=TAXII),
        200,
    ),
    (
        "GET",
        "/taxii2/api1/collections/{collection_id}/objects/{object_id}/",
        lambda c: c.get(f"/taxii2/api1/collections/intel/objects/indicator--{ANY}/", headers=TAXII),
        404,
    ),
    (
        "GET",
        "/taxii2/api1/collections/{collection_id}/objects/{object_id}/versions/",
        lambda c: c.get(
            f"/taxii2/api1/collections/intel/objects/indicator--{ANY}/versions/", headers=TAXII
        ),
        404,
    ),
    (
        "DELETE",
        "/taxii2/api1/collections/{collection_id}/objects/{object_id}/",
        lambda c: c.delete(
            f"/taxii2/api1/collections/intel/objects/indicator--{ANY}/", headers=TAXII
        ),
        404,
    ),
    (
        "GET",
        "/taxii2/api1/status/{status_id}/",
        lambda c: c.get(f"/taxii2/api1/status/{ANY}/", headers=TAXII),
        404,
    ),
    (  # an envelope sent as plain JSON: the gate first, then the media type's 415
        "POST",
        "/taxii2/api1/collections/{collection_id}/objects/",
        lambda c: c.post(
            "/taxii2/api1/collections/intel/objects/", headers=TAXII, json={"objects": []}
        ),
        415,
    ),
]

WebCall = Callable[[httpx.Client, str], httpx.Response]

WEB_GATES: list[tuple[str, str, WebCall, int]] = [
    ("GET", "/web/items", lambda c, _: c.get("/web/items"), 200),
    ("GET", "/web/items/new", lambda c, _: c.get("/web/items/new"), 200),
    ("GET", "/web/agreements", lambda c, _: c.get("/web/agreements"), 200),
    ("GET", "/web/agreements/{agreement_id}", lambda c, _: c.get("/web/agreements/JPN-CAN"), 200),
    ("GET", "/web/audit", lambda c, _: c.get("/web/audit"), 200),
    ("GET", "/web/incidents", lambda c, _: c.get("/web/incidents"), 200),
    ("GET", "/web/outbox", lambda c, _: c.get("/web/outbox"), 200),
    ("GET", "/web/consent-requests", lambda c, _: c.get("/web/consent-requests"), 200),
    ("GET", "/web/users", lambda c, _: c.get("/web/users"), 200),
    (  # an empty form: the gate first, then the form's 422
        "POST",
        "/web/items",
        lambda c, csrf: c.post("/web/items", data={"csrf": csrf}),
        422,
    ),
    (
        "POST",
        "/web/consent-requests/{request_id}",
        lambda c, csrf: c.post(
            f"/web/consent-requests/{ANY}", data={"csrf": csrf, "decision": "grant"}
        ),
        404,
    ),
    (
        "POST",
        "/web/outbox/{package_id}/cancel",
        lambda c, csrf: c.post(f"/web/outbox/{ANY}/cancel", data={"csrf": csrf}),
        404,
    ),
    (
        "POST",
        "/web/items/{item_id}/release",
        lambda c, csrf: c.post(f"/web/items/{ANY}/release", data={"csrf": csrf, "to": "JPN"}),
        422,
    ),
]


def test_every_gate_answers_as_the_authority(world: World) -> None:
    checked: set[tuple[str, str]] = set()
    for user_id in world.users:
        with world.api(user_id) as client:
            for method, path, call, allowed in API_GATES:
                action = route_action(method, path)
                assert action is not None, path
                verdict = world.node.authority.admits(world.users[user_id], action)
                assert_answer(call(client), verdict, allowed, api=not path.startswith("/tax"))
                checked.add((method, path))
        if world.users[user_id].role == Role.MONITOR:
            continue  # no page is for a monitor: signing in shows nothing but refusals
        browser, csrf = world.browser(user_id)
        for method, path, web_call, allowed in WEB_GATES:
            action = route_action(method, path)
            assert action is not None, path
            verdict = world.node.authority.admits(world.users[user_id], action)
            assert_answer(web_call(browser, csrf), verdict, allowed, api=False)
            checked.add((method, path))
    assert checked == {(m, p) for m, p, _, _ in API_GATES} | {(m, p) for m, p, _, _ in WEB_GATES}


def test_each_listing_holds_what_the_authority_lets_its_user_read(world: World) -> None:
    for user_id, user in world.users.items():
        readable = {
            item_id
            for item_id in world.items
            if world.verdict(user_id, Action.READ, Target(copy=world.copy(item_id))).allowed
        }
        with world.api(user_id) as client:
            response = client.get("/api/v1/items", params={"limit": 1000})
        if user.role == Role.MONITOR:
            assert response.status_code == 403
            continue
        listed = {i["id"] for i in response.json()["items"]} & set(world.items)
        assert listed == readable, user_id


# -- the routes that act on an item -----------------------------------------------------------


@dataclass(frozen=True)
class ItemRoute:
    method: str
    path: str
    allowed: int
    call: Callable[[World, str, str, str], httpx.Response]
    """(world, user id, item id, level) -> the answer."""
    web: bool = False


def _api(method: str, path: str, body: Callable[[str], Any] | None = None) -> Any:
    def call(world: World, user_id: str, item_id: str, level: str) -> httpx.Response:
        with world.api(user_id) as client:
            return client.request(
                method,
                path.replace("{item_id}", item_id),
                json=None if body is None else body(level),
                params={"to": "CAN"} if path.endswith("/preview") else None,
            )

    return call


def _web(method: str, path: str, form: dict[str, str] | None = None) -> Any:
    def call(world: World, user_id: str, item_id: str, level: str) -> httpx.Response:
        client, csrf = world.browser(user_id)
        url = path.replace("{item_id}", item_id)
        if method == "GET":
            return client.get(url, params={"to": "CAN"} if url.endswith("/release") else None)
        return client.post(url, data={"csrf": csrf, **(form or {})})

    return call


ITEM_ROUTES = [
    ItemRoute("GET", "/api/v1/items/{item_id}", 200, _api("GET", "/api/v1/items/{item_id}")),
    ItemRoute(
        "GET",
        "/api/v1/items/{item_id}/releases/preview",
        200,
        _api("GET", "/api/v1/items/{item_id}/releases/preview"),
    ),
    ItemRoute(
        "POST",
        "/api/v1/items/{item_id}/consents",
        201,
        _api("POST", "/api/v1/items/{item_id}/consents", lambda _: {"to": "GBR"}),
    ),
    ItemRoute(
        "POST",
        "/api/v1/items/{item_id}/consent-requests",
        409,  # allowed, and then: its originator is no pinned peer
        _api("POST", "/api/v1/items/{item_id}/consent-requests", lambda _: {"to": "GBR"}),
    ),
    ItemRoute(
        "POST",
        "/api/v1/items/{item_id}/classification",
        200,
        _api("POST", "/api/v1/items/{item_id}/classification", lambda lv: {"classification": lv}),
    ),
    ItemRoute("GET", "/web/items/{item_id}", 200, _web("GET", "/web/items/{item_id}"), web=True),
    ItemRoute(
        "GET",
        "/web/items/{item_id}/release",
        200,
        _web("GET", "/web/items/{item_id}/release"),
        web=True,
    ),
    ItemRoute(
        "POST",
        "/web/items/{item_id}/incidents",
        303,
        _web("POST", "/web/items/{item_id}/incidents", {"kind": "loss"}),
        web=True,
    ),
    ItemRoute(
        "POST",
        "/web/items/{item_id}/consent-requests",
        409,
        _web("POST", "/web/items/{item_id}/consent-requests", {"to": "GBR"}),
        web=True,
    ),
]


def _incident(world: World, user_id: str, item_id: str, level: str) -> httpx.Response:
    with world.api(user_id) as client:
        return client.post("/api/v1/incidents", json={"item": item_id, "kind": "loss"})


ITEM_ROUTES.append(ItemRoute("POST", "/api/v1/incidents", 201, _incident))


def _create(world: World, user_id: str, item_id: str, level: str) -> httpx.Response:
    with world.api(user_id) as client:
        return client.post(
            "/api/v1/items",
            json={"label": _label(level, ["maritime"], []), "title": "new", "content": "x"},
        )


ITEM_ROUTES.append(ItemRoute("POST", "/api/v1/items", 201, _create))


@settings(
    max_examples=examples(400),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_each_item_route_answers_as_the_authority(world: World, data: st.DataObject) -> None:
    user_id = data.draw(st.sampled_from(sorted(world.users)), label="user")
    route = data.draw(st.sampled_from(ITEM_ROUTES), label="route")
    item_id = data.draw(st.sampled_from(world.items), label="item")
    level = data.draw(st.sampled_from(JPN_LEVELS), label="level")
    user = world.users[user_id]
    if route.web and user.role == Role.MONITOR:
        user_id = user_id.replace("monitor", "analyst")
    action = route_action(route.method, route.path)
    assert action is not None
    if route.path == "/api/v1/items":
        target = Target(copy=Copy("", _label(level, ["maritime"], []), "JPN"))  # type: ignore[arg-type]
    else:
        target = Target(copy=world.copy(item_id), level=level)
    gate = world.node.authority.admits(world.users[user_id], action)
    verdict = gate if not gate.allowed else world.verdict(user_id, action, target)
    response = route.call(world, user_id, item_id, level)
    assert_answer(response, verdict, route.allowed, api=not route.web)
    if verdict.allowed and route.allowed == 409:
        assert "not a peer" in response.text  # not the originator's own 409
