"""The append-only audit log: one Merkle tree (RFC 9162) over every entry, signed heads.

Each entry is stored with its canonical JSON body, its leaf hash, and the tree head after
it (root over entries 0..seq). The head is signed with the node's Ed25519 key once per
committed transaction: the last entry a transaction appends carries the signature of the
head after it, the entries before it in that transaction carry none (their roots are
covered by that signature, since the signed root is computed over every leaf before it).
A group-committed batch (``AuditLog.batched``) is one transaction: one signature. The
``keys.rotated`` entry is always signed (by the old key) and must end its transaction.

So every head the node serves (``AuditLog.head``, the head of a committed
``AuditTransaction``) is signed, and editing any entry, or any stored hash, behind the
node's back is found by ``verify_log``: it recomputes every leaf and every root, checks
every stored signature, requires the log's last entry and every rotation to be signed,
and names the first entry that does not match (an edit of an unsigned entry whose hashes
were recomputed too shows at the next signed head, which names the entries it covers).

Appends are serialised: ``AuditLog.transaction()`` holds a lock (and, on PostgreSQL, an
advisory lock) for the whole database transaction of the action being audited, so the
action and its entry commit together or not at all. A transaction's entries are written in
one statement as it ends, just before its commit (on PostgreSQL the BEGIN travels with the
lock and the COMMIT with the entries: ``store.database.self_begun``; the entries another
process appended meanwhile come back with the lock). On PostgreSQL a batch
that only appends entries (the entries of reads and listings) is one query: lock, insert
guarded by the last seq this process knows, commit; if another process appended in
between, nothing is written, its entries are taken in and the batch is tried again
(``AuditLog._appended``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import ClientCursor
from sqlalchemy import Connection, Engine, func, insert, select

from gsoia.audit.merkle import AuditError, CompactRange, leaf_hash
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import sign, verify
from gsoia.errors import GsoiaError
from gsoia.store.database import self_begun, writing
from gsoia.store.schema import audit_entries

ROTATED = "keys.rotated"
"""The entry of a key rotation: the last signed by the old key; its ``signing``: the new.

Always signed, and the last entry of its transaction."""
_ADVISORY_LOCK = 0x6750_1A
"""With the schema's name, the advisory lock of one node's log: shared by every process of
that node, not by nodes kept in other schemas of the same database."""
_INSERT = insert(audit_entries)


class AuditVerifyError(GsoiaError):
    """The log does not verify: ``seq`` is the first bad entry."""

    def __init__(self, seq: int, reason: str) -> None:
        self.seq = seq
        super().__init__(f"audit entry {seq}: {reason}")


def head_message(size: int, root: bytes) -> bytes:
    """The signed bytes of a tree head."""
    return b"gsoia-tree-head-v1\n" + canonical_json({"size": size, "root": root.hex()})


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head: ``signature`` is Ed25519 over ``head_message(size, root)``."""

    size: int
    root: bytes
    signature: bytes
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root.hex(),
            "signature": self.signature.hex(),
            "at": self.at,
        }


