"""Web sessions: a signed cookie that names the user (never holds the token), and CSRF tokens.

The cookie is ``v1.<payload>.<mac>``: ``payload`` is base64url of the JSON
``{"u": user id, "s": session id, "e": expiry (epoch seconds), "b": binding}`` and ``mac``
is HMAC-SHA256 over ``v1.<payload>`` under a secret derived (HKDF-SHA256) from the node's
storage key, so every worker of one node accepts it and nobody without that key can forge
one. The binding is an HMAC of the hash of the token the user signed in with: once that
token is replaced (the old one revoked), every session it opened stops working.

CSRF: every form carries ``HMAC(secret, "csrf" ‖ session id)``; the sign-in form, before a
session exists, carries one keyed on a random pre-session cookie (double submit).
Sign-out forgets the session id in this process and clears the cookie; a copy of the cookie
kept elsewhere still works in other workers until it expires (``LIFETIME``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE = "gsoia_session"
PRE_COOKIE = "gsoia_presession"
LIFETIME = 8 * 3600
"""Seconds a session lasts (a working day); there is no sliding renewal."""
_VERSION = "v1"
_MAX_COOKIE = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A verified session cookie: who, which session, until when, bound to which token."""

    user_id: str
    sid: str
    expires: int
    binding: str


class Sessions:
    """Issues and checks session cookies and CSRF tokens under one secret."""

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: int = LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("a session secret needs at least 32 bytes")
        self._secret = secret
        self._lifetime = lifetime
        self._clock = clock
        self._revoked: dict[str, int] = {}  # sid -> expiry, forgotten once expired
        self._lock = threading.Lock()

    @classmethod
    def from_node_key(cls, storage_key: bytes, *, lifetime: int = LIFETIME) -> Sessions:
        """Sessions keyed by a secret derived from the node's storage key (shared by workers)."""
        secret = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"gsoia web session secret v1",
        ).derive(storage_key)
        return cls(secret, lifetime=lifetime)

    def _mac(self, purpose: str, message: str) -> bytes:
        return hmac.new(
            self._secret, purpose.encode() + b"\x00" + message.encode(), hashlib.sha256
        ).digest()

    def binding(self, token_hash: str) -> str:
        """What ties a session to the token it was opened with (not the token, not its hash)."""
        return _b64(self._mac("bind", token_hash)[:16])

    def issue(self, user_id: str, token_hash: str) -> tuple[str, Session]:
        """A new session for ``user_id``: the cookie value and the session it carries."""
        session = Session(
            user_id=user_id,
            sid=_b64(secrets.token_bytes(18)),
            expires=int(self._clock()) + self._lifetime,
            binding=self.binding(token_hash),
        )
        body = {"u": session.user_id, "s": session.sid, "e": session.expires, "b": session.binding}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        signed = f"{_VERSION}.{payload}"
        return f"{signed}.{_b64(self._mac('cookie', signed))}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None if absent, forged, expired or signed out."""
        if not cookie or len(cookie) > _MAX_COOKIE:
            return None
        version, _, rest = cookie.partition(".")
        payload, _, mac = rest.partition(".")
        if version != _VERSION or not payload or not mac:
            return None
        try:
            expected = self._mac("cookie", f"{version}.{payload}")
            if not hmac.compare_digest(_unb64(mac), expected):
                return None
            body = json.loads(_unb64(payload))
            session = Session(str(body["u"]), str(body["s"]), int(body["e"]), str(body["b"]))
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        now = int(self._clock())
        if session.expires <= now:
            return None
        with self._lock:
            if session.sid in self._revoked:
                return None
        return session

    def bound_to(self, session: Session, token_hash: str) -> bool:
        """Whether the session was opened with the token whose hash is ``token_hash``."""
        return hmac.compare_digest(session.binding, self.binding(token_hash))

    def revoke(self, session: Session) -> None:
        """Forget a session in this process (sign-out)."""
        now = int(self._clock())
        with self._lock:
            self._revoked = {s: e for s, e in self._revoked.items() if e > now}
            self._revoked[session.sid] = session.expires

    def csrf(self, sid: str) -> str:
        """The CSRF token of every form of a session (or of a pre-session nonce)."""
        return _b64(self._mac("csrf", sid))

    def csrf_ok(self, sid: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(sid).encode(), str(token).encode())

    @staticmethod
    def nonce() -> str:
        """A fresh pre-session nonce (the sign-in form's CSRF key)."""
        return _b64(secrets.token_bytes(18))
