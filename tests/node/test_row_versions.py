"""Rows bound to their latest version: an older row put back in SQL is refused, not served.

Each test makes the node change a row through its own use cases (a reclassification, an
account change, a re-pin), keeps the row as it was before, and puts it back with
SQLAlchemy on the node's engine, behind its back: every column as the node once wrote and
signed it. The audit log recorded a later version, so the row is refused: an item is not
read (``IntegrityFailure``, audited) nor listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table, select, update

from gsoia.node.errors import IntegrityFailure
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.store.schema import audit_entries, items
from tests.node.conftest import RunningNode

LOW = {
    "originator": "JPN",
    "classification": "HI",
    "area": "maritime",
    "releasable_to": [],
    "need_to_know": [],
}


@pytest.fixture
def node(jpn: RunningNode) -> Iterator[Node]:
    opened = jpn.open()
    try:
        yield opened
    finally:
        opened.close()


def add(node: Node, user_id: str, clearance: str, role: Role = Role.ANALYST) -> User:
    user, _ = node.add_user(user_id, "JPN", clearance=clearance, role=role)
    return user


def row_of(node: Node, table: Table, where: Any) -> dict[str, Any]:
    with node.engine.connect() as connection:
        return dict(connection.execute(select(table).where(where)).one()._mapping)


def put_back(node: Node, table: Table, where: Any, row: dict[str, Any]) -> None:
    """Write ``row`` over the current one, behind the node's back."""
    with node.engine.begin() as connection:
        connection.execute(update(table).where(where).values(**row))


def kinds(node: Node) -> list[str]:
    with node.engine.connect() as connection:
        return list(connection.execute(select(audit_entries.c.kind)).scalars())


def reopened(jpn: RunningNode, node: Node) -> Node:
    node.close()
    return jpn.open()


# -- items --------------------------------------------------------------------------------


def test_an_item_restored_after_its_reclassification_is_neither_read_nor_listed(
    jpn: RunningNode, node: Node
) -> None:
    officer = add(node, "jp-o", "KIMITSU", Role.OFFICER)
    analyst = add(node, "jp-h", "HI")
    item_id = node.create_item(officer, LOW, "Low, for now", b"LOW-THEN-HIGH")["id"]
    assert node.read_item(analyst, item_id)["content"] == "LOW-THEN-HIGH"
    where = items.c.id == item_id
    earlier = row_of(node, items, where)
    node.exchange.reclassify(officer, item_id, "GOKUHI")
    assert node.list_items(analyst)["items"] == []

    put_back(node, items, where, earlier)
    refused_by(node, analyst, item_id)
    restarted = reopened(jpn, node)
    try:
        refused_by(restarted, analyst, item_id)
        assert kinds(restarted).count("integrity") >= 3  # two reads, the listing restarted
    finally:
        restarted.close()


def refused_by(node: Node, user: User, item_id: str) -> None:
    """The item is refused to ``user``: not read, not listed (each audited)."""
    with pytest.raises(IntegrityFailure):
        node.read_item(user, item_id)
    assert node.list_items(user)["items"] == []


def test_an_item_in_a_version_the_log_never_recorded_is_refused(node: Node) -> None:
    officer = add(node, "jp-o", "KIMITSU", Role.OFFICER)
    item_id = node.create_item(officer, LOW, "Low", b"LOW")["id"]
    with node.engine.begin() as connection:
        connection.execute(update(items).where(items.c.id == item_id).values(version=7))
    with pytest.raises(IntegrityFailure):
        node.read_item(officer, item_id)
