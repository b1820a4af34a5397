"""PostgreSQL past SQLAlchemy: every statement gsoia sends on psycopg's own cursor.

SQLAlchemy's execution and result machinery cost about as much CPU again as psycopg's
(0.8 against 0.4 ms a listing, measured in one process). So the hot paths on PostgreSQL
compile their statements once (``compiled``, ``insert_one``) and run them on the driver's
cursor (``driver_rows``).

Nothing here imports psycopg: a node on SQLite never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.sql import ClauseElement

_DIALECT = postgresql_psycopg.dialect()  # type: ignore[no-untyped-call]


@lru_cache(maxsize=64)
def compiled(statement: ClauseElement) -> str:
    """The SQL of ``statement`` for psycopg, compiled once."""
    return str(statement.compile(dialect=_DIALECT))


@lru_cache(maxsize=8)
def insert_one(table: Table, columns: tuple[str, ...]) -> str:
    """The INSERT of one row of ``table`` with these columns, returning its primary key."""
    statement = insert(table).returning(*table.primary_key.columns)
    return str(statement.compile(dialect=_DIALECT, column_keys=list(columns)))


def driver_rows(connection: Connection, sql: str, parameters: dict[str, Any]) -> list[Any]:
    """The rows a compiled statement returns, through psycopg's cursor."""
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, parameters)
        rows: list[Any] = cursor.fetchall()
    return rows


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """A connection whose statements each run on their own: no BEGIN, no ROLLBACK."""
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")
