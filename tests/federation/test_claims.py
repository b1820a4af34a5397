"""Claims on outbox packages, in the database: two couriers of one node (two processes, or
two hosts, opened here in one process on one database) never both take a package, a package
cancelled is never marked delivered, and a claim that expired may be taken over.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gsoia.crypto.keys import NodeKeys
from gsoia.federation.courier import State, enqueue
from gsoia.federation.packages import Kind
from gsoia.federation.peers import Peer
from gsoia.node.errors import Conflict
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.database import writing
from gsoia.store.schema import audit_entries, outbox
from tests.node.conftest import Database, database

__all__ = ["database"]


class Counting:
    """Canada's node as the couriers see it: it stores whatever comes, and counts it."""

    def __init__(self) -> None:
        self.posted: list[str] = []
        self.lock = threading.Lock()
        self.during: Any = None  # called with each package id as it arrives

    def __call__(self, request: httpx.Request) -> httpx.Response:
        lines = request.content.split(b"\n") if request.url.path.endswith("batch") else None
        ids = [json.loads(line)["id"] for line in lines or [request.content] if line.strip()]
        with self.lock:
            self.posted += ids
        for package_id in ids:
            if self.during is not None:
                self.during(package_id)
        if lines is None:
            return httpx.Response(200, json={"status": "stored"})
        return httpx.Response(200, json={"results": [{"package": p, "status": 200} for p in ids]})


@pytest.fixture
def two(tmp_path: Path, database: Database) -> Iterator[tuple[Node, Node, Counting]]:
    """One node opened twice on one database (as two processes or hosts would)."""
    first = Node.init(tmp_path / "jpn", "JPN", database=database.url)
    first.exchange.add_peer(Peer("CAN", "http://can.invalid", NodeKeys.generate().public()))
    second = Node.open(tmp_path / "jpn", database=database.url)
    peer = Counting()
    for node in (first, second):
        node.exchange.courier.http = httpx.Client(transport=httpx.MockTransport(peer))
    try:
        yield first, second, peer
    finally:
        second.close()
        first.close()


