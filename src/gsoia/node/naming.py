"""Items named in the queues (consent requests, the outbox, incidents): by title and
marking where the viewer may read the item (the authority's ``item.read`` verdict, the
release decision's marking), by id alone otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gsoia.labels_xml.banner import marking_display
from gsoia.node.authority import Action
from gsoia.node.item import items_by_id, names
from gsoia.node.users import User

if TYPE_CHECKING:
    from gsoia.node.service import Node


@dataclass(frozen=True)
class Named:
    """An item as a queue names it to one viewer."""

    title: str
    marking: str
    policy: str
    level: str
    """The marking's level (its policy's id), for the banner's colour band."""
    display: str
    """The marking as the SPIFs display it (``gsoia.labels_xml.banner``)."""

    def to_dict(self) -> dict[str, Any]:
        marking = {
            "text": self.marking,
            "display": self.display,
            "policy": self.policy,
            "level": self.level,
        }
        return {"item_title": self.title, "item_marking": marking}


def named(node: Node, user: User, item_ids: Iterable[str]) -> dict[str, Named]:
    """The title and marking of each of ``item_ids`` that ``user`` may read."""
    wanted = sorted({i for i in item_ids if i})
    if not wanted:
        return {}
    with node.engine.connect() as connection:
        rows = items_by_id(connection, wanted)
        node.versions.catch_up(connection)  # once for them all, after the rows
    found = {}
    catalogue = node.rulebook.catalogue
    for item_id, row in rows.items():
        verdict = node.verdict_on(user, Action.READ, row, caught_up=True)
        decision = verdict.decision if verdict is not None and verdict.allowed else None
        if decision is not None and decision.marking is not None:
            marking = decision.marking
            display = marking_display(catalogue, marking, names(row.releasable_to))
            level = marking.level
            found[item_id] = Named(row.title, marking.text, level.policy, level.id, display)
    return found


def with_names(
    node: Node, user: User, rows: list[dict[str, Any]], key: str = "item_id"
) -> list[dict[str, Any]]:
    """``rows`` each with ``item_title`` and ``item_marking``: those of its item (``key``)
    where ``user`` may read it, None otherwise."""
    names = named(node, user, (str(r[key]) for r in rows if r.get(key)))
    unnamed = {"item_title": None, "item_marking": None}
    return [r | (names[r[key]].to_dict() if r.get(key) in names else unnamed) for r in rows]
