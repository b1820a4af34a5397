"""Tree heads signed once per transaction: which entries carry a signature, and what
``verify_log`` finds when the signatures or the unsigned entries between them are edited.

On SQLite and on PostgreSQL (a fresh schema per test), through ``AuditLog`` itself. Each
tamper test changes one thing behind the log's back and asserts the entry named.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

import gsoia.audit.log as log_module
from gsoia.audit.log import (
    ROTATED,
    AuditLog,
    AuditTransaction,
    AuditVerifyError,
    head_message,
    verify_log,
)
from gsoia.audit.merkle import AuditError, CompactRange, leaf_hash
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.signing import verify
from gsoia.store.database import MIGRATIONS, writing
from gsoia.store.schema import audit_entries

OLD = Ed25519PrivateKey.generate()
NEW = Ed25519PrivateKey.generate()


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(audit_entries).order_by(audit_entries.c.seq)))


def signed(engine: Engine) -> list[int]:
    """The seqs of the entries that carry a signature."""
    return [r.seq for r in rows(engine) if r.signature is not None]


def transactions(log: AuditLog, sizes: Sequence[int]) -> None:
    """One transaction of ``n`` entries for each ``n`` in ``sizes``."""
    for t, size in enumerate(sizes):
        with log.transaction() as tx:
            for n in range(size):
                tx.append("entry", "test", {"transaction": t, "n": n})


def edit(engine: Engine, seq: int, **values: Any) -> None:
    with writing(engine) as connection:
        connection.execute(update(audit_entries).where(audit_entries.c.seq == seq).values(**values))


def failure(engine: Engine, keys: bytes | list[bytes] | None = None) -> tuple[int, str]:
    try:
        verify_log(engine, public(OLD) if keys is None else keys)
    except AuditVerifyError as e:
        return e.seq, str(e)
    pytest.fail("the edited log verified")


@pytest.fixture
def logged(engine: Engine) -> Engine:
    """Transactions of 1, 4, 3 and 2 entries: signed are 0, 4, 7 and 9."""
    transactions(AuditLog(engine, OLD, utc_now), [1, 4, 3, 2])
    assert signed(engine) == [0, 4, 7, 9]
    return engine


# -- which entries are signed -------------------------------------------------------------


def test_a_transaction_signs_its_last_entry_only(engine: Engine) -> None:
    log = AuditLog(engine, OLD, utc_now)
    with log.transaction() as tx:
        assert [tx.append("entry", "a", {"n": n}) for n in range(3)] == [0, 1, 2]
        assert tx.head is None  # nothing is signed before the transaction ends
    assert signed(engine) == [2]
    assert tx.head is not None
    assert tx.head == log.head() == verify_log(engine, public(OLD))
    assert tx.head.size == 3
    verify(public(OLD), head_message(3, tx.head.root), tx.head.signature)
    stored = rows(engine)
    tree = CompactRange()
    for row in stored:  # every entry still keeps its leaf and the root after it
        tree.append(leaf_hash(row.body.encode()))
        assert bytes(row.leaf) == leaf_hash(row.body.encode())
        assert bytes(row.root) == tree.root()


def test_a_transaction_without_entries_signs_nothing(engine: Engine) -> None:
    log = AuditLog(engine, OLD, utc_now)
    with log.transaction() as tx:
        pass
    assert tx.head is None
    assert rows(engine) == []
    assert log.head() is None
    assert verify_log(engine, public(OLD)) is None


def test_each_record_alone_is_signed(engine: Engine) -> None:
    log = AuditLog(engine, OLD, utc_now)
    for n in range(3):
        log.record("entry", "a", {"n": n})
    assert signed(engine) == [0, 1, 2]


def test_a_batch_of_pieces_signs_exactly_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(engine, OLD, utc_now)
    calls: list[bytes] = []
    real_sign = log_module.sign

    def counting(key: Ed25519PrivateKey, message: bytes) -> bytes:
        calls.append(message)
        return real_sign(key, message)

    monkeypatch.setattr(log_module, "sign", counting)
    pieces = 6

    def work(name: int) -> int:
        def piece(tx: AuditTransaction) -> int:
            tx.append("piece", f"caller-{name}", {"part": 1})
            return tx.append("piece", f"caller-{name}", {"part": 2})

        return log.batched(piece)

    with log._lock:  # every piece queues, then one caller runs them all as one batch
        threads = [threading.Thread(target=work, args=(n,)) for n in range(pieces)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(log._group._queue) < pieces and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(log._group._queue) == pieces
    for thread in threads:
        thread.join(60)
    assert len(calls) == 1
    assert calls == [head_message(2 * pieces, bytes(rows(engine)[-1].root))]
    assert signed(engine) == [2 * pieces - 1]
    head = verify_log(engine, public(OLD))
    assert head is not None
    assert head.size == 2 * pieces


def test_a_failing_last_piece_leaves_the_batch_signed(engine: Engine) -> None:
    """The signature goes on the last entry kept, not on one a rolled-back piece appended."""
    log = AuditLog(engine, OLD, utc_now)
    outcome: dict[str, object] = {}

    def run(name: str) -> None:
        def piece(tx: AuditTransaction) -> int:
            seq = tx.append("piece", name, {})
            if name == "last":
                raise ValueError("undone")
            return seq

        try:
            outcome[name] = log.batched(piece)
        except ValueError as e:
            outcome[name] = e

    threads = []
    with log._lock:
        for queued, name in enumerate(("first", "second", "last"), 1):  # in this order
            threads.append(threading.Thread(target=run, args=(name,)))
            threads[-1].start()
            deadline = time.monotonic() + 30
            while len(log._group._queue) < queued and time.monotonic() < deadline:
                time.sleep(0.002)
        assert len(log._group._queue) == 3
    for thread in threads:
        thread.join(60)
    assert isinstance(outcome["last"], ValueError)
    assert (outcome["first"], outcome["second"]) == (0, 1)
    assert signed(engine) == [1]
    assert verify_log(engine, public(OLD)) is not None


def test_the_head_served_is_the_last_signed_one(logged: Engine) -> None:
    log = AuditLog(logged, OLD, utc_now)
    head = log.head()
    assert head is not None
    assert head.size == 10
    verify(public(OLD), head_message(head.size, head.root), head.signature)
    edit(logged, 9, signature=None)  # behind the log's back: the head is never unsigned
    head = log.head()
    assert head is not None
    assert head.size == 8
    verify(public(OLD), head_message(head.size, head.root), head.signature)


# -- tampering with signed heads and the unsigned entries between them ----------------------


def test_an_untouched_log_verifies(logged: Engine) -> None:
    head = verify_log(logged, public(OLD))
    assert head is not None
    assert (head.size, head.root) == (10, bytes(rows(logged)[-1].root))


def _rebody(row: Any) -> str:
    data = json.loads(row.body)
    data["data"]["n"] = 99
    return canonical_json(data).decode()


def test_an_edited_unsigned_entry_is_named(logged: Engine) -> None:
    edit(logged, 2, body=_rebody(rows(logged)[2]))
    seq, message = failure(logged)
    assert seq == 2
    assert "does not match its leaf hash" in message


def test_an_edited_unsigned_entry_with_its_hashes_fails_at_the_next_root(logged: Engine) -> None:
    stored = rows(logged)
    body = _rebody(stored[2])
    tree = CompactRange.from_leaves(
        [bytes(r.leaf) for r in stored[:2]] + [leaf_hash(body.encode())]
    )
    edit(logged, 2, body=body, leaf=leaf_hash(body.encode()), root=tree.root())
    assert failure(logged)[0] == 3  # its successor's root no longer adds up


def test_an_edited_unsigned_entry_with_every_root_after_it_fails_at_the_signed_head(
    logged: Engine,
) -> None:
    """The attacker recomputes every hash up to the next signed head: only its signature,
    which they cannot make, tells; the error names it and the entries it covers."""
    stored = rows(logged)
    body = _rebody(stored[2])
    leaves = [bytes(r.leaf) for r in stored]
    leaves[2] = leaf_hash(body.encode())
    edit(logged, 2, body=body, leaf=leaves[2])
    for seq in (2, 3, 4):
        edit(logged, seq, root=CompactRange.from_leaves(leaves[: seq + 1]).root())
    seq, message = failure(logged)
    assert seq == 4
    assert "signature of its tree head is bad (it covers entries 1 to 4)" in message


def test_a_stripped_final_signature_is_found(logged: Engine) -> None:
    edit(logged, 9, signature=None)
    seq, message = failure(logged)
    assert seq == 8  # the first entry no signed head covers
    assert "no signed tree head covers it" in message
    assert "the log's last entry, 9, is not signed" in message


def test_an_unsigned_entry_appended_is_found(logged: Engine) -> None:
    """An entry added at the end with its hashes right but no signature: the log's last
    entry must be signed."""
    stored = rows(logged)
    body = canonical_json(
        {"seq": 10, "at": stored[-1].at, "kind": "entry", "actor": "ghost", "data": {}}
    ).decode()
    leaf = leaf_hash(body.encode())
    tree = CompactRange.from_leaves([bytes(r.leaf) for r in stored] + [leaf])
    with writing(logged) as connection:
        connection.execute(
            insert(audit_entries).values(
                seq=10,
                at=stored[-1].at,
                kind="entry",
                actor="ghost",
                body=body,
                leaf=leaf,
                root=tree.root(),
                signature=None,
            )
        )
    assert failure(logged)[0] == 10


@pytest.mark.parametrize(("source", "target"), [(9, 8), (4, 1), (4, 5), (0, 3)])
def test_a_moved_signature_is_found(logged: Engine, source: int, target: int) -> None:
    stored = rows(logged)
    edit(logged, target, signature=bytes(stored[source].signature))
    edit(logged, source, signature=None)
    seq, message = failure(logged)
    assert seq == target
    assert "signature of its tree head is bad" in message


def test_a_signature_copied_onto_another_entry_is_found(logged: Engine) -> None:
    edit(logged, 2, signature=bytes(rows(logged)[4].signature))
    assert failure(logged)[0] == 2


def test_a_stripped_middle_signature_leaves_its_entries_covered_by_the_next_head(
    logged: Engine,
) -> None:
    """Known property: heads are signed per transaction, and a signature says nothing the
    next one does not (its root covers every entry before it). Stripping one loses no
    entry's protection; only which heads the node signed."""
    edit(logged, 4, signature=None)
    head = verify_log(logged, public(OLD))
    assert head is not None
    assert head.size == 10
    stored = rows(logged)
    edit(logged, 2, body=_rebody(stored[2]))  # and an edit in it is still found
    assert failure(logged)[0] == 2


