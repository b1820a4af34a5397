"""SQLite's one writer, taken in turn: a waiting writer is woken when the lock is free.

SQLite lets one transaction write at a time, across processes. A writer that finds the
lock taken is told "busy", and sqlite3's busy handler retries after sleeping 1, 2, 5, 10,
15, 20, 25 ms and so on: with two workers each writing an audit entry for every request,
a writer that arrives a moment after the other can sleep far longer than the other
holds the lock (its transactions take a fraction of a millisecond), and those sleeps are
the listing's slowest answers. So every writing transaction of the node first takes its
turn on an exclusive ``flock`` of a file beside the database (``DATABASE-writer``, mode
0600): the kernel queues the writers and wakes the next one as the lock is released, and
``BEGIN IMMEDIATE`` then finds the database free. A writer outside the node (an older
gsoia, the ``sqlite3`` shell) takes no turn and is still served by SQLite's own lock:
the turn orders the node's writers, it does not replace SQLite's locking.

Threads of one process share a turn (a ``flock`` belongs to an open file, which the
threads share): they queue on a lock of the process's own first. A process opens its
own file (a worker forked from a parent does not inherit the parent's turn).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUFFIX = "-writer"
"""The turn's file: the database's path with this after it."""


class WriterTurn:
    """The turn of one SQLite database's writers, in this process."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + SUFFIX)
        self._pid = -1
        self._fd = -1
        self._threads = threading.RLock()
        self._depth = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Wait for the turn, hold it for the block. A thread that holds it already (a
        transaction opened inside another) holds it once more."""
        with self._threads:
            if self._depth == 0:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _file(self) -> int:
        """The turn's file, opened by this process (created 0600 if there is none)."""
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd


_TURNS: dict[str, WriterTurn] = {}
_TURNS_LOCK = threading.Lock()


_NAMED: dict[str, WriterTurn | None] = {}


def writer_turn(database: str | None) -> WriterTurn | None:
    """The turn of the SQLite file ``database`` (one per file, however named); None for
    an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    turn = _NAMED.get(database)
    if turn is not None:
        return turn
    path = Path(database).resolve()
    with _TURNS_LOCK:
        turn = _TURNS.get(str(path))
        if turn is None:
            turn = _TURNS[str(path)] = WriterTurn(path)
        _NAMED[database] = turn
    return turn
