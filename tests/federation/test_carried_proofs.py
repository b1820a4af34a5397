"""A consistency proof carried with a batch (``federation.carried``): used in place of
asking the sender for it when it holds, and trusted for nothing else.

In process (both databases), against the simulated Japanese node of ``test_witness`` (its
two histories A and B): a carried proof that is the one needed spares the request; one that
fails (of the other history, forged, empty) accuses no one: the sender is asked, and its
answer judged (two histories still raise the alarm); one for other sizes or another sender
is not used (the sender is asked); a header that is not a proof refuses the batch whole.
Then two real nodes, Japan's courier posting to Canada's inbox: batch after batch carries
the proof, and Canada never asks, also of batches posted side by side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gsoia.api.federation import batch_answer
from gsoia.audit.merkle import consistency_proof
from gsoia.federation.carried import HEADER, CarriedProof, read_carried
from gsoia.federation.packages import PackageRejected, Rejection
from gsoia.federation.peers import INBOX_BATCH, Peer
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from tests.federation.test_receipts import LABEL
from tests.federation.test_witness import A, B, Forker, _head, can, entries, receive
from tests.node.conftest import Database, database

__all__ = ["can", "database"]

Can = tuple[Node, Forker, User]


def carried(first: int, second: int, log: list[bytes], nation: str = "JPN") -> str:
    """The header of ``nation``'s proof from ``first`` entries of ``log`` to ``second``."""
    path = tuple(consistency_proof(first, log[:second]))
    return CarriedProof(nation, first, second, path).header()


def batch(node: Node, raw: bytes, header: str | None) -> Rejection | None:
    """What became of a batch of one package (as ``receive``: None if the witness let it by)."""
    [(_, outcome)] = node.exchange.receive_batch(raw, carried=header)
    assert isinstance(outcome, PackageRejected), outcome
    return None if outcome.reason is Rejection.UNKNOWN_ITEM else outcome.reason


def test_a_carried_proof_spares_the_request(can: Can) -> None:
    node, forker, _ = can
    assert receive(node, forker.package(forker.head(5, A))) is None
    forker.proofs_from = None  # it would not answer: only the carried proof can check it
    assert batch(node, forker.package(forker.head(9, A)), carried(5, 9, A)) is None
    assert node.exchange.witnesses.held_and_pending("JPN") == (_head(forker.head(9, A)), None)
    # an older head, with the proof from it to the one held: nothing changes
    assert batch(node, forker.package(forker.head(7, A)), carried(7, 9, A)) is None
    assert node.exchange.witnesses.held("JPN") == _head(forker.head(9, A))
    # a package posted alone may carry one too
    alone = forker.package(forker.head(20, A))
    with pytest.raises(PackageRejected) as refused:
        node.exchange.receive(alone, carried=carried(9, 20, A))
    assert refused.value.reason is Rejection.UNKNOWN_ITEM
    assert node.exchange.witnesses.held("JPN") == _head(forker.head(20, A))
    assert forker.asked == []
    assert node.exchange.witnesses.open_alarms() == []


def _forged(header: str) -> str:
    """The header with the first hash of its proof changed."""
    first = header.split(" ")[3][:64]
    changed = f"{int(first[:2], 16) ^ 1:02x}" + first[2:]
    return header.replace(first, changed, 1)


@pytest.mark.parametrize(
    "proof",
    [
        lambda: carried(12, 15, A),  # the proof of the other history
        lambda: _forged(carried(12, 15, B)),  # the right one, a hash changed
        lambda: "JPN 12 15 ",  # none at all
    ],
    ids=["other-history", "forged", "empty"],
)
def test_a_carried_proof_that_fails_accuses_no_one(can: Can, proof: Callable[[], str]) -> None:
    # anyone who copied a signed package could post it again with a false header: the
    # sender is asked, and its answer judged
    node, forker, _ = can
    forker.proofs_from = B
    assert receive(node, forker.package(forker.head(12, B))) is None
    assert batch(node, forker.package(forker.head(15, B)), proof()) is None
    assert forker.asked == [(12, 15)]
    assert node.exchange.witnesses.open_alarms() == []
    assert node.exchange.witnesses.held("JPN") == _head(forker.head(15, B))


