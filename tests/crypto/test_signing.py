"""SHA-384 digests, the label–content binding and Ed25519 signatures."""

from __future__ import annotations

import hashlib
from types import MappingProxyType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.exceptions import BadSignatureError

from gsoia.crypto import BadSignature, CryptoError, binding_message, digest, sign, verify

EMPTY_SHA384 = (
    "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
    "274edebfe76f65fbd51ad2f14898b95b"
)
LABEL = {"originator": "JPN", "level": "JPN.SECRET", "releasable_to": ["GBR", "JPN"]}

# RFC 8032 §7.1, tests 1 and 2: (secret key, public key, message, signature).
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


def _public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


def _flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 1
    return bytes(changed)


def test_digest_is_sha384() -> None:
    assert digest(b"").hex() == EMPTY_SHA384
    # FIPS 180-2, appendix D.1
    assert digest(b"abc").hex() == (
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
        "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
    )
    assert digest(b"x" * 1000) == hashlib.sha384(b"x" * 1000).digest()


def test_binding_message_known_bytes() -> None:
    label = {"originator": "JPN", "level": "JPN.SECRET"}
    assert binding_message(label, digest(b"")) == (
        b"gsoia-binding-v1\n"
        b'{"content_sha384":"' + EMPTY_SHA384.encode() + b'",'
        b'"label":{"level":"JPN.SECRET","originator":"JPN"}}'
    )


def test_binding_message_does_not_depend_on_key_order_or_mapping_type() -> None:
    reordered = dict(reversed(list(LABEL.items())))
    content = digest(b"ciphertext")
    expected = binding_message(LABEL, content)
    assert binding_message(reordered, content) == expected
    assert binding_message(MappingProxyType(LABEL), content) == expected


@pytest.mark.parametrize("length", [0, 32, 47, 49, 64])
def test_binding_needs_a_sha384_digest(length: int) -> None:
    with pytest.raises(CryptoError, match="SHA-384"):
        binding_message(LABEL, b"d" * length)


def test_a_label_that_is_not_canonical_json_is_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        binding_message({"level": 3.0}, digest(b""))


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032_VECTORS)
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert _public(private).hex() == public
    assert sign(private, bytes.fromhex(message)).hex() == signature
    verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))


def test_a_binding_signature_verifies() -> None:
    private = Ed25519PrivateKey.generate()
    message = binding_message(LABEL, digest(b"ciphertext"))
    signature = sign(private, message)
    assert len(signature) == 64
    verify(_public(private), message, signature)


@pytest.mark.parametrize(
    "changed_label",
    [
        {**LABEL, "level": "JPN.TOP_SECRET"},
        {**LABEL, "originator": "USA"},
        {**LABEL, "releasable_to": ["GBR", "JPN", "USA"]},
        {**LABEL, "releasable_to": ["JPN", "GBR"]},
        {**LABEL, "custodian": "GBR"},
        {key: value for key, value in LABEL.items() if key != "releasable_to"},
    ],
    ids=["level", "originator", "releasable-added", "releasable-order", "member-added", "removed"],
)
def test_any_change_of_label_breaks_the_binding(changed_label: dict[str, object]) -> None:
    private = Ed25519PrivateKey.generate()
    content = digest(b"ciphertext")
    signature = sign(private, binding_message(LABEL, content))
    with pytest.raises(BadSignature):
        verify(_public(private), binding_message(changed_label, content), signature)


def test_any_change_of_content_breaks_the_binding() -> None:
    private = Ed25519PrivateKey.generate()
    signature = sign(private, binding_message(LABEL, digest(b"ciphertext")))
    for other in (digest(b"ciphertexT"), digest(b""), _flip(digest(b"ciphertext"), 47)):
        with pytest.raises(BadSignature):
            verify(_public(private), binding_message(LABEL, other), signature)


def test_a_flipped_bit_in_message_or_signature_is_refused() -> None:
    private = Ed25519PrivateKey.generate()
    message = binding_message(LABEL, digest(b"ciphertext"))
    signature = sign(private, message)
    for index in (0, len(message) // 2, len(message) - 1):
        with pytest.raises(BadSignature):
            verify(_public(private), _flip(message, index), signature)
    for index in range(len(signature)):
        with pytest.raises(BadSignature):
            verify(_public(private), message, _flip(signature, index))


def test_another_key_is_refused_and_the_cause_is_chained() -> None:
    message = b"message"
    signature = sign(Ed25519PrivateKey.generate(), message)
    with pytest.raises(BadSignature, match="does not verify") as caught:
        verify(_public(Ed25519PrivateKey.generate()), message, signature)
    assert isinstance(caught.value.__cause__, BadSignatureError)
    assert isinstance(caught.value, CryptoError)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_a_malformed_public_key_is_a_bad_signature(length: int) -> None:
    private = Ed25519PrivateKey.generate()
    with pytest.raises(BadSignature, match="public key must be 32 bytes"):
        verify(b"\x01" * length, b"m", sign(private, b"m"))


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_a_signature_of_the_wrong_length_is_a_bad_signature(length: int) -> None:
    private = Ed25519PrivateKey.generate()
    with pytest.raises(BadSignature, match="signature must be 64 bytes"):
        verify(_public(private), b"m", b"\x00" * length)


def test_an_all_zero_signature_is_refused() -> None:
    private = Ed25519PrivateKey.generate()
    with pytest.raises(BadSignature):
        verify(_public(private), b"m", bytes(64))


@pytest.mark.parametrize("length", [0, 1, 63, 64, 65, 1_000, 100_000])
def test_signatures_are_openssls_byte_for_byte_and_each_accepts_the_others(length: int) -> None:
    """Signing runs in libsodium: Ed25519 is deterministic, so its signature is the one
    OpenSSL (``cryptography``) makes with the same key, and each verifies the other's."""
    private = Ed25519PrivateKey.generate()
    message = hashlib.shake_256(str(length).encode()).digest(length) if length else b""
    ours = sign(private, message)
    assert ours == private.sign(message)
    private.public_key().verify(ours, message)  # OpenSSL accepts libsodium's
    verify(_public(private), message, private.sign(message))  # and libsodium OpenSSL's


def test_a_key_signs_alike_whichever_object_holds_it() -> None:
    private = Ed25519PrivateKey.generate()
    again = Ed25519PrivateKey.from_private_bytes(private.private_bytes_raw())
    other = Ed25519PrivateKey.generate()
    assert sign(private, b"m") == sign(again, b"m") != sign(other, b"m")


def test_a_small_order_public_key_is_refused_where_openssl_accepts_any_message() -> None:
    """The identity point as public key, with R the identity and S zero, satisfies the
    verification equation for every message: OpenSSL (``cryptography`` 50) accepts it for
    any message, libsodium refuses it."""
    identity = b"\x01" + bytes(31)
    forged = identity + bytes(32)
    with pytest.raises(BadSignature, match="does not verify"):
        verify(identity, b"release everything", forged)
