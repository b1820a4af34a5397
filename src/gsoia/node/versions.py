"""The latest version of each versioned row, as the audit log records it.

Items, users and pinned peers carry a ``version`` that the node's signature covers, and
every change of such a row is audited with ``{"subject": ..., "version": N}`` in its
entry's data (``versioned``). The signature stops a row from being edited in SQL; it does
not stop an older row, signed too, from being put back. The log does: a row is served
only in the latest version the log records for it (``RowVersions.is_latest``). A row
restored to an earlier version (an account put back after the log recorded its removal
included), or in a later version than the log records, is refused.

The versions are kept in memory, per process: read from the whole log at the first check
after a start, and caught up with the log as it is before every read and every listing
page (``catch_up``): one query of the log's last seq (its primary key's largest), and,
only if another process appended since, the entries past the last one read that record a
version. The entries this process commits are followed as they commit (``follow``: no
query), so the log's own growth from this process's work costs no read. A row another
process changed is so judged against the version it recorded at the next read of every
process: an older row put back after it is refused at once. Only versions
past the first are kept: every row is made in version 1, signed, and recorded so in the
same transaction, so a signed row in version 1 of a subject the log records no later
version of is the latest (a million items cost no memory, and the entries of their
creation are not read). An entry is taken only if its body still matches its leaf hash;
that the log itself was not cut or rewritten is the work of its signed heads, its anchor
and its witnesses (``gsoia audit verify``, ``audit.anchor``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Text,
    bindparam,
    cast,
    func,
    null,
    select,
    union_all,
)

from gsoia.audit.merkle import leaf_hash
from gsoia.store import postgres, sqlite
from gsoia.store.database import peeking
from gsoia.store.schema import SEQ_CEILING, audit_entries

SUBJECT = '"subject":'
"""What the body of an entry recording a version holds (canonical JSON: no spaces)."""
FIRST = '"version":1},"kind":'
"""What the body of an entry recording a first version holds: ``version`` is the last key
of its data, ``kind`` the next key of the entry (canonical JSON: keys sorted). Such entries
are not read (``_SINCE``); one that were read anyway would change nothing."""

_SINCE = union_all(
    select(func.max(audit_entries.c.seq), cast(null(), Text), cast(null(), LargeBinary)),
    select(audit_entries.c.seq, audit_entries.c.body, audit_entries.c.leaf).where(
        audit_entries.c.seq > bindparam("after"),
        audit_entries.c.seq <= SEQ_CEILING,
        audit_entries.c.body.like(bindparam("subject")),
        ~audit_entries.c.body.like(bindparam("first")),
    ),
)
"""The log's last seq (the row without a body), and each entry past ``after`` that records
a version past the first: one statement, one snapshot (``catch_up``)."""
_PATTERNS = {"subject": f"%{SUBJECT}%", "first": f"%{FIRST}%"}
"""``SUBJECT`` and ``FIRST`` hold no ``%``, ``_`` or ``\\``: nothing to escape."""
_SINCE_SQLITE = sqlite.compiled(_SINCE)
_LAST = select(func.max(audit_entries.c.seq))
_LAST_SQLITE = sqlite.compiled(_LAST)
_LAST_PG = postgres.compiled(_LAST)
_SINCE_PG = postgres.compiled(_SINCE)
_ANY = select(audit_entries.c.seq).where(audit_entries.c.body.contains(SUBJECT)).limit(1)


def item_subject(item_id: str) -> str:
    return f"item:{item_id}"


def versioned(data: dict[str, Any], subject: str, version: int) -> dict[str, Any]:
    """An audit entry's data recording that ``subject`` is now in ``version``."""
    return data | {"subject": subject, "version": version}


