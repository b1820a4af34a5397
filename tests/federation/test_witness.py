"""Partners witness each other's audit logs.

In process (both databases): a Canadian node receives packages from a simulated Japanese
node that keeps two histories, A and B, sharing their first 10 entries. Each head it
shows is signed by its pinned key; the proofs it answers come from the history it shows
at that moment. Whatever order it shows them in, the Canadian node raises one alarm,
refuses every package from it until an officer acknowledges, and witnesses it again
after. Served (SQLite): a real Japanese node whose log is cut and continued behind its
back is found by the Canadian node it releases to.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from gsoia.audit.log import TreeHead, head_message
from gsoia.audit.merkle import consistency_proof, leaf_hash, root
from gsoia.crypto.signing import sign
from gsoia.errors import InputError
from gsoia.federation.packages import Kind, PackageRejected, Rejection, make_package_bytes
from gsoia.federation.peers import Peer
from gsoia.federation.witnessing import ProofUnavailable
from gsoia.node.errors import Forbidden, NotFound
from gsoia.node.exchange.witnesses import shown_as
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.store.schema import audit_entries, outbox
from tests.attacks.simulator import PeerSimulator
from tests.federation.conftest import pin, serving
from tests.federation.test_exchange import create, wait_for
from tests.node.conftest import GSOIA, Database, RunningNode, make_node
from tests.web.test_security import http_sign_in

A = [leaf_hash(f"entry {i}".encode()) for i in range(40)]
B = A[:10] + [leaf_hash(f"other {i}".encode()) for i in range(10, 40)]


class Forker:
    """A Japanese node showing heads of either history, answering proofs from one."""

    def __init__(self, receiver: Node) -> None:
        self.simulator = PeerSimulator("JPN", receiver.nation, receiver.public)
        self.proofs_from: list[bytes] | None = A
        """The history its proofs come from; None: it does not answer."""
        self.asked: list[tuple[int, int]] = []

    def head(self, size: int, log: list[bytes]) -> dict[str, Any]:
        tree_root = root(log[:size])
        signature = sign(self.simulator.keys.signing, head_message(size, tree_root))
        return TreeHead(size, tree_root, signature, f"t{size}").to_dict()

    def fetch(self, nation: str, first: int, second: int) -> list[bytes]:
        self.asked.append((first, second))
        if self.proofs_from is None:
            raise ProofUnavailable("cannot reach it")
        if second > len(self.proofs_from):
            raise ProofUnavailable(f"the log has {len(self.proofs_from)} entries", refused=True)
        return consistency_proof(first, self.proofs_from[:second])

    def package(self, head: dict[str, Any] | None) -> bytes:
        draft = self.simulator.incident("no-such-item")
        if head is not None:
            draft.modify(lambda p: p.update(head=head))
        return json.dumps(draft.signed()).encode()


@pytest.fixture
def can(tmp_path: Path, database: Database) -> Iterator[tuple[Node, Forker, User]]:
    node = Node.init(tmp_path / "can", "CAN", database=database.url)
    try:
        officer, _ = node.add_user("can-officer", "CAN", clearance="TS", role=Role.OFFICER)
        forker = Forker(node)
        node.exchange.add_peer(Peer("JPN", "http://jpn.invalid", forker.simulator.public))
        node.exchange.witnesses.fetch = forker.fetch
        yield node, forker, officer
    finally:
        node.close()


def receive(node: Node, raw: bytes) -> Rejection | None:
    """What became of a package: its refusal's reason, or None if the witness let it by
    (these incident notices name no item, so they are refused later, for that)."""
    try:
        node.exchange.receive(raw)
    except PackageRejected as e:
        return None if e.reason is Rejection.UNKNOWN_ITEM else e.reason
    raise AssertionError("an incident notice of no item was applied")


def entries(node: Node, kind: str) -> list[dict[str, Any]]:
    with node.engine.connect() as connection:
        bodies = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.kind == kind)
        ).scalars()
        return [json.loads(b) for b in bodies]


Show = Callable[[Forker], bytes]


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ((12, A), (15, B)),  # a larger head of the other history
        ((15, A), (12, B)),  # a smaller one
        ((12, A), (12, B)),  # the same size, another root: no proof needed
        ((11, B), (30, A)),
    ],
    ids=["larger", "smaller", "same-size", "B-then-A"],
)
def test_two_histories_raise_one_alarm(
    can: tuple[Node, Forker, User],
    first: tuple[int, list[bytes]],
    then: tuple[int, list[bytes]],
) -> None:
    node, forker, officer = can
    forker.proofs_from = first[1]
    assert receive(node, forker.package(forker.head(*first))) is None
    held = node.exchange.witnesses.held("JPN")
    assert held is not None
    assert held.size == first[0]
    forker.proofs_from = then[1]  # it now shows, and proves, the other history
    assert receive(node, forker.package(forker.head(*then))) is Rejection.WITNESS_ALARM
    (alarm,) = node.exchange.witnesses.open_alarms()
    assert alarm.nation == "JPN"
    assert [e["data"]["alarm"] for e in entries(node, "witness.alarm")] == [alarm.id]
    assert node.metrics.witness_alarms._value.get() == 1
    # every package refused, even one of the first history, until acknowledged
    assert receive(node, forker.package(forker.head(*first))) is Rejection.WITNESS_ALARM
    assert len(node.exchange.witnesses.open_alarms()) == 1
    done = node.exchange.witnesses.acknowledge(officer, alarm.id, "JPN restored a backup")
    assert done["acknowledged_by"] == "can-officer"
    assert node.exchange.witnesses.open_alarms() == []
    assert [e["data"]["note"] for e in entries(node, "witness.acknowledged")] == [
        "JPN restored a backup"
    ]
    # witnessed again from the head it showed last
    larger = forker.head(then[0] + 5, then[1])
    assert receive(node, forker.package(larger)) is None
    assert node.exchange.witnesses.held("JPN") == _head(larger)


def test_a_growing_history_is_witnessed_without_alarm(can: tuple[Node, Forker, User]) -> None:
    node, forker, _ = can
    for size in (1, 2, 5, 5, 9, 20, 40):
        assert receive(node, forker.package(forker.head(size, A))) is None
        assert node.exchange.witnesses.held("JPN") == _head(forker.head(size, A))
    # an older head, proven a prefix, changes nothing
    assert receive(node, forker.package(forker.head(17, A))) is None
    assert node.exchange.witnesses.held("JPN") == _head(forker.head(40, A))
    assert (17, 40) in forker.asked
    assert node.exchange.witnesses.open_alarms() == []


def test_a_head_that_cannot_be_checked_waits_and_is_checked_first(
    can: tuple[Node, Forker, User],
) -> None:
    node, forker, _ = can
    assert receive(node, forker.package(forker.head(12, A))) is None
    forker.proofs_from = None  # it does not answer: the package is not held back
    assert receive(node, forker.package(forker.head(15, B))) is None
    held, pending = node.exchange.witnesses.held_and_pending("JPN")
    assert held == _head(forker.head(12, A))
    assert pending == _head(forker.head(15, B))
    # it answers again, from A: the head it showed meanwhile (B) is checked first
    forker.proofs_from = B
    assert receive(node, forker.package(forker.head(20, B))) is Rejection.WITNESS_ALARM
    assert len(node.exchange.witnesses.open_alarms()) == 1


def test_a_partner_that_showed_heads_cannot_stop(can: tuple[Node, Forker, User]) -> None:
    node, forker, _ = can
    assert receive(node, forker.package(None)) is None  # never showed one: not witnessed
    assert receive(node, forker.package(forker.head(3, A))) is None
    assert receive(node, forker.package(None)) is Rejection.BAD_HEAD


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.update(signature=f"{int(h['signature'][:2], 16) ^ 1:02x}" + h["signature"][2:]),
        lambda h: h.update(size=h["size"] + 1),
        lambda h: h.update(root="00" * 32),
        lambda h: h.update(size="3"),
        lambda h: h.update(extra=1),
        lambda h: h.pop("at"),
    ],
    ids=["signature", "size", "root", "size-text", "extra-field", "no-time"],
)
def test_a_bad_head_is_refused(can: tuple[Node, Forker, User], change: Any) -> None:
    node, forker, _ = can
    head = forker.head(3, A)
    change(head)
    assert receive(node, forker.package(head)) is Rejection.BAD_HEAD
    assert node.exchange.witnesses.held("JPN") is None


def _head(data: dict[str, Any]) -> TreeHead:
    return TreeHead(
        data["size"], bytes.fromhex(data["root"]), bytes.fromhex(data["signature"]), data["at"]
    )


# -- served nodes --------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, RunningNode]]:
    sqlite = Database("sqlite", None)
    running = {n: make_node(tmp_path, sqlite, n) for n in ("JPN", "CAN")}
    running["JPN"].add_user("jpn-analyst", "JPN", "KIMITSU", ["maritime"])
    running["JPN"].add_user("jpn-officer", "JPN", "KIMITSU", ["maritime"], role=Role.OFFICER)
    running["CAN"].add_user("can-officer", "CAN", "TS", ["maritime"], role=Role.OFFICER)
    with serving(running):
        yield running


def release(jpn: RunningNode) -> dict[str, Any]:
    item = create(jpn)
    with jpn.client("jpn-analyst") as client:
        response = client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def witness(can: RunningNode) -> dict[str, Any]:
    with can.client("can-officer") as client:
        response = client.get("/api/v1/witness")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def verify_witnessed(node: RunningNode) -> subprocess.CompletedProcess[str]:
    args = [GSOIA, "audit", "verify", "--data", str(node.data), "--witness"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_a_log_cut_and_continued_is_found_by_its_partner(served: dict[str, RunningNode]) -> None:
    jpn, can = served["JPN"], served["CAN"]
    assert release(jpn)["state"] == "delivered"
    assert release(jpn)["state"] == "delivered"
    (held,) = witness(can)["heads"]
    assert held["nation"] == "JPN"
    assert witness(can)["alarms"] == []
    verified = verify_witnessed(jpn)
    assert verified.returncode == 0, verified.stderr
    assert f"CAN: holds the head of {held['head']['size']} entries, consistent" in verified.stdout
    # behind JPN's back: its newest entries deleted, and the anchor that would show it
    jpn.stop()
    cut = held["head"]["size"] - 4
    node = jpn.open(anchored=False)
    try:
        with node.engine.begin() as connection:
            connection.execute(delete(audit_entries).where(audit_entries.c.seq >= cut))
    finally:
        node.close()
    (jpn.data / "audit-head.json").unlink()
    verified = verify_witnessed(jpn)  # the log verifies alone; CAN holds what it lost
    assert verified.returncode == 1, verified.stdout
    assert f"CAN: audit entry {cut}: entries {cut} to" in verified.stdout
    assert "not as CAN witnessed it" in verified.stderr
    jpn.start()
    pin(can, jpn)  # where JPN now listens
    assert release(jpn)["state"] != "delivered"  # CAN refuses it, JPN keeps it
    (alarm,) = witness(can)["alarms"]
    assert alarm["nation"] == "JPN"
    assert alarm["acknowledged_at"] is None
    with can.client("can-officer") as client, http_sign_in(can, "can-officer") as web:
        metrics = client.get("/metrics").text
        assert "gsoia_witness_alarms_total 1.0" in metrics
        assert "JPN showed two histories of its audit log" in web.get("/web/outbox").text
        acknowledged = client.post(
            f"/api/v1/witness/alarms/{alarm['id']}/acknowledge", json={"note": "checked"}
        )
        assert acknowledged.status_code == 200, acknowledged.text
        assert "showed two histories" not in web.get("/web/outbox").text

    def all_delivered() -> bool:
        with jpn.client("jpn-officer") as client:
            outbox = client.get("/api/v1/outbox").json()
        return bool(outbox) and all(p["state"] == "delivered" for p in outbox)

    wait_for(all_delivered, timeout=90)  # the courier tries again, and CAN takes it now
    assert witness(can)["alarms"][0]["acknowledged_by"] == "can-officer"


def test_an_acknowledgement_names_an_open_alarm_and_a_clean_note(
    can: tuple[Node, Forker, User],
) -> None:
    node, forker, officer = can
    witnesses = node.exchange.witnesses
    with pytest.raises(NotFound):
        witnesses.acknowledge(officer, "no-such-alarm", "checked")
    with pytest.raises(NotFound):
        witnesses.acknowledge(officer, "a\x00b", "checked")
    receive(node, forker.package(forker.head(12, A)))
    receive(node, forker.package(forker.head(12, B)))
    (alarm,) = witnesses.open_alarms()
    with pytest.raises(InputError):
        witnesses.acknowledge(officer, alarm.id, "bad\x00note")
    analyst, _ = node.add_user("can-analyst", "CAN", clearance="TS")
    with pytest.raises(Forbidden):
        witnesses.acknowledge(analyst, alarm.id, "not mine to say")
    witnesses.acknowledge(officer, alarm.id, "checked")
    with pytest.raises(NotFound):  # once only
        witnesses.acknowledge(officer, alarm.id, "again")


# -- heads for idle partners ---------------------------------------------------------------


def test_an_idle_partner_is_sent_a_head_it_witnesses(tmp_path: Path) -> None:
    now = [dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)]
    jpn = Node.init(tmp_path / "jpn", "JPN", clock=lambda: now[0])
    can = Node.init(tmp_path / "can", "CAN", clock=lambda: now[0])
    try:
        jpn.exchange.add_peer(Peer("CAN", "http://can.invalid", can.public))
        can.exchange.add_peer(Peer("JPN", "http://jpn.invalid", jpn.public))
        rounds = jpn.exchange.head_rounds
        assert rounds.interval == 300
        assert rounds.due() == ["CAN"]
        assert rounds.send() == ["CAN"]
        assert rounds.due() == []  # one waits: no second while CAN does not take it
        now[0] += dt.timedelta(seconds=301)
        assert rounds.due() == []
        with jpn.engine.connect() as connection:
            (row,) = connection.execute(select(outbox)).all()
        assert (row.kind, row.peer, row.state) == ("head", "CAN", "pending")
        head = jpn.audit.head()
        assert head is not None
        raw = make_package_bytes(
            jpn.keys.signing, Kind.HEAD, "JPN", "CAN", {}, now[0], row.package_id, head.to_dict()
        )
        assert can.exchange.receive(raw) == {"package": row.package_id, "head": "witnessed"}
        assert can.exchange.witnesses.held("JPN") == head
        with jpn.engine.begin() as connection:
            connection.execute(update(outbox).values(state="delivered"))
        assert rounds.due() == ["CAN"]  # delivered, and nothing sent since: due again
    finally:
        jpn.close()
        can.close()


def test_witnessing_off_keeps_no_anchor_sends_and_checks_no_head(
    tmp_path: Path, database: Database
) -> None:
    """The ``witnessing`` setting, there to measure what witnessing costs, turns off all of
    it: heads shown are not checked (two histories pass), packages carry no head, and the
    anchor is not written."""
    data = tmp_path / "can"
    Node.init(data, "CAN", database=database.url).close()
    config = json.loads((data / "node.json").read_text())
    (data / "node.json").write_text(json.dumps(config | {"witnessing": False}))
    node = Node.open(data)
    try:
        forker = Forker(node)
        node.exchange.add_peer(Peer("JPN", "http://jpn.invalid", forker.simulator.public))
        node.exchange.witnesses.fetch = forker.fetch
        assert receive(node, forker.package(forker.head(12, A))) is None
        assert receive(node, forker.package(forker.head(12, B))) is None
        assert node.exchange.witnesses.held("JPN") is None
        assert node.exchange.witnesses.open_alarms() == []
        assert forker.asked == []
        courier = node.exchange.courier
        row = type("Row", (), {"kind": "head", "peer": "JPN", "payload": "{}", "package_id": "p"})
        package = json.loads(courier._wire(node.keys.signing, row()))
        assert package.get("head") is None
        assert node.exchange.head_rounds.interval == 0
    finally:
        node.close()
    assert not (data / "audit-head.json").exists()


def test_a_head_shown_again_in_a_batch_is_known_by_its_fields_and_their_types() -> None:
    """The heads found consistent in a batch are known again by their fields: the same
    head again is, a head that differs in a value or only in its type (``1``, ``True``)
    is not, and one with a value that cannot be hashed is known by its JSON."""
    head = {"size": 1, "root": "ab", "signature": "cd", "at": "2026-12-07T10:00:00Z"}
    witnessed = {shown_as("JPN", head)}

    assert shown_as("JPN", dict(head)) in witnessed
    assert shown_as("CAN", head) not in witnessed
    assert shown_as("JPN", head | {"size": True}) not in witnessed
    assert shown_as("JPN", head | {"root": "ac"}) not in witnessed
    odd = head | {"root": ["ab"]}
    assert shown_as("JPN", odd) == ("JPN", json.dumps(odd, sort_keys=True))
    assert shown_as("JPN", None) == ("JPN", "null")
