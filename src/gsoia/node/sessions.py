"""Web sessions kept in the store: a session is a row; its cookie's secret is kept hashed.

A cookie carries a session's id (the row's key, not a secret) and a secret of 256 random
bits; the row keeps the secret's SHA-256, the user, the hash of the token the user signed
in with, and when the session ends. A session holds while its row does, while it has not
expired, while its user is enabled and still holds that token: signing out deletes the row;
disabling a user, rotating its token or removing it deletes the user's rows
(``gsoia.node.accounts``), and the check on the token ends a session opened in a race with
a rotation. Expired rows are deleted as someone signs in.

Every request of the web pages asks here. A session found is trusted for ``SIGNED_IN_FOR``
seconds without asking the store again, as a token is: a change made by another process,
or on another host sharing the database, holds here within that bound; one made by this
process holds at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, bindparam, delete, false, insert, select

from gsoia.node.errors import Unauthorized
from gsoia.node.recent import Recent
from gsoia.node.users import SIGNED_IN_FOR, User, same_hash
from gsoia.node.visitors import PREFIX as VISITOR
from gsoia.store.database import peeking
from gsoia.store.schema import sessions, users

if TYPE_CHECKING:
    from gsoia.node.service import Node

LIFETIME = 8 * 3600
"""Seconds a session lasts (a working day); there is no sliding renewal."""
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22}")
"""A session id as issued: 16 random bytes, base64url without padding."""
MAX_SECRET = 64


@dataclass(frozen=True)
class WebSession:
    """A session found in the store: its id, its user as the store has it now, its end."""

    sid: str
    user: User
    expires_at: str
    """UTC, ISO 8601 with microseconds (the audit log's form: ordered as text)."""


@dataclass(frozen=True)
class _Found:
    secret_hash: str
    user: User
    expires_at: str
    at: float
    """``time.monotonic()`` just before the store was asked."""


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _random(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode("ascii")


_FIND = (
    select(users, sessions.c.secret_hash, sessions.c.expires_at)
    .select_from(
        sessions.join(
            users,
            and_(users.c.id == sessions.c.user_id, users.c.token_hash == sessions.c.token_hash),
        )
    )
    .where(sessions.c.id == bindparam("sid"), users.c.disabled == false())
)


def end_all(connection: Connection, user_id: str) -> int:
    """Delete every session of ``user_id`` (in the caller's transaction); how many."""
    result = connection.execute(delete(sessions).where(sessions.c.user_id == user_id))
    return int(result.rowcount or 0)


class WebSessions:
    """The node's web sessions: opened at sign-in, found on each request, ended."""

    def __init__(self, node: Node, *, lifetime: int = LIFETIME) -> None:
        self.node = node
        self.lifetime = lifetime
        self._found: Recent[str, _Found] = Recent(10_000)

    def _now(self) -> dt.datetime:
        return self.node.clock().astimezone(dt.UTC)

    def open(self, user: User, token_hash: str) -> tuple[WebSession, str]:
        """A new session for ``user``, who signed in with the token hashed ``token_hash``:
        the session and its secret (for the cookie only; the store keeps its hash).

        The user is read again in the transaction: one disabled or given another token
        since the token was checked gets no session, nor does a visitor (``gsoia.node.
        visitors``). Expired sessions are deleted.
        """
        if user.id.startswith(VISITOR):  # its days are checked with its token, on each request
            raise Unauthorized("a visitor's token is used at the REST API, not for a web session")
        now = self._now()
        expires_at = _iso(now + dt.timedelta(seconds=self.lifetime))
        sid, secret = _random(16), _random(32)
        with self.node.audit.transaction() as tx:
            current = tx.connection.execute(
                select(users.c.id).where(
                    users.c.id == user.id,
                    users.c.token_hash == token_hash,
                    users.c.disabled == false(),
                )
            ).first()
            if current is None:
                raise Unauthorized("unknown or revoked token")
            expired = tx.connection.execute(
                delete(sessions).where(sessions.c.expires_at <= _iso(now))
            ).rowcount
            tx.connection.execute(
                insert(sessions).values(
                    id=sid,
                    secret_hash=secret_hash(secret),
                    user_id=user.id,
                    token_hash=token_hash,
                    created_at=_iso(now),
                    expires_at=expires_at,
                )
            )
            tx.append(
                "session.opened",
                user.id,
                {"expires_at": expires_at, "expired_deleted": int(expired or 0)},
            )
        return WebSession(sid, user, expires_at), secret

    def find(self, sid: str, secret: str) -> WebSession | None:
        """The session ``sid`` if ``secret`` is its secret and it still holds; else None."""
        if not SESSION_ID.fullmatch(sid) or not secret or len(secret) > MAX_SECRET:
            return None
        now = time.monotonic()
        found = self._found.get(sid)
        if found is None or now - found.at >= SIGNED_IN_FOR:
            with peeking(self.node.engine) as connection:
                row = connection.execute(_FIND, {"sid": sid}).first()
            if row is None:
                self._found.discard(sid)
                return None
            if not self.node.accounts.seal.holds_now(dict(row._mapping)):  # edited in SQL
                self._found.discard(sid)
                self.node.audit.record("integrity", "node", {"user": row.id, "where": "session"})
                return None
            found = _Found(row.secret_hash, User.from_row(row), row.expires_at, now)
            self._found.put(sid, found)
        if not same_hash(found.secret_hash, secret_hash(secret)):
            return None
        if found.expires_at <= _iso(self._now()):
            return None
        return WebSession(sid, found.user, found.expires_at)

    def end(self, session: WebSession) -> None:
        """Sign out: the session's row deleted, here and for every other process."""
        with self.node.audit.transaction() as tx:
            tx.connection.execute(delete(sessions).where(sessions.c.id == session.sid))
            tx.append("session.ended", session.user.id, {"user": session.user.id})
            tx.on_commit(lambda: self._found.discard(session.sid))

    def forget(self) -> None:
        """Forget every session trusted (an account changed in this process)."""
        self._found = Recent(self._found.size)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
