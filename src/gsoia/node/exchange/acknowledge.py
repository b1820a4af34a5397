"""The receipts this node gives for the releases it accepts (``audit.acknowledgement``).

A release is stored with its ``package.received`` entry; once the transaction commits,
its receipt proves that entry in the signed head the transaction ended with. The releases
of a batch share that head: their inclusion paths are computed together, from the log's
subtree roots, in one pass (``Acknowledger.acknowledge``). A release posted again (the
sender never heard the answer) is answered with its receipt again, proven in the latest
head (``Acknowledger.again``).

A receipt that cannot be made (the log's subtree roots not caught up, say) is left out of
the answer, never failing a release stored: the sender asks again.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from gsoia.audit.acknowledgement import Acknowledgement, SignedHead, issue
from gsoia.audit.levels import Levels
from gsoia.audit.log import AuditTransaction, TreeHead
from gsoia.audit.merkle import inclusion_path
from gsoia.node.exchange.received import receipt_entries
from gsoia.store.schema import audit_entries

if TYPE_CHECKING:
    from gsoia.node.service import Node

log = logging.getLogger("gsoia.exchange")
_BODIES = select(audit_entries.c.seq, audit_entries.c.body).where(
    audit_entries.c.seq.in_(bindparam("seqs", expanding=True))
)


@dataclass(frozen=True)
class Unacknowledged:
    """A release stored by a transaction not yet committed: the answer its receipt joins,
    and the entry the receipt proves."""

    outcome: dict[str, Any]
    package: str
    item: str
    seq: int
    entry: str
    marking: str


@dataclass(frozen=True)
class Proven:
    """An entry a receipt proves, and what it names."""

    package: str
    item: str
    seq: int
    entry: str
    marking: str


@dataclass
class Ledger:
    """The releases one transaction stores, to be acknowledged once it commits."""

    transaction: AuditTransaction | None = None
    stored: list[Unacknowledged] = field(default_factory=list)

    def begin(self, transaction: AuditTransaction) -> AuditTransaction:
        """Start (or start again: a batch run twice) with ``transaction``."""
        self.transaction = transaction
        self.stored = []
        return transaction

    def add(
        self, outcome: dict[str, Any], package: str, seq: int, entry: str, marking: str
    ) -> None:
        self.stored.append(Unacknowledged(outcome, package, outcome["item"], seq, entry, marking))

    @property
    def head(self) -> TreeHead | None:
        """The signed head the transaction committed with (None before)."""
        return None if self.transaction is None else self.transaction.head


class Acknowledger:
    """Makes the receipts of the releases this node stored."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def acknowledge(self, ledger: Ledger) -> None:
        """Each release of a committed ``ledger`` answered with its receipt (``receipt``);
        none while the node's ``witnessing`` is off."""
        head = ledger.head
        if not ledger.stored or head is None or not self.node.config.witnessing:
            return
        entries = [Proven(u.package, u.item, u.seq, u.entry, u.marking) for u in ledger.stored]
        for unacknowledged, receipt in zip(ledger.stored, self._issued(entries, head), strict=True):
            if receipt is not None:
                unacknowledged.outcome["receipt"] = receipt.to_dict()

    def again(self, package_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The receipts of releases received before, proven in the latest head, by package
        (those stored without an entry to prove are left out)."""
        node = self.node
        if not node.config.witnessing:
            return {}
        with node.engine.connect() as connection:
            seqs = receipt_entries(connection, package_ids)
            if not seqs:
                return {}
            rows = connection.execute(_BODIES, {"seqs": sorted(set(seqs.values()))})
            bodies = {int(row.seq): str(row.body) for row in rows}
        head = node.audit.head()
        if head is None:
            return {}
        wanted = [p for p in package_ids if p in seqs and seqs[p] in bodies]
        entries = [_proven(seqs[p], bodies[seqs[p]]) for p in wanted]
        return {
            package_id: receipt.to_dict()
            for package_id, receipt in zip(wanted, self._issued(entries, head), strict=True)
            if receipt is not None
        }

    def _issued(self, entries: list[Proven], head: TreeHead) -> list[Acknowledgement | None]:
        """The receipts of ``entries``, proven in ``head``; None for one that cannot be
        made (logged)."""
        node = self.node
        size = head.size

        def paths(levels: Levels) -> list[list[bytes] | None]:
            if levels.size < size:
                return [None] * len(entries)
            mth = functools.cache(levels.mth)  # the right edge: shared by a batch's paths
            return [inclusion_path(e.seq, size, mth) if e.seq < size else None for e in entries]

        try:
            proofs = node.audit.with_subtrees(size, paths)
        except Exception:  # a receipt must never undo a release stored: the sender asks again
            log.exception("receipts: no inclusion proof in the head of %d entries", size)
            return [None] * len(entries)
        signed = SignedHead(head.size, head.root, head.signature, head.at)
        receipts: list[Acknowledgement | None] = []
        for entry, path in zip(entries, proofs, strict=True):
            if path is None or not entry.marking:
                log.warning("receipts: entry %d cannot be proven in %d entries", entry.seq, size)
                receipts.append(None)
                continue
            receipts.append(
                issue(
                    package=entry.package,
                    item=entry.item,
                    receiver=node.nation,
                    marking=entry.marking,
                    seq=entry.seq,
                    entry=entry.entry,
                    head=signed,
                    path=path,
                )
            )
        return receipts


def _proven(seq: int, entry: str) -> Proven:
    """A ``package.received`` entry, as its receipt names it (its marking empty if the
    entry names none)."""
    data = json.loads(entry).get("data", {})
    marking = data.get("marking")
    return Proven(
        data["package"], data["item"], seq, entry, marking if isinstance(marking, str) else ""
    )
