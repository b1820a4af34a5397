"""Real nodes for tests on free loopback ports, on SQLite and on PostgreSQL (127.0.0.1:5432,
database ``test``, a fresh schema per node so runs cannot collide).

A node is served by a ``gsoia serve`` process, or (``RunningNode.in_process``) by the same
application under uvicorn on a thread of the test's own process: the same HTTP on the same
loopback port, without a process to start (a second or more on two busy cores) — for the
tests where the logic, not the process boundary, is the point. Tests of the process
itself (signals, workers, its serve.log) keep the process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from gsoia.node.service import Node
from gsoia.node.users import Role
from tests import loopback

PG_SERVER = os.environ.get("GSOIA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GSOIA = str(Path(sys.executable).parent / "gsoia")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Database:
    """Where a node keeps its data: SQLite in its data directory, or a PostgreSQL schema."""

    backend: str
    url: str | None  # None: SQLite in the data directory
    schema: str | None = None


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    with fresh_database(request.param) as database:
        yield database


@contextlib.contextmanager
def fresh_database(backend: str) -> Iterator[Database]:
    """SQLite (in the data directory), or a fresh PostgreSQL schema dropped at the end."""
    if backend == "sqlite":
        yield Database("sqlite", None)
        return
    schema = f"gsoia_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database("postgresql", f"{PG_SERVER}?options=-csearch_path%3D{schema}", schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def template_database(backend: str) -> Iterator[Database]:
    """Where a template node keeps its data, for ``copied_database``: SQLite in its data
    directory, or a PostgreSQL database of its own (``CREATE DATABASE ... TEMPLATE``
    copies a whole database, not a schema), dropped at the end."""
    if backend == "sqlite":
        yield Database("sqlite", None)
        return
    with _made_database(f"gsoia_tpl_{uuid.uuid4().hex[:12]}") as url:
        yield Database("postgresql", url)


@contextlib.contextmanager
def copied_database(template: Database) -> Iterator[Database]:
    """A copy of ``template`` (from ``template_database``; no connection to it open), dropped
    at the end: on SQLite nothing (the copy is the data directory's), on PostgreSQL a new
    database made from it by the server."""
    if template.url is None:
        yield Database("sqlite", None)
        return
    name = template.url.rsplit("/", 1)[1]
    with _made_database(f"gsoia_t_{uuid.uuid4().hex[:12]}", template=name) as url:
        yield Database("postgresql", url)


@contextlib.contextmanager
def _made_database(name: str, template: str | None = None) -> Iterator[str]:
    server = PG_SERVER.rsplit("/", 1)[0]
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            made = f'CREATE DATABASE "{name}"'
            connection.execute(text(made + (f' TEMPLATE "{template}"' if template else "")))
        try:
            yield f"{server}/{name}"
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass
class RunningNode:
    """A node's data directory, its users' tokens, and its server process."""

    data: Path
    nation: str
    database: Database
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    in_process: bool = False
    """Serve on a thread of this process (``ThreadServer``) rather than by ``gsoia serve``
    (always a process with more than one worker)."""
    server: ThreadServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self, *, anchored: bool = True) -> Node:
        """The node in this process (for set-up and for inspecting the store);
        ``anchored=False``: even if its log no longer holds its anchor (to verify it)."""
        return Node.open(self.data, database=self.database.url, anchored=anchored)

    def add_user(
        self,
        user_id: str,
        nation: str,
        clearance: str | None = None,
        need_to_know: list[str] | None = None,
        role: Role = Role.ANALYST,
    ) -> str:
        node = self.open()
        try:
            _, token = node.add_user(
                user_id, nation, clearance=clearance, need_to_know=need_to_know, role=role
            )
        finally:
            node.close()
        self.tokens[user_id] = token
        return token

    def client(self, user_id: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user_id]}"} if user_id else {}
        return loopback.client(base_url=self.url, headers=headers, timeout=30)

    def start(self, patience: float = 90) -> None:
        """Serve the node; ``patience``: seconds to wait until it answers."""
        self.launch(patience)
        self.answering(patience)

    def launch(self, patience: float = 90) -> None:
        """Start serving the node, without waiting for its process to answer
        (``answering``): a test starts several processes at once this way. On a thread
        (``in_process``), it answers when this returns."""
        self.port = free_port()
        if self.in_process and self.workers == 1:
            self.server = ThreadServer(self.open(), self.port)
            self.server.start(patience)
            return
        args = [GSOIA, "serve", "--data", str(self.data), "--port", str(self.port)]
        if self.database.url:
            args += ["--database", self.database.url]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        with open(self.data / "serve.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def answering(self, patience: float = 90) -> None:
        """Wait until the launched node answers, at most ``patience`` seconds."""
        if self.process is None:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.data / "serve.log").read_text())
            try:
                if loopback.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"node did not start: {(self.data / 'serve.log').read_text()}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class ThreadServer:
    """What ``gsoia serve`` runs (the node's application under uvicorn, its courier), on a
    thread of this process."""

    def __init__(self, node: Node, port: int) -> None:
        from gsoia.api import create_app

        self.node = node
        config = uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, patience: float) -> None:
        self.node.exchange.courier.start()
        self.thread.start()
        deadline = time.monotonic() + patience
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("node did not start on its thread")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        self.node.exchange.courier.stop()
        self.node.close()


def make_node(
    tmp_path: Path, database: Database, nation: str = "JPN", catalogue: str | None = None
) -> RunningNode:
    data = tmp_path / nation.lower()
    node = Node.init(data, nation, database=database.url, catalogue=catalogue)
    node.close()
    return RunningNode(data, nation, database)


@pytest.fixture
def jpn(tmp_path: Path, database: Database) -> Iterator[RunningNode]:
    """A Japanese node (not yet started), on each database, served on a thread of this
    process (``in_process = False``: by ``gsoia serve``)."""
    node = make_node(tmp_path, database)
    node.in_process = True
    try:
        yield node
    finally:
        node.stop()
