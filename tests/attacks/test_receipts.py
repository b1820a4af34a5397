"""Partners that lie about their receipts: the real Japanese node releases to the simulated
Canadian node, which answers with a receipt forged, signed by another nation, or made for
another package. Japan keeps each such release delivered but unacknowledged (``GET
/api/v1/items/{id}/releases`` says so, its audit log says why) and posts it again for its
receipt, which it takes once a true one comes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.attacks.conftest import Receiver, Snapshot
from tests.attacks.simulator import PeerSimulator
from tests.receipts import signed_receipt

JAPANESE = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN", "USA"],
    "need_to_know": ["maritime"],
}
Answer = Callable[[bytes], tuple[int, dict[str, Any]]]


@pytest.fixture
def can(receiver: Receiver) -> Iterator[PeerSimulator]:
    simulator = receiver.sims["CAN"]
    try:
        yield simulator
    finally:
        simulator.answer = simulator.stored


def lying(can: PeerSimulator, change: Callable[[bytes, dict[str, Any]], dict[str, Any]]) -> Answer:
    def answer(raw: bytes) -> tuple[int, dict[str, Any]]:
        status, document = can.stored(raw)
        return status, document | {"receipt": change(raw, document["receipt"])}

    return answer


def forged(raw: bytes, receipt: dict[str, Any]) -> dict[str, Any]:
    """The receipt with its head's signature (the receipt's) changed."""
    signature = bytearray.fromhex(receipt["head"]["signature"])
    signature[0] ^= 1
    return receipt | {"head": receipt["head"] | {"signature": signature.hex()}}


def releases(receiver: Receiver, item_id: str) -> list[dict[str, Any]]:
    with receiver.node.client("jpn-analyst") as client:
        response = client.get(f"/api/v1/items/{item_id}/releases")
    assert response.status_code == 200, response.text
    return list(response.json())


def unacknowledged_because(receiver: Receiver, package: str) -> list[str]:
    return [
        e["data"]["reason"]
        for e in receiver.audit_since(Snapshot({}, 0))
        if e["kind"] == "package.unacknowledged" and e["data"]["package"] == package
    ]


def test_a_forged_receipt_is_refused_then_a_true_one_taken(
    receiver: Receiver, can: PeerSimulator
) -> None:
    item_id = receiver.create_item(JAPANESE)
    can.answer = lying(can, forged)
    released = receiver.release(item_id, "CAN")
    assert released["state"] == "unacknowledged", released
    [shown] = releases(receiver, item_id)
    assert (shown["state"], shown["receipt"]) == ("unacknowledged", None)
    assert shown["last_error"] == "its tree head is not signed by CAN"
    why = unacknowledged_because(receiver, released["package"])
    assert why == ["its tree head is not signed by CAN"]

    can.answer = can.stored  # the courier's loop posts it again (2 s of backoff)
    deadline = time.monotonic() + 20
    while releases(receiver, item_id)[0]["state"] != "delivered":
        assert time.monotonic() < deadline, "the release was not acknowledged in 20 s"
        time.sleep(0.3)
    [shown] = releases(receiver, item_id)
    assert shown["receipt"]["verified"] is True
    assert shown["receipt"]["marking"].startswith("CAN ")
    assert [json.loads(raw)["id"] for raw in can.received[-2:]] == [released["package"]] * 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (  # signed by another pinned partner, not by the one released to
            lambda sims, raw, r: signed_receipt(
                sims["USA"].keys.signing, package=r["package"], item=r["item"]
            ),
            "its tree head is not signed by CAN",
        ),
        (  # Canada's own, true, for another package
            lambda sims, raw, r: signed_receipt(
                sims["CAN"].keys.signing, package="another-package", item=r["item"]
            ),
            "it is for package another-package",
        ),
    ],
)
def test_a_receipt_not_for_this_release_is_refused(
    receiver: Receiver, can: PeerSimulator, change: Any, reason: str
) -> None:
    item_id = receiver.create_item(JAPANESE)
    can.answer = lying(can, lambda raw, r: change(receiver.sims, raw, r))
    released = receiver.release(item_id, "CAN")
    assert released["state"] == "unacknowledged", released
    [shown] = releases(receiver, item_id)
    assert shown["receipt"] is None
    assert shown["last_error"].startswith(reason), shown
