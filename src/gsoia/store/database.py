"""Opening the node's database and bringing its schema up to date (Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, OperationalError

from gsoia.errors import GsoiaError

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(GsoiaError):
    """The database cannot be opened or is not a gsoia store."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode, or PostgreSQL through psycopg 3."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_size=8, max_overflow=8, pool_recycle=3600)
    except (ArgumentError, ImportError) as e:
        raise StoreError(f"--database: cannot use '{_redacted(url)}': {e}") from e
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # transactions are begun by _sqlite_begin
    connection.create_function("casefold", 1, _casefold, deterministic=True)
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _casefold(text: str | None) -> str | None:
    """Unicode case folding for SQLite searches (``casefold(title) LIKE …``)."""
    return text.casefold() if isinstance(text, str) else text


def _sqlite_begin(connection: Any) -> None:
    """Take the write lock when a transaction begins, not halfway through it.

    Several processes share one SQLite file (``gsoia serve`` and the CLI): a deferred
    transaction that read, then writes after another process committed, would fail.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the latest migration."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as e:
        raise StoreError(f"database '{_redacted(str(engine.url))}': {e.orig}") from e
