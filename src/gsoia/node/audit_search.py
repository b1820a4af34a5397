"""The audit log searched by people: entries newest first, narrowed by item, actor, kind
and day, each as the searcher may read it (``audit_view.shown_entries``).

The log may hold millions of entries: the search walks back from a cursor by ``seq`` (the
primary key) in batches, stops once a page is full or ``SCAN_LIMIT`` rows were looked at,
and hands back where to go on from. The database narrows each batch by user, kind and day
through their indexes (``audit_entries_actor``, ``_kind``, ``_at``); the item, found in
the entry's body, and what the searcher may not read are narrowed here, so a filter by
item alone looks at ``SCAN_LIMIT`` entries (of those the other filters leave) at most."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, select

from gsoia.node.audit_view import shown_entries
from gsoia.node.authority import Action, entry_item
from gsoia.node.item import items_by_id
from gsoia.node.users import User
from gsoia.store.schema import audit_entries

if TYPE_CHECKING:
    from gsoia.node.service import Node

PAGE = 50
BATCH = 500
SCAN_LIMIT = 20_000
"""Rows looked at for one page at most: a narrow filter over a long log answers with what
it found so far and the cursor to go on from."""


@dataclass(frozen=True)
class AuditFilter:
    """What a person narrows the log to; each part left ``None`` or empty matches all."""

    item: str | None = None
    actor: str | None = None
    kind: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    """The last day included."""

    def clauses(self) -> list[ColumnElement[bool]]:
        """The parts the database can apply (the item is checked again on each entry)."""
        table = audit_entries.c
        clauses: list[ColumnElement[bool]] = []
        if self.actor:
            clauses.append(table.actor == self.actor)
        if self.kind:
            clauses.append(table.kind == self.kind)
        if self.since:
            clauses.append(table.at >= self.since.isoformat())
        if self.until:
            clauses.append(table.at < (self.until + dt.timedelta(days=1)).isoformat())
        if self.item:
            clauses.append(table.body.contains(self.item, autoescape=True))
        return clauses

    def matches(self, entry: dict[str, Any]) -> bool:
        """The entry, as shown, is about the item filtered on (any entry if none)."""
        return not self.item or entry_item(entry) == self.item


@dataclass(frozen=True)
class AuditSearch:
    entries: list[dict[str, Any]]
    """Newest first, as the searcher may read them."""
    titles: dict[str, str]
    """The titles of the items named by entries the searcher may read."""
    older: int | None
    """The cursor (``before``) of the next page back; ``None`` at the log's start."""


def search(
    node: Node, user: User, wanted: AuditFilter, *, before: int | None = None, page: int = PAGE
) -> AuditSearch:
    """Up to ``page`` entries with ``seq`` below ``before`` that match ``wanted``."""
    node.require(user, Action.AUDIT)
    cursor = before
    found: list[dict[str, Any]] = []
    scanned = 0
    with node.engine.connect() as connection:
        while len(found) < page and scanned < SCAN_LIMIT:
            rows = connection.execute(batch(wanted, cursor)).all()
            scanned += len(rows)
            for shown in shown_entries(node, connection, user, [(b, lf) for _, b, lf in rows]):
                cursor = shown["seq"]
                if wanted.matches(shown):
                    found.append(shown)
                    if len(found) == page:
                        break
            if len(rows) < BATCH and len(found) < page:
                cursor = None
                break
        titles = _titles(connection, found)
    older = cursor if cursor is not None and cursor > 0 else None
    return AuditSearch(found, titles, older)


def batch(wanted: AuditFilter, before: int | None) -> Select[Any]:
    """The next ``BATCH`` entries below ``before`` that the database finds ``wanted``,
    newest first: by user, kind or day through their indexes (migration 0015)."""
    query = select(audit_entries.c.seq, audit_entries.c.body, audit_entries.c.leaf).where(
        *wanted.clauses()
    )
    if before is not None:
        query = query.where(audit_entries.c.seq < before)
    return query.order_by(audit_entries.c.seq.desc()).limit(BATCH)


def _titles(connection: Connection, entries: list[dict[str, Any]]) -> dict[str, str]:
    ids = {item for e in entries if "withheld" not in e and (item := entry_item(e)) is not None}
    return {item_id: item.title for item_id, item in items_by_id(connection, ids).items()}
