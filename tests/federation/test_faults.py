"""Faults between real nodes: a peer down, a node killed mid-delivery, a package sent twice.

Each test has its own JPN and CAN nodes (``gsoia serve`` processes on loopback, peered with
``gsoia peer add``), because it stops or kills them. A node restarted after a fault comes
back on the same port: its peer pinned that address. The release path also runs with the
Japanese node on PostgreSQL (a fresh schema, as in ``tests/node/conftest.py``).

The SIGKILL tests kill at a random moment; the seed is in every assertion message, and
``GSOIA_FAULT_SEED=<seed>`` replays one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text, update

from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import Kind, make_package
from gsoia.node.config import KEYS_DIR, NodeConfig
from gsoia.node.users import Role
from gsoia.store.database import open_engine
from gsoia.store.schema import audit_entries, inbox, items, outbox, releases
from tests import loopback
from tests.federation.conftest import pin
from tests.node.conftest import GSOIA, PG_SERVER, Database, RunningNode, make_node

LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}
MARKING = "CAN SECRET // JPN 極秘 // JPN-CAN"
SETTLE = 60.0
"""Seconds to wait for the courier to empty the outbox (its backoff: 2, 4, 8, 16 s…)."""


# -- nodes ----------------------------------------------------------------------------------


@contextmanager
def postgres_schema() -> Iterator[Database]:
    """A fresh PostgreSQL schema for one node, dropped afterwards."""
    schema = f"gsoia_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database("postgresql", f"{PG_SERVER}?options=-csearch_path%3D{schema}", schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pair(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[RunningNode, RunningNode]]:
    """JPN and CAN nodes, running and peered; JPN on ``request.param`` (default SQLite)."""
    backend = getattr(request, "param", "sqlite")
    with _jpn_database(backend) as jpn_db:
        jpn = make_node(tmp_path, jpn_db, "JPN")
        can = make_node(tmp_path, Database("sqlite", None), "CAN")
        try:
            add_users(jpn, "KIMITSU", [("jpn-analyst", "KIMITSU", Role.ANALYST)])
            add_users(can, "TS", [("can-secret", "S", Role.ANALYST)])
            for node in (jpn, can):  # both processes start at once
                node.launch()
            for node in (jpn, can):
                node.answering()
            pin(jpn, can)
            pin(can, jpn)
            yield jpn, can
        finally:
            jpn.stop()
            can.stop()


def add_users(node: RunningNode, top: str, analysts: list[tuple[str, str, Role]]) -> None:
    """The node's officer and analysts (maritime), in one opening of the node."""
    opened = node.open()
    try:
        officer = (f"{node.nation.lower()}-officer", top, Role.OFFICER)
        for user_id, clearance, role in [officer, *analysts]:
            _, node.tokens[user_id] = opened.add_user(
                user_id, node.nation, clearance=clearance, need_to_know=["maritime"], role=role
            )
    finally:
        opened.close()


@contextmanager
def _jpn_database(backend: str) -> Iterator[Database]:
    if backend == "postgresql":
        with postgres_schema() as database:
            yield database
    else:
        yield Database("sqlite", None)


def serve(node: RunningNode, port: int) -> None:
    """Start ``node``'s server again on ``port`` (``RunningNode.start`` picks a new port)."""
    args = [GSOIA, "serve", "--data", str(node.data), "--port", str(port)]
    if node.database.url:
        args += ["--database", node.database.url]
    node.port = port
    with open(node.data / "serve.log", "ab") as log:
        node.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120  # a node opening on a loaded machine takes its time
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise RuntimeError((node.data / "serve.log").read_text())
        try:
            if loopback.get(f"{node.url}/healthz", timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"node did not restart: {(node.data / 'serve.log').read_text()}")


def kill(node: RunningNode) -> None:
    """SIGKILL the node's server: no shutdown, no cleanup, whatever it was doing."""
    assert node.process is not None
    os.kill(node.process.pid, signal.SIGKILL)
    node.process.wait()
    node.process = None


