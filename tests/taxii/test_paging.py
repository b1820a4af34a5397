"""Paging through a collection in process: what a walk selects is kept between pages, and
whatever changes the collection, the columns or the caller changes what the next page shows."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from gsoia.node.service import Node
from gsoia.node.stix_index import INTEL, Query, decode_cursor
from gsoia.node.taxii_store import TaxiiStore
from gsoia.node.users import User
from gsoia.store.database import reading
from gsoia.store.schema import audit_entries
from tests.taxii.support import indicator, label


def walk(
    store: TaxiiStore, user: User, limit: int, cursor: tuple[int, int] | None = None
) -> list[str]:
    """The ids of every object a walk through the pages returns, in order."""
    seen: list[str] = []
    while True:
        page, objects = store.query(user, INTEL, Query(limit=limit, cursor=cursor))
        seen += [json.loads(o)["id"] for o in objects]
        if page.next is None:
            return seen
        cursor = decode_cursor(page.next)


def audited(node: Node, kind: str) -> int:
    with reading(node.engine) as connection:
        count = connection.execute(
            select(func.count()).select_from(audit_entries).where(audit_entries.c.kind == kind)
        ).scalar()
    return int(count or 0)


def test_a_walk_sees_what_changes_between_its_pages(tmp_path: Path) -> None:
    node = Node.init(tmp_path / "jpn", "JPN")
    try:
        writer, _ = node.add_user("jp", "JPN", clearance="KIMITSU")
        reader, _ = node.add_user("ca", "CAN", clearance="S")
        low, _ = node.add_user("ca-c", "CAN", clearance="C")
        store = TaxiiStore(node)
        first = [indicator(n) for n in range(25)]
        status = store.add(writer, INTEL, first)
        assert status["success_count"] == 25

        page, objects = store.query(reader, INTEL, Query(limit=10))
        assert (len(objects), page.more) == (10, True)
        assert page.next is not None
        later = [indicator(100 + n) for n in range(5)]
        assert store.add(writer, INTEL, later)["success_count"] == 5
        rest = walk(store, reader, 10, decode_cursor(page.next))
        seen = [json.loads(o)["id"] for o in objects] + rest
        assert seen == [o["id"] for o in first + later]  # in date-added order, each once

        assert walk(store, low, 7) == []  # another subject: decided afresh, nothing shown
        unreleasable = indicator(200, extension=label(releasable_to=()))
        assert store.add(writer, INTEL, [unreleasable])["success_count"] == 1
        assert unreleasable["id"] not in walk(store, reader, 100)
        assert unreleasable["id"] in walk(store, writer, 100)

        store.delete(writer, INTEL, first[3]["id"], Query(versions=("all",)))
        after = walk(store, reader, 4)
        assert first[3]["id"] not in after
        assert len(after) == 29
        page, objects = store.query(reader, INTEL, Query(limit=4))
        assert len(objects) == 4  # a full page: the deleted object no longer selected

        reads = audited(node, "taxii.objects")
        walk(store, reader, 10)  # 3 pages, each audited
        assert audited(node, "taxii.objects") == reads + 3
    finally:
        node.close()
