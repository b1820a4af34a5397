"""Crash consistency (issue #7, part 2): SIGKILL the nodes again and again under load.

Two real nodes, JPN (the originator) and CAN (its partner), pinned both ways, on the
``database`` fixture's backend. Several clients create items through JPN's REST API and
release each one to CAN; a killer SIGKILLs the JPN server (and at least once the CAN
server) at random moments and restarts it on the same port. The clients keep going: a
request refused at connect time never reached the node and is sent again; one cut off
after it was sent is *in flight*: a create is then given up (its item may or may not
exist), a release is sent again (it may now go out twice; CAN must store the item once).

Afterwards, once JPN's outbox has emptied:

* every acknowledged item is on JPN, readable, its content and label intact; an in-flight
  one is fully there or absent; every item row on JPN reads (decrypts, verifies);
* every acknowledged release reached CAN exactly once, and CAN holds nothing else;
* every package JPN recorded was delivered (the outbox resumed after each crash);
* ``gsoia audit verify`` passes on both nodes;
* each node's signed tree head, sampled before each kill and after each restart, never
  shrinks, is signed by the node, and each head is consistent with the next (RFC 9162
  consistency proofs over the final log).

``GSOIA_CRASH_ITEMS`` (default 400) and ``GSOIA_CRASH_KILLS`` (default one per 500 items,
at least 4) size the run; ``make soak`` runs 10,000 items. The seed is printed and is in
every assertion message: ``GSOIA_CRASH_SEED=<seed>`` replays the kill plan (the moments
the kills land at still depend on the scheduler). ``-s`` shows progress.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from gsoia.audit.log import head_message
from gsoia.audit.merkle import consistency_proof, verify_consistency
from gsoia.crypto.canonical import MAX_SAFE_INTEGER
from gsoia.crypto.signing import verify
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries, inbox, items, outbox, releases
from tests.federation.conftest import pin
from tests.federation.test_faults import (
    add_users,
    audit_verify,
    audited,
    kill,
    pending,
    postgres_schema,
    serve,
    store,
    wait_for,
)
from tests.node.conftest import Database, RunningNode, make_node

ITEMS = int(os.environ.get("GSOIA_CRASH_ITEMS", "400"))
KILLS = max(2, int(os.environ.get("GSOIA_CRASH_KILLS", str(max(4, ITEMS // 500)))))
CLIENTS = 4
SETTLE = 180.0
"""Seconds for the courier to empty the outbox after the load (its backoff: 2, 4, 8 s…)."""

# The JPN-CAN agreement maps KIMITSU to TS, GOKUHI and TOKUTEI to S, HI to C.
LEVELS = ["KIMITSU", "GOKUHI", "TOKUTEI", "HI"]
AGREEMENT = "JPN-CAN"


# -- the nodes ------------------------------------------------------------------------------


@contextmanager
def _second_database(database: Database) -> Iterator[Database]:
    """CAN's database: its own SQLite file, or its own schema beside JPN's."""
    if database.backend == "postgresql":
        with postgres_schema() as other:
            yield other
    else:
        yield Database("sqlite", None)


@pytest.fixture
def pair(tmp_path: Path, database: Database) -> Iterator[tuple[RunningNode, RunningNode]]:
    """JPN and CAN, both on ``database``'s backend, running and pinned both ways."""
    with _second_database(database) as can_database:
        jpn = make_node(tmp_path, database, "JPN")
        can = make_node(tmp_path, can_database, "CAN")
        try:
            add_users(jpn, "KIMITSU", [("jpn-analyst", "KIMITSU", Role.ANALYST)])
            add_users(can, "TS", [("can-analyst", "TS", Role.ANALYST)])
            jpn.start()
            can.start()
            pin(jpn, can)
            pin(can, jpn)
            yield jpn, can
        finally:
            jpn.stop()
            can.stop()


