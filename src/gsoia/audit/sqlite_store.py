"""The audit entries on SQLite: a write transaction takes the database's write lock.

SQLite has one writer at a time, across processes: a transaction that writes begins
IMMEDIATE (``store.database.writing``), which is the log's lock. Statements cost no round
trip; they run on sqlite3's own cursor (``store.sqlite``): with the lock, one statement
reads the log's last seq and the entries another process appended since the caller's
tree; the entries are inserted as the transaction ends, and committed as the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection

from gsoia.audit.store import CATCH_UP, AuditStore, Begun, Entry
from gsoia.store.database import writing
from gsoia.store.schema import audit_entries
from gsoia.store.sqlite import driver_insert, driver_rows, insert_rows

_COLUMNS = ("seq", "at", "kind", "actor", "body", "leaf", "root", "signature")
_INSERT = insert_rows(audit_entries, _COLUMNS)
_BEGUN = (
    "SELECT last.seq, missed.seq, missed.leaf"
    " FROM (SELECT max(seq) AS seq FROM audit_entries) AS last"
    " LEFT JOIN audit_entries AS missed ON missed.seq BETWEEN :known AND :known + :catch_up"
    " ORDER BY missed.seq"
)
"""The log's last seq, with the ``(seq, leaf)`` of the entries from the caller's size on
(none, most often: one row, its entry NULL)."""


class SqliteAuditStore(AuditStore):
    """The audit entries in a SQLite database."""

    @contextmanager
    def begin(self, known: int) -> Iterator[Begun]:
        """The write transaction, and the log's last seq with the entries from ``known``
        on, read with the lock."""
        with writing(self.engine) as connection:
            rows = driver_rows(connection, _BEGUN, {"known": known, "catch_up": CATCH_UP})
            last = rows[0][0]
            missed = [(int(seq), bytes(leaf)) for _, seq, leaf in rows if seq is not None]
            yield Begun(connection, None if last is None else int(last), missed)

    def write(self, connection: Connection, rows: Sequence[Entry]) -> None:
        driver_insert(connection, _INSERT, rows)