def put(node: Node, count: int) -> list[str]:
    """Packages for CAN, put in the outbox unclaimed (as the loop finds them)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with writing(node.engine) as connection:
        for package_id in ids:
            enqueue(
                connection,
                package_id=package_id,
                kind=Kind.INCIDENT,
                peer="CAN",
                body={"incident": package_id},
                item_id=None,
                now=node.audit.now(),
            )
    return ids


def row(node: Node, package_id: str) -> Any:
    with node.engine.connect() as connection:
        return connection.execute(select(outbox).where(outbox.c.package_id == package_id)).one()


def audited(node: Node, kind: str) -> list[str]:
    with node.engine.connect() as connection:
        bodies = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.kind == kind)
        ).scalars()
        return [json.loads(b)["data"]["package"] for b in bodies]


def test_only_one_of_two_claimers_wins(two: tuple[Node, Node, Counting]) -> None:
    first, second, _ = two
    ids = put(first, 300)
    won: dict[str, list[str]] = {}
    start = threading.Barrier(2)

    def claim(name: str, node: Node) -> None:
        start.wait()
        won[name] = []
        for chunk in range(0, len(ids), 20):  # many rounds, so they interleave
            won[name] += node.exchange.courier.claim(ids[chunk : chunk + 20])

    threads = [
        threading.Thread(target=claim, args=("first", first)),
        threading.Thread(target=claim, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(won["first"]) & set(won["second"])
    assert set(won["first"]) | set(won["second"]) == set(ids)
    assert second.exchange.courier.claim(won["first"][:5]) == []  # held, not expired
    assert first.exchange.courier.claim(won["first"][:5]) == []  # held by this process
    assert all(row(first, p).claimed_by for p in ids)  # each by one process's claim


def test_each_package_is_posted_once_by_two_couriers(two: tuple[Node, Node, Counting]) -> None:
    first, second, peer = two
    ids = put(first, 120)
    threads = [
        threading.Thread(target=node.exchange.courier.deliver_many, args=(ids,))
        for node in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(peer.posted) == sorted(ids)  # each once
    assert sorted(audited(first, "package.delivered")) == sorted(ids)
    assert {row(first, p).state for p in ids} == {State.DELIVERED}
    assert {row(first, p).claimed_by for p in ids} == {None}


def test_a_cancelled_package_is_never_marked_delivered(two: tuple[Node, Node, Counting]) -> None:
    first, second, peer = two
    officer, _ = second.add_user("officer", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    [package] = put(first, 1)
    courier = first.exchange.courier
    assert courier.claim([package]) == [package]
    with pytest.raises(Conflict):  # not while a process delivers it
        second.exchange.cancel(officer, package)
    courier.unclaim([package])
    # the courier's claim runs out while it posts: an officer cancels meanwhile
    courier.claim_for = dt.timedelta(0)
    cancelled: list[dict[str, Any]] = []
    peer.during = lambda _: cancelled.append(second.exchange.cancel(officer, package))
    attempt = courier.deliver(package)
    assert cancelled == [{"package": package, "state": State.CANCELLED, "note": None}]
    assert peer.posted == [package]
    assert attempt.state == State.CANCELLED
    assert row(first, package).state == State.CANCELLED
    assert audited(first, "package.delivered") == []
    assert audited(first, "package.cancelled") == [package]
    # and the loop leaves it alone
    assert courier.due() == []
    assert courier.deliver(package).state == State.CANCELLED
    assert peer.posted == [package]


def test_an_expired_claim_can_be_taken_over(two: tuple[Node, Node, Counting]) -> None:
    first, second, peer = two
    [package, other] = put(first, 2)
    first.exchange.courier.claim_for = dt.timedelta(0)  # as if its holder had died long ago
    assert first.exchange.courier.claim([package]) == [package]
    assert second.exchange.courier.claim([other]) == [other]  # claim_for: two minutes
    assert first.exchange.courier.claim([other]) == []
    # the first process "dies": its in-process hold is lost with it, and its claim in the
    # store holds until it expires (at once here): the loop of another process takes it
    first.exchange.courier.claims.held.clear()
    assert second.exchange.courier.due() == [package]
    assert second.exchange.courier.claim([package]) == [package]
    attempts = second.exchange.courier.deliver_many([package, other], claimed=True)
    assert {a.state for a in attempts.values()} == {State.DELIVERED}
    assert sorted(peer.posted) == sorted([package, other])
    assert sorted(audited(first, "package.delivered")) == sorted([package, other])


def test_the_loop_leaves_claimed_packages_alone(two: tuple[Node, Node, Counting]) -> None:
    first, second, peer = two
    ids = put(first, 3)
    assert first.exchange.courier.claim(ids[:1]) == ids[:1]
    assert second.exchange.courier.run_due() == 2  # the two unclaimed
    assert sorted(peer.posted) == sorted(ids[1:])
    assert row(first, ids[0]).state == State.PENDING
    assert first.exchange.courier.deliver_many(ids[:1], claimed=True)[ids[0]].state == (
        State.DELIVERED
    )
    assert sorted(peer.posted) == sorted(ids)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)  # SQLite: test_workers
def test_one_leader_per_node_on_postgresql(two: tuple[Node, Node, Counting]) -> None:
    first, second, _ = two
    assert first.engine.dialect.name == "postgresql"
    from gsoia.store.postgres import AdvisoryLeader

    one, another = AdvisoryLeader(first.engine), AdvisoryLeader(second.engine)
    try:
        assert one.acquire()
        assert not another.acquire()
        assert one.acquire()  # still held
        put(second, 1)  # its NOTIFY reaches the leader
        assert one.wait(30)
        one.release()
        assert another.acquire()
        assert not one.acquire()
    finally:
        one.release()
        another.release()


def test_the_claims_of_a_dead_process_of_this_machine_are_freed_at_once(
    two: tuple[Node, Node, Counting],
) -> None:
    first, second, peer = two
    [mine, elsewhere, alive] = put(first, 3)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that ended
    gone.wait()
    host, _, boot = second.exchange.courier.claims.owner.split(":")
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat(timespec="microseconds")
    holders = {
        mine: f"{host}:{gone.pid}:{boot}:dead",
        elsewhere: f"another-host:{gone.pid}:{boot}:alive-there",
        alive: f"{host}:{os.getpid()}:{boot}:alive",
    }
    with writing(first.engine) as connection:
        for package_id, holder in holders.items():
            connection.execute(
                update(outbox)
                .where(outbox.c.package_id == package_id)
                .values(claimed_by=holder, claimed_until=until)
            )
    assert second.exchange.courier.run_due() == 1  # only the dead one's, posted now
    assert peer.posted == [mine]
    assert row(first, elsewhere).claimed_by == holders[elsewhere]  # left to expire
    assert row(first, alive).claimed_by == holders[alive]
