"""The federation benchmark's load: JPN's items released to CAN by concurrent clients
(``release_all``), CAN's database watched until it holds them (``Watcher``), and what the
run's figures are read against (the rate per tenth of the run, the HTTP floor)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from argparse import Namespace
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from federation_nodes import Served

TO_CAN = {"to": "CAN"}


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    released: set[str] = field(default_factory=set)
    last_answer: float = 0.0


def release_all(
    url: str, token: str, ids: Sequence[str], clients: int, batch: int, started: list[float]
) -> Outcome:
    """Release every id to CAN from ``clients`` threads, ``batch`` per request (1: one
    ``POST /api/v1/items/{id}/releases`` each); ``started[0]`` = first send."""
    outcome = Outcome()
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def answered(item: str, status: int, answer: dict[str, Any], text: str) -> None:
        """One item's answer (the caller holds ``lock``)."""
        if status != 201 and not answer.get("released"):
            outcome.errors.append(f"{item}: HTTP {status} {text[:300]}")
            return
        state = str(answer.get("state"))
        outcome.states[state] += 1
        if state in ("delivered", "pending"):
            outcome.released.add(item)
        else:
            outcome.errors.append(f"{item}: state {state}: {text[:300]}")

    def client(share: Sequence[str]) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
            http.get("/healthz")  # open the connection before the clock starts
            barrier.wait()
            for start in range(0, len(share), batch):
                chunk = share[start : start + batch]
                sent = time.perf_counter()
                try:
                    if batch == 1:
                        response = http.post(f"/api/v1/items/{chunk[0]}/releases", json=TO_CAN)
                    else:
                        response = http.post("/api/v1/releases", json=TO_CAN | {"items": chunk})
                except httpx.HTTPError as e:
                    with lock:
                        outcome.errors += [f"{i}: {type(e).__name__}: {e}" for i in chunk]
                    continue
                took = time.perf_counter() - sent
                with lock:
                    outcome.latencies.append(took)
                    outcome.last_answer = max(outcome.last_answer, time.perf_counter())
                    if batch == 1:
                        body = response.json() if response.status_code == 201 else {}
                        answered(chunk[0], response.status_code, body, response.text)
                    elif response.status_code != 200:
                        outcome.errors += [
                            f"{i}: HTTP {response.status_code} {response.text[:300]}" for i in chunk
                        ]
                    else:
                        results = response.json()["results"]
                        for item, result in zip(chunk, results, strict=True):
                            answered(item, response.status_code, result, json.dumps(result))

    threads = [
        threading.Thread(target=client, args=(ids[k::clients],), daemon=True)
        for k in range(clients)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started.append(time.perf_counter())
    for thread in threads:
        thread.join()
    return outcome


class Watcher:
    """Polls CAN's database (read-only) for the count of items received from JPN.

    Each poll counts only the rows added since the last (by ``seq``, which SQLite hands
    out in commit order: its writers take turns), so that polling costs the servers
    next to nothing however many items CAN holds.
    """

    def __init__(self, path: Path, interval: float = 0.05) -> None:
        self.path = path
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return int(db.execute("SELECT count(*) FROM items WHERE sender = 'JPN'").fetchone()[0])
        finally:
            db.close()

    def _run(self) -> None:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        count, last = 0, 0
        try:
            while not self._stop.is_set():
                added, highest = db.execute(
                    "SELECT count(CASE WHEN sender = 'JPN' THEN 1 END), max(seq)"
                    " FROM items WHERE seq > ?",
                    (last,),
                ).fetchone()
                count += int(added or 0)
                last = max(last, int(highest or 0))
                self.samples.append((time.perf_counter(), count))
                self._stop.wait(self.interval)
        finally:
            db.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def reached(self, target: int) -> float | None:
        """When the count first reached ``target`` (perf_counter), if it did."""
        return next((t for t, n in self.samples if n >= target), None)

    def wait(self, target: int, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.reached(target)
            if at is not None:
                return at
            time.sleep(self.interval)
        return self.reached(target)


def http_floor(jpn: Served, can: Served, token: str, n: int) -> None:
    """Server CPU for requests that do next to nothing: what HTTP costs a release."""
    print(f"[http floor] {n:,} requests each, one keep-alive client, server CPU per request")
    for served, path, headers in (
        (jpn, "/api/v1/me", {"Authorization": f"Bearer {token}"}),
        (can, "/healthz", {}),
    ):
        with httpx.Client(base_url=served.url, headers=headers, timeout=60) as http:
            http.get(path)
            before, t = served.cpu_seconds(), time.perf_counter()
            for _ in range(n):
                http.get(path)
            after, wall = served.cpu_seconds(), time.perf_counter() - t
        cpu = f"{(after - before) / n * 1e3:.2f} ms" if before is not None and after else "n/a"
        print(f"    {served.nation} GET {path}: {cpu} CPU, {wall / n * 1e3:.2f} ms wall")


@dataclass
class TimedRelease:
    """The timed release: the clients' outcome, when the first release was sent and when
    CAN held every item (perf_counter), CAN's count over time, each server's CPU seconds."""

    outcome: Outcome
    started: float
    done_at: float | None
    samples: list[tuple[float, int]]
    cpu: dict[str, float | None]
    held: int


def timed_release(
    jpn: Served, can: Served, token: str, ids: Sequence[str], total: int, args: Namespace
) -> TimedRelease:
    """Release ``ids`` with ``args.clients`` clients, ``args.batch`` per request, and wait
    (``args.timeout``) until CAN holds ``total`` items from JPN."""
    watcher = Watcher(can.sqlite_path)
    watcher.start()
    cpu_before = {n.nation: n.cpu_seconds() for n in (jpn, can)}
    started: list[float] = []
    outcome = release_all(jpn.url, token, ids, args.clients, args.batch, started)
    done_at = watcher.wait(total, args.timeout)
    cpu_after = {n.nation: n.cpu_seconds() for n in (jpn, can)}
    watcher.stop()
    cpu = {
        nation: None if before is None or after is None else after - before
        for (nation, before), after in zip(cpu_before.items(), cpu_after.values(), strict=True)
    }
    held = total if done_at is not None else watcher.count()
    return TimedRelease(outcome, started[0], done_at, watcher.samples, cpu, held)