class AuditTransaction:
    """A database transaction that may append audit entries.

    Its entries are written as it ends, just before the commit, in one statement; the last
    one carries the signature of the tree head after it (``head``).
    """

    def __init__(self, log: AuditLog, connection: Connection, tree: CompactRange) -> None:
        self.connection = connection
        self._log = log
        self._tree = tree
        self._rows: list[dict[str, Any]] = []
        self.head: TreeHead | None = None
        """The signed head after this transaction's entries, once they are written (just
        before the commit); None before, and for a transaction that appended nothing."""
        self.committed: list[Callable[[], None]] = []

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once this transaction has committed, still holding the log's lock.

        For in-memory state that must follow the database in commit order (the label
        columns of the listing).
        """
        self.committed.append(action)

    def append(self, kind: str, actor: str, data: dict[str, Any]) -> int:
        """Add an entry (written when the transaction ends); returns its sequence number.

        Raises:
            AuditError: the transaction already holds a ``keys.rotated`` entry, which must
                be its last (the entries after it are for the next key to sign).
        """
        if self._rows and self._rows[-1]["kind"] == ROTATED:
            raise AuditError("a key rotation's entry must be the last of its transaction")
        seq = self._tree.size
        at = self._log.now()
        body = canonical_json({"seq": seq, "at": at, "kind": kind, "actor": actor, "data": data})
        leaf = leaf_hash(body)
        self._tree.append(leaf)
        root = self._tree.root()
        row = {
            "seq": seq,
            "at": at,
            "kind": kind,
            "actor": actor,
            "body": body.decode("utf-8"),
            "leaf": leaf,
            "root": root,
            "signature": None,
        }
        if kind == ROTATED:  # the old key's last head: signed here, and (above) the last
            row["signature"] = sign(self._log.key, head_message(seq + 1, root))
        self._rows.append(row)
        return seq

    def _write(self) -> None:
        """Insert the entries appended, the last one signed: the head of this transaction.

        On PostgreSQL the insert carries the transaction's COMMIT (``self_begun``).
        """
        if not self._sign():
            return
        if self._log._postgres:
            _insert_then_commit(self.connection, self._rows)
        else:
            self.connection.execute(_INSERT, self._rows)

    def _sign(self) -> bool:
        """Sign the head after the last entry appended (``head``); False if there is none."""
        if not self._rows:
            return False
        last = self._rows[-1]
        size, root = last["seq"] + 1, last["root"]
        # INVARIANT: a committed transaction ends with a signed entry, so the log's last
        # entry is always signed (``verify_log`` requires it; ``AuditLog.head`` serves it).
        if last["signature"] is None:
            last["signature"] = sign(self._log.key, head_message(size, root))
        self.head = TreeHead(size, root, last["signature"], last["at"])
        return True


T = TypeVar("T")


class _Work(Generic[T]):
    """One caller's part of a batched transaction, and what came of it."""

    __slots__ = ("done", "error", "isolated", "rerunnable", "result", "work")

    def __init__(
        self,
        work: Callable[[AuditTransaction], T],
        isolated: bool = True,
        rerunnable: bool = False,
    ) -> None:
        self.work = work
        self.isolated = isolated
        self.rerunnable = rerunnable
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class AuditLog:
    """The node's audit log in its database."""

    def __init__(
        self, engine: Engine, key: Ed25519PrivateKey, clock: Callable[[], dt.datetime]
    ) -> None:
        self.engine = engine
        self.key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: list[_Work[Any]] = []
        self._queue_lock = threading.Lock()
        self._postgres = engine.dialect.name == "postgresql"
        with engine.connect() as connection:
            self._tree = _load_tree(connection)
        self.on_others: Callable[[Connection], None] | None = None
        """Run in a transaction, under the lock, when another process appended entries since
        this one last did: what this process holds in memory catches up with theirs."""
        self._unheard = False
        """Another process's entries were taken in by an entries-only batch, which changes
        nothing but the log: ``on_others`` is owed at the next transaction (the first that
        may publish state of its own)."""

    def now(self) -> str:
        return self._clock().astimezone(dt.UTC).isoformat(timespec="microseconds")

    @contextmanager
    def transaction(self) -> Iterator[AuditTransaction]:
        """One database transaction; its entries join the log only if it commits."""
        with self._lock, self._begin() as transaction:
            yield transaction

    @contextmanager
    def _begin(self) -> Iterator[AuditTransaction]:
        """A transaction on the lock already held; on commit, the tree and actions follow."""
        with self_begun(self.engine) if self._postgres else writing(self.engine) as connection:
            if self._postgres:
                last, missed = _begun_locked(connection, self._tree.size)
            else:  # (SQLite's transactions that write take the write lock as they begin)
                last, missed = _last_seq(connection), None
            if (-1 if last is None else last) + 1 != self._tree.size:  # another process
                self._tree = _caught_up(connection, self._tree, last, missed)
                self._unheard = True
            if self._unheard and self.on_others is not None:
                self.on_others(connection)
            self._unheard = False
            transaction = AuditTransaction(self, connection, self._tree.copy())
            yield transaction
            transaction._write()
        # committed
        self._tree = transaction._tree
        for action in transaction.committed:
            action()

    def batched(
        self,
        work: Callable[[AuditTransaction], T],
        *,
        isolated: bool = True,
        rerunnable: bool = False,
    ) -> T:
        """Run ``work`` in a transaction shared with concurrent callers (group commit).

        Callers queue their work; whoever takes the lock first runs every queued piece in
        one database transaction, each in its own savepoint (a piece that raises is rolled
        back alone and its caller gets the exception), and commits them together: one
        commit, one flush to disk, one signed tree head, for many audited actions. A piece
        alone in its batch needs no savepoint: if it raises, the whole transaction is rolled
        back. ``work`` must not itself call ``batched``, ``record`` or ``transaction`` (the
        lock is held).

        ``isolated=False``: ``work`` only appends entries (written as the batch ends), so
        it needs no savepoint: two round trips fewer on PostgreSQL. Should it raise, its
        entries are dropped and its caller gets the exception, as in a savepoint.

        ``rerunnable=True``: ``work`` acts only through the transaction (its statements, its
        entries, ``on_commit``), so it may run twice. A batch whose pieces are all
        rerunnable (or entries-only) runs them without savepoints; should one raise, the
        transaction is rolled back and the batch runs again, each piece in its savepoint.
        """
        mine: _Work[T] = _Work(work, isolated, rerunnable)
        with self._queue_lock:
            self._queue.append(mine)
        with self._lock:
            if not mine.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                if self._postgres and not any(piece.isolated for piece in batch):
                    try:
                        appended = self._appended(batch)
                    except BaseException as e:  # the database failed: every piece hears it
                        for piece in batch:
                            piece.error, piece.done = piece.error or e, True
                        raise
                    if appended:
                        return _outcome(mine)
                    for piece in batch:  # another process appended: again, caught up
                        piece.error = piece.result = None
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
                                piece.error = piece.result = None
                    if not together:
                        with self._begin() as transaction:
                            if len(batch) == 1:  # alone: its error undoes its own transaction
                                mine.result = work(transaction)
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
        return _outcome(mine)

    def _appended(self, batch: list[_Work[Any]]) -> bool:
        """PostgreSQL: a batch that only appends entries, written in one round trip.

        Lock, insert and commit go as one query: the insert is guarded by the log's last
        seq, so it writes nothing if another process appended since this one last did; the
        same query then returns their entries' leaves, this log catches up (``on_others``
        is owed to the next transaction: an entry changes nothing it follows) and the batch
        is tried again. Returns False, nothing written, when the log is not
        a continuation of this one's tree (the caller's transaction reloads it) or after a
        few tries; raises what the database raised.
        """
        for _ in range(_TRIES):
            transaction = AuditTransaction(self, _ENTRIES_ONLY, self._tree.copy())
            for piece in batch:
                piece.error = piece.result = None
                _run_piece(transaction, piece)
            if not transaction._sign():
                break
            with self.engine.connect() as connection:
                missed = _insert_guarded(connection, transaction._rows)
                if missed is None:
                    break
                caught = _continued(self._tree, missed)
                if caught is None or not missed:
                    return False
                self._tree = caught
                self._unheard = True  # heard at the next transaction: entries change nothing
        else:
            return False
        self._tree = transaction._tree
        for piece in batch:
            piece.done = True
        for action in transaction.committed:
            action()
        return True

    def record(self, kind: str, actor: str, data: dict[str, Any]) -> int:
        """Append one entry on its own (group-committed with concurrent ones); its seq."""
        return self.batched(lambda tx: tx.append(kind, actor, data), isolated=False)

    def head(self) -> TreeHead | None:
        """The latest signed tree head, or None for an empty log.

        The head after the last committed transaction: its last entry is signed.
        """
        with self.engine.connect() as connection:
            row = connection.execute(_LAST_SIGNED).first()
        if row is None:
            return None
        return TreeHead(row.seq + 1, bytes(row.root), bytes(row.signature), row.at)

    def leaves(self, size: int | None = None) -> list[bytes]:
        with self.engine.connect() as connection:
            query = select(audit_entries.c.leaf).order_by(audit_entries.c.seq)
            if size is not None:
                query = query.where(audit_entries.c.seq < size)
            return [bytes(leaf) for (leaf,) in connection.execute(query)]


