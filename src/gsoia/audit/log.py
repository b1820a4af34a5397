"""The append-only audit log: one Merkle tree (RFC 9162) over every entry, signed heads.

Each entry is stored with its canonical JSON body, its leaf hash, and the tree head after
it (root over entries 0..seq). The head is signed with the node's Ed25519 key once per
committed transaction: the last entry a transaction appends carries the signature of the
head after it, the entries before it in that transaction carry none (their roots are
covered by that signature, since the signed root is computed over every leaf before it).
A group-committed batch (``AuditLog.batched``, ``audit.group_commit``) is one
transaction: one signature. The ``keys.rotated`` entry is always signed (by the old key)
and must end its transaction.

So every head the node serves (``AuditLog.head``, the head of a committed
``AuditTransaction``) is signed, and editing any entry, or any stored hash, behind the
node's back is found by ``verify_log``: it recomputes every leaf and every root, checks
every stored signature, requires the log's last entry and every rotation to be signed,
and names the first entry that does not match (an edit of an unsigned entry whose hashes
were recomputed too shows at the next signed head, which names the entries it covers).

Appends are serialised: ``AuditLog.transaction()`` holds a lock, and the store's lock
across processes (``AuditStore.begin``: SQLite's write lock, PostgreSQL's advisory lock),
for the whole database transaction of the action being audited, so the action and its
entry commit together or not at all. A transaction's entries are written in one statement
as it ends, just before its commit; the entries another process appended meanwhile are
taken into the tree as the lock is taken. Where the store appends entries alone
(PostgreSQL), a batch that only appends entries (the entries of reads and listings) is
one query; if another process appended in between, nothing is written, its entries are
taken in and the batch is tried again (``AuditLog._append_alone``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine

from gsoia.audit.group_commit import GroupCommit
from gsoia.audit.levels import Levels
from gsoia.audit.merkle import AuditError, CompactRange, leaf_hash
from gsoia.audit.postgres_store import PostgresAuditStore
from gsoia.audit.sqlite_store import SqliteAuditStore
from gsoia.audit.store import AuditStore, Begun, Entry, Leaves
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import sign, verify
from gsoia.errors import GsoiaError

if TYPE_CHECKING:
    from gsoia.audit.anchor import Anchor

ROTATED = "keys.rotated"
"""The entry of a key rotation: the last signed by the old key; its ``signing``: the new.

Always signed, and the last entry of its transaction."""
_TRIES = 3
"""Entries-only appends tried in one round trip before a transaction of their own."""

T = TypeVar("T")


class AuditVerifyError(GsoiaError):
    """The log does not verify: ``seq`` is the first bad entry."""

    def __init__(self, seq: int, reason: str) -> None:
        self.seq = seq
        super().__init__(f"audit entry {seq}: {reason}")


def head_message(size: int, root: bytes) -> bytes:
    """The signed bytes of a tree head."""
    return b"gsoia-tree-head-v1\n" + canonical_json({"size": size, "root": root.hex()})


def store_for(engine: Engine) -> AuditStore:
    """The audit store of the engine's database."""
    if engine.dialect.name == "postgresql":
        return PostgresAuditStore(engine)
    return SqliteAuditStore(engine)


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


@dataclass(frozen=True)
class Mark:
    """What a transaction held at one moment: ``AuditTransaction.drop_since`` goes back."""

    tree: CompactRange
    rows: int
    committed: int


class AuditTransaction:
    """A database transaction that may append audit entries.

    Its entries are written as it ends, just before the commit, in one statement; the last
    one carries the signature of the tree head after it (``head``).
    """

    def __init__(self, log: AuditLog, connection: Connection, tree: CompactRange) -> None:
        self.connection = connection
        self._log = log
        self._tree = tree
        self._rows: list[Entry] = []
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

    def appended(self, seq: int) -> str:
        """The canonical JSON body of entry ``seq``, appended in this transaction."""
        row = self._rows[seq - self._rows[0]["seq"]]
        if row["seq"] != seq:
            raise AuditError(f"entry {seq} was not appended in this transaction")
        return str(row["body"])

    def mark(self) -> Mark:
        """The entries and actions held now, for ``drop_since``."""
        return Mark(self._tree.copy(), len(self._rows), len(self.committed))

    def drop_since(self, mark: Mark) -> None:
        """Forget the entries appended and the actions added since ``mark`` (the work of a
        piece of a batch that failed)."""
        self._tree = mark.tree
        del self._rows[mark.rows :]
        del self.committed[mark.committed :]

    def _write(self) -> None:
        """Insert the entries appended, the last one signed: the head of this transaction
        (the store may commit the transaction with them)."""
        if self._sign():
            self._log.store.write(self.connection, self._rows)

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