class RowVersions:
    """The latest version of each row the audit log records (module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._latest: dict[str, int] = {}
        self._read = -1
        """The seq of the last entry read from the log (-1: none yet)."""
        self._lock = threading.Lock()

    def is_latest(self, subject: str, version: int) -> bool:
        """Whether ``version`` is the latest the log records for ``subject``, as of the last
        ``catch_up`` (a read or a listing catches up first).

        A version higher than the one known (1 for a subject the log records no later
        version of) sends this process to the log's tail first: another process may have
        written it since.
        """
        if self._read < 0:
            self.catch_up()  # the first check since the start: the whole log
        known = self._latest.get(subject, 1)
        if known == version:
            return True
        if version < known:
            return False
        self.catch_up()
        return self._latest.get(subject, 1) == version

    def latest(self, subject: str) -> int:
        """The latest version the log records for ``subject`` (0: none), caught up first.

        For a row made anew (an account added, a peer pinned): call it holding the log's
        lock, so that no other process records one meanwhile. A subject without a later
        version is looked for in the whole log (rare: each account and pin once).
        """
        self.catch_up()
        known = self._latest.get(subject)
        if known is not None:
            return known
        recorded = audit_entries.c.body.contains(
            f"{SUBJECT}{json.dumps(subject, ensure_ascii=False)},", autoescape=True
        )
        with peeking(self.engine) as connection:
            found = connection.execute(select(audit_entries.c.seq).where(recorded).limit(1))
            return 0 if found.first() is None else 1

    def recorded_any(self) -> bool:
        """Whether the log records any version at all, the first included."""
        with peeking(self.engine) as connection:
            return connection.execute(_ANY).first() is not None

    def note(self, subject: str, version: int) -> None:
        """A version this process has just committed, with its audit entry."""
        with self._lock:
            if version > self._latest.get(subject, 1):
                self._latest[subject] = version

    def catch_up(self, connection: Connection | None = None) -> None:
        """Read the versions the log recorded past the last entry read: one query of the
        log's last seq, and its tail only if it grew. ``connection``: the one the rows to
        judge were read on, after them (a snapshot of the log no older than the rows); None:
        one of the pool's."""
        if connection is None:
            with peeking(self.engine) as peeked:
                self._catch_up(peeked)
        else:
            self._catch_up(connection)

    def _catch_up(self, connection: Connection) -> None:
        postgres_ = self.postgres
        rows = (postgres.driver_rows if postgres_ else sqlite.driver_rows)(
            connection, _LAST_PG if postgres_ else _LAST_SQLITE, {}
        )
        last = rows[0][0]
        if last is None or last <= self._read:
            return  # the hot path: nothing recorded since by another process
        with self._lock:
            if last <= self._read:
                return  # another thread read it meanwhile
            parameters = {"after": self._read} | _PATTERNS
            rows = (postgres.driver_rows if postgres_ else sqlite.driver_rows)(
                connection, _SINCE_PG if postgres_ else _SINCE_SQLITE, parameters
            )
            last = self._read
            for seq, body, leaf in rows:
                if body is None:
                    last = max(last, int(seq))
                else:
                    self._take(str(body), bytes(leaf))
            self._read = last

    def follow(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """The entries this process has just committed (``AuditLog.on_entries``), taken as
        the log's tail would be when they follow the last entry read: the next check finds
        the log's last seq read, and reads nothing more. Otherwise (another process
        appended between) the next check reads the tail, these entries with it."""
        with self._lock:
            if int(entries[0]["seq"]) != self._read + 1:
                return
            for entry in entries:
                body = str(entry["body"])
                if SUBJECT in body and FIRST not in body:
                    self._take(body, bytes(entry["leaf"]))
            self._read = int(entries[-1]["seq"])

    def _take(self, body: str, leaf: bytes) -> None:
        """The version an entry records, if its body still matches its leaf hash."""
        encoded = body.encode("utf-8")
        if leaf_hash(encoded) != leaf:
            return  # an entry edited behind the log's back records nothing
        data = json.loads(encoded).get("data")
        if not isinstance(data, dict):
            return
        subject, version = data.get("subject"), data.get("version")
        if (
            isinstance(subject, str)
            and isinstance(version, int)
            and version > self._latest.get(subject, 1)
        ):
            self._latest[subject] = version
