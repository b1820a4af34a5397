"""The audit log's transactions: group commit of concurrent callers, and other writers.

On SQLite and on PostgreSQL (a fresh schema per test), through ``AuditLog`` itself.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from psycopg import pq
from sqlalchemy import Engine, event, func, insert, select

from gsoia.audit.log import AuditLog, AuditTransaction, verify_log
from gsoia.store.schema import audit_entries, topics

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_one_batch(log: AuditLog, run: Callable[[str], None], names: Sequence[str]) -> None:
    """``run(name)`` on a thread each, all queued while the log is held: one batch."""
    with log._lock:
        threads = [threading.Thread(target=run, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(log._group._queue) < len(names) and time.monotonic() < deadline:
            time.sleep(0.005)
    for thread in threads:
        thread.join(60)


def signed_heads(engine: Engine) -> list[int]:
    """The seqs of the signed entries: the last entry of each committed transaction."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(audit_entries.c.seq)
                .where(audit_entries.c.signature.is_not(None))
                .order_by(audit_entries.c.seq)
            ).scalars()
        )


def stored(engine: Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_entries.c.seq, audit_entries.c.kind, audit_entries.c.actor).order_by(
                audit_entries.c.seq
            )
        )
        return [(r.seq, r.kind, r.actor) for r in rows]


def test_concurrent_callers_share_one_commit(engine: Engine) -> None:
    log = AuditLog(engine, KEY, utc_now)
    log.record("opened", "test", {})
    callers = 8
    queued = threading.Event()

    def first(tx: AuditTransaction) -> int:
        # the first batch waits until every other caller has queued behind it
        deadline = time.monotonic() + 30
        while len(log._group._queue) < callers - 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        queued.set()
        return tx.append("entry", "caller-0", {"n": 0})

    seqs: dict[int, int] = {}

    def call(n: int) -> None:
        if n == 0:
            seqs[n] = log.batched(first)
        else:
            seqs[n] = log.record("entry", f"caller-{n}", {"n": n})

    leader = threading.Thread(target=call, args=(0,))
    leader.start()
    while not log._lock.locked():  # the leader holds the log: the others queue
        time.sleep(0.001)
    others = [threading.Thread(target=call, args=(n,)) for n in range(1, callers)]
    for thread in others:
        thread.start()
    for thread in [leader, *others]:
        thread.join(60)
    assert queued.is_set()
    # the leader's batch, then every other caller's in one: one signed head each
    assert signed_heads(engine) == [0, 1, callers]
    assert sorted(seqs.values()) == list(range(1, callers + 1))
    entries = stored(engine)
    assert {actor for _, kind, actor in entries if kind == "entry"} == {
        f"caller-{n}" for n in range(callers)
    }
    assert {seq: actor for seq, _, actor in entries if seq in seqs.values()} == {
        seq: f"caller-{n}" for n, seq in seqs.items()
    }
    with engine.connect() as connection:
        signed = connection.execute(
            select(audit_entries.c.seq)
            .where(audit_entries.c.signature.is_not(None))
            .order_by(audit_entries.c.seq)
        ).scalars()
        assert list(signed) == [0, 1, callers]  # one signed tree head a commit
    head = verify_log(engine, PUBLIC)
    assert head is not None
    assert head.size == callers + 1


@pytest.mark.parametrize(
    ("isolated", "rerunnable"),
    [(True, False), (False, False), (True, True)],
    ids=["savepoint", "entries-only", "rerunnable"],
)
def test_a_failing_piece_is_undone_alone(engine: Engine, isolated: bool, rerunnable: bool) -> None:
    """In its savepoint, or (``isolated=False``: a piece that only appends entries) by
    dropping its entries, or (``rerunnable``) by running the batch again in savepoints:
    the others' entries and actions are kept."""
    log = AuditLog(engine, KEY, utc_now)
    done: list[str] = []

    class Refused(Exception):
        pass

    def failing(tx: AuditTransaction) -> None:
        tx.append("doomed", "b", {})
        tx.on_commit(lambda: done.append("doomed"))
        raise Refused("no")

    def fine(name: str) -> int:
        def work(tx: AuditTransaction) -> int:
            tx.on_commit(lambda: done.append(name))
            return tx.append("kept", name, {})

        return log.batched(work, isolated=isolated, rerunnable=rerunnable)

    outcome: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcome[name] = (
                log.batched(failing, isolated=isolated, rerunnable=rerunnable)
                if name == "b"
                else fine(name)
            )
        except Refused as e:
            outcome[name] = e

    as_one_batch(log, run, ("a", "b", "c"))
    assert isinstance(outcome["b"], Refused)
    assert sorted(done) == ["a", "c"]
    assert {seq: actor for seq, _, actor in stored(engine)} == {
        outcome["a"]: "a",
        outcome["c"]: "c",
    }
    head = verify_log(engine, PUBLIC)
    assert head is not None
    assert head.size == 2
    assert log.record("after", "d", {}) == 2  # the log's own tree did not keep the undone entry


