"""A TAXII write never tells its writer that an object it may not read exists: a write of
the id and version of a KIMITSU object by a writer cleared HI answers exactly as a write of
an unknown object with that label does (refused for its label), never "already present"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gsoia.node.service import Node
from gsoia.node.stix_index import INTEL
from gsoia.node.taxii_store import TaxiiStore
from tests.taxii.support import indicator, label


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    made = Node.init(tmp_path / "jpn", "JPN")
    try:
        yield made
    finally:
        made.close()


def answer(status: dict[str, Any], stix_id: str) -> dict[str, Any]:
    """The status resource with the object's id and the request's own values taken out."""
    details = [
        {**detail, "id": "X" if detail["id"] == stix_id else detail["id"]}
        for kind in ("successes", "failures")
        for detail in status.get(kind, [])
    ]
    counts = {k: v for k, v in status.items() if k.endswith("_count")}
    return {"counts": counts, "details": details}


def test_an_object_the_writer_may_not_read_answers_as_an_unknown_one(node: Node) -> None:
    store = TaxiiStore(node)
    top, _ = node.add_user("jp-k", "JPN", clearance="KIMITSU")
    low, _ = node.add_user("jp-h", "JPN", clearance="HI")
    held = indicator(1, extension=label("KIMITSU"))
    stored = store.add(top, INTEL, [held])
    assert stored["success_count"] == 1
    assert "message" not in stored["successes"][0]

    again = store.add(low, INTEL, [held])  # the id and version of the KIMITSU object
    unknown = indicator(1, extension=label("KIMITSU"))  # a fresh id, the same label
    fresh = store.add(low, INTEL, [unknown])
    assert answer(again, held["id"]) == answer(fresh, unknown["id"])
    assert again["failure_count"] == 1
    assert "already present" not in str(again)
    assert "CLEARANCE" in again["failures"][0]["message"]
    # the writer who may read it still hears that it is there
    assert store.add(top, INTEL, [held])["successes"][0]["message"] == "already present"
