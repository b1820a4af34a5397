"""One signature an envelope (``gsoia.node.envelopes``): the objects of a TAXII envelope
share one signature over their digests, and every edit the node refuses for an item signed
on its own is refused for them: a row edited in SQL, a row moved to another envelope or
slot, a digest list altered, a signature forged, the row taken out of its envelope. Each is
an integrity failure, audited, read by a node that has not seen the envelope (a fresh
open), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, update

from gsoia.crypto.signing import binding_message, digest
from gsoia.node import rotation
from gsoia.node.config import KEYS_DIR
from gsoia.node.errors import IntegrityFailure
from gsoia.node.item import StoredItem, find_item, signed_fields
from gsoia.node.service import Node
from gsoia.node.stix_index import INTEL, Query
from gsoia.node.taxii_store import TaxiiStore
from gsoia.node.users import User
from gsoia.store.schema import audit_entries, item_envelopes, items
from tests.node.conftest import Database
from tests.taxii.support import indicator

EACH = 3
"""Objects in each of the two envelopes."""


@dataclass
class Stored:
    """A node holding two envelopes of ``EACH`` objects and one item stored alone."""

    data: Path
    database: Database
    envelopes: list[list[str]]
    """The item ids of each envelope, in slot order."""
    alone: str
    token: str

    def open(self) -> Node:
        return Node.open(self.data, database=self.database.url)

    def edit(self, change: Callable[[Connection], None]) -> None:
        node = self.open()
        try:
            with node.engine.begin() as connection:
                change(connection)
        finally:
            node.close()


@pytest.fixture
def stored(tmp_path: Path, database: Database) -> Stored:
    data = tmp_path / "jpn"
    node = Node.init(data, "JPN", database=database.url)
    try:
        user, token = node.add_user("jp", "JPN", clearance="KIMITSU")
        taxii = TaxiiStore(node)
        for at in (0, EACH):
            added = taxii.add(user, INTEL, [indicator(at + n) for n in range(EACH)])
            assert added["success_count"] == EACH
        alone = node.create_item(user, _label(), "Alone", b"alone")["id"]
        with node.engine.connect() as connection:
            rows = connection.execute(
                select(items.c.id, items.c.envelope, items.c.envelope_slot)
                .where(items.c.envelope.is_not(None))
                .order_by(items.c.seq)
            ).all()
    finally:
        node.close()
    by_envelope: dict[str, list[str]] = {}
    for item_id, envelope, slot in rows:
        assert slot == len(by_envelope.setdefault(envelope, []))
        by_envelope[envelope].append(item_id)
    return Stored(data, database, list(by_envelope.values()), alone, token)


def _label() -> dict[str, Any]:
    return {"originator": "JPN", "classification": "GOKUHI", "releasable_to": ["CAN"]}


def _user(node: Node, stored: Stored) -> User:
    return node.authenticate(stored.token, "jp")


def _read(stored: Stored, item_id: str) -> bool:
    """Whether a freshly opened node reads the item (False: an integrity failure)."""
    node = stored.open()
    try:
        node.read_item(_user(node, stored), item_id)
    except IntegrityFailure:
        return False
    finally:
        node.close()
    return True


def _listed(stored: Stored) -> list[str]:
    """The items of the TAXII collection a freshly opened node emits."""
    node = stored.open()
    try:
        page, _ = TaxiiStore(node).query(_user(node, stored), INTEL, Query(limit=100))
        return [row.id for row in page.rows]
    finally:
        node.close()


def _integrity_entries(stored: Stored) -> list[dict[str, Any]]:
    node = stored.open()
    try:
        with node.engine.connect() as connection:
            bodies = connection.execute(
                select(audit_entries.c.body).where(audit_entries.c.kind == "integrity")
            ).scalars()
            return [json.loads(body)["data"] for body in bodies]
    finally:
        node.close()


def test_an_envelope_is_signed_once_and_its_objects_read(stored: Stored) -> None:
    node = stored.open()
    try:
        with node.engine.connect() as connection:
            signatures = connection.execute(select(items.c.id, items.c.signature)).all()
            envelopes = connection.execute(select(item_envelopes)).all()
    finally:
        node.close()
    own = {item_id: bytes(signature) for item_id, signature in signatures}
    assert len(own[stored.alone]) == 64  # an item alone keeps its own signature
    assert all(own[i] == b"" for envelope in stored.envelopes for i in envelope)
    assert sorted(len(e.digests) for e in envelopes) == [EACH * 48, EACH * 48]
    every = [i for envelope in stored.envelopes for i in envelope]
    assert all(_read(stored, i) for i in every)
    assert sorted(_listed(stored)) == sorted(every)
    assert _integrity_entries(stored) == []


def _row_edited(s: Stored) -> Callable[[Connection], None]:
    return lambda c: c.execute(
        update(items).where(items.c.id == s.envelopes[0][1]).values(title="Edited")
    )


def _moved_to_another_envelope(s: Stored) -> Callable[[Connection], None]:
    def move(connection: Connection) -> None:
        other = connection.execute(
            select(items.c.envelope).where(items.c.id == s.envelopes[1][1])
        ).scalar_one()
        connection.execute(
            update(items).where(items.c.id == s.envelopes[0][1]).values(envelope=other)
        )

    return move


def _moved_to_another_slot(s: Stored) -> Callable[[Connection], None]:
    return lambda c: c.execute(
        update(items).where(items.c.id == s.envelopes[0][1]).values(envelope_slot=0)
    )


def _slot_emptied(s: Stored) -> Callable[[Connection], None]:
    return lambda c: c.execute(
        update(items).where(items.c.id == s.envelopes[0][1]).values(envelope_slot=None)
    )


def _taken_out_of_its_envelope(s: Stored) -> Callable[[Connection], None]:
    return lambda c: c.execute(
        update(items)
        .where(items.c.id == s.envelopes[0][1])
        .values(envelope=None, envelope_slot=None)
    )


def _digest_list_altered(s: Stored) -> Callable[[Connection], None]:
    """The edited row's digest put in its slot: the row matches the list, the list no
    longer matches its signature."""

    def alter(connection: Connection) -> None:
        _row_edited(s)(connection)
        row = StoredItem._make(
            connection.execute(select(items).where(items.c.id == s.envelopes[0][1])).one()
        )
        envelope = connection.execute(
            select(item_envelopes).where(item_envelopes.c.id == row.envelope)
        ).one()
        message = binding_message(signed_fields(row), bytes(row.content_digest))
        digests = bytearray(envelope.digests)
        digests[48 : 2 * 48] = digest(message)
        connection.execute(
            update(item_envelopes)
            .where(item_envelopes.c.id == row.envelope)
            .values(digests=bytes(digests))
        )

    return alter


def _signature_forged(s: Stored) -> Callable[[Connection], None]:
    def forge(connection: Connection) -> None:
        envelope = connection.execute(
            select(items.c.envelope).where(items.c.id == s.envelopes[0][1])
        ).scalar_one()
        signature = connection.execute(
            select(item_envelopes.c.signature).where(item_envelopes.c.id == envelope)
        ).scalar_one()
        forged = bytes([signature[0] ^ 1]) + bytes(signature)[1:]
        connection.execute(
            update(item_envelopes).where(item_envelopes.c.id == envelope).values(signature=forged)
        )

    return forge


def _signature_of_another_envelope(s: Stored) -> Callable[[Connection], None]:
    def swap(connection: Connection) -> None:
        ids = [
            connection.execute(
                select(items.c.envelope).where(items.c.id == envelope[0])
            ).scalar_one()
            for envelope in s.envelopes
        ]
        other = connection.execute(
            select(item_envelopes.c.signature).where(item_envelopes.c.id == ids[1])
        ).scalar_one()
        connection.execute(
            update(item_envelopes).where(item_envelopes.c.id == ids[0]).values(signature=other)
        )

    return swap


WHOLE_ENVELOPE = {"digest list altered", "signature forged", "signature of another envelope"}
EDITS: dict[str, Callable[[Stored], Callable[[Connection], None]]] = {
    "row edited": _row_edited,
    "row moved to another envelope": _moved_to_another_envelope,
    "row moved to another slot": _moved_to_another_slot,
    "row's slot emptied": _slot_emptied,
    "row taken out of its envelope": _taken_out_of_its_envelope,
    "digest list altered": _digest_list_altered,
    "signature forged": _signature_forged,
    "signature of another envelope": _signature_of_another_envelope,
}


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edit_is_an_integrity_failure_audited(stored: Stored, name: str) -> None:
    stored.edit(EDITS[name](stored))
    first, second = stored.envelopes
    refused = set(first) if name in WHOLE_ENVELOPE else {first[1]}
    assert _listed(stored) == [i for i in [*first, *second] if i not in refused]
    for item_id in [*first, *second, stored.alone]:
        assert _read(stored, item_id) is (item_id not in refused), item_id
    flagged = _integrity_entries(stored)
    assert {e["item"] for e in flagged} == refused
    assert {e["where"] for e in flagged} == {"taxii objects", "read"}


def test_a_relabelled_object_leaves_its_envelope_signed_on_its_own(stored: Stored) -> None:
    node = stored.open()
    try:
        item_id = stored.envelopes[0][1]
        with node.audit.transaction() as tx:
            row = find_item(tx.connection, item_id)
            assert row is not None
            node.rewrite(tx, row, {"releasable_to": '["CAN","USA"]'})
        with node.engine.connect() as connection:
            after = find_item(connection, item_id)
        assert after is not None
    finally:
        node.close()
    assert (after.envelope, after.envelope_slot, len(bytes(after.signature))) == (None, None, 64)
    assert all(_read(stored, i) for envelope in stored.envelopes for i in envelope)
    assert _integrity_entries(stored) == []


def test_a_key_rotation_signs_each_object_on_its_own(stored: Stored) -> None:
    node = stored.open()
    try:
        result = rotation.rotate(node, stored.data / KEYS_DIR)
    finally:
        node.close()
    every = [i for envelope in stored.envelopes for i in envelope]
    assert result["items_rebound"] == len(every) + 1
    assert all(_read(stored, i) for i in [*every, stored.alone])
    node = stored.open()
    try:
        with node.engine.connect() as connection:
            left = connection.execute(select(items.c.id).where(items.c.envelope.is_not(None))).all()
    finally:
        node.close()
    assert left == []
    assert _integrity_entries(stored) == []
