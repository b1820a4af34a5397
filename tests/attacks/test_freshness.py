"""When and for whom: replayed packages, stale or future timestamps, another recipient."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from gsoia.federation.packages import WINDOW, Rejection
from gsoia.store.schema import inbox, items
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator, iso, utc_now

MINUTE = dt.timedelta(minutes=1)


def test_replayed_package(receiver: Receiver, can: PeerSimulator) -> None:
    """The same package twice: stored once, the second refused as a replay (409)."""
    package = can.release().signed()
    before = receiver.snapshot()
    assert receiver.accepts(package)["status"] == "stored"
    receiver.refuses(package, 409, Rejection.REPLAY)
    after = receiver.snapshot()
    assert after.count(items.name) == before.count(items.name) + 1
    assert after.count(inbox.name) == before.count(inbox.name) + 1


@pytest.mark.parametrize("kind", ["reclassify", "consent_reply"])
def test_replayed_notice(receiver: Receiver, can: PeerSimulator, kind: str) -> None:
    """A notice about an item Japan holds from Canada is applied once, never twice."""
    held = can.release()
    receiver.accepts(held.signed())
    item_id = held.body["item"]["id"]
    if kind == "reclassify":
        draft = can.reclassify(item_id, "TS")
    else:
        draft = can.consent_reply(item_id, "USA")
    package = draft.signed()
    receiver.accepts(package)
    receiver.refuses(package, 409, Rejection.REPLAY)


def test_replayed_concurrently(receiver: Receiver, can: PeerSimulator) -> None:
    """Eight copies at once: one is stored, seven are replays; never a server error."""
    package = can.release().signed()
    before = receiver.snapshot()
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(lambda _: receiver.post(package).status_code, range(8)))
    assert codes == [200] + [409] * 7
    after = receiver.snapshot()
    assert after.count(items.name) == before.count(items.name) + 1
    kinds = [e["kind"] for e in receiver.audit_since(before)]
    assert sorted(kinds) == ["package.received"] + ["package.refused"] * 7


def test_replayed_after_a_refusal_is_still_refused(receiver: Receiver, can: PeerSimulator) -> None:
    """A refused package leaves no trace that would let a copy of it through later."""
    package = can.release(can.item(releasable_to=["USA"])).signed()
    receiver.refuses(package, 403, Rejection.REFUSED, detail="NOT_RELEASABLE")
    receiver.refuses(package, 403, Rejection.REFUSED, detail="NOT_RELEASABLE")


@pytest.mark.parametrize(
    ("age", "label"),
    [(WINDOW + MINUTE, "stale"), (-(WINDOW + MINUTE), "from the future"), (30 * WINDOW, "old")],
)
def test_timestamp_outside_the_window(
    receiver: Receiver, can: PeerSimulator, age: dt.timedelta, label: str
) -> None:
    """Signed by the sender with a clock ``age`` behind the receiver's."""
    draft = can.release(created=utc_now() - age)
    receiver.refuses(draft.signed(), 422, Rejection.STALE, detail="outside")


def test_timestamp_inside_the_window(receiver: Receiver, can: PeerSimulator) -> None:
    """The control: a sender whose clock is a little behind is accepted."""
    draft = can.release(created=utc_now() - (WINDOW - 2 * MINUTE))
    assert receiver.accepts(draft.signed())["status"] == "stored"


@pytest.mark.parametrize(
    ("created", "detail"),
    [
        (iso(utc_now()).replace("+00:00", ""), "no time zone"),
        ("yesterday", "not a timestamp"),
        ("", "not a timestamp"),
        ("2026-02-30T00:00:00+00:00", "not a timestamp"),
    ],
    ids=["naive", "word", "empty", "no-such-day"],
)
def test_timestamp_not_a_timestamp(
    receiver: Receiver, can: PeerSimulator, created: str, detail: str
) -> None:
    draft = can.release().modify(lambda p: p.update(created=created))
    receiver.refuses(draft.signed(), 422, Rejection.MALFORMED, detail=detail)


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_timestamp_at_the_edge_of_time(
    receiver: Receiver, can: PeerSimulator, created: str
) -> None:
    """A signed timestamp whose UTC value falls outside ``datetime``'s range."""
    draft = can.release().modify(lambda p: p.update(created=created))
    receiver.refuses(draft.signed(), 422, Rejection.STALE)


@pytest.mark.parametrize("to", ["CAN", "USA", "jpn", "XXX"])
def test_package_for_another_node(receiver: Receiver, can: PeerSimulator, to: str) -> None:
    """Signed by Canada for another node (a replay from elsewhere, or misrouted)."""
    draft = can.release().modify(lambda p: p.update(to=to))
    receiver.refuses(draft.signed(), 421, Rejection.WRONG_RECIPIENT, detail=f"addressed to {to}")
