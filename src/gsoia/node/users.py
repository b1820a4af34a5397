"""The node's users: roles, the subject attributes of docs/decision.md §2, API tokens (hashes
only)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gsoia.node.categories import Held, as_dict, from_column, frozen

if TYPE_CHECKING:  # light to import: the CLI takes Role from here for its help
    from gsoia.decision.request import Subject

TOKEN_PREFIX = "gsoia_"  # noqa: S105 - a prefix, not a secret
SIGNED_IN_FOR = 1.0
"""Seconds a user found in the store (by token or by web session) is trusted without asking
the store again: a change to an account holds everywhere within this bound."""


class Role(StrEnum):
    ANALYST = "analyst"
    OFFICER = "officer"
    ADMIN = "admin"
    MONITOR = "monitor"
    """Reads the metrics, nothing else (a scraper's account)."""


@dataclass(frozen=True)
class User:
    id: str
    nation: str
    clearance: str | None
    clearance_expires: dt.date | None
    need_to_know: tuple[str, ...]
    role: Role
    categories: Held = ()
    """The security categories held, by tag (docs/decision.md, "Categories")."""

    def subject(self) -> Subject:
        """The user as the subject of a decision."""
        subject: Subject = {
            "id": self.id,
            "nation": self.nation,
            "clearance": self.clearance,
            "need_to_know": list(self.need_to_know),
        }
        if self.clearance_expires is not None:
            subject["clearance_expires"] = self.clearance_expires
        if self.categories:  # most hold none: their subject is as before
            subject["categories"] = as_dict(self.categories)
        return subject

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "nation": self.nation,
            "clearance": self.clearance,
            "clearance_expires": self.clearance_expires.isoformat()
            if self.clearance_expires
            else None,
            "need_to_know": list(self.need_to_know),
            "role": self.role.value,
            "categories": as_dict(self.categories),
        }

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(
            id=row.id,
            nation=row.nation,
            clearance=row.clearance,
            clearance_expires=row.clearance_expires,
            need_to_know=tuple(json.loads(row.need_to_know)),
            role=Role(row.role),
            categories=_held(getattr(row, "categories", None)),
        )


def _held(column: str | None) -> Held:
    """A row's categories; none shown of a column that does not parse (a row edited behind
    the node's back: its signature no longer holds, so it authenticates no one)."""
    try:
        return frozen(from_column(column))
    except (ValueError, TypeError):
        return ()


def new_token() -> str:
    """A fresh API token: 256 random bits. Shown once; only its hash is kept."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 of the token (tokens are random, so no salt or stretching is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
