"""Adding envelopes in process: each label decided once an envelope yet every object judged
on its own, and the mirror taking in what an envelope stored as it commits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from gsoia.errors import RequestError
from gsoia.node.item import MAX_CONTENT, Draft
from gsoia.node.service import Node
from gsoia.node.stix import EXTENSION_ID
from gsoia.node.stix_index import INTEL, StixIndex
from gsoia.node.taxii_store import TaxiiStore
from gsoia.node.users import User
from gsoia.store.database import reading
from gsoia.store.schema import audit_entries, items, stix_objects
from tests.taxii.support import indicator, label


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    made = Node.init(tmp_path / "jpn", "JPN")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def writer(node: Node) -> User:
    return node.add_user("jp", "JPN", clearance="KIMITSU")[0]


def counts(node: Node) -> tuple[int, int, int]:
    """(items, STIX objects, item.created entries) in the store."""
    with reading(node.engine) as connection:
        return (
            int(connection.execute(select(func.count()).select_from(items)).scalar() or 0),
            int(connection.execute(select(func.count()).select_from(stix_objects)).scalar() or 0),
            int(
                connection.execute(
                    select(func.count())
                    .select_from(audit_entries)
                    .where(audit_entries.c.kind == "item.created")
                ).scalar()
                or 0
            ),
        )


def test_repeated_labels_are_decided_once_and_each_object_judged(node: Node, writer: User) -> None:
    foreign = label(originator="CAN", classification="S")
    reordered = dict(reversed(list(label().items())))  # the same label, keys in another order
    envelope: list[Any] = [
        indicator(0),
        indicator(1, extension=foreign),
        indicator(2, extension=reordered),
        indicator(3, extension=label("SECRET")),
        indicator(4, extension=foreign),  # refused again, under its own place
        indicator(5, pattern="[ipv4-addr:value = "),  # a known label, not valid STIX
        indicator(6, extensions={}),
        indicator(7),
        indicator(8, extension=label("KIMITSU", need_to_know=("nuclear",))),
        indicator(9, extension=label("KIMITSU", need_to_know=("nuclear",))),
    ]
    status = TaxiiStore(node).add(writer, INTEL, envelope)
    good = [envelope[n]["id"] for n in (0, 2, 7)]
    assert [s["id"] for s in status["successes"]] == good
    reasons = {f["id"]: f["message"] for f in status["failures"]}
    assert set(reasons) == {envelope[n]["id"] for n in (1, 3, 4, 5, 6, 8, 9)}
    place = f"extensions.{EXTENSION_ID}"
    assert f"objects[1].{place}.originator" in reasons[envelope[1]["id"]]
    assert f"objects[4].{place}.originator" in reasons[envelope[4]["id"]]
    assert "unknown level 'SECRET' of JPN" in reasons[envelope[3]["id"]]
    assert "invalid pattern" in reasons[envelope[5]["id"]]
    assert "no confidentiality label" in reasons[envelope[6]["id"]]
    assert "NEED_TO_KNOW" in reasons[envelope[8]["id"]]
    assert "NEED_TO_KNOW" in reasons[envelope[9]["id"]]
    assert counts(node) == (3, 3, 3)


def held(classification: str = "GOKUHI") -> dict[str, Any]:
    """The label as ``Node.prepare_item`` takes it (the extension's, without its type)."""
    return {k: v for k, v in label(classification).items() if k != "extension_type"}


def test_a_known_label_does_not_spare_the_title_and_content(node: Node, writer: User) -> None:
    decided: dict[str, Draft] = {}
    first = node.prepare_item(writer, held(), "title", b"{}", decided=decided)
    assert len(decided) == 1
    again = node.prepare_item(
        writer, dict(reversed(list(held().items()))), "another", b"[]", decided=decided
    )
    assert (again.label, again.decision) == (first.label, first.decision)
    assert (again.title, again.content) == ("another", b"[]")
    with pytest.raises(RequestError) as blank:
        node.prepare_item(writer, held(), "  ", b"{}", decided=decided)
    assert [p.place for p in blank.value.problems] == ["title"]
    with pytest.raises(RequestError) as nul:
        node.prepare_item(writer, held(), "a\x00b", b"{}", decided=decided)
    assert [p.place for p in nul.value.problems] == ["title"]
    with pytest.raises(RequestError) as large:
        node.prepare_item(writer, held(), "title", b"x" * (MAX_CONTENT + 1), decided=decided)
    assert [p.place for p in large.value.problems] == ["content"]
    with pytest.raises(RequestError):  # a refused label is not kept
        node.prepare_item(writer, held("SECRET"), "title", b"{}", decided=decided)
    assert len(decided) == 1


def mirror_of(index: StixIndex) -> dict[str, Any]:
    n = index.size
    columns = {name: getattr(index, name)[:n].tolist() for name in StixIndex._COLUMNS}
    codes = {
        "types": index.types.code,
        "ids": index.ids.code,
        "collections": index.collections.code,
    }
    return {
        "columns": columns,
        "codes": codes,
        "keys": dict(index.keys),
        "last_seq": index.last_seq,
        "last_added": index.last_added,
    }


def fresh_mirror(node: Node) -> dict[str, Any]:
    index = StixIndex()
    with reading(node.engine) as connection:
        index.refresh(connection)
    return mirror_of(index)


def test_the_mirror_takes_an_envelope_in_as_it_commits(node: Node, writer: User) -> None:
    store = TaxiiStore(node)
    assert store.add(writer, INTEL, [indicator(n) for n in range(30)])["success_count"] == 30
    assert store.index.size == 30  # taken in on commit, before any refresh
    assert mirror_of(store.index) == fresh_mirror(node)
    store.add(writer, INTEL, [indicator(100 + n) for n in range(5)])
    assert mirror_of(store.index) == fresh_mirror(node)


def test_rows_another_process_stored_are_not_skipped(node: Node, writer: User) -> None:
    ours, theirs = TaxiiStore(node), TaxiiStore(node)  # two workers' mirrors, one store
    ours.add(writer, INTEL, [indicator(n) for n in range(4)])
    theirs.add(writer, INTEL, [indicator(10 + n) for n in range(3)])
    assert ours.index.size == 4  # it has not seen theirs yet
    ours.add(writer, INTEL, [indicator(20 + n) for n in range(2)])  # refreshes, then takes
    assert mirror_of(ours.index) == fresh_mirror(node)
    assert ours.index.size == 9


def test_a_gap_before_the_rows_taken_leaves_them_to_the_next_refresh(
    node: Node, writer: User
) -> None:
    store = TaxiiStore(node)
    store.add(writer, INTEL, [indicator(n) for n in range(3)])
    stale = StixIndex()  # a mirror that missed what was committed before
    with reading(node.engine) as connection:
        rows = connection.execute(
            select(
                stix_objects.c.seq,
                stix_objects.c.item_seq,
                stix_objects.c.added_us,
                stix_objects.c.version_us,
                stix_objects.c.version,
                stix_objects.c.type,
                stix_objects.c.stix_id,
                stix_objects.c.collection,
                stix_objects.c.spec_version,
                stix_objects.c.date_added,
            ).order_by(stix_objects.c.seq)
        ).all()
    stale.take([tuple(r) for r in rows[2:]], after=int(rows[1][0]))
    assert stale.size == 0  # it lacks rows 0 and 1: taking row 2 would skip them for ever
    with reading(node.engine) as connection:
        stale.refresh(connection)
    assert mirror_of(stale) == fresh_mirror(node)
    stale.take([tuple(r) for r in rows[2:]], after=int(rows[1][0]))  # already in: no twice
    assert stale.size == 3
    assert np.array_equal(stale.seq[:3], [r[0] for r in rows])
    assert json.dumps(sorted(stale.keys)) == json.dumps(sorted(store.index.keys))