@contextmanager
def store(node: RunningNode) -> Iterator[Engine]:
    """The node's database, read from the test (beside its running server)."""
    engine = open_engine(node.database.url or NodeConfig.default_database(node.data))
    try:
        yield engine
    finally:
        engine.dispose()


def audit_verify(node: RunningNode) -> subprocess.CompletedProcess[str]:
    args = [GSOIA, "audit", "verify", "--data", str(node.data)]
    if node.database.url:
        args += ["--database", node.database.url]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def audited(engine: Engine, kind: str) -> list[dict[str, Any]]:
    """The ``data`` of every audit entry of ``kind``."""
    with engine.connect() as connection:
        bodies = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.kind == kind)
        ).scalars()
        return [json.loads(b)["data"] for b in bodies]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


# -- items and releases ---------------------------------------------------------------------


def create(jpn: RunningNode, count: int = 1) -> list[str]:
    with jpn.client("jpn-analyst") as client:
        ids = []
        for n in range(count):
            response = client.post(
                "/api/v1/items",
                json={"label": LABEL, "title": f"Patrol report {n}", "content": f"東シナ海 {n}"},
            )
            assert response.status_code == 201, response.text
            ids.append(str(response.json()["id"]))
        return ids


def release(client: httpx.Client, item: str) -> httpx.Response:
    return client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"})


def outbox_row(jpn: RunningNode, package: str) -> dict[str, Any]:
    with jpn.client("jpn-officer") as client:
        rows = client.get("/api/v1/outbox").json()
    [row] = [r for r in rows if r["package_id"] == package]
    return dict(row)


def pending(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.state == "pending")
            ).scalar_one()
        )


def assert_read_by_the_canadian_analyst(can: RunningNode, item: str, content: str) -> None:
    with can.client("can-secret") as client:
        read = client.get(f"/api/v1/items/{item}")
    assert read.status_code == 200, read.text
    assert read.json()["content"] == content
    assert read.json()["marking"]["text"] == MARKING
    assert read.json()["custodian"] == "CAN"


def assert_stored_once(can: RunningNode, item: str, package: str) -> None:
    with store(can) as engine:
        with engine.connect() as connection:  # (on SQLite, one connection at a time)
            held = connection.execute(select(items.c.package_id).where(items.c.id == item)).all()
            received = connection.execute(
                select(inbox.c.item_id).where(inbox.c.package_id == package)
            ).all()
        stored = [d for d in audited(engine, "package.received") if d["item"] == item]
    assert [tuple(r) for r in held] == [(package,)]
    assert [tuple(r) for r in received] == [(item,)]
    assert [(d["package"], d["status"]) for d in stored] == [(package, "stored")]


# -- a peer down ----------------------------------------------------------------------------


@pytest.mark.parametrize("pair", ["sqlite", "postgresql"], indirect=True)
def test_peer_down_during_release_is_delivered_when_it_returns(
    pair: tuple[RunningNode, RunningNode],
) -> None:
    jpn, can = pair
    [item] = create(jpn)
    port = can.port
    can.stop()

    with jpn.client("jpn-analyst") as client:
        released = release(client, item)
    assert released.status_code == 201, released.text
    assert released.json()["state"] == "pending"
    assert "unreachable" in released.json()["detail"]
    package = released.json()["package"]
    row = outbox_row(jpn, package)
    assert (row["state"], row["attempts"], row["peer"]) == ("pending", 1, "CAN")
    assert "unreachable" in row["last_error"]
    # the courier keeps trying while the peer is down (next try 2 s after the first)
    wait_for(lambda: outbox_row(jpn, package)["attempts"] >= 2, 15, "a second attempt")
    assert outbox_row(jpn, package)["state"] == "pending"

    serve(can, port)
    took = wait_for(
        lambda: outbox_row(jpn, package)["state"] == "delivered", 40, "delivery after restart"
    )
    print(f"delivered {took:.1f} s after CAN came back")
    row = outbox_row(jpn, package)
    assert row["last_error"] is None
    assert row["delivered_at"] is not None
    assert_read_by_the_canadian_analyst(can, item, "東シナ海 0")
    assert_stored_once(can, item, package)
    with store(jpn) as engine:
        assert [d["package"] for d in audited(engine, "package.delivered")] == [package]


