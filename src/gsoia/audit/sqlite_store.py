"""The audit entries on SQLite: a write transaction takes the database's write lock.

SQLite has one writer at a time, across processes: a transaction that writes begins
IMMEDIATE (``store.database.writing``), which is the log's lock. Statements cost no round
trip, so the entries are inserted as SQLAlchemy sends them and committed as the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, func, insert, select

from gsoia.audit.store import AuditStore, Begun, Entry
from gsoia.store.database import writing
from gsoia.store.schema import audit_entries

_INSERT = insert(audit_entries)
_MAX_SEQ = select(func.max(audit_entries.c.seq))


class SqliteAuditStore(AuditStore):
    """The audit entries in a SQLite database."""

    @contextmanager
    def begin(self, known: int) -> Iterator[Begun]:
        """The write transaction, and the log's last seq (the entries are read if needed)."""
        with writing(self.engine) as connection:
            yield Begun(connection, connection.execute(_MAX_SEQ).scalar(), None)

    def write(self, connection: Connection, rows: Sequence[Entry]) -> None:
        connection.execute(_INSERT, list(rows))
