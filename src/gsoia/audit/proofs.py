"""Inclusion and consistency proofs over the stored log (RFC 9162 §2.1.3, §2.1.4).

A proof is computed from the log's subtree roots (``audit.levels``, kept by the log and
caught up from the store as proofs are asked for): O(log² n) hashes. Its root is the one
stored after entry ``size - 1`` (checked against the leaves), with that entry's
signature when a transaction ended there (a signed head). A proof is only as good as the
head it is checked against: a witness asks for sizes of heads it holds, signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from gsoia.audit.levels import Levels
from gsoia.audit.log import AuditLog
from gsoia.audit.merkle import ProofError, consistency_path, inclusion_path
from gsoia.store.schema import audit_entries


@dataclass(frozen=True)
class StoredHead:
    """The root after the first ``size`` entries, and its signature if one was made."""

    size: int
    root: bytes
    signature: bytes | None
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.size,
            "root": self.root.hex(),
            "signature": None if self.signature is None else self.signature.hex(),
            "at": self.at,
        }


@dataclass(frozen=True)
class InclusionProof:
    """Entry ``leaf_index``'s leaf is in the tree of ``head.size`` entries."""

    leaf_index: int
    leaf: bytes
    path: list[bytes]
    head: StoredHead

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.head.size,
            "leaf_index": self.leaf_index,
            "leaf": self.leaf.hex(),
            "inclusion_path": [h.hex() for h in self.path],
            "head": self.head.to_dict(),
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``first.size`` entries is a prefix of the tree of ``second.size``."""

    first: StoredHead
    second: StoredHead
    path: list[bytes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size_1": self.first.size,
            "tree_size_2": self.second.size,
            "consistency_path": [h.hex() for h in self.path],
            "first": self.first.to_dict(),
            "second": self.second.to_dict(),
        }


def inclusion(log: AuditLog, seq: int, size: int) -> InclusionProof:
    """The proof that entry ``seq`` is in the tree of ``size`` entries; ``ProofError``
    if ``seq`` is not below ``size`` or the log is shorter than ``size``."""
    if not 0 <= seq < size:
        raise ProofError(f"entry {seq} is not in a tree of {size} entries")

    def prove(levels: Levels) -> InclusionProof:
        _check_size(levels, size)
        path = inclusion_path(seq, size, levels.mth)
        return InclusionProof(seq, levels.mth(seq, seq + 1), path, _head(log, levels, size))

    return log.with_subtrees(size, prove)


def consistency(log: AuditLog, first: int, second: int) -> ConsistencyProof:
    """The proof that the tree of ``first`` entries is a prefix of the tree of ``second``
    (``0 < first <= second``); ``ProofError`` otherwise, or if the log is shorter."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from {first} entries to {second}")

    def prove(levels: Levels) -> ConsistencyProof:
        _check_size(levels, second)
        path = consistency_path(first, second, levels.mth)
        return ConsistencyProof(_head(log, levels, first), _head(log, levels, second), path)

    return log.with_subtrees(second, prove)


def _check_size(levels: Levels, size: int) -> None:
    if levels.size < size:
        raise ProofError(f"the log has {levels.size} entries, not {size}")


def _head(log: AuditLog, levels: Levels, size: int) -> StoredHead:
    """The stored head after entry ``size - 1``, its root the one the leaves give (a row
    whose stored root differs is refused: ``gsoia audit verify`` names it)."""
    with log.engine.connect() as connection:
        row = connection.execute(
            select(audit_entries.c.root, audit_entries.c.signature, audit_entries.c.at).where(
                audit_entries.c.seq == size - 1
            )
        ).one()
    computed = levels.mth(0, size)
    if bytes(row.root) != computed:
        raise ProofError(f"the stored root after entry {size - 1} is not its leaves' root")
    signature = None if row.signature is None else bytes(row.signature)
    return StoredHead(size, computed, signature, row.at)
