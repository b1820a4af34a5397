"""A process's start-up load misses no relabel: one committed by another process while it
reads the items (after its read of them, on PostgreSQL, where each statement reads its own
snapshot) is taken in before it lists, as ``refresh`` takes in the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from gsoia.node.service import Node
from gsoia.node.users import Role
from tests.node.conftest import Database
from tests.node.conftest import database as database

__all__ = ["database"]


# SQLite: the start-up load holds the write lock, no relabel can commit meanwhile
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_relabel_committed_during_start_up_is_listed(tmp_path: Path, database: Database) -> None:
    assert database.backend == "postgresql"
    first = Node.init(tmp_path / "jpn", "JPN", database=database.url)
    try:
        officer, _ = first.add_user(
            "officer", "JPN", clearance="KIMITSU", need_to_know=["maritime"], role=Role.OFFICER
        )
        reader, _ = first.add_user("reader", "JPN", clearance="HI", need_to_know=["maritime"])
        label = {
            "originator": "JPN",
            "classification": "KIMITSU",
            "area": "maritime",
            "releasable_to": ["CAN"],
            "need_to_know": ["maritime"],
        }
        drafts = [first.prepare_item(officer, label, f"secret {n}", b"x") for n in range(3)]
        made = [view["id"] for view in first.store_items(officer, drafts)]
        done: list[Any] = []

        def between(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            # just after the start-up load read the items: another process relabels one
            if not done and "FROM items ORDER BY items.seq" in statement:
                done.append(first.exchange.reclassify(officer, made[0], "HI"))

        event.listen(Engine, "after_cursor_execute", between)
        try:
            second = Node.open(tmp_path / "jpn", database=database.url)
        finally:
            event.remove(Engine, "after_cursor_execute", between)
        try:
            assert done, "the start-up load was not seen reading the items"
            listed = {i["id"] for i in second.list_items(reader)["items"]}
            assert listed == {made[0]}
        finally:
            second.close()
    finally:
        first.close()
