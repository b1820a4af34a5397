"""Sealing a content key to a recipient node's X25519 key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gsoia.crypto import CryptoError, DecryptionFailed, NodeKeys, new_key, seal, unseal
from gsoia.crypto.seal import SEAL_OVERHEAD

CONTEXT = b"package:7b1e0c2a"


def _public(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


def _flip(blob: bytes, index: int, bit: int = 0) -> bytes:
    changed = bytearray(blob)
    changed[index] ^= 1 << bit
    return bytes(changed)


@pytest.mark.parametrize(
    "secret", [b"", b"k", new_key(), b"x" * 4096], ids=["empty", "one", "key", "4096"]
)
def test_round_trip(secret: bytes) -> None:
    recipient = X25519PrivateKey.generate()
    sealed = seal(_public(recipient), secret, CONTEXT)
    assert len(sealed) == 32 + 12 + len(secret) + 16 == SEAL_OVERHEAD + len(secret)
    assert unseal(recipient, sealed, CONTEXT) == secret


def test_round_trip_with_node_keys() -> None:
    node = NodeKeys.generate()
    key = new_key()
    assert unseal(node.sealing, seal(node.public().sealing, key, CONTEXT), CONTEXT) == key


def test_each_seal_uses_a_fresh_ephemeral_key() -> None:
    recipient = _public(X25519PrivateKey.generate())
    first, second = seal(recipient, b"key", CONTEXT), seal(recipient, b"key", CONTEXT)
    assert first[:32] != second[:32]
    assert first != second


def test_the_layout_is_ephemeral_public_nonce_ciphertext() -> None:
    # An independent derivation, straight from the construction in the module docstring.
    recipient = X25519PrivateKey.generate()
    secret = new_key()
    sealed = seal(_public(recipient), secret, CONTEXT)
    ephemeral_public, nonce, ciphertext = sealed[:32], sealed[32:44], sealed[44:]
    shared = recipient.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    key = _key(shared, ephemeral_public, _public(recipient))
    assert AESGCM(key).decrypt(nonce, ciphertext, CONTEXT) == secret


def test_the_wrong_recipient_cannot_unseal() -> None:
    sealed = seal(_public(X25519PrivateKey.generate()), new_key(), CONTEXT)
    with pytest.raises(DecryptionFailed):
        unseal(X25519PrivateKey.generate(), sealed, CONTEXT)


@pytest.mark.parametrize("context", [b"", b"package:7b1e0c2b", CONTEXT + b"\x00", CONTEXT[1:]])
def test_the_wrong_context_cannot_unseal(context: bytes) -> None:
    recipient = X25519PrivateKey.generate()
    sealed = seal(_public(recipient), new_key(), CONTEXT)
    with pytest.raises(DecryptionFailed):
        unseal(recipient, sealed, context)


def test_a_flipped_bit_in_any_byte_is_refused() -> None:
    recipient = X25519PrivateKey.generate()
    sealed = seal(_public(recipient), new_key(), CONTEXT)
    for index in range(len(sealed)):
        with pytest.raises(DecryptionFailed):
            unseal(recipient, _flip(sealed, index), CONTEXT)


def test_the_ignored_top_bit_of_the_ephemeral_key_is_still_bound() -> None:
    # X25519 masks bit 255 of a public key (RFC 7748 §5): the shared secret is unchanged,
    # but the ephemeral key is in the HKDF salt, so the derived key is not.
    recipient = X25519PrivateKey.generate()
    sealed = seal(_public(recipient), new_key(), CONTEXT)
    with pytest.raises(DecryptionFailed):
        unseal(recipient, _flip(sealed, 31, 7), CONTEXT)


@pytest.mark.parametrize("length", [0, 31, 32, 44, SEAL_OVERHEAD - 1])
def test_short_blobs_are_refused(length: int) -> None:
    recipient = X25519PrivateKey.generate()
    sealed = seal(_public(recipient), b"", CONTEXT)
    with pytest.raises(DecryptionFailed, match="shorter than its overhead"):
        unseal(recipient, sealed[:length], CONTEXT)


def test_truncated_or_extended_blobs_are_refused() -> None:
    recipient = X25519PrivateKey.generate()
    sealed = seal(_public(recipient), new_key(), CONTEXT)
    with pytest.raises(DecryptionFailed):
        unseal(recipient, sealed[:-1], CONTEXT)
    with pytest.raises(DecryptionFailed):
        unseal(recipient, sealed + b"\x00", CONTEXT)


def test_a_low_order_ephemeral_key_is_refused() -> None:
    recipient = X25519PrivateKey.generate()
    sealed = seal(_public(recipient), new_key(), CONTEXT)
    with pytest.raises(DecryptionFailed, match="unusable ephemeral key"):
        unseal(recipient, bytes(32) + sealed[32:], CONTEXT)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_sealing_to_a_malformed_key_is_a_crypto_error(length: int) -> None:
    with pytest.raises(CryptoError, match="32 bytes") as caught:
        seal(b"\x09" * length, new_key(), CONTEXT)
    assert not isinstance(caught.value, DecryptionFailed)


def test_sealing_to_a_low_order_key_is_a_crypto_error() -> None:
    with pytest.raises(CryptoError, match="unusable X25519 public key"):
        seal(bytes(32), new_key(), CONTEXT)


def _key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    """The construction's key, derived with OpenSSL's HKDF (``cryptography``)."""
    salt = ephemeral_public + recipient_public
    return HKDF(hashes.SHA256(), 32, salt, b"gsoia-seal-v1" + CONTEXT).derive(shared)


def test_a_key_sealed_with_openssls_x25519_opens() -> None:
    """X25519 runs in libsodium; a node sealing with OpenSSL's X25519 (as this one did)
    seals what this one opens (the other way: ``test_the_layout_is_...`` above)."""
    recipient = X25519PrivateKey.generate()
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(recipient.public_key())
    secret, nonce = new_key(), b"\x07" * 12
    key = _key(shared, _public(ephemeral), _public(recipient))
    sealed = _public(ephemeral) + nonce + AESGCM(key).encrypt(nonce, secret, CONTEXT)
    assert unseal(recipient, sealed, CONTEXT) == secret
