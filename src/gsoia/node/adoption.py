"""Rows stored before versions (migration 0010): signed and recorded once, at first open.

Migration 0010 gives every existing item, user and peer version 1, and marks the database
(``meta``: ``PENDING``) when it held any; it cannot sign. The node adopts them as it first
opens the database: each item whose signature still verifies as it was made before
versions (over the same columns, without the version) is signed again with its version;
each account and each pin is signed as found; each gets an entry recording its version 1,
and one ``rows.adopted`` entry closes the adoption.

What is adopted is trusted as found: an account or a pin edited in SQL before the upgrade
is signed as it was edited (nothing signed them before), an item is adopted only if its
old signature holds. Adoption is done once: only while the log records no version at all
(a log of the node before versions; a node created since records one with its first
account), and not for an empty log. Marking the database again later adopts nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, delete, select, update

from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import binding_message, digest, sign, verify
from gsoia.node.item import ITEM, StoredItem, signed_fields
from gsoia.node.signed_rows import PEER_FIELDS, USER_FIELDS, RowSeal
from gsoia.node.versions import item_subject, versioned
from gsoia.store.schema import items, meta, peers, users

if TYPE_CHECKING:
    from gsoia.audit.log import AuditTransaction
    from gsoia.node.service import Node

PENDING = "rows_unversioned"
"""The ``meta`` row migration 0010 leaves where the tables held rows to adopt."""
ADOPTED = "node:adoption"
"""The subject of the ``rows.adopted`` entry: recorded once."""


def adopt(node: Node) -> None:
    """Sign and record the rows stored before versions (module docstring); then unmark."""
    versions = node.versions
    seals = {
        "user": (users, RowSeal("user", USER_FIELDS, node.keys.signing, b"", versions)),
        "peer": (peers, RowSeal("peer", PEER_FIELDS, node.keys.signing, b"", versions)),
    }
    noted: list[tuple[str, int]] = []
    with node.audit.transaction() as tx:
        connection = tx.connection
        if node.audit.head() is not None and not versions.recorded_any():
            counts: dict[str, Any] = {"items": _adopt_items(node, tx, noted)}
            for kind, (table, seal) in seals.items():
                counts[f"{kind}s"] = _adopt_rows(tx, table, seal, noted)
            tx.append("rows.adopted", "node", versioned(counts, ADOPTED, 1))
            noted.append((ADOPTED, 1))
        connection.execute(delete(meta).where(meta.c.name == PENDING))

        def publish() -> None:
            for subject, version in noted:
                versions.note(subject, version)

        tx.on_commit(publish)


def _adopt_items(node: Node, tx: AuditTransaction, noted: list[tuple[str, int]]) -> dict[str, int]:
    """Sign again, with its version, each item whose signature from before versions holds."""
    connection: Connection = tx.connection
    adopted, refused = 0, 0
    for item in map(StoredItem._make, connection.execute(ITEM.order_by(items.c.seq)).all()):
        if not _held_before_versions(node, item):
            refused += 1  # stays refused: it no longer matches what the node signed
            continue
        signature = sign(
            node.keys.signing, binding_message(signed_fields(item), bytes(item.content_digest))
        )
        connection.execute(
            update(items).where(items.c.seq == item.seq).values(version=1, signature=signature)
        )
        subject = item_subject(item.id)
        tx.append("item.version", "node", versioned({"item": item.id}, subject, 1))
        noted.append((subject, 1))
        adopted += 1
    return {"adopted": adopted, "refused": refused}


def _held_before_versions(node: Node, item: StoredItem) -> bool:
    """The item matches the signature the node made before versions (no version in it)."""
    if item.custodian != node.nation or digest(bytes(item.ciphertext)) != item.content_digest:
        return False
    fields = signed_fields(item)
    del fields["version"]
    try:
        message = binding_message(fields, bytes(item.content_digest))
        verify(node.public.signing, message, bytes(item.signature))
    except (BadSignature, ValueError, TypeError):
        return False
    return True


def _adopt_rows(
    tx: AuditTransaction, table: Table, seal: RowSeal, noted: list[tuple[str, int]]
) -> int:
    """Sign each row of ``table`` as found, in version 1; how many."""
    connection: Connection = tx.connection
    key = table.c[seal.fields[0]]
    rows = [dict(r._mapping) for r in connection.execute(select(table).order_by(key))]
    for row in rows:
        row["version"] = 1
        connection.execute(
            update(table)
            .where(key == row[seal.fields[0]])
            .values(version=1, signature=seal.signature(row))
        )
        subject = seal.subject(row)
        tx.append(f"{seal.kind}.version", "node", versioned({seal.kind: subject}, subject, 1))
        noted.append((subject, 1))
    return len(rows)