def test_a_truncated_log_verifies_only_back_to_a_signed_head(logged: Engine) -> None:
    with writing(logged) as connection:
        connection.execute(delete(audit_entries).where(audit_entries.c.seq == 9))
    assert failure(logged)[0] == 8  # entry 8 ended no transaction: nothing signed it
    with writing(logged) as connection:
        connection.execute(delete(audit_entries).where(audit_entries.c.seq == 8))
    head = verify_log(logged, public(OLD))  # known limit: only a head seen before shows it
    assert head is not None
    assert head.size == 8


def test_a_strangers_signature_is_found(logged: Engine) -> None:
    stored = rows(logged)
    stranger = Ed25519PrivateKey.generate()
    edit(logged, 7, signature=stranger.sign(head_message(8, bytes(stored[7].root))))
    seq, message = failure(logged)
    assert seq == 7
    assert "(it covers entries 5 to 7)" in message


# -- key rotation ---------------------------------------------------------------------------


def rotate(engine: Engine, before: int = 2) -> int:
    """``before`` entries, then the rotation to ``NEW``, in one transaction of the old key;
    then transactions of the new key. Returns the rotation entry's seq."""
    old = AuditLog(engine, OLD, utc_now)
    transactions(old, [3])
    with old.transaction() as tx:
        for n in range(before):
            tx.append("item.rebound", "cli", {"n": n})
        seq = tx.append(ROTATED, "cli", {"signing": public(NEW).hex()})
    transactions(AuditLog(engine, NEW, utc_now), [2, 3])
    return seq


