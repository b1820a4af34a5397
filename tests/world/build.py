"""Building the world: five real ``gsoia serve`` processes, their users, items and releases.

Users and items are created in process with the node's Python API before the servers
start (filing 5,000 items over HTTP would take most of the time budget); everything after
that — pinning each node's peers, every release, every delivery — goes through the
servers, and releases travel between the processes over HTTP.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

import gsoia
from gsoia.decision import Decision
from gsoia.federation.peers import fetch_identity
from gsoia.node.listing import ListFilter
from gsoia.node.service import Node
from gsoia.node.stix_index import INTEL
from gsoia.node.taxii_store import TaxiiStore
from tests import loopback
from tests.node.conftest import Database, RunningNode, make_node
from tests.world.world import (
    NATIONS,
    Held,
    Holdings,
    Person,
    Planned,
    partner_expected,
    plan_first_releases,
    plan_second_releases,
    releaser,
    today,
)

THREADS = 8
"""HTTP clients at once: the five servers share two cores with this process."""
CHUNK = 500

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Timings:
    """Seconds spent per phase, printed at the end of the module."""

    phases: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Phase -> (wall-clock seconds, CPU seconds of this process: the clients' share)."""
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, used = time.perf_counter() - start, time.process_time() - cpu
            with self.lock:
                before = self.phases.get(name, (0.0, 0.0))
                self.phases[name] = (before[0] + wall, before[1] + used)

    def lines(self) -> list[str]:
        wall = sum(w for w, _ in self.phases.values())
        cpu = sum(c for _, c in self.phases.values())
        rows = [(name, w, c) for name, (w, c) in self.phases.items()] + [("total", wall, cpu)]
        return [f"{name:<34} {w:7.1f} s   (test process CPU {c:6.1f} s)" for name, w, c in rows]


@dataclass(frozen=True)
class Release:
    """One release attempt through ``POST /api/v1/items/{id}/releases`` and its answer."""

    sender: str
    item_id: str
    to: str
    label: dict[str, Any]
    status: int
    body: dict[str, Any]

    @property
    def returned(self) -> bool:
        """A custodian sending a copy back to the item's originator."""
        return bool(self.to == self.label["originator"] != self.sender)


@dataclass
class World:
    nodes: dict[str, RunningNode]
    people: list[Person]
    planned: dict[str, Planned]
    """Item id -> what was filed."""
    holdings: Holdings
    releases: list[Release]
    outboxes: dict[str, list[dict[str, Any]]]
    """Each node's outbox once nothing was pending any more."""
    at: dt.date
    rulebook: gsoia.Rulebook
    timings: Timings
    decided: dict[tuple[str, str], dict[str, Decision]] = field(default_factory=dict)
    """(nation, user id) -> decide on each copy that node holds, computed once."""

    def person(self, user_id: str) -> Person:
        return next(p for p in self.people if p.id == user_id)


class WorldNode(RunningNode):
    """A node that waits longer for its server: five start at once on a shared machine."""

    def start(self, patience: float = 180) -> None:
        super().start(patience)


def make_world_node(tmp_path: Path, database: Database, nation: str) -> WorldNode:
    made = make_node(tmp_path, database, nation)
    return WorldNode(made.data, made.nation, made.database)


def parallel(work: Callable[[T], R], inputs: Iterable[T], threads: int = THREADS) -> list[R]:
    """``work`` over ``inputs`` on a few threads; results in input order, errors raised."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, inputs))


_local = threading.local()


def http(node: RunningNode) -> httpx.Client:
    """A client of ``node`` for this thread (no credentials: each request sends its own)."""
    clients: dict[str, httpx.Client] = _local.__dict__.setdefault("clients", {})
    client = clients.get(node.url)
    if client is None:
        client = clients[node.url] = loopback.client(base_url=node.url, timeout=120)
        with _opened_lock:
            _opened.append(client)
    return client


_opened: list[httpx.Client] = []
_opened_lock = threading.Lock()


def close_clients() -> None:
    with _opened_lock:
        for client in _opened:
            client.close()
        _opened.clear()


def bearer(node: RunningNode, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {node.tokens[user_id]}"}


# -- in process, before the servers start -------------------------------------------------


def populate(node: RunningNode, people: list[Person], planned: list[Planned]) -> dict[str, Planned]:
    """Register every person on ``node`` and file its nation's items; item id -> planned."""
    opened = node.open()
    try:
        for person in people:
            _, node.tokens[person.id] = opened.add_user(
                person.id,
                person.nation,
                clearance=person.clearance,
                clearance_expires=person.expires,
                need_to_know=list(person.need_to_know),
                role=person.role,
            )
        creator = opened.authenticate(node.tokens[releaser(node.nation)])
        mine = [p for p in planned if p.originator == node.nation]
        store = TaxiiStore(opened)
        stix = [p for p in mine if p.stix_id is not None]
        for start in range(0, len(stix), CHUNK):
            status = store.add(
                creator, INTEL, [p.stix_object() for p in stix[start : start + CHUNK]]
            )
            assert status["failure_count"] == 0, status.get("failures", [])[:3]
        plain = [p for p in mine if p.stix_id is None]
        drafts = [
            opened.prepare_item(creator, p.label, p.title, p.content().encode()) for p in plain
        ]
        opened.store_items(creator, drafts)
        return _filed(opened, creator, mine)
    finally:
        opened.close()


