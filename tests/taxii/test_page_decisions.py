"""A page read through TAXII is confirmed object by object on the verified labels, each
label decided once a page, every object counted as decided."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gsoia.decision import Decision
from gsoia.node.item import StoredItem
from gsoia.node.service import Node
from gsoia.node.stix_index import INTEL, Query
from gsoia.node.taxii_store import TaxiiStore
from gsoia.node.users import User
from tests.taxii.support import indicator, label


def _allowed(node: Node) -> float:
    value = node.metrics.decisions.labels("ALLOW")._value.get()
    return float(value)


def test_each_label_of_a_page_is_decided_once_and_every_object_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = Node.init(tmp_path / "jpn", "JPN")
    try:
        writer = node.add_user("jp", "JPN", clearance="KIMITSU")[0]
        reader = node.add_user("ca", "CAN", clearance="S")[0]
        labels = [label(), label("HI"), label(releasable_to=("USA",)), label("HI", ("CAN", "USA"))]
        objects = [indicator(n, extension=labels[n % 4]) for n in range(40)]
        store = TaxiiStore(node)
        assert store.add(writer, INTEL, objects)["success_count"] == 40
        decided: list[str] = []
        decide = node.holdings.decide

        def counting(user: User, item: StoredItem, *args: Any, **kwargs: Any) -> Decision:
            decided.append(item.id)
            return decide(user, item, *args, **kwargs)

        monkeypatch.setattr(node.holdings, "decide", counting)
        before = _allowed(node)
        page, emitted = store.query(reader, INTEL, Query(limit=100))
        seen = {json.loads(o)["id"] for o in emitted}
        releasable = {o["id"] for n, o in enumerate(objects) if n % 4 != 2}
        assert seen == releasable
        assert len(page.rows) == len(releasable)
        assert len(decided) == 3  # the three labels Canada may read, each once
        assert _allowed(node) - before == len(releasable)
    finally:
        node.close()