_LAST_SIGNED = (
    select(audit_entries.c.seq, audit_entries.c.root, audit_entries.c.signature, audit_entries.c.at)
    .where(audit_entries.c.signature.is_not(None))
    .order_by(audit_entries.c.seq.desc())
    .limit(1)
)
_LOCK = f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK:d}, hashtext(current_schema()))"
_COLUMNS = ("seq", "at", "kind", "actor", "body", "leaf", "root", "signature")


_TRIES = 3
"""Entries-only appends tried in one round trip before a transaction of its own."""
_CATCH_UP = 1_000_000
"""The most entries of other processes taken in at once (a range with two bounds: the
primary key's index, even where the table was never analysed); past it, the tree is
reloaded."""
_BEGIN_LOCK_THEN_READ = (
    f"BEGIN; {_LOCK}; SELECT max(seq) FROM audit_entries;"  # noqa: S608 (constants; ints)
    f" SELECT seq, leaf FROM audit_entries WHERE seq BETWEEN {{known:d}}"
    f" AND {{known:d}} + {_CATCH_UP:d} ORDER BY seq"
)
"""The statements of ``_begun_locked``: what another process appended comes with the lock."""


def _insert_guarded(connection: Connection, rows: list[dict[str, Any]]) -> list[Any] | None:
    """PostgreSQL, one round trip: under the log's lock, insert ``rows`` if the log's last
    seq is the one before them. None if inserted; else the ``(seq, leaf)`` of the entries
    from the first of theirs on (empty: the log is shorter)."""
    first = rows[0]["seq"]
    values = [row[name] for row in rows for name in _COLUMNS]
    psycopg = connection.execution_options(isolation_level="AUTOCOMMIT").connection
    with ClientCursor(psycopg.driver_connection) as cursor:  # type: ignore[arg-type]
        cursor.execute(
            _guarded_insert(len(rows)),
            [*values, None if first == 0 else first - 1, first, first, first, rows[0]["leaf"]],
        )
        cursor.nextset()
        if cursor.rowcount == len(rows):
            return None
        cursor.nextset()
        return [(int(seq), bytes(leaf)) for seq, leaf in cursor.fetchall()]


