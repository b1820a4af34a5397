"""A STIX object received from a partner carries the custodian's equivalent marking."""

from __future__ import annotations

import json
from pathlib import Path

from gsoia.node.service import Node
from gsoia.node.stix import EXTENSION_ID, timestamp_us
from gsoia.node.stix_index import INTEL, Query
from gsoia.node.taxii_store import TaxiiStore, record_received
from tests.taxii.support import indicator, stix_problems


def test_received_objects_carry_the_custodians_marking(tmp_path: Path) -> None:
    node = Node.init(tmp_path / "can", "CAN")
    try:
        reader, _ = node.add_user("ca", "CAN", clearance="S")
        low, _ = node.add_user("ca-c", "CAN", clearance="C")
        obj = indicator(1)
        content = json.dumps(obj).encode()
        marking = "CAN SECRET // JPN 極秘 // JPN-CAN"
        item = {
            "id": "5d0b5a52-3b8e-4f7b-9a52-2b1c8f0e6d11",
            "title": obj["name"],
            "originator": "JPN",
            "classification": "GOKUHI",
            "area": "defence",
            "releasable_to": ["CAN"],
            "need_to_know": [],
            "created_at": "2026-03-01T00:00:00.000000+00:00",
            "created_by": "jp",
        }
        with node.audit.transaction() as tx:
            stored = node.store_received(
                tx, item, content, sender="JPN", package_id="p-1", marking=marking
            )
            added = timestamp_us("2026-03-02T00:00:00Z")
            assert record_received(tx.connection, item["id"], stored.seq, content, added)
            assert not record_received(tx.connection, item["id"], stored.seq, content, added)
            assert not record_received(tx.connection, item["id"], stored.seq, b"{}", added)
        store = TaxiiStore(node)
        page, objects = store.query(reader, INTEL, Query())
        [emitted] = [json.loads(o) for o in objects]
        assert emitted["id"] == obj["id"]
        assert emitted["extensions"][EXTENSION_ID]["custodian"] == "CAN"
        assert emitted["extensions"][EXTENSION_ID]["custodian_marking"] == marking
        assert emitted["extensions"][EXTENSION_ID]["originator"] == "JPN"
        assert stix_problems(emitted) == []
        assert page.first_added == "2026-03-02T00:00:00.000000Z"
        assert store.query(low, INTEL, Query())[1] == []
    finally:
        node.close()