# -- delivery is idempotent ------------------------------------------------------------------


@pytest.mark.parametrize("pair", ["sqlite", "postgresql"], indirect=True)
def test_a_package_sent_again_is_stored_once(pair: tuple[RunningNode, RunningNode]) -> None:
    """The outbox row is set back to pending: the courier resends the same package id."""
    jpn, can = pair
    [item] = create(jpn)
    with jpn.client("jpn-analyst") as client:
        released = release(client, item)
    assert released.status_code == 201, released.text
    assert released.json()["state"] == "delivered"
    package = released.json()["package"]

    with store(jpn) as engine, engine.begin() as connection:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        connection.execute(
            update(outbox)
            .where(outbox.c.package_id == package)
            .values(state="pending", next_attempt_at=now, delivered_at=None)
        )
    wait_for(lambda: outbox_row(jpn, package)["state"] == "delivered", 20, "the resend")

    row = outbox_row(jpn, package)
    assert row["attempts"] == 2
    assert_stored_once(can, item, package)
    assert_read_by_the_canadian_analyst(can, item, "東シナ海 0")
    with store(can) as engine:
        refusals = [d for d in audited(engine, "package.refused") if d["package"] == package]
    assert [d["reason"] for d in refusals] == ["REPLAY"]
    with store(jpn) as engine:
        delivered = [d["package"] for d in audited(engine, "package.delivered")]
    assert delivered == [package, package]  # each attempt that ended delivered is audited


def test_the_same_package_posted_concurrently_is_stored_once(
    pair: tuple[RunningNode, RunningNode],
) -> None:
    """Eight copies of one signed package at once: one stored, the others REPLAY."""
    jpn, can = pair
    [item] = create(jpn)
    port = can.port
    can.stop()
    with jpn.client("jpn-analyst") as client:
        released = release(client, item)
    assert released.json()["state"] == "pending", released.text
    package = released.json()["package"]
    with jpn.client("jpn-officer") as client:
        cancelled = client.post(f"/api/v1/outbox/{package}/cancel")
    assert cancelled.status_code == 200, cancelled.text

    with store(jpn) as engine, engine.connect() as connection:
        payload = connection.execute(
            select(outbox.c.payload).where(outbox.c.package_id == package)
        ).scalar_one()
    keys = NodeKeys.load(jpn.data / KEYS_DIR)
    wire = json.dumps(
        make_package(
            keys.signing,
            Kind.RELEASE,
            "JPN",
            "CAN",
            json.loads(payload),
            dt.datetime.now(dt.UTC),
            package_id=package,
        )
    ).encode()
    serve(can, port)
    barrier = threading.Barrier(8)
    answers: list[tuple[int, str | None]] = []

    def post() -> None:
        with loopback.client(timeout=30) as client:
            barrier.wait()
            response = client.post(
                f"{can.url}/federation/v1/inbox",
                content=wire,
                headers={"content-type": "application/json"},
            )
        body = response.json()
        answers.append((response.status_code, body.get("reason") or body.get("status")))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(answers) == Counter({(200, "stored"): 1, (409, "REPLAY"): 7}), answers
    assert_stored_once(can, item, package)


# -- a node killed mid-delivery ----------------------------------------------------------------

ITEMS = 200
CLIENTS = 4


