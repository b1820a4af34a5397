"""Consent requests and replies, incident notices, re-classifications from the wrong party.

Only a custodian that holds an item from Japan may ask Japan for consent or report its
loss to Japan; only the originator of an item Japan holds may consent to its release or
change its classification.
"""

from __future__ import annotations

from typing import Any

import pytest

from gsoia.federation.packages import Kind, Rejection
from gsoia.store.schema import consent_requests, incidents
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator

JAPANESE = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN", "USA"],
    "need_to_know": ["maritime"],
}


@pytest.fixture(scope="module")
def japans_item(receiver: Receiver) -> str:
    """An item of Japan's, released by the real node to the simulated Canadian node."""
    can = receiver.sims["CAN"]
    item_id = receiver.create_item(JAPANESE)
    released = receiver.release(item_id, "CAN")
    assert released["state"] == "delivered", released
    package, content = can.open(can.received[-1], receiver.public_signing)
    assert (package.kind, package.body["item"]["id"], content) == (
        Kind.RELEASE,
        item_id,
        "東シナ海".encode(),
    )
    return item_id


@pytest.fixture(scope="module")
def canadas_item(receiver: Receiver) -> str:
    """An item of Canada's that Japan holds."""
    draft = receiver.sims["CAN"].release()
    receiver.accepts(draft.signed())
    return str(draft.body["item"]["id"])


