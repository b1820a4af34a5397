"""Where the audit log keeps its entries: the ``audit_entries`` table, on one database.

``AuditLog`` computes the tree and signs its heads; an ``AuditStore`` writes and reads the
rows. Each database has its own (``sqlite_store``, ``postgres_store``; ``store_for``
picks one by the engine's dialect): how a write transaction takes the log's lock, how its
entries are written, and whether a batch of entries alone can be appended in one round
trip. What they read outside a write transaction is the same SQL on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Result, func, select

from gsoia.audit.merkle import AuditError
from gsoia.store.schema import audit_entries

Entry = dict[str, Any]
"""An entry as stored: ``seq``, ``at``, ``kind``, ``actor``, ``body``, ``leaf``, ``root``,
``signature`` (None for an entry whose head the next signed one covers)."""
Leaves = list[tuple[int, bytes]]
"""The ``(seq, leaf)`` of consecutive entries, in seq order."""

CATCH_UP = 1_000_000
"""The most entries of other processes read at once (a range with two bounds: the primary
key's index, even where PostgreSQL never analysed the table); past it, the tree is
reloaded."""


@dataclass(frozen=True)
class Begun:
    """A write transaction holding the log's lock, and the log as that lock found it."""

    connection: Connection
    last: int | None
    """The log's last seq (None: it is empty), which the lock holds still."""
    missed: Leaves | None
    """The entries from the seq the caller knew on, read with the lock; None: not read."""


class AuditStore(ABC):
    """The audit entries in one database."""

    appends_alone = False
    """Whether ``append_alone`` writes a batch of entries in one round trip."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @abstractmethod
    def begin(self, known: int) -> AbstractContextManager[Begun]:
        """A write transaction that holds the log's lock across processes until it ends:
        committed if the block ends normally (if ``write`` has not committed it already),
        else rolled back. ``known``: the size of the caller's tree."""

    @abstractmethod
    def write(self, connection: Connection, rows: Sequence[Entry]) -> None:
        """Insert ``rows`` as the transaction ``begin`` opened ends; it may commit it."""

    def append_alone(self, rows: Sequence[Entry]) -> Leaves | None:
        """Insert ``rows`` in a transaction of their own if the log's last seq is the one
        before them: None if inserted; else the entries from the first of theirs on (empty:
        the log is shorter). Only where ``appends_alone``."""
        raise AuditError(f"{type(self).__name__} does not append entries alone")

    def since(self, connection: Connection, start: int) -> Leaves:
        """The entries from ``start`` to ``start + CATCH_UP``."""
        rows = connection.execute(
            select(audit_entries.c.seq, audit_entries.c.leaf)
            .where(audit_entries.c.seq.between(start, start + CATCH_UP))
            .order_by(audit_entries.c.seq)
        )
        return [(int(seq), bytes(leaf)) for seq, leaf in rows]

    def leaves(self, connection: Connection | None = None, size: int | None = None) -> list[bytes]:
        """The leaf hashes of the entries (the first ``size``), in seq order; read on
        ``connection``, or on one of their own."""
        query = select(audit_entries.c.leaf).order_by(audit_entries.c.seq)
        if size is not None:
            query = query.where(audit_entries.c.seq < size)
        if connection is not None:
            return [bytes(leaf) for (leaf,) in connection.execute(query)]
        with self.engine.connect() as own:
            return [bytes(leaf) for (leaf,) in own.execute(query)]

    def last_signed(self) -> Any | None:
        """The last signed entry's ``seq``, ``root``, ``signature`` and ``at``; None if
        there is none."""
        with self.engine.connect() as connection:
            return connection.execute(_LAST_SIGNED).first()

    def leaves_from(self, start: int) -> list[bytes]:
        """The leaf hashes of the entries from ``start`` on, in seq order."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(audit_entries.c.leaf)
                .where(audit_entries.c.seq >= start)
                .order_by(audit_entries.c.seq)
            )
            return [bytes(leaf) for (leaf,) in rows]

    def size_and_root_at(self, seq: int) -> tuple[int, bytes | None]:
        """The log's size and the stored root after entry ``seq`` (None: no such entry)."""
        with self.engine.connect() as connection:
            last = connection.execute(select(func.max(audit_entries.c.seq))).scalar()
            stored = connection.execute(
                select(audit_entries.c.root).where(audit_entries.c.seq == seq)
            ).scalar()
        return (0 if last is None else int(last) + 1), (None if stored is None else bytes(stored))

    @contextmanager
    def entries(self, start: int = 0) -> Iterator[Result[Any]]:
        """Every entry from ``start`` on, whole, in seq order, fetched a few thousand at a
        time."""
        query = select(audit_entries).order_by(audit_entries.c.seq)
        if start:
            query = query.where(audit_entries.c.seq >= start)
        with self.engine.connect() as connection:
            rows = connection.execution_options(yield_per=5000).execute(query)
            with rows:  # closes the server-side cursor however the caller's loop ends
                yield rows


_LAST_SIGNED = (
    select(audit_entries.c.seq, audit_entries.c.root, audit_entries.c.signature, audit_entries.c.at)
    .where(audit_entries.c.signature.is_not(None))
    .order_by(audit_entries.c.seq.desc())
    .limit(1)
)
