"""Group commit: concurrent callers' audited work in one transaction, one commit.

Callers queue their work; whoever takes the log's lock first runs every queued piece in
one database transaction and commits them together: one commit, one flush to disk, one
signed tree head, for many audited actions. How a batch runs depends on its pieces:

- entries alone (``isolated=False``), where the store appends entries alone
  (PostgreSQL): one round trip, outside any transaction (``AuditLog._append_alone``);
- every piece rerunnable (or entries alone), more than one: one transaction without
  savepoints; should a piece raise, it is rolled back and run again as below;
- otherwise: one transaction, each piece in its own savepoint, so a piece that raises is
  rolled back alone and its caller gets the exception. A piece alone in its batch needs
  no savepoint: if it raises, its whole transaction is rolled back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction

T = TypeVar("T")

Begin = Callable[[], AbstractContextManager["AuditTransaction"]]
"""A transaction on the log's lock, already held; its entries written as it commits."""
AppendAlone = Callable[[Callable[["AuditTransaction"], None]], bool]
"""Run the pieces' work on a transaction of entries only and write them in one round
trip; False if nothing could be written that way (the batch then runs in a transaction)."""


class _Piece(Generic[T]):
    """One caller's part of a batch, and what came of it."""

    __slots__ = ("done", "error", "isolated", "rerunnable", "result", "work")

    def __init__(
        self, work: Callable[[AuditTransaction], T], isolated: bool, rerunnable: bool
    ) -> None:
        self.work = work
        self.isolated = isolated
        self.rerunnable = rerunnable
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def reset(self) -> None:
        self.result = self.error = None


class _Rerun(Exception):
    """A rerunnable piece raised in a batch run without savepoints."""


class GroupCommit:
    """The queue of work waiting for the log's lock, and how a batch of it runs."""

    def __init__(
        self, lock: threading.Lock, begin: Begin, append_alone: AppendAlone | None
    ) -> None:
        self._lock = lock
        self._begin = begin
        self._append_alone = append_alone
        self._queue: list[_Piece[Any]] = []
        self._queue_lock = threading.Lock()

    def run(self, work: Callable[[AuditTransaction], T], *, isolated: bool, rerunnable: bool) -> T:
        """Queue ``work``, then run it in the batch of whoever takes the lock first; what
        it returned, or raise what it raised."""
        mine: _Piece[T] = _Piece(work, isolated, rerunnable)
        with self._queue_lock:
            self._queue.append(mine)
        with self._lock:
            if not mine.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                if not self._appended(batch):
                    self._committed(batch)
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]

    def _appended(self, batch: Sequence[_Piece[Any]]) -> bool:
        """A batch of entries alone, written in one round trip where the store can; False
        if it was not (nothing written, its pieces ready to run again)."""
        if self._append_alone is None or any(piece.isolated for piece in batch):
            return False

        def run(transaction: AuditTransaction) -> None:
            for piece in batch:
                piece.reset()
                _run_piece(transaction, piece)

        try:
            appended = self._append_alone(run)
        except BaseException as e:  # the database failed: every piece hears it
            for piece in batch:
                piece.error, piece.done = piece.error or e, True
            raise
        for piece in batch:
            if appended:
                piece.done = True
            else:
                piece.reset()
        return appended

    def _committed(self, batch: Sequence[_Piece[Any]]) -> None:
        """Run the batch in one transaction and commit it; a failure to begin or commit
        is every piece's error, and raised."""
        together = len(batch) > 1 and all(p.rerunnable or not p.isolated for p in batch)
        try:
            if together:
                try:
                    with self._begin() as transaction:
                        for piece in batch:
                            _run_together(transaction, piece)
                except _Rerun:  # rolled back: again, each piece in its savepoint
                    together = False
                    for piece in batch:
                        piece.reset()
            if not together:
                with self._begin() as transaction:
                    if len(batch) == 1:  # alone: its error undoes its own transaction
                        (piece,) = batch
                        piece.result = piece.work(transaction)
                    else:
                        for piece in batch:
                            _run_piece(transaction, piece)
        except BaseException as e:
            for piece in batch:
                if piece.error is None:
                    piece.error = e
            raise
        finally:
            for piece in batch:
                piece.done = True


def _run_together(transaction: AuditTransaction, piece: _Piece[Any]) -> None:
    """Run one piece of a batch without a savepoint: entries alone as ``_run_piece``;
    another that raises ends the transaction (``_Rerun``)."""
    if not piece.isolated:
        _run_piece(transaction, piece)
        return
    try:
        piece.result = piece.work(transaction)
    except Exception as e:
        raise _Rerun from e


def _run_piece(transaction: AuditTransaction, piece: _Piece[Any]) -> None:
    """Run one piece of a batch (in a savepoint if it is ``isolated``); on error, undo it
    alone."""
    mark = transaction.mark()
    savepoint = transaction.connection.begin_nested() if piece.isolated else None
    try:
        piece.result = piece.work(transaction)
    except Exception as e:
        if savepoint is not None:
            savepoint.rollback()
        transaction.drop_since(mark)
        piece.error = e
    else:
        if savepoint is not None:
            savepoint.commit()
