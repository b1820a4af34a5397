"""Gossip: the heads a node holds of its other partners, carried in its ``head`` packages.

A partner witnesses each head a node shows it, but a node could show one history to one
partner and another to the next (a split view): each sees a consistent series. So the
body of a ``head`` package carries the latest signed tree head its sender holds of each
of its other partners: ``{"heads": [{"nation", "size", "root", "signature", "at"}, …]}``,
at most ``MAX_GOSSIP``, one per nation. Each head is signed by the node it belongs to, so
the gossiper cannot forge one; the receiver checks it with that node's pinned key and
compares it with the head it holds of that node (``node.exchange.gossip``).

Pure: the shape of the body, both ways. Nothing here checks a signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gsoia.audit.log import TreeHead
from gsoia.audit.witness import NotAHead, read_head

MAX_GOSSIP = 256
"""Heads in one ``head`` package (about 250 bytes each)."""


@dataclass(frozen=True)
class Gossiped:
    """The head a gossiper holds of ``nation``'s log (its signature not checked yet)."""

    nation: str
    head: TreeHead


@dataclass(frozen=True)
class BadGossip:
    """A gossiped head refused, and why (``nation`` empty when none could be read);
    ``sha256``: of what was refused (its JSON, keys sorted), to tell one from another."""

    nation: str
    reason: str
    sha256: str

    @classmethod
    def of(cls, nation: str, reason: str, refused: object) -> BadGossip:
        spelt = json.dumps(refused, sort_keys=True, ensure_ascii=True, default=str)
        return cls(nation, reason, hashlib.sha256(spelt.encode("ascii")).hexdigest())

    def to_dict(self) -> dict[str, str]:
        return {"nation": self.nation, "reason": self.reason, "sha256": self.sha256}


def gossip_body(heads: Mapping[str, TreeHead]) -> dict[str, Any]:
    """The body of a ``head`` package carrying ``heads`` (nation: the head held of it),
    in the order of their nations, at most ``MAX_GOSSIP``."""
    chosen = sorted(heads.items())[:MAX_GOSSIP]
    return {"heads": [{"nation": nation} | head.to_dict() for nation, head in chosen]}


def read_gossip(body: Mapping[str, Any]) -> tuple[list[Gossiped], list[BadGossip]]:
    """The heads a ``head`` package's body gossips, and the ones refused for their shape
    (a second head of one nation is refused; a body that is not gossip, all of it)."""
    if not body:
        return [], []
    entries = body.get("heads")
    if sorted(body) != ["heads"] or not isinstance(entries, list):
        return [], [BadGossip.of("", "the body is not a list of heads", body)]
    if len(entries) > MAX_GOSSIP:
        return [], [BadGossip.of("", f"{len(entries)} heads, over {MAX_GOSSIP}", body)]
    gossiped: list[Gossiped] = []
    bad: list[BadGossip] = []
    nations: set[str] = set()
    for entry in entries:
        nation = entry.get("nation") if isinstance(entry, dict) else None
        if not isinstance(nation, str) or not 0 < len(nation) <= 32 or not nation.isprintable():
            bad.append(BadGossip.of("", "a head names no nation", entry))
            continue
        if nation in nations:
            bad.append(BadGossip.of(nation, "a second head of the same nation", entry))
            continue
        nations.add(nation)
        try:
            head = read_head({k: v for k, v in entry.items() if k != "nation"})
        except NotAHead as e:
            bad.append(BadGossip.of(nation, f"not a signed tree head: {e}", entry))
            continue
        gossiped.append(Gossiped(nation, head))
    return gossiped, bad
