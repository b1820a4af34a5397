"""The items listed newest first (the web items page): pages walked back through ``cursor``
give every item the user may see once, newest first, on both databases; and
``last_allowed``, which finds them, against a plain reading over several chunks."""

from __future__ import annotations

import numpy as np
import pytest

from gsoia.node.listing import last_allowed
from gsoia.node.service import Node
from tests.node.conftest import RunningNode


def _label(releasable_to: list[str]) -> dict[str, object]:
    return {"originator": "JPN", "classification": "HI", "releasable_to": releasable_to}


def test_pages_newest_first_give_each_item_once(jpn: RunningNode) -> None:
    node = Node.open(jpn.data, database=jpn.database.url)
    try:
        jp, _ = node.add_user("jp", "JPN", clearance="KIMITSU")
        ca, _ = node.add_user("ca", "CAN", clearance="S")
        created = [
            node.create_item(jp, _label(["CAN"] if n % 3 else []), f"Patrol {n}", b"x")["id"]
            for n in range(11)
        ]
        shared = [item for n, item in enumerate(created) if n % 3]
        for user, expected in ((jp, created), (ca, shared)):
            seen: list[str] = []
            cursor = 0
            while True:
                page = node.list_items(user, cursor=cursor, limit=3, newest_first=True)
                seen += [i["id"] for i in page["items"]]
                assert page["total"] == len(expected)
                if page["next"] is None:
                    break
                cursor = int(page["next"])
            assert seen == expected[::-1]
        oldest_first = node.list_items(ca, limit=100)["items"]
        assert [i["id"] for i in oldest_first] == shared  # the API's order is unchanged
    finally:
        node.close()


@pytest.mark.parametrize("end", [0, 1, 1023, 1024, 1025, 2500, 6000])
@pytest.mark.parametrize("count", [1, 5, 400])
def test_last_allowed_reads_back_from_its_end(end: int, count: int) -> None:
    rows = 6000
    allowed = np.zeros(rows, dtype=bool)
    allowed[::7] = True
    allowed[1500:3200] = False  # a long run of rows not allowed, across chunks
    seqs = np.arange(10, 10 + rows * 2, 2, dtype=np.int64)
    expected = [int(seqs[i]) for i in range(end - 1, -1, -1) if allowed[i]][:count]
    assert last_allowed(allowed, seqs, end, count) == expected
