"""``gsoia serve --workers N`` spreads clients' connections evenly over its workers.

The workers take turns accepting by their counts of connections held (``gsoia.api.spread``):
a burst of connections falls evenly, a worker that is stopped does not stop the node
accepting, and a dead worker's count is not waited for.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gsoia.api.spread import SLOTS, Tally
from tests.node.conftest import RunningNode, fresh_database, make_node
from tests.node.test_workers import _children, _serving

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: gsoia\r\n\r\n"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningNode]:
    """A node on SQLite served by ``gsoia serve --workers 2``, both workers accepting
    (each has taken its slot in the file of counts)."""
    with fresh_database("sqlite") as database:
        node = make_node(tmp_path, database)
        node.workers = 2
        try:
            node.start()
            deadline = time.monotonic() + 60
            while len(_counted(node)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(_counted(node)) == 2, "a worker never started accepting"
            yield node
        finally:
            node.stop()


def _workers(node: RunningNode) -> list[int]:
    assert node.process is not None
    workers = [p for p in _children(node.process.pid) if _serving(p)]
    assert len(workers) == 2, workers
    return workers


def _held(pids: list[int], port: int) -> list[int]:
    """The established connections to ``port`` each of ``pids`` holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(f"socket:[{fields[9]}]")
    held = []
    for pid in pids:
        count = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                count += os.readlink(fd) in inodes
            except OSError:
                continue
        held.append(count)
    return held


def _counted(node: RunningNode) -> list[int]:
    """The connections each worker holds by the node's file of counts (a slot holds its
    worker's count plus one, 0 if never held)."""
    slots = struct.unpack(f"={SLOTS}q", (node.data / "connections").read_bytes())
    return [value - 1 for value in slots if value]


def _answered(connection: socket.socket) -> bytes:
    connection.sendall(HEALTH)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(4096)
        assert chunk, "the connection closed unanswered"
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def _connect(port: int, n: int) -> list[socket.socket]:
    """``n`` connections opened at once, each then answered once (kept open)."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(n)]
    for connection in connections:
        assert _answered(connection) == b"HTTP/1.1 200 OK"
    return connections


def test_a_burst_of_connections_falls_evenly_on_the_workers(served: RunningNode) -> None:
    workers = _workers(served)
    for round_ in range(3):
        connections = _connect(served.port, 16)
        try:
            held = _held(workers, served.port)
            assert sorted(held) == [8, 8], f"round {round_}: {held}"
            assert _counted(served) == [8, 8]  # as the workers count them
        finally:
            for connection in connections:
                connection.close()
        deadline = time.monotonic() + 10  # the workers have seen the clients go
        while sum(_counted(served)) and time.monotonic() < deadline:
            time.sleep(0.05)


def test_a_stopped_worker_does_not_stop_the_node_accepting(served: RunningNode) -> None:
    first, second = _workers(served)
    os.kill(first, signal.SIGSTOP)  # holding fewest (none): the other must not wait on it
    try:
        connections = _connect(served.port, 6)
        assert _held([first, second], served.port) == [0, 6]
        for connection in connections:
            connection.close()
    finally:
        os.kill(first, signal.SIGCONT)


_HOLDER = """
import sys
from pathlib import Path
from gsoia.api.spread import Tally
tally = Tally(Path(sys.argv[1]))
tally.add(int(sys.argv[2]))
print(tally.slot, flush=True)
sys.stdin.read()
"""


def _holder(path: Path, held: int) -> tuple[subprocess.Popen[str], int]:
    """Another process holding a slot of ``path`` with ``held`` connections."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(held)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _end(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.communicate()


def test_the_counts_of_live_workers_only(tmp_path: Path) -> None:
    path = tmp_path / "connections"
    Tally.create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    mine = Tally(path)
    mine.add(5)
    fewer, fewer_slot = _holder(path, 2)
    more, more_slot = _holder(path, 9)
    try:
        assert len({mine.slot, fewer_slot, more_slot}) == 3
        assert mine.over()  # the live worker holding 2
        _end(fewer)
        assert not mine.over()  # the dead worker's 2 stay in the file, not counted
        again, again_slot = _holder(path, 0)  # a worker started anew takes a free slot
        try:
            assert again_slot == fewer_slot
            assert mine.over()
        finally:
            _end(again)
        mine.add(-5)
        assert not mine.over()
        mine.release()  # as a worker that stops accepting does
        taken, taken_slot = _holder(path, 7)
        try:
            assert taken_slot == mine.slot  # free again
            mine.add(-1)  # a connection of the released worker closing writes nothing
            value = struct.unpack_from("=q", path.read_bytes(), taken_slot * 8)[0]
            assert value == 7 + 1
        finally:
            _end(taken)
    finally:
        _end(more)
        mine.close()


_ALL_HELD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, int(sys.argv[2]), 0)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_worker_finding_every_slot_held_does_not_start(tmp_path: Path) -> None:
    path = tmp_path / "connections"
    Tally.create(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", _ALL_HELD, str(path), str(SLOTS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(OSError, match=f"every one of its {SLOTS} workers' slots is held"):
            Tally(path)
    finally:
        _end(holder)
