"""Audit entries as sentences a person reads: who did what to which item, when, and by
which rule ("jpn-analyst released item Harbour survey to CAN (ALLOW, JPN-CAN)").

Pure: an entry (as the reader may see it, ``gsoia.node.audit_view``) and the titles of the
items the reader may read in; a ``Sentence`` out, which the audit page draws with links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gsoia.node.authority import entry_item

VERBS = {
    "item.created": "created",
    "item.read": "read",
    "item.refused": "was refused",
    "item.released": "released",
    "item.reclassified": "reclassified",
    "item.remarked": "re-marked",
    "item.version": "stored a new version of",
    "item.withdraw": "withdrew",
    "package.received": "received",
    "package.refused": "refused a package of",
    "package.refused_by_peer": "had a package refused by the partner for",
    "package.delivered": "delivered",
    "package.cancelled": "cancelled the package of",
    "package.unacknowledged": "got no receipt for",
    "consent.granted": "gave consent for",
    "consent.refused": "refused consent for",
    "consent.requested": "asked consent for",
    "consent.request_received": "was asked consent for",
    "consent.received": "was given consent for",
    "consent.refusal_received": "was refused consent for",
    "consent.withdrawn": "withdrew consent for",
    "consent.withdrawal_sent": "withdrew consent for",
    "consent.withdrawal_received": "was told consent was withdrawn for",
    "incident.reported": "reported an incident on",
    "incident.received": "was told of an incident on",
    "incident.step": "took an incident a step on for",
    "incident.step_received": "was told of an incident step on",
    "custody.onward": "was told of an onward release of",
    "custody.onward_told": "told the originator what came of its release of",
    "integrity": "found an integrity failure on",
    "refused": "was refused",
}
"""What each kind of entry about an item says its actor did."""

DEEDS = {
    "session.opened": "signed in",
    "session.ended": "signed out",
    "items.listed": "listed items",
    "decide": "asked for a decision",
    "user.added": "added an account",
    "user.changed": "changed an account",
    "user.disabled": "disabled an account",
    "user.enabled": "enabled an account",
    "user.removed": "removed an account",
    "user.token_rotated": "rotated an account's token",
    "peer.pinned": "pinned a partner node",
    "keys.rotated": "rotated the node's keys",
    "witness.alarm": "raised a witness alarm",
    "witness.acknowledged": "acknowledged a witness alarm",
    "refused": "was refused",
}
"""What an entry about no item says its actor did; other kinds read as ``actor <kind>``."""


@dataclass(frozen=True)
class Sentence:
    actor: str
    verb: str
    item: str | None
    """The id of the item the entry is about."""
    title: str | None
    """Its title, when the reader may read the item."""
    rest: str
    """What follows the item: ``to CAN``, ``from R to C``, a refused request's path."""
    why: str
    """The decision that ruled, in brackets: ``ALLOW, JPN-CAN``, ``NO_AGREEMENT, rule 3``."""


def sentence(entry: dict[str, Any], titles: dict[str, str]) -> Sentence:
    data = entry.get("data") or {}
    kind = str(entry.get("kind", ""))
    item = entry_item(entry)
    verb = VERBS.get(kind, kind) if item else DEEDS.get(kind, kind)
    return Sentence(
        actor=str(entry.get("actor", "")),
        verb=verb,
        item=item,
        title=titles.get(item) if item else None,
        rest=_rest(kind, data),
        why=_why(kind, data),
    )


def _rest(kind: str, data: dict[str, Any]) -> str:
    parts = []
    if kind == "refused" and isinstance(data.get("action"), str):
        parts.append(f"({data['action']})")
    if isinstance(data.get("from"), str):
        parts.append(f"from {data['from']}")
    if isinstance(data.get("to"), str):
        parts.append(f"to {data['to']}")
    return " ".join(parts)


def _why(kind: str, data: dict[str, Any]) -> str:
    parts = []
    if isinstance(data.get("reason"), str):
        parts.append(data["reason"] if data["reason"].isupper() else "")
    elif kind == "item.released" or data.get("allow") is True:
        parts.append("ALLOW")
    if isinstance(data.get("agreement"), str):
        parts.append(data["agreement"])
    if isinstance(data.get("rule"), int) and not isinstance(data.get("rule"), bool):
        parts.append(f"rule {data['rule']}")
    return ", ".join(p for p in parts if p)
