"""The originator's seal: a custodian cannot rewrite the label of an item it passes on.

Every release carries the seal its originator's node made when the item was created (or
reclassified), encrypted under the package's content key; the receiver checks it with the
*originator's* pinned keys, whoever sent the package (``gsoia.node.origin``).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from gsoia.crypto import aead
from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.seal import unseal
from gsoia.crypto.signing import digest, origin_message, verify
from gsoia.federation.packages import Kind, Rejection, b64, unb64
from gsoia.node import origin
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator

CONTENT = b"sealed content"


def _passed_on(
    usa: PeerSimulator, can: PeerSimulator, item: dict[str, Any], shown: dict[str, Any]
) -> dict[str, Any]:
    """The USA passes on Canada's ``item``, with Canada's consent and Canada's genuine seal
    of it, but with the label ``shown``."""
    grant = can.grant(item["id"], custodian="USA", to="JPN")
    return usa.release(shown, CONTENT, grants=[grant], origin_seal=can.seal_of(item)).signed()


def test_release_without_a_seal(receiver: Receiver, can: PeerSimulator) -> None:
    draft = can.release().modify(lambda p: p["body"].pop("origin_seal"))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="origin_seal")


def test_seal_forged_with_another_key(receiver: Receiver, can: PeerSimulator) -> None:
    """Canada's own release, sealed by a key that is not Canada's."""
    draft = can.release(sealed_by=NodeKeys.generate().signing)
    receiver.refuses(
        draft.signed(), 422, Rejection.BAD_BINDING, detail="not as its originator CAN sealed"
    )


def test_seal_of_another_item(receiver: Receiver, can: PeerSimulator) -> None:
    """A genuine seal of Canada's, of another item with the same label and content."""
    other = can.item()
    item = other | {"id": str(uuid.uuid4())}
    draft = can.release(item, CONTENT, origin_seal=can.seal_of(other, CONTENT))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING)
    assert receiver.holds(item["id"]) is None


def test_seal_of_other_content(receiver: Receiver, can: PeerSimulator) -> None:
    item = can.item()
    draft = can.release(item, CONTENT, origin_seal=can.seal_of(item, b"what Canada wrote"))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING)


def test_seal_in_clear(receiver: Receiver, can: PeerSimulator) -> None:
    """The seal as a bare signature: it does not open under the content key."""
    item = can.item()
    seal = can.seal_of(item)
    draft = can.release(item).modify(lambda p: p["body"].update(origin_seal=b64(seal)))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING, detail="does not open")


def test_seal_moved_from_another_package(receiver: Receiver, can: PeerSimulator) -> None:
    """The encrypted seal of one release, copied into another release of the same item."""
    item = can.item()
    first = can.release(item)
    second = can.release(item).modify(
        lambda p: p["body"].update(origin_seal=first.body["origin_seal"])
    )
    receiver.refuses(second.signed(), 422, Rejection.BAD_BINDING, detail="does not open")


