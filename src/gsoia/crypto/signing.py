"""Ed25519 signatures and the label–content binding (STANAG 4778 style, SHA-384).

STANAG 4778 binds a confidentiality label to its data with one signature over both, using
SHA-384 digests (NATO STANAG 4778, Metadata Binding Mechanism). gsoia's binding signs

    b"gsoia-binding-v1\\n" + canonical_json({"label": label, "content_sha384": hex digest})

where the digest is of the bytes that travel — for a federation package, the content's
ciphertext (docs/interfaces.md, Federation). The prefix keeps a binding signature from
ever being valid for another kind of gsoia message signed by the same key; the label is
signed in its RFC 8785 canonical form, never in its wire form.

The originator's seal (``origin_message``) is the originating node's signature over the
item as its originator wrote it (label, title, provenance) and the SHA-384 of the
*plaintext* content: unlike a binding, which each sender makes afresh over the bytes it
sends, the seal is made once, where the item is created (again when its originator
reclassifies it), and travels unchanged with every copy, so that a third node can tell
that a custodian passing the item on did not rewrite the originator's label.

Signing and verifying run in libsodium (PyNaCl); the keys stay ``cryptography``'s objects
and raw bytes. Ed25519 is deterministic, so libsodium's signature of a message is the
very signature OpenSSL makes with the same key; libsodium verifies in about half the CPU
and is the stricter of the two (it also refuses public keys and signature points of small
order, which no honest signer makes): a signature it refuses is refused.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError

from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature, CryptoError

__all__ = [
    "BINDING_PREFIX",
    "DIGEST_SIZE",
    "ORIGIN_PREFIX",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "binding_message",
    "digest",
    "origin_message",
    "sign",
    "verify",
    "verify_any",
]

BINDING_PREFIX = b"gsoia-binding-v1\n"
ORIGIN_PREFIX = b"gsoia-origin-v1\n"
DIGEST_SIZE = 48
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def digest(data: bytes) -> bytes:
    """SHA-384 of ``data`` (48 bytes)."""
    return hashlib.sha384(data).digest()


def binding_message(label: Mapping[str, object], content_digest: bytes) -> bytes:
    """The bytes a node signs to bind ``label`` to content whose SHA-384 is ``content_digest``.

    Raises:
        CryptoError: ``content_digest`` is not a 48-byte SHA-384 digest.
        TypeError: the label holds a value outside canonical JSON (``canonical_json``).
    """
    if len(content_digest) != DIGEST_SIZE:
        raise CryptoError(
            f"content digest must be SHA-384 ({DIGEST_SIZE} bytes), got {len(content_digest)}"
        )
    return BINDING_PREFIX + canonical_json(
        {"label": dict(label), "content_sha384": content_digest.hex()}
    )


def origin_message(item: Mapping[str, object], content_digest: bytes) -> bytes:
    """The bytes an originating node signs to seal ``item`` to its plaintext's SHA-384.

    Raises:
        CryptoError: ``content_digest`` is not a 48-byte SHA-384 digest.
        TypeError: the item holds a value outside canonical JSON (``canonical_json``).
    """
    if len(content_digest) != DIGEST_SIZE:
        raise CryptoError(
            f"content digest must be SHA-384 ({DIGEST_SIZE} bytes), got {len(content_digest)}"
        )
    return ORIGIN_PREFIX + canonical_json(
        {"item": dict(item), "plaintext_sha384": content_digest.hex()}
    )


def verify_any(publics: Iterable[bytes], message: bytes, signature: bytes) -> bytes:
    """The first of ``publics`` whose Ed25519 signature of ``message`` is ``signature``.

    For signatures that outlive a key rotation (an originator's seal, a consent): the
    signer's current key and the keys it retired.

    Raises:
        BadSignature: none of the keys verifies it (or there is none).
    """
    for public_raw in publics:
        try:
            verify(public_raw, message, signature)
        except BadSignature:
            continue
        return public_raw
    raise BadSignature("Ed25519 signature does not verify with any of the signer's keys")


def sign(private: Ed25519PrivateKey, message: bytes) -> bytes:
    """The Ed25519 signature (64 bytes) of ``message``."""
    return crypto_sign(message, _secret_key(private))[:SIGNATURE_SIZE]


@functools.lru_cache(maxsize=64)
def _secret_key(private: Ed25519PrivateKey) -> bytes:
    """``private`` as libsodium takes it (its seed, then its public key), made once per
    key object: a node signs with the same few keys all day."""
    return private.private_bytes_raw() + private.public_key().public_bytes_raw()


def verify(public_raw: bytes, message: bytes, signature: bytes) -> None:
    """Return only if ``signature`` is ``public_raw``'s Ed25519 signature of ``message``.

    Raises:
        BadSignature: the signature does not verify, or the key or signature is malformed.
    """
    if len(public_raw) != PUBLIC_KEY_SIZE:
        raise BadSignature(
            f"Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes, got {len(public_raw)}"
        )
    if len(signature) != SIGNATURE_SIZE:
        raise BadSignature(
            f"Ed25519 signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}"
        )
    try:
        crypto_sign_open(bytes(signature) + bytes(message), bytes(public_raw))
    except BadSignatureError as e:
        raise BadSignature("Ed25519 signature does not verify") from e