def test_two_histories_are_found_whatever_proof_is_carried(can: Can) -> None:
    node, forker, _ = can
    assert receive(node, forker.package(forker.head(12, A))) is None
    forker.proofs_from = B  # it now shows, and proves, the other history
    header = carried(12, 15, B)  # a proof of B alone: it leads to no head of A
    assert batch(node, forker.package(forker.head(15, B)), header) is Rejection.WITNESS_ALARM
    assert forker.asked == [(12, 15)]
    (alarm,) = node.exchange.witnesses.open_alarms()
    assert alarm.nation == "JPN"
    assert [e["data"]["alarm"] for e in entries(node, "witness.alarm")] == [alarm.id]
    assert node.exchange.witnesses.held("JPN") == _head(forker.head(12, A))


@pytest.mark.parametrize(
    "header",
    [carried(4, 9, A), carried(5, 10, A), carried(5, 9, A, nation="USA")],
    ids=["other-first", "other-second", "other-sender"],
)
def test_a_carried_proof_not_the_one_needed_is_not_used(can: Can, header: str) -> None:
    node, forker, _ = can
    assert receive(node, forker.package(forker.head(5, A))) is None
    assert batch(node, forker.package(forker.head(9, A)), header) is None
    assert forker.asked == [(5, 9)]  # asked, as without it
    assert node.exchange.witnesses.held("JPN") == _head(forker.head(9, A))


@pytest.mark.parametrize(
    "header",
    [
        "JPN 5",
        "JPN 9 5 " + "00" * 32,  # first not below second
        "JPN 0 9 " + "00" * 32,
        "JPN 5 9 zz",
        "JPN 5 9 " + "00" * 31,
        "JPN 5 9 " + "00" * 64,  # two hashes without a comma
        "JPN 5 9 " + ",".join(["00" * 32] * 65),  # longer than any proof
        "J N 5 9 " + "00" * 32,
    ],
)
def test_a_header_that_is_not_a_proof_refuses_the_batch(can: Can, header: str) -> None:
    node, forker, _ = can
    with pytest.raises(PackageRejected) as refused:
        node.exchange.receive_batch(forker.package(forker.head(5, A)), carried=header)
    assert refused.value.reason is Rejection.MALFORMED
    assert HEADER in refused.value.detail
    assert node.exchange.witnesses.held("JPN") is None  # nothing stored
    [refusal] = entries(node, "package.refused")
    assert refusal["data"]["reason"] == "MALFORMED"
    with pytest.raises(PackageRejected):
        read_carried(header)


# -- two real nodes ------------------------------------------------------------------------


@dataclass
class Arrivals:
    """What the test does around Canada's taking the ``n``-th request (counted from 1,
    proofs asked for included): nothing unless it says."""

    before: Callable[[int], None] = lambda n: None
    after: Callable[[int], None] = lambda n: None


Pair = tuple[Node, Node, list[str | None], Arrivals]


@pytest.fixture
def pair(tmp_path: Path, database: Database) -> Iterator[Pair]:
    """Japan's node (on ``database``) posting to Canada's (SQLite) in process; the headers
    its batches came with; Canada's requests for proofs refused (counted in the test); the
    test's hold on each arrival."""
    jpn = Node.init(tmp_path / "jpn", "JPN", database=database.url)
    can = Node.init(tmp_path / "can", "CAN")
    jpn.exchange.add_peer(Peer("CAN", "http://can.invalid", can.public))
    can.exchange.add_peer(Peer("JPN", "http://jpn.invalid", jpn.public))
    headers: list[str | None] = []
    arrivals = Arrivals()

    def inbox(request: httpx.Request) -> httpx.Response:
        assert request.url.path == INBOX_BATCH
        headers.append(request.headers.get(HEADER))
        n = len(headers)
        arrivals.before(n)
        received = can.exchange.receive_batch(request.content, carried=request.headers.get(HEADER))
        arrivals.after(n)
        return httpx.Response(200, json={"results": [batch_answer(p, r) for p, r in received]})

    def no_proof(request: httpx.Request) -> httpx.Response:
        headers.append("asked")
        return httpx.Response(503)

    jpn.exchange.courier.http = httpx.Client(transport=httpx.MockTransport(inbox))
    can.exchange.courier.http = httpx.Client(transport=httpx.MockTransport(no_proof))
    try:
        yield jpn, can, headers, arrivals
    finally:
        can.close()
        jpn.close()


