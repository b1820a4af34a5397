"""Batches: several packages in one request to the batch inbox, each checked on its own.

A batch (``/federation/v1/inbox/batch``, one package per line) changes how many packages a
request carries, not how any of them is checked: a forged, tampered or malformed package
among good ones is refused and audited alone, with the reason it would get posted alone,
and the good ones are stored. A batch sent again stores nothing new; the same batch posted
by several clients at once stores each package once. What a package changes (a key
rotation) holds for the packages after it in the batch.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gsoia.crypto.keys import NodeKeys
from gsoia.federation.packages import MAX_BATCH, Rejection
from gsoia.federation.peers import INBOX_BATCH, Peer
from gsoia.store.schema import audit_entries
from tests import loopback
from tests.attacks.conftest import CAN_SOURCE, Receiver, assert_counted
from tests.attacks.simulator import PeerSimulator
from tests.attacks.test_sender_side import real_can  # noqa: F401 (the fixture)
from tests.node.conftest import RunningNode


def wire(package: dict[str, Any]) -> bytes:
    return json.dumps(package, ensure_ascii=False).encode()


def post_batch(http: httpx.Client, lines: list[bytes]) -> httpx.Response:
    return http.post(
        INBOX_BATCH,
        content=b"".join(line + b"\n" for line in lines),
        headers={"content-type": "application/x-ndjson"},
    )


def answers(response: httpx.Response) -> list[tuple[str | None, int, str | None]]:
    assert response.status_code == 200, response.text
    return [(a["package"], a["status"], a.get("reason")) for a in response.json()["results"]]


def test_a_bad_package_among_good_ones_is_refused_alone(
    receiver: Receiver, can: PeerSimulator
) -> None:
    good = [can.release() for _ in range(3)]
    tampered = can.release().tamper(lambda p: p["body"]["item"].update(title="Nothing here"))
    forged = can.release()
    unsealed = can.release(seal_to=NodeKeys.generate().public().sealing)
    lines = [
        wire(good[0].signed()),
        wire(tampered.signed()),
        wire(good[1].signed()),
        wire(forged.signed(key=NodeKeys.generate().signing)),
        b"not a package",
        wire(unsealed.signed()),
        wire(good[2].signed()),
    ]
    before = receiver.snapshot()
    response = post_batch(receiver.http, lines)
    assert answers(response) == [
        (good[0].id, 200, None),
        (tampered.id, 403, Rejection.BAD_SIGNATURE.value),
        (good[1].id, 200, None),
        (forged.id, 403, Rejection.BAD_SIGNATURE.value),
        (None, 422, Rejection.MALFORMED.value),
        (unsealed.id, 422, Rejection.BAD_SEAL.value),
        (good[2].id, 200, None),
    ]
    assert [a.get("result", {}).get("status") for a in response.json()["results"]] == [
        "stored",
        None,
        "stored",
        None,
        None,
        None,
        "stored",
    ]
    for draft in good:
        held = receiver.holds(draft.body["item"]["id"])
        assert held is not None
        assert (held["custodian"], held["package_id"]) == ("JPN", draft.id)
    for draft in (tampered, forged, unsealed):
        assert receiver.holds(draft.body["item"]["id"]) is None

    after = receiver.snapshot()
    added = set(after.rows["inbox"]) - set(before.rows["inbox"])
    assert len(added) == after.count("inbox") - before.count("inbox") == 3
    assert all(any(d.id in row for d in good) for row in added)
    assert after.count("items") - before.count("items") == 3
    # the refusal of a package a pinned peer signed (BAD_SEAL) audited alone, in the
    # batch's order; those no pinned peer signed counted for the source, once the batch is
    # stored: the first at once (the test's own address: the first of its minute)
    entries = receiver.audit_since(before)
    assert [(e["kind"], e["data"]["package"]) for e in entries] == [
        ("package.received", good[0].id),
        ("package.received", good[1].id),
        ("package.refused", unsealed.id),
        ("package.received", good[2].id),
        ("package.refused", tampered.id),
    ]
    refused = [e for e in entries if e["kind"] == "package.refused"]
    assert all(e["actor"] == "inbox" for e in refused)
    assert [e["data"]["reason"] for e in refused] == ["BAD_SEAL", "BAD_SIGNATURE"]
    assert "count" not in refused[0]["data"]
    assert refused[1]["data"]["count"] == 1  # forged and "not a package": counted, to come


def test_a_batch_sent_again_stores_nothing_new(receiver: Receiver, can: PeerSimulator) -> None:
    drafts = [can.release() for _ in range(4)]
    lines = [wire(d.signed()) for d in drafts]
    assert [s for _, s, _ in answers(post_batch(receiver.http, lines))] == [200] * 4

    before = receiver.snapshot()
    again = answers(post_batch(receiver.http, lines))
    assert again == [(d.id, 409, Rejection.REPLAY.value) for d in drafts]
    after = receiver.snapshot()
    assert [t for t in before.rows if before.rows[t] != after.rows[t]] == []
    entries = receiver.audit_since(before)
    assert [(e["kind"], e["data"]["package"], e["data"]["reason"]) for e in entries] == [
        ("package.refused", d.id, "REPLAY") for d in drafts
    ]


def test_a_package_twice_in_one_batch_is_stored_once(
    receiver: Receiver, can: PeerSimulator
) -> None:
    draft = can.release()
    other = can.release(draft.body["item"])  # the same item, in another package
    line = wire(draft.signed())
    before = receiver.snapshot()
    assert answers(post_batch(receiver.http, [line, wire(other.signed()), line])) == [
        (draft.id, 200, None),
        (other.id, 200, None),
        (draft.id, 409, Rejection.REPLAY.value),
    ]
    entries = receiver.audit_since(before)
    assert [(e["kind"], e["data"].get("status") or e["data"].get("reason")) for e in entries] == [
        ("package.received", "stored"),
        ("package.received", "already held"),
        ("package.refused", "REPLAY"),
    ]
    after = receiver.snapshot()
    assert after.count("items") - before.count("items") == 1
    assert after.count("inbox") - before.count("inbox") == 2


def test_the_same_batch_posted_at_once_stores_each_package_once(
    receiver: Receiver, can: PeerSimulator
) -> None:
    drafts = [can.release() for _ in range(6)]
    lines = [wire(d.signed()) for d in drafts]
    before = receiver.snapshot()
    barrier = threading.Barrier(4)
    replies: list[list[tuple[str | None, int, str | None]]] = []

    def post() -> None:
        with loopback.client(base_url=receiver.node.url, timeout=60) as http:
            barrier.wait()
            replies.append(answers(post_batch(http, lines)))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(replies) == 4
    for n, draft in enumerate(drafts):
        outcomes = Counter(
            (status, reason) for reply in replies for _, status, reason in [reply[n]]
        )
        assert outcomes == Counter({(200, None): 1, (409, "REPLAY"): 3}), (draft.id, outcomes)
        assert receiver.holds(draft.body["item"]["id"]) is not None
    after = receiver.snapshot()
    assert after.count("items") - before.count("items") == len(drafts)
    assert after.count("inbox") - before.count("inbox") == len(drafts)


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"", 422, Rejection.MALFORMED),
        (b"{}\n" * (MAX_BATCH + 1), 413, Rejection.OVERSIZE),
    ],
)
def test_what_is_not_a_batch_is_refused_whole(
    receiver: Receiver, raw: bytes, status: int, reason: Rejection
) -> None:
    before = receiver.snapshot()
    response = receiver.http.post(
        INBOX_BATCH, content=raw, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["reason"] == reason.value
    after = receiver.snapshot()
    assert [t for t in before.rows if before.rows[t] != after.rows[t]] == []
    entries = receiver.audit_since(before)
    assert [(e["kind"], e["data"]["reason"]) for e in entries] == [
        ("package.refused", reason.value)
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "\\ud800"}',  # an id that is not Unicode: JSON can spell a lone surrogate
        b'{"\\udfff": 1, "id": "x"}',  # a field name that is not
    ],
)
def test_what_is_not_unicode_is_refused_and_said_in_unicode(
    receiver: Receiver, can: PeerSimulator, raw: bytes
) -> None:
    """A refusal names the package and the place: spelt out, they can be audited and
    answered (alone and in a batch), where the text itself could be neither."""
    good = can.release()
    before = receiver.snapshot()
    alone = receiver.post(raw)
    assert alone.status_code == 422, alone.text
    assert alone.json()["reason"] == Rejection.MALFORMED.value
    together = answers(post_batch(receiver.http, [raw, wire(good.signed())]))
    assert [(status, reason) for _, status, reason in together] == [
        (422, Rejection.MALFORMED.value),
        (200, None),
    ]
    assert together[0][0] == alone.json()["package"]
    entries = receiver.audit_since(before)
    assert [(e["kind"], e["data"].get("reason")) for e in entries] == [
        ("package.refused", "MALFORMED"),  # alone (an address of its own)
        ("package.received", None),
        ("package.refused", "MALFORMED"),  # in the batch: counted once it is stored
    ]


def test_a_release_after_its_senders_rotation_in_the_same_batch(receiver: Receiver) -> None:
    """India's node rotates its keys; the release after the notice, signed with the new
    key, is checked with it, as if the two had been posted one after the other."""
    ind = PeerSimulator("IND", "JPN", receiver.sims["CAN"].receiver_keys)
    receiver.store.exchange.add_peer(Peer("IND", "http://127.0.0.1:9/ind", ind.public))
    new = NodeKeys.generate()
    rotation = ind.rotation(new)
    notice = wire(rotation.signed())
    ind.adopt(new)
    release = ind.release()
    response = post_batch(receiver.http, [notice, wire(release.signed())])
    assert answers(response) == [(rotation.id, 200, None), (release.id, 200, None)]
    assert response.json()["results"][0]["result"]["status"] == "rotated"
    held = receiver.holds(release.body["item"]["id"])
    assert held is not None
    assert held["package_id"] == release.id


def test_a_release_then_its_reclassification_in_one_batch(
    receiver: Receiver, can: PeerSimulator
) -> None:
    """Order holds across kinds: the notice is applied after the release it follows."""
    release = can.release()
    item_id = release.body["item"]["id"]
    notice = can.reclassify(item_id, "C")
    response = post_batch(receiver.http, [wire(release.signed()), wire(notice.signed())])
    assert answers(response) == [(release.id, 200, None), (notice.id, 200, None)]
    assert response.json()["results"][1]["result"]["status"] == "remarked"
    held = receiver.holds(item_id)
    assert held is not None
    assert held["classification"] == "C"


# -- the sender's side: what the courier makes of a batch's answers -------------------------


def test_a_peer_without_a_batch_inbox_is_sent_each_package_alone(
    receiver: Receiver, can: PeerSimulator
) -> None:
    """The simulated Canadian node has no batch inbox (404): a bulk release reaches it
    one package per request, each opened as a peer opens it."""
    label = {
        "originator": "JPN",
        "classification": "GOKUHI",
        "area": "maritime",
        "releasable_to": ["CAN"],
        "need_to_know": [],
    }
    items = [receiver.create_item(label, f"For Canada {n}") for n in range(3)]
    seen = len(can.received)
    with receiver.node.client("jpn-analyst") as client:
        response = client.post("/api/v1/releases", json={"to": "CAN", "items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["state"] for r in results] == ["delivered"] * 3
    posted = can.received[seen:]
    assert len(posted) == 3
    opened = [can.open(raw, receiver.public_signing) for raw in posted]
    assert [p.id for p, _ in opened] == [r["package"] for r in results]
    assert [p.body["item"]["id"] for p, _ in opened] == items
    assert {content for _, content in opened} == {"東シナ海".encode()}


def test_packages_refused_in_a_batch_are_failed_and_not_sent_again(
    receiver: Receiver,
    real_can: RunningNode,  # noqa: F811
) -> None:
    """A real Canadian node whose keys Japan did not pin releases two items in bulk: its
    courier posts them together; Japan refuses each (BAD_SIGNATURE), and Canada's node
    marks each failed, audited, never sent again."""
    label = {
        "originator": "CAN",
        "classification": "S",
        "area": "maritime",
        "releasable_to": ["JPN"],
        "need_to_know": [],
    }
    with real_can.client("can-analyst") as client:
        items = []
        for n in range(2):
            created = client.post(
                "/api/v1/items", json={"label": label, "title": f"Arctic {n}", "content": "ice"}
            )
            assert created.status_code == 201, created.text
            items.append(created.json()["id"])
        before = receiver.snapshot()
        response = client.post("/api/v1/releases", json={"to": "JPN", "items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["state"] for r in results] == ["failed", "failed"]
    assert all(r["detail"].startswith("BAD_SIGNATURE") for r in results), results
    packages = [r["package"] for r in results]

    after = receiver.snapshot()
    assert [t for t in before.rows if before.rows[t] != after.rows[t]] == []
    assert_counted(receiver.audit_since(before), Rejection.BAD_SIGNATURE, packages, CAN_SOURCE)
    time.sleep(1.5)  # three rounds of the courier's loop
    with real_can.client("can-officer") as client:
        rows = {r["package_id"]: r for r in client.get("/api/v1/outbox").json()}
    for package in packages:
        row = rows[package]
        assert (row["state"], row["attempts"], row["peer"]) == ("failed", 1, "JPN")
        assert row["last_error"].startswith("BAD_SIGNATURE")
    sender = real_can.open()
    try:
        with sender.engine.connect() as connection:
            refused = connection.execute(
                select(audit_entries.c.body).where(
                    audit_entries.c.kind == "package.refused_by_peer"
                )
            ).scalars()
            about = [json.loads(body)["data"]["package"] for body in refused]
        assert [p for p in about if p in packages] == packages
        sender.verify_audit()
    finally:
        sender.close()
