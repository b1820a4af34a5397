"""Migration 0017: items signed an envelope at a time; the schema it leaves is the declared
one, it goes down to 0016 and up again, an item stored alone still holds its signature
after it, and an object of an envelope — whose signature 0016 has no place for — is refused
as an integrity failure, never served unsigned."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gsoia.node.errors import IntegrityFailure
from gsoia.node.service import Node
from gsoia.node.stix_index import INTEL
from gsoia.node.taxii_store import TaxiiStore
from gsoia.store.schema import metadata
from tests.federation.test_exchange import LABEL
from tests.store.test_migration_0016 import down_to
from tests.taxii.support import indicator


def test_0017_goes_down_and_up_and_keeps_what_was_signed(tmp_path: Path) -> None:
    data = tmp_path / "jpn"
    node = Node.init(data, "JPN")
    try:
        user, token = node.add_user("a1", "JPN", clearance="KIMITSU", need_to_know=["maritime"])
        alone = node.create_item(user, LABEL, "Patrol", "東シナ海".encode())["id"]
        TaxiiStore(node).add(user, INTEL, [indicator(n) for n in range(2)])
        enveloped = [i for i in node.list_items(user)["items"] if i["id"] != alone]
        assert len(enveloped) == 2
    finally:
        node.close()
    columns = down_to(data, "0016")
    assert "item_envelopes" not in columns
    assert not {"envelope", "envelope_slot"} & columns["items"]
    node = Node.open(data)  # migrated up again as it opens
    try:
        user = node.authenticate(token)
        assert node.read_item(user, alone)["content"] == "東シナ海"
        for item in enveloped:
            with pytest.raises(IntegrityFailure):
                node.read_item(user, item["id"])
        with node.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    finally:
        node.close()
