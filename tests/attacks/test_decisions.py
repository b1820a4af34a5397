"""Well-formed, well-signed releases that the agreements forbid (docs/decision.md rules 1-5).

The receiver decides again for itself: the agreement must be in force on the package's
date, the label releasable to it, and a release by anyone but the originator needs the
originator's written consent, signed by the originator's pinned key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import Rejection
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator, utc_now


def test_release_read_at_the_equivalent_level(receiver: Receiver, can: PeerSimulator) -> None:
    """The control: Canada's SECRET, released to Japan, is marked 極秘 there."""
    draft = can.release(can.item(need_to_know=["maritime"]), "東シナ海".encode())
    stored = receiver.accepts(draft.signed())
    assert stored["marking"] == "JPN 極秘 // CAN SECRET // JPN-CAN"
    with receiver.node.client("jpn-analyst") as client:
        read = client.get(f"/api/v1/items/{stored['item']}")
    assert read.status_code == 200, read.text
    assert read.json()["content"] == "東シナ海"
    assert read.json()["label"]["classification"] == "S"  # the original, kept


# -- agreements ---------------------------------------------------------------------------


def test_agreement_signed_but_not_in_force(receiver: Receiver) -> None:
    """Japan-Ukraine is signed, not in force: Ukraine's node releases to Japan anyway."""
    ukr = receiver.sims["UKR"]
    receiver.refuses(ukr.release().signed(), 403, Rejection.REFUSED, detail="NO_AGREEMENT")


def test_agreement_no_longer_in_force(receiver: Receiver) -> None:
    """Japan-UK was terminated (in this node's catalogue) a month ago; the UK's node,
    unaware or not, releases to Japan."""
    gbr = receiver.sims["GBR"]
    problem = receiver.refuses(gbr.release().signed(), 403, Rejection.REFUSED)
    assert problem["detail"].startswith("NO_AGREEMENT"), problem


def test_agreement_terminated_today(receiver: Receiver) -> None:
    fra = receiver.sims["FRA"]
    receiver.refuses(fra.release().signed(), 403, Rejection.REFUSED, detail="NO_AGREEMENT")


def test_decision_date_is_not_the_senders_to_choose(receiver: Receiver) -> None:
    """The package's instant is within the window, but written in a far time zone its
    *local* date is tomorrow (or yesterday). Japan-Ukraine enters into force tomorrow
    (UTC) and Japan-France was terminated today: neither may govern a release now."""
    now = utc_now()
    if now.hour >= 10:  # at UTC+14:00 it is already tomorrow
        sender, zone = receiver.sims["UKR"], dt.timezone(dt.timedelta(hours=14))
    else:  # at UTC-12:00 it is still yesterday
        sender, zone = receiver.sims["FRA"], dt.timezone(dt.timedelta(hours=-12))
    created = now.astimezone(zone)
    assert created.date() != now.date()
    draft = sender.release().modify(lambda p: p.update(created=created.isoformat()))
    receiver.refuses(draft.signed(), 403, Rejection.REFUSED, detail="NO_AGREEMENT")


def test_no_equivalent_level(receiver: Receiver) -> None:
    """Korea's 군사I급비밀 has no equivalent under Japan-Korea."""
    kor = receiver.sims["KOR"]
    draft = kor.release(kor.item(classification="I"))
    receiver.refuses(draft.signed(), 403, Rejection.REFUSED, detail="NO_EQUIVALENT")


@pytest.mark.parametrize("releasable_to", [["USA"], [], ["FVEY"]])
def test_label_not_releasable_to_the_receiver(
    receiver: Receiver, can: PeerSimulator, releasable_to: list[str]
) -> None:
    """Canada releases an item its own label does not release to Japan (NOFORN too)."""
    draft = can.release(can.item(releasable_to=releasable_to))
    receiver.refuses(draft.signed(), 403, Rejection.REFUSED, detail="NOT_RELEASABLE")


# -- the third-party rule -----------------------------------------------------------------


def _passed_on(usa: PeerSimulator, can: PeerSimulator, grants: list[Any]) -> dict[str, Any]:
    """The USA's node passes on an item of Canada's that it holds, with ``grants``."""
    item = can.item()
    return usa.release(item, grants=grants).signed()


