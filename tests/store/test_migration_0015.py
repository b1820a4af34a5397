"""Migration 0015: an onward release's state as its custodian tells it, and the indexes of
the audit page's filters; the schema it leaves is the declared one, it goes down to 0014
and up again, and an onward release told before it is ``reported``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from gsoia.store.database import MIGRATIONS, migrate
from gsoia.store.schema import metadata

INDEXES = {"audit_entries_actor", "audit_entries_kind", "audit_entries_at"}


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def test_0015_goes_down_and_up_and_keeps_what_was_told(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'gsoia.db'}")
    migrate(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert {i["name"] for i in inspect(engine).get_indexes("audit_entries")} >= INDEXES
    with engine.begin() as connection:
        command.downgrade(_config(connection), "0014")
    assert not INDEXES & {i["name"] for i in inspect(engine).get_indexes("audit_entries")}
    columns = {c["name"] for c in inspect(engine).get_columns("onward_releases")}
    assert not {"state", "reason", "state_at"} & columns
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO onward_releases VALUES"
                " ('p-1', 'item-1', 'CAN', 'USA', 'CAN/can-analyst', '2026-12-01', '2026-12-01')"
            )
        )
    migrate(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        told = connection.execute(text("SELECT state, reason FROM onward_releases")).one()
    assert tuple(told) == ("reported", None)
