"""The audit log's head and proofs, for officers (and witnesses): ``GET /api/v1/audit/head``,
``/api/v1/audit/proof/inclusion``, ``/api/v1/audit/proof/consistency``.

Only hashes leave: a proof carries leaf hashes and roots, never an entry's body, so an
officer who may not read an item learns nothing of it from a proof.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gsoia.audit import proofs
from gsoia.audit.merkle import ProofError
from gsoia.errors import InputError
from gsoia.node.authority import Action
from gsoia.node.users import User

if TYPE_CHECKING:
    from gsoia.node.service import Node


def head(node: Node, user: User) -> dict[str, Any]:
    """The latest signed tree head, and the key that signed it (``head`` None: empty)."""
    node.require(user, Action.AUDIT)
    latest = node.audit.head()
    return {
        "head": None if latest is None else latest.to_dict(),
        "signing_key": node.public.signing.hex(),
    }


def inclusion(node: Node, user: User, seq: int, size: int) -> dict[str, Any]:
    """Entry ``seq``'s inclusion in the tree of ``size`` entries (RFC 9162 §2.1.3)."""
    node.require(user, Action.AUDIT)
    try:
        proof = proofs.inclusion(node.audit, seq, size)
    except ProofError as e:
        raise InputError.of("size" if seq < size else "seq", str(e)) from e
    return {**proof.to_dict(), "signing_key": node.public.signing.hex()}


def consistency(node: Node, user: User, first: int, second: int) -> dict[str, Any]:
    """How the tree of ``first`` entries grew into the tree of ``second`` (RFC 9162 §2.1.4)."""
    node.require(user, Action.AUDIT)
    try:
        proof = proofs.consistency(node.audit, first, second)
    except ProofError as e:
        raise InputError.of("second" if 0 < first <= second else "first", str(e)) from e
    return {**proof.to_dict(), "signing_key": node.public.signing.hex()}
