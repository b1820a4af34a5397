"""SQLite past SQLAlchemy: the statements of every creation on sqlite3's own cursor.

SQLAlchemy's execution machinery (its cache key, its events, its result objects) costs
more CPU than sqlite3 running a short statement. So the statements each creation sends
on SQLite, in the audit log's transaction (the log's last seq and the entries another
process appended, the item inserted, the entries inserted, the items another process
stored), are compiled once (``compiled``, ``insert_rows``) and run on the driver's
cursor, in the transaction SQLAlchemy began (``driver_rows``, ``driver_insert``). Named
parameters (``:name``) take the rows' dicts as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, String, Table, bindparam, func, insert, select
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.sql import ClauseElement, ColumnElement

_DIALECT = pysqlite.dialect(paramstyle="named")


def in_json_array(column: ColumnElement[int], name: str) -> ColumnElement[bool]:
    """``column IN (SELECT value FROM json_each(:name))``: the parameter ``name`` given as
    one JSON array (``int_json_array``), not one parameter an element."""
    values = func.json_each(bindparam(name, type_=String)).table_valued("value")
    return column.in_(select(values.c.value))


def int_json_array(values: Iterable[int]) -> str:
    """Integers as a JSON array (``[1,2,3]``), for ``in_json_array``.

    SQLAlchemy writes a statement afresh for each list given to an ``IN`` of expanding
    parameters: a page of 100 items read that way cost 529 against 379 µs of CPU (its
    rows found by their primary key either way).
    """
    return "[" + ",".join(str(int(value)) for value in values) + "]"


@lru_cache(maxsize=64)
def compiled(statement: ClauseElement) -> str:
    """The SQL of ``statement`` for sqlite3 (named parameters), compiled once."""
    return str(statement.compile(dialect=_DIALECT))


@lru_cache(maxsize=16)
def insert_rows(table: Table, columns: tuple[str, ...], *, returning: bool = False) -> str:
    """The INSERT of rows of ``table`` with these columns (for ``executemany``); of one
    row returning its primary key with ``returning``."""
    statement = insert(table)
    if returning:
        statement = statement.returning(*table.primary_key.columns)
    return str(statement.compile(dialect=_DIALECT, column_keys=list(columns)))


def driver_rows(
    connection: Connection, sql: str, parameters: dict[str, Any] | Sequence[Any] = ()
) -> list[Any]:
    """The rows a compiled statement returns, through sqlite3's cursor, in the
    connection's transaction."""
    driver: Any = connection.connection.driver_connection
    return list(driver.execute(sql, parameters).fetchall())


def driver_insert(connection: Connection, sql: str, rows: Sequence[dict[str, Any]]) -> None:
    """``rows`` inserted by a compiled statement (``insert_rows``), through sqlite3's
    cursor, in the connection's transaction."""
    driver: Any = connection.connection.driver_connection
    driver.executemany(sql, rows)
