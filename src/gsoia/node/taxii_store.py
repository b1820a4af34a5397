"""STIX objects stored as items, and read back by TAXII 2.1 queries, filtered by agreement.

Each STIX object (each version of one) is an item of the node: its content is the object's
JSON (encrypted, signed and audited like any item), its title the object's ``name`` or
type, its label the confidentiality-label extension (``gsoia.node.stix``). A row of
``stix_objects`` keeps what TAXII filters and sorts on: collection, STIX id, type, spec
version, version and the date the node added it.

Writing: one envelope (at most ``MAX_ENVELOPE`` objects) is one ``Node.store_items`` call
(one transaction) for all its valid objects; each refused object is counted in the status
resource and never stored. The status resource keeps the counts and the first
``STATUS_DETAILS`` successes and failures, never a copy of the envelope: its size is
bounded whatever the envelope.

Reading: ``StixIndex`` mirrors ``stix_objects`` in numpy columns, next to the node's label
columns (``Node.columns``). A query is ``decide_many`` over the label columns plus a few
vectorised masks (collection, type, id, added_after, version), kept per caller and filters
until the columns, the mirror or the day change (a walk through the pages decides once),
and a cursor looked up in what they selected; only the page found is read from the store,
each of its items confirmed on its verified label, decrypted and emitted. Objects the
caller may not see are never emitted, counted or named: to the caller they do not exist.
A read takes no lock (``reading``): its audit entry is appended afterwards, group-committed
with concurrent requests (``AuditLog.batched``), and the objects are returned only once it
is.

Deleting removes an object from its collection (``stix_deletions`` records it); the node
keeps the item and its audit trail — a classified record is not destroyed by an API call.

Every worker of a node refreshes its mirror from the store at the start of each request,
so several ``gsoia serve`` processes (and the CLI) can share one store.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from gsoia.audit.log import AuditTransaction
from gsoia.decision.ruling import Decision
from gsoia.errors import InputError
from gsoia.node import stix
from gsoia.node.authority import Action, Target
from gsoia.node.errors import Conflict, NotFound
from gsoia.node.item import StoredItem, decision_key, item_label, item_of
from gsoia.node.labels4774 import originator_label_text
from gsoia.node.listing import subject_key
from gsoia.node.recent import Recent
from gsoia.node.stix_index import (
    INTEL,
    MAX_PAGE,
    BoolArray,
    Collection,
    Query,
    Selection,
    StixIndex,
    decode_cursor,
    encode_cursor,
)
from gsoia.node.taxii_envelope import sort_objects, status_resource, stix_rows
from gsoia.node.users import User
from gsoia.node.visible import visible_rows
from gsoia.store.database import reading
from gsoia.store.postgres import any_of, bigint_array
from gsoia.store.schema import SEQ_CEILING, items, stix_deletions, stix_objects, taxii_status
from gsoia.store.sqlite import in_json_array, int_json_array

if TYPE_CHECKING:
    from gsoia.node.service import Node

MAX_ENVELOPE = 10_000
"""Objects in one envelope, at most (more is refused whole, before any object is read)."""
AUDITED_REFUSALS = 20
"""Refusal reasons a ``taxii.added`` entry names (its count is complete)."""
_LAST_STIX_SEQ = select(func.max(stix_objects.c.seq))
_INSERT_STIX = insert(stix_objects)
_STIX_SEQS_AFTER = (
    select(stix_objects.c.seq, stix_objects.c.item_id)
    .where(stix_objects.c.seq > bindparam("after"), stix_objects.c.seq <= SEQ_CEILING)
    .order_by(stix_objects.c.seq)
)
_INSERT_STATUS = insert(taxii_status)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- the store ----------------------------------------------------------------------------


@dataclass
class Page:
    """One page of a query: the rows emitted (joined with their items), more or not."""

    rows: list[Any]
    more: bool
    next: str | None
    """The cursor after the last row selected (emitted or not)."""

    @property
    def first_added(self) -> str | None:
        return self.rows[0].date_added if self.rows else None

    @property
    def last_added(self) -> str | None:
        return self.rows[-1].date_added if self.rows else None


Progress = Callable[[int], None]


@dataclass(frozen=True)
class Added:
    """What came of an envelope: the status resource (bounded), and the whole counts."""

    status: dict[str, Any]
    stored: int
    present: int
    """Objects the collection held already (successes, nothing stored)."""
    failures: list[dict[str, Any]]
    """Every refused object's failure detail (the status keeps the first few)."""