_COMMITTED_WITH = 100
"""The most entries inserted in the statement that carries the COMMIT; those before go
in one statement of their own (a transaction rarely appends more)."""


def _insert_then_commit(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: insert ``rows`` and commit the transaction ``self_begun``, the last
    ``_COMMITTED_WITH`` rows and the COMMIT in one round trip."""
    if len(rows) > _COMMITTED_WITH:
        connection.execute(_INSERT, rows[:-_COMMITTED_WITH])
        rows = rows[-_COMMITTED_WITH:]
    values = [row[name] for row in rows for name in _COLUMNS]
    with ClientCursor(connection.connection.driver_connection) as cursor:  # type: ignore[arg-type]
        cursor.execute(f"INSERT INTO audit_entries {_values(len(rows))}; COMMIT", values)


_ROW = "(%s::bigint, %s, %s, %s, %s, %s::bytea, %s::bytea, %s::bytea)"


@lru_cache(maxsize=128)
def _values(count: int) -> str:
    """The columns of ``count`` entries and their placeholders."""
    return f"({', '.join(_COLUMNS)}) VALUES {', '.join([_ROW] * count)}"


@lru_cache(maxsize=64)
def _guarded_insert(count: int) -> str:
    """Three statements, one implicit transaction: the lock; ``count`` entries inserted
    only if the log's last seq is the parameter after them (NULL: an empty log), which the
    lock holds still; the entries from the next parameter on, unless the first is ours."""
    return (
        f"{_LOCK}; INSERT INTO audit_entries ({', '.join(_COLUMNS)})"  # noqa: S608 (constants only)
        f" SELECT * FROM (VALUES {', '.join([_ROW] * count)}) AS entries"
        " WHERE (SELECT max(seq) FROM audit_entries) IS NOT DISTINCT FROM %s::bigint;"
        f" SELECT seq, leaf FROM audit_entries WHERE seq BETWEEN %s AND %s + {_CATCH_UP:d}"
        " AND NOT EXISTS"
        " (SELECT 1 FROM audit_entries WHERE seq = %s AND leaf = %s::bytea) ORDER BY seq"
    )


class _EntriesOnly:
    """The connection of a batch of entries-only pieces: a piece that uses it is wrong."""

    def __getattr__(self, name: str) -> Any:
        raise AuditError("an entries-only piece (isolated=False) used the connection")


_ENTRIES_ONLY: Any = _EntriesOnly()


def _outcome(work: _Work[T]) -> T:
    if work.error is not None:
        raise work.error
    return work.result  # type: ignore[return-value]


_MAX_SEQ = select(func.max(audit_entries.c.seq))


def _last_seq(connection: Connection) -> int | None:
    return connection.execute(_MAX_SEQ).scalar()


def _begun_locked(connection: Connection, known: int) -> tuple[int | None, list[Any]]:
    """PostgreSQL, one round trip (the connection is ``self_begun``): begin the transaction,
    take the node's advisory lock, then read the last seq and the ``(seq, leaf)`` of the
    entries from ``known`` on (another process's, if any: none, most often).

    One simple query: the statements after the lock run (each in a snapshot of its own,
    READ COMMITTED) only once it is held, so they see every entry committed before.
    """
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_BEGIN_LOCK_THEN_READ.format(known=int(known)))
        cursor.nextset()
        cursor.nextset()
        row = cursor.fetchone()
        cursor.nextset()
        missed = [(int(seq), bytes(leaf)) for seq, leaf in cursor.fetchall()]
    finally:
        cursor.close()
    return (None if row is None or row[0] is None else int(row[0])), missed


class _Rerun(Exception):
    """A rerunnable piece raised in a batch run without savepoints."""


def _run_together(transaction: AuditTransaction, piece: _Work[Any]) -> None:
    """Run one piece of a batch without a savepoint: an entries-only piece as
    ``_run_piece``; another that raises ends the transaction (``_Rerun``)."""
    if not piece.isolated:
        _run_piece(transaction, piece)
        return
    try:
        piece.result = piece.work(transaction)
    except Exception as e:
        raise _Rerun from e


def _run_piece(transaction: AuditTransaction, piece: _Work[Any]) -> None:
    """Run one piece of a batch (in a savepoint if it is ``isolated``); on error, undo it
    alone."""
    tree, actions = transaction._tree.copy(), len(transaction.committed)
    rows = len(transaction._rows)
    savepoint = transaction.connection.begin_nested() if piece.isolated else None
    try:
        piece.result = piece.work(transaction)
    except Exception as e:
        if savepoint is not None:
            savepoint.rollback()
        transaction._tree = tree
        del transaction._rows[rows:]
        del transaction.committed[actions:]
        piece.error = e
    else:
        if savepoint is not None:
            savepoint.commit()


def _caught_up(
    connection: Connection, tree: CompactRange, last: int | None, missed: list[Any] | None
) -> CompactRange:
    """``tree`` with the entries another process appended since (or reloaded, if it is not
    a continuation): ``last`` is the log's last seq, read under the lock that holds it
    still; ``missed`` the ``(seq, leaf)`` of the entries from ``tree.size`` on, read with
    it (None: read them here)."""
    entries: Sequence[Any] = (
        missed
        if missed is not None
        else connection.execute(
            select(audit_entries.c.seq, audit_entries.c.leaf)
            .where(audit_entries.c.seq.between(tree.size, tree.size + _CATCH_UP))
            .order_by(audit_entries.c.seq)
        ).all()
    )
    caught = _continued(tree, entries)
    if caught is None or (-1 if last is None else last) + 1 != caught.size:  # start over
        return _load_tree(connection)
    return caught


def _continued(tree: CompactRange, entries: Iterable[Any]) -> CompactRange | None:
    """``tree`` with the ``(seq, leaf)`` entries appended, from its size on; None if they
    do not continue it."""
    caught = tree.copy()
    for seq, leaf in entries:
        if seq != caught.size:
            return None
        caught.append(bytes(leaf))
    return caught


def _load_tree(connection: Connection) -> CompactRange:
    leaves = connection.execute(select(audit_entries.c.leaf).order_by(audit_entries.c.seq))
    return CompactRange.from_leaves([bytes(leaf) for (leaf,) in leaves])


def verify_log(
    engine: Engine,
    public_key: bytes | Sequence[bytes],
    progress: Callable[[int], None] | None = None,
) -> TreeHead | None:
    """Recompute every leaf and root, check every signed head; raise ``AuditVerifyError``.

    ``public_key``: the node's signing key, or all the keys it used, oldest first. Each
    ``ROTATED`` entry, naming the next key, is the last one whose head the key before
    signed (``gsoia keys rotate``); it must be signed.

    Heads are signed once per transaction: an entry without a signature is covered by the
    next signed head (its root is computed over every leaf before it). The log's last entry
    must be signed: an unsigned entry that no signed head follows is an error naming it.

    Returns the last tree head, signed (None for an empty log).
    """
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=5000).execute(
            select(audit_entries).order_by(audit_entries.c.seq)
        )
        with rows:  # closes the server-side cursor however the loop ends
            return _verify_rows(rows, public_key, progress)


def _verify_rows(
    rows: Iterable[Any],
    public_key: bytes | Sequence[bytes],
    progress: Callable[[int], None] | None,
) -> TreeHead | None:
    keys = [public_key] if isinstance(public_key, bytes) else list(public_key)
    tree = CompactRange()
    head: TreeHead | None = None
    unsigned: int | None = None  # the first entry no signed head has covered yet
    expected = -1
    for expected, row in enumerate(rows):
        if row.seq != expected:
            raise AuditVerifyError(expected, f"missing (the next stored entry is {row.seq})")
        body = str(row.body).encode("utf-8")
        _check_body(expected, body, row)
        leaf = leaf_hash(body)
        if leaf != bytes(row.leaf):
            raise AuditVerifyError(expected, "its content does not match its leaf hash")
        tree.append(leaf)
        root = tree.root()
        if root != bytes(row.root):
            raise AuditVerifyError(
                expected,
                f"tree head mismatch: stored root {bytes(row.root).hex()[:16]}…,"
                f" recomputed {root.hex()[:16]}…",
            )
        if row.signature is None:
            if row.kind == ROTATED:
                raise AuditVerifyError(expected, "it rotates the keys but its head is not signed")
            if unsigned is None:
                unsigned = expected
        else:
            try:
                verify(keys[0], head_message(expected + 1, root), bytes(row.signature))
            except BadSignature as e:
                covers = (
                    "" if unsigned is None else f" (it covers entries {unsigned} to {expected})"
                )
                raise AuditVerifyError(
                    expected, f"the signature of its tree head is bad{covers}"
                ) from e
            unsigned = None
            head = TreeHead(expected + 1, root, bytes(row.signature), row.at)
        if row.kind == ROTATED:  # the next entries are signed by the key it names
            if len(keys) < 2 or json.loads(body)["data"].get("signing") != keys[1].hex():
                raise AuditVerifyError(expected, "it names another key than the next one")
            keys = keys[1:]
        if progress is not None and expected and expected % 10_000 == 0:
            progress(expected)
    if unsigned is not None:
        raise AuditVerifyError(
            unsigned,
            f"no signed tree head covers it (the log's last entry, {expected}, is not signed)",
        )
    if len(keys) > 1:
        raise AuditVerifyError(expected + 1, "the log does not record the rotation of its keys")
    return head


def _check_body(seq: int, body: bytes, row: Any) -> None:
    """The columns kept beside the body must say what the body says."""
    try:
        data = json.loads(body)
    except ValueError as e:
        raise AuditVerifyError(seq, "its body is not JSON") from e
    if canonical_json(data) != body:
        raise AuditVerifyError(seq, "its body is not in canonical form")
    for column in ("seq", "at", "kind", "actor"):
        if data.get(column) != getattr(row, column):
            raise AuditVerifyError(seq, f"its {column} column differs from its body")
