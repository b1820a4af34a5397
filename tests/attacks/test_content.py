"""What a release carries: tampered ciphertext, label, binding and seal.

The package signature proves who sent a package; behind it, the binding proves that the
label travels with this content, and the seal that the content is this package's, for this
node. Here the sender (the simulated Canadian node) signs the package after exactly one
change, so it is each of those checks that must refuse it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.signing import sign
from gsoia.federation.packages import Rejection, b64, signed_bytes
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator, flip

# -- tampered ciphertext ------------------------------------------------------------------


def test_ciphertext_tampered_in_transit(receiver: Receiver, can: PeerSimulator) -> None:
    draft = can.release().tamper(
        lambda p: p["body"].update(ciphertext=flip(p["body"]["ciphertext"]))
    )
    receiver.refuses(draft.signed(), 403, Rejection.BAD_SIGNATURE)


def test_ciphertext_changed_then_signed(receiver: Receiver, can: PeerSimulator) -> None:
    """The package is signed over a ciphertext whose digest no longer matches."""
    draft = can.release().modify(
        lambda p: p["body"].update(ciphertext=flip(p["body"]["ciphertext"]))
    )
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING, detail="digest")


def test_ciphertext_and_digest_changed_then_signed(receiver: Receiver, can: PeerSimulator) -> None:
    """The digest follows the new ciphertext; the binding signature still covers the old."""

    def change(package: dict[str, Any]) -> None:
        body = package["body"]
        binding = body["binding"]
        body["ciphertext"] = flip(body["ciphertext"], bit=200)
        can.rebind(body)
        body["binding"] = binding

    draft = can.release().modify(change)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING, detail="not bound")


def test_ciphertext_changed_and_bound_then_signed(receiver: Receiver, can: PeerSimulator) -> None:
    """Digest and binding follow the changed ciphertext: only the AEAD tag can tell."""

    def change(package: dict[str, Any]) -> None:
        package["body"]["ciphertext"] = flip(package["body"]["ciphertext"], bit=200)
        can.rebind(package["body"])

    draft = can.release().modify(change)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_SEAL)


def test_ciphertext_truncated_and_bound(receiver: Receiver, can: PeerSimulator) -> None:
    def change(package: dict[str, Any]) -> None:
        package["body"]["ciphertext"] = b64(b"short")
        can.rebind(package["body"])

    receiver.refuses(can.release().modify(change).signed(), 422, Rejection.BAD_SEAL)


# -- the seal -----------------------------------------------------------------------------


def test_sealed_key_tampered(receiver: Receiver, can: PeerSimulator) -> None:
    draft = can.release().modify(
        lambda p: p["body"].update(sealed_key=flip(p["body"]["sealed_key"], 300))
    )
    receiver.refuses(draft.signed(), 422, Rejection.BAD_SEAL)


def test_sealed_key_truncated(receiver: Receiver, can: PeerSimulator) -> None:
    draft = can.release().modify(lambda p: p["body"].update(sealed_key=b64(b"\x00" * 10)))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_SEAL)


def test_sealed_for_another_node(receiver: Receiver, can: PeerSimulator) -> None:
    """Sealed to another node's X25519 key (say, a package meant for the USA)."""
    draft = can.release(seal_to=NodeKeys.generate().public().sealing)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_SEAL)


def test_sealed_key_of_another_package(receiver: Receiver, can: PeerSimulator) -> None:
    """Seal and ciphertext cut from one package into another (new id, re-signed): the
    package id is their context, so they do not open under another id."""
    draft = can.release().modify(lambda p: p.update(id=str(uuid.uuid4())))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_SEAL)


# -- the label ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "value"),
    [
        ("classification", "C"),  # the downgrade in transit: Canadian SECRET to CONFIDENTIAL
        ("releasable_to", ["JPN", "USA", "KOR"]),
        ("need_to_know", []),
        ("area", "cyber"),
        ("title", "Nothing to see"),
        ("created_by", "someone-else"),
    ],
)
def test_label_changed_under_the_binding(
    receiver: Receiver, can: PeerSimulator, place: str, value: Any
) -> None:
    """The package is re-signed, the binding is left as it was over the original label."""
    item = can.item(need_to_know=["maritime"])
    draft = can.release(item).modify(lambda p: p["body"]["item"].update({place: value}))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING, detail="not bound")


def test_item_id_changed_under_the_binding(receiver: Receiver, can: PeerSimulator) -> None:
    """Passing the content off as another item (one the receiver may already hold)."""
    draft = can.release().modify(lambda p: p["body"]["item"].update(id=str(uuid.uuid4())))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING)


def test_binding_by_another_key(receiver: Receiver, can: PeerSimulator) -> None:
    """The binding is signed, but by the USA's (pinned) key, not the sender's."""
    draft = can.release().modify(
        lambda p: can.rebind(p["body"], key=receiver.sims["USA"].keys.signing)
    )
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING)


def test_binding_is_a_package_signature(receiver: Receiver, can: PeerSimulator) -> None:
    """A signature of Canada's key, but over a package, does not bind a label."""

    def change(package: dict[str, Any]) -> None:
        package["body"]["binding"] = b64(sign(can.keys.signing, signed_bytes(package)))

    receiver.refuses(can.release().modify(change).signed(), 422, Rejection.BAD_BINDING)


def test_digest_is_not_a_digest(receiver: Receiver, can: PeerSimulator) -> None:
    draft = can.release().modify(lambda p: p["body"].update(content_sha384="0" * 96))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING)


def test_custodian_is_not_the_sender(receiver: Receiver, can: PeerSimulator) -> None:
    """Canada claims the copy it sends is held by the USA."""
    draft = can.release().modify(lambda p: p["body"].update(custodian="USA"))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="not the sender")


@pytest.mark.parametrize(
    ("place", "value", "where"),
    [
        ("classification", "TOP", "classification"),
        ("originator", "ATLANTIS", "originator"),
        ("releasable_to", ["JPN", "MORDOR"], "releasable_to"),
    ],
)
def test_label_names_what_the_catalogue_does_not_know(
    receiver: Receiver, can: PeerSimulator, place: str, value: Any, where: str
) -> None:
    """Bound and signed by the sender, but not a label of this catalogue."""
    draft = can.release(can.item(**{place: value}))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail=where)


@pytest.mark.parametrize("place", ["ciphertext", "sealed_key", "binding"])
def test_body_field_not_base64(receiver: Receiver, can: PeerSimulator, place: str) -> None:
    draft = can.release().modify(lambda p: p["body"].update({place: "*not base64*"}))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail=f"body.{place}")
