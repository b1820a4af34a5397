"""Key rotation on disk and in the store: staged keys, crash repair, the chain of audit keys,
the originator's seal message, and signatures checked with every key a signer used."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from gsoia.audit.log import AuditVerifyError
from gsoia.crypto.errors import BadSignature, CryptoError, KeyFileError
from gsoia.crypto.keys import (
    NEXT_DIR,
    RETIRING_FILE,
    NodeKeys,
    discard_staged,
    drop_retiring,
    finish_rotation,
    load_retiring,
    load_staged,
    stage_rotation,
)
from gsoia.crypto.signing import digest, origin_message, sign, verify_any
from gsoia.node import rotation
from gsoia.node.config import KEYS_DIR
from gsoia.node.errors import Conflict
from gsoia.node.service import Node
from gsoia.store.schema import audit_entries, meta

LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": [],
}


def test_staged_keys_replace_the_old_ones(tmp_path: Path) -> None:
    old = NodeKeys.generate()
    old.save(tmp_path)
    new = old.rotated()
    assert new.storage == old.storage
    stage_rotation(tmp_path, new)
    for name in ("signing.key", "sealing.key"):
        assert stat.S_IMODE((tmp_path / NEXT_DIR / name).stat().st_mode) == 0o600
    assert load_staged(tmp_path) == new.public()
    with pytest.raises(KeyFileError, match="not finished"):
        stage_rotation(tmp_path, new)
    finish_rotation(tmp_path)
    finish_rotation(tmp_path)  # repeatable
    assert NodeKeys.load(tmp_path).public() == new.public()
    retiring = load_retiring(tmp_path)
    assert retiring is not None
    assert retiring.public_key().public_bytes_raw() == old.public().signing
    assert stat.S_IMODE((tmp_path / RETIRING_FILE).stat().st_mode) == 0o600
    drop_retiring(tmp_path)
    assert load_retiring(tmp_path) is None


def test_a_staged_rotation_can_be_discarded(tmp_path: Path) -> None:
    old = NodeKeys.generate()
    old.save(tmp_path)
    stage_rotation(tmp_path, old.rotated())
    discard_staged(tmp_path)
    assert not (tmp_path / NEXT_DIR).exists()
    assert NodeKeys.load(tmp_path).public() == old.public()


def test_a_retiring_key_exposed_is_refused(tmp_path: Path) -> None:
    old = NodeKeys.generate()
    old.save(tmp_path)
    stage_rotation(tmp_path, old.rotated())
    finish_rotation(tmp_path)
    (tmp_path / RETIRING_FILE).chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_retiring(tmp_path)


def test_origin_message_and_verify_any() -> None:
    item = {"id": "x", **LABEL}
    message = origin_message(item, digest(b"content"))
    assert message.startswith(b"gsoia-origin-v1\n")
    assert origin_message(item | {"classification": "HI"}, digest(b"content")) != message
    with pytest.raises(CryptoError, match="SHA-384"):
        origin_message(item, b"short")
    old, new = NodeKeys.generate(), NodeKeys.generate()
    signature = sign(old.signing, message)
    assert verify_any([new.public().signing, old.public().signing], message, signature) == (
        old.public().signing
    )
    with pytest.raises(BadSignature):
        verify_any([new.public().signing], message, signature)
    with pytest.raises(BadSignature):
        verify_any([], message, signature)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node.init(tmp_path / "jpn", "JPN")


def test_rotation_keeps_items_and_the_audit_log_verifiable(tmp_path: Path, node: Node) -> None:
    analyst, _ = node.add_user("jp", "JPN", clearance="KIMITSU")
    created = node.create_item(analyst, LABEL, "Before", b"old key")
    result = rotation.rotate(node, tmp_path / "jpn" / KEYS_DIR)
    assert result["items_rebound"] == 1
    assert result["notices"] == []  # no peer pinned: nobody to tell
    old_signing = node.public.signing
    node.close()
    opened = Node.open(tmp_path / "jpn")
    try:
        assert opened.public.fingerprint() == result["new"]
        assert not (tmp_path / "jpn" / KEYS_DIR / RETIRING_FILE).exists()
        assert opened.read_item(analyst, created["id"])["content"] == "old key"
        assert rotation.own_signing_keys(opened) == [old_signing, opened.public.signing]
        opened.create_item(analyst, LABEL, "After", b"new key")
        head = opened.verify_audit()
        assert head is not None
        with opened.engine.connect() as connection:
            kinds = list(connection.execute(select(audit_entries.c.kind)).scalars())
        assert "keys.rotated" in kinds
    finally:
        opened.close()


def test_audit_verify_needs_the_whole_chain_of_keys(tmp_path: Path, node: Node) -> None:
    node.add_user("jp", "JPN", clearance="KIMITSU")
    rotation.rotate(node, tmp_path / "jpn" / KEYS_DIR)
    node.close()
    opened = Node.open(tmp_path / "jpn")
    try:
        from gsoia.audit.log import verify_log

        with pytest.raises(AuditVerifyError, match="signature of its tree head is bad"):
            verify_log(opened.engine, opened.public.signing)  # the new key alone
        keys = rotation.own_signing_keys(opened)
        with pytest.raises(AuditVerifyError, match="names another key"):
            verify_log(opened.engine, [keys[0], NodeKeys.generate().public().signing])
        with pytest.raises(AuditVerifyError, match="does not record the rotation"):
            verify_log(opened.engine, [keys[0], keys[1], NodeKeys.generate().public().signing])
        assert verify_log(opened.engine, keys) is not None
    finally:
        opened.close()


def test_a_rotation_cut_short_is_finished_or_undone(tmp_path: Path, node: Node) -> None:
    keys_dir = tmp_path / "jpn" / KEYS_DIR
    old = node.keys
    # staged, never recorded by the database: undone when the node opens
    stage_rotation(keys_dir, old.rotated())
    node.close()
    reopened = Node.open(tmp_path / "jpn")
    assert reopened.public == old.public()
    assert not (keys_dir / NEXT_DIR).exists()
    # staged and recorded, the files not yet moved: finished when the node opens
    new = old.rotated()
    stage_rotation(keys_dir, new)
    with reopened.engine.begin() as connection:
        connection.execute(
            update(meta)
            .where(meta.c.name == "signing_key")
            .values(value=new.public().signing.hex())
        )
    reopened.close()
    finished = Node.open(tmp_path / "jpn")
    try:
        assert finished.public == new.public()
    finally:
        finished.close()


def test_no_second_rotation_while_the_first_is_announced(tmp_path: Path, node: Node) -> None:
    keys_dir = tmp_path / "jpn" / KEYS_DIR
    stage_rotation(keys_dir, node.keys.rotated())
    finish_rotation(keys_dir)  # leaves the old key retiring, as if a peer had not heard yet
    with pytest.raises(Conflict, match="still being announced"):
        rotation.rotate(node, keys_dir)
    node.close()
