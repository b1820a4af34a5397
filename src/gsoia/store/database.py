"""Opening the node's database and bringing its schema up to date (Alembic).

A SQLite database file is private to the node's user: created with mode 0600, and an
existing one (and its ``-wal`` and ``-shm`` files) tightened to 0600 when it is opened.
SQLite creates the ``-wal`` and ``-shm`` files with the database file's mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from gsoia.errors import GsoiaError
from gsoia.store.postgres import autocommit
from gsoia.store.writer_turn import SUFFIX, writer_turn

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(GsoiaError):
    """The database cannot be opened or is not a gsoia store."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode, or PostgreSQL through psycopg 3."""
    try:
        if url.startswith("sqlite"):
            private_sqlite_file(make_url(url).database)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_size=8, max_overflow=8, pool_recycle=3600)
    except (ArgumentError, ImportError) as e:
        raise StoreError(f"--database: cannot use '{_redacted(url)}': {e}") from e
    return engine


PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", SUFFIX)


def private_sqlite_file(database: str | None) -> None:
    """Create the SQLite file ``database`` (mode 0600) if there is none, and tighten it and
    its companions to 0600 if they are more open; ``StoreError`` if that cannot be done.
    An in-memory database (None, empty or ``:memory:``) is left alone."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)
        finally:
            os.close(fd)
        for suffix in SQLITE_COMPANIONS:
            companion = path.with_name(path.name + suffix)
            if companion.exists() and companion.stat().st_mode & 0o077:
                companion.chmod(PRIVATE_FILE)
    except OSError as e:
        raise StoreError(f"--database: cannot make {path} private (mode 0600): {e}") from e


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
    """Begin a SQLite transaction: a writer takes the write lock at once, a reader none.

    Several processes share one SQLite file (``gsoia serve`` and the CLI): a deferred
    transaction that read, then writes after another process committed, would fail — so
    every transaction that writes is opened by ``writing`` and begins IMMEDIATE. Readers
    (plain ``engine.connect()``, ``reading``) begin deferred and read their snapshot of
    the WAL without waiting for the writer.
    """
    # On sqlite3's own connection: SQLAlchemy's execution of a statement costs more CPU
    # than SQLite's BEGIN (``gsoia.store.sqlite``).
    driver = connection.connection.driver_connection
    driver.execute(
        "BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITER) else "BEGIN"
    )


_WRITER = "gsoia_writer"


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: committed if the block ends normally, else rolled back.

    On SQLite it first waits for its turn among the node's writers
    (``gsoia.store.writer_turn``), then holds the write lock from its first statement
    (``_sqlite_begin``).
    """
    turn = writer_turn(engine.url.database) if engine.dialect.name == "sqlite" else None
    with turn.held() if turn is not None else nullcontext(), engine.connect() as connection:
        connection = connection.execution_options(**{_WRITER: True})
        with connection.begin():
            yield connection


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only, in one snapshot, that waits for no writer.

    Nothing written through it is kept: it is rolled back.
    """
    with engine.connect() as connection, connection.begin() as transaction:
        yield connection
        transaction.rollback()


@contextmanager
def peeking(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that need no snapshot across their statements.

    On PostgreSQL each statement runs on its own (autocommit): no BEGIN and no ROLLBACK,
    two round trips fewer for a lookup (PostgreSQL's default isolation, read committed,
    gives a transaction of several statements no common snapshot either). On SQLite, where
    those cost no round trip, a read transaction as ``reading``.
    """
    if engine.dialect.name != "postgresql":
        with reading(engine) as connection:
            yield connection
        return
    with autocommit(engine) as connection:
        yield connection


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
        with writing(engine) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as e:
        raise StoreError(f"database '{_redacted(str(engine.url))}': {e.orig}") from e
