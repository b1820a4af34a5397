"""Who sent it: forged and misplaced signatures, unpinned keys, unknown nations.

Each test changes exactly one thing of a package the simulated Canadian node would send
(``PeerSimulator``) and asserts the receiver's exact refusal, that nothing was stored and
that the refusal is in the receiver's audit log (``Receiver.refuses``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gsoia.crypto.canonical import canonical_json
from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.signing import sign
from gsoia.federation.packages import Rejection, b64, consent_bytes, unb64
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator, flip

ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def test_the_simulator_speaks_the_protocol(receiver: Receiver, can: PeerSimulator) -> None:
    """The control: an untouched package of the simulated Canadian node is stored."""
    draft = can.release()
    assert receiver.accepts(draft.signed())["status"] == "stored"
    held = receiver.holds(draft.body["item"]["id"])
    assert held is not None
    assert (held["custodian"], held["sender"], held["package_id"]) == ("JPN", "CAN", draft.id)


def test_wire_form_does_not_matter(receiver: Receiver, can: PeerSimulator) -> None:
    """What is signed is the canonical form: indented, reordered wire JSON is accepted."""
    package = can.release().signed()
    wire = json.dumps(dict(reversed(package.items())), indent=3, ensure_ascii=True).encode()
    assert receiver.accepts(wire)["status"] == "stored"


def test_forged_signature(receiver: Receiver, can: PeerSimulator) -> None:
    """Signed by a key that is not Canada's pinned key (an impostor's fresh key)."""
    package = can.release().signed(key=NodeKeys.generate().signing)
    receiver.refuses(package, 403, Rejection.BAD_SIGNATURE, detail="CAN's pinned key")


def test_signed_by_another_pinned_peer(receiver: Receiver, can: PeerSimulator) -> None:
    """The USA's node (pinned) signs a package that claims to come from Canada."""
    package = can.release().signed(key=receiver.sims["USA"].keys.signing)
    receiver.refuses(package, 403, Rejection.BAD_SIGNATURE)


def test_impostor_with_its_own_keys(receiver: Receiver) -> None:
    """A node that says it is Canada, with keys and a sealing of its own, is not pinned."""
    impostor = PeerSimulator("CAN", "JPN", receiver.sims["CAN"].receiver_keys)
    receiver.refuses(impostor.release().signed(), 403, Rejection.BAD_SIGNATURE)


@pytest.mark.parametrize("nation", ["NZL", "XXX", "JPN"])
def test_sender_not_pinned(receiver: Receiver, nation: str) -> None:
    """From a nation of the catalogue that is not a peer, one that is no policy, or the
    receiver itself: whatever key signed it, there is no pinned key to check it with."""
    stranger = PeerSimulator(nation, "JPN", receiver.sims["CAN"].receiver_keys)
    draft = stranger.release(stranger.item(originator="CAN", classification="S"))
    receiver.refuses(draft.signed(), 403, Rejection.UNKNOWN_PEER, detail="not a pinned peer")


@pytest.mark.parametrize(
    ("place", "change"),
    [
        ("id", lambda p: p.update(id=p["id"][:-1] + ("1" if p["id"].endswith("0") else "0"))),
        ("from", lambda p: p.update({"from": "USA"})),
        ("kind", lambda p: p.update(kind="incident")),
        ("created", lambda p: p.update(created=p["created"].replace("+00:00", "Z"))),
        ("created+1ms", lambda p: p.update(created=_plus_one_ms(p["created"]))),
        ("body.item.title", lambda p: p["body"]["item"].update(title="Nothing to see")),
        ("body.grants", lambda p: p["body"]["grants"].append({})),
        ("body.ciphertext", lambda p: p["body"].update(ciphertext=flip(p["body"]["ciphertext"]))),
    ],
)
def test_changed_after_signing(
    receiver: Receiver, can: PeerSimulator, place: str, change: Any
) -> None:
    """Any change in transit to what the signature covers breaks the signature."""
    draft = can.release().tamper(change)
    receiver.refuses(draft.signed(), 403, Rejection.BAD_SIGNATURE)


