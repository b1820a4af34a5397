"""Visitors' accounts at the host: who may sign in for a visit, and on which days.

Approving a visit (``gsoia.node.exchange.visits``) adds at the host one account per
visitor: the visiting nation as its nation, the clearance its assurance gives (capped at
the level approved), the visit's areas as its need-to-know. Its id is
``visitor:VISIT:PERSON``; no account an admin adds can have it (a user id holds no ':'),
so the users' routes leave it alone. Its row in ``visitor_accounts`` holds the days it is
valid: from the visit's first day to its last, and never past the assurance's expiry.
Outside them the token is refused (``Window.check``, on every sign-in and every request);
a withdrawn assurance or a cancelled visit removes the account, which holds on every
worker within ``SIGNED_IN_FOR``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select

from gsoia.audit.log import AuditTransaction
from gsoia.node.errors import Unauthorized
from gsoia.store.schema import visitor_accounts

if TYPE_CHECKING:
    from gsoia.node.service import Node

PREFIX = "visitor:"


def visitor_id(visit_id: str, person_id: str) -> str:
    """The id of the account of ``person_id`` for the visit ``visit_id``."""
    return f"{PREFIX}{visit_id}:{person_id}"


class OutsideVisit(Unauthorized):
    """A visitor's token used outside the days of its visit."""


@dataclass(frozen=True)
class Window:
    """The days a visitor's account holds, both included."""

    first: dt.date
    last: dt.date

    def check(self, user_id: str, today: dt.date) -> None:
        """``OutsideVisit`` unless ``today`` is one of the window's days."""
        if today < self.first:
            raise OutsideVisit(f"the account '{user_id}' holds from {self.first.isoformat()}")
        if today > self.last:
            raise OutsideVisit(f"the account '{user_id}' held until {self.last.isoformat()}")


def visiting_window(connection: Connection, user_id: str) -> Window | None:
    """The window of a visitor's account; None for another account.

    A visitor's account without its row (edited away in SQL) holds on no day.
    """
    if not user_id.startswith(PREFIX):
        return None
    row = connection.execute(
        select(visitor_accounts.c.valid_from, visitor_accounts.c.valid_until).where(
            visitor_accounts.c.user_id == user_id
        )
    ).first()
    if row is None:
        return Window(dt.date.max, dt.date.min)
    return Window(dt.date.fromisoformat(row.valid_from), dt.date.fromisoformat(row.valid_until))


def end_accounts(node: Node, tx: AuditTransaction, actor: str, where: Any) -> list[str]:
    """Remove the visitors' accounts that ``where`` (on ``visitor_accounts``) selects, and
    their rows, in ``tx``; their ids."""
    ended = list(tx.connection.execute(select(visitor_accounts.c.user_id).where(where)).scalars())
    for user_id in ended:
        node.accounts.end_visitor(tx, actor, user_id)
    if ended:
        tx.connection.execute(delete(visitor_accounts).where(where))
    return ended
