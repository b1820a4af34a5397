"""Evidence an inspector checks offline: entries of the log with their inclusion proofs.

A bundle is one JSON object::

    {"gsoia_evidence": 1, "node": "JPN", "signing_keys": [hex, ...],
     "head": {"size", "root", "signature", "at"},
     "entries": [{"seq": N, "body": "<the entry's canonical JSON>",
                  "inclusion_path": [hex, ...]}, ...],
     "about": {"item": ID} | {"from": DATE, "to": DATE},
     "receipts": [{"partner": NATION, "signing_keys": [hex, ...],
                   "receipt": {...}}, ...],
     "signature": hex}

``receipts`` (a bundle about an item; optional): the receipts the node's partners signed
for its releases of the item (``audit.acknowledgement``), each with the partner's signing
keys as the node pinned them (its current one first, then those it retired).

``signature``: Ed25519 by the node's signing key over ``b"gsoia-evidence-v1\n"`` and the
canonical JSON (RFC 8785) of the rest, so nothing in the bundle — what it says it is
about included — changes unseen.

``check_bundle`` needs nothing but the bundle: the head's signature by one of the node's
signing keys (every key it used, oldest first, its current one last), the bundle's by the
same key, then each entry's leaf (RFC 9162: ``H(0x00 || body)``) proven in that head by
its inclusion path, its ``seq`` the one its body says, and each receipt as the node
checked it when it came: for the item, its entry proven in the partner's signed head.
It proves that each entry is in the log the node signed; it cannot prove that no entry
about the item was left out (only the whole log shows that: ``gsoia audit verify``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gsoia.audit.acknowledgement import Acknowledgement, ReceiptRefused, check
from gsoia.audit.log import TreeHead, head_message
from gsoia.audit.merkle import AuditError, ProofError, inclusion_proof, leaf_hash, verify_inclusion
from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import sign, verify, verify_any

EVIDENCE_VERSION = 1
FIELDS = {"gsoia_evidence", "node", "signing_keys", "head", "entries", "about", "signature"}
OPTIONAL = {"receipts"}


def bundle_message(unsigned: dict[str, Any]) -> bytes:
    """The signed bytes of a bundle (``unsigned``: the bundle without its signature)."""
    return b"gsoia-evidence-v1\n" + canonical_json(unsigned)


class EvidenceError(AuditError):
    """A bundle does not check: ``place`` names the first part that fails."""

    def __init__(self, place: str, reason: str) -> None:
        self.place = place
        self.reason = reason
        super().__init__(f"{place}: {reason}")


@dataclass(frozen=True)
class Checked:
    """What a bundle that checks proves."""

    node: str
    entries: int
    head: TreeHead
    key: bytes
    """The key that signed the head."""
    receipts: int = 0
    """The partners' receipts checked."""


