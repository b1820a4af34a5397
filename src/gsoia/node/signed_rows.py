"""The node's signature over the security fields of a user's or a pinned peer's row.

A user's nation, clearance, expiry, need-to-know, role, whether it is disabled, and its
token's hash decide what it is served; a peer's keys decide whose packages are opened and
to whom items are sealed. Each row carries the node's Ed25519 signature over those fields
and its ``version``, which the audit log records at every change (``gsoia.node.versions``):
a row edited in SQL no longer matches its signature, and an older row put back is not in
the latest version; either is refused (``RowSeal.holds``), not served. These rows are read
seldom, so the versions are caught up with the log each time (``holds_now``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import sign, verify
from gsoia.node.versions import RowVersions

USER_FIELDS = (
    "id",
    "nation",
    "clearance",
    "clearance_expires",
    "need_to_know",
    "role",
    "disabled",
    "token_hash",
    "version",
    "categories",
)
"""What a user's signature covers."""
OMITTED_WHEN_NONE = frozenset({"categories"})
"""Fields a row's message leaves out where they are NULL: a row of before, which has none,
is signed as it was (and a NULL put in or taken out changes the message all the same)."""
PEER_FIELDS = ("nation", "url", "signing_key", "sealing_key", "fingerprint", "version")
"""What a pinned peer's signature covers."""


def row_message(kind: str, fields: tuple[str, ...], row: Mapping[str, Any]) -> bytes:
    """The signed bytes of a row of ``kind`` (``user``, ``peer``): its ``fields``."""
    return f"gsoia-{kind}-row-v1\n".encode() + canonical_json(
        {
            name: _plain(row[name])
            for name in fields
            if name not in OMITTED_WHEN_NONE or row.get(name) is not None
        }
    )


def _plain(value: Any) -> Any:
    """A column as JSON has it: dates in ISO form, bytes in hex, booleans as booleans."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


class RowSeal:
    """Signs rows of one kind as the node writes them, and checks them as it reads them."""

    def __init__(
        self,
        kind: str,
        fields: tuple[str, ...],
        key: Ed25519PrivateKey,
        public: bytes,
        versions: RowVersions,
    ) -> None:
        self.kind = kind
        self.fields = fields
        self._key = key
        self._public = public
        self.versions = versions

    def subject(self, row: Mapping[str, Any]) -> str:
        """The row's subject in the audit log (``user:ID``, ``peer:NATION``)."""
        return f"{self.kind}:{row[self.fields[0]]}"

    def signature(self, row: Mapping[str, Any]) -> bytes:
        """The node's signature over the row's fields (its ``version`` among them)."""
        return sign(self._key, row_message(self.kind, self.fields, row))

    def resigned(self, row: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes | None:
        """The row's signature by ``key`` (a key rotation), or None if the row does not hold
        (it stays refused)."""
        return sign(key, row_message(self.kind, self.fields, row)) if self.holds(row) else None

    def holds_now(self, row: Mapping[str, Any]) -> bool:
        """``holds``, the versions caught up with the log first: an account or a pin is read
        seldom (once a second per token, per session, per load of the peers), so a row put
        back to a version another process has since changed is refused at once."""
        self.versions.catch_up()
        return self.holds(row)

    def holds(self, row: Mapping[str, Any]) -> bool:
        """The row matches the node's signature and is the latest version the log records."""
        signature = row.get("signature")
        if signature is None:
            return False
        try:
            verify(self._public, row_message(self.kind, self.fields, row), bytes(signature))
        except (BadSignature, TypeError, ValueError, KeyError):
            return False
        return self.versions.is_latest(self.subject(row), int(row["version"]))
