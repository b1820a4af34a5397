"""Forged key rotations: a peer's new keys are pinned only from a package its old key signed,
with a proof by the new key, naming the keys the receiver pins.

Australia's simulated node rotates for real (the control); Germany's is the victim of the
forgeries and is never rotated, so each refusal is checked against the same pinned keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import Rejection
from gsoia.federation.peers import Peer
from gsoia.store.schema import peers, retired_keys
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator, flip


def _pinned(receiver: Receiver, nation: str) -> tuple[bytes, bytes]:
    with receiver.store.engine.connect() as connection:
        row = connection.execute(select(peers).where(peers.c.nation == nation)).one()
    return bytes(row.signing_key), bytes(row.sealing_key)


@pytest.fixture(scope="module")
def aus_deu(receiver: Receiver) -> tuple[PeerSimulator, PeerSimulator]:
    """Australia's and Germany's simulated nodes, pinned by Japan's (no inbox of theirs is
    ever used: these tests only send)."""
    pinned = []
    for nation in ("AUS", "DEU"):
        sim = PeerSimulator(nation, "JPN", receiver.sims["CAN"].receiver_keys)
        receiver.store.exchange.add_peer(Peer(nation, f"http://127.0.0.1:9/{nation}", sim.public))
        pinned.append(sim)
    return pinned[0], pinned[1]


@pytest.fixture
def deu(aus_deu: tuple[PeerSimulator, PeerSimulator]) -> PeerSimulator:
    return aus_deu[1]


def test_rotation_learnt_from_the_old_key(
    receiver: Receiver, aus_deu: tuple[PeerSimulator, PeerSimulator]
) -> None:
    """The control: Australia rotates; Japan pins the new keys and keeps the old one,
    which still verifies what it sealed before, but no longer signs a package."""
    aus = aus_deu[0]
    sealed_before = aus.item()
    old_seal = aus.seal_of(sealed_before)
    new = NodeKeys.generate()
    draft = aus.rotation(new)
    rotation = draft.signed()
    answer = receiver.accepts(rotation)
    assert answer == {"status": "rotated", "fingerprint": new.public().fingerprint()}
    assert _pinned(receiver, "AUS") == (new.public().signing, new.public().sealing)
    with receiver.store.engine.connect() as connection:
        kept = connection.execute(select(retired_keys).where(retired_keys.c.nation == "AUS")).one()
    old = aus.adopt(new)
    assert (bytes(kept.signing_key), kept.package_id) == (old.public().signing, draft.id)

    # replayed: refused before its id is looked up, for the old key signs nothing now
    receiver.refuses(rotation, 403, Rejection.BAD_SIGNATURE)
    # a package signed by the old key, after the rotation
    stale = aus.release().signed(key=old.signing)
    receiver.refuses(stale, 403, Rejection.BAD_SIGNATURE)
    # the new key signs; the item sealed by the old key before the rotation still opens
    stored = receiver.accepts(aus.release(sealed_before, origin_seal=old_seal).signed())
    assert stored["status"] == "stored"
    fresh = receiver.accepts(aus.release().signed())
    assert fresh["status"] == "stored"


def test_rotation_signed_by_the_new_key(receiver: Receiver, deu: PeerSimulator) -> None:
    """An attacker holding only a key of its own announces it as Germany's new key."""
    new = NodeKeys.generate()
    receiver.refuses(deu.rotation(new).signed(key=new.signing), 403, Rejection.BAD_SIGNATURE)


def test_rotation_with_a_proof_by_another_key(receiver: Receiver, deu: PeerSimulator) -> None:
    """Germany's old key signs, but the key announced did not prove it asked for it."""
    draft = deu.rotation(NodeKeys.generate(), proof_key=NodeKeys.generate().signing)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_ROTATION, detail="did not sign")


def test_rotation_with_the_proof_of_another_package(receiver: Receiver, deu: PeerSimulator) -> None:
    """A genuine proof, made for another package id, replayed under a fresh id."""
    draft = deu.rotation(NodeKeys.generate()).modify(lambda p: p.update(id=str(uuid.uuid4())))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_ROTATION, detail="did not sign")


def test_rotation_with_a_proof_flipped(receiver: Receiver, deu: PeerSimulator) -> None:
    draft = deu.rotation(NodeKeys.generate())
    draft.modify(lambda p: p["body"].update(proof=flip(p["body"]["proof"], 9)))
    receiver.refuses(draft.signed(), 422, Rejection.BAD_ROTATION)


def test_rotation_naming_other_old_keys(receiver: Receiver, deu: PeerSimulator) -> None:
    """Signed by Germany's pinned key, but claiming to replace keys Japan never pinned."""
    draft = deu.rotation(NodeKeys.generate(), old=NodeKeys.generate().public())
    receiver.refuses(draft.signed(), 422, Rejection.BAD_ROTATION, detail="not DEU's pinned")


def test_rotation_to_the_same_keys(receiver: Receiver, deu: PeerSimulator) -> None:
    draft = deu.rotation(deu.keys)
    receiver.refuses(draft.signed(), 422, Rejection.BAD_ROTATION, detail="the old ones")


def test_rotation_new_keys_changed_in_transit(receiver: Receiver, deu: PeerSimulator) -> None:
    """A man in the middle swaps in his own keys after Germany signed."""
    mine = NodeKeys.generate().public().to_dict()
    draft = deu.rotation(NodeKeys.generate()).tamper(lambda p: p["body"].update(new=mine))
    receiver.refuses(draft.signed(), 403, Rejection.BAD_SIGNATURE)


def test_rotation_from_an_unpinned_peer(receiver: Receiver) -> None:
    nzl = PeerSimulator("NZL", "JPN", receiver.sims["CAN"].receiver_keys)
    receiver.refuses(nzl.rotation(NodeKeys.generate()).signed(), 403, Rejection.UNKNOWN_PEER)


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (lambda b: b.pop("proof"), "rotation has the fields"),
        (lambda b: b.update(extra=1), "rotation has the fields"),
        (lambda b: b["new"].update(signing="AAAA"), "signing is 3 bytes"),
        (lambda b: b["new"].pop("sealing"), "sealing is missing"),
        (lambda b: b.update(proof="not base64!"), "proof"),
    ],
    ids=["no-proof", "extra", "short-key", "no-sealing-key", "proof-not-base64"],
)
def test_rotation_malformed(
    receiver: Receiver, deu: PeerSimulator, change: Callable[[dict[str, Any]], object], place: str
) -> None:
    draft = deu.rotation(NodeKeys.generate()).modify(lambda p: change(p["body"]))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail=place)


def test_germany_still_pinned_as_it_was(receiver: Receiver, deu: PeerSimulator) -> None:
    """After every forgery of this module, Japan pins Germany's keys as it always did."""
    assert _pinned(receiver, "DEU") == (deu.public.signing, deu.public.sealing)
    with receiver.store.engine.connect() as connection:
        kept = connection.execute(select(retired_keys).where(retired_keys.c.nation == "DEU")).all()
    assert kept == []
