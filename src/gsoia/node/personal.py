"""Personal data at rest: encrypted like an item's content.

A person's name and birth data (an assurance), or a visitor's token waiting to be shown,
are encrypted under a fresh key, that key wrapped by the node's storage key; both bound to
the record's ``context`` (``assurance:ID``, ``token:VISIT:PERSON``), so a blob copied onto
another record no longer opens.
"""

from __future__ import annotations

import json
from typing import Any

from gsoia.crypto import aead
from gsoia.crypto.errors import DecryptionFailed
from gsoia.node.errors import IntegrityFailure

_WRAPPED = 12 + aead.KEY_SIZE + 16
"""Bytes of a wrapped key: nonce, key, tag."""


def close(storage_key: bytes, context: str, data: bytes) -> bytes:
    """``data`` encrypted for the record ``context``: the wrapped key, then the ciphertext."""
    key = aead.new_key()
    bound = context.encode()
    return aead.wrap_key(storage_key, key, context=bound) + aead.encrypt(key, data, aad=bound)


def open_closed(storage_key: bytes, context: str, blob: bytes) -> bytes:
    """What ``close`` encrypted; ``IntegrityFailure`` if it does not open."""
    bound = context.encode()
    try:
        key = aead.unwrap_key(storage_key, blob[:_WRAPPED], context=bound)
        return aead.decrypt(key, blob[_WRAPPED:], aad=bound)
    except DecryptionFailed as e:
        raise IntegrityFailure(f"{context}: its personal data cannot be decrypted") from e


def close_json(storage_key: bytes, context: str, data: dict[str, Any]) -> bytes:
    return close(storage_key, context, json.dumps(data, ensure_ascii=False).encode())


def open_json(storage_key: bytes, context: str, blob: bytes | None) -> dict[str, Any] | None:
    """The JSON object ``close_json`` encrypted; None once erased."""
    if blob is None:
        return None
    value = json.loads(open_closed(storage_key, context, bytes(blob)))
    assert isinstance(value, dict)  # INVARIANT: only close_json writes these
    return value