def test_third_party_release_with_consent(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    """The control: with Canada's signed consent, the USA may pass Canada's item on."""
    item = can.item()
    grant = can.grant(item["id"], custodian="USA", to="JPN")
    draft = usa.release(item, grants=[grant], origin_seal=can.seal_of(item))
    stored = receiver.accepts(draft.signed())
    assert stored["status"] == "stored"
    held = receiver.holds(item["id"])
    assert held is not None
    assert (held["originator"], held["sender"], held["custodian"]) == ("CAN", "USA", "JPN")


def test_third_party_release_without_consent(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    package = _passed_on(usa, can, grants=[])
    receiver.refuses(package, 403, Rejection.NO_CONSENT, detail="written consent")


def test_third_party_consent_signed_by_the_custodian(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    """The USA writes Canada's consent itself, signed with its own key."""
    item = can.item()
    grant = can.grant(item["id"], custodian="USA", to="JPN", key=usa.keys.signing)
    draft = usa.release(item, grants=[grant])
    receiver.refuses(draft.signed(), 403, Rejection.NO_CONSENT, detail="not signed by CAN")


def test_third_party_consent_signed_by_an_unknown_key(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    item = can.item()
    grant = can.grant(item["id"], custodian="USA", to="JPN", key=NodeKeys.generate().signing)
    receiver.refuses(usa.release(item, grants=[grant]).signed(), 403, Rejection.NO_CONSENT)


@pytest.mark.parametrize(
    ("other_item", "custodian", "to"),
    [
        (True, "USA", "JPN"),  # consent for another item of Canada's
        (False, "GBR", "JPN"),  # given to another custodian
        (False, "USA", "KOR"),  # for a release to another party
    ],
    ids=["item", "custodian", "to"],
)
def test_third_party_consent_for_something_else(
    receiver: Receiver,
    can: PeerSimulator,
    usa: PeerSimulator,
    other_item: bool,
    custodian: str,
    to: str,
) -> None:
    """A genuine consent of Canada's, but not for this item, custodian and recipient."""
    item = can.item()
    item_id = str(uuid.uuid4()) if other_item else item["id"]
    grant = can.grant(item_id, custodian=custodian, to=to)
    receiver.refuses(usa.release(item, grants=[grant]).signed(), 403, Rejection.NO_CONSENT)


def test_third_party_consent_edited_by_the_custodian(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    """Canada consented to a release to Korea; the USA edits it to say Japan."""
    item = can.item()
    grant = can.grant(item["id"], custodian="USA", to="KOR") | {"to": "JPN"}
    receiver.refuses(usa.release(item, grants=[grant]).signed(), 403, Rejection.NO_CONSENT)


@pytest.mark.parametrize(
    "grant",
    [
        "consent",
        {"item": "x"},
        {
            "item": 1,
            "originator": 2,
            "custodian": 3,
            "to": 4,
            "granted_by": 5,
            "granted_at": 6,
            "signature": 7,
        },
    ],
)
def test_third_party_consent_malformed(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator, grant: Any
) -> None:
    draft = usa.release(can.item(), grants=[grant])
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail="grant")


def test_third_party_custodian_rewrites_the_originators_label(
    receiver: Receiver, can: PeerSimulator, usa: PeerSimulator
) -> None:
    """The USA holds Canada's TOP SECRET item (need to know: maritime) and Canada's consent
    to pass it to Japan; it passes it on marked CONFIDENTIAL, with no need to know, and
    Canada's genuine seal of the original. The USA's binding is good, but nothing Canada
    signed says CONFIDENTIAL: the originator's seal does not match."""
    item = can.item(classification="TS", need_to_know=["maritime"])
    grant = can.grant(item["id"], custodian="USA", to="JPN")
    downgraded = item | {"classification": "C", "need_to_know": []}
    draft = usa.release(downgraded, grants=[grant], origin_seal=can.seal_of(item))
    receiver.refuses(
        draft.signed(), 422, Rejection.BAD_BINDING, detail="not as its originator CAN sealed"
    )
    assert receiver.holds(item["id"]) is None


def test_third_party_originator_not_pinned(receiver: Receiver, usa: PeerSimulator) -> None:
    """New Zealand's item, passed on by the USA: New Zealand's consent cannot be checked."""
    nzl = PeerSimulator("NZL", "JPN", usa.receiver_keys)
    item = nzl.item()
    grant = nzl.grant(item["id"], custodian="USA", to="JPN")
    draft = usa.release(item, grants=[grant])
    receiver.refuses(draft.signed(), 403, Rejection.NO_CONSENT, detail="not a pinned peer")


def test_item_claimed_as_the_receivers_own(receiver: Receiver, can: PeerSimulator) -> None:
    """Canada sends an "item of Japan's" that Japan never wrote: Japan's seal is not on it.

    (A copy of Japan's own item coming home needs no consent; what it needs is Japan's
    seal, checked with Japan's own key.)"""
    draft = can.release(can.item(originator="JPN", classification="GOKUHI"))
    receiver.refuses(
        draft.signed(), 422, Rejection.BAD_BINDING, detail="not as its originator JPN sealed it"
    )