class TaxiiStore:
    """The node's STIX objects: add envelopes, query, delete, status resources."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.index = StixIndex()
        self._clock_lock = threading.Lock()
        self._last_added = 0
        self._visible_rows: Recent[Hashable, BoolArray] = Recent(16)
        """Per (subject, day, label columns version, mirror changes): the rows visible."""
        self._selections: Recent[Hashable, Selection] = Recent(32)
        """Per visibility key and filters: the rows a query selects (paging reuses them)."""
        with reading(node.engine) as connection:
            self.index.refresh(connection)

    # -- writing --------------------------------------------------------------------------

    def _next_added(self, count: int) -> list[int]:
        """``count`` distinct, increasing dates added (microseconds): server time, UTC."""
        now_us = stix.datetime_us(self.node.clock().astimezone(dt.UTC))
        with self._clock_lock:
            start = max(now_us, self._last_added + 1, self.index.last_added + 1)
            self._last_added = start + count - 1
        return list(range(start, start + count))

    def add(
        self,
        user: User,
        collection: Collection,
        objects: Sequence[Any],
        *,
        request_timestamp: str | None = None,
    ) -> dict[str, Any]:
        """Store an envelope's objects; the status resource (complete) of TAXII 2.1 §4.3.1."""
        return self.add_envelope(
            user, collection, objects, request_timestamp=request_timestamp
        ).status

    def add_envelope(
        self,
        user: User,
        collection: Collection,
        objects: Sequence[Any],
        *,
        request_timestamp: str | None = None,
    ) -> Added:
        """Store an envelope's objects: what came of each, and the status resource.

        Each object is accepted (stored) or refused (reported, never stored) on its own
        (``taxii_envelope``); every accepted one is stored in one transaction.
        ``InputError`` for an envelope of more than ``MAX_ENVELOPE`` objects (nothing of
        it read).
        """
        node = self.node
        node.require(user, Action.CREATE)
        if len(objects) > MAX_ENVELOPE:
            raise InputError.of(
                "objects", f"{len(objects)} objects; an envelope holds at most {MAX_ENVELOPE}"
            )
        with reading(node.engine) as connection:
            self.index.refresh(connection)
        held = self.index.keys
        envelope = sort_objects(node, user, objects, lambda key: (collection.id, *key) in held)
        accepted = envelope.accepted
        added = self._next_added(len(accepted))
        status, status_row = status_resource(
            envelope, added, user.id, collection.id, request_timestamp or _now(node)
        )
        failures = envelope.failures
        reasons = [
            {"id": str(f["id"])[:100], "reason": str(f["message"])[:200]}
            for f in failures[:AUDITED_REFUSALS]
        ]

        def audited(tx: AuditTransaction) -> None:
            tx.connection.execute(_INSERT_STATUS, status_row)
            tx.append(
                "taxii.added",
                user.id,
                {
                    "status": status["id"],
                    "collection": collection.id,
                    "stored": len(accepted),
                    "refused": reasons,
                    "refused_count": len(failures),
                },
            )

        def on_stored(tx: AuditTransaction, stored: list[tuple[str, int]]) -> None:
            rows = stix_rows(accepted, stored, added, collection.id)
            if rows:
                connection = tx.connection
                after = connection.execute(_LAST_STIX_SEQ).scalar() or 0
                connection.execute(_INSERT_STIX, rows)
                # (a plain multi-row insert, then its seqs: cheaper than RETURNING)
                taken = _taken(rows, connection.execute(_STIX_SEQS_AFTER, {"after": after}).all())
                if taken:  # the mirror takes them in as they commit: no reading them back
                    tx.on_commit(lambda: self.index.take(taken, after))
            audited(tx)  # in the items' own transaction

        outcome = Added(status, len(accepted), len(envelope.successes), failures)
        if not accepted:
            node.audit.batched(audited)  # group-committed with concurrent requests
            return outcome
        try:
            node.store_items(user, [d for _, d in accepted], on_stored=on_stored, views=False)
        except IntegrityError as e:  # another request stored one of these meanwhile
            raise Conflict(
                "an object of this envelope was added by another request meanwhile;"
                " send the envelope again"
            ) from e
        return outcome

    def status(self, user: User, status_id: str) -> dict[str, Any]:
        """A status resource, to the user who posted the envelope (or an officer)."""
        node = self.node
        node.require(user, Action.STATUS)
        if _UUID.fullmatch(status_id) is None:  # a status id is a UUID: nothing else is
            raise NotFound(f"no status {status_id[:64]!r}")
        with reading(node.engine) as connection:
            row = connection.execute(
                select(taxii_status).where(taxii_status.c.id == status_id)
            ).first()
        owner = None if row is None else row.owner
        if (
            row is None
            or not node.authority.decide(
                user, Action.STATUS, Target(owner=owner), node.today()
            ).allowed
        ):
            raise NotFound(f"no status {status_id[:64]}")
        body: dict[str, Any] = json.loads(row.body)
        return body

    # -- reading --------------------------------------------------------------------------

    def query(
        self,
        user: User,
        collection: Collection,
        query: Query,
        *,
        object_id: str | None = None,
        versions: bool = True,
        what: str = "objects",
        content: bool = True,
    ) -> tuple[Page, list[bytes]]:
        """One page of what ``user`` may see, and (``content``) the objects themselves, each
        as JSON text (UTF-8)."""
        node = self.node
        node.require(user, Action.LIST)
        # Read and decide in a snapshot that takes no lock; the write lock is taken only to
        # append the audit entry, group-committed with concurrent requests.
        with reading(node.engine) as connection:
            node.refresh(connection)
            self.index.refresh(connection)
            with self.index.lock:
                found = self._selection(user, collection, query, object_id, versions)
                rows, more = found.page(self.index, query.cursor, query.limit)
                seqs = [int(s) for s in self.index.seq[rows]]
            selected = self._rows(connection, seqs)
            node.versions.catch_up(connection)  # the log as it is, after the rows
        cursor = None
        if more and selected:
            cursor = encode_cursor(int(selected[-1].added_us), int(selected[-1].stix_seq))
        objects: list[bytes] = []
        confirmed = []
        flagged = []
        subject = user.subject()
        decisions: dict[tuple[Any, ...], Decision] = {}  # the page's labels, each decided once
        reasons: Counter[str] = Counter()
        for row in selected:
            # Confirmed one by one on the verified label: a column edited behind the node's
            # back shows nothing it should not.
            item = item_of(row)
            if not node.intact(item, caught_up=True):
                flagged.append(row.id)
                continue
            key = decision_key(item)
            decision = decisions.get(key)
            if decision is None:
                decision = decisions[key] = node.decide_row(user, item, subject, counted=False)
            reasons[decision.reason.value] += 1
            if not decision.allow:
                continue
            confirmed.append(row)
            if content:
                objects.append(self._emit(row, item, decision))
        for reason, count in reasons.items():  # counted as if decided one by one
            node.metrics.decisions.labels(reason).inc(count)
        entry = {
            "collection": collection.id,
            "filter": query.to_dict() | ({"id": object_id} if object_id else {}),
            "items": [row.id for row in confirmed],
        }

        def audited(tx: AuditTransaction) -> None:
            for item_id in flagged:
                tx.append("integrity", user.id, {"item": item_id, "where": f"taxii {what}"})
            tx.append(f"taxii.{what}", user.id, entry)

        node.audit.batched(audited, isolated=False)  # returned only once their read is logged
        return Page(confirmed, cursor is not None, cursor), objects

    def _selection(
        self,
        user: User,
        collection: Collection,
        query: Query,
        object_id: str | None,
        versions: bool,
    ) -> Selection:
        """The rows a query selects for ``user`` (its cursor and limit aside), kept for the
        next pages until the label columns, the mirror or the day change. The caller holds
        the mirror's lock."""
        node = self.node
        snapshot = node.columns.snapshot()
        day = node.today()
        visibility = (subject_key(user), day, snapshot.version, self.index.changes)
        key = (
            visibility,
            collection.id,
            query.added_after,
            query.ids,
            query.types,
            query.versions,
            query.spec_versions,
            object_id,
            versions,
        )
        found = self._selections.get(key)
        if found is None:
            visible = self._visible_rows.get(visibility)
            if visible is None:
                # INVARIANT: the label columns only grow, and a row is complete before it
                # counts: the snapshot's seqs are those its table was taken over.
                allowed = visible_rows(node.rulebook, user.subject(), snapshot, day)
                visible = self.index.visible(snapshot.seqs, allowed)
                self._visible_rows.put(visibility, visible)
            found = self.index.selection(
                visible, collection.id, query, object_id=object_id, versions=versions
            )
            self._selections.put(key, found)
        return found

    def _visible(self, user: User) -> BoolArray:
        """Per mirrored row: may ``user`` see its item (``decide_many``, vectorised)."""
        node = self.node
        snapshot = node.columns.snapshot()
        allowed = visible_rows(node.rulebook, user.subject(), snapshot, node.today())
        return self.index.visible(snapshot.seqs, allowed)

    def _rows(self, connection: Connection, seqs: list[int]) -> list[Any]:
        """The items of these STIX objects with the objects' metadata, in ``seqs`` order:
        the item's columns first (``item_of``), ``version`` the object's."""
        if not seqs:
            return []
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            found = connection.execute(_OBJECTS_PG, {"seqs": bigint_array(seqs)}).all()
        else:
            found = connection.execute(_OBJECTS, {"seqs": int_json_array(seqs)}).all()
        by_seq = {row.stix_seq: row for row in found}
        return [by_seq[s] for s in seqs if s in by_seq]

    def _emit(self, row: Any, item: StoredItem, decision: Decision) -> bytes:
        """The stored object (``item``, of ``row``), as JSON; a copy held for another
        originator with the custodian's marking in its label."""
        # INVARIANT: an item with a stix_objects row holds the JSON of a STIX object
        # (TaxiiStore.add stored it), bound to its label by the node's signature.
        content = self.node.decrypt(item)
        relabelled = None
        if item.version > 1:  # changed since stored: its label, if it was reclassified
            catalogue = self.node.rulebook.catalogue
            label = dict(item_label(item))
            relabelled = stix.relabelled(
                json.loads(content), label, lambda: originator_label_text(catalogue, label)
            )
        if row.custodian == row.originator and not row.custodian_marking:
            if relabelled is None:
                return content
            return json.dumps(relabelled, ensure_ascii=False, separators=(",", ":")).encode()
        marking = row.custodian_marking or (
            decision.marking.text if decision.marking else row.custodian
        )
        obj = stix.labelled(relabelled or json.loads(content), row.custodian, marking)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def iterate(
        self, user: User, collection: Collection, query: Query, progress: Progress | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every object of a query, page after page (for export)."""
        cursor = query.cursor
        while True:
            page, objects = self.query(
                user, collection, _replace(query, cursor=cursor, limit=MAX_PAGE)
            )
            yield from (json.loads(o) for o in objects)
            if progress is not None:
                progress(len(objects))
            if page.next is None:
                return
            cursor = decode_cursor(page.next)

    # -- deleting -------------------------------------------------------------------------

    def delete(self, user: User, collection: Collection, object_id: str, query: Query) -> list[str]:
        """Remove the matching versions the caller may see from the collection.

        Only users of the node's nation delete; a version the caller may not see is left
        alone. ``NotFound`` when nothing the caller may see matches.
        """
        node = self.node
        node.require(user, Action.WITHDRAW)
        removed: list[str] = []
        query = _replace(query, limit=1_000_000, cursor=None)
        with node.audit.transaction() as tx:
            connection = tx.connection
            node.refresh(connection)
            self.index.refresh(connection)
            with self.index.lock:
                visible = self._visible(user)
                rows, _ = self.index.select(visible, collection.id, query, object_id=object_id)
                seqs = [int(s) for s in self.index.seq[rows]]
            now = node.audit.now()
            selected = self._rows(connection, seqs)
            node.versions.catch_up(connection)  # once for them all, after the rows
            for row in selected:
                verdict = node.verdict_on(user, Action.WITHDRAW, item_of(row), caught_up=True)
                if verdict is None or not verdict.allowed:
                    continue
                connection.execute(delete(stix_objects).where(stix_objects.c.seq == row.stix_seq))
                connection.execute(
                    insert(stix_deletions).values(
                        object_seq=row.stix_seq, item_id=row.id, deleted_by=user.id, deleted_at=now
                    )
                )
                removed.append(row.version)
                tx.append(
                    "taxii.deleted",
                    user.id,
                    {"item": row.id, "stix_id": object_id, "version": row.version},
                )
            if not removed:
                raise NotFound(f"no object {object_id[:300]}")
            self.index.refresh(connection)
        return removed


def record_received(
    connection: Connection,
    item_id: str,
    item_seq: int,
    content: bytes,
    added_us: int,
    collection: Collection = INTEL,
) -> bool:
    """Place an item received from a partner in ``collection`` if it is a STIX object.

    For federation: called in the transaction that stores the received item, so this
    node's TAXII readers see the object, with the custodian's marking, as the agreements
    allow. False (nothing recorded) when the content is not a labelled STIX 2.1 object or
    that version is already in the collection.
    """
    try:
        found = stix.check_object(json.loads(content))
    except (ValueError, UnicodeDecodeError, stix.Refused):
        return False
    date_added = stix.format_us(added_us)
    version = found.version or date_added
    present = connection.execute(
        select(stix_objects.c.seq).where(
            stix_objects.c.collection == collection.id,
            stix_objects.c.stix_id == found.stix_id,
            stix_objects.c.version == version,
        )
    ).first()
    if present is not None:
        return False
    connection.execute(
        insert(stix_objects).values(
            item_id=item_id,
            item_seq=item_seq,
            collection=collection.id,
            stix_id=found.stix_id,
            type=found.type,
            spec_version=found.spec_version,
            version=version,
            version_us=added_us if found.version_us is None else found.version_us,
            date_added=date_added,
            added_us=added_us,
        )
    )
    return True


def _replace(query: Query, **changes: Any) -> Query:
    return Query(**(vars(query) | changes))


def _taken(rows: Sequence[dict[str, Any]], found: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``rows`` just inserted, as ``StixIndex.refresh`` reads them, in seq order; none unless
    ``found`` ((seq, item id) of the rows after the table's last seq before them) is exactly
    these rows (else a refresh reads whatever the mirror lacks)."""
    seq_of = {item_id: seq for seq, item_id in found}
    if len(found) != len(rows) or any(r["item_id"] not in seq_of for r in rows):
        return []
    return sorted(
        (
            seq_of[r["item_id"]],
            r["item_seq"],
            r["added_us"],
            r["version_us"],
            r["version"],
            r["type"],
            r["stix_id"],
            r["collection"],
            r["spec_version"],
            r["date_added"],
        )
        for r in rows
    )


def _now(node: Node) -> str:
    return node.clock().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_ITEM_COLUMNS = [
    column.label("item_version") if column.name == "version" else column for column in items.c
]
"""Every column of items, in order (``item_of``), its version named apart from the STIX
object's ``version``."""
_JOINED = select(
    *_ITEM_COLUMNS,
    stix_objects.c.seq.label("stix_seq"),
    stix_objects.c.stix_id,
    stix_objects.c.version,
    stix_objects.c.spec_version,
    stix_objects.c.date_added,
    stix_objects.c.added_us,
).join(stix_objects, stix_objects.c.item_id == items.c.id)
_OBJECTS = _JOINED.where(in_json_array(stix_objects.c.seq, "seqs"))
"""The STIX objects of a page with their items (built once: a page costs no statement
built anew), their seqs as one JSON array (SQLite)."""
_OBJECTS_PG = _JOINED.where(any_of(stix_objects.c.seq, "seqs"))
"""``_OBJECTS`` on PostgreSQL: the page's seqs as one array parameter (its text)."""
