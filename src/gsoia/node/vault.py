"""The item vault: the only code that reads or writes the items table and its crypto.

It encrypts and signs items as they are stored, checks a stored item against the node's
signature and the audit log's latest version of it (``intact``), decrypts its content,
rewrites its label or custody (signed again, in its next version), signs every item again
under a new key (``resign``), and reads what the listing needs: the encoded labels, the
items of a page, what changed since a listing last looked.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.sql.elements import Label as Labelled

from gsoia.crypto import aead
from gsoia.crypto.errors import BadSignature, DecryptionFailed
from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.signing import binding_message, digest, sign, verify
from gsoia.decision.labels import encode_label
from gsoia.decision.request import HeldLabel, categories_of
from gsoia.decision.tables import Codes
from gsoia.node.categories import from_column
from gsoia.node.columns import EncodedLabel, from_bits, to_bits
from gsoia.node.envelopes import Envelopes
from gsoia.node.errors import IntegrityFailure
from gsoia.node.item import (
    ITEM,
    SIGNED,
    StoredItem,
    bound_fields,
    held_label,
    signed_columns,
    signed_fields,
)
from gsoia.node.origin import make_seal, origin_fields
from gsoia.node.recent import Recent
from gsoia.node.versions import RowVersions, item_subject
from gsoia.store import sqlite
from gsoia.store.postgres import any_of, bigint_array, compiled, driver_rows, insert_one
from gsoia.store.schema import SEQ_CEILING, items, relabels, topics

Encoding = tuple[int, int, int, int]
"""A label as ``encode_label`` gives it: key, custodian, open bits, need bits."""
BoolArray = npt.NDArray[np.bool_]
SeqArray = npt.NDArray[np.int64]


class RowVersion(NamedTuple):
    """PostgreSQL: an item in one version (``xmin``: the transaction that last wrote it)."""

    seq: int
    version: int


class Changed(NamedTuple):
    """An item stored (``relabel`` 0) or relabelled (its number in ``relabels``) since a
    listing last looked."""

    relabel: int
    seq: int
    label_key: int
    custodian_code: int
    open_bits: bytes
    need_bits: bytes
    categories: str | None

    def encoded(self) -> EncodedLabel:
        return EncodedLabel(
            self.seq,
            self.label_key,
            self.custodian_code,
            from_bits(self.open_bits),
            from_bits(self.need_bits),
            listed_categories(self.categories),
        )


_INSERT = insert(items).returning(items.c.seq, sort_by_parameter_order=True)
# Statements built once: SQLAlchemy then finds their compiled form without rebuilding
# a cache key per call.
_PAGE_SQLITE = sqlite.compiled(
    ITEM.where(sqlite.in_json_array(items.c.seq, "seqs")).order_by(items.c.seq)
)
"""SQLite: the items of a page, their seqs as one JSON array."""
# PostgreSQL: a page's seqs as one array parameter (its text), not a statement of 100
# parameters.
_XMIN: Labelled[int] = literal_column("xmin::text::bigint", BigInteger).label("version")
_IN_PAGE = any_of(items.c.seq, "seqs")
_PAGE_VERSIONS = select(items.c.seq, _XMIN).where(_IN_PAGE).order_by(items.c.seq)
"""PostgreSQL: the version of each item of a page."""
_PAGE_VERSIONED = ITEM.add_columns(_XMIN).where(_IN_PAGE)
"""PostgreSQL: items of a page not known in their version, with it."""
_ENCODED = (
    items.c.seq,
    items.c.label_key,
    items.c.custodian_code,
    items.c.open_bits,
    items.c.need_bits,
    items.c.categories,
)
_CHANGED_AFTER = union_all(
    select(literal_column("0", BigInteger).label("relabel"), *_ENCODED).where(
        items.c.seq > bindparam("last"), items.c.seq <= SEQ_CEILING
    ),
    select(relabels.c.id, *_ENCODED)
    .join_from(relabels, items, relabels.c.seq == items.c.seq)
    .where(relabels.c.id > bindparam("relabelled"), relabels.c.id <= SEQ_CEILING),
)
"""Items stored past a seq (``relabel`` 0), and items relabelled past a number, in one
round trip."""
# The two statements of every listing on PostgreSQL (and the insert of one created item),
# compiled once and run on the driver's own cursor: SQLAlchemy's execution and result
# machinery cost about as much CPU again as psycopg's (0.8 against 0.4 ms a listing,
# measured in one process).
_CHANGED_AFTER_PG = compiled(_CHANGED_AFTER)
_LAST_SEQ_SQLITE = sqlite.compiled(select(func.max(items.c.seq)))
_SEQS_AFTER_SQLITE = sqlite.compiled(
    select(items.c.id, items.c.seq).where(items.c.seq > bindparam("after"))
)
_CHANGED_AFTER_SQLITE = sqlite.compiled(_CHANGED_AFTER)
_PAGE_VERSIONS_PG = compiled(_PAGE_VERSIONS)
_HELD = select(items.c.id).where(items.c.id.in_(bindparam("ids", expanding=True)))
_RESIGN = (
    update(items)
    .where(items.c.seq == bindparam("row_seq"))
    .values(signature=bindparam("sig"), envelope=None, envelope_slot=None)
)
"""An item signed again on its own (an item of a batch leaves it)."""
_BATCH = 500
_RESIGNED = 1000
"""Items signed again per statement (``resign``)."""


def listed_categories(text: str | None) -> dict[str, list[str]] | None:
    """An item's categories column as the listing's columns hold them; a column that does
    not parse as every category of every tag, restrictive, so that nobody sees the row
    until the item is read (and found no longer intact)."""
    try:
        return from_column(text)
    except (ValueError, TypeError):
        return {"": ["(unreadable)"]}


def encoded_columns(encoded: Encoding) -> dict[str, Any]:
    """An encoded label as the items table stores it."""
    key, custodian, open_, need = encoded
    return {
        "label_key": key,
        "custodian_code": custodian,
        "open_bits": to_bits(open_, max(1, (open_.bit_length() + 63) // 64)),
        "need_bits": to_bits(need, max(1, (need.bit_length() + 63) // 64)),
    }


class Vault:
    """This node's items, encrypted at rest and signed: the items table's only reader
    and writer."""

    def __init__(
        self, engine: Engine, nation: str, keys: NodeKeys, codes: Codes, versions: RowVersions
    ) -> None:
        self.engine = engine
        self.versions = versions
        """The latest version of each item the audit log records (``intact``)."""
        self.nation = nation
        self.keys = keys
        self.codes = codes
        self.postgres = engine.dialect.name == "postgresql"
        self._public_signing = keys.public().signing
        self.envelopes = Envelopes(engine, keys.signing, self._public_signing)
        """The signatures of batches of items (``gsoia.node.envelopes``)."""
        self._intact: Recent[Hashable, tuple[Any, ...]] = Recent(100_000)
        """The signed columns of items found intact, by their signature or, for an item of
        a batch, its place in the batch (``intact``)."""
        self._verified: Recent[RowVersion, StoredItem] = Recent(20_000)
        """PostgreSQL: listed items found intact, by seq and row version (``page``)."""

    # -- crypto ---------------------------------------------------------------------------

    def intact(self, item: StoredItem, *, caught_up: bool = False) -> bool:
        """Label, custody and ciphertext still match the node's signature and columns, in
        the latest version the audit log records of the item (``gsoia.node.versions``), the
        versions caught up with the log first (one query) unless ``caught_up``: the caller
        did, on the connection it read the item on, after reading it (a page, a batch).

        The signature is the item's own, or for an item of a batch its batch's
        (``gsoia.node.envelopes``: the digest of the item's binding message at its slot).
        An item found intact is remembered: its signed columns (the ciphertext by its
        digest, recomputed each time), by its signature or its place in its batch. The same
        columns need no second signature check; any edit makes them differ from those
        remembered. The version is asked every time: an older row put back is signed, and
        was once remembered.
        """
        if not caught_up:
            self.versions.catch_up()
        try:
            if item.custodian != self.nation:
                return False
            if not self.versions.is_latest(item_subject(item.id), item.version):
                return False
            if digest(bytes(item.ciphertext)) != bytes(item.content_digest):
                return False
            columns = signed_columns(item)
            key = _remembered_by(item.signature, item.envelope, item.envelope_slot)
            if self._intact.get(key) == columns:
                return True
            message = binding_message(signed_fields(item), bytes(item.content_digest))
            if item.envelope is None:
                verify(self._public_signing, message, bytes(item.signature))
            elif item.envelope_slot is None or not self.envelopes.holds(
                item.envelope, item.envelope_slot, message
            ):
                return False
        except (BadSignature, ValueError, TypeError, KeyError):  # a column no longer parses
            return False
        self._intact.put(key, columns)
        return True

    def decrypt(self, item: StoredItem) -> bytes:
        """The item's content; ``IntegrityFailure`` if it cannot be decrypted."""
        context = str(item.id).encode()
        try:
            key = aead.unwrap_key(self.keys.storage, bytes(item.wrapped_key), context=context)
            return aead.decrypt(key, bytes(item.ciphertext), aad=context)
        except DecryptionFailed as e:
            raise IntegrityFailure(f"item {item.id}: its content cannot be decrypted") from e

    def sealed(self, fields: dict[str, Any], content: bytes) -> dict[str, Any]:
        """An item's columns (``fields``: the signed ones) with its content encrypted under
        a fresh key, that key wrapped, and the node's signature binding both."""
        stored, message = self._encrypted(fields, content)
        return stored | {"signature": sign(self.keys.signing, message)}

    def sealed_together(
        self, batch: Sequence[tuple[dict[str, Any], bytes]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``sealed`` for a batch of items (fields, content) stored in one transaction, one
        signature for them all: the batch's row (``Envelopes.insert`` it with the items)
        and the items' columns, each naming its place in the batch."""
        encrypted = [self._encrypted(fields, content) for fields, content in batch]
        envelope, places = self.envelopes.sealed([message for _, message in encrypted])
        return envelope, [
            stored | place for (stored, _), place in zip(encrypted, places, strict=True)
        ]

    def _encrypted(self, fields: dict[str, Any], content: bytes) -> tuple[dict[str, Any], bytes]:
        """An item's columns with its content encrypted under a fresh key and that key
        wrapped, and the binding message a signature covers."""
        item_id = str(fields["id"])
        content_key = aead.new_key()
        ciphertext = aead.encrypt(content_key, content, aad=item_id.encode())
        content_digest = digest(ciphertext)
        bound = bound_fields((name, fields.get(name)) for name in SIGNED)
        stored = fields | {
            "ciphertext": ciphertext,
            "wrapped_key": aead.wrap_key(self.keys.storage, content_key, context=item_id.encode()),
            "content_digest": content_digest,
        }
        return stored, binding_message(bound, content_digest)

    def origin_seal(self, fields: dict[str, Any], content: bytes) -> bytes:
        """This node's seal as the originator: travels unchanged with every copy
        (``gsoia.node.origin``)."""
        return make_seal(self.keys.signing, origin_fields(fields), content)

    def remember(self, stored: dict[str, Any]) -> None:
        """Columns signed here, just now: intact as written."""
        key = _remembered_by(
            stored["signature"], stored.get("envelope"), stored.get("envelope_slot")
        )
        self._intact.put(key, tuple(stored.get(n) for n in _REMEMBERED))

    # -- writing --------------------------------------------------------------------------

    def encode(self, label: HeldLabel, topic_bit: dict[str, int]) -> Encoding:
        return encode_label(self.codes, label, topic_bit)

    def insert(self, connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert items in one statement; their seqs, in the order of the rows.

        A single row (a creation through the API) goes through the driver's cursor, its
        statement compiled once (``store.postgres.insert_one``, ``store.sqlite.insert_rows``).
        On SQLite a batch is one ``executemany`` and one read of the seqs past the last
        before it (SQLAlchemy's INSERT ... RETURNING in parameter order runs there a row
        at a time).
        """
        if not self.postgres and len(rows) > 1:
            after = sqlite.driver_rows(connection, _LAST_SEQ_SQLITE)[0][0] or 0
            sqlite.driver_insert(connection, sqlite.insert_rows(items, tuple(rows[0])), rows)
            seq_of = dict(sqlite.driver_rows(connection, _SEQS_AFTER_SQLITE, {"after": after}))
            return [seq_of[row["id"]] for row in rows]
        if len(rows) == 1:
            (row,) = rows
            if self.postgres:
                inserted = driver_rows(connection, insert_one(items, tuple(row)), row)
            else:
                inserted = sqlite.driver_rows(
                    connection, sqlite.insert_rows(items, tuple(row), returning=True), row
                )
            return [seq for (seq,) in inserted]
        return list(connection.execute(_INSERT, rows).scalars())

    def topic_bits(
        self, connection: Connection, known: list[str], labels: Sequence[HeldLabel]
    ) -> tuple[dict[str, int], int]:
        """The bit of each registered topic, and how many are registered, in this transaction.

        ``known`` holds every topic committed; a topic it lacks may have been registered
        earlier in this very transaction (a batch): then the store is asked.
        """
        topic_bit = {t: i for i, t in enumerate(known)}
        if all(t in topic_bit for label in labels for t in label.get("need_to_know", [])):
            return topic_bit, len(topic_bit)
        rows = connection.execute(select(topics.c.topic, topics.c.bit).order_by(topics.c.bit))
        topic_bit = {topic: bit for topic, bit in rows}  # noqa: C416
        return topic_bit, len(topic_bit)

    def register_topics(
        self, connection: Connection, registered: int, topic_bit: dict[str, int]
    ) -> list[str]:
        """Store the topics given bits from ``registered`` on; returns them in bit order."""
        new = sorted(t for t, bit in topic_bit.items() if bit >= registered)
        new.sort(key=topic_bit.__getitem__)
        if new:
            connection.execute(insert(topics), [{"topic": t, "bit": topic_bit[t]} for t in new])
        return new

    def rewrite(
        self,
        connection: Connection,
        item: StoredItem,
        changes: dict[str, Any],
        known_topics: list[str],
    ) -> EncodedLabel:
        """Change an item's label or custody: checked, signed again in its next version,
        encoded again; a ``relabels`` row tells the other workers. Returns its new encoded
        label (the caller records the new version, ``item.version + 1``, in the log)."""
        self.versions.catch_up(connection)
        if not self.intact(item, caught_up=True):
            raise IntegrityFailure(f"item {item.id}: no longer matches its signature")
        changes = changes | {"version": item.version + 1}
        changed = item._replace(**changes)
        signature = sign(
            self.keys.signing,
            binding_message(signed_fields(changed), bytes(item.content_digest)),
        )
        topic_bit = {t: i for i, t in enumerate(known_topics)}
        encoded = self.encode(held_label(changed), topic_bit)
        connection.execute(
            update(items)
            .where(items.c.seq == item.seq)
            .values(
                **changes,
                signature=signature,
                envelope=None,  # signed on its own from now on
                envelope_slot=None,
                **encoded_columns(encoded),
            )
        )
        connection.execute(insert(relabels).values(seq=item.seq))  # for the other workers
        return EncodedLabel(item.seq, *encoded, categories_of(held_label(changed)))

    def resign(self, connection: Connection, new: NodeKeys) -> int:
        """Make each intact item's custody signature again with the key ``new``; how many.

        An item of a batch is signed on its own. An item that no longer matches its
        signature is left as it is: it stays refused.
        """
        last, count = 0, 0
        while True:
            batch = self.every_item(connection, after=last, limit=_RESIGNED)
            if not batch:
                return count
            self.versions.catch_up(connection)
            changes = [
                {
                    "row_seq": item.seq,
                    "sig": sign(
                        new.signing,
                        binding_message(signed_fields(item), bytes(item.content_digest)),
                    ),
                }
                for item in batch
                if self.intact(item, caught_up=True)
            ]
            if changes:
                connection.execute(_RESIGN, changes)
            count += len(changes)
            last = batch[-1].seq

    def reencode(self, connection: Connection, known_topics: list[str]) -> None:
        """Encode every item's label again (the catalogue changed), registering topics."""
        topic_bit = {t: i for i, t in enumerate(known_topics)}
        for item in map(StoredItem._make, connection.execute(ITEM).all()):
            encoded = self.encode(held_label(item), topic_bit)
            connection.execute(
                update(items).where(items.c.seq == item.seq).values(**encoded_columns(encoded))
            )
        self.register_topics(connection, len(known_topics), topic_bit)

    # -- reading --------------------------------------------------------------------------

    def held(self, connection: Connection, item_ids: list[str]) -> set[str]:
        """Which of these items this node holds already."""
        found: set[str] = set()
        for start in range(0, len(item_ids), _BATCH):
            chunk = item_ids[start : start + _BATCH]
            found.update(connection.execute(_HELD, {"ids": chunk}).scalars())
        return found

    def every_item(self, connection: Connection, *, after: int, limit: int) -> list[StoredItem]:
        """Up to ``limit`` items past the seq ``after``, in seq order."""
        query = ITEM.where(items.c.seq > after).order_by(items.c.seq).limit(limit)
        return list(map(StoredItem._make, connection.execute(query)))

    def labels(self, connection: Connection) -> list[EncodedLabel]:
        """Every item's encoded label, in seq order."""
        rows = connection.execute(select(*_ENCODED).order_by(items.c.seq))
        return [
            EncodedLabel(
                seq, key, custodian, from_bits(open_), from_bits(need), listed_categories(text)
            )
            for seq, key, custodian, open_, need, text in rows
        ]

    def last_relabel(self, connection: Connection) -> int:
        """The number of the last change of a label (0: none yet)."""
        return int(connection.execute(select(func.max(relabels.c.id))).scalar() or 0)

    def changed_after(self, connection: Connection, last: int, relabelled: int) -> list[Changed]:
        """Items stored past the seq ``last`` and items relabelled past ``relabelled``."""
        after = {"last": last, "relabelled": relabelled}
        if self.postgres:
            return list(map(Changed._make, driver_rows(connection, _CHANGED_AFTER_PG, after)))
        return list(
            map(Changed._make, sqlite.driver_rows(connection, _CHANGED_AFTER_SQLITE, after))
        )

    def page(self, connection: Connection, seqs: list[int]) -> list[tuple[StoredItem, int | None]]:
        """The items of a page in seq order, each with its version if it is intact
        (``intact``) and None if it is not.

        On SQLite every row is read and checked; its version is the item's own (the
        signed ``version``, which ``intact`` holds to the latest the audit log records:
        an intact row in one version has one set of signed columns).

        On PostgreSQL the page first reads each item's version (``xmin``, the transaction
        that wrote it: any UPDATE, by the node or behind its back, makes a new one); an
        item found intact in the same version is not read or checked again. The others are
        read with their version and checked.
        """
        if not self.postgres:
            page = sqlite.driver_rows(
                connection, _PAGE_SQLITE, {"seqs": sqlite.int_json_array(seqs)}
            )
            self.versions.catch_up(connection)  # after the rows: a log no older than they
            return [
                (item, item.version if self.intact(item, caught_up=True) else None)
                for item in map(StoredItem._make, page)
            ]
        versions = driver_rows(connection, _PAGE_VERSIONS_PG, {"seqs": bigint_array(seqs)})
        self.versions.catch_up(connection)
        known = {
            seq: (self._verified.get(RowVersion(seq, version)), version)
            for seq, version in versions
        }
        latest = self.versions.is_latest
        for seq, (item, version) in known.items():  # found intact, and still the latest?
            if item is not None and not latest(item_subject(item.id), item.version):
                known[seq] = (None, version)
        missing = [seq for seq, (item, _) in known.items() if item is None]
        checked: dict[int, tuple[StoredItem, int | None]] = {}
        if missing:
            rows = connection.execute(_PAGE_VERSIONED, {"seqs": bigint_array(missing)}).all()
            self.versions.catch_up(connection)
            for *columns, version in rows:
                item = StoredItem._make(columns)
                intact = self.intact(item, caught_up=True)
                if intact:
                    self._verified.put(RowVersion(item.seq, version), item)
                checked[item.seq] = (item, version if intact else None)
        return [
            (item, version) if item is not None else checked[seq]
            for seq, (item, version) in known.items()
            if item is not None or seq in checked
        ]

    def seqs_where(
        self, connection: Connection, *, area: str | None = None, q: str | None = None
    ) -> SeqArray:
        """The seqs of the items in ``area`` and with ``q`` in their title (any case)."""
        query = select(items.c.seq)
        if area is not None:
            query = query.where(items.c.area == area)
        if q is not None:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            if connection.dialect.name == "sqlite":  # SQLite's lower() knows only ASCII
                pattern = f"%{escaped.casefold()}%"
                query = query.where(func.casefold(items.c.title).like(pattern, escape="\\"))
            else:
                query = query.where(items.c.title.ilike(f"%{escaped}%", escape="\\"))
        return np.fromiter(connection.execute(query).scalars(), dtype=np.int64)


_REMEMBERED = (*SIGNED, "content_digest", "signature", "envelope", "envelope_slot")


def _remembered_by(signature: bytes, envelope: str | None, slot: int | None) -> Hashable:
    """What an item found intact is remembered by: its signature, or its place in its
    batch."""
    return bytes(signature) if envelope is None else (envelope, slot)
