"""The chain of custody drawn: one box per nation holding (or sent) the item, one arrow per
package, coloured by its state (``gsoia.node.exchange.custody``).

The originator's box is in the first column; a nation a package went to stands one column
right of the nation that sent it. The picture is an SVG the page draws from these
coordinates; its colours are CSS classes (``link-<state>``), never style attributes (the
pages' Content-Security-Policy allows no inline style).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BOX_W, BOX_H = 96, 40
COLUMN, ROW = 190, 64
MARGIN = 12
HEAD = 8
"""The arrowhead's length."""


@dataclass(frozen=True)
class Box:
    nation: str
    role: str
    x: int
    y: int


@dataclass(frozen=True)
class Arrow:
    source: str
    to: str
    state: str
    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def head(self) -> str:
        """The arrowhead's polygon points, at (x2, y2), pointing along the arrow."""
        dx, dy = self.x2 - self.x1, self.y2 - self.y1
        length = max((dx * dx + dy * dy) ** 0.5, 1.0)
        ux, uy = dx / length, dy / length
        bx, by = self.x2 - ux * HEAD, self.y2 - uy * HEAD
        points = [(self.x2, self.y2), (bx - uy * 5, by + ux * 5), (bx + uy * 5, by - ux * 5)]
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)

    @property
    def label_x(self) -> int:
        return (self.x1 + self.x2) // 2

    @property
    def label_y(self) -> int:
        return (self.y1 + self.y2) // 2 - 6


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    boxes: list[Box]
    arrows: list[Arrow]

    @property
    def description(self) -> str:
        """The picture in words (its ``desc``)."""
        if not self.arrows:
            return "Held by its originator only; sent nowhere."
        return "; ".join(f"{a.source} to {a.to}: {a.state}" for a in self.arrows) + "."


def drawing(custody: dict[str, Any]) -> Drawing:
    """The chain of ``custody`` (as ``GET /api/v1/items/{id}/custody`` answers) laid out."""
    roles = {h["nation"]: h["role"] for h in custody["holders"]}
    column = {custody["originator"]: 0}
    for link in custody["chain"]:
        column.setdefault(link["from"], 0)
        column.setdefault(link["to"], column[link["from"]] + 1)
    for nation in roles:
        column.setdefault(nation, 1)
    rows: dict[int, int] = {}
    place: dict[str, tuple[int, int]] = {}
    for nation, col in column.items():
        row = rows.get(col, 0)
        rows[col] = row + 1
        place[nation] = (MARGIN + col * COLUMN, MARGIN + row * ROW)
    boxes = [Box(n, roles.get(n, "sent to"), x, y) for n, (x, y) in place.items()]
    arrows = []
    seen: dict[tuple[str, str], int] = {}
    for link in custody["chain"]:
        pair = (link["from"], link["to"])
        again = seen.get(pair, 0)
        seen[pair] = again + 1
        (sx, sy), (tx, ty) = place[link["from"]], place[link["to"]]
        shift = 8 * again - 4 * (again > 0)
        arrows.append(
            Arrow(
                link["from"],
                link["to"],
                link["state"],
                sx + BOX_W,
                sy + BOX_H // 2 + shift,
                tx,
                ty + BOX_H // 2 + shift,
            )
        )
    width = MARGIN * 2 + (max(column.values()) * COLUMN) + BOX_W
    height = MARGIN * 2 + (max(rows.values()) - 1) * ROW + BOX_H
    return Drawing(width, height, boxes, arrows)


def who(event: dict[str, Any]) -> str:
    """Who did what a custody event says (or the nation it came from)."""
    return str(event.get("by") or event.get("from") or event.get("nation") or "")


def detail(event: dict[str, Any]) -> str:
    """The rest of a custody event, in words."""
    parts = []
    if event.get("to"):
        parts.append(f"to {event['to']}")
    if event.get("told"):
        parts.append(f"sent to {event['told']}")
    if event.get("was"):
        parts.append(f"from {event['was']}")
    if event.get("classification"):
        parts.append(f"now {event['classification']}")
    if event.get("state"):
        parts.append(f"({event['state']})")
    if event.get("marking"):
        parts.append(f"marked {event['marking']}")
    if event.get("kind"):
        parts.append(str(event["kind"]).replace("_", " "))
    if event.get("note"):
        parts.append(f"— “{event['note']}”")
    return " ".join(parts)
