"""The originator's seal: who wrote an item, at which level, for whom — signed where it began.

The node where an item is created signs, with its Ed25519 key, the item as its originator
wrote it (id, title, label with its security categories, provenance; ``origin_fields``)
together with the SHA-384 of the plaintext content (``gsoia.crypto.signing.origin_message``).
The seal is stored with the item and travels unchanged with every copy: Japan's item held
by Canada and passed on to the USA still carries Japan's seal, and the USA checks it with
*Japan's* pinned keys, not Canada's. A custodian can re-bind a label it rewrote with its
own key; it cannot re-seal it with the originator's. Only the originator issues a new seal,
when it reclassifies.

In a package the seal is never in clear: the signature would let anyone who sees the
package confirm a guess of the content (a verification oracle). It travels encrypted
under the package's content key (a release) or sealed to the custodian (a reclassify
notice); both contexts name the package, so a seal cannot be moved into another package.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gsoia.crypto import aead
from gsoia.crypto.errors import BadSignature, CryptoError, DecryptionFailed
from gsoia.crypto.seal import seal, unseal
from gsoia.crypto.signing import digest, origin_message, sign, verify_any
from gsoia.federation.packages import PackageRejected, Rejection, b64, unb64
from gsoia.node.categories import from_column

__all__ = [
    "check_seal",
    "close_for_custodian",
    "close_with_content_key",
    "make_seal",
    "open_for_custodian",
    "open_with_content_key",
    "origin_fields",
]

_CONTEXT = b"gsoia-origin-seal-v1\n"


def origin_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The item as its originator wrote it, from a stored row (or a row-like mapping)."""

    def listed(value: Any) -> list[str]:
        return list(_listed(value)) if isinstance(value, str) else [str(v) for v in value]

    fields = {
        "id": row["id"],
        "title": row["title"],
        "originator": row["originator"],
        "classification": row["classification"],
        "area": row["area"],
        "releasable_to": listed(row["releasable_to"]),
        "need_to_know": listed(row["need_to_know"]),
        "created_at": row["created_at"],
        "created_by": row["created_by"],
    }
    categories = row.get("categories")
    if categories is not None:  # sealed only where the label has them
        fields["categories"] = (
            from_column(categories) if isinstance(categories, str) else dict(categories)
        )
    return fields


@lru_cache(maxsize=1024)
def _listed(text: str) -> tuple[str, ...]:
    """A stored JSON list of names, parsed once: few lists are distinct."""
    return tuple(str(v) for v in json.loads(text))


def make_seal(key: Ed25519PrivateKey, item: Mapping[str, Any], plaintext: bytes) -> bytes:
    """The originating node's seal of ``item`` and its content."""
    return sign(key, origin_message(item, digest(plaintext)))


def check_seal(
    originator_keys: Iterable[bytes],
    item: Mapping[str, Any],
    plaintext: bytes,
    signature: bytes,
    package_id: str,
) -> None:
    """Return only if ``signature`` is the originator's seal of exactly ``item`` and content.

    Raises:
        PackageRejected: BAD_BINDING, naming the originator.
    """
    try:
        verify_any(originator_keys, origin_message(item, digest(plaintext)), signature)
    except (BadSignature, CryptoError, TypeError, ValueError) as e:
        raise PackageRejected(
            Rejection.BAD_BINDING,
            f"the item is not as its originator {item.get('originator')} sealed it",
            package_id,
        ) from e


def _context(package_id: str) -> bytes:
    return _CONTEXT + package_id.encode()


def close_with_content_key(content_key: bytes, signature: bytes, package_id: str) -> str:
    """The seal as a release carries it: encrypted under the package's content key."""
    return b64(aead.encrypt(content_key, signature, aad=_context(package_id)))


def open_with_content_key(content_key: bytes, closed: str, package_id: str) -> bytes:
    """The seal a release carries; ``PackageRejected`` (BAD_BINDING) if it does not open."""
    try:
        return aead.decrypt(
            content_key, unb64(closed, "body.origin_seal"), aad=_context(package_id)
        )
    except DecryptionFailed as e:
        raise PackageRejected(
            Rejection.BAD_BINDING, "the originator's seal does not open", package_id
        ) from e


def close_for_custodian(custodian_sealing: bytes, signature: bytes, package_id: str) -> str:
    """The seal as a reclassify notice carries it: sealed to the custodian's X25519 key."""
    return b64(seal(custodian_sealing, signature, _context(package_id)))


def open_for_custodian(sealing: X25519PrivateKey, closed: str, package_id: str) -> bytes:
    """The seal a reclassify notice carries; ``PackageRejected`` if it does not open."""
    try:
        return unseal(sealing, unb64(closed, "body.origin_seal"), _context(package_id))
    except DecryptionFailed as e:
        raise PackageRejected(
            Rejection.BAD_BINDING, "the originator's seal does not open", package_id
        ) from e
