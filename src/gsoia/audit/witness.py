"""Witnessing a partner's log: is the head it shows now consistent with the one held?

Every package a node sends carries its latest signed tree head; the receiver keeps the
last head it holds of each sender. A head shown later must extend the one held (RFC 9162
consistency: the older tree is a prefix of the newer); the same size with another root,
or a proof that does not lead from the held root to the shown one, is two histories
signed by one key: a rollback, a truncation, or different logs shown to different
partners. Pure: the caller verifies signatures, fetches proofs and keeps heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gsoia.audit.log import TreeHead
from gsoia.audit.merkle import ProofError, verify_consistency
from gsoia.errors import GsoiaError


class Seen(StrEnum):
    """What a shown head is, against the head held of its signer."""

    FIRST = "first"
    """No head was held: keep it."""
    SAME = "same"
    """The head held: nothing to do."""
    EXTENDS = "extends"
    """A larger head, proven to extend the one held: keep it."""
    OLDER = "older"
    """A smaller head (a package signed before the one held), proven a prefix of it:
    nothing kept."""
    NEEDS_PROOF = "needs_proof"
    """Another size and no proof between the two: ask the signer for one (from the
    smaller size to the larger)."""
    FORKED = "forked"
    """Inconsistent with the head held: an alarm."""


@dataclass(frozen=True)
class Judgement:
    seen: Seen
    reason: str = ""
    """For ``FORKED``: one line saying why."""

    @property
    def keep(self) -> bool:
        return self.seen in (Seen.FIRST, Seen.EXTENDS)


def judge(
    held: TreeHead | None,
    shown: TreeHead,
    proof: Sequence[bytes] | None = None,
) -> Judgement:
    """Judge ``shown`` (its signature already verified) against ``held``; ``proof``: the
    consistency proof between their sizes (from the smaller to the larger), if at hand."""
    if held is None:
        return Judgement(Seen.FIRST)
    if shown.size == held.size:
        if shown.root == held.root:
            return Judgement(Seen.SAME)
        return Judgement(
            Seen.FORKED,
            f"two roots signed for {held.size} entries ({held.at} and {shown.at})",
        )
    small, large = (held, shown) if shown.size > held.size else (shown, held)
    if proof is None:
        return Judgement(Seen.NEEDS_PROOF)
    try:
        verify_consistency(small.size, large.size, small.root, large.root, proof)
    except ProofError as e:
        return Judgement(
            Seen.FORKED,
            f"the head of {small.size} entries ({small.at}) is not a prefix of the head of"
            f" {large.size} ({large.at}): {e}",
        )
    return Judgement(Seen.EXTENDS if large is shown else Seen.OLDER)


class NotAHead(GsoiaError):
    """What was shown as a signed tree head does not have its shape."""


def read_head(data: object) -> TreeHead:
    """The signed tree head ``data`` spells (``size``, ``root``, ``signature``, ``at``, and
    nothing else; its signature not checked); ``NotAHead`` otherwise."""
    if not isinstance(data, dict) or sorted(data) != ["at", "root", "signature", "size"]:
        raise NotAHead("not the four fields of a signed tree head")
    size, at = data["size"], data["at"]
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise NotAHead("its size is not a whole number above 0")
    if not isinstance(at, str) or len(at) > 40 or not at.isprintable():
        raise NotAHead("its time is not a short printable text")
    try:
        root, signature = bytes.fromhex(data["root"]), bytes.fromhex(data["signature"])
    except (TypeError, ValueError) as e:
        raise NotAHead("its root or signature is not hex") from e
    if len(root) != 32 or len(signature) != 64:
        raise NotAHead("its root or signature has the wrong length")
    return TreeHead(size, root, signature, at)