class AuditLog:
    """The node's audit log in its database."""

    def __init__(
        self, engine: Engine, key: Ed25519PrivateKey, clock: Callable[[], dt.datetime]
    ) -> None:
        self.engine = engine
        self.key = key
        self.store = store_for(engine)
        self._clock = clock
        self._lock = threading.Lock()
        self._group = GroupCommit(
            self._lock, self._begin, self._append_alone if self.store.appends_alone else None
        )
        self._tree = CompactRange.from_leaves(self.store.leaves())
        self.on_entries: Callable[[Sequence[Entry]], None] | None = None
        """Run, under the lock, with the entries of each transaction this process commits,
        in commit order (what this process holds of the log follows them without a read)."""
        self.on_others: Callable[[Connection], None] | None = None
        """Run in a transaction, under the lock, when another process appended entries since
        this one last did: what this process holds in memory catches up with theirs."""
        self._levels = Levels()
        """The log's subtree roots, for proofs; caught up as proofs are asked for."""
        self._levels_lock = threading.Lock()
        self.anchor: Anchor | None = None
        """Where each committed head is kept outside the database (``audit.anchor``)."""
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
        with self.store.begin(self._tree.size) as begun:
            connection = begun.connection
            if (-1 if begun.last is None else begun.last) + 1 != self._tree.size:
                self._tree = self._caught_up(begun)  # another process appended
                self._unheard = True
            if self._unheard and self.on_others is not None:
                self.on_others(connection)
            self._unheard = False
            transaction = AuditTransaction(self, connection, self._tree.copy())
            yield transaction
            transaction._write()
        # committed
        self._committed(transaction)

    def _committed(self, transaction: AuditTransaction) -> None:
        """Follow a committed transaction: its tree, its actions, its head anchored."""
        self._tree = transaction._tree
        self._follow(transaction._rows)
        if self.on_entries is not None and transaction._rows:
            self.on_entries(transaction._rows)
        for action in transaction.committed:
            action()
        if self.anchor is not None and transaction.head is not None:
            self.anchor.offer(transaction.head)

    def _follow(self, rows: Sequence[Entry]) -> None:
        """The subtree roots follow the entries just committed, when they were caught up to
        them (proofs then read no leaf from the store)."""
        if rows:
            with self._levels_lock:
                if self._levels.size == rows[0]["seq"]:
                    self._levels.extend(row["leaf"] for row in rows)

    def _caught_up(self, begun: Begun) -> CompactRange:
        """The tree with the entries another process appended since (or reloaded, if they
        do not continue it), read in the transaction ``begun``."""
        entries = begun.missed
        if entries is None:
            entries = self.store.since(begun.connection, self._tree.size)
        caught = _continued(self._tree, entries)
        if caught is None or (-1 if begun.last is None else begun.last) + 1 != caught.size:
            return CompactRange.from_leaves(self.store.leaves(begun.connection))
        return caught

    def batched(
        self,
        work: Callable[[AuditTransaction], T],
        *,
        isolated: bool = True,
        rerunnable: bool = False,
    ) -> T:
        """Run ``work`` in a transaction shared with concurrent callers (group commit:
        ``audit.group_commit``).

        Each piece runs in its own savepoint: a piece that raises is rolled back alone and
        its caller gets the exception. ``work`` must not itself call ``batched``,
        ``record`` or ``transaction`` (the lock is held).

        ``isolated=False``: ``work`` only appends entries (written as the batch ends), so
        it needs no savepoint: two round trips fewer on PostgreSQL, and a batch of them
        alone is one query there. Should it raise, its entries are dropped and its caller
        gets the exception, as in a savepoint.

        ``rerunnable=True``: ``work`` acts only through the transaction (its statements, its
        entries, ``on_commit``), so it may run twice. A batch whose pieces are all
        rerunnable (or entries-only) runs them without savepoints; should one raise, the
        transaction is rolled back and the batch runs again, each piece in its savepoint.
        """
        return self._group.run(work, isolated=isolated, rerunnable=rerunnable)

    def _append_alone(self, run: Callable[[AuditTransaction], None]) -> bool:
        """Entries alone (``AuditStore.append_alone``), written in one round trip.

        ``run`` appends the entries to a transaction without a connection. The write is
        guarded by the log's last seq, so it writes nothing if another process appended
        since this one last did; their entries come back, this log catches up
        (``on_others`` is owed to the next transaction: an entry changes nothing it follows)
        and ``run`` runs again. False, nothing written, when the log is not a continuation
        of this one's tree (the caller's transaction reloads it) or after a few tries;
        raises what the database raised.
        """
        for _ in range(_TRIES):
            transaction = AuditTransaction(self, _ENTRIES_ONLY, self._tree.copy())
            run(transaction)
            if not transaction._sign():
                break
            missed = self.store.append_alone(transaction._rows)
            if missed is None:
                break
            caught = _continued(self._tree, missed)
            if caught is None or not missed:
                return False
            self._tree = caught
            self._unheard = True  # heard at the next transaction: entries change nothing
        else:
            return False
        self._committed(transaction)
        return True

    def record(self, kind: str, actor: str, data: dict[str, Any]) -> int:
        """Append one entry on its own (group-committed with concurrent ones); its seq."""
        return self.batched(lambda tx: tx.append(kind, actor, data), isolated=False)

    def head(self) -> TreeHead | None:
        """The latest signed tree head, or None for an empty log.

        The head after the last committed transaction: its last entry is signed.
        """
        row = self.store.last_signed()
        if row is None:
            return None
        return TreeHead(row.seq + 1, bytes(row.root), bytes(row.signature), row.at)

    def with_subtrees(self, size: int, make: Callable[[Levels], T]) -> T:
        """``make(levels)``, the log's subtree roots (``audit.levels``) caught up with the
        store to at least ``size`` entries if it holds that many (``levels.size`` says)."""
        with self._levels_lock:
            if self._levels.size < size:
                self._levels.extend(self.store.leaves_from(self._levels.size))
            return make(self._levels)

    def leaves(self, size: int | None = None) -> list[bytes]:
        return self.store.leaves(size=size)


