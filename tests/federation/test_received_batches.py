"""A batch of releases is stored by its receiver together: the new copies in one
statement, under one signature of the receiving node (an envelope, as a batch created
there is), in the batch's order; each copy is still read, checked and refused on its own.

Three real nodes in this process (``tests.federation.mesh``): Japan's on SQLite or
PostgreSQL receives Canada's items, Canada's on SQLite receives Japan's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from gsoia.node.errors import IntegrityFailure
from gsoia.node.service import Node
from gsoia.store.schema import item_envelopes, items
from tests.federation.mesh import Mesh
from tests.federation.test_custody import database, mesh
from tests.federation.test_exchange import LABEL
from tests.node.conftest import Database

__all__ = ["database", "mesh"]

CANADAS = {
    "originator": "CAN",
    "classification": "S",
    "area": "maritime",
    "releasable_to": ["JPN"],
    "need_to_know": ["maritime"],
}
CONTENT = "東シナ海".encode()


def made(mesh: Mesh, sender: str, n: int) -> list[str]:
    """``n`` items of ``sender``'s, for the other of JPN and CAN."""
    node, analyst = mesh.nodes[sender], mesh.analysts[sender]
    label = LABEL if sender == "JPN" else CANADAS
    return [str(node.create_item(analyst, label, f"Report {k}", CONTENT)["id"]) for k in range(n)]


def rows(node: Node, item_ids: list[str]) -> list[dict[str, Any]]:
    """The receiver's rows of these items, in seq order."""
    with node.engine.connect() as connection:
        found = connection.execute(
            select(items).where(items.c.id.in_(item_ids)).order_by(items.c.seq)
        )
        return [dict(row._mapping) for row in found]


def received(mesh: Mesh, nation: str) -> list[dict[str, Any]]:
    return mesh.audited(nation, "package.received")


@pytest.mark.parametrize(("sender", "receiver"), [("JPN", "CAN"), ("CAN", "JPN")])
def test_a_batch_is_stored_under_one_signature_in_its_order_and_each_copy_read(
    mesh: Mesh, sender: str, receiver: str
) -> None:
    ids = made(mesh, sender, 4)
    results = mesh.nodes[sender].exchange.release_many(mesh.analysts[sender], receiver, ids)
    assert [r["state"] for r in results if isinstance(r, dict)] == ["delivered"] * 4

    node = mesh.nodes[receiver]
    stored = rows(node, ids)
    assert [row["id"] for row in stored] == ids  # seqs in the batch's order
    [envelope] = {row["envelope"] for row in stored}
    assert envelope is not None
    assert [row["envelope_slot"] for row in stored] == [0, 1, 2, 3]
    assert {bytes(row["signature"]) for row in stored} == {b""}  # none signed alone
    assert {row["custodian"] for row in stored} == {receiver}
    with node.engine.connect() as connection:
        [signed] = connection.execute(select(item_envelopes).where(item_envelopes.c.id == envelope))
    assert len(bytes(signed.digests)) == 4 * 48  # one SHA-384 a copy
    entries = [e for e in received(mesh, receiver) if e["item"] in ids]
    assert [(e["item"], e["status"]) for e in entries] == [(i, "stored") for i in ids]
    for item_id in ids:
        assert node.read_item(mesh.analysts[receiver], item_id)["content"] == CONTENT.decode()


def test_a_release_alone_is_signed_alone(mesh: Mesh) -> None:
    [item] = made(mesh, "JPN", 1)
    assert mesh.nodes["JPN"].exchange.release(mesh.analysts["JPN"], item, "CAN")["state"] == (
        "delivered"
    )
    [row] = rows(mesh.nodes["CAN"], [item])
    assert (row["envelope"], row["envelope_slot"]) == (None, None)
    assert len(bytes(row["signature"])) == 64


def test_a_copy_held_already_is_left_out_of_the_batch_and_the_order_kept(mesh: Mesh) -> None:
    first, held, last = made(mesh, "JPN", 3)
    jpn, analyst = mesh.nodes["JPN"], mesh.analysts["JPN"]
    assert jpn.exchange.release(analyst, held, "CAN")["state"] == "delivered"
    before = len(received(mesh, "CAN"))

    results = jpn.exchange.release_many(analyst, "CAN", [first, held, last])
    assert [r["state"] for r in results if isinstance(r, dict)] == ["delivered"] * 3

    entries = received(mesh, "CAN")[before:]
    assert [(e["item"], e["status"]) for e in entries] == [
        (first, "stored"),
        (held, "already held"),
        (last, "stored"),
    ]
    by_id = {row["id"]: row for row in rows(mesh.nodes["CAN"], [first, held, last])}
    assert by_id[held]["envelope"] is None  # its copy of before, signed alone
    assert by_id[first]["envelope"] == by_id[last]["envelope"] is not None
    assert (by_id[first]["envelope_slot"], by_id[last]["envelope_slot"]) == (0, 1)
    assert by_id[first]["seq"] < by_id[last]["seq"]


@pytest.mark.parametrize(("sender", "receiver"), [("JPN", "CAN"), ("CAN", "JPN")])
def test_a_copy_edited_in_the_database_is_refused_and_the_others_still_read(
    mesh: Mesh, sender: str, receiver: str, tmp_path: Path, database: Database
) -> None:
    ids = made(mesh, sender, 3)
    mesh.nodes[sender].exchange.release_many(mesh.analysts[sender], receiver, ids)
    node = mesh.nodes[receiver]
    with node.engine.begin() as connection:
        connection.execute(update(items).where(items.c.id == ids[1]).values(title="Rewritten"))

    url = database.url if receiver == "JPN" else None  # (the mesh's JPN is on ``database``)
    fresh = Node.open(tmp_path / receiver.lower(), database=url)
    try:  # a node that has not seen the envelope checks its signature and each slot
        reader = fresh.authenticate(mesh.tokens[mesh.analysts[receiver].id])
        with pytest.raises(IntegrityFailure, match="no longer matches its signature"):
            fresh.read_item(reader, ids[1])
        for item_id in (ids[0], ids[2]):
            assert fresh.read_item(reader, item_id)["content"] == CONTENT.decode()
    finally:
        fresh.close()
