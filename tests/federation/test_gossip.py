"""Partners gossip the heads they hold of third parties: a split view is found.

In process (both databases): a Japanese node keeps two histories, A and B, sharing their
first 10 entries; it shows A to Canada and B to the United States, each consistent on its
own, and answers each one's proof requests from the history it shows it. Canada and the
United States are real nodes; the United States' ``head`` package (as its head rounds put
it in the outbox) carries the head it holds of Japan, and Canada finds the fork: at once
for two roots of one size, by a proof Japan cannot give otherwise. A forged head of Japan
raises nothing about Japan and is audited once; honest gossip raises nothing and asks for
a proof once. Served (SQLite): a real Japanese node's data directory copied, each copy
going on alone towards one partner, is found by those partners' head rounds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy import select

from gsoia.audit import proofs
from gsoia.audit.log import TreeHead, head_message
from gsoia.audit.merkle import consistency_proof, leaf_hash, root
from gsoia.crypto.keys import NodeKeys
from gsoia.crypto.signing import sign
from gsoia.federation.gossip import MAX_GOSSIP, Gossiped, gossip_body, read_gossip
from gsoia.federation.packages import Kind, PackageRejected, Rejection, make_package_bytes
from gsoia.federation.peers import Peer
from gsoia.federation.witnessing import ProofUnavailable
from gsoia.node.config import NodeConfig
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries, outbox
from tests.attacks.simulator import PeerSimulator
from tests.federation.conftest import pin
from tests.federation.test_exchange import wait_for
from tests.node.conftest import Database, RunningNode, fresh_database, make_node

A = [leaf_hash(f"entry {i}".encode()) for i in range(40)]
B = A[:10] + [leaf_hash(f"other {i}".encode()) for i in range(10, 40)]


class SplitView:
    """A Japanese node showing history A to Canada and B to the United States."""

    def __init__(self) -> None:
        self.keys = NodeKeys.generate()
        self.shows: dict[str, list[bytes] | None] = {"CAN": A, "USA": B}
        """The history each partner is shown and proven (None: it is not answered)."""
        self.asked: list[tuple[str, int, int]] = []

    def head(self, size: int, log: list[bytes]) -> TreeHead:
        tree_root = root(log[:size])
        signature = sign(self.keys.signing, head_message(size, tree_root))
        return TreeHead(size, tree_root, signature, f"t{size}")

    def fetcher(self, asking: str, others: dict[str, Node]) -> Any:
        """How ``asking`` fetches proofs: JPN's from what it shows ``asking``, a real
        node's from its log."""

        def fetch(nation: str, first: int, second: int) -> list[bytes]:
            if nation != "JPN":
                return list(proofs.consistency(others[nation].audit, first, second).path)
            self.asked.append((asking, first, second))
            log = self.shows[asking]
            if log is None:
                raise ProofUnavailable("cannot reach it")
            if second > len(log):
                raise ProofUnavailable(f"the log has {len(log)} entries", refused=True)
            return consistency_proof(first, log[:second])

        return fetch

    def show(self, to: Node, size: int) -> None:
        """A package to ``to`` carrying the head of ``size`` entries of what it is shown."""
        log = self.shows[to.nation]
        assert log is not None
        draft = PeerSimulator("JPN", to.nation, to.public, keys=self.keys).incident("none")
        draft.modify(lambda p: p.update(head=self.head(size, log).to_dict()))
        with contextlib.suppress(PackageRejected):  # an incident of no item: refused after
            to.exchange.receive(json.dumps(draft.signed()).encode())
        assert to.exchange.witnesses.held("JPN") == self.head(size, log)


@dataclass
class Three:
    jpn: SplitView
    can: Node
    usa: Node


@pytest.fixture(params=["sqlite", "postgresql"])
def three(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Three]:
    backend = request.param
    with fresh_database(backend) as can_db, fresh_database(backend) as usa_db:
        can = Node.init(tmp_path / "can", "CAN", database=can_db.url)
        usa = Node.init(tmp_path / "usa", "USA", database=usa_db.url)
        try:
            jpn = SplitView()
            for node, other in ((can, usa), (usa, can)):
                node.exchange.add_peer(Peer("JPN", "http://jpn.invalid", jpn.keys.public()))
                node.exchange.add_peer(Peer(other.nation, "http://x.invalid", other.public))
                node.exchange.witnesses.fetch = jpn.fetcher(node.nation, {other.nation: other})
            yield Three(jpn, can, usa)
        finally:
            can.close()
            usa.close()


