"""The receipt a node gives for a release it accepted, and how anyone checks it offline.

A receipt (``Acknowledgement``) says: the receiver stored package ``package`` (item
``item``) with its marking ``marking``, and its audit log holds the entry that says so.
It carries that entry (its canonical JSON body, at ``seq``), the receiver's signed tree
head after storing it, and the entry's inclusion proof in that head (RFC 9162 §2.1.3).
The head's signature is the receipt's: it signs the tree, the tree holds the entry, and
the entry names the package, the item and the marking, so a second signature over the
same facts would prove nothing more (and cost a signature and a verification a release;
the receipts of a batch share one head, verified once). The sender checks a receipt
against the receiver's pinned keys (``check``): the package and item it names, a marking
of the receiver's, the head's signature, the entry's body and its inclusion in the head.
``gsoia audit check`` runs the same checks on the receipts an evidence bundle carries.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from gsoia.audit.log import head_message
from gsoia.audit.merkle import Inclusions, ProofError, leaf_hash
from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import verify_any
from gsoia.errors import GsoiaError

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
RECEIVED = "package.received"
"""The kind of the receiver's audit entry a receipt proves."""


class ReceiptRefused(GsoiaError):
    """A receipt that does not prove what it must: ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"receipt refused: {reason}")


@dataclass(frozen=True)
class SignedHead:
    """The receiver's signed tree head a receipt's entry is proven in."""

    size: int
    root: bytes
    signature: bytes
    at: str

    def message(self) -> bytes:
        return head_message(self.size, self.root)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._fields)

    @functools.cached_property
    def json(self) -> str:
        """``to_dict`` as compact JSON (``ensure_ascii=False``), made once: the receipts of
        a batch share their head."""
        return _COMPACT.encode(self._fields)

    @functools.cached_property
    def _fields(self) -> dict[str, Any]:
        """``to_dict``'s, made once: the receipts of a batch share their head."""
        return {
            "tree_size": self.size,
            "root": self.root.hex(),
            "signature": self.signature.hex(),
            "at": self.at,
        }