@pytest.mark.parametrize("fails", [False, True], ids=["all-fine", "one-raises"])
def test_rerunnable_pieces_share_a_transaction_without_savepoints(
    engine: Engine, fails: bool
) -> None:
    """A batch of rerunnable pieces: no savepoint while none raises; when one does (after
    its statement), the batch runs again in savepoints: its row is undone, the others kept
    once each, and every caller hears only of its own piece."""
    log = AuditLog(engine, KEY, utc_now)
    savepoints: list[str] = []

    def seen(_c: object, _cursor: object, statement: str, *_: object) -> None:
        if "SAVEPOINT" in statement.upper():
            savepoints.append(statement)

    class Refused(Exception):
        pass

    def work(name: str) -> Callable[[AuditTransaction], int]:
        def store(tx: AuditTransaction) -> int:
            tx.connection.execute(insert(topics).values(topic=name, bit=ord(name)))
            if fails and name == "b":
                raise Refused(name)
            return tx.append("stored", name, {})

        return store

    outcome: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcome[name] = log.batched(work(name), rerunnable=True)
        except Refused as e:
            outcome[name] = e

    event.listen(engine, "before_cursor_execute", seen)
    try:
        as_one_batch(log, run, ("a", "b", "c"))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with engine.connect() as connection:
        kept = sorted(connection.execute(select(topics.c.topic)).scalars())
    assert all(isinstance(outcome[n], int) for n in kept)  # the others' seqs
    if fails:
        assert isinstance(outcome["b"], Refused)
        assert kept == ["a", "c"]
        assert savepoints  # the second run
    else:
        assert kept == ["a", "b", "c"]
        assert savepoints == []
    assert sorted(actor for _, _, actor in stored(engine)) == kept
    assert signed_heads(engine) == [len(kept) - 1]  # one transaction committed
    head = verify_log(engine, PUBLIC)
    assert head is not None
    assert head.size == len(kept)


@pytest.mark.parametrize("isolated", [False, True], ids=["entries-only", "transaction"])
def test_entries_appended_by_another_process_are_taken_in(engine: Engine, isolated: bool) -> None:
    """Each log appends after the other's entries and hears of them (``on_others``) before
    a transaction of its own. On PostgreSQL an entries-only append is refused by the last
    seq it expects, then made again, caught up, and the hearing is left to the next
    transaction (entries change no state that follows the log); a transaction takes in the
    entries it missed with the lock, and hears of them at once."""
    ours, theirs = AuditLog(engine, KEY, utc_now), AuditLog(engine, KEY, utc_now)
    heard: list[str] = []
    ours.on_others = lambda _connection: heard.append("ours")
    theirs.on_others = lambda _connection: heard.append("theirs")

    def record(log: AuditLog, kind: str, n: int) -> int:
        def entry(tx: AuditTransaction) -> int:
            return tx.append(kind, "a", {"n": n})

        return log.batched(entry, isolated=isolated)

    for n in range(3):
        record(ours, "ours", n)
    for n in range(5):
        record(theirs, "theirs", n)
    assert record(ours, "ours", 3) == 8
    if isolated or engine.dialect.name != "postgresql":
        assert heard == ["theirs", "ours"]
    else:
        assert heard == []
        with ours.transaction():
            assert heard == ["ours"]
        with ours.transaction():  # heard once
            pass
        assert heard == ["ours"]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(audit_entries)).scalar() == 9
    head = verify_log(engine, PUBLIC)
    assert head is not None
    assert head.size == 9
    assert ours.head() == head


@pytest.mark.parametrize("isolated", [False, True], ids=["entries-only", "transaction"])
def test_a_log_that_does_not_continue_the_tree_is_reloaded(engine: Engine, isolated: bool) -> None:
    """The log in the store is not the one this process has followed (here: emptied and
    begun again by another process, shorter than ours): the next append reloads the tree
    from the store and appends after its last entry, and the log verifies."""
    ours, theirs = AuditLog(engine, KEY, utc_now), AuditLog(engine, KEY, utc_now)
    for n in range(3):
        ours.record("ours", "a", {"n": n})
    with engine.begin() as connection:
        connection.execute(audit_entries.delete())
    for n in range(2):
        theirs.record("theirs", "b", {"n": n})

    def entry(tx: AuditTransaction) -> int:
        return tx.append("ours", "a", {"n": 3})

    assert ours.batched(entry, isolated=isolated) == 2
    assert [actor for _, _, actor in stored(engine)] == ["b", "b", "a"]
    head = verify_log(engine, PUBLIC)
    assert head is not None
    assert head.size == 3