def make_bundle(
    key: Ed25519PrivateKey,
    node: str,
    signing_keys: Sequence[bytes],
    head: TreeHead,
    leaves: Sequence[bytes],
    entries: Sequence[tuple[int, str]],
    about: dict[str, str],
    receipts: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The bundle of ``entries`` (``(seq, body)``), proven in ``head`` (``leaves``: the
    leaf hashes of its first ``head.size`` entries), with the partners' ``receipts``
    (``{"partner", "signing_keys", "receipt"}``), signed with ``key``."""
    if len(leaves) != head.size:
        raise AuditError(f"{len(leaves)} leaves for a head of {head.size} entries")
    bundle = {
        "gsoia_evidence": EVIDENCE_VERSION,
        "node": node,
        "signing_keys": [key.hex() for key in signing_keys],
        "head": head.to_dict(),
        "entries": [
            {
                "seq": seq,
                "body": body,
                "inclusion_path": [h.hex() for h in inclusion_proof(seq, leaves)],
            }
            for seq, body in entries
        ],
        "about": about,
    }
    if receipts:
        bundle["receipts"] = list(receipts)
    return {**bundle, "signature": sign(key, bundle_message(bundle)).hex()}


def check_bundle(raw: bytes, key: bytes | None = None) -> Checked:
    """Check a bundle with nothing but itself; ``EvidenceError`` naming the first failure.

    ``key``: the node's signing key as the inspector knows it (from the node's officers,
    its partners): the head must be signed by it. Without one, the bundle's own keys are
    trusted, and only their fingerprint (``Checked.key``) ties the bundle to the node.
    """
    try:
        bundle = json.loads(raw)
    except ValueError as e:
        raise EvidenceError("bundle", "is not JSON") from e
    if not isinstance(bundle, dict) or bundle.get("gsoia_evidence") != EVIDENCE_VERSION:
        raise EvidenceError(
            "bundle", f"is not a gsoia evidence bundle (version {EVIDENCE_VERSION})"
        )
    if not FIELDS <= set(bundle) <= FIELDS | OPTIONAL:
        unknown = sorted((set(bundle) - OPTIONAL) ^ FIELDS)
        raise EvidenceError("bundle", f"has other fields than a bundle's: {', '.join(unknown)}")
    node = _text(bundle, "node", "node")
    keys = [_hex(k, f"signing_keys[{i}]") for i, k in enumerate(_list(bundle, "signing_keys"))]
    head = _head(bundle.get("head"))
    try:
        signer = verify_any(
            keys if key is None else [key], head_message(head.size, head.root), head.signature
        )
    except BadSignature as e:
        whose = f"any key of {node} in the bundle" if key is None else "the key given"
        raise EvidenceError("head", f"its signature is not by {whose}") from e
    entries = _list(bundle, "entries")
    for i, entry in enumerate(entries):
        _check_entry(i, entry, head)
    receipts = _list(bundle, "receipts") if "receipts" in bundle else []
    item = bundle["about"].get("item") if isinstance(bundle["about"], dict) else None
    for i, receipt in enumerate(receipts):
        _check_receipt(i, receipt, item)
    # each entry proven, the rest of the bundle (what it is about, its node) as signed
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    try:
        verify(signer, bundle_message(unsigned), _hex(bundle["signature"], "signature"))
    except BadSignature as e:
        raise EvidenceError("signature", "the bundle is not as its node signed it") from e
    return Checked(node, len(entries), head, signer, len(receipts))


def _check_entry(i: int, entry: Any, head: TreeHead) -> None:
    place = f"entries[{i}]"
    if not isinstance(entry, dict):
        raise EvidenceError(place, "is not an object")
    seq = entry.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise EvidenceError(f"{place}.seq", "is not an integer")
    body = _text(entry, "body", f"{place}.body")
    try:
        data = json.loads(body)
    except ValueError as e:
        raise EvidenceError(f"{place}.body", "is not JSON") from e
    if not isinstance(data, dict) or canonical_json(data).decode("utf-8") != body:
        raise EvidenceError(f"{place}.body", "is not an entry in canonical form")
    if data.get("seq") != seq:
        raise EvidenceError(f"{place}.seq", f"is {seq}, its body says {data.get('seq')}")
    path = [_hex(h, f"{place}.inclusion_path") for h in _list(entry, "inclusion_path", place)]
    try:
        verify_inclusion(seq, head.size, leaf_hash(body.encode("utf-8")), path, head.root)
    except ProofError as e:
        raise EvidenceError(
            f"{place} (entry {seq})", f"not proven in the head of {head.size} entries: {e}"
        ) from e


def _check_receipt(i: int, value: Any, item: Any) -> None:
    """A partner's receipt for the item, checked with the partner's keys."""
    place = f"receipts[{i}]"
    if not isinstance(value, dict):
        raise EvidenceError(place, "is not an object")
    partner = _text(value, "partner", f"{place}.partner")
    keys = [_hex(k, f"{place}.signing_keys") for k in _list(value, "signing_keys", place)]
    try:
        receipt = Acknowledgement.from_dict(value.get("receipt"))
        check(receipt, keys, receiver=partner, item=item if isinstance(item, str) else None)
    except ReceiptRefused as e:
        raise EvidenceError(f"{place} ({partner})", e.reason) from e


def _head(value: Any) -> TreeHead:
    if not isinstance(value, dict):
        raise EvidenceError("head", "is not an object")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise EvidenceError("head.size", "is not a positive integer")
    return TreeHead(
        size,
        _hex(value.get("root"), "head.root"),
        _hex(value.get("signature"), "head.signature"),
        _text(value, "at", "head.at"),
    )


def _list(container: dict[str, Any], key: str, place: str | None = None) -> list[Any]:
    value = container.get(key)
    if not isinstance(value, list):
        raise EvidenceError(f"{place}.{key}" if place else key, "is not a list")
    return value


def _text(container: dict[str, Any], key: str, place: str) -> str:
    value = container.get(key)
    if not isinstance(value, str):
        raise EvidenceError(place, "is not a string")
    return value


def _hex(value: Any, place: str) -> bytes:
    if not isinstance(value, str):
        raise EvidenceError(place, "is not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as e:
        raise EvidenceError(place, "is not a hex string") from e
