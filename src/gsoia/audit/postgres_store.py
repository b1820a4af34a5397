"""The audit entries on PostgreSQL: an advisory lock, and few round trips.

A write transaction is ``store.postgres.self_begun``: its BEGIN travels with the log's
advisory lock and the reads that lock guards (the last seq, and the entries another
process appended since), its COMMIT with its entries: three round trips for a short
audited action, not five. A batch of entries alone (the entries of reads and listings) is
one query: lock, insert guarded by the last seq the caller knows, commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection

from gsoia.audit.store import CATCH_UP, AuditStore, Begun, Entry, Leaves
from gsoia.store import postgres


class PostgresAuditStore(AuditStore):
    """The audit entries in a PostgreSQL schema."""

    appends_alone = True

    @contextmanager
    def begin(self, known: int) -> Iterator[Begun]:
        """The write transaction, begun with the lock; the entries from ``known`` on come
        with it."""
        with postgres.self_begun(self.engine) as connection:
            last, missed = postgres.begin_locked(connection, known, CATCH_UP)
            yield Begun(connection, last, missed)

    def write(self, connection: Connection, rows: Sequence[Entry]) -> None:
        """Insert ``rows`` and commit, in one round trip."""
        postgres.insert_then_commit(connection, rows)

    def append_alone(self, rows: Sequence[Entry]) -> Leaves | None:
        return postgres.insert_guarded(self.engine, rows, CATCH_UP)