def test_rotation_verifies_with_the_old_key_then_the_new(engine: Engine) -> None:
    rotated = rotate(engine)
    assert rotated == 5
    assert signed(engine) == [2, 5, 7, 10]
    head = verify_log(engine, [public(OLD), public(NEW)])
    assert head is not None
    assert head.size == 11
    verify(public(NEW), head_message(11, head.root), head.signature)
    stored = rows(engine)
    verify(public(OLD), head_message(6, bytes(stored[5].root)), bytes(stored[5].signature))
    assert failure(engine, [public(NEW)])[0] == 2  # the old key's heads
    assert failure(engine, [public(OLD)])[0] == rotated  # names a key not given
    assert failure(engine, [public(NEW), public(OLD)])[0] == 2


def test_the_rotation_entry_must_end_its_transaction(engine: Engine) -> None:
    log = AuditLog(engine, OLD, utc_now)

    def rotate_then_more(tx: AuditTransaction) -> None:
        tx.append(ROTATED, "cli", {"signing": public(NEW).hex()})
        tx.append("entry", "cli", {})  # would be signed by the old key, read as the new

    with pytest.raises(AuditError, match="must be the last of its transaction"):
        log.batched(rotate_then_more)
    assert rows(engine) == []


def test_the_rotation_entry_is_signed_even_in_a_batch(engine: Engine) -> None:
    log = AuditLog(engine, OLD, utc_now)
    log.batched(lambda tx: tx.append(ROTATED, "cli", {"signing": public(NEW).hex()}))
    assert signed(engine) == [0]


