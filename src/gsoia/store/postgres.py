"""PostgreSQL past SQLAlchemy: every statement gsoia sends on psycopg's own cursor.

SQLAlchemy's execution and result machinery cost about as much CPU again as psycopg's
(0.8 against 0.4 ms a listing, measured in one process), and each statement it sends is
a round trip of its own. So the hot paths on PostgreSQL compile their statements once
(``compiled``, ``insert_one``) and run them on the driver's cursor (``driver_rows``), and
the audit log's writes send several statements in one query: the BEGIN with the advisory
lock and the reads it guards (``begin_locked``), the entries with the COMMIT
(``insert_then_commit``), or lock, guarded insert and commit together
(``insert_guarded``).

Nothing here imports psycopg until a PostgreSQL connection uses it (``_client_cursor``):
a node on SQLite never loads it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Connection, Engine, Table, Text, any_, bindparam, cast, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.sql import ClauseElement, ColumnElement

from gsoia.store.schema import audit_entries

if TYPE_CHECKING:
    from psycopg import ClientCursor

_DIALECT = postgresql_psycopg.dialect()  # type: ignore[no-untyped-call]

_AUDIT_LOCK = 0x6750_1A
"""With the schema's name, the advisory lock of one node's audit log: shared by every
process of that node, not by nodes kept in other schemas of the same database."""
_COLUMNS = ("seq", "at", "kind", "actor", "body", "leaf", "root", "signature")
"""The columns of an audit entry, in the order of the placeholders of ``_ROW``."""
_LOCK = f"SELECT pg_advisory_xact_lock({_AUDIT_LOCK:d}, hashtext(current_schema()))"
_ROW = "(%s::bigint, %s, %s, %s, %s, %s::bytea, %s::bytea, %s::bytea)"
_COMMITTED_WITH = 100
"""The most entries inserted in the statement that carries the COMMIT; those before go
in one statement of their own (a transaction rarely appends more)."""
_INSERT_ENTRIES = insert(audit_entries)


def any_of(column: ColumnElement[int], name: str) -> ColumnElement[bool]:
    """``column = ANY(CAST(:name AS BIGINT[]))``: the parameter ``name`` given as the text
    of the array (``bigint_array``)."""
    return column == any_(cast(bindparam(name, type_=Text), ARRAY(BigInteger)))


def bigint_array(values: Iterable[int]) -> str:
    """Integers as the text of a PostgreSQL array (``{1,2,3}``), for ``any_of``.

    psycopg adapts a Python list element by element, finding each one's type: for a page
    of 100 seqs a query cost 364 against 137 µs of CPU given the array's text.
    """
    return "{" + ",".join(str(int(value)) for value in values) + "}"


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
    """A connection whose statements each run on their own: no BEGIN, no ROLLBACK.

    psycopg's connection is put in autocommit and out of it again before it goes back to
    the pool, past SQLAlchemy: its ``isolation_level="AUTOCOMMIT"``, reset as the
    connection is checked in, cost 5–10 µs more CPU a checkout (medians 31 against 24 µs
    for a checkout alone, 144 against 124 µs with a ``SELECT 1``; a page listed takes three
    or four). SQLAlchemy's own commit and rollback reach the driver as before, which sends
    nothing in autocommit unless a transaction was begun by hand.
    """
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        driver.autocommit = True  # type: ignore[union-attr]
        try:
            yield connection
        finally:
            _out_of_autocommit(connection)


def _out_of_autocommit(connection: Connection) -> None:
    """Take the driver's connection out of autocommit, rolling back a transaction begun
    by hand and left open; a connection that cannot be is dropped from the pool."""
    from psycopg import Error, pq  # here: a node on SQLite never loads psycopg

    if connection.invalidated or connection.closed:
        return
    driver: Any = connection.connection.driver_connection
    try:
        if driver.info.transaction_status != pq.TransactionStatus.IDLE:
            driver.rollback()
        driver.autocommit = False
    except Error:
        connection.invalidate()


@contextmanager
def self_begun(engine: Engine) -> Iterator[Connection]:
    """A write transaction whose caller sends its own BEGIN and COMMIT.

    The driver begins nothing (autocommit): the caller's first query starts with
    ``BEGIN;`` and its last may end with ``; COMMIT``, so neither costs a round trip of its
    own (two of a short transaction's five). Ended normally, a transaction still open is
    committed; if the block raises, it is rolled back (the driver rolls back whatever the
    server still holds open).
    """
    with autocommit(engine) as connection, connection.begin():
        yield connection


def begin_locked(
    connection: Connection, known: int, catch_up: int
) -> tuple[int | None, list[tuple[int, bytes]]]:
    """One round trip on a ``self_begun`` connection: begin the transaction, take the
    audit log's advisory lock, then read the last seq and the ``(seq, leaf)`` of the
    entries from ``known`` to ``known + catch_up`` (another process's, if any: none, most
    often).

    One simple query: the statements after the lock run (each in a snapshot of its own,
    READ COMMITTED) only once it is held, so they see every entry committed before.
    """
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            f"BEGIN; {_LOCK}; SELECT max(seq) FROM audit_entries;"  # noqa: S608 (constants; ints)
            f" SELECT seq, leaf FROM audit_entries WHERE seq BETWEEN {int(known):d}"
            f" AND {int(known):d} + {int(catch_up):d} ORDER BY seq"
        )
        cursor.nextset()
        cursor.nextset()
        row = cursor.fetchone()
        cursor.nextset()
        missed = [(int(seq), bytes(leaf)) for seq, leaf in cursor.fetchall()]
    finally:
        cursor.close()
    return (None if row is None or row[0] is None else int(row[0])), missed


def insert_then_commit(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert audit entries and commit the transaction ``self_begun``: the last
    ``_COMMITTED_WITH`` rows and the COMMIT in one round trip."""
    if len(rows) > _COMMITTED_WITH:
        connection.execute(_INSERT_ENTRIES, list(rows[:-_COMMITTED_WITH]))
        rows = rows[-_COMMITTED_WITH:]
    with _client_cursor(connection) as cursor:
        cursor.execute(f"INSERT INTO audit_entries {_values(len(rows))}; COMMIT", _flat(rows))


def insert_guarded(
    engine: Engine, rows: Sequence[dict[str, Any]], catch_up: int
) -> list[tuple[int, bytes]] | None:
    """One round trip, one transaction: under the audit log's lock, insert ``rows`` if the
    log's last seq is the one before them. None if inserted; else the ``(seq, leaf)`` of
    the entries from the first of theirs on, at most ``catch_up`` more (empty: the log is
    shorter)."""
    first = rows[0]["seq"]
    guard = [None if first == 0 else first - 1, first, first, first, rows[0]["leaf"]]
    with autocommit(engine) as connection, _client_cursor(connection) as cursor:
        cursor.execute(_guarded_insert(len(rows), catch_up), [*_flat(rows), *guard])
        cursor.nextset()
        if cursor.rowcount == len(rows):
            return None
        cursor.nextset()
        return [(int(seq), bytes(leaf)) for seq, leaf in cursor.fetchall()]


def _client_cursor(connection: Connection) -> ClientCursor[Any]:
    """A cursor that binds its parameters itself, so one query may hold several statements
    (the server binds parameters for one statement only)."""
    from psycopg import ClientCursor  # here: a node on SQLite never loads psycopg

    return ClientCursor(connection.connection.driver_connection)  # type: ignore[arg-type]


def _flat(rows: Sequence[dict[str, Any]]) -> list[Any]:
    """The values of audit entries, in the order of their placeholders."""
    return [row[name] for row in rows for name in _COLUMNS]


@lru_cache(maxsize=128)
def _values(count: int) -> str:
    """The columns of ``count`` audit entries and their placeholders."""
    return f"({', '.join(_COLUMNS)}) VALUES {', '.join([_ROW] * count)}"


@lru_cache(maxsize=64)
def _guarded_insert(count: int, catch_up: int) -> str:
    """Three statements, one implicit transaction: the lock; ``count`` entries inserted
    only if the log's last seq is the parameter after them (NULL: an empty log), which the
    lock holds still; the entries from the next parameter on, unless the first is ours."""
    return (
        f"{_LOCK}; INSERT INTO audit_entries ({', '.join(_COLUMNS)})"  # noqa: S608 (constants only)
        f" SELECT * FROM (VALUES {', '.join([_ROW] * count)}) AS entries"
        " WHERE (SELECT max(seq) FROM audit_entries) IS NOT DISTINCT FROM %s::bigint;"
        f" SELECT seq, leaf FROM audit_entries WHERE seq BETWEEN %s AND %s + {catch_up:d}"
        " AND NOT EXISTS"
        " (SELECT 1 FROM audit_entries WHERE seq = %s AND leaf = %s::bytea) ORDER BY seq"
    )


# -- the courier's lead and its news (``Courier.start``) -------------------------------------

_COURIER_LOCK = 0x6750_1B
"""With the schema's name, the advisory lock the process that runs a node's delivery loop
holds (on a connection of its own, for as long as it leads): one process of all the hosts
of the node. Its connection closed (the process ended, even killed), the lock is free."""
OUTBOX_CHANNEL = "gsoia_outbox"
"""Where the processes of a node tell its leading courier that packages were put in the
outbox (the payload: the node's schema, for nodes that share a database)."""
NOTIFY_OUTBOX = "SELECT pg_notify('gsoia_outbox', current_schema())"


class AdvisoryLeader:
    """The courier's lead on PostgreSQL: a session advisory lock, held on a connection of
    its own that also listens on ``OUTBOX_CHANNEL`` (a ``courier.Leader``)."""

    def __init__(self, engine: Engine) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._held: Any = None  # the psycopg connection holding the lock
        self._schema = ""

    def acquire(self) -> bool:
        held = self._held
        if held is not None and not held.closed and not held.broken:
            return True
        self.release()
        import psycopg  # here: a node on SQLite never loads psycopg

        connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
        try:
            row = connection.execute(
                f"SELECT pg_try_advisory_lock({_COURIER_LOCK:d}, hashtext(current_schema())),"
                " current_schema()"
            ).fetchone()
            if row is None or not row[0]:
                connection.close()
                return False
            connection.execute(f"LISTEN {OUTBOX_CHANNEL}")
        except BaseException:
            connection.close()
            raise
        self._held, self._schema = connection, str(row[1])
        return True

    def wait(self, timeout: float) -> bool:
        held = self._held
        if held is None:  # not leading (or the connection was lost): nothing to hear
            time.sleep(timeout)
            return False
        try:  # the channel is shared by every node of the database: heed this node's only
            for notice in held.notifies(timeout=timeout):
                if notice.payload == self._schema:
                    return True
        except Exception:
            self.release()  # taken again (or by another process) at the next round
            raise
        return False

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with suppress(Exception):
                held.close()
