"""One node on two hosts: two ``gsoia serve`` processes with data directories of their own
holding the same node keys, on one PostgreSQL database, as two hosts behind a load balancer
would run it; CAN a node of its own.

* The process delivering the outbox is SIGKILLed mid-delivery: the other takes the lead,
  and once the dead one's claim expired posts what it left. Every package is marked
  delivered once; CAN stores each item once; the only packages CAN saw twice (refused as a
  replay) are those the killed process held when it died.
* A process is SIGKILLed while officers reclassify items through both, and started again
  while they go on: afterwards each process lists exactly what the database says.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from gsoia.federation.courier import CLAIM_SECONDS
from gsoia.node.users import Role
from gsoia.store.schema import items, outbox, releases
from tests.federation.conftest import pin
from tests.federation.test_faults import (
    add_users,
    audit_verify,
    audited,
    kill,
    pending,
    postgres_schema,
    release,
    serve,
    store,
    wait_for,
)
from tests.node.conftest import Database, RunningNode, make_node

CLAIM = 5
"""Seconds a claim holds in these servers (``GSOIA_CLAIM_SECONDS``): a dead process's
packages wait that long before another posts them."""
PATIENCE = 180.0
"""Seconds to wait for what must happen (generous: the machine is shared)."""
LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}


@pytest.fixture
def hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningNode, RunningNode, RunningNode]]:
    """JPN served twice (two data directories, the same keys, one PostgreSQL schema) and
    CAN (SQLite), running and pinned both ways."""
    monkeypatch.setenv(CLAIM_SECONDS, str(CLAIM))  # inherited by the servers started
    with postgres_schema() as database:
        one = make_node(tmp_path, database, "JPN")
        two = RunningNode(tmp_path / "jpn-second-host", "JPN", database)
        shutil.copytree(one.data, two.data)  # the node's keys and configuration, copied
        can = make_node(tmp_path, Database("sqlite", None), "CAN")
        try:
            add_users(
                one,
                "KIMITSU",
                [("jpn-analyst", "KIMITSU", Role.ANALYST), ("jpn-reader", "HI", Role.ANALYST)],
            )
            two.tokens = one.tokens  # one database: the same accounts
            add_users(can, "TS", [("can-secret", "S", Role.ANALYST)])
            can.start()
            pin(one, can)  # in the database: both hosts know CAN
            one.start()
            two.start()
            pin(can, one)
            yield one, two, can
        finally:
            for node in (one, two, can):
                node.stop()


def created(node: RunningNode, count: int, label: dict[str, Any], title: str) -> list[str]:
    with node.client("jpn-analyst") as client:
        made = []
        for n in range(count):
            response = client.post(
                "/api/v1/items",
                json={"label": label, "title": f"{title} {n}", "content": f"東シナ海 {n}"},
            )
            assert response.status_code == 201, response.text
            made.append(str(response.json()["id"]))
        return made


def in_flight(engine: Engine) -> list[tuple[str, str]]:
    """The pending packages some process claimed: ``(package, claimed_by)``."""
    with engine.connect() as connection:
        return [
            (p, str(by))
            for p, by in connection.execute(
                select(outbox.c.package_id, outbox.c.claimed_by)
                .where(outbox.c.state == "pending")
                .where(outbox.c.claimed_by.is_not(None))
            )
        ]


def test_the_courier_killed_mid_delivery_posts_nothing_twice(
    hosts: tuple[RunningNode, RunningNode, RunningNode],
) -> None:
    one, two, can = hosts
    ids = created(one, 60, LABEL, "report") + created(two, 60, LABEL, "report")
    can_port = can.port
    kill(can)
    # released through both hosts while CAN is down: each tried once, then left to the loop
    servers = [one, two]

    def released(n_item: tuple[int, str]) -> str:
        n, item = n_item
        with servers[n % 2].client("jpn-analyst") as client:
            response = release(client, item)
        assert response.status_code == 201, response.text
        assert response.json()["state"] == "pending", response.text
        return str(response.json()["package"])

    with ThreadPoolExecutor(4) as pool:
        packages = list(pool.map(released, enumerate(ids)))
    serve(can, can_port)

    # the leading courier posts them once they are due: kill it while it holds them
    by_pid = {one.process.pid: one, two.process.pid: two}  # type: ignore[union-attr]
    with store(one) as jpn_db:
        deadline = time.monotonic() + PATIENCE
        held: list[tuple[str, str]] = []
        while time.monotonic() < deadline and not held:
            held = in_flight(jpn_db)
            time.sleep(0.005)
        assert held, "no process was seen delivering"
        holder = int(held[0][1].split(":")[1])
        victim = by_pid[holder]
        os.kill(holder, signal.SIGSTOP)  # frozen: what it holds now is what it dies with
        dead = {p for p, by in in_flight(jpn_db) if int(by.split(":")[1]) == holder}
        os.kill(holder, signal.SIGKILL)
        victim.process.wait()  # type: ignore[union-attr]
        victim.process = None
        # the other host takes the lead, and the dead one's packages once its claim expired
        wait_for(lambda: pending(jpn_db) == 0, PATIENCE, "the outbox emptied")
        serve(victim, victim.port)  # the host comes back
        with jpn_db.connect() as connection:
            sent = dict(
                connection.execute(
                    select(releases.c.package_id, outbox.c.state).join(
                        outbox, outbox.c.package_id == releases.c.package_id
                    )
                ).all()
            )
        delivered = Counter(d["package"] for d in audited(jpn_db, "package.delivered"))
    assert set(sent) == set(packages)
    assert set(sent.values()) == {"delivered"}
    assert delivered == Counter(packages)  # each marked delivered once, by one process

    with store(can) as can_db:
        with can_db.connect() as connection:
            held_items = list(
                connection.execute(select(items.c.id).where(items.c.sender == "JPN")).scalars()
            )
        received = Counter(d["package"] for d in audited(can_db, "package.received"))
        replays = Counter(
            d["package"] for d in audited(can_db, "package.refused") if d["reason"] == "REPLAY"
        )
    assert sorted(held_items) == sorted(ids)  # each item stored once
    assert received == Counter(packages)
    # a package went twice only if the killed process may have posted it before it died:
    # held by it then (its answer lost with it); none was posted twice by living processes
    assert set(replays) <= dead, (sorted(replays), sorted(dead))
    assert all(count == 1 for count in replays.values()), replays
    for node in (one, can):
        verified = audit_verify(node)
        assert verified.returncode == 0, verified.stderr


def test_every_process_lists_what_the_database_says_after_a_kill_mid_relabel(
    hosts: tuple[RunningNode, RunningNode, RunningNode],
) -> None:
    one, two, _ = hosts
    secret = LABEL | {"classification": "KIMITSU"}
    ids = created(one, 80, secret, "secret") + created(two, 80, secret, "secret")

    def listed(node: RunningNode) -> set[str]:
        with node.client("jpn-reader") as client:  # cleared HI: sees what was downgraded
            response = client.get("/api/v1/items", params={"limit": 1000})
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["items"]} & set(ids)

    assert listed(one) == listed(two) == set()  # both processes' columns loaded
    answered = threading.Semaphore(0)
    port = two.port

    def downgrade(node: RunningNode, share: list[str]) -> None:
        with node.client("jpn-officer") as client:
            for item in share:
                try:
                    client.post(
                        f"/api/v1/items/{item}/classification", json={"classification": "HI"}
                    )
                except httpx.TransportError:
                    pass  # the process was killed: its relabel committed or not
                finally:
                    answered.release()

    # officers downgrade through both; the second host is killed mid-way, and started again
    # while the first goes on relabelling
    threads = [
        threading.Thread(target=downgrade, args=(one, ids[0::2])),
        threading.Thread(target=downgrade, args=(two, ids[1::2][:30])),
    ]
    for thread in threads:
        thread.start()
    for _ in range(40):
        answered.acquire()
    kill(two)
    serve(two, port)
    for thread in threads:
        thread.join(timeout=PATIENCE)
    assert not any(t.is_alive() for t in threads)
    with two.client("jpn-officer") as client:  # more through the restarted one
        for item in ids[1::2][30:50]:
            response = client.post(
                f"/api/v1/items/{item}/classification", json={"classification": "HI"}
            )
            assert response.status_code == 200, response.text

    with store(one) as jpn_db, jpn_db.connect() as connection:
        downgraded = set(
            connection.execute(select(items.c.id).where(items.c.classification == "HI")).scalars()
        ) & set(ids)
    assert len(downgraded) >= 80 + 20
    assert listed(one) == downgraded
    assert listed(two) == downgraded
