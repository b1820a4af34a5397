"""Visitors' accounts at the host: who may sign in for a visit, and on which days.

Approving a visit (``gsoia.node.exchange.visits``) adds at the host one account per
visitor: the visiting nation as its nation, the clearance its assurance gives (capped at
the level approved), the visit's areas as its need-to-know. Its id is
``visitor:VISIT:PERSON``; no account an admin adds can have it (a user id holds no ':'),
so the users' routes leave it alone. Its row in ``visitor_accounts`` holds the days it is
valid: from the visit's first day to its last, and never past the assurance's expiry.
Outside them the token is refused (``Window.check``, on every sign-in and every request);
a withdrawn assurance, a cancelled or ended visit, or an admin (``gsoia user remove``)
removes the account, and a visit's last day past removes its accounts as the visits are
next listed or erased (``remove_past``). A visitor's token is asked about in the store on
every request, never trusted from memory, so a removal holds at once on every worker.
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


def end_visits(tx: AuditTransaction, user_id: str) -> bool:
    """Delete a visitor's row of days in ``tx`` (its account removed beside it); whether
    there was one."""
    where = visitor_accounts.c.user_id == user_id
    return bool(tx.connection.execute(delete(visitor_accounts).where(where)).rowcount)


def remove_past(node: Node, today: dt.date) -> list[str]:
    """Remove the visitors' accounts whose last day is before ``today``, audited
    (``visit.accounts_past``); their ids."""
    past = visitor_accounts.c.valid_until < today.isoformat()
    with node.engine.connect() as connection:
        if connection.execute(select(visitor_accounts.c.user_id).where(past)).first() is None:
            return []
    with node.audit.transaction() as tx:
        ended = end_accounts(node, tx, "node", past)
        if ended:
            tx.append("visit.accounts_past", "node", {"accounts": ended})
    return ended


def end_accounts(node: Node, tx: AuditTransaction, actor: str, where: Any) -> list[str]:
    """Remove the visitors' accounts that ``where`` (on ``visitor_accounts``) selects, and
    their rows, in ``tx``; their ids."""
    ended = list(tx.connection.execute(select(visitor_accounts.c.user_id).where(where)).scalars())
    for user_id in ended:
        node.accounts.end_visitor(tx, actor, user_id)
    if ended:
        tx.connection.execute(delete(visitor_accounts).where(where))
    return ended
