"""The TAXII collections and the mirror of their objects that queries run on.

``StixIndex`` mirrors ``stix_objects`` in numpy columns, next to the node's label columns
(``Node.columns``). A query is ``decide_many`` over the label columns plus a few
vectorised masks (collection, type, id, added_after, version); ``Selection`` keeps what a
query selected so that a walk through its pages decides once, and a cursor is looked up
in it. The mirror takes in what the store gained by its own appends (``take``) or by a
refresh from the store (another process's writes).
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select

from gsoia.crypto.canonical import MAX_SAFE_INTEGER
from gsoia.errors import InputError
from gsoia.node import stix
from gsoia.store.schema import stix_deletions, stix_objects

MAX_PAGE = 1000
DEFAULT_PAGE = 100
_LAST_SEQS = select(
    select(func.max(stix_objects.c.seq)).scalar_subquery(),
    select(func.max(stix_deletions.c.seq)).scalar_subquery(),
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Collection:
    id: str
    alias: str
    title: str
    description: str


INTEL = Collection(
    id="9b1f4c7e-2d3a-4e5b-8f61-0c7a2b9d4e13",
    alias="intel",
    title="Intelligence",
    description=(
        "STIX 2.1 objects under the node's security-of-information agreements: each"
        " reader sees only what the agreements release to them, with its marking."
    ),
)
COLLECTIONS = (INTEL,)


def find_collection(key: str) -> Collection | None:
    """A collection by its id or its alias."""
    return next((c for c in COLLECTIONS if key in (c.id, c.alias)), None)


@dataclass(frozen=True)
class Query:
    """TAXII 2.1 filters (§3.4): each list is an OR of values; the fields are ANDed."""

    added_after: int | None = None  # microseconds since 1970
    ids: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    versions: tuple[str, ...] = ("last",)
    """``first``, ``last``, ``all`` or timestamps."""
    spec_versions: tuple[str, ...] | None = None
    limit: int = DEFAULT_PAGE
    cursor: tuple[int, int] | None = None
    """(date added in microseconds, stix seq) of the last object of the previous page."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"limit": self.limit, "version": list(self.versions)}
        if self.added_after is not None:
            out["added_after"] = stix.format_us(self.added_after)
        for name in ("ids", "types", "spec_versions"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value)[:20]
        return out


def encode_cursor(added_us: int, seq: int) -> str:
    return f"{added_us}-{seq}"


_CURSOR = re.compile(r"([0-9]{1,16})-([0-9]{1,16})")


def decode_cursor(text: str) -> tuple[int, int]:
    """``(date added in microseconds, seq)`` of a ``next`` value; ``InputError`` else."""
    found = _CURSOR.fullmatch(text)
    if found is None or max(int(found.group(1)), int(found.group(2))) > MAX_SAFE_INTEGER:
        raise InputError.of(
            "next", f"must be the 'next' value of a previous page (numbers to {MAX_SAFE_INTEGER})"
        )
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True)
class Selection:
    """Rows of the mirror that a query selects, in (date added, seq) order."""

    rows: IntArray

    def page(
        self, index: StixIndex, cursor: tuple[int, int] | None, limit: int
    ) -> tuple[IntArray, bool]:
        """The first ``limit`` rows after ``cursor``, and whether more follow (a binary
        search for the cursor: a page costs about the same whatever the collection's size).
        """
        start = 0
        if cursor is not None:
            added, seq = index.added, index.seq
            start = bisect.bisect_right(
                self.rows,
                cursor,
                key=lambda row: (int(added[row]), int(seq[row])),
            )
        found = self.rows[start : start + limit + 1]
        return found[:limit], len(found) > limit


# -- the mirror ---------------------------------------------------------------------------


