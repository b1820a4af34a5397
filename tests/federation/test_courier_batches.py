"""The courier's batches, against a peer faked with ``httpx.MockTransport``: what it posts,
and what it makes of each answer (delivered, refused, retried), in one process.

The Japanese node is real (``Node.init`` in a temporary directory); Canada's node is a
function that answers the courier's requests as the test says.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gsoia.crypto.keys import NodeKeys
from gsoia.federation import posting
from gsoia.federation.courier import State, enqueue
from gsoia.federation.packages import (
    Kind,
    PackageRejected,
    Rejection,
    batch_bytes,
    make_package,
    make_package_bytes,
    open_package,
    split_batch,
)
from gsoia.federation.peers import INBOX, INBOX_BATCH, Peer
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.store.schema import audit_entries, outbox
from tests.receipts import signed_receipt

LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}
Answer = Callable[[httpx.Request], httpx.Response]


class FakePeer:
    """Canada's node as the courier sees it: the requests it gets, the answers it gives
    (a release stored answered with its receipt, signed with Canada's ``keys``)."""

    def __init__(self, keys: NodeKeys) -> None:
        self.keys = keys
        self.requests: list[tuple[str, list[dict[str, Any]]]] = []
        self.answer: Answer = self.all_stored

    def receipt(self, package: dict[str, Any]) -> dict[str, Any] | None:
        """Canada's receipt for a release (None for another kind)."""
        if package["kind"] != Kind.RELEASE.value:
            return None
        item = package["body"]["item"]["id"]
        return signed_receipt(self.keys.signing, package=package["id"], item=item)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        lines = split_batch(request.content) if request.url.path == INBOX_BATCH else None
        packages = [json.loads(line) for line in lines or [request.content]]
        self.requests.append((request.url.path, packages))
        return self.answer(request)

    def all_stored(self, request: httpx.Request) -> httpx.Response:
        packages = self.requests[-1][1]
        if request.url.path == INBOX:
            return httpx.Response(200, json=self.stored(packages[0]))
        results = [{"package": p["id"], "status": 200, "result": self.stored(p)} for p in packages]
        return httpx.Response(200, json={"results": results})

    def stored(self, package: dict[str, Any]) -> dict[str, Any]:
        """The inbox's answer to a package it stored."""
        return {"status": "stored", "receipt": self.receipt(package)}


@pytest.fixture
def jpn(tmp_path: Path) -> Iterator[tuple[Node, User, FakePeer]]:
    node = Node.init(tmp_path / "jpn", "JPN")
    can = NodeKeys.generate()
    node.exchange.add_peer(Peer("CAN", "http://can.invalid", can.public()))
    user, _ = node.add_user(
        "jpn-analyst", "JPN", clearance="KIMITSU", need_to_know=["maritime"], role=Role.ANALYST
    )
    peer = FakePeer(can)
    courier = node.exchange.courier
    courier.http.close()
    courier.http = httpx.Client(transport=httpx.MockTransport(peer))
    try:
        yield node, user, peer
    finally:
        node.close()


def items(node: Node, user: User, count: int) -> list[str]:
    drafts = [node.prepare_item(user, LABEL, f"Report {n}", f"{n}".encode()) for n in range(count)]
    return [view["id"] for view in node.store_items(user, drafts)]


def released(node: Node, user: User, ids: list[str]) -> list[dict[str, Any]]:
    results = node.exchange.release_many(user, "CAN", ids)
    assert all(isinstance(r, dict) for r in results), results
    return [r for r in results if isinstance(r, dict)]


def outbox_rows(node: Node) -> dict[str, Any]:
    with node.engine.connect() as connection:
        return {r.package_id: r for r in connection.execute(select(outbox))}


def audited(node: Node, kind: str) -> list[dict[str, Any]]:
    with node.engine.connect() as connection:
        bodies = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.kind == kind)
        ).scalars()
        return [json.loads(b)["data"] for b in bodies]


