"""gsoia's cryptography: canonical JSON, AES-256-GCM, Ed25519 bindings, X25519 seals, keys.

Built on ``cryptography`` (OpenSSL) alone. Imports nothing of gsoia but ``gsoia.errors``.

* ``canonical_json``: RFC 8785 bytes of the JSON subset gsoia signs;
* ``encrypt``/``decrypt``, ``wrap_key``/``unwrap_key``: stored content and item keys;
* ``digest``, ``binding_message``, ``sign``/``verify``: the label–content binding;
* ``seal``/``unseal``: a content key for one recipient node;
* ``NodeKeys``/``PublicKeys``: a node's key files and what it publishes.

Note: the attribute ``gsoia.crypto.seal`` is the function; the module is reached with
``from gsoia.crypto.seal import …``.
"""

from __future__ import annotations

from gsoia.crypto.aead import decrypt, encrypt, new_key, unwrap_key, wrap_key
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature, CryptoError, DecryptionFailed, KeyFileError
from gsoia.crypto.keys import NodeKeys, PublicKeys
from gsoia.crypto.seal import seal, unseal
from gsoia.crypto.signing import binding_message, digest, sign, verify

__all__ = [
    "BadSignature",
    "CryptoError",
    "DecryptionFailed",
    "KeyFileError",
    "NodeKeys",
    "PublicKeys",
    "binding_message",
    "canonical_json",
    "decrypt",
    "digest",
    "encrypt",
    "new_key",
    "seal",
    "sign",
    "unseal",
    "unwrap_key",
    "verify",
    "wrap_key",
]