class _Codes:
    """Strings as small integers (a code never changes once given)."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}

    def get(self, name: str) -> int:
        return self.code.setdefault(name, len(self.code))

    def find(self, names: Sequence[str]) -> IntArray:
        return np.array([self.code[n] for n in names if n in self.code], dtype=np.int64)


class StixIndex:
    """The ``stix_objects`` rows of the store in numpy columns, in ``seq`` order."""

    def __init__(self) -> None:
        self.size = 0
        self._capacity = 0
        self.seq: IntArray = np.zeros(0, dtype=np.int64)
        self.item_seq: IntArray = np.zeros(0, dtype=np.int64)
        self.added: IntArray = np.zeros(0, dtype=np.int64)
        self.version: IntArray = np.zeros(0, dtype=np.int64)
        self.type: IntArray = np.zeros(0, dtype=np.int64)
        self.stix_id: IntArray = np.zeros(0, dtype=np.int64)
        self.collection: IntArray = np.zeros(0, dtype=np.int64)
        self.spec: IntArray = np.zeros(0, dtype=np.int64)
        self.alive: BoolArray = np.zeros(0, dtype=np.bool_)
        self.label_row: IntArray = np.zeros(0, dtype=np.int64)
        """Where the item's label sits in ``Node.columns`` (-1: not found yet)."""
        self.types, self.ids, self.collections, self.specs = _Codes(), _Codes(), _Codes(), _Codes()
        self.versions_alive: IntArray = np.zeros(0, dtype=np.int64)
        """Per STIX id code: how many of its versions are in a collection."""
        self.keys: dict[tuple[str, str, str], int] = {}
        """(collection, STIX id, own version or "") of every row in a collection -> row."""
        self.key_of_row: list[tuple[str, str, str]] = []
        self.row_of_seq: dict[int, int] = {}
        self.last_seq = 0
        self.last_deletion = 0
        self.last_added = 0
        self.in_added_order = True
        self._order: IntArray | None = None
        self.changes = 0
        """Changes with every row taken in or forgotten (what a cached selection depends on)."""
        self.lock = threading.Lock()

    _COLUMNS = (
        "seq",
        "item_seq",
        "added",
        "version",
        "type",
        "stix_id",
        "collection",
        "spec",
        "alive",
        "label_row",
    )

    def _grow(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = max(needed, 2 * self._capacity, 1024)
        for name in self._COLUMNS:
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
        self._capacity = capacity

    def refresh(self, connection: Connection) -> None:
        """Take in the rows added, and the deletions made, since the last refresh."""
        with self.lock:
            last_seq, last_deletion = connection.execute(_LAST_SEQS).one()
            if (last_seq or 0) <= self.last_seq and (last_deletion or 0) <= self.last_deletion:
                return  # nothing new: one query
            rows = connection.execute(
                select(
                    stix_objects.c.seq,
                    stix_objects.c.item_seq,
                    stix_objects.c.added_us,
                    stix_objects.c.version_us,
                    stix_objects.c.version,
                    stix_objects.c.type,
                    stix_objects.c.stix_id,
                    stix_objects.c.collection,
                    stix_objects.c.spec_version,
                    stix_objects.c.date_added,
                )
                .where(stix_objects.c.seq > self.last_seq)
                .order_by(stix_objects.c.seq)
            ).all()
            if rows:
                self._append(rows)
            deletions = connection.execute(
                select(stix_deletions.c.seq, stix_deletions.c.object_seq)
                .where(stix_deletions.c.seq > self.last_deletion)
                .order_by(stix_deletions.c.seq)
            ).all()
            for deletion, object_seq in deletions:
                self.last_deletion = deletion
                row = self.row_of_seq.get(object_seq)
                if row is not None and self.alive[row]:
                    self._forget(row)

    def take(self, rows: Sequence[tuple[Any, ...]], after: int) -> None:
        """Take in rows this process has just committed (as ``refresh`` reads them, in seq
        order), when every row up to ``after`` (the table's last seq before them) is in.

        Otherwise (a refresh took them meanwhile, or another process committed rows this
        mirror lacks) leave it: the next ``refresh`` reads what is missing from the store.
        """
        with self.lock:
            if rows and self.last_seq == after:
                self._append(rows)

    def _append(self, rows: Sequence[Any]) -> None:
        start = self.size
        self._grow(start + len(rows))
        n = len(rows)
        end = start + n
        self.seq[start:end] = [r[0] for r in rows]
        self.item_seq[start:end] = [r[1] for r in rows]
        self.added[start:end] = [r[2] for r in rows]
        self.version[start:end] = [r[3] for r in rows]
        self.type[start:end] = [self.types.get(r[5]) for r in rows]
        id_codes = [self.ids.get(r[6]) for r in rows]
        self.stix_id[start:end] = id_codes
        self.collection[start:end] = [self.collections.get(r[7]) for r in rows]
        self.spec[start:end] = [self.specs.get(r[8]) for r in rows]
        self.alive[start:end] = True
        self.label_row[start:end] = -1
        if len(self.versions_alive) < len(self.ids.code):
            grown = np.zeros(max(len(self.ids.code), 2 * len(self.versions_alive)), np.int64)
            grown[: len(self.versions_alive)] = self.versions_alive
            self.versions_alive = grown
        np.add.at(self.versions_alive, np.array(id_codes, dtype=np.int64), 1)
        for i, r in enumerate(rows):
            key = (r[7], r[6], "" if r[4] == r[9] else r[4])  # version = date added: none
            self.row_of_seq[r[0]] = start + i
            self.keys[key] = start + i
            self.key_of_row.append(key)
        added = self.added[max(0, start - 1) : end]
        if self.in_added_order and bool(np.any(np.diff(added) < 0)):
            self.in_added_order = False  # rows from several processes: sort on demand
        self.last_added = max(self.last_added, int(added.max()))
        self.size = end
        self.last_seq = int(rows[-1][0])
        self._order = None
        self.changes += 1

    def _forget(self, row: int) -> None:
        self.changes += 1
        self.alive[row] = False
        self.versions_alive[self.stix_id[row]] -= 1
        key = self.key_of_row[row]
        if self.keys.get(key) == row:
            del self.keys[key]

    def order(self) -> IntArray | None:
        """Rows sorted by (date added, seq); None when the rows already are."""
        if self.in_added_order:
            return None
        if self._order is None:
            n = self.size
            self._order = np.lexsort((self.seq[:n], self.added[:n])).astype(np.int64)
        return self._order

    def visible(self, label_seqs: IntArray, allowed: BoolArray) -> BoolArray:
        """Per row: its item is allowed (``allowed`` runs over ``Node.columns`` rows).

        Deny by default: a row whose item has no label column yet is not visible.
        """
        n = self.size
        rows = self.label_row[:n]
        m = len(label_seqs)
        stale = rows < 0
        if m and not stale.all():
            known = ~stale
            stale[known] = label_seqs[rows[known]] != self.item_seq[:n][known]
        if stale.any() and m:
            wanted = self.item_seq[:n][stale]
            at = np.minimum(np.searchsorted(label_seqs, wanted), m - 1)
            rows[stale] = np.where(label_seqs[at] == wanted, at, -1)
        out = np.zeros(n, dtype=np.bool_)
        found = rows >= 0
        out[found] = allowed[rows[found]]
        return out

    def select(
        self,
        visible: BoolArray,
        collection: str,
        query: Query,
        *,
        object_id: str | None = None,
        versions: bool = True,
    ) -> tuple[IntArray, bool]:
        """Rows of one page, in (date added, seq) order, and whether more follow.

        ``versions=False`` skips the version filter (the versions endpoint lists all).
        """
        found = self.selection(visible, collection, query, object_id=object_id, versions=versions)
        return found.page(self, query.cursor, query.limit)

    def selection(
        self,
        visible: BoolArray,
        collection: str,
        query: Query,
        *,
        object_id: str | None = None,
        versions: bool = True,
    ) -> Selection:
        """Every row a query selects, its cursor and limit aside, in (date added, seq) order:
        a walk through the pages selects once and then only looks up where each page starts.
        """
        n = self.size
        code = self.collections.code.get(collection)
        if code is None or n == 0:
            return Selection(np.zeros(0, dtype=np.int64))
        mask = visible & self.alive[:n] & (self.collection[:n] == code)
        ids = (object_id,) if object_id is not None else query.ids
        if ids is not None:
            mask &= np.isin(self.stix_id[:n], self.ids.find(ids))
        if query.types is not None:
            mask &= np.isin(self.type[:n], self.types.find(query.types))
        if query.spec_versions is not None:
            mask &= np.isin(self.spec[:n], self.specs.find(query.spec_versions))
        # else: the latest spec version of each object; INVARIANT: only 2.1 is stored
        if query.added_after is not None:
            mask &= self.added[:n] > query.added_after
        if versions and "all" not in query.versions:
            mask = self._versions(mask, query.versions)
        order = self.order()
        rows = np.flatnonzero(mask) if order is None else order[mask[order]]
        return Selection(rows.astype(np.int64))

    def _versions(self, mask: BoolArray, wanted: tuple[str, ...]) -> BoolArray:
        """Keep, per object, the versions asked for among those ``mask`` selects."""
        n = self.size
        keep = np.zeros(n, dtype=np.bool_)
        stamps = [stix.timestamp_us(v) for v in wanted if v not in ("first", "last")]
        if stamps:
            keep |= mask & np.isin(self.version[:n], np.array(stamps, dtype=np.int64))
        if "first" in wanted or "last" in wanted:
            rows = np.flatnonzero(mask)
            several = self.versions_alive[self.stix_id[rows]] > 1
            keep[rows[~several]] = True  # an object's only version is its first and last
            rows = rows[several]
            if len(rows):
                order = np.lexsort((self.seq[rows], self.version[rows], self.stix_id[rows]))
                ids = self.stix_id[rows][order]
                if "first" in wanted:
                    first = np.ones(len(ids), dtype=np.bool_)
                    first[1:] = ids[1:] != ids[:-1]
                    keep[rows[order[first]]] = True
                if "last" in wanted:
                    last = np.ones(len(ids), dtype=np.bool_)
                    last[:-1] = ids[1:] != ids[:-1]
                    keep[rows[order[last]]] = True
        return keep