def _filed(opened: Node, creator: Any, mine: list[Planned]) -> dict[str, Planned]:
    """Item ids by title (titles are unique), from the creator's listing: it sees all."""
    by_title = {p.title: p for p in mine}
    found: dict[str, Planned] = {}
    cursor = 0
    while True:
        page = opened.list_items(creator, ListFilter(), cursor=cursor, limit=1000)
        for view in page["items"]:
            found[view["id"]] = by_title[view["title"]]
        if page["next"] is None:
            break
        cursor = int(page["next"])
    assert len(found) == len(mine), (opened.nation, len(found), len(mine))
    return found


def pin_all(nodes: dict[str, RunningNode]) -> None:
    """What ``gsoia peer add --fingerprint`` does, for every ordered pair of running nodes:
    fetch the peer's identity over HTTP, require the fingerprint of its own key files."""
    fingerprints = {}
    for nation, node in nodes.items():
        opened = node.open()
        try:
            fingerprints[nation] = opened.public.fingerprint()
        finally:
            opened.close()
    for nation, node in nodes.items():
        opened = node.open()
        try:
            for peer_nation, peer in nodes.items():
                if peer_nation != nation:
                    identity = fetch_identity(peer.url)
                    opened.exchange.add_peer(identity, fingerprint=fingerprints[peer_nation])
        finally:
            opened.close()


# -- over HTTP -----------------------------------------------------------------------------


def release(world_nodes: dict[str, RunningNode], sender: str, item_id: str, to: str) -> Any:
    node = world_nodes[sender]
    response = http(node).post(
        f"/api/v1/items/{item_id}/releases",
        json={"to": to},
        headers=bearer(node, releaser(sender)),
    )
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:500]}
    return response.status_code, body


def run_releases(
    world: World, attempts: list[tuple[str, str, str]], rulebook: gsoia.Rulebook
) -> None:
    """Release each (sender, item, to); a delivered copy joins the recipient's holdings."""

    def one(attempt: tuple[str, str, str]) -> Release:
        sender, item_id, to = attempt
        held = world.holdings.by_node[sender][item_id]
        status, body = release(world.nodes, sender, item_id, to)
        return Release(sender, item_id, to, held.label, status, body)

    for done in parallel(one, attempts):
        world.releases.append(done)
        if done.item_id in world.holdings.by_node[done.to]:
            continue  # a copy returned to its originator: it keeps its own
        if done.status == 201 and done.body.get("state") == "delivered":
            sender_copy = world.holdings.by_node[done.sender][done.item_id]
            marking = partner_expected(
                rulebook, done.label, sender_copy.custodian, done.to, world.at
            ).marking
            world.holdings.by_node[done.to][done.item_id] = Held(
                done.item_id,
                done.label,
                done.to,
                sender_copy.title,
                sender_copy.stix_id,
                marking.text if marking else None,
            )


def settled_outboxes(nodes: dict[str, RunningNode], patience: float = 120) -> dict[str, Any]:
    """Each node's outbox once none of its packages is pending (officers may read it)."""
    found: dict[str, Any] = {}
    deadline = time.monotonic() + patience
    for nation, node in nodes.items():
        while True:
            response = http(node).get("/api/v1/outbox", headers=bearer(node, releaser(nation)))
            assert response.status_code == 200, response.text
            rows = response.json()
            if not any(r["state"] == "pending" for r in rows) or time.monotonic() > deadline:
                found[nation] = rows
                break
            time.sleep(0.2)
    return found


def build(
    nodes: dict[str, RunningNode],
    people: list[Person],
    planned: list[Planned],
    first_share: float,
    second_count: int,
    timings: Timings,
) -> World:
    rulebook = gsoia.load_catalogue()
    holdings = Holdings()
    filed: dict[str, Planned] = {}
    with timings.phase("create users and items (in process)"):
        for nation, node in nodes.items():
            mine = populate(node, people, planned)
            filed |= mine
            for item_id, p in mine.items():
                holdings.by_node[nation][item_id] = Held(
                    item_id, p.label, nation, p.title, p.stix_id
                )
    with timings.phase("start 5 servers"):
        parallel(lambda n: n.start(), nodes.values(), threads=len(nodes))
    with timings.phase("pin every peer"):
        pin_all(nodes)
    world = World(nodes, people, filed, holdings, [], {}, today(), rulebook, timings)
    with timings.phase("releases over HTTP"):
        first = plan_first_releases(filed, first_share)
        run_releases(world, [(filed[i].originator, i, to) for i, to in first], rulebook)
        run_releases(world, plan_second_releases(holdings, second_count), rulebook)
        world.outboxes = settled_outboxes(nodes)
    copies = {n: len(h) for n, h in holdings.by_node.items()}
    delivered = sum(r.status == 201 for r in world.releases)
    timings.notes.append(
        f"copies held {copies} (total {holdings.total()}); releases tried"
        f" {len(world.releases)}, delivered {delivered}"
    )
    return world


__all__ = ["NATIONS", "World", "build", "parallel"]