def test_release_reusing_the_id_of_japans_item(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """Canada releases 'its' item under the id of Japan's: Japan's item is not replaced."""
    before = receiver.holds(japans_item)
    draft = can.release(can.item(id=japans_item, title="Replaced"), b"other content")
    response = receiver.post(draft.signed())
    assert response.status_code in (200, 409), response.text
    assert receiver.holds(japans_item) == before


# -- consent requests (custodian -> originator) -------------------------------------------


def test_consent_request_from_the_custodian(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """The control: Canada holds Japan's item and asks to pass it to the USA."""
    before = receiver.snapshot()
    assert receiver.accepts(can.consent_request(japans_item, "USA").signed())["status"] == "queued"
    assert (
        receiver.snapshot().count(consent_requests.name) == before.count(consent_requests.name) + 1
    )


def test_consent_request_from_a_party_that_holds_no_copy(
    receiver: Receiver, usa: PeerSimulator, japans_item: str
) -> None:
    """Japan never released this item to the USA."""
    draft = usa.consent_request(japans_item, "KOR")
    receiver.refuses(draft.signed(), 404, Rejection.UNKNOWN_ITEM)


def test_consent_request_for_an_unknown_item(receiver: Receiver, can: PeerSimulator) -> None:
    draft = can.consent_request("no-such-item", "USA")
    receiver.refuses(draft.signed(), 404, Rejection.UNKNOWN_ITEM)


def test_consent_request_for_an_item_japan_did_not_write(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    draft = can.consent_request(canadas_item, "USA")
    receiver.refuses(draft.signed(), 404, Rejection.UNKNOWN_ITEM)


def test_consent_request_in_another_custodians_name(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    draft = can.consent_request(japans_item, "USA", custodian="USA")
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="custodian")


def test_consent_request_to_an_unknown_party(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """A request for consent to release to a party no catalogue knows: nothing to queue."""
    draft = can.consent_request(japans_item, "MORDOR")
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="MORDOR")


def test_consent_request_id_reused(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """A second package (new id) that reuses a request id: refused, never a server error."""
    first = can.consent_request(japans_item, "USA")
    receiver.accepts(first.signed())
    again = can.consent_request(japans_item, "USA", request=first.body["request"])
    receiver.refuses(again.signed(), 409, Rejection.REPLAY)


# -- consent replies (originator -> custodian) --------------------------------------------


def test_consent_reply_from_the_originator(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    """The control: Canada consents that Japan passes Canada's item on to the USA."""
    assert receiver.accepts(can.consent_reply(canadas_item, "USA").signed()) == {
        "status": "applied"
    }
    held = receiver.holds(canadas_item)
    assert held is not None
    assert "USA" in held["consented_to"]


def test_consent_reply_from_a_party_that_is_not_the_originator(
    receiver: Receiver, usa: PeerSimulator, canadas_item: str
) -> None:
    """The USA 'consents' to a release of Canada's item."""
    draft = usa.consent_reply(canadas_item, "KOR")
    receiver.refuses(draft.signed(), 403, Rejection.NOT_ORIGINATOR)


def test_consent_refusal_from_a_party_that_is_not_the_originator(
    receiver: Receiver, usa: PeerSimulator, canadas_item: str
) -> None:
    draft = usa.consent_reply(canadas_item, "KOR", granted=False, grant=None)
    receiver.refuses(draft.signed(), 403, Rejection.NOT_ORIGINATOR)


def test_consent_reply_for_an_item_not_held(receiver: Receiver, can: PeerSimulator) -> None:
    draft = can.consent_reply("no-such-item", "USA")
    receiver.refuses(draft.signed(), 403, Rejection.NOT_ORIGINATOR)


def test_consent_reply_for_an_item_of_japans(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """Canada 'consents' to a release of Japan's own item."""
    draft = can.consent_reply(japans_item, "KOR")
    receiver.refuses(draft.signed(), 403, Rejection.NOT_ORIGINATOR)


def test_consent_reply_with_a_grant_signed_by_another_key(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    grant = can.grant(
        canadas_item, custodian="JPN", to="KOR", key=receiver.sims["USA"].keys.signing
    )
    draft = can.consent_reply(canadas_item, "KOR", grant=grant)
    receiver.refuses(draft.signed(), 403, Rejection.NO_CONSENT)


@pytest.mark.parametrize(
    ("place", "value"),
    [("item", "another-item"), ("custodian", "USA"), ("to", "GBR")],
)
def test_consent_reply_with_a_grant_for_something_else(
    receiver: Receiver, can: PeerSimulator, canadas_item: str, place: str, value: str
) -> None:
    """Canada's genuine grant, for another item, custodian or party than the reply says."""
    fields: dict[str, Any] = {"item_id": canadas_item, "custodian": "JPN", "to": "KOR"}
    fields[{"item": "item_id"}.get(place, place)] = value
    grant = can.grant(fields.pop("item_id"), **fields)
    draft = can.consent_reply(canadas_item, "KOR", grant=grant)
    receiver.refuses(draft.signed(), 403, Rejection.NO_CONSENT, detail="another")


def test_consent_reply_granted_without_a_grant(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    draft = can.consent_reply(canadas_item, "KOR", grant=None)
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="grant")


def test_consent_reply_to_an_unknown_party(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    """Canada's signed consent to a party no catalogue knows is not recorded."""
    draft = can.consent_reply(canadas_item, "MORDOR")
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="MORDOR")


# -- incident notices (custodian -> originator) -------------------------------------------


def test_incident_from_the_custodian(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """The control: Canada reports the compromise of Japan's item it holds."""
    before = receiver.snapshot()
    assert receiver.accepts(can.incident(japans_item).signed())["status"] == "recorded"
    assert receiver.snapshot().count(incidents.name) == before.count(incidents.name) + 1


def test_incident_about_an_item_not_of_japan(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    draft = can.incident(canadas_item)
    receiver.refuses(draft.signed(), 404, Rejection.UNKNOWN_ITEM)


def test_incident_about_an_unknown_item(receiver: Receiver, can: PeerSimulator) -> None:
    receiver.refuses(can.incident("no-such-item").signed(), 404, Rejection.UNKNOWN_ITEM)


def test_incident_from_a_party_that_holds_no_copy(
    receiver: Receiver, usa: PeerSimulator, japans_item: str
) -> None:
    """The USA never received this item (Japan released it to Canada only, and consented
    to nothing): its 'compromise report' is not an incident notice of a custodian."""
    receiver.refuses(usa.incident(japans_item).signed(), 404, Rejection.UNKNOWN_ITEM)


@pytest.mark.parametrize(
    ("place", "value"),
    [
        ("kind", "exfiltrated"),  # not loss, compromise, possible_loss, possible_compromise
        ("reported_at", "yesterday"),  # the officers' deadline is computed from it
        ("reported_at", "2026-11-27T10:00:00"),  # no time zone: naive vs aware
    ],
)
def test_incident_with_a_malformed_field(
    receiver: Receiver, can: PeerSimulator, japans_item: str, place: str, value: str
) -> None:
    draft = can.incident(japans_item, **{place: value})
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail=place)


def test_incident_id_reused(receiver: Receiver, can: PeerSimulator, japans_item: str) -> None:
    """A second notice (new package) that reuses an incident id: refused, not a 500."""
    first = can.incident(japans_item)
    receiver.accepts(first.signed())
    again = can.incident(japans_item, incident=first.body["incident"])
    receiver.refuses(again.signed(), 409, Rejection.REPLAY)


# -- re-classification (originator -> custodians) -----------------------------------------


def test_reclassify_by_the_originator(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    """The control: Canada downgrades its item; Japan re-marks its copy."""
    remarked = receiver.accepts(can.reclassify(canadas_item, "C").signed())
    assert remarked == {"status": "remarked", "marking": "JPN 秘 // CAN CONFIDENTIAL // JPN-CAN"}
    held = receiver.holds(canadas_item)
    assert held is not None
    assert held["classification"] == "C"


def test_reclassify_by_a_party_that_is_not_the_originator(
    receiver: Receiver, usa: PeerSimulator, canadas_item: str
) -> None:
    """The USA 'downgrades' Canada's item that Japan holds."""
    receiver.refuses(usa.reclassify(canadas_item, "C").signed(), 403, Rejection.NOT_ORIGINATOR)


def test_reclassify_an_item_of_japans(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """Canada, a custodian, 'downgrades' Japan's item: only Japan may."""
    receiver.refuses(can.reclassify(japans_item, "HI").signed(), 403, Rejection.NOT_ORIGINATOR)
    held = receiver.holds(japans_item)
    assert held is not None
    assert held["classification"] == "GOKUHI"


def test_reclassify_an_unknown_item(receiver: Receiver, can: PeerSimulator) -> None:
    receiver.refuses(can.reclassify("no-such-item", "C").signed(), 403, Rejection.NOT_ORIGINATOR)


def test_reclassify_to_an_unknown_level(
    receiver: Receiver, can: PeerSimulator, canadas_item: str
) -> None:
    draft = can.reclassify(canadas_item, "GOKUHI")  # a level of Japan's, not of Canada's
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="GOKUHI")


def test_notices_leave_japans_item_alone(receiver: Receiver, japans_item: str) -> None:
    """After every attack of this module, Japan's own item is as Japan wrote it."""
    held = receiver.holds(japans_item)
    assert held is not None
    assert (held["classification"], held["custodian"], held["consented_to"]) == (
        "GOKUHI",
        "JPN",
        "[]",
    )


def test_a_notice_cannot_break_the_officers_queue(
    receiver: Receiver, can: PeerSimulator, japans_item: str
) -> None:
    """Whatever a peer's notice says, Japan's officers can still list their incidents."""
    receiver.post(can.incident(japans_item, reported_at="not a time").signed())
    with receiver.node.client("jpn-officer") as client:
        response = client.get("/api/v1/incidents")
    assert response.status_code == 200, response.text