def test_each_batch_carries_the_proof_its_receiver_needs(pair: Pair) -> None:
    jpn, can, headers, _ = pair
    analyst, _ = jpn.add_user(
        "jpn-analyst", "JPN", clearance="KIMITSU", need_to_know=["maritime"], role=Role.ANALYST
    )
    sizes: list[int] = []
    for round_ in range(4):
        drafts = [jpn.prepare_item(analyst, LABEL, f"report {round_}.{k}", b"x") for k in range(3)]
        ids = [view["id"] for view in jpn.store_items(analyst, drafts)]
        answers = jpn.exchange.release_many(analyst, "CAN", ids)
        assert [a["state"] for a in answers if isinstance(a, dict)] == ["delivered"] * 3, answers
        held, pending = can.exchange.witnesses.held_and_pending("JPN")
        assert held is not None
        assert pending is None
        assert held.size == jpn.exchange.courier.shown.held("CAN")  # what Japan knows
        sizes.append(held.size)
    assert headers[0] is None  # nothing known of what Canada holds yet: it held nothing
    assert "asked" not in headers
    proofs = [read_carried(h) for h in headers[1:]]
    assert all(p is not None and p.nation == "JPN" for p in proofs)
    assert [p.second for p in proofs if p is not None] == sorted(
        p.second for p in proofs if p is not None
    )
    assert can.exchange.witnesses.open_alarms() == []
    assert sizes == sorted(set(sizes))  # a larger head held each time
    assert [p.second for p in proofs if p is not None] == sizes[1:]


def test_batches_in_flight_together_show_one_head(pair: Pair) -> None:
    """Two releases posted at the same time (A, then B while A is in the air) show one head
    with one proof; a third (C), once A came back, shows a later head; B, arriving after
    C, shows a head Canada has just proven C's to extend: no proof asked, no alarm."""
    jpn, can, arrived, arrivals = pair
    b_arrived, c_done = threading.Event(), threading.Event()

    def before(n: int) -> None:
        if n == 2:  # A: held until B is in the air beside it
            assert b_arrived.wait(30)
        elif n == 3:  # B: held until C was taken
            b_arrived.set()
            assert c_done.wait(30)

    def after(n: int) -> None:
        if n == 4:
            c_done.set()

    arrivals.before, arrivals.after = before, after
    analyst, _ = jpn.add_user(
        "jpn-analyst", "JPN", clearance="KIMITSU", need_to_know=["maritime"], role=Role.ANALYST
    )
    drafts = [jpn.prepare_item(analyst, LABEL, f"report {k}", b"x") for k in range(8)]
    ids = [view["id"] for view in jpn.store_items(analyst, drafts)]
    first, a, b, c = (tuple(ids[k : k + 2]) for k in range(0, 8, 2))  # a batch each
    states: dict[tuple[str, ...], list[str]] = {}

    def release(items: tuple[str, ...]) -> None:
        answers = jpn.exchange.release_many(analyst, "CAN", list(items))
        states[items] = [x["state"] if isinstance(x, dict) else repr(x) for x in answers]

    release(first)  # Canada holds a head of Japan's from here on
    in_air = [threading.Thread(target=release, args=(items,)) for items in (a, b)]
    in_air[0].start()
    while len(arrived) < 2:  # A is in the air
        time.sleep(0.01)
    in_air[1].start()
    in_air[0].join(30)
    assert b_arrived.is_set()
    assert not in_air[0].is_alive()
    release(c)  # A came back: a later head, with the proof from A's
    in_air[1].join(30)
    assert states == {items: ["delivered"] * 2 for items in (first, a, b, c)}, states
    assert "asked" not in arrived
    _, proof_a, proof_b, proof_c = (read_carried(h) for h in arrived)
    assert proof_a is not None
    assert proof_a == proof_b
    assert proof_c is not None
    assert proof_c.first == proof_a.second < proof_c.second
    held = can.exchange.witnesses.held("JPN")
    assert held is not None
    assert held.size == proof_c.second
    assert can.exchange.witnesses.open_alarms() == []