def queued_body(sender: Node, to: str) -> dict[str, Any]:
    """The body of the ``head`` package ``sender``'s head rounds queue for ``to`` now
    (every one queued taken out of the outbox, so the next round queues them again)."""
    sender.exchange.head_rounds.send()
    with sender.engine.begin() as connection:
        rows = connection.execute(select(outbox).where(outbox.c.kind == "head")).all()
        connection.execute(outbox.delete().where(outbox.c.kind == "head"))
    (body,) = [json.loads(row.payload) for row in rows if row.peer == to]
    assert isinstance(body, dict)
    return body


def gossip(sender: Node, to: Node, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``sender``'s ``head`` package to ``to``, as its head rounds queue it (or with
    ``body``), received by ``to``."""
    head = sender.audit.head()
    raw = make_package_bytes(
        sender.keys.signing,
        Kind.HEAD,
        sender.nation,
        to.nation,
        queued_body(sender, to.nation) if body is None else body,
        dt.datetime.now(dt.UTC),
        head=None if head is None else head.to_dict(),
    )
    answer: dict[str, Any] = to.exchange.receive(raw)
    return answer


def entries(node: Node, kind: str) -> list[dict[str, Any]]:
    with node.engine.connect() as connection:
        bodies = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.kind == kind)
        ).scalars()
        return [json.loads(b)["data"] for b in bodies]


@pytest.mark.parametrize(
    ("held", "gossiped", "proofs"),
    [(12, 15, 1), (15, 12, 1), (12, 12, 0), (30, 11, 1)],
    ids=["larger", "smaller", "same-size", "much-smaller"],
)
def test_a_node_that_shows_two_histories_to_two_partners(
    three: Three, held: int, gossiped: int, proofs: int
) -> None:
    jpn, can, usa = three.jpn, three.can, three.usa
    jpn.show(can, held)  # each partner on its own sees one consistent history
    jpn.show(usa, gossiped)
    assert can.exchange.witnesses.open_alarms() == usa.exchange.witnesses.open_alarms() == []
    assert gossip(usa, can)["gossip"] == {"alarm": 1}  # USA's head package is taken
    (alarm,) = can.exchange.witnesses.open_alarms()
    assert alarm.nation == "JPN"
    assert "one to CAN and one to USA" in alarm.reason
    assert len(jpn.asked) == proofs  # two roots of one size need no proof
    (raised,) = entries(can, "witness.alarm")
    assert raised["peer"] == "JPN"
    assert raised["gossiped_by"] == "USA"
    assert raised["held"] == jpn.head(held, A).to_dict()
    assert raised["shown"] == jpn.head(gossiped, B).to_dict()
    assert can.metrics.witness_alarms._value.get() == 1
    # JPN's packages are refused until an officer acknowledges; USA's are not
    draft = PeerSimulator("JPN", "CAN", can.public, keys=jpn.keys).incident("none")
    with pytest.raises(PackageRejected) as refused:
        can.exchange.receive(json.dumps(draft.signed()).encode())
    assert refused.value.reason is Rejection.WITNESS_ALARM
    assert gossip(usa, can)["gossip"] == {"alarm": 1}
    officer, _ = can.add_user("can-officer", "CAN", clearance="TS", role=Role.OFFICER)
    can.exchange.witnesses.acknowledge(officer, alarm.id, "JPN asked")
    # the head JPN showed CAN stays the one held; the same two heads raise no second alarm
    assert can.exchange.witnesses.held("JPN") == jpn.head(held, A)
    gossip(usa, can)
    assert can.exchange.witnesses.open_alarms() == []
    assert len(entries(can, "witness.alarm")) == 1


def test_a_fork_a_node_cannot_prove_is_an_alarm(three: Three) -> None:
    jpn, can, usa = three.jpn, three.can, three.usa
    jpn.show(can, 12)
    jpn.shows["USA"] = [*B, leaf_hash(b"more")]  # B is 41 entries long: A has no proof
    jpn.show(usa, 41)
    assert gossip(usa, can)["gossip"] == {"alarm": 1}
    assert jpn.asked == [("CAN", 12, 41)]
    (alarm,) = can.exchange.witnesses.open_alarms()
    assert "cannot prove one a prefix of the other" in alarm.reason


def test_a_node_that_does_not_answer_is_asked_again(three: Three) -> None:
    jpn, can, usa = three.jpn, three.can, three.usa
    jpn.show(can, 12)
    jpn.show(usa, 15)
    jpn.shows["CAN"] = None
    assert gossip(usa, can)["gossip"] == {"unchecked": 1}
    assert can.exchange.witnesses.open_alarms() == []
    jpn.shows["CAN"] = A
    assert gossip(usa, can)["gossip"] == {"alarm": 1}
    assert len(jpn.asked) == 2


def _flipped(head: TreeHead) -> TreeHead:
    signature = bytes([head.signature[0] ^ 1]) + head.signature[1:]
    return TreeHead(head.size, head.root, signature, head.at)


def test_a_forged_head_raises_nothing_about_its_node(three: Three) -> None:
    jpn, can, usa = three.jpn, three.can, three.usa
    jpn.show(can, 12)
    b15 = jpn.head(15, B)
    forged = {
        "JPN": _flipped(b15),  # its signature changed
        "CAN": jpn.head(12, B),  # of CAN's own log: ignored
    }
    by_usa = TreeHead(15, b15.root, sign(usa.keys.signing, head_message(15, b15.root)), "t")
    for body in (gossip_body(forged), gossip_body({"JPN": by_usa}), gossip_body(forged)):
        answer = gossip(usa, can, body)
        assert answer["head"] == "witnessed"  # USA's own head is witnessed, its package taken
        assert answer["gossip"]["refused"] == 1
    assert can.exchange.witnesses.open_alarms() == []
    assert jpn.asked == []
    refused = entries(can, "gossip.refused")
    assert len(refused) == 2  # the same forgery twice is audited once
    assert refused[0]["from"] == "USA"
    assert [(h["nation"], h["reason"]) for h in refused[0]["heads"]] == [
        ("JPN", "not signed by JPN")
    ]
    assert refused[0]["heads"] != refused[1]["heads"]  # two forgeries, told apart
    assert can.exchange.witnesses.held("JPN") == jpn.head(12, A)


@pytest.mark.parametrize(
    "body",
    [
        {"heads": "JPN"},
        {"heads": [], "more": 1},
        {"heads": [{"nation": "JPN"}]},
        {"heads": [{"nation": 7}]},
        {"heads": [{"nation": "JPN\n"}]},
        {"heads": [{"nation": "X"}] * (MAX_GOSSIP + 1)},
    ],
    ids=["not-a-list", "more-than-heads", "no-head", "nation-number", "unprintable", "too-many"],
)
def test_gossip_that_is_not_heads_is_refused_alone(three: Three, body: dict[str, Any]) -> None:
    can, usa = three.can, three.usa
    answer = gossip(usa, can, body)
    assert answer["head"] == "witnessed"
    assert answer["gossip"] == {"refused": 1}
    (refused,) = entries(can, "gossip.refused")
    assert refused["from"] == "USA"
    assert can.exchange.witnesses.open_alarms() == []


def test_honest_gossip_raises_nothing_and_asks_once(three: Three) -> None:
    jpn, can, usa = three.jpn, three.can, three.usa
    jpn.shows["USA"] = A  # one history for both
    jpn.show(can, 12)
    jpn.show(usa, 20)
    assert gossip(usa, can)["gossip"] == {"consistent": 1}
    assert jpn.asked == [("CAN", 12, 20)]
    assert can.exchange.witnesses.held("JPN") == jpn.head(20, A)  # proven: now held
    assert gossip(usa, can)["gossip"] == {"consistent": 1}  # the same head: nothing asked
    jpn.show(can, 30)
    assert gossip(usa, can)["gossip"] == {"consistent": 1}  # an older one, proven once
    assert gossip(usa, can)["gossip"] == {"consistent": 1}
    assert jpn.asked == [("CAN", 12, 20), ("CAN", 20, 30)]
    assert can.exchange.witnesses.held("JPN") == jpn.head(30, A)
    # CAN's gossip to USA, the other way, is as honest
    assert gossip(can, usa)["gossip"] == {"consistent": 1}
    assert usa.exchange.witnesses.held("JPN") == jpn.head(30, A)
    assert can.exchange.witnesses.open_alarms() == usa.exchange.witnesses.open_alarms() == []
    assert entries(can, "gossip.refused") == entries(usa, "gossip.refused") == []


def test_what_is_gossiped_and_to_whom(three: Three) -> None:
    jpn, can, usa = three.jpn, three.can, three.usa
    assert "gossip" not in gossip(usa, can)  # USA holds no head of anyone yet
    jpn.show(usa, 15)
    body = queued_body(usa, "CAN")
    assert body == gossip_body({"JPN": jpn.head(15, B)})
    assert read_gossip(body) == ([Gossiped("JPN", jpn.head(15, B))], [])
    assert queued_body(usa, "JPN") == {"heads": []}  # JPN is not told its own head
    # a head of a nation CAN has not pinned, or of its own log, is ignored
    kor = SplitView()
    answer = gossip(usa, can, gossip_body({"KOR": kor.head(3, A), "CAN": jpn.head(3, A)}))
    assert answer["gossip"] == {"ignored": 2}
    assert entries(can, "gossip.refused") == []


def test_witnessing_off_compares_no_gossip(tmp_path: Path) -> None:
    data = tmp_path / "can"
    Node.init(data, "CAN").close()
    config = json.loads((data / "node.json").read_text())
    (data / "node.json").write_text(json.dumps(config | {"witnessing": False}))
    can, usa = Node.open(data), Node.init(tmp_path / "usa", "USA")
    try:
        jpn = SplitView()
        can.exchange.add_peer(Peer("JPN", "http://jpn.invalid", jpn.keys.public()))
        can.exchange.add_peer(Peer("USA", "http://usa.invalid", usa.public))
        forged = gossip_body({"JPN": _flipped(jpn.head(12, A))})
        assert gossip(usa, can, forged) == {"package": ANY, "head": "witnessed"}
        assert entries(can, "gossip.refused") == []
    finally:
        can.close()
        usa.close()


# -- served nodes --------------------------------------------------------------------------


def _every_second(node: RunningNode) -> None:
    """Head rounds every second (``witness_interval_seconds`` 1)."""
    path = node.data / "node.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps(config | {"witness_interval_seconds": 1}))


def _copy(jpn: RunningNode, tmp_path: Path) -> RunningNode:
    """A second data directory of ``jpn`` (its keys, its log so far) on its own database."""
    data = tmp_path / "jpn-b"
    shutil.copytree(jpn.data, data)
    path = data / "node.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps(config | {"database": NodeConfig.default_database(data)}))
    return RunningNode(data, "JPN", jpn.database)


def _alarms(node: RunningNode) -> list[dict[str, Any]]:
    with node.client(f"{node.nation.lower()}-officer") as client:
        response = client.get("/api/v1/witness")
    assert response.status_code == 200, response.text
    alarms: list[dict[str, Any]] = response.json()["alarms"]
    return alarms


def test_served_partners_find_a_split_view_by_their_head_rounds(tmp_path: Path) -> None:
    """JPN's data directory copied, each copy going on alone: one talks to CAN only, the
    other to USA only. CAN and USA, whose head rounds gossip every second, find it."""
    sqlite = Database("sqlite", None)
    running = {n: make_node(tmp_path, sqlite, n) for n in ("JPN", "CAN", "USA")}
    for node in running.values():
        _every_second(node)
    jpn, can, usa = running["JPN"], running["CAN"], running["USA"]
    copy = _copy(jpn, tmp_path)
    jpn.add_user("jpn-a", "JPN", "KIMITSU")  # the two histories part here
    for user in ("jpn-b", "jpn-c"):
        copy.add_user(user, "JPN", "KIMITSU")
    can.add_user("can-officer", "CAN", "TS", role=Role.OFFICER)
    usa.add_user("usa-officer", "USA", "TS", role=Role.OFFICER)
    running["JPN-B"] = copy
    try:
        for node in running.values():
            node.start()
        pin(can, usa)
        pin(usa, can)
        pin(can, jpn)  # CAN knows JPN where the first copy serves
        pin(usa, copy)  # USA where the second does
        pin(jpn, can)
        pin(copy, usa)
        wait_for(lambda: bool(_alarms(can)) or bool(_alarms(usa)), timeout=60)
        for witness, other in ((can, usa), (usa, can)):
            for alarm in _alarms(witness):  # the one, or both, that compared first
                assert alarm["nation"] == "JPN"
                assert (
                    f"JPN showed two histories of its audit log, one to {witness.nation} and"
                    f" one to {other.nation}"
                ) in alarm["reason"]
    finally:
        for node in running.values():
            node.stop()
