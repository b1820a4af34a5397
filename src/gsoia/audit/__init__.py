"""The audit log: an append-only Merkle tree of every decision, release and event.

`gsoia.audit.merkle` holds the pure tree (RFC 9162 §2.1 hashing, roots, inclusion and
consistency proofs, the compact range); it does no I/O.
"""

from gsoia.audit.merkle import (
    EMPTY_ROOT,
    AuditError,
    CompactRange,
    ProofError,
    RootMismatchError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "AuditError",
    "CompactRange",
    "ProofError",
    "RootMismatchError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]
