"""The receipts partners answer this node's releases with: checked, then kept.

A partner that accepts a release answers with its signed receipt
(``audit.acknowledgement``). The courier checks it (``Acknowledgements.checked``) with the
partner's pinned keys, for the package and item it sent, before it settles what came of
the posting: a release whose receipt verifies is delivered, and its receipt kept
(``keep``) in the transaction that marks it; one without a receipt, or with one that does
not verify, is ``unacknowledged`` (delivered, and posted again for its receipt, with
backoff), and the audit entry says why. The head of a receipt that verifies is handed to
the witness of the partner's log (``witness``: ``node.exchange.witnesses``), once a batch;
a head of another history than the one the partner showed before, or any receipt of a
partner under a witness alarm, leaves the release unacknowledged too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert

from gsoia.audit.acknowledgement import Acknowledgement, ReceiptRefused, SignedHead, check
from gsoia.audit.merkle import Inclusions
from gsoia.federation.outbox import State
from gsoia.federation.packages import Kind
from gsoia.federation.posting import Outcome
from gsoia.store.schema import acknowledgements

_KEEP = insert(acknowledgements)
_FORGET = delete(acknowledgements).where(
    acknowledgements.c.package_id.in_(bindparam("ids", expanding=True))
)
NO_RECEIPT = "the answer carries no receipt"


class Acknowledgements:
    """Checks the receipts of the releases this node delivers, and keeps those that verify."""

    def __init__(
        self,
        keys: Callable[[str], Iterable[bytes]],
        witness: Callable[[str, SignedHead], str | None] | None = None,
    ) -> None:
        self.keys = keys
        """A peer's signing keys: the pinned one, then those it retired."""
        self.witness = witness
        """The witness of the peer's log, handed each verified receipt's head (once a
        batch): None, or why the receipt is not taken (another history shown, an alarm
        open); the release stays unacknowledged."""

    def checked(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """``outcomes`` with each release the peer took checked for its receipt: delivered
        with it (``acknowledgement``), or ``unacknowledged`` with the reason. A release
        delivered before (unacknowledged) that the peer now refuses stays unacknowledged:
        a refusal of a package it holds undoes nothing."""
        heads: dict[str, dict[SignedHead, Inclusions]] = {}  # per peer, verified in this batch
        keys: dict[str, list[bytes]] = {}  # per peer, read once a batch
        witnessed: dict[tuple[str, SignedHead], str | None] = {}  # per peer and head, likewise
        result: list[Outcome] = []
        for outcome in outcomes:
            row = outcome.row
            if row.kind != Kind.RELEASE.value:
                result.append(outcome)
            elif outcome.state == State.DELIVERED:
                if row.peer not in keys:
                    keys[row.peer] = list(self.keys(row.peer))
                verified = self._verified(outcome, keys[row.peer], heads.setdefault(row.peer, {}))
                result.append(self._witnessed(verified, witnessed))
            elif outcome.state == State.FAILED and row.state == State.UNACKNOWLEDGED:
                result.append(replace(outcome, state=State.UNACKNOWLEDGED))
            else:
                result.append(outcome)
        return result

    def _verified(
        self, outcome: Outcome, keys: list[bytes], heads: dict[SignedHead, Inclusions]
    ) -> Outcome:
        row = outcome.row
        try:
            if outcome.receipt is None:
                raise ReceiptRefused(NO_RECEIPT)
            receipt = Acknowledgement.from_dict(outcome.receipt)
            check(
                receipt,
                keys,
                receiver=row.peer,
                package=row.package_id,
                item=row.item_id,
                heads=heads,
            )
        except ReceiptRefused as e:
            return replace(outcome, state=State.UNACKNOWLEDGED, reason=e.reason[:500])
        return outcome.acknowledged(receipt)

    def _witnessed(
        self, outcome: Outcome, witnessed: dict[tuple[str, SignedHead], str | None]
    ) -> Outcome:
        """A verified receipt's head handed to the witness of its peer: the release stays
        unacknowledged if the witness does not take it."""
        receipt = outcome.acknowledgement
        if receipt is None or self.witness is None:
            return outcome
        shown = (outcome.row.peer, receipt.head)
        if shown not in witnessed:
            witnessed[shown] = self.witness(*shown)
        reason = witnessed[shown]
        if reason is None:
            return outcome
        return replace(
            outcome, state=State.UNACKNOWLEDGED, reason=reason[:500], acknowledgement=None
        )


def keep(connection: Connection, outcomes: Sequence[Outcome], now: str) -> None:
    """Keep the verified receipts of ``outcomes`` (in the transaction that marks them),
    each in place of one kept before for its package (a package sent again by hand)."""
    rows = [_row(o.acknowledgement, o.row.peer, now) for o in outcomes if o.acknowledgement]
    if rows:
        ids = [row["package_id"] for row in rows]
        for start in range(0, len(ids), 500):
            connection.execute(_FORGET, {"ids": ids[start : start + 500]})
        connection.execute(_KEEP, rows)


def _row(receipt: Acknowledgement, peer: str, now: str) -> dict[str, Any]:
    return {
        "package_id": receipt.package,
        "item_id": receipt.item,
        "peer": peer,
        "seq": receipt.seq,
        "tree_size": receipt.head.size,
        "receipt": receipt.to_json(),
        "verified_at": now,
    }


def proven(receipt: Acknowledgement) -> dict[str, Any]:
    """What an audit entry says of a verified receipt."""
    return {"seq": receipt.seq, "tree_size": receipt.head.size, "root": receipt.head.root.hex()}
