"""A listed page's rows: read and checked once per row version on PostgreSQL; their
views kept as JSON by row version on both backends.

On PostgreSQL the node remembers a row it found intact by its seq and version (``xmin``,
the transaction that wrote it). A page lists it again without reading or checking it; any
UPDATE, by the node or behind its back, makes a new version that is read and checked
afresh. On SQLite every row of a page is read and checked; an intact row's version is its
signed ``version``.
"""

from __future__ import annotations

import dataclasses
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


def test_a_view_kept_as_json_is_not_given_for_a_row_edited_behind_the_nodes_back(
    jpn: RunningNode,
) -> None:
    """An edit that leaves the row's signed ``version`` as it was (SQLite) or makes a new
    ``xmin`` (PostgreSQL): the row is checked, found not intact and left out; its view
    kept from before is not given."""
    node = Node.open(jpn.data, database=jpn.database.url)
    try:
        jp, _ = node.add_user("jp", "JPN", clearance="KIMITSU", need_to_know=["maritime"])
        ca, _ = node.add_user("ca", "CAN", clearance="S", need_to_know=["maritime"])
        ids = [node.create_item(jp, LABEL, f"Patrol {n}", b"x")["id"] for n in range(3)]
        listed_json = ListingJson()

        def listed() -> list[dict[str, Any]]:
            body = JSONBody(listed_json.page(node.list_page(ca))).body
            items_: list[dict[str, Any]] = json.loads(bytes(body))["items"]
            return items_

        assert [i["title"] for i in listed()] == ["Patrol 0", "Patrol 1", "Patrol 2"]
        assert len(listed_json._views._entries) == 3  # each view kept, on both backends
        with node.engine.begin() as connection:
            connection.execute(update(items).where(items.c.id == ids[1]).values(title="Moved"))
        assert [i["id"] for i in listed()] == [ids[0], ids[2]]
    finally:
        node.close()


def test_a_page_given_again_is_the_page_as_given_and_any_change_gives_it_anew(
    jpn: RunningNode,
) -> None:
    """The same subject, day and place among the rows, its rows intact in the same
    versions: the page as given before (its number too). A change of a row (a consent), of
    the subject (a clearance) or a row edited behind the node's back: a page made anew."""
    node = Node.open(jpn.data, database=jpn.database.url)
    try:
        officer, _ = node.add_user(
            "jo", "JPN", clearance="KIMITSU", need_to_know=["maritime"], role=Role.OFFICER
        )
        ca, _ = node.add_user("ca", "CAN", clearance="S", need_to_know=["maritime"])
        ids = [node.create_item(officer, LABEL, f"Patrol {n}", b"x")["id"] for n in range(3)]
        first = node.list_page(ca)
        again = node.list_page(ca)
        assert again.serial == first.serial != 0
        assert [s.item.id for s in again.shown] == ids
        lowered = node.list_page(dataclasses.replace(ca, clearance="C"))
        assert lowered.serial != first.serial
        assert [s.item.id for s in lowered.shown] == []  # CAN Confidential: below GOKUHI's S
        node.add_consent(officer, ids[1], "USA")
        consented = node.list_page(ca)
        assert consented.serial != first.serial
        assert [list(s.view()["consented_to"]) for s in consented.shown] == [[], ["USA"], []]
        with node.engine.begin() as connection:
            connection.execute(update(items).where(items.c.id == ids[2]).values(title="Moved"))
        edited = node.list_page(ca)
        assert [s.item.id for s in edited.shown] == ids[:2]
        assert edited.flagged == [ids[2]]
        assert node.list_page(ca).flagged == [ids[2]]  # checked again: never given as before
    finally:
        node.close()