def test_a_failed_batch_fails_every_caller(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """When writing a batch fails (here: its signature), each caller queued in it gets the
    error: none is told its entry was written, and nothing of the batch is stored."""
    log = AuditLog(engine, KEY, utc_now)
    log.record("opened", "test", {})

    class Failed(Exception):
        pass

    signed = AuditTransaction._sign
    failures = [Failed("the database went away")]

    def failing_sign(transaction: AuditTransaction) -> bool:
        if failures:  # the batch's write fails once; what follows may work again
            raise failures.pop()
        return signed(transaction)

    outcome: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            outcome[name] = log.record("entry", name, {})
        except Failed as e:
            outcome[name] = e

    monkeypatch.setattr(AuditTransaction, "_sign", failing_sign)
    as_one_batch(log, run, ("a", "b", "c"))
    monkeypatch.undo()
    assert all(isinstance(outcome[n], Failed) for n in ("a", "b", "c")), outcome
    assert [actor for _, _, actor in stored(engine)] == ["test"]
    assert log.record("after", "d", {}) == 1
    head = verify_log(engine, PUBLIC)
    assert head is not None
    assert head.size == 2


def _topics(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(select(topics.c.topic)).scalars())


@pytest.mark.parametrize("entries", [0, 1, 250], ids=["no-entry", "one-entry", "many-entries"])
def test_a_transaction_commits_its_statements_with_its_entries(
    engine: Engine, entries: int
) -> None:
    """Its statements and entries are kept together, however many entries (on PostgreSQL
    the last hundred carry the COMMIT; with none, the driver commits); every head it
    signed verifies."""
    log = AuditLog(engine, KEY, utc_now)
    with log.transaction() as tx:
        tx.connection.execute(insert(topics).values(topic="kept", bit=1))
        for n in range(entries):
            tx.append("entry", "a", {"n": n})
    assert _topics(engine) == ["kept"]
    assert len(stored(engine)) == entries
    assert signed_heads(engine) == ([entries - 1] if entries else [])
    if entries:
        head = verify_log(engine, PUBLIC)
        assert head is not None
        assert head.size == entries
        assert tx.head == head


def test_a_transaction_that_raises_leaves_nothing_and_the_next_works(engine: Engine) -> None:
    """Raised after its statement and entries: both undone, and the connection goes back
    to the pool with no transaction open (the next transactions, on whichever connection,
    commit)."""
    log = AuditLog(engine, KEY, utc_now)

    class Refused(Exception):
        pass

    def refused() -> None:
        with log.transaction() as tx:
            tx.connection.execute(insert(topics).values(topic="undone", bit=1))
            tx.append("entry", "a", {})
            raise Refused

    with pytest.raises(Refused):
        refused()
    assert _topics(engine) == []
    assert stored(engine) == []
    for n in range(3):
        with log.transaction() as tx:
            tx.connection.execute(insert(topics).values(topic=f"kept-{n}", bit=n + 2))
            tx.append("entry", "b", {"n": n})
    assert _topics(engine) == ["kept-0", "kept-1", "kept-2"]
    assert signed_heads(engine) == [0, 1, 2]
    head = verify_log(engine, PUBLIC)
    assert head is not None
    assert head.size == 3


@pytest.mark.parametrize("bare_engine", ["postgresql"], indirect=True)
def test_a_postgresql_transaction_begins_and_commits_within_its_queries(
    engine: Engine, tmp_path: Path
) -> None:
    """An audited write on PostgreSQL is three round trips: BEGIN with the lock and the
    last seq, the caller's statement, the entries with the COMMIT (not five: a BEGIN and a
    COMMIT of their own). (SQLite has no round trips.)"""
    log = AuditLog(engine, KEY, utc_now)
    log.record("opened", "test", {})
    trace = tmp_path / "libpq.trace"
    with trace.open("wb") as out:

        def traced(driver: Any, _record: object, _proxy: object) -> None:
            driver.pgconn.trace(out.fileno())
            driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

        def untraced(driver: Any, _record: object) -> None:
            driver.pgconn.untrace()

        event.listen(engine, "checkout", traced)
        event.listen(engine, "checkin", untraced)
        try:
            with log.transaction() as tx:
                tx.connection.execute(insert(topics).values(topic="kept", bit=1))
                tx.append("entry", "a", {})
        finally:
            event.remove(engine, "checkout", traced)
            event.remove(engine, "checkin", untraced)
    messages = trace.read_text().splitlines()
    sent = [line.split("\t")[2] for line in messages if line.startswith("F\t")]
    ready = [line for line in messages if "\tReadyForQuery\t" in line]
    assert len(ready) == 3, sent
    assert _topics(engine) == ["kept"]
    assert signed_heads(engine) == [0, 1]