# -- what the clients did -------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """One item a client means to create."""

    n: int
    title: str
    content: str
    label: dict[str, Any]


def draft(seed: int, n: int) -> Draft:
    return Draft(
        n,
        f"crash {seed} #{n}",
        f"東シナ海 {n}: " + "波" * (n % 97),
        {
            "originator": "JPN",
            "classification": LEVELS[n % len(LEVELS)],
            "area": "maritime",
            "releasable_to": ["CAN"],
            "need_to_know": ["maritime"],
        },
    )


@dataclass
class Ledger:
    """What the clients were told: shared by the clients and the killer."""

    seed: int
    target: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    claimed: int = 0  # drafts handed out and not lost in flight
    next_n: int = 0
    created: dict[str, Draft] = field(default_factory=dict)  # item id -> draft (201)
    in_flight: list[Draft] = field(default_factory=list)  # creates cut off after sending
    released: Counter[str] = field(default_factory=Counter)  # item id -> 201s
    resent: int = 0  # releases cut off after sending, sent again
    errors: list[str] = field(default_factory=list)
    aborted: bool = False
    kills: Counter[str] = field(default_factory=Counter)
    killed_at: list[str] = field(default_factory=list)  # who, after how many releases
    outbox_after_restart: list[int] = field(default_factory=list)  # JPN's pending packages
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def take(self) -> Draft | None:
        """The next draft, or None once enough creates were acknowledged or handed out."""
        with self.lock:
            if self.aborted or self.claimed >= self.target:
                return None
            self.claimed += 1
            self.next_n += 1
            return draft(self.seed, self.next_n - 1)

    def lost(self, item: Draft) -> None:
        with self.lock:
            self.in_flight.append(item)
            self.claimed -= 1  # another draft takes its place

    def acknowledged(self, item_id: str, item: Draft) -> None:
        with self.changed:
            if item_id in self.created:
                self.errors.append(f"create #{item.n}: id {item_id} given twice")
            self.created[item_id] = item
            self.changed.notify_all()

    def release_acknowledged(self, item_id: str) -> None:
        with self.changed:
            self.released[item_id] += 1
            self.changed.notify_all()
            done = len(self.released)
        if done % max(1, self.target // 10) == 0:
            print(
                f"  {done}/{self.target} items created and released, kills {dict(self.kills)},"
                f" {time.monotonic() - self.started:.0f} s",
                flush=True,
            )

    def error(self, what: str) -> None:
        with self.changed:
            self.errors.append(what)
            self.changed.notify_all()

    def abort(self, why: str) -> None:
        with self.changed:
            self.errors.append(why)
            self.aborted = True
            self.changed.notify_all()

    def wait_released(self, count: int) -> bool:
        """Block until ``count`` releases were acknowledged; False if the run stopped."""
        with self.changed:
            while len(self.released) < count and not self.aborted:
                self.changed.wait(1.0)
            return not self.aborted


# -- the clients ----------------------------------------------------------------------------

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
"""The node was down: the request never reached it and is sent again as it was."""


def client(ledger: Ledger, jpn: RunningNode) -> None:
    """Create items and release each to CAN until the ledger has enough."""
    try:
        with jpn.client("jpn-analyst") as http:
            while (item := ledger.take()) is not None:
                item_id = _create(ledger, http, item)
                if item_id is not None:
                    _release(ledger, http, item_id)
    except Exception as e:  # a client that dies must fail the test, not hang it
        ledger.abort(f"client died: {e!r}")


def _create(ledger: Ledger, http: httpx.Client, item: Draft) -> str | None:
    body = {"label": item.label, "title": item.title, "content": item.content}
    while not ledger.aborted:
        try:
            response = http.post("/api/v1/items", json=body)
        except NOT_SENT:
            time.sleep(0.05)
            continue
        except httpx.TransportError:
            ledger.lost(item)
            return None
        if response.status_code == 201:
            item_id = str(response.json()["id"])
            ledger.acknowledged(item_id, item)
            return item_id
        ledger.error(f"create #{item.n}: HTTP {response.status_code} {response.text[:300]}")
        return None
    return None


def _release(ledger: Ledger, http: httpx.Client, item_id: str) -> None:
    while not ledger.aborted:
        try:
            response = http.post(f"/api/v1/items/{item_id}/releases", json={"to": "CAN"})
        except NOT_SENT:
            time.sleep(0.05)
            continue
        except httpx.TransportError:
            with ledger.lock:
                ledger.resent += 1
            continue
        if response.status_code == 201:
            ledger.release_acknowledged(item_id)
        else:
            ledger.error(f"release {item_id}: HTTP {response.status_code} {response.text[:300]}")
        return


# -- the killer and the tree heads ----------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A signed tree head as the node's API gave it."""

    when: str
    size: int
    root: bytes
    signature: bytes


@dataclass(frozen=True)
class Kill:
    after: int  # acknowledged releases before the kill
    delay: float  # then this many seconds more
    victim: str
    down: float  # seconds the victim stays down


def kill_plan(rng: random.Random, items: int, kills: int) -> list[Kill]:
    """``kills`` kills spread over the first 80 % of the run, at least one of each node."""
    thresholds = sorted(rng.randint(items // 20, items * 4 // 5) for _ in range(kills))
    first_can, _first_jpn, *others = rng.sample(range(kills), kills)
    can = {first_can} | {k for k in others if rng.random() < 0.25}
    return [
        Kill(
            after,
            rng.uniform(0.0, 0.3),
            "CAN" if k in can else "JPN",
            rng.uniform(0.2, 2.0) if k in can else 0.0,
        )
        for k, after in enumerate(thresholds)
    ]


def tree_head(node: RunningNode, when: str) -> Head:
    """The node's latest signed tree head, through its API (an officer's view)."""
    with node.client(f"{node.nation.lower()}-officer") as http:
        response = http.get("/api/v1/audit", params={"after": MAX_SAFE_INTEGER, "limit": 1})
    assert response.status_code == 200, response.text
    head = response.json()["head"]
    return Head(when, head["size"], bytes.fromhex(head["root"]), bytes.fromhex(head["signature"]))


def signing_key(node: RunningNode) -> bytes:
    with node.client(f"{node.nation.lower()}-officer") as http:
        response = http.get("/api/v1/audit", params={"after": MAX_SAFE_INTEGER, "limit": 1})
    assert response.status_code == 200, response.text
    return bytes.fromhex(response.json()["signing_key"])


def killer(ledger: Ledger, node: RunningNode, plan: list[Kill], heads: list[Head]) -> None:
    """Kill ``node`` as ``plan`` says (one killer per node: a restart delays no other kill)."""
    try:
        for step in plan:
            if not ledger.wait_released(step.after):
                return
            time.sleep(step.delay)
            heads.append(tree_head(node, f"before kill {len(heads)}"))
            port = node.port
            kill(node)
            with ledger.lock:
                ledger.kills[node.nation] += 1
                ledger.killed_at.append(f"{node.nation}@{len(ledger.released)}")
            time.sleep(step.down)
            serve(node, port)
            heads.append(tree_head(node, f"after restart {len(heads)}"))
            if node.nation == "JPN":
                with store(node) as engine:
                    waiting = pending(engine)
                with ledger.lock:
                    ledger.outbox_after_restart.append(waiting)
    except Exception as e:
        ledger.abort(f"killer of {node.nation}: {str(e)[-2000:]!r}")


def check_heads(node: RunningNode, heads: list[Head], key: bytes, about: str) -> None:
    """Sizes never go down, every head is signed, each is consistent with the next."""
    sizes = [(h.when, h.size) for h in heads]
    assert [s for _, s in sizes] == sorted(s for _, s in sizes), f"{about}: {sizes}"
    with store(node) as engine:
        leaves = _leaves(engine)
    assert len(leaves) >= heads[-1].size, about
    for head in heads:
        verify(key, head_message(head.size, head.root), head.signature)
    for old, new in itertools.pairwise(heads):
        proof = consistency_proof(old.size, leaves[: new.size])
        verify_consistency(old.size, new.size, old.root, new.root, proof)


def _leaves(engine: Engine) -> list[bytes]:
    with engine.connect() as connection:
        rows = connection.execute(select(audit_entries.c.leaf).order_by(audit_entries.c.seq))
        return [bytes(leaf) for (leaf,) in rows]


# -- the test -------------------------------------------------------------------------------


def test_sigkill_under_load_loses_nothing_and_delivers_once(
    pair: tuple[RunningNode, RunningNode], database: Database
) -> None:
    jpn, can = pair
    seed = int(os.environ.get("GSOIA_CRASH_SEED", secrets.randbits(32)))
    rng = random.Random(seed)  # noqa: S311 (a replayable test, not a secret)
    plan = kill_plan(rng, ITEMS, KILLS)
    about = f"seed {seed} ({database.backend}, {ITEMS} items, {KILLS} kills)"
    print(f"\n{about}: plan {[(k.after, k.victim) for k in plan]}", flush=True)
    nodes = {"JPN": jpn, "CAN": can}
    keys = {nation: signing_key(node) for nation, node in nodes.items()}
    heads: dict[str, list[Head]] = {n: [tree_head(node, "start")] for n, node in nodes.items()}
    ledger = Ledger(seed, ITEMS)

    threads = [threading.Thread(target=client, args=(ledger, jpn)) for _ in range(CLIENTS)]
    for nation, node in nodes.items():
        mine = [k for k in plan if k.victim == nation]
        threads.append(threading.Thread(target=killer, args=(ledger, node, mine, heads[nation])))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 300 + ITEMS * 0.5
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        ledger.abort("the run did not finish")
        for thread in threads:
            thread.join(timeout=60)
        pytest.fail(f"{about}: the run did not finish: {ledger.errors[:5]}")
    load = time.monotonic() - ledger.started
    assert not ledger.errors, f"{about}: {ledger.errors[:5]}"
    assert sum(ledger.kills.values()) == len(plan), f"{about}: {ledger.kills}"
    assert len(ledger.created) == ITEMS, about
    assert set(ledger.released) == set(ledger.created), about

    with store(jpn) as engine:
        settled = wait_for(lambda: pending(engine) == 0, SETTLE, f"{about}: JPN's outbox emptied")
    for nation, node in nodes.items():
        heads[nation].append(tree_head(node, "after the load"))

    started = time.monotonic()
    _check_jpn(jpn, ledger, about)
    _check_can(jpn, can, ledger, about)
    checked = time.monotonic() - started
    for nation, node in nodes.items():
        verified = audit_verify(node)
        assert verified.returncode == 0, f"{about}: {nation}: {verified.stderr}"
        assert "verified" in verified.stdout, f"{about}: {nation}: {verified.stdout}"
        heads[nation].append(tree_head(node, "at the end"))
        check_heads(node, heads[nation], keys[nation], f"{about}: {nation}")
    print(
        f"{about}: load {load:.0f} s, outbox emptied in {settled:.0f} s, items checked in"
        f" {checked:.0f} s, audit in {time.monotonic() - started - checked:.0f} s;"
        f" kills {ledger.killed_at}; creates in flight {len(ledger.in_flight)}, releases"
        f" sent again {ledger.resent}; JPN outbox pending after its restarts"
        f" {ledger.outbox_after_restart}; tree heads {[h.size for h in heads['JPN']]}"
        f" / {[h.size for h in heads['CAN']]}",
        flush=True,
    )


def _check_jpn(jpn: RunningNode, ledger: Ledger, about: str) -> None:
    """Every item row reads intact; acknowledged ones are there; in-flight ones all or nothing."""
    with store(jpn) as engine:
        with engine.connect() as connection:  # (on SQLite, one connection at a time)
            rows = connection.execute(
                select(items.c.id, items.c.title).where(items.c.originator == "JPN")
            ).all()
            sent = connection.execute(select(releases.c.item_id, releases.c.package_id)).all()
            states = Counter(connection.execute(select(outbox.c.state)).scalars())
        released_audit = audited(engine, "item.released")
    titles = Counter(title for _, title in rows)
    assert max(titles.values()) == 1, f"{about}: created twice: {titles.most_common(3)}"
    by_title = {d.title: d for d in [*ledger.created.values(), *ledger.in_flight]}
    stray = [title for _, title in rows if title not in by_title]
    assert not stray, f"{about}: items nobody created: {stray[:3]}"
    held: dict[str, str] = {str(row.id): str(row.title) for row in rows}
    missing = [i for i in ledger.created if i not in held]
    assert not missing, f"{about}: acknowledged items lost: {missing[:3]}"
    for item_id, item in ledger.created.items():
        assert held[item_id] == item.title, f"{about}: {item_id}"
    with jpn.client("jpn-analyst") as http:
        for item_id, title in held.items():
            expected = by_title[title]
            read = http.get(f"/api/v1/items/{item_id}")
            assert read.status_code == 200, f"{about}: {title} ({item_id}): {read.text}"
            body = read.json()
            assert body["content"] == expected.content, f"{about}: {title}"
            assert body["label"] == expected.label, f"{about}: {title}"
            assert body["title"] == title, about
    # JPN released exactly the acknowledged items, each in packages that were delivered
    assert {item_id for item_id, _ in sent} == set(ledger.created), about
    assert states == Counter({"delivered": len(sent)}), f"{about}: {states}"
    assert sorted(d["package"] for d in released_audit) == sorted(p for _, p in sent), about


def _check_can(jpn: RunningNode, can: RunningNode, ledger: Ledger, about: str) -> None:
    """Each released item stored once, from one of its packages; nothing else."""
    with store(jpn) as engine, engine.connect() as connection:
        rows = connection.execute(select(releases.c.item_id, releases.c.package_id)).all()
    sent: dict[str, str] = {package: item_id for item_id, package in rows}
    with store(can) as engine:
        with engine.connect() as connection:
            held = connection.execute(
                select(items.c.id, items.c.package_id).where(items.c.sender == "JPN")
            ).all()
            received = connection.execute(select(inbox.c.package_id, inbox.c.item_id)).all()
        stored = [d for d in audited(engine, "package.received") if d["status"] == "stored"]
    per_item = Counter(item_id for item_id, _ in held)
    assert max(per_item.values(), default=0) <= 1, f"{about}: {per_item.most_common(3)}"
    assert set(per_item) == set(ledger.created), f"{about}: CAN holds {len(per_item)}"
    stored_per_item = Counter(d["item"] for d in stored)
    assert stored_per_item == Counter(set(ledger.created)), f"{about}: stored twice or never"
    for item_id, package in held:
        assert sent.get(package) == item_id, f"{about}: {item_id} from {package}"
    packages = Counter(package for package, _ in received)
    assert set(packages) == set(sent), f"{about}: CAN's inbox is not what JPN delivered"
    assert max(packages.values()) == 1, f"{about}: {packages.most_common(3)}"
    assert all(sent[p] == i for p, i in received), about
    with can.client("can-analyst") as http:
        for item_id, expected in ledger.created.items():
            read = http.get(f"/api/v1/items/{item_id}")
            assert read.status_code == 200, f"{about}: {expected.title}: {read.text}"
            body = read.json()
            assert body["content"] == expected.content, f"{about}: {expected.title}"
            assert body["label"] == expected.label, f"{about}: {expected.title}"
            assert (body["custodian"], body["agreement"]) == ("CAN", AGREEMENT), about
