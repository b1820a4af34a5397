"""Sealing a secret (an item's content key) to a recipient node's X25519 public key.

An ECIES-style construction, one fresh ephemeral key per seal:

1. ``e`` = new X25519 key; ``shared`` = X25519(e, recipient_public);
2. ``k`` = HKDF-SHA256(ikm=shared, salt=e_public || recipient_public,
   info=b"gsoia-seal-v1" + context, length=32);
3. output = ``e_public(32) || nonce(12) || AES-256-GCM(k, nonce, secret, aad=context)``.

Both public keys go into the salt so the derived key is tied to this exact exchange (an
ephemeral key with its ignored top bit flipped derives another key); ``context`` (for
instance the package id) is in both the HKDF info and the AAD, so a sealed key cannot be
replayed into another package.

The X25519 operations run in libsodium (PyNaCl), as Ed25519 does (``signing``): the same
function of the same keys (RFC 7748), in less CPU than OpenSSL's; a shared secret of all
zeros (a low-order point) is refused by both.
"""

from __future__ import annotations

import functools
import os

import nacl.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base

from gsoia.crypto.errors import CryptoError, DecryptionFailed

__all__ = ["SEAL_OVERHEAD", "seal", "unseal"]

_INFO_PREFIX = b"gsoia-seal-v1"
_PUBLIC_SIZE = 32
_NONCE_SIZE = 12
_TAG_SIZE = 16
SEAL_OVERHEAD = _PUBLIC_SIZE + _NONCE_SIZE + _TAG_SIZE
_LOW_ORDER = "a point of low order (the shared secret would be all zeros)"


def seal(recipient_public_raw: bytes, secret: bytes, context: bytes) -> bytes:
    """Encrypt ``secret`` so that only the holder of the recipient's private key opens it.

    Returns:
        ``ephemeral_public(32) || nonce(12) || ciphertext || tag(16)``.

    Raises:
        CryptoError: the recipient key is not a usable X25519 public key.
    """
    if len(recipient_public_raw) != _PUBLIC_SIZE:
        raise CryptoError(
            f"X25519 public key must be {_PUBLIC_SIZE} bytes, got {len(recipient_public_raw)}"
        )
    ephemeral = os.urandom(_PUBLIC_SIZE)  # a private key: any 32 bytes (RFC 7748 §5)
    ephemeral_public = crypto_scalarmult_base(ephemeral)
    try:
        shared = crypto_scalarmult(ephemeral, recipient_public_raw)
    except nacl.exceptions.CryptoError as e:
        raise CryptoError(f"unusable X25519 public key: {_LOW_ORDER}") from e
    key = _derive(shared, ephemeral_public, recipient_public_raw, context)
    nonce = os.urandom(_NONCE_SIZE)
    return ephemeral_public + nonce + AESGCM(key).encrypt(nonce, secret, context)


def unseal(private: X25519PrivateKey, sealed: bytes, context: bytes) -> bytes:
    """The secret that ``seal`` sealed to ``private``'s public key under ``context``.

    Raises:
        DecryptionFailed: sealed to another key or context, truncated, or changed in any bit.
    """
    if len(sealed) < SEAL_OVERHEAD:
        raise DecryptionFailed(
            f"sealed blob is {len(sealed)} bytes, shorter than its overhead ({SEAL_OVERHEAD})"
        )
    ephemeral_public = sealed[:_PUBLIC_SIZE]
    nonce = sealed[_PUBLIC_SIZE : _PUBLIC_SIZE + _NONCE_SIZE]
    ciphertext = sealed[_PUBLIC_SIZE + _NONCE_SIZE :]
    private_raw, recipient_public = _raw(private)
    try:
        shared = crypto_scalarmult(private_raw, ephemeral_public)
    except nacl.exceptions.CryptoError as e:
        raise DecryptionFailed(
            f"sealed blob carries an unusable ephemeral key: {_LOW_ORDER}"
        ) from e
    key = _derive(shared, ephemeral_public, recipient_public, context)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, context)
    except InvalidTag as e:
        raise DecryptionFailed(
            "sealed blob does not open (tampered, or another recipient or context)"
        ) from e


@functools.lru_cache(maxsize=16)
def _raw(private: X25519PrivateKey) -> tuple[bytes, bytes]:
    """``private``'s 32 bytes and its public key's, read once per key object."""
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def _derive(
    shared: bytes, ephemeral_public: bytes, recipient_public: bytes, context: bytes
) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral_public + recipient_public,
        info=_INFO_PREFIX + context,
    ).derive(shared)
