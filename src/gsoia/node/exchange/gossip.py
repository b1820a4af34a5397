"""Gossip between witnesses: what each holds of third parties, compared.

Each partner witnesses the heads a node shows it (``witnesses``), so a node that shows one
history to Canada and another to the United States is consistent in each one's eyes: a
split view. Every ``head`` package therefore carries the heads its sender holds of its
other partners (``federation.gossip``), and the receiver compares each with the head it
holds of the same node:

- a nation the receiver has not pinned, itself, or the gossiper: ignored;
- a head not signed by that nation's pinned key (or one it retired): refused, that head
  only, audited once (``gossip.refused``); a gossiper cannot forge another's head, so it
  cannot raise an alarm about anyone;
- no head held of that nation, the same head, or a partner already under an alarm:
  nothing to do;
- the same size with another root: two signed heads of one size, a fork proved at once;
- another size: the nation is asked for the consistency proof between the two (the
  smaller size to the larger). A proof that fails, or a refusal to give one, is a fork;
  a proof that holds is remembered by ``witnesses`` (a pair of heads is proven once,
  whether they came in packages or in gossip), and a larger
  head so proven becomes the one held. A nation that cannot be reached now is asked
  again when the head is gossiped again.

A fork raises the alarm of ``witnesses`` about that nation, naming the gossiper and both
heads (once per pair of heads): its packages are refused until an officer acknowledges.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gsoia.audit.log import TreeHead, head_message
from gsoia.audit.witness import Seen
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import verify_any
from gsoia.federation.gossip import BadGossip, Gossiped, gossip_body, read_gossip
from gsoia.federation.packages import Package
from gsoia.node.exchange.peers import PeerBook
from gsoia.node.exchange.witnesses import Witnesses

if TYPE_CHECKING:
    from gsoia.node.service import Node

log = logging.getLogger("gsoia.exchange")
AUDITED = 4096
"""Refusals audited kept in memory at most (then forgotten, all)."""


class Compared(StrEnum):
    """What became of one gossiped head."""

    IGNORED = "ignored"
    """Of a nation not pinned here, of this node, or of the gossiper itself."""
    REFUSED = "refused"
    """Not signed by the nation it names (or not a head at all)."""
    NOT_HELD = "not_held"
    """No head held of that nation: nothing to compare it with."""
    CONSISTENT = "consistent"
    """The head held, or proven on the same history."""
    UNCHECKED = "unchecked"
    """The nation could not be asked for a proof now."""
    ALARM = "alarm"
    """Two histories (or the nation was already under an alarm)."""


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, compared: Compared) -> None:
        self.counts[compared.value] = self.counts.get(compared.value, 0) + 1


class Gossip:
    """The heads this node gossips, and those its partners gossip to it."""

    def __init__(self, node: Node, peers: PeerBook, witnesses: Witnesses) -> None:
        self.node = node
        self.peers = peers
        self.witnesses = witnesses
        self._audited: set[bytes] = set()

    # -- sending -----------------------------------------------------------------------------

    def body_for(self, nation: str) -> dict[str, Any]:
        """The body of a ``head`` package to ``nation``: the heads held of the others."""
        held = self.witnesses.held_heads()
        return gossip_body({n: h for n, h in held.items() if n != nation})

    # -- receiving ---------------------------------------------------------------------------

    def receive(self, package: Package) -> dict[str, Any]:
        """A ``head`` package (its own head witnessed as it was opened): each head it
        gossips compared with the one held (unless the node's ``witnessing`` is off).
        Never refused for what it gossips."""
        if not self.node.config.witnessing:  # off (to measure its cost): nothing compared
            return {"package": package.id, "head": "witnessed"}
        gossiped, bad = read_gossip(package.body)
        if not gossiped and not bad:
            return {"package": package.id, "head": "witnessed"}
        tally = Tally()
        for _ in bad:
            tally.add(Compared.REFUSED)
        for one in gossiped:
            compared, refusal = self._compare(package.sender, one)
            tally.add(compared)
            if refusal is not None:
                bad.append(refusal)
        if bad:
            self._audit_refused(package, bad)
        return {"package": package.id, "head": "witnessed", "gossip": tally.counts}

    def _compare(self, gossiper: str, one: Gossiped) -> tuple[Compared, BadGossip | None]:
        nation, shown = one.nation, one.head
        if nation in (self.node.nation, gossiper) or self.peers.known(nation) is None:
            return Compared.IGNORED, None
        try:
            verify_any(
                list(self.peers.signing_keys(nation)),
                head_message(shown.size, shown.root),
                shown.signature,
            )
        except BadSignature:
            refused = BadGossip.of(nation, f"not signed by {nation}", shown.to_dict())
            return Compared.REFUSED, refused
        witnesses = self.witnesses
        if witnesses.open_alarm(nation) is not None:
            return Compared.ALARM, None
        held = witnesses.held(nation)
        if held is None:
            return Compared.NOT_HELD, None
        judgement = witnesses.judged(nation, held, shown)
        if judgement is None:
            log.warning("gossip: %s's head of %d entries unchecked", nation, shown.size)
            return Compared.UNCHECKED, None
        if judgement.seen is Seen.FORKED:
            self._alarm(gossiper, nation, held, shown, judgement.reason)
            return Compared.ALARM, None
        if judgement.seen is Seen.EXTENDS:
            witnesses.advance(nation, held, shown)
        return Compared.CONSISTENT, None

    def _alarm(self, gossiper: str, nation: str, held: TreeHead, shown: TreeHead, why: str) -> None:
        witnesses = self.witnesses
        if witnesses.alarms.raised_before(nation, held, shown):
            return
        me = self.node.nation
        reason = (
            f"{nation} showed two histories of its audit log, one to {me} and one to"
            f" {gossiper} (the head {me} holds: {_entries(held)}; the head {gossiper} holds:"
            f" {_entries(shown)}): {why}"
        )
        log.error("gossip: %s", reason)
        witnesses.alarms.raise_alarm(nation, reason, held, shown, gossiped_by=gossiper)

    def _audit_refused(self, package: Package, bad: list[BadGossip]) -> None:
        """One audit entry for the heads refused in a package; the same refusals from the
        same gossiper (the same heads, refused for the same reasons) are audited once."""
        refused = [b.to_dict() for b in bad]
        digest = hashlib.sha256(canonical_json({"from": package.sender, "heads": refused}))
        if digest.digest() in self._audited:
            return
        if len(self._audited) >= AUDITED:
            self._audited.clear()
        self._audited.add(digest.digest())
        self.node.audit.record(
            "gossip.refused",
            "inbox",
            {"package": package.id, "from": package.sender, "heads": refused},
        )


def _entries(head: TreeHead) -> str:
    return f"{head.size} entries ({head.at})"
