"""Three real nodes in this process (JPN, CAN, USA), each pinned by the others; their
couriers post to each other's inbox through ``httpx.MockTransport``, which answers as the
served inbox does (``api.federation``). No server, no thread: a test sees each delivery
done when the call that sent it returns, and runs the courier loop's work itself
(``Mesh.settle``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gsoia.api.app import create_app
from gsoia.api.federation import batch_answer
from gsoia.federation.courier import enqueue
from gsoia.federation.packages import Kind, PackageRejected
from gsoia.federation.peers import INBOX_BATCH, Peer
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from tests import loopback
from tests.federation.test_exchange import LABEL

TOP = {"JPN": "KIMITSU", "CAN": "TS", "USA": "TS"}
ANALYST = {"JPN": "KIMITSU", "CAN": "S", "USA": "S"}


@dataclass
class Mesh:
    nodes: dict[str, Node]
    analysts: dict[str, User] = field(default_factory=dict)
    officers: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    """User id -> API token."""
    down: set[str] = field(default_factory=set)
    """Nations whose node does not answer."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        nation = request.url.host.split(".")[0].upper()
        if nation in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        node = self.nodes[nation]
        if request.url.path == INBOX_BATCH:
            results = [batch_answer(p, r) for p, r in node.exchange.receive_batch(request.content)]
            return httpx.Response(200, json={"results": results})
        try:
            return httpx.Response(200, json=node.exchange.receive(request.content))
        except PackageRejected as e:
            refused = {"reason": e.reason.value, "detail": e.detail, "package": e.package_id}
            return httpx.Response(409, json=refused)

    def item(self, title: str = "Patrol report", label: dict[str, Any] | None = None) -> str:
        jpn = self.nodes["JPN"]
        view = jpn.create_item(self.analysts["JPN"], label or LABEL, title, "東シナ海".encode())
        return str(view["id"])

    def send(self, sender: str, kind: Kind, to: str, body: dict[str, Any], item: str) -> str:
        """Put a package of ``kind`` in ``sender``'s outbox (as its node would) and deliver
        it now: its delivery's state (``failed``: refused by ``to``)."""
        node = self.nodes[sender]
        package_id = f"sent-{uuid.uuid4()}"
        with node.audit.transaction() as tx:
            enqueue(
                tx.connection,
                package_id=package_id,
                kind=kind,
                peer=to,
                body=body,
                item_id=item,
                now=node.audit.now(),
            )
        return node.exchange.courier.deliver(package_id).state

    def settle(self) -> None:
        """Every node's courier delivers what is due (as its loop would)."""
        for node in self.nodes.values():
            node.exchange.courier.run_due()

    def audited(self, nation: str, kind: str) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from gsoia.store.schema import audit_entries

        with self.nodes[nation].engine.connect() as connection:
            bodies = connection.execute(
                select(audit_entries.c.body).where(audit_entries.c.kind == kind)
            ).scalars()
            return [json.loads(b)["data"] for b in bodies]

    @contextmanager
    def client(self, nation: str, user_id: str) -> Iterator[httpx.Client]:
        """An HTTP client of ``nation``'s REST API (in process), as ``user_id``."""
        app = create_app(self.nodes[nation])
        with httpx.Client(
            transport=loopback.InProcess(app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {self.tokens[user_id]}"},
        ) as client:
            yield client


@contextmanager
def mesh_of(
    tmp_path: Path, database_url: str | None, catalogue: str | None = None
) -> Iterator[Mesh]:
    """JPN (on ``database_url``), CAN and USA (SQLite), each with an analyst (``xxx-analyst``)
    and an officer (``xxx-officer``) cleared for maritime; ``catalogue``: the three nodes'
    catalogue file (the bundled one if None)."""
    nodes = {
        "JPN": Node.init(tmp_path / "jpn", "JPN", database=database_url, catalogue=catalogue),
        "CAN": Node.init(tmp_path / "can", "CAN", catalogue=catalogue),
        "USA": Node.init(tmp_path / "usa", "USA", catalogue=catalogue),
    }
    mesh = Mesh(nodes)
    try:
        for nation, node in nodes.items():
            for other, peer in nodes.items():
                if other != nation:
                    url = f"http://{other.lower()}.invalid"
                    node.exchange.add_peer(Peer(other, url, peer.public))
            node.exchange.courier.http = httpx.Client(transport=httpx.MockTransport(mesh))
            name = nation.lower()
            analyst, token = node.add_user(
                f"{name}-analyst", nation, clearance=ANALYST[nation], need_to_know=["maritime"]
            )
            mesh.analysts[nation], mesh.tokens[analyst.id] = analyst, token
            officer, token = node.add_user(
                f"{name}-officer",
                nation,
                clearance=TOP[nation],
                need_to_know=["maritime"],
                role=Role.OFFICER,
            )
            mesh.officers[nation], mesh.tokens[officer.id] = officer, token
        yield mesh
    finally:
        for node in nodes.values():
            node.close()
