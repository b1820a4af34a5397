"""A consistency proof carried with the packages it is needed for, sparing the receiver
the request for it.

Every package carries its sender's latest signed head; the receiver checks it against the
head it holds of the sender with a consistency proof, which it would otherwise ask the
sender for (``federation.witnessing``): one HTTP round trip a batch. The sender knows which
of its heads the receiver holds — the largest it showed in a batch the receiver took — so
it sends, with the next batch, the proof between that head and the one the batch shows
(from the smaller to the larger), in the ``Gsoia-Consistency`` header:
``NATION FIRST SECOND HASH,HASH,…`` (the sender's nation, the two tree sizes, the RFC 9162
proof in hex).

The proof needs no signature to be believed when it holds: it checks against the two
signed heads, or it does not. The receiver uses it only for the sender it names and the
very pair of sizes it needs. One that fails accuses no one — anybody who copied a signed
package could post it again with a false header — so the receiver then asks the sender
for the proof over the sender's own URL, and only a proof from there that fails (or a
sender that has none) is two histories. A header that is not a proof refuses the request
whole. Where the sender
guessed wrong (another process of the node showed a newer head meanwhile, or the receiver
could not check the last one), and from a node whose nation is not a plain token (letters,
digits, ``_.-``), the receiver asks for the proof it needs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gsoia.audit.log import AuditLog, TreeHead
from gsoia.audit.merkle import ProofError, consistency_path
from gsoia.federation.packages import PackageRejected, Rejection
from gsoia.federation.witnessing import MAX_PROOF

HEADER = "Gsoia-Consistency"
MAX_HEADER = 32 + 2 * 20 + MAX_PROOF * 65
"""Characters a header may have: a nation, two sizes and ``MAX_PROOF`` hashes."""
_NATION = r"[A-Za-z0-9_.-]{1,32}"
_HASHES = r"(?:[0-9a-f]{64}(?:,[0-9a-f]{64})*)?"
_SHAPE = re.compile(rf"({_NATION}) ([1-9][0-9]{{0,18}}) ([1-9][0-9]{{0,18}}) ({_HASHES})")


@dataclass(frozen=True)
class CarriedProof:
    """``nation``'s proof that its tree of ``first`` entries is a prefix of its tree of
    ``second`` (``first < second``)."""

    nation: str
    first: int
    second: int
    path: tuple[bytes, ...]

    def header(self) -> str:
        hashes = ",".join(h.hex() for h in self.path)
        return f"{self.nation} {self.first} {self.second} {hashes}"

    def proves(self, nation: str, first: int, second: int) -> bool:
        """Whether this is ``nation``'s proof from ``first`` entries to ``second``."""
        return (self.nation, self.first, self.second) == (nation, first, second)


def read_carried(value: str | None) -> CarriedProof | None:
    """The proof a ``Gsoia-Consistency`` header spells (None: no header);
    ``PackageRejected`` (``MALFORMED``) when it is not one."""
    if value is None:
        return None
    found = _SHAPE.fullmatch(value) if len(value) <= MAX_HEADER else None
    if found is None:
        raise PackageRejected(
            Rejection.MALFORMED, f"its {HEADER} header is not a consistency proof", anonymous=True
        )
    nation, first, second = found.group(1), int(found.group(2)), int(found.group(3))
    hashes = found.group(4)
    path = tuple(bytes.fromhex(h) for h in hashes.split(",")) if hashes else ()
    if not first < second or len(path) > MAX_PROOF:
        raise PackageRejected(
            Rejection.MALFORMED, f"its {HEADER} header is not a consistency proof", anonymous=True
        )
    return CarriedProof(nation, first, second, path)


@dataclass(frozen=True)
class Showing:
    """The head the batches in flight to one peer show, and the proof the peer needs for it
    (from the head it held when the first of them left)."""

    head: TreeHead
    carried: CarriedProof | None


class ShownHeads:
    """The head of this node's log each peer holds, as far as this process knows: the
    largest shown in a batch the peer took.

    Batches posted to a peer at the same time show one head (``showing``): the first takes
    this node's latest and the proof from the head the peer holds; those that leave while
    it is in flight show the same head with the same proof. Whichever arrives first, the
    peer then holds that head, and the others show it again (no proof needed). The next
    batch, once one of them came back, shows a later head with the proof from it; a batch
    of the earlier flight arriving after that shows a head the peer has just proven the
    later one to extend (its witness keeps the pair). Batches are thus posted side by
    side, not one at a time, and the peer seldom has to ask for a proof.
    """

    def __init__(self, nation: str, audit: AuditLog) -> None:
        self.nation = nation
        self.audit = audit
        self._held: dict[str, int] = {}
        self._flights: dict[str, Showing] = {}
        self._lock = threading.Lock()

    @contextmanager
    def showing(self, peer: str, latest: Callable[[], TreeHead | None]) -> Iterator[Showing | None]:
        """The head (and proof) a batch to ``peer`` shows while it is posted: the flight's
        if one is in the air, else ``latest()`` (None: an empty log, no head to show)."""
        with self._lock:
            flight = self._flights.get(peer)
        if flight is None:
            head = latest()  # read outside the lock: a query
            with self._lock:
                flight = self._flights.get(peer)  # another batch may have left meanwhile
                if flight is None and head is not None:
                    flight = Showing(head, self.proof_for(peer, head))
                    self._flights[peer] = flight
        try:
            yield flight
        finally:
            if flight is not None:
                with self._lock:
                    if self._flights.get(peer) is flight:  # the next batch shows a later head
                        del self._flights[peer]

    def proof_for(self, peer: str, head: TreeHead) -> CarriedProof | None:
        """The proof between the head ``peer`` holds and ``head`` (None: none known, the
        same, or none to be had)."""
        held = self._held.get(peer)
        if held is None or held == head.size or not re.fullmatch(_NATION, self.nation):
            return None
        first, second = min(held, head.size), max(held, head.size)
        try:
            path = self.audit.with_subtrees(
                second,
                lambda levels: (
                    consistency_path(first, second, levels.mth) if levels.size >= second else None
                ),
            )
        except ProofError:
            return None
        if path is None:
            return None
        return CarriedProof(self.nation, first, second, tuple(path))

    def held(self, peer: str) -> int | None:
        """The size of the head ``peer`` holds, as far as this process knows."""
        return self._held.get(peer)

    def taken(self, peer: str, head: TreeHead) -> None:
        """``peer`` took a batch showing ``head``: it holds that head, or a larger one."""
        with self._lock:
            self._held[peer] = max(self._held.get(peer, 0), head.size)
