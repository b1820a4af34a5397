"""Two ``Node`` objects on one store, as two workers of ``gsoia serve`` are.

Items are stored under the audit log's lock: a worker that appends after the other takes
in, with the lock, what the other stored (its items, in seq order, and the need-to-know
topics it registered) before it stores its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gsoia.node.service import Node
from tests.node.conftest import RunningNode


def label(*topics: str) -> dict[str, object]:
    return {"originator": "JPN", "classification": "HI", "need_to_know": list(topics)}


@pytest.fixture
def two(jpn: RunningNode) -> Iterator[tuple[Node, Node]]:
    first = Node.open(jpn.data, database=jpn.database.url)
    second = Node.open(jpn.data, database=jpn.database.url)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_each_takes_in_the_others_items_and_topics_before_storing(two: tuple[Node, Node]) -> None:
    first, second = two
    writer, _ = first.add_user("w", "JPN", clearance="KIMITSU", need_to_know=["a", "b", "c"])
    reader, _ = first.add_user("r", "JPN", clearance="KIMITSU", need_to_know=["b", "c"])
    made = [first.create_item(writer, label("a"), "one", b"1")["id"]]
    made.append(first.create_item(writer, label("b"), "two", b"2")["id"])  # b: bit 1, by first
    made.append(second.create_item(writer, label("c", "b"), "three", b"3")["id"])
    made.append(first.create_item(writer, label("c"), "four", b"4")["id"])
    assert first.columns.topics == second.columns.topics == ["a", "b", "c"]
    for node in (first, second):
        listed = node.list_items(reader, limit=10)
        assert [item["id"] for item in listed["items"]] == made[1:]
        assert listed["total"] == 3
        assert [int(seq) for seq in node.columns.seqs()] == [1, 2, 3, 4]
    assert second.verify_audit() is not None


def test_a_listing_takes_in_what_the_other_stored(two: tuple[Node, Node]) -> None:
    first, second = two
    writer, _ = first.add_user("w", "JPN", clearance="KIMITSU", need_to_know=["x"])
    assert second.list_items(writer)["total"] == 0
    made = [first.create_item(writer, label("x"), f"n{n}", b"n")["id"] for n in range(3)]
    assert [item["id"] for item in second.list_items(writer)["items"]] == made
    assert second.columns.topics == ["x"]
    made.append(second.create_item(writer, label("x"), "last", b"n")["id"])
    assert [item["id"] for item in first.list_items(writer)["items"]] == made


def test_a_read_catches_the_log_up_and_the_next_store_takes_in_the_items(
    two: tuple[Node, Node],
) -> None:
    """A read's audit entry (entries only) catches the log up with the other's entries
    without taking in its items; the next store does, before its own."""
    first, second = two
    writer, _ = first.add_user("w", "JPN", clearance="KIMITSU", need_to_know=["y"])
    own = second.create_item(writer, label("y"), "own", b"o")["id"]
    made = [first.create_item(writer, label("y"), f"n{n}", b"n")["id"] for n in range(2)]
    assert second.read_item(writer, own)["id"] == own  # audited: after first's entries
    made.append(second.create_item(writer, label("y"), "after", b"a")["id"])
    assert [int(seq) for seq in second.columns.seqs()] == [1, 2, 3, 4]
    assert [item["id"] for item in second.list_items(writer)["items"]] == [own, *made]
    assert second.verify_audit() is not None
