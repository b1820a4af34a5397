"""A started Japanese node with something of everything in it, for hostile requests.

``world`` is the node of ``tests/node/conftest.py`` (``jpn``, on SQLite and on PostgreSQL)
with four users (an admin among them), a simulated Canadian partner
(``tests.attacks.simulator``) pinned as a peer, an item released to it, a consent request
from it, and a TAXII object: so that every path parameter of the API has at least one id
that exists, and hostile requests reach the code behind the "not found".

One world per test module and database: the hostile tests add nothing a later test
relies on the absence of (each compares the tables before and after its own requests),
and each reads only the part of serve.log written since it began (``World.since``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select

from gsoia.federation.peers import Peer, fetch_identity
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.schema import metadata
from tests import loopback
from tests.attacks.simulator import PeerSimulator, SimulatorServer
from tests.node.conftest import Database, RunningNode, database, fresh_database, jpn, make_node
from tests.taxii.support import INTEL, OBJECTS, TAXII, indicator

__all__ = ["Database", "RunningNode", "World", "database", "jpn"]

PROBLEM = "application/problem+json"
STORED: dict[str, Table] = {
    t.name: t for t in metadata.sorted_tables if t.name not in {"audit_entries", "meta"}
}
"""Every table of the node but the audit log and its bookkeeping: a refusal adds to none."""
COUNTS = select(
    *(select(func.count()).select_from(t).scalar_subquery().label(n) for n, t in STORED.items())
)
"""The number of rows of each table in ``STORED``, in one query (built once: thousands of
requests are checked with it)."""

LABEL: dict[str, Any] = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}

USERS: dict[str, tuple[str, str, list[str], Role]] = {
    "off": ("JPN", "KIMITSU", ["maritime"], Role.OFFICER),
    "jp": ("JPN", "KIMITSU", ["maritime"], Role.ANALYST),
    "ca": ("CAN", "S", ["maritime"], Role.ANALYST),
    "adm": ("JPN", "KIMITSU", ["maritime"], Role.ADMIN),
}


@dataclass
class World:
    """The node under attack, its store opened for inspection, and ids that exist."""

    node: RunningNode
    store: Node
    can: PeerSimulator
    ids: dict[str, str] = field(default_factory=dict)
    """``item_id``, ``package_id``, ``request_id``, ``collection_id``, ``object_id``,
    ``status_id``, ``user_id``: one existing value of each path parameter of the API."""

    def client(self, user: str | None = "off", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.node.tokens[user]}"} if user else {}
        return loopback.client(base_url=self.node.url, headers=headers, timeout=60, **kwargs)

    def counts(self) -> dict[str, int]:
        """The number of rows of each table in ``STORED`` (one query)."""
        with self.store.engine.connect() as connection:
            row = connection.execute(COUNTS).one()
        return {name: int(row._mapping[name]) for name in STORED}

    @property
    def log(self) -> Path:
        return self.node.data / "serve.log"

    def since(self) -> int:
        """Where serve.log ends: ``tracebacks(since=...)`` reads what comes after."""
        return self.log.stat().st_size

    def tracebacks(self, since: int = 0) -> list[str]:
        """The exception line of every traceback in serve.log after byte ``since`` (none
        expected)."""
        with self.log.open("rb") as file:
            file.seek(since)
            log = file.read().decode(errors="replace")
        found = []
        for chunk in log.split("Traceback (most recent call last):")[1:]:
            lines = chunk.splitlines()[1:]
            # the exception's own line: the first that is not indented under the traceback
            found.append(next((line for line in lines if line[:1] not in " \t"), "?")[:300])
        return found


def _check(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with fresh_database(request.param) as database:
        jpn = make_node(tmp_path_factory.mktemp("hostile"), database)
        try:
            yield from _world(jpn)
        finally:
            jpn.stop()


def _world(jpn: RunningNode) -> Iterator[World]:
    for user_id, (nation, clearance, topics, role) in USERS.items():
        jpn.add_user(user_id, nation, clearance, topics, role=role)
    server = SimulatorServer()
    with server.running():
        jpn.in_process = False  # serve.log is checked for tracebacks
        jpn.start()
        store = jpn.open()
        try:
            keys = fetch_identity(jpn.url).keys
            can = server.serve(PeerSimulator("CAN", "JPN", keys))
            store.exchange.add_peer(Peer("CAN", can.url, can.public))
            world = World(jpn, store, can)
            world.ids["collection_id"] = INTEL
            world.ids["user_id"] = "jp"
            with world.client("jp") as jp:
                body = {"label": LABEL, "title": "Patrol", "content": "東シナ海"}
                item = _check(jp.post("/api/v1/items", json=body), 201)["id"]
                released = _check(
                    jp.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"}), 201
                )
                world.ids["item_id"] = item
                world.ids["package_id"] = released["package"]
                stix = indicator(1)
                added = jp.post(
                    OBJECTS,
                    content=json.dumps({"objects": [stix]}).encode(),
                    headers={"content-type": TAXII, "accept": TAXII},
                )
                world.ids["status_id"] = _check(added, 202)["id"]
                world.ids["object_id"] = stix["id"]
            request = can.consent_request(item, "USA")
            with loopback.client(base_url=jpn.url, timeout=60) as anonymous:
                queued = anonymous.post("/federation/v1/inbox", json=request.signed())
            world.ids["request_id"] = _check(queued, 200)["request"]
            yield world
        finally:
            store.close()
            jpn.stop()
