"""Migration 0016: the security categories of users and items; the schema it leaves is the
declared one, it goes down to 0015 and up again, and the accounts and items of a node
before it still hold their signatures after it (a row without categories is signed as
one of a node without them)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gsoia.node.config import NodeConfig
from gsoia.node.service import Node
from gsoia.store.database import MIGRATIONS
from gsoia.store.schema import metadata
from tests.federation.test_exchange import LABEL


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def down_to(data: Path, revision: str) -> dict[str, set[str]]:
    """The node's database in ``data``, found as declared, taken down to ``revision``: the
    columns of each of its tables."""
    engine = create_engine(NodeConfig.default_database(data))
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        with engine.begin() as connection:
            command.downgrade(_config(connection), revision)
        found = inspect(engine)
        return {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names()}
    finally:
        engine.dispose()


def test_0016_goes_down_and_up_and_keeps_what_was_signed(tmp_path: Path) -> None:
    data = tmp_path / "jpn"
    node = Node.init(data, "JPN")
    try:
        user, token = node.add_user("a1", "JPN", clearance="KIMITSU", need_to_know=["maritime"])
        item = node.create_item(user, LABEL, "Patrol", "東シナ海".encode())["id"]
    finally:
        node.close()
    columns = down_to(data, "0015")
    assert "categories" not in columns["users"] | columns["items"]
    node = Node.open(data)  # migrated up again as it opens
    try:
        assert node.authenticate(token).categories == ()
        read = node.read_item(user, item)
        assert (read["content"], "categories" in read["label"]) == ("東シナ海", False)
        with node.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    finally:
        node.close()
