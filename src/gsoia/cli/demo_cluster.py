"""Nodes for the demo: ``gsoia serve`` processes on loopback, each with its data directory."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gsoia.cli.audit_cmd import verified
from gsoia.federation.peers import fetch_identity
from gsoia.node.authority import OPERATOR, Action
from gsoia.node.service import Node
from gsoia.node.users import Role


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DemoNode:
    nation: str
    data: Path
    port: int = field(default_factory=free_port)
    tokens: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> None:
        Node.init(self.data, self.nation).close()

    def user(
        self,
        user_id: str,
        nation: str,
        clearance: str | None,
        topics: list[str],
        role: Role = Role.ANALYST,
    ) -> None:
        node = Node.open(self.data)
        try:
            _, self.tokens[user_id] = node.add_user(
                user_id, nation, clearance=clearance, need_to_know=topics, role=role
            )
        finally:
            node.close()

    def start(self, today: dt.date | None = None) -> None:
        self.launch(today)
        self.wait_ready()

    def launch(self, today: dt.date | None = None) -> None:
        """Start ``gsoia serve`` (``--today`` fixes the node's day) without waiting for it."""
        args = [sys.executable, "-m", "gsoia", "serve", "--data", str(self.data)]
        args += ["--port", str(self.port)]
        if today is not None:
            args += ["--today", today.isoformat()]
        with open(self.data / "serve.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603

    def wait_ready(self) -> None:
        """Wait until the launched node answers ``/healthz`` (30 s at most)."""
        assert self.process is not None  # INVARIANT: launched first
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=1) as http:  # one SSL context for every poll
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the {self.nation} node stopped: see {self.data}/serve.log")
                try:
                    if http.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    time.sleep(0.1)
        raise RuntimeError(f"the {self.nation} node did not start: see {self.data}/serve.log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, today: dt.date | None = None) -> None:
        self.stop()
        self.start(today)

    def pin(self, peer: DemoNode) -> None:
        """Pin ``peer``'s keys as ``gsoia peer add`` does: fetched from its
        ``/.well-known/gsoia``, refused unless it is a node of the peer's nation."""
        identity = fetch_identity(peer.url)
        if identity.nation != peer.nation:
            raise RuntimeError(f"{peer.url} is a node of {identity.nation}, not {peer.nation}")
        node = Node.open(self.data)
        try:
            node.require(OPERATOR, Action.PEERS_MANAGE)
            node.exchange.add_peer(identity)
        finally:
            node.close()

    def as_user(self, user_id: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.tokens[user_id]}"},
            timeout=30,
        )

    def call(self, user_id: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.as_user(user_id) as client:
            return client.request(method, path, **kwargs)

    def verify_audit(self) -> str:
        """What ``gsoia audit verify`` prints for this node (a failure raises)."""
        node = Node.open(self.data, anchored=False)
        try:
            node.require(OPERATOR, Action.AUDIT)
            head = node.verify_audit()
            anchor = node.audit.anchor.read() if node.audit.anchor is not None else None
        finally:
            node.close()
        return "\n".join(verified(head, anchor))
