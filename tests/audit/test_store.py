"""The audit store of each database, under the log: chosen by dialect, and what it reads
and writes (SQLite and PostgreSQL, a fresh schema per test)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from gsoia.audit.log import AuditLog, AuditTransaction, store_for
from gsoia.audit.merkle import AuditError
from gsoia.audit.postgres_store import PostgresAuditStore
from gsoia.audit.sqlite_store import SqliteAuditStore
from gsoia.audit.store import Entry

KEY = Ed25519PrivateKey.generate()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_the_store_follows_the_dialect(engine: Engine) -> None:
    expected = {"sqlite": SqliteAuditStore, "postgresql": PostgresAuditStore}
    assert type(store_for(engine)) is expected[engine.dialect.name]
    assert store_for(engine).appends_alone == (engine.dialect.name == "postgresql")


def test_a_write_transaction_sees_the_log_as_the_lock_found_it(engine: Engine) -> None:
    """``begin`` reads the last seq under the lock; the entries from a seq on are read
    (on PostgreSQL with the lock, elsewhere when asked), and committed rows read back."""
    log = AuditLog(engine, KEY, utc_now)
    for n in range(3):
        log.record("entry", "test", {"n": n})
    store = store_for(engine)
    leaves = store.leaves()
    assert len(leaves) == 3
    with store.begin(1) as begun:
        assert begun.last == 2
        missed = begun.missed if begun.missed is not None else store.since(begun.connection, 1)
        assert missed == [(1, leaves[1]), (2, leaves[2])]
        assert store.leaves(begun.connection, size=2) == leaves[:2]
    last = store.last_signed()
    assert last is not None
    assert last.seq == 2
    with store.entries() as rows:
        assert [row.seq for row in rows] == [0, 1, 2]


@pytest.mark.parametrize("bare_engine", ["sqlite"], indirect=True)
def test_sqlite_appends_no_entries_alone(engine: Engine) -> None:
    with pytest.raises(AuditError, match="does not append entries alone"):
        store_for(engine).append_alone([])


@pytest.mark.parametrize("bare_engine", ["postgresql"], indirect=True)
def test_an_append_alone_is_guarded_by_the_last_seq(engine: Engine) -> None:
    """Rows that continue the log are inserted; rows that do not (another process appended
    first) are not, and the entries from their first seq on come back instead."""
    ours, theirs = AuditLog(engine, KEY, utc_now), AuditLog(engine, KEY, utc_now)
    ours.record("first", "test", {})
    store = store_for(engine)
    rows = _unwritten(ours, ["ours"])
    theirs.record("theirs", "test", {})
    missed = store.append_alone(rows)
    assert missed is not None
    assert [seq for seq, _ in missed] == [1]
    assert store.leaves() == [ours.leaves()[0], missed[0][1]]
    assert store.append_alone(_unwritten(theirs, ["after"])) is None
    assert len(store.leaves()) == 3


def _unwritten(log: AuditLog, kinds: list[str]) -> list[Entry]:
    """The signed rows ``log`` would append next for entries of ``kinds``, not written."""
    transaction = AuditTransaction(log, None, log._tree.copy())  # type: ignore[arg-type]
    for kind in kinds:
        transaction.append(kind, "test", {})
    assert transaction._sign()
    return transaction._rows