def test_each_package_is_marked_as_the_peer_answered_for_it(
    jpn: tuple[Node, User, FakePeer],
) -> None:
    node, user, peer = jpn
    statuses = [
        {"status": 200},
        {"status": 409, "reason": "REPLAY", "detail": "this package was received before"},
        {"status": 403, "reason": "BAD_SIGNATURE", "detail": "not signed by JPN's pinned key"},
        {"status": 503, "detail": "busy"},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        packages = peer.requests[-1][1]
        results = [{"package": p["id"]} | s for p, s in zip(packages, statuses, strict=True)]
        results[0]["result"] = peer.stored(packages[0])  # stored now, and held already:
        results[1]["receipt"] = peer.receipt(packages[1])  # each with its receipt
        return httpx.Response(200, json={"results": results})

    peer.answer = answer
    results = released(node, user, items(node, user, 4))
    assert [path for path, _ in peer.requests] == [INBOX_BATCH]
    assert [p["id"] for p in peer.requests[0][1]] == [r["package"] for r in results]
    assert [r["state"] for r in results] == ["delivered", "delivered", "failed", "pending"]
    assert results[2]["detail"] == "BAD_SIGNATURE: not signed by JPN's pinned key"
    rows = outbox_rows(node)
    states = [(rows[r["package"]].state, rows[r["package"]].attempts) for r in results]
    assert states == [("delivered", 1), ("delivered", 1), ("failed", 1), ("pending", 1)]
    retry = rows[results[3]["package"]]
    assert retry.last_error.startswith("HTTP 503")
    assert retry.next_attempt_at > dt.datetime.now(dt.UTC).isoformat()
    assert [d["package"] for d in audited(node, "package.delivered")] == [
        r["package"] for r in results[:2]
    ]
    [refused] = audited(node, "package.refused_by_peer")
    assert refused["package"] == results[2]["package"]
    assert refused["reason"].startswith("BAD_SIGNATURE")


def test_a_peer_without_a_batch_inbox_gets_each_package_alone(
    jpn: tuple[Node, User, FakePeer],
) -> None:
    node, user, peer = jpn

    def no_batch_inbox(request: httpx.Request) -> httpx.Response:
        if request.url.path == INBOX_BATCH:
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(200, json=peer.stored(peer.requests[-1][1][0]))

    peer.answer = no_batch_inbox
    first = released(node, user, items(node, user, 3))
    assert [r["state"] for r in first] == ["delivered"] * 3
    assert [path for path, _ in peer.requests] == [INBOX_BATCH, INBOX, INBOX, INBOX]
    assert [packages[0]["id"] for _, packages in peer.requests[1:]] == [r["package"] for r in first]
    # remembered: the next ones go alone at once
    peer.requests.clear()
    assert {r["state"] for r in released(node, user, items(node, user, 2))} == {"delivered"}
    assert [path for path, _ in peer.requests] == [INBOX, INBOX]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.ConnectError, "unreachable: ConnectError"),
        (lambda r: httpx.Response(502, text="bad gateway"), "HTTP 502"),
        (lambda r: httpx.Response(200, json={"results": []}), "an unreadable batch answer"),
        (lambda r: httpx.Response(200, text="stored"), "an unreadable batch answer"),
    ],
)
def test_a_batch_not_answered_package_by_package_is_tried_again_whole(
    jpn: tuple[Node, User, FakePeer], answer: Any, reason: str
) -> None:
    node, user, peer = jpn

    def answering(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, type):
            raise answer("down", request=request)
        return answer(request)  # type: ignore[no-any-return]

    peer.answer = answering
    results = released(node, user, items(node, user, 3))
    assert [path for path, _ in peer.requests] == [INBOX_BATCH]  # not once per package
    assert {r["state"] for r in results} == {"pending"}
    rows = outbox_rows(node)
    for result in results:
        row = rows[result["package"]]
        assert (row.state, row.attempts) == ("pending", 1)
        assert reason in row.last_error
    assert audited(node, "package.delivered") == []

    # the peer answers again: the courier's loop takes them, the same packages
    peer.answer = peer.all_stored
    peer.requests.clear()
    with node.engine.begin() as connection:
        connection.execute(outbox.update().values(next_attempt_at="2000-01-01T00:00:00+00:00"))
    assert node.exchange.courier.run_due() == 3
    [(path, packages)] = peer.requests
    assert path == INBOX_BATCH
    assert [p["id"] for p in packages] == [r["package"] for r in results]
    assert {row.state for row in outbox_rows(node).values()} == {State.DELIVERED}


def test_batches_are_bounded(
    jpn: tuple[Node, User, FakePeer], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, user, peer = jpn
    monkeypatch.setattr(posting, "BATCH_PACKAGES", 2)
    results = released(node, user, items(node, user, 5))
    assert [len(packages) for _, packages in peer.requests] == [2, 2, 1]
    assert [path for path, _ in peer.requests] == [INBOX_BATCH, INBOX_BATCH, INBOX]
    sent = [p["id"] for _, packages in peer.requests for p in packages]
    assert sent == [r["package"] for r in results]  # in the order of the release


def test_the_rotation_notice_goes_first_and_alone(jpn: tuple[Node, User, FakePeer]) -> None:
    node, user, peer = jpn
    with node.audit.transaction() as tx:
        enqueue(
            tx.connection,
            package_id="rotation-for-can",
            kind=Kind.ROTATION,
            peer="CAN",
            body={"notice": "new keys"},
            item_id=None,
            now="2000-01-01T00:00:00+00:00",
        )
    results = released(node, user, items(node, user, 3))
    assert {r["detail"] for r in results} == {"waits for the key rotation notice"}
    assert peer.requests == []

    assert node.exchange.courier.run_due() == 4
    assert [(path, [p["kind"] for p in packages]) for path, packages in peer.requests] == [
        (INBOX, ["key_rotation"]),
        (INBOX_BATCH, ["release"] * 3),
    ]


def test_a_package_as_posted_is_the_package_signed() -> None:
    keys = NodeKeys.generate()
    now = dt.datetime.now(dt.UTC)
    body = {"text": '東シナ海\n"quoted"', "list": [1, None, True], "nested": {"b": 1, "a": 2}}
    raw = make_package_bytes(keys.signing, Kind.INCIDENT, "JPN", "CAN", body, now, "p-1")
    assert b"\n" not in raw
    assert json.loads(raw) == make_package(
        keys.signing, Kind.INCIDENT, "JPN", "CAN", body, now, "p-1"
    )
    opened = open_package(raw, me="CAN", peer_keys={"JPN": keys.public().signing}, now=now)
    assert (opened.id, opened.body) == ("p-1", body)
    assert split_batch(batch_bytes([raw, raw])) == [raw, raw]
    with pytest.raises(ValueError, match="one line"):
        batch_bytes([b'{\n"id": 1}'])
    with pytest.raises(PackageRejected) as refused:
        split_batch(b"")
    assert refused.value.reason == Rejection.MALFORMED
