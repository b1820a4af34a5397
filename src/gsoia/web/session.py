"""The session cookie's form, and the CSRF tokens of the pages' forms.

The cookie is ``v2.<session id>.<secret>``: the id names the session's row in the store
(``gsoia.node.sessions``, which decides on every request whether it still holds), the
secret (256 random bits, kept there only as a hash) proves the cookie is that session's.
It holds neither the user's token nor anything the user could change to be someone else.

CSRF: every form carries ``HMAC(secret, "csrf" ‖ session id)`` under a secret derived
(HKDF-SHA256) from the node's storage key, so every worker of one node agrees; the sign-in
form, before a session exists, carries one keyed on a random pre-session cookie (double
submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gsoia.node.sessions import LIFETIME as LIFETIME

COOKIE = "gsoia_session"
PRE_COOKIE = "gsoia_presession"
_VERSION = "v2"
_MAX_COOKIE = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Sessions:
    """Writes and reads session cookies; issues and checks CSRF tokens under one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("a CSRF secret needs at least 32 bytes")
        self._secret = secret

    @classmethod
    def from_node_key(cls, storage_key: bytes) -> Sessions:
        """CSRF keyed by a secret derived from the node's storage key (shared by workers)."""
        secret = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"gsoia web session secret v1",
        ).derive(storage_key)
        return cls(secret)

    @staticmethod
    def cookie(sid: str, secret: str) -> str:
        """The cookie of the session ``sid`` with its ``secret``."""
        return f"{_VERSION}.{sid}.{secret}"

    @staticmethod
    def read(cookie: str | None) -> tuple[str, str] | None:
        """``(session id, secret)`` from a cookie of this form, or None."""
        if not cookie or len(cookie) > _MAX_COOKIE:
            return None
        version, _, rest = cookie.partition(".")
        sid, _, secret = rest.partition(".")
        if version != _VERSION or not sid or not secret:
            return None
        return sid, secret

    def _mac(self, purpose: str, message: str) -> bytes:
        return hmac.new(
            self._secret, purpose.encode() + b"\x00" + message.encode(), hashlib.sha256
        ).digest()

    def csrf(self, sid: str) -> str:
        """The CSRF token of every form of a session (or of a pre-session nonce)."""
        return _b64(self._mac("csrf", sid))

    def csrf_ok(self, sid: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(sid).encode(), str(token).encode())

    @staticmethod
    def nonce() -> str:
        """A fresh pre-session nonce (the sign-in form's CSRF key)."""
        return _b64(secrets.token_bytes(18))
