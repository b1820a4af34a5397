"""What each endpoint shows one user on one node: every page of the REST listing, TAXII
objects and the web items list, and single REST reads."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx

from tests import loopback
from tests.node.conftest import RunningNode
from tests.world.build import bearer, http

TAXII = "application/taxii+json;version=2.1"
OBJECTS = "/taxii2/api1/collections/9b1f4c7e-2d3a-4e5b-8f61-0c7a2b9d4e13/objects/"
REST_PAGE = 1000
TAXII_PAGE = 1000
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
WEB_ITEM = re.compile(
    r'<li class="item" data-id="([^"]+)">\s*<p class="banner[^>]*>\s*'
    r'<span class="visually-hidden">[^<]*</span><span class="marking">([^<]*)</span>'
)
WEB_TOTAL = re.compile(r'<h2 id="results-heading">(\d+) items?')
WEB_NEXT = re.compile(r'<a rel="next" href="([^"]+)"')


class EndpointError(AssertionError):
    """An endpoint answered something other than a page (status, shape)."""


@dataclass(frozen=True)
class Shown:
    """What one endpoint listed for one user: entries in order, and its totals."""

    entries: list[tuple[str, dict[str, Any]]]
    """(item id or STIX id, what the endpoint said of it)."""
    totals: set[int]
    pages: int


def rest_listing(node: RunningNode, user_id: str) -> Shown:
    client = http(node)
    entries: list[tuple[str, dict[str, Any]]] = []
    totals: set[int] = set()
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": str(REST_PAGE)} | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/v1/items", params=params, headers=bearer(node, user_id))
        pages += 1
        if response.status_code != 200:
            raise EndpointError(f"REST list {node.nation} {user_id}: {response.status_code}")
        page = response.json()
        entries += [(item["id"], item) for item in page["items"]]
        totals.add(page["total"])
        cursor = page["next"]
        if cursor is None:
            return Shown(entries, totals, pages)


def taxii_objects(node: RunningNode, user_id: str) -> Shown:
    client = http(node)
    headers = bearer(node, user_id) | {"Accept": TAXII}
    entries: list[tuple[str, dict[str, Any]]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": str(TAXII_PAGE)} | ({"next": cursor} if cursor else {})
        response = client.get(OBJECTS, params=params, headers=headers)
        pages += 1
        if response.status_code != 200:
            raise EndpointError(f"TAXII {node.nation} {user_id}: {response.status_code}")
        if not response.headers["content-type"].startswith("application/taxii+json"):
            raise EndpointError(f"TAXII {node.nation} {user_id}: {response.headers}")
        envelope = response.json()
        entries += [(obj["id"], obj) for obj in envelope.get("objects", [])]
        if not envelope["more"]:
            if "next" in envelope:
                raise EndpointError(f"TAXII {node.nation} {user_id}: next without more")
            return Shown(entries, set(), pages)
        cursor = envelope["next"]


def web_session(node: RunningNode, user_id: str) -> httpx.Client:
    """A client signed in through the sign-in form (CSRF token, then the session cookie)."""
    client = loopback.client(base_url=node.url, timeout=120)
    form = client.get("/web/sign-in")
    found = CSRF.search(form.text)
    if found is None:
        client.close()
        raise EndpointError(f"web {node.nation}: no CSRF token on the sign-in form")
    signed = client.post(
        "/web/sign-in", data={"csrf": found.group(1), "token": node.tokens[user_id]}
    )
    if signed.status_code != 303 or "gsoia_session" not in client.cookies:
        client.close()
        raise EndpointError(f"web {node.nation} {user_id}: sign-in gave {signed.status_code}")
    return client


def web_items(node: RunningNode, user_id: str) -> Shown:
    entries: list[tuple[str, dict[str, Any]]] = []
    totals: set[int] = set()
    pages = 0
    client = web_session(node, user_id)
    try:
        path = "/web/items"
        while True:
            response = client.get(path)
            pages += 1
            if response.status_code != 200:
                raise EndpointError(f"web {node.nation} {user_id} {path}: {response.status_code}")
            page = response.text
            total = WEB_TOTAL.search(page)
            if total is None:
                raise EndpointError(f"web {node.nation} {user_id} {path}: no total")
            totals.add(int(total.group(1)))
            found = WEB_ITEM.findall(page)
            if len(found) != page.count('<li class="item"'):
                raise EndpointError(f"web {node.nation} {user_id} {path}: an item not parsed")
            entries += [(i, {"marking": html.unescape(m)}) for i, m in found]
            following = WEB_NEXT.search(page)
            if following is None:
                return Shown(entries, totals, pages)
            path = html.unescape(following.group(1))
    finally:
        client.close()


def rest_read(node: RunningNode, user_id: str, item_id: str) -> httpx.Response:
    return http(node).get(f"/api/v1/items/{item_id}", headers=bearer(node, user_id))
