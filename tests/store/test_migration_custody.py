"""Migration 0014 (custody): the schema it leaves is the one ``store.schema`` declares, and
it goes down to 0011 and up again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gsoia.store.database import MIGRATIONS, migrate
from gsoia.store.schema import metadata


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def test_the_migrated_schema_is_the_declared_one_and_0014_goes_down_and_up(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'gsoia.db'}")
    migrate(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    names = inspect(engine).get_table_names()
    assert {"onward_releases", "incident_steps"} <= set(names)
    with engine.begin() as connection:
        command.downgrade(_config(connection), "0011")
    assert "onward_releases" not in inspect(engine).get_table_names()
    assert "state" not in {c["name"] for c in inspect(engine).get_columns("incidents")}
    migrate(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
