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
        args = [sys.executable, "-m", "gsoia", "serve", "--data", str(self.data)]
        args += ["--port", str(self.port)]
        if today is not None:
            args += ["--today", today.isoformat()]
        with open(self.data / "serve.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
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

    def pin(self, peer: DemoNode) -> str:
        args = [sys.executable, "-m", "gsoia", "peer", "add", "--data", str(self.data)]
        args += ["--nation", peer.nation, "--url", peer.url]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout.strip().splitlines()[-1]

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
        args = [sys.executable, "-m", "gsoia", "audit", "verify", "--data", str(self.data)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout.strip()