@pytest.mark.parametrize(
    ("pair", "victim"),
    [("sqlite", "JPN"), ("sqlite", "CAN"), ("postgresql", "JPN")],
    indirect=["pair"],
)
def test_sigkill_mid_delivery_loses_and_duplicates_nothing(
    pair: tuple[RunningNode, RunningNode], victim: str
) -> None:
    jpn, can = pair
    seed = int(os.environ.get("GSOIA_FAULT_SEED", secrets.randbits(32)))
    rng = random.Random(seed)  # noqa: S311 (a replayable test, not a secret)
    kill_after = rng.randint(ITEMS // 10, ITEMS * 8 // 10)
    restart_after = rng.uniform(0.0, 1.0)
    about = f"seed {seed}: {victim} killed after {kill_after} releases"
    ids = create(jpn, ITEMS)
    target = {"JPN": jpn, "CAN": can}[victim]
    port = target.port

    answered = threading.Semaphore(0)
    lock = threading.Lock()
    ok: set[str] = set()
    failed: list[str] = []
    states: Counter[str] = Counter()

    def releaser(share: list[str]) -> None:
        with jpn.client("jpn-analyst") as client:
            for item in share:
                try:
                    response = release(client, item)
                except httpx.TransportError:
                    with lock:
                        failed.append(item)
                    continue
                finally:
                    answered.release()
                with lock:
                    if response.status_code == 201:
                        ok.add(item)
                        states[response.json()["state"]] += 1
                    else:
                        failed.append(item)

    def killer() -> None:
        for _ in range(kill_after):
            answered.acquire()
        kill(target)
        if victim == "CAN":  # JPN keeps releasing while CAN is down, then CAN returns
            time.sleep(restart_after)
            serve(can, port)

    threads = [threading.Thread(target=killer)]
    threads += [threading.Thread(target=releaser, args=(ids[k::CLIENTS],)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), about

    if victim == "JPN":
        # Releases cut off by the kill: some committed (their response lost), some not.
        # The analyst releases them again; an item CAN holds already is not stored twice.
        assert failed, about
        serve(jpn, port)
        with jpn.client("jpn-analyst") as client:
            for item in failed:
                response = release(client, item)
                assert response.status_code == 201, f"{about}: {response.text}"
                ok.add(item)
    else:
        assert not failed, f"{about}: {failed[:3]}"
        assert states["pending"] > 0, f"{about}: {states}"  # some found CAN down
    assert ok == set(ids), about

    with store(jpn) as jpn_db:
        wait_for(lambda: pending(jpn_db) == 0, SETTLE, f"{about}: the outbox emptied")
        with jpn_db.connect() as connection:
            sent = connection.execute(
                select(releases.c.item_id, releases.c.package_id, outbox.c.state).join(
                    outbox, outbox.c.package_id == releases.c.package_id, isouter=True
                )
            ).all()
            states_left = Counter(connection.execute(select(outbox.c.state)).scalars())
        released_audit = audited(jpn_db, "item.released")
        delivered_audit = audited(jpn_db, "package.delivered")
    with store(can) as can_db:
        with can_db.connect() as connection:
            held = connection.execute(
                select(items.c.id, items.c.package_id).where(items.c.sender == "JPN")
            ).all()
            received = set(connection.execute(select(inbox.c.package_id)).scalars())
        stored_audit = [d for d in audited(can_db, "package.received") if d["status"] == "stored"]
        received_audit = audited(can_db, "package.received")

    # every release recorded on JPN went out once, in a package now delivered
    assert states_left == Counter({"delivered": len(sent)}), f"{about}: {states_left}"
    assert {item for item, _, _ in sent} == set(ids), about
    assert all(state == "delivered" for _, _, state in sent), about
    delivered_items = {item for item, _, state in sent if state == "delivered"}
    # the action and its audit entry committed together, kill or not
    assert sorted(d["package"] for d in released_audit) == sorted(p for _, p, _ in sent), about
    assert sorted(d["package"] for d in delivered_audit) == sorted(p for _, p, _ in sent), about
    # CAN holds each item exactly once, from one of JPN's packages
    held_ids = [item for item, _ in held]
    assert len(held_ids) == len(set(held_ids)) == ITEMS, about
    assert set(held_ids) == delivered_items == set(ids), about
    assert {p for _, p in held} <= {p for _, p, _ in sent}, about
    assert received == {p for _, p, _ in sent}, about  # delivered means CAN recorded it
    assert sorted(d["item"] for d in stored_audit) == sorted(ids), about
    assert sorted(d["package"] for d in received_audit) == sorted(received), about

    for node in (jpn, can):
        verified = audit_verify(node)
        assert verified.returncode == 0, f"{about}: {node.nation}: {verified.stderr}"
        assert "verified" in verified.stdout
    for item in rng.sample(ids, 3):
        n = ids.index(item)
        assert_read_by_the_canadian_analyst(can, item, f"東シナ海 {n}")
