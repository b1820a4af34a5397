"""The local anchor: each committed head kept in a file, whole, and checked against the log.

Through ``AuditLog`` itself on SQLite and PostgreSQL (a fresh schema per test); the file's
checks with heads signed here.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, insert

from gsoia.audit.anchor import Anchor, AnchorError, check_anchor, check_anchor_quickly
from gsoia.audit.log import AuditLog, AuditVerifyError, TreeHead, head_message
from gsoia.audit.merkle import leaf_hash, root
from gsoia.crypto.signing import sign
from gsoia.store.schema import meta

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
AT = "2026-12-06T00:00:00.000000+00:00"


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def clock() -> dt.datetime:
    return dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def head(size: int, key: Ed25519PrivateKey = KEY, of: list[bytes] | None = None) -> TreeHead:
    tree_root = root((of if of is not None else leaves(size))[:size])
    return TreeHead(size, tree_root, sign(key, head_message(size, tree_root)), AT)


def test_a_committed_head_is_kept_whole_and_private(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine, KEY, clock)
    log.anchor = Anchor(tmp_path / "audit-head.json")
    with log.transaction() as tx:
        tx.append("item.created", "a1", {"n": 1})
        tx.append("item.created", "a1", {"n": 2})
    log.record("item.read", "a1", {"n": 3})
    log.anchor.flush()
    kept = log.anchor.read()
    assert kept == log.head()
    assert kept is not None
    assert kept.size == 3
    assert stat.S_IMODE((tmp_path / "audit-head.json").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_rolled_back_transaction_is_never_anchored(engine: Engine, tmp_path: Path) -> None:
    log = AuditLog(engine, KEY, clock)
    log.anchor = Anchor(tmp_path / "audit-head.json")
    log.record("item.read", "a1", {"n": 1})

    def failing() -> None:
        with log.transaction() as tx:
            tx.append("item.created", "a1", {"n": 2})
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        failing()
    log.anchor.close()
    kept = Anchor(tmp_path / "audit-head.json").read()
    latest = log.head()
    assert kept is not None
    assert latest is not None
    assert kept.size == 1 == latest.size


def test_the_largest_head_offered_wins(tmp_path: Path) -> None:
    anchor = Anchor(tmp_path / "audit-head.json")
    anchor.offer(head(5))
    anchor.offer(head(3))  # a head another thread took earlier, offered late
    anchor.flush()
    assert anchor.read() == head(5)
    anchor.offer(head(8))
    anchor.close()
    assert Anchor(tmp_path / "audit-head.json").read() == head(8)


def test_no_file_is_no_anchor(tmp_path: Path) -> None:
    assert Anchor(tmp_path / "audit-head.json").read() is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '{"size": 3}',
        '{"size": "3", "root": "00", "signature": "", "at": ""}',
        json.dumps({"size": 0, "root": "00" * 32, "signature": "", "at": AT}),
        json.dumps({"size": 3, "root": "zz", "signature": "", "at": AT}),
    ],
)
def test_a_file_that_is_not_a_head_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "audit-head.json"
    path.write_text(text)
    with pytest.raises(AnchorError, match=r"audit-head\.json: .*not a signed tree head"):
        Anchor(path).read()


def test_a_failed_write_is_raised_by_flush(tmp_path: Path) -> None:
    anchor = Anchor(tmp_path / "gone" / "audit-head.json")  # no such directory
    anchor.offer(head(2))
    with pytest.raises(AnchorError, match="cannot be written"):
        anchor.flush()


def test_a_log_holding_the_anchor_passes(tmp_path: Path) -> None:
    log = leaves(10)
    check_anchor(head(6), 10, lambda n: log[:n], [public(KEY)], tmp_path)
    check_anchor(head(10), 10, lambda n: log[:n], [public(KEY)], tmp_path)
    # signed by a key the node used before a rotation
    check_anchor(head(6, OTHER), 10, lambda n: log[:n], [public(OTHER), public(KEY)], tmp_path)
    check_anchor_quickly(head(6), 10, root(log[:6]), tmp_path)


def test_a_shorter_log_names_the_missing_range(tmp_path: Path) -> None:
    log = leaves(4)
    with pytest.raises(AuditVerifyError, match="entries 4 to 9 are missing") as caught:
        check_anchor(head(10), 4, lambda n: log[:n], [public(KEY)], tmp_path)
    assert caught.value.seq == 4
    with pytest.raises(AuditVerifyError, match="entry 9 is missing"):
        check_anchor_quickly(head(10), 9, None, tmp_path)
    with pytest.raises(AuditVerifyError, match="entries 0 to 9 are missing"):
        check_anchor_quickly(head(10), 0, None, tmp_path)


def test_a_rewritten_log_is_found(tmp_path: Path) -> None:
    other = [leaf_hash(f"another {i}".encode()) for i in range(10)]
    with pytest.raises(AuditVerifyError, match="entries 0 to 5 are not those") as caught:
        check_anchor(head(6), 10, lambda n: other[:n], [public(KEY)], tmp_path)
    assert caught.value.seq == 0
    with pytest.raises(AuditVerifyError, match="its stored root is not the one"):
        check_anchor_quickly(head(6), 10, root(other[:6]), tmp_path)


def test_an_anchor_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    log = leaves(10)
    with pytest.raises(AuditVerifyError, match="not signed by any key of this node"):
        check_anchor(head(6, OTHER), 10, lambda n: log[:n], [public(KEY)], tmp_path)


def test_the_store_tells_its_size_and_a_stored_root(engine: Engine) -> None:
    log = AuditLog(engine, KEY, clock)
    assert log.store.size_and_root_at(0) == (0, None)
    log.record("item.read", "a1", {"n": 1})
    log.record("item.read", "a1", {"n": 2})
    size, stored = log.store.size_and_root_at(0)
    assert size == 2
    assert stored == root(log.leaves(1))
    with engine.begin() as connection:  # the schema is there: a row elsewhere changes nothing
        connection.execute(insert(meta).values(name="x", value="y"))
    assert log.store.size_and_root_at(5) == (2, None)
