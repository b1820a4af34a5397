"""One signature for the items of a batch (a TAXII envelope) rather than one an item.

An item stored alone carries the node's Ed25519 signature over its binding message
(``binding_message``: its signed columns and the SHA-384 of its ciphertext). The items of
a batch stored in one transaction carry none (an empty ``signature``); each names its
batch (``envelope``) and its place in it (``envelope_slot``), and the batch's row in
``item_envelopes`` holds the SHA-384 of each item's binding message, in slot order, and
the node's one signature over the batch's id and those digests (``envelope_message``).

An item of a batch is intact when the digest of its binding message is the one at its
slot of a batch whose signature holds: a column edited in SQL changes the digest, a row
moved to another batch or slot finds another digest there, a digest list altered or a
signature forged fails the signature. A batch verified (or signed) by this process is
remembered by id with its digests (``Envelopes``): a page of a hundred items of one
envelope verifies one signature, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, bindparam, insert, select

from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import DIGEST_SIZE, digest, sign, verify
from gsoia.node.recent import Recent
from gsoia.store.database import peeking
from gsoia.store.schema import item_envelopes

ENVELOPE_PREFIX = b"gsoia-item-envelope-v1\n"
"""Keeps an envelope's signature from being valid for any other message the key signs."""
REMEMBERED = 256
"""Batches remembered per process: 48 bytes an item, so 1.2 MB at 100 items a batch, at
most 123 MB at 10,000 (a TAXII envelope's largest)."""
_INSERT = insert(item_envelopes)
_BY_ID = select(item_envelopes.c.digests, item_envelopes.c.signature).where(
    item_envelopes.c.id == bindparam("id")
)


def envelope_message(envelope_id: str, digests: bytes) -> bytes:
    """The bytes the node signs for a batch: its id and its items' digests in slot order."""
    return ENVELOPE_PREFIX + envelope_id.encode("ascii") + b"\n" + digests


class Envelopes:
    """Signs batches of items as the node stores them, and checks an item against its
    batch (module docstring)."""

    def __init__(self, engine: Engine, key: Ed25519PrivateKey, public: bytes) -> None:
        self.engine = engine
        self._key = key
        self._public = public
        self._verified: Recent[str, bytes] = Recent(REMEMBERED)
        """The digests of batches whose signature held (or that this process signed)."""

    def sealed(self, messages: Sequence[bytes]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A new batch of items of these binding messages: its row, and each item's columns
        naming it (in the order of ``messages``)."""
        envelope_id = str(uuid.uuid4())
        digests = b"".join(digest(m) for m in messages)
        row = {
            "id": envelope_id,
            "digests": digests,
            "signature": sign(self._key, envelope_message(envelope_id, digests)),
        }
        places = [
            {"signature": b"", "envelope": envelope_id, "envelope_slot": slot}
            for slot in range(len(messages))
        ]
        return row, places

    def insert(self, connection: Connection, row: dict[str, Any]) -> None:
        """Store a batch's row (in the transaction that stores its items)."""
        connection.execute(_INSERT, row)

    def remember(self, row: dict[str, Any]) -> None:
        """A batch signed here, committed: its digests are known good."""
        self._verified.put(row["id"], row["digests"])

    def holds(self, envelope_id: str, slot: int, message: bytes) -> bool:
        """Whether ``message``'s digest is at ``slot`` of that batch, signed by this node."""
        digests = self._verified.get(envelope_id)
        if digests is None:
            digests = self._verify(envelope_id)
            if digests is None:
                return False
        at = slot * DIGEST_SIZE
        return (
            slot >= 0
            and at + DIGEST_SIZE <= len(digests)
            and (digests[at : at + DIGEST_SIZE] == digest(message))
        )

    def _verify(self, envelope_id: str) -> bytes | None:
        """The batch's digests, read and checked against its signature; None if it is not
        stored or its signature fails."""
        with peeking(self.engine) as connection:
            row = connection.execute(_BY_ID, {"id": envelope_id}).first()
        if row is None:
            return None
        digests = bytes(row.digests)
        try:
            verify(self._public, envelope_message(envelope_id, digests), bytes(row.signature))
        except (BadSignature, UnicodeEncodeError):
            return None
        self._verified.put(envelope_id, digests)
        return digests
