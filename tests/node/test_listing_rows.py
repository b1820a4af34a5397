"""A listed page's rows: read and checked once per row version on PostgreSQL.

The node remembers a row it found intact by its seq and version (``xmin``, the transaction
that wrote it). A page lists it again without reading or checking it; any UPDATE, by the
node or behind its back, makes a new version that is read and checked afresh.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, update

from gsoia.api.app import JSONBody
from gsoia.api.listing_json import ListingJson
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.schema import items
from tests.node.conftest import RunningNode

LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def full_reads(seen: list[str]) -> int:
    """Statements that read listed rows whole (with their ciphertext)."""
    return sum(1 for s in seen if "items.ciphertext" in s and "FROM items" in s)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_unchanged_row_is_not_read_again_and_an_edited_one_is(jpn: RunningNode) -> None:
    node = Node.open(jpn.data, database=jpn.database.url)
    try:
        jp, _ = node.add_user("jp", "JPN", clearance="KIMITSU", need_to_know=["maritime"])
        ca, _ = node.add_user("ca", "CAN", clearance="S", need_to_know=["maritime"])
        ids = [node.create_item(jp, LABEL, f"Patrol {n}", b"x")["id"] for n in range(3)]
        with statements(node.engine) as seen:
            assert [i["id"] for i in node.list_items(ca)["items"]] == ids
            assert full_reads(seen) == 1  # first seen: read and checked
            assert [i["id"] for i in node.list_items(jp)["items"]] == ids
            assert full_reads(seen) == 1  # the same versions: neither, for any user
        with node.engine.begin() as connection:  # behind the node's back
            connection.execute(
                update(items).where(items.c.id == ids[1]).values(releasable_to='["CAN", "USA"]')
            )
        with statements(node.engine) as seen:
            assert [i["id"] for i in node.list_items(ca)["items"]] == [ids[0], ids[2]]
        assert full_reads(seen) == 1  # the edited row alone, found not intact
        with statements(node.engine) as seen:
            assert [i["id"] for i in node.list_items(jp)["items"]] == [ids[0], ids[2]]
        assert full_reads(seen) == 1  # still not intact: read and checked each time
    finally:
        node.close()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_page_given_as_json_already_is_the_page_and_follows_each_change(
    jpn: RunningNode,
) -> None:
    """``ListingJson`` (the REST API's listing): the same bytes as the page encoded whole,
    for each subject (a view kept for one is not given to another: JPN's officer sees no
    CAN marking), and a row's view follows a change of its row (a consent)."""
    node = Node.open(jpn.data, database=jpn.database.url)
    try:
        officer, _ = node.add_user(
            "jo", "JPN", clearance="KIMITSU", need_to_know=["maritime"], role=Role.OFFICER
        )
        ca_s, _ = node.add_user("ca-s", "CAN", clearance="S", need_to_know=["maritime"])
        ca_ts, _ = node.add_user("ca-ts", "CAN", clearance="TS", need_to_know=["maritime"])
        ids = [node.create_item(officer, LABEL, f"Patrol {n}", b"x")["id"] for n in range(3)]

        listed_json = ListingJson()

        def page(user: Any, *, encoded: bool = False) -> bytes:
            if encoded:
                return bytes(JSONBody(listed_json.page(node.list_page(user))).body)
            return bytes(JSONBody(node.list_items(user)).body)

        for user in (ca_s, ca_ts, officer):
            whole = page(user)
            assert page(user, encoded=True) == whole
            assert page(user, encoded=True) == whole  # from the views kept
        node.add_consent(officer, ids[1], "USA")
        listed = json.loads(page(ca_s, encoded=True))["items"]
        assert [i["consented_to"] for i in listed] == [[], ["USA"], []]
        assert page(ca_s, encoded=True) == page(ca_s)
        assert json.loads(page(ca_ts, encoded=True)) == json.loads(page(ca_ts))
    finally:
        node.close()
