"""Receipts as a partner node signs them, for the tests' fake and simulated partners.

``signed_receipt`` makes the receipt a real node would answer a release with: its
``package.received`` entry in a small log of its own, the signed head after it, the
entry's inclusion proof, all signed with the partner's key (``audit.acknowledgement``).
A hostile partner's receipt is one of these, changed (``forged``, ``flipped``).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gsoia.audit.acknowledgement import SignedHead, issue
from gsoia.audit.log import head_message
from gsoia.audit.merkle import inclusion_proof, leaf_hash, root
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.signing import sign

AT = "2026-12-07T00:00:00.000000+00:00"


def signed_receipt(
    key: Ed25519PrivateKey,
    *,
    package: str,
    item: str,
    receiver: str = "CAN",
    sender: str = "JPN",
    marking: str | None = None,
    before: int = 3,
) -> dict[str, Any]:
    """The receipt ``receiver`` signs with ``key`` for ``package`` (item ``item``): its
    entry at seq ``before`` of a log of ``before + 2`` entries, proven in its last head."""
    marking = marking or f"{receiver} SECRET // {sender} 極秘 // {sender}-{receiver}"
    bodies = [_entry(seq, "item.read", {"item": f"other-{seq}"}) for seq in range(before)]
    data = {"package": package, "item": item, "status": "stored", "marking": marking}
    entry = _entry(before, "package.received", data, actor=sender)
    bodies += [entry, _entry(before + 1, "item.read", {"item": item})]
    leaves = [leaf_hash(body) for body in bodies]
    size, top = len(leaves), root(leaves)
    head = SignedHead(size, top, sign(key, head_message(size, top)), AT)
    receipt = issue(
        package=package,
        item=item,
        receiver=receiver,
        marking=marking,
        seq=before,
        entry=entry.decode("utf-8"),
        head=head,
        path=inclusion_proof(before, leaves),
    )
    return receipt.to_dict()


def receipt_for_package(key: Ed25519PrivateKey, raw: bytes, receiver: str) -> dict[str, Any]:
    """The receipt for a release package as posted (its JSON)."""
    package = json.loads(raw)
    return signed_receipt(
        key,
        package=package["id"],
        item=package["body"]["item"]["id"],
        receiver=receiver,
        sender=package["from"],
    )


def _entry(seq: int, kind: str, data: dict[str, Any], actor: str = "x") -> bytes:
    return canonical_json({"seq": seq, "at": AT, "kind": kind, "actor": actor, "data": data})