class _EntriesOnly:
    """The connection of a batch of entries-only pieces: a piece that uses it is wrong."""

    def __getattr__(self, name: str) -> Any:
        raise AuditError("an entries-only piece (isolated=False) used the connection")


_ENTRIES_ONLY: Any = _EntriesOnly()


def _continued(tree: CompactRange, entries: Leaves) -> CompactRange | None:
    """``tree`` with the ``(seq, leaf)`` entries appended, from its size on; None if they
    do not continue it."""
    caught = tree.copy()
    for seq, leaf in entries:
        if seq != caught.size:
            return None
        caught.append(bytes(leaf))
    return caught


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
    check = LogCheck(public_key)
    check.extend(engine, progress)
    return check.finish()


class LogCheck:
    """``verify_log`` as a walk that can go on: the state after the entries checked so far
    (``size`` of them), ready for the entries appended since (``extend``)."""

    def __init__(self, public_key: bytes | Sequence[bytes]) -> None:
        self.keys = [public_key] if isinstance(public_key, bytes) else list(public_key)
        """The keys still to sign heads, the current one first."""
        self.tree = CompactRange()
        self.head: TreeHead | None = None
        self.unsigned: int | None = None
        """The first entry no signed head has covered yet."""
        self.last: tuple[bytes, bytes] | None = None
        """The leaf and the root of the last entry checked."""

    @property
    def size(self) -> int:
        return self.tree.size

    def extend(self, engine: Engine, progress: Callable[[int], None] | None = None) -> None:
        """Check the entries from ``size`` on (``AuditVerifyError``)."""
        with store_for(engine).entries(self.size) as rows:
            for row in rows:
                self.add(row)
                if progress is not None and row.seq and row.seq % 10_000 == 0:
                    progress(row.seq)

    def add(self, row: Any) -> None:
        """Check the entry ``size`` (``AuditVerifyError``)."""
        expected = self.size
        if row.seq != expected:
            gone = (
                "missing"
                if row.seq <= expected + 1
                else f"entries {expected} to {row.seq - 1} are missing"
            )
            raise AuditVerifyError(expected, f"{gone} (the next stored entry is {row.seq})")
        body = str(row.body).encode("utf-8")
        _check_body(expected, body, row)
        leaf = leaf_hash(body)
        if leaf != bytes(row.leaf):
            raise AuditVerifyError(expected, "its content does not match its leaf hash")
        self.tree.append(leaf)
        root = self.tree.root()
        if root != bytes(row.root):
            raise AuditVerifyError(
                expected,
                f"tree head mismatch: stored root {bytes(row.root).hex()[:16]}…,"
                f" recomputed {root.hex()[:16]}…",
            )
        self.last = (leaf, root)
        if row.signature is None:
            if row.kind == ROTATED:
                raise AuditVerifyError(expected, "it rotates the keys but its head is not signed")
            if self.unsigned is None:
                self.unsigned = expected
        else:
            try:
                verify(self.keys[0], head_message(expected + 1, root), bytes(row.signature))
            except BadSignature as e:
                unsigned = self.unsigned
                covers = (
                    "" if unsigned is None else f" (it covers entries {unsigned} to {expected})"
                )
                raise AuditVerifyError(
                    expected, f"the signature of its tree head is bad{covers}"
                ) from e
            self.unsigned = None
            self.head = TreeHead(expected + 1, root, bytes(row.signature), row.at)
        if row.kind == ROTATED:  # the next entries are signed by the key it names
            if len(self.keys) < 2 or json.loads(body)["data"].get("signing") != self.keys[1].hex():
                raise AuditVerifyError(expected, "it names another key than the next one")
            self.keys = self.keys[1:]

    def finish(self) -> TreeHead | None:
        """The last signed head, once the log's last entry is signed and every rotation of
        its keys recorded (``AuditVerifyError`` otherwise); the walk may go on after."""
        if self.unsigned is not None:
            raise AuditVerifyError(
                self.unsigned,
                f"no signed tree head covers it (the log's last entry, {self.size - 1},"
                " is not signed)",
            )
        if len(self.keys) > 1:
            raise AuditVerifyError(self.size, "the log does not record the rotation of its keys")
        return self.head


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
