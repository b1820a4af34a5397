"""Two real nodes, JPN (the host) and CAN (the visiting party), each served on a thread of
the test's process (``RunningNode.in_process``), peered, on SQLite or on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gsoia.federation.peers import Peer
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries
from tests.node.conftest import RunningNode, fresh_database, make_node

TODAY = dt.datetime.now(dt.UTC).date()


@dataclass
class Pair:
    jpn: RunningNode
    can: RunningNode

    def store(self, node: RunningNode) -> Node:
        """The node as it is served (its own process's store)."""
        assert node.server is not None
        return node.server.node

    def audit_size(self, node: RunningNode) -> int:
        with self.store(node).engine.connect() as connection:
            size = connection.execute(select(func.count()).select_from(audit_entries)).scalar()
        return int(size or 0)

    def audit_since(self, node: RunningNode, size: int) -> list[dict[str, Any]]:
        with self.store(node).engine.connect() as connection:
            bodies = connection.execute(
                select(audit_entries.c.body)
                .where(audit_entries.c.seq >= size)
                .order_by(audit_entries.c.seq)
            ).scalars()
            return [json.loads(b) for b in bodies]

    def assure(self, person_id: str, clearance: str = "S", **extra: Any) -> str:
        body = {
            "to": "JPN",
            "person": {"id": person_id, "name": f"Analyst {person_id}"},
            "clearance": clearance,
            "expires": (TODAY + dt.timedelta(days=365)).isoformat(),
            "need_to_know": ["maritime"],
        } | extra
        with self.can.client("can-officer") as client:
            response = client.post("/api/v1/assurances", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def visit(self, assured: list[str], **extra: Any) -> httpx.Response:
        body = {
            "to": "JPN",
            "visitors": assured,
            "purpose": "maritime liaison",
            "place": "Ichigaya",
            "first_day": TODAY.isoformat(),
            "last_day": (TODAY + dt.timedelta(days=2)).isoformat(),
            "areas": ["maritime"],
            "kind": "emergency",
            "reason": "a ship in distress",
        } | extra
        with self.can.client("can-officer") as client:
            return client.post("/api/v1/visits", json=body)


def _serve(
    stack: ExitStack, tmp: Any, backend: str, nation: str, catalogue: str | None
) -> RunningNode:
    database = stack.enter_context(fresh_database(backend))
    node = make_node(tmp, database, nation, catalogue)
    node.in_process = True
    top = {"JPN": "KIMITSU", "CAN": "TS"}[nation]
    node.add_user(f"{nation.lower()}-officer", nation, top, ["maritime"], role=Role.OFFICER)
    node.add_user(f"{nation.lower()}-analyst", nation, top, ["maritime"])
    node.start()
    stack.callback(node.stop)
    return node


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """JPN and CAN, peered; shared by a module's tests (each makes its own assurances)."""
    with ExitStack() as stack:
        yield served_pair(stack, tmp_path_factory.mktemp("visits"), request.param)


def served_pair(stack: ExitStack, tmp: Any, backend: str, catalogue: str | None = None) -> Pair:
    """JPN and CAN served on ``backend`` with ``catalogue`` (default: the bundled one),
    peered; stopped as ``stack`` closes."""
    jpn = _serve(stack, tmp, backend, "JPN", catalogue)
    can = _serve(stack, tmp, backend, "CAN", catalogue)
    found = Pair(jpn, can)
    for node, peer in ((jpn, can), (can, jpn)):
        keys = found.store(peer).public
        found.store(node).exchange.add_peer(Peer(peer.nation, peer.url, keys))
    return found


def signed(
    sender: Node, to: str, kind: Any, body: dict[str, Any], key: Any = None, package_id: Any = None
) -> bytes:
    """A package as ``sender``'s courier posts it (with its head, for the receiver to
    witness), signed by ``key`` (default: the sender's)."""
    from gsoia.federation.packages import make_package_bytes

    head = sender.audit.head()
    assert head is not None
    return make_package_bytes(
        key or sender.keys.signing,
        kind,
        sender.nation,
        to,
        body,
        sender.clock(),
        package_id,
        head.to_dict(),
    )


def refused_at(pair: Pair, runner: RunningNode, raw: bytes, status: int, reason: str) -> None:
    """Post ``raw`` to ``runner``'s inbox: refused with ``reason``, only that audited."""
    from tests import loopback

    size = pair.audit_size(runner)
    with loopback.client_from(loopback.fresh_source(), base_url=runner.url) as client:
        response = client.post(
            "/federation/v1/inbox", content=raw, headers={"content-type": "application/json"}
        )
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason
    entries = pair.audit_since(runner, size)
    assert [(e["kind"], e["data"]["reason"]) for e in entries] == [("package.refused", reason)]


@contextmanager
def unreachable(pair: Pair, sender: RunningNode, absent: RunningNode) -> Iterator[None]:
    """While it lasts, ``sender`` finds nobody at ``absent``'s address (its pin kept, its
    keys too)."""
    store = pair.store(sender)
    keys = pair.store(absent).public
    store.exchange.add_peer(Peer(absent.nation, "http://127.0.0.1:9", keys))  # nobody there
    try:
        yield
    finally:
        store.exchange.add_peer(Peer(absent.nation, absent.url, keys))


def can_down(pair: Pair) -> AbstractContextManager[None]:
    """While it lasts, JPN finds nobody at CAN's address."""
    return unreachable(pair, pair.jpn, pair.can)


def delivered_late(pair: Pair, kind: Any, visit: str) -> None:
    """JPN's package of ``kind`` about ``visit``, left waiting while CAN was down, is
    delivered now."""
    from gsoia.store.schema import outbox

    jpn = pair.store(pair.jpn)
    with jpn.engine.connect() as connection:
        waiting = connection.execute(
            select(outbox.c.package_id, outbox.c.state)
            .where(outbox.c.kind == kind.value)
            .where(outbox.c.payload.contains(visit))
        ).one()
    assert waiting.state != "delivered"
    assert jpn.exchange.courier.deliver(waiting.package_id).state == "delivered"


def assurance_body(
    receiver: Node, package_id: str, person: bytes = b'{"name": "Nobody"}', **change: Any
) -> dict[str, Any]:
    """The body of an ``assurance`` package from CAN to ``receiver``, its ``person``
    sealed to it."""
    from gsoia.crypto.seal import seal
    from gsoia.federation.packages import b64

    sealed = seal(receiver.public.sealing, person, package_id.encode())
    return {
        "assurance": str(uuid.uuid4()),
        "person_id": "p-1",
        "sealed_person": b64(sealed),
        "clearance": "S",
        "expires": (TODAY + dt.timedelta(days=90)).isoformat(),
        "need_to_know": [],
        "issued_by": "can-officer",
        "issued_at": TODAY.isoformat(),
    } | change