@dataclass(frozen=True)
class Acknowledgement:
    """A receipt for one release, signed by its head (see the module's docstring)."""

    package: str
    item: str
    receiver: str
    marking: str
    seq: int
    entry: str
    """The receiver's audit entry at ``seq``, its canonical JSON body."""
    head: SignedHead
    path: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "item": self.item,
            "receiver": self.receiver,
            "marking": self.marking,
            "seq": self.seq,
            "entry": self.entry,
            "head": self.head.to_dict(),
            "inclusion_path": list(map(bytes.hex, self.path)),
        }

    def to_json(self) -> str:
        """``to_dict`` as compact JSON (``ensure_ascii=False``), the same text
        ``json.dumps(to_dict(), ensure_ascii=False, separators=(",", ":"))`` gives, made
        with its head's text encoded once for the receipts that share it."""
        text = encode_basestring
        path = ",".join([f'"{h.hex()}"' for h in self.path])
        return (
            f'{{"package":{text(self.package)},"item":{text(self.item)},'
            f'"receiver":{text(self.receiver)},"marking":{text(self.marking)},'
            f'"seq":{self.seq},"entry":{text(self.entry)},"head":{self.head.json},'
            f'"inclusion_path":[{path}]}}'
        )

    @classmethod
    def from_dict(cls, value: object) -> Acknowledgement:
        """A receipt as its JSON says it; ``ReceiptRefused`` when it is not one."""
        try:
            if not isinstance(value, dict):
                raise TypeError("not an object")
            head = value["head"]
            texts = [value[k] for k in ("package", "item", "receiver", "marking", "entry")]
            if not all(isinstance(t, str) for t in texts) or not isinstance(head, dict):
                raise TypeError("a field of the wrong type")
            if not isinstance(head["at"], str) or not isinstance(value["inclusion_path"], list):
                raise TypeError("a field of the wrong type")
            return cls(
                package=value["package"],
                item=value["item"],
                receiver=value["receiver"],
                marking=value["marking"],
                seq=_number(value["seq"]),
                entry=value["entry"],
                head=_signed_head(head["tree_size"], head["root"], head["signature"], head["at"]),
                path=tuple(map(bytes.fromhex, value["inclusion_path"])),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ReceiptRefused(f"not a receipt ({type(e).__name__}: {e})") from e


@functools.lru_cache(maxsize=64, typed=True)
def _signed_head(size: object, root: str, signature: str, at: str) -> SignedHead:
    """A receipt's head as its JSON says it (those of a batch are one head: read once)."""
    return SignedHead(_number(size), bytes.fromhex(root), bytes.fromhex(signature), at)


def _number(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{value!r} is not a count")
    return value


def issue(
    *,
    package: str,
    item: str,
    receiver: str,
    marking: str,
    seq: int,
    entry: str,
    head: SignedHead,
    path: Sequence[bytes],
) -> Acknowledgement:
    """The receipt of entry ``seq`` (the ``package.received`` entry of ``package``, item
    ``item``, its body ``entry``), proven in the signed ``head`` by ``path``."""
    return Acknowledgement(package, item, receiver, marking, seq, entry, head, tuple(path))


def check(
    receipt: Acknowledgement,
    keys: Iterable[bytes],
    *,
    receiver: str,
    package: str | None = None,
    item: str | None = None,
    heads: dict[SignedHead, Inclusions] | None = None,
) -> None:
    """Return only if ``receipt`` proves ``receiver`` stored ``package`` (item ``item``;
    None: the receipt's own) with a marking of its own; ``ReceiptRefused`` names the
    first check that fails. ``keys``: the receiver's signing keys (current, then retired).
    ``heads``: the heads verified already with these keys, for the receipts of a batch,
    which share one, each with the inclusions proven in it (``merkle.Inclusions``: the
    paths of a batch's entries share most of their hashes); those verified here join it.
    """
    keys = list(keys)
    if receipt.receiver != receiver:
        raise ReceiptRefused(f"it is given by {receipt.receiver}, not {receiver}")
    if package is not None and receipt.package != package:
        raise ReceiptRefused(f"it is for package {receipt.package}, not {package}")
    if item is not None and receipt.item != item:
        raise ReceiptRefused(f"it is for item {receipt.item}, not {item}")
    if receipt.marking.split(" ", 1)[0] != receiver:
        raise ReceiptRefused(f"its marking '{receipt.marking[:80]}' is not {receiver}'s")
    head = receipt.head
    inclusions = None if heads is None else heads.get(head)
    if inclusions is None:
        try:
            verify_any(keys, head.message(), head.signature)
        except BadSignature as e:
            raise ReceiptRefused(f"its tree head is not signed by {receiver}") from e
        inclusions = Inclusions(head.size, head.root)
        if heads is not None:
            heads[head] = inclusions
    _check_entry(receipt)
    try:
        inclusions.verify(receipt.seq, leaf_hash(receipt.entry.encode("utf-8")), receipt.path)
    except ProofError as e:
        raise ReceiptRefused(f"its entry is not proven in its head ({e})") from e


def _check_entry(receipt: Acknowledgement) -> None:
    """The entry says what the receipt says: this package, this item, this marking (its
    bytes are what the receiver's log holds: the inclusion proof is of their hash)."""
    try:
        body = json.loads(receipt.entry)
        data = body["data"]
        said = (body["seq"], body["kind"], data["package"], data["item"], data["marking"])
    except (ValueError, KeyError, TypeError) as e:
        raise ReceiptRefused("its entry is not a receipt's entry") from e
    if said != (receipt.seq, RECEIVED, receipt.package, receipt.item, receipt.marking):
        raise ReceiptRefused("its entry says another package, item or marking")