def test_custodian_widens_the_releasability(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    """Canada's item is releasable to the USA alone; the USA, with a consent of Canada's,
    adds Japan to the releasable-to list it shows."""
    item = can.item(releasable_to=["USA"])
    widened = item | {"releasable_to": ["JPN", "USA"]}
    receiver.refuses(_passed_on(usa, can, item, widened), 422, Rejection.BAD_BINDING)
    assert receiver.holds(item["id"]) is None


def test_custodian_drops_the_need_to_know(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    item = can.item(need_to_know=["maritime"])
    receiver.refuses(
        _passed_on(usa, can, item, item | {"need_to_know": []}), 422, Rejection.BAD_BINDING
    )


def test_custodian_seals_with_its_own_key(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    """The USA passes Canada's item on unchanged, but seals it itself."""
    item = can.item()
    grant = can.grant(item["id"], custodian="USA", to="JPN")
    draft = usa.release(item, grants=[grant])  # sealed by the sender, the USA
    receiver.refuses(
        draft.signed(), 422, Rejection.BAD_BINDING, detail="not as its originator CAN sealed"
    )


def test_seal_survives_being_passed_on(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    """The control: the USA passes on Canada's item as Canada sealed it; Japan keeps the
    seal, to pass on in turn."""
    item = can.item()
    seal = can.seal_of(item)
    receiver.accepts(_passed_on(usa, can, item, item))
    held = receiver.holds(item["id"])
    assert held is not None
    assert held["origin_seal"] == seal
    assert (held["originator"], held["sender"]) == ("CAN", "USA")


# -- what the real node sends -------------------------------------------------------------


def _open_seal(sim: PeerSimulator, raw: bytes, receiver: Receiver) -> tuple[Any, bytes, bytes]:
    """The package, content and seal a release from the real node carries."""
    package, content = sim.open(raw, receiver.public_signing)
    assert content is not None
    key = unseal(
        sim.keys.sealing, unb64(package.body["sealed_key"], "sealed_key"), package.id.encode()
    )
    seal = origin.open_with_content_key(key, package.body["origin_seal"], package.id)
    return package, content, seal


def test_the_node_seals_what_it_originates(receiver: Receiver, can: PeerSimulator) -> None:
    """Japan's release carries Japan's seal of the item as created and of its plaintext."""
    label = {
        "originator": "JPN",
        "classification": "GOKUHI",
        "area": "maritime",
        "releasable_to": ["CAN"],
        "need_to_know": [],
    }
    item_id = receiver.create_item(label)
    assert receiver.release(item_id, "CAN")["state"] == "delivered"
    package, content, seal = _open_seal(can, can.received[-1], receiver)
    assert package.kind == Kind.RELEASE
    item = package.body["item"]
    assert (item["id"], item["classification"], item["releasable_to"]) == (
        item_id,
        "GOKUHI",
        ["CAN"],
    )
    verify(receiver.public_signing, origin_message(item, digest(content)), seal)
    held = receiver.holds(item_id)
    assert held is not None
    assert held["origin_seal"] == seal


# -- a reclassification carries the originator's new seal ---------------------------------


@pytest.fixture
def canadas_item(receiver: Receiver, can: PeerSimulator) -> str:
    """An item of Canada's (SECRET) that Japan holds, its content known to Canada."""
    draft = can.release(can.item(), CONTENT)
    receiver.accepts(draft.signed())
    return str(draft.body["item"]["id"])


def test_reclassify_carries_a_new_seal(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    """The control: Japan keeps Canada's new seal, of the item as now classified."""
    receiver.accepts(can.reclassify(canadas_item, "C").signed())
    held = receiver.holds(canadas_item)
    assert held is not None
    item, content = can.originated[canadas_item]
    message = origin_message(item | {"classification": "C"}, digest(content))
    verify(can.public.signing, message, held["origin_seal"])


def test_reclassify_without_a_seal(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    draft = can.reclassify(canadas_item, "C").modify(lambda p: p["body"].pop("origin_seal"))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="origin_seal")


def test_reclassify_sealed_by_another_key(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator, canadas_item: str
) -> None:
    draft = can.reclassify(canadas_item, "C", sealed_by=usa.keys.signing)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING)
    held = receiver.holds(canadas_item)
    assert held is not None
    assert held["classification"] == "S"


def test_reclassify_with_the_seal_of_the_old_level(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    """Canada's genuine seal, but of the item as it was (SECRET), on a notice saying C."""
    item, content = can.originated[canadas_item]
    old_seal = can.seal_of(item, content)

    def reseal(package: dict[str, Any]) -> None:
        body = package["body"]
        body["origin_seal"] = origin.close_for_custodian(
            can.receiver_keys.sealing, old_seal, package["id"]
        )

    draft = can.reclassify(canadas_item, "C").modify(reseal)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING)


def test_reclassify_seal_sealed_to_another_node(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    item, content = can.originated[canadas_item]
    seal = can.seal_of(item | {"classification": "C"}, content)
    elsewhere = NodeKeys.generate().public().sealing

    def reseal(package: dict[str, Any]) -> None:
        package["body"]["origin_seal"] = origin.close_for_custodian(elsewhere, seal, package["id"])

    draft = can.reclassify(canadas_item, "C").modify(reseal)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_BINDING, detail="does not open")


def test_content_key_does_not_open_a_seal_of_another_context() -> None:
    """The AAD names the package: a seal closed for one package does not open in another."""
    key = aead.new_key()
    closed = origin.close_with_content_key(key, b"s" * 64, "package-1")
    assert origin.open_with_content_key(key, closed, "package-1") == b"s" * 64
    with pytest.raises(origin.PackageRejected) as refused:
        origin.open_with_content_key(key, closed, "package-2")
    assert refused.value.reason == Rejection.BAD_BINDING
