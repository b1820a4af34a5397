"""AES-256-GCM for stored content and wrapped item keys.

Each item's content is encrypted under its own fresh key (``new_key``); that key is
wrapped by the node's storage key with the item's identity as context, so a wrapped key
copied onto another item no longer unwraps.

Blob layout, both for ``encrypt`` and ``wrap_key``: ``nonce(12) || ciphertext || tag(16)``.
The nonce is random: with one key per item (and a handful of wraps per storage key and
item) the 2**32-messages-per-key bound of random 96-bit nonces is far away.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gsoia.crypto.errors import CryptoError, DecryptionFailed

__all__ = [
    "KEY_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "decrypt",
    "encrypt",
    "new_key",
    "unwrap_key",
    "wrap_key",
]

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16

# Domain separation: a wrapped key is never a valid ``encrypt`` blob for the same AAD.
_WRAP_AAD_PREFIX = b"gsoia-wrap-v1\x00"


def new_key() -> bytes:
    """A fresh random AES-256 key (32 bytes from the OS CSPRNG)."""
    return os.urandom(KEY_SIZE)


def encrypt(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate ``plaintext``, binding ``aad`` (authenticated, not stored).

    Returns:
        ``nonce(12) || ciphertext || tag(16)``.

    Raises:
        CryptoError: ``key`` is not 32 bytes.
    """
    cipher = _cipher(key)
    nonce = os.urandom(NONCE_SIZE)
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """The plaintext of an ``encrypt`` blob.

    Raises:
        DecryptionFailed: the blob is too short, was changed in any bit, or ``key`` or
            ``aad`` differ from those it was encrypted with.
        CryptoError: ``key`` is not 32 bytes (a local mistake, not a bad blob).
    """
    cipher = _cipher(key)
    if len(blob) < NONCE_SIZE + TAG_SIZE:
        raise DecryptionFailed(
            f"ciphertext is {len(blob)} bytes, shorter than nonce and tag ({NONCE_SIZE + TAG_SIZE})"
        )
    try:
        return cipher.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], aad)
    except InvalidTag as e:
        raise DecryptionFailed(
            "ciphertext does not authenticate (tampered, or wrong key or aad)"
        ) from e


def wrap_key(kek: bytes, key: bytes, context: bytes) -> bytes:
    """Encrypt the 32-byte ``key`` under the key-encryption key ``kek``, bound to ``context``.

    ``context`` names what the key belongs to (for instance the item id); it is
    authenticated, not stored, so ``unwrap_key`` needs the same one.

    Raises:
        CryptoError: ``kek`` or ``key`` is not 32 bytes.
    """
    if len(key) != KEY_SIZE:
        raise CryptoError(f"a wrapped key must be {KEY_SIZE} bytes, got {len(key)}")
    return encrypt(kek, key, _WRAP_AAD_PREFIX + context)


def unwrap_key(kek: bytes, wrapped: bytes, context: bytes) -> bytes:
    """The key that ``wrap_key(kek, key, context)`` wrapped.

    Raises:
        DecryptionFailed: wrong ``kek`` or ``context``, or ``wrapped`` was changed.
        CryptoError: ``kek`` is not 32 bytes.
    """
    key = decrypt(kek, wrapped, _WRAP_AAD_PREFIX + context)
    if len(key) != KEY_SIZE:  # only a blob made by ``encrypt``, never by ``wrap_key``
        raise DecryptionFailed(f"unwrapped key is {len(key)} bytes, not {KEY_SIZE}")
    return key


def _cipher(key: bytes) -> AESGCM:
    if len(key) != KEY_SIZE:
        raise CryptoError(f"an AES-256-GCM key must be {KEY_SIZE} bytes, got {len(key)}")
    return AESGCM(key)