def test_signature_over_the_wire_bytes(receiver: Receiver, can: PeerSimulator) -> None:
    """Signed over ``json.dumps`` (not the RFC 8785 form with the package prefix)."""
    draft = can.release()
    signature = sign(can.keys.signing, json.dumps(draft.unsigned).encode())
    package = draft.signed() | {"signature": b64(signature)}
    receiver.refuses(package, 403, Rejection.BAD_SIGNATURE)


def test_signature_without_the_domain_prefix(receiver: Receiver, can: PeerSimulator) -> None:
    """Canada's key signed the right canonical bytes but not as a package (no prefix)."""
    draft = can.release()
    signature = sign(can.keys.signing, canonical_json(draft.unsigned))
    receiver.refuses(draft.signed() | {"signature": b64(signature)}, 403, Rejection.BAD_SIGNATURE)


def test_a_consent_signature_is_not_a_package_signature(
    receiver: Receiver, can: PeerSimulator
) -> None:
    """A signature Canada made for another purpose (a consent grant over the same fields)
    does not sign a package."""
    draft = can.release()
    signature = sign(can.keys.signing, consent_bytes(draft.unsigned))
    receiver.refuses(draft.signed() | {"signature": b64(signature)}, 403, Rejection.BAD_SIGNATURE)


def test_malleated_signature(receiver: Receiver, can: PeerSimulator) -> None:
    """S + L (the group order): the same point equation, a non-canonical signature."""
    package = can.release().signed()
    raw = unb64(package["signature"], "signature")
    s = int.from_bytes(raw[32:], "little") + ED25519_ORDER
    package["signature"] = b64(raw[:32] + s.to_bytes(32, "little"))
    receiver.refuses(package, 403, Rejection.BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("signature", "reason", "status"),
    [
        ("", Rejection.BAD_SIGNATURE, 403),
        (b64(bytes(64)), Rejection.BAD_SIGNATURE, 403),
        (b64(bytes(63)), Rejection.BAD_SIGNATURE, 403),
        ("not base64!", Rejection.MALFORMED, 422),
        ("AA==", Rejection.MALFORMED, 422),  # padded: not canonical base64url
    ],
)
def test_signature_is_not_a_signature(
    receiver: Receiver, can: PeerSimulator, signature: str, reason: Rejection, status: int
) -> None:
    package = can.release().signed() | {"signature": signature}
    receiver.refuses(package, status, reason)


def test_signature_missing(receiver: Receiver, can: PeerSimulator) -> None:
    package = can.release().signed()
    del package["signature"]
    receiver.refuses(package, 422, Rejection.MALFORMED, detail="signature")


def _plus_one_ms(created: str) -> str:
    import datetime as dt

    moment = dt.datetime.fromisoformat(created) + dt.timedelta(milliseconds=1)
    return moment.isoformat(timespec="milliseconds")


@pytest.mark.parametrize("place", ["signature", "body.ciphertext", "body.grants"])
def test_refusal_names_the_package(receiver: Receiver, can: PeerSimulator, place: str) -> None:
    """Once its id is read, every refusal of a package names it, in the problem the sender
    gets and in the receiver's audit entry (which is how an officer finds it)."""
    if place == "signature":
        package = can.release().signed() | {"signature": "not base64!"}
        reason, status = Rejection.MALFORMED, 422
    elif place == "body.ciphertext":
        package = can.release().modify(lambda p: p["body"].update(ciphertext="*")).signed()
        reason, status = Rejection.MALFORMED, 422
    else:  # a third-party release whose consent is signed by the wrong key
        usa = receiver.sims["USA"]
        item = can.item()
        grant = can.grant(item["id"], custodian="USA", to="JPN", key=usa.keys.signing)
        package = usa.release(item, grants=[grant]).signed()
        reason, status = Rejection.NO_CONSENT, 403
    problem = receiver.refuses(package, status, reason)
    assert problem["package"] == package["id"], problem
