"""The errors of the cryptography layer.

``CryptoError`` is the root; the federation layer turns ``BadSignature`` and
``DecryptionFailed`` into ``PackageRejected`` and the CLI turns ``KeyFileError`` into an
exit code. Foreign exceptions (``cryptography.exceptions.InvalidTag``, ``InvalidSignature``,
``ValueError``) are chained with ``raise … from``, never leaked.
"""

from __future__ import annotations

from pathlib import Path

from gsoia.errors import GsoiaError


class CryptoError(GsoiaError):
    """A key, a signature, a sealed or an encrypted blob was refused."""


class BadSignature(CryptoError):
    """A signature does not verify (or the key or signature is malformed)."""


class DecryptionFailed(CryptoError):
    """A ciphertext does not authenticate: tampered, truncated, wrong key or context."""


class KeyFileError(CryptoError):
    """A node key file could not be written or was refused on load.

    Attributes:
        path: the key file.
        reason: what is wrong with it, as a clause (``"is missing"``).
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} {reason}")
