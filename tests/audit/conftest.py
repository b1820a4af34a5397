"""Engines for the audit log's tests: SQLite, and PostgreSQL in a fresh schema per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from gsoia.store.database import migrate, open_engine, sqlite_url
from tests.node.conftest import PG_SERVER


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database, no schema yet."""
    if request.param == "sqlite":
        made = open_engine(sqlite_url(tmp_path / "audit.db"))
        yield made
        made.dispose()
        return
    schema = f"gsoia_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    made = open_engine(f"{PG_SERVER}?options=-csearch_path%3D{schema}")
    try:
        yield made
    finally:
        made.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """A database with the whole schema."""
    migrate(bare_engine)
    return bare_engine
