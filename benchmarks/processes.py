"""A served node's processes: ``gsoia serve`` and, with ``--workers``, its workers (Linux);
a free port to serve it on."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import httpx


def free_port() -> int:
    """A port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], patience: float) -> str | None:
    """Poll ``base``/healthz until it answers 200 (None), ``process`` exits or ``patience``
    seconds pass (what happened, for a message). One client for every poll: httpx builds
    an SSL context, loading every CA certificate, for each client."""
    deadline = time.monotonic() + patience
    with httpx.Client(timeout=1) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return "exited"
            try:
                if http.get(f"{base}/healthz").status_code == 200:
                    return None
            except httpx.TransportError:
                time.sleep(0.1)
    return f"did not answer in {patience:.0f} s"


def connections(pid: int, port: int) -> list[int]:
    """The established TCP connections to local ``port`` held by each process of ``pid``'s
    tree that holds any, most first (Linux; empty elsewhere): how the clients fell on the
    workers of ``gsoia serve``."""
    sockets: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                    sockets.add(f"socket:[{inode}]")
    counts = []
    for each in process_tree(pid):
        held = 0
        with suppress(OSError):
            for fd in Path(f"/proc/{each}/fd").iterdir():
                with suppress(OSError):
                    held += os.readlink(fd) in sockets
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(OSError):
            for child in (task / "children").read_text().split():
                found.extend(process_tree(int(child)))
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` and its descendants so far, or None."""
    try:
        total = 0
        for each in process_tree(pid):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, patience: float, busy: float = 0.1) -> float | None:
    """Wait until ``pid`` and its descendants spend less than ``busy`` of a core over a
    second (a served node's workers have all started: each loads the label columns, the
    log and its caches before it accepts a connection, the first of them answering
    ``/healthz`` while the others still load); the seconds waited, or None if ``patience``
    passed first or the CPU time cannot be read."""
    started = time.monotonic()
    before = cpu_seconds(pid)
    while before is not None and time.monotonic() - started < patience:
        time.sleep(1.0)
        after = cpu_seconds(pid)
        if after is None:
            return None
        if after - before < busy:
            return time.monotonic() - started
        before = after
    return None


def memory_mib(pid: int) -> tuple[float, float] | None:
    """The resident sets of ``pid`` and its descendants now and at their peaks (VmRSS and
    VmHWM, each summed), MiB; or None."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        for each in process_tree(pid):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                name, _, rest = line.partition(":")
                if name in values:
                    values[name] += int(rest.split()[0]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return values["VmRSS"], values["VmHWM"]
