"""AES-256-GCM content encryption and item-key wrapping."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from gsoia.crypto import (
    CryptoError,
    DecryptionFailed,
    decrypt,
    encrypt,
    new_key,
    unwrap_key,
    wrap_key,
)
from gsoia.crypto.aead import NONCE_SIZE, TAG_SIZE
from gsoia.errors import GsoiaError

PLAINTEXT = b"SECRET//REL TO JPN, GBR: the content of an item"
AAD = b"item:0f3c"


def _flip(blob: bytes, index: int, bit: int = 0) -> bytes:
    changed = bytearray(blob)
    changed[index] ^= 1 << bit
    return bytes(changed)


def test_new_key_is_32_fresh_bytes() -> None:
    keys = {new_key() for _ in range(16)}
    assert len(keys) == 16
    assert all(len(key) == 32 for key in keys)


@pytest.mark.parametrize("plaintext", [b"", b"x", PLAINTEXT, bytes(range(256)) * 64])
@pytest.mark.parametrize("aad", [b"", AAD])
def test_round_trip(plaintext: bytes, aad: bytes) -> None:
    key = new_key()
    blob = encrypt(key, plaintext, aad)
    assert len(blob) == NONCE_SIZE + len(plaintext) + TAG_SIZE
    assert decrypt(key, blob, aad) == plaintext


def test_aad_defaults_to_empty() -> None:
    key = new_key()
    assert decrypt(key, encrypt(key, PLAINTEXT), b"") == PLAINTEXT
    assert decrypt(key, encrypt(key, PLAINTEXT, b"")) == PLAINTEXT


def test_each_encryption_has_its_own_nonce() -> None:
    key = new_key()
    first, second = encrypt(key, PLAINTEXT), encrypt(key, PLAINTEXT)
    assert first[:NONCE_SIZE] != second[:NONCE_SIZE]
    assert first != second


@pytest.mark.parametrize(
    "index",
    [0, NONCE_SIZE - 1, NONCE_SIZE, NONCE_SIZE + len(PLAINTEXT) - 1, -TAG_SIZE, -1],
    ids=[
        "nonce-first",
        "nonce-last",
        "ciphertext-first",
        "ciphertext-last",
        "tag-first",
        "tag-last",
    ],
)
@pytest.mark.parametrize("bit", [0, 7])
def test_a_flipped_bit_anywhere_is_refused(index: int, bit: int) -> None:
    key = new_key()
    blob = encrypt(key, PLAINTEXT, AAD)
    with pytest.raises(DecryptionFailed):
        decrypt(key, _flip(blob, index, bit), AAD)


def test_every_byte_is_authenticated() -> None:
    key = new_key()
    blob = encrypt(key, b"short", AAD)
    for index in range(len(blob)):
        with pytest.raises(DecryptionFailed):
            decrypt(key, _flip(blob, index), AAD)


def test_the_foreign_exception_is_chained() -> None:
    key = new_key()
    with pytest.raises(DecryptionFailed) as caught:
        decrypt(key, _flip(encrypt(key, PLAINTEXT), -1))
    assert isinstance(caught.value.__cause__, InvalidTag)
    assert isinstance(caught.value, CryptoError)
    assert isinstance(caught.value, GsoiaError)


def test_wrong_key_is_refused() -> None:
    blob = encrypt(new_key(), PLAINTEXT, AAD)
    with pytest.raises(DecryptionFailed):
        decrypt(new_key(), blob, AAD)


@pytest.mark.parametrize("aad", [b"", b"item:0f3d", AAD + b"\x00", AAD[:-1]])
def test_wrong_aad_is_refused(aad: bytes) -> None:
    key = new_key()
    blob = encrypt(key, PLAINTEXT, AAD)
    with pytest.raises(DecryptionFailed):
        decrypt(key, blob, aad)


@pytest.mark.parametrize("length", [0, 1, NONCE_SIZE, NONCE_SIZE + TAG_SIZE - 1])
def test_short_blobs_are_refused(length: int) -> None:
    key = new_key()
    blob = encrypt(key, PLAINTEXT)
    with pytest.raises(DecryptionFailed, match="shorter than nonce and tag"):
        decrypt(key, blob[:length])


def test_truncated_or_extended_blobs_are_refused() -> None:
    key = new_key()
    blob = encrypt(key, PLAINTEXT)
    with pytest.raises(DecryptionFailed):
        decrypt(key, blob[:-1])
    with pytest.raises(DecryptionFailed):
        decrypt(key, blob + b"\x00")


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33])
def test_a_key_of_the_wrong_size_is_a_crypto_error_not_a_failed_decryption(
    length: int,
) -> None:
    with pytest.raises(CryptoError, match="must be 32 bytes") as caught:
        encrypt(b"k" * length, PLAINTEXT)
    assert not isinstance(caught.value, DecryptionFailed)
    with pytest.raises(CryptoError, match="must be 32 bytes") as caught:
        decrypt(b"k" * length, encrypt(new_key(), PLAINTEXT))
    assert not isinstance(caught.value, DecryptionFailed)


def test_wrap_round_trip() -> None:
    kek, key = new_key(), new_key()
    wrapped = wrap_key(kek, key, b"item:1")
    assert wrapped != key
    assert unwrap_key(kek, wrapped, b"item:1") == key


def test_a_wrapped_key_cannot_move_to_another_item() -> None:
    kek, key = new_key(), new_key()
    wrapped = wrap_key(kek, key, b"item:1")
    with pytest.raises(DecryptionFailed):
        unwrap_key(kek, wrapped, b"item:2")
    with pytest.raises(DecryptionFailed):
        unwrap_key(kek, wrapped, b"")


def test_unwrap_with_another_kek_is_refused() -> None:
    wrapped = wrap_key(new_key(), new_key(), b"item:1")
    with pytest.raises(DecryptionFailed):
        unwrap_key(new_key(), wrapped, b"item:1")


def test_a_tampered_wrapped_key_is_refused() -> None:
    kek = new_key()
    wrapped = wrap_key(kek, new_key(), b"item:1")
    for index in range(len(wrapped)):
        with pytest.raises(DecryptionFailed):
            unwrap_key(kek, _flip(wrapped, index), b"item:1")


def test_a_wrapped_key_is_not_an_ordinary_ciphertext_with_the_context_as_aad() -> None:
    kek, key = new_key(), new_key()
    with pytest.raises(DecryptionFailed):
        decrypt(kek, wrap_key(kek, key, b"item:1"), b"item:1")
    with pytest.raises(DecryptionFailed):
        unwrap_key(kek, encrypt(kek, key, b"item:1"), b"item:1")


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_only_32_byte_keys_are_wrapped(length: int) -> None:
    with pytest.raises(CryptoError, match="must be 32 bytes"):
        wrap_key(new_key(), b"k" * length, b"item:1")