def test_an_unsigned_rotation_is_found(engine: Engine) -> None:
    rotated = rotate(engine)
    edit(engine, rotated, signature=None)  # its entries would be covered by the new key's
    seq, message = failure(engine, [public(OLD), public(NEW)])
    assert seq == rotated
    assert "not signed" in message


def test_a_rotation_signed_by_the_new_key_is_found(engine: Engine) -> None:
    rotated = rotate(engine)
    root = bytes(rows(engine)[rotated].root)
    edit(engine, rotated, signature=NEW.sign(head_message(rotated + 1, root)))
    seq, message = failure(engine, [public(OLD), public(NEW)])
    assert seq == rotated
    assert "(it covers entries 3 to 5)" in message


# -- the migration ------------------------------------------------------------------------------


def _alembic(engine: Engine, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with writing(engine) as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def _entry(seq: int, signature: bytes | None) -> dict[str, Any]:
    body = canonical_json({"seq": seq, "at": "t", "kind": "k", "actor": "a", "data": {}})
    return {
        "seq": seq,
        "at": "t",
        "kind": "k",
        "actor": "a",
        "body": body.decode(),
        "leaf": leaf_hash(body),
        "root": leaf_hash(body),
        "signature": signature,
    }


def test_the_migration_lets_entries_go_unsigned_and_back(bare_engine: Engine) -> None:
    engine = bare_engine
    _alembic(engine, "upgrade", "0004")
    with pytest.raises(IntegrityError), writing(engine) as connection:
        connection.execute(insert(audit_entries).values(**_entry(0, None)))
    with writing(engine) as connection:
        connection.execute(insert(audit_entries).values(**_entry(0, b"s" * 64)))
    _alembic(engine, "upgrade", "head")
    with writing(engine) as connection:
        connection.execute(insert(audit_entries).values(**_entry(1, None)))
    assert [(r.seq, r.signature) for r in rows(engine)] == [(0, b"s" * 64), (1, None)]
    with pytest.raises(RuntimeError, match="1 audit entries have no signature"):
        _alembic(engine, "downgrade", "0004")
    with writing(engine) as connection:
        connection.execute(delete(audit_entries).where(audit_entries.c.seq == 1))
    _alembic(engine, "downgrade", "0004")
    assert [(r.seq, r.signature) for r in rows(engine)] == [(0, b"s" * 64)]
    with pytest.raises(IntegrityError), writing(engine) as connection:
        connection.execute(insert(audit_entries).values(**_entry(1, None)))
