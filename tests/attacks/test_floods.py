"""Floods from anyone: packages no pinned peer signed, sent by the thousand from one address.

They are counted per client address, not written one by one (``gsoia.node.floods``): the
first of a minute is an entry at once, the rest are counted into the next. Once an
address has spent its budget of such refusals, the inbox, the batch inbox and the web
sign-in answer it 429 with Retry-After, before reading what it sent, and count those too.
Nobody else is slowed: not another address, not a pinned peer, and not an address whose
packages are refused although a pinned peer signed them (a replay is written alone, as
ever, and spends nothing).
"""

from __future__ import annotations

import json

from gsoia.federation.peers import INBOX_BATCH
from gsoia.node.floods import BUDGET
from tests import loopback
from tests.attacks.conftest import Receiver
from tests.attacks.simulator import PeerSimulator
from tests.attacks.test_batches import answers, post_batch, wire


def test_a_flood_is_counted_then_limited_and_nobody_else_is_slowed(
    receiver: Receiver, can: PeerSimulator
) -> None:
    flooder_address = loopback.fresh_source()
    before = receiver.snapshot()
    with loopback.client_from(flooder_address, base_url=receiver.node.url, timeout=60) as flooder:
        refused = 0
        while (flood := post_batch(flooder, [b"{}"] * BUDGET)).status_code == 200:
            assert {status for _, status, _ in answers(flood)} == {422}
            refused += BUDGET
            assert refused <= 2 * BUDGET  # (the budget refills while a batch is checked)
        entries = receiver.audit_since(before)
        assert [(e["kind"], e["data"]["source"], e["data"]["count"]) for e in entries] == [
            ("package.refused", flooder_address, 1)
        ]
        limited = [
            flood,
            post_batch(flooder, [b"{}"] * 10),
            flooder.post("/federation/v1/inbox", content=b"{}"),
            flooder.post("/web/sign-in", data={"token": "guess"}),
        ]
    for response in limited:
        assert response.status_code == 429, response.text
        assert 1 <= int(response.headers["retry-after"]) <= 61, response.headers
    assert limited[0].json()["type"] == "/problems/too-many-refusals"
    assert "try again in" in limited[3].text
    assert receiver.audit_since(before) == entries  # the 429s: counted too

    # a pinned peer's packages, from another address: taken as ever
    good = can.release()
    assert answers(post_batch(receiver.http, [wire(good.signed())])) == [(good.id, 200, None)]
    assert receiver.holds(good.body["item"]["id"]) is not None
    # refusals of packages a pinned peer signed (replays) spend nothing, and are each
    # written alone: more of them than the budget, and the address is never limited
    again = [wire(p.signed()) for p in (can.release() for _ in range(100))]
    with loopback.client_from(loopback.fresh_source(), base_url=receiver.node.url) as peer:
        assert {s for _, s, _ in answers(post_batch(peer, again))} == {200}
        start = receiver.snapshot()
        for _ in range(BUDGET // 100 + 1):
            replayed = answers(post_batch(peer, again))
            assert {(status, reason) for _, status, reason in replayed} == {(409, "REPLAY")}
        # the inbox's refusals (not what the receiver's own courier notes of its deliveries)
        replays = [e for e in receiver.audit_since(start) if e["actor"] != "courier"]
        assert len(replays) == (BUDGET // 100 + 1) * 100
        assert all("count" not in e["data"] for e in replays)
        assert peer.post(INBOX_BATCH, content=again[0]).status_code == 200


def test_a_batch_that_is_not_one_is_counted_for_its_sender(receiver: Receiver) -> None:
    """A whole batch refused (not a batch: no pinned peer signed anything) is counted as
    one refusal of its address, like a package."""
    address = loopback.fresh_source()
    before = receiver.snapshot()
    with loopback.client_from(address, base_url=receiver.node.url, timeout=60) as http:
        for _ in range(3):
            refused = http.post(INBOX_BATCH, content=b"")
            assert refused.status_code == 422, refused.text
    entries = receiver.audit_since(before)
    assert [json.dumps(e["data"]["source"]) for e in entries] == [json.dumps(address)]
    assert entries[0]["data"]["reason"] == "MALFORMED"
