"""The flood benchmark: genuine releases CAN -> JPN, quiet and while JPN's inbox is flooded.

Run ``python benchmarks/bench_flood.py``; ``--quick`` for a smaller run, ``--help`` for the
options. See ``benchmarks/README.md`` ("The flood benchmark").

Two fresh nodes (CAN and JPN, SQLite) are served by real ``gsoia serve`` processes on
loopback and pinned to each other. CAN releases ``--items`` items to JPN through the bulk
release (``POST /api/v1/releases``, 100 items a request, 4 clients; CAN's courier posts
them to JPN's batch inbox from 127.0.0.1) twice: once quietly, once while a flooder sends
JPN ``--rate`` packages a second that no pinned peer signed (forged CAN packages, as
1,000-line batches to ``/federation/v1/inbox/batch``) from another loopback address
(``--flood-from``, 127.0.0.2), for at least ``--flood-seconds``. It prints the genuine
release rate of each phase and their ratio, the audit entries JPN wrote for the flood
(per minute), what the flooder's requests were answered, and the load average.

Exit status: 0 whatever the figures (a benchmark); 1 if a release failed, JPN does not end
up holding every item released, its audit log does not verify, or the entries written for
the flood do not count every refusal the flooder was answered (a correctness failure).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from federation_nodes import Served, pin, users
from gsoia.federation.packages import MAX_BATCH
from gsoia.federation.peers import INBOX_BATCH
from gsoia.node.service import Node
from gsoia.node.users import Role

CLIENTS = 4
PER_REQUEST = 100
TO_JPN = {"to": "JPN"}


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 items, a 10 s flood")
    parser.add_argument("--items", type=int, help="items released in each phase (default 5,000)")
    parser.add_argument(
        "--rate", type=int, default=10_000, help="bad packages a second the flooder sends"
    )
    parser.add_argument(
        "--flood-seconds",
        type=float,
        help="the flood lasts at least this long (default 130: two windows of the counts)",
    )
    parser.add_argument("--flood-from", default="127.0.0.2", help="the flooder's address")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    if args.items is None:
        args.items = 1_000 if args.quick else 5_000
    if args.flood_seconds is None:
        args.flood_seconds = 10.0 if args.quick else 130.0
    return args


# -- the genuine traffic -----------------------------------------------------------------------


def can_labels(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Labels of CAN items JPN may hold under JPN-CAN."""
    return [
        {
            "originator": "CAN",
            "classification": rng.choice(("C", "S", "TS")),
            "releasable_to": ["JPN"],
            "need_to_know": [],
        }
        for _ in range(n)
    ]


def release(url: str, token: str, ids: Sequence[str]) -> list[str]:
    """Release ``ids`` to JPN from ``CLIENTS`` threads; the errors."""
    errors: list[str] = []
    lock = threading.Lock()

    def client(share: Sequence[str]) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            for start in range(0, len(share), PER_REQUEST):
                chunk = list(share[start : start + PER_REQUEST])
                answer = http.post("/api/v1/releases", json=TO_JPN | {"items": chunk}, timeout=300)
                found = [] if answer.status_code == 200 else [answer.text[:200]]
                if not found:
                    found = [
                        json.dumps(r)[:200]
                        for r in answer.json()["results"]
                        if r.get("state") not in ("delivered", "pending")
                    ]
                with lock:
                    errors.extend(found)

    threads = [threading.Thread(target=client, args=(ids[k::CLIENTS],)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def held(path: Path) -> int:
    """Items JPN holds from CAN (its database, read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(db.execute("SELECT count(*) FROM items WHERE sender = 'CAN'").fetchone()[0])
    finally:
        db.close()


def timed_release(
    can: Served, jpn: Served, token: str, ids: Sequence[str], before: int
) -> tuple[float, list[str]]:
    """Release ``ids``; seconds until JPN holds them all (it held ``before``), and errors."""
    started = time.perf_counter()
    errors = release(can.url, token, ids)
    deadline = time.monotonic() + 600
    while held(jpn.sqlite_path) < before + len(ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    if held(jpn.sqlite_path) < before + len(ids):
        errors.append(f"JPN holds {held(jpn.sqlite_path) - before} of {len(ids)} after 600 s")
    return time.perf_counter() - started, errors


# -- the flood ----------------------------------------------------------------------------------


@dataclass
class Flood:
    """What the flooder sent and was answered."""

    sent: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    refused: int = 0
    """Refusals it was answered: each package of a batch answered, and each 429."""
    errors: list[str] = field(default_factory=list)


def forged_batch(n: int) -> bytes:
    """``n`` packages claiming to come from CAN, signed by nobody's key."""
    lines = []
    for _ in range(n):
        package = {
            "gsoia": 1,
            "id": str(uuid.uuid4()),
            "kind": "release",
            "from": "CAN",
            "to": "JPN",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "body": {"item": {"id": str(uuid.uuid4())}},
            "signature": base64.b64encode(os.urandom(64)).decode(),
        }
        lines.append(json.dumps(package).encode())
    return b"\n".join(lines) + b"\n"


def flood(url: str, address: str, rate: int, stop: threading.Event, out: Flood) -> None:
    """Send ``rate`` forged packages a second, ``MAX_BATCH`` a request, until ``stop``."""
    body = forged_batch(MAX_BATCH)
    transport = httpx.HTTPTransport(local_address=address)
    every = MAX_BATCH / rate
    with httpx.Client(base_url=url, transport=transport, timeout=120) as http:
        due = time.perf_counter()
        while not stop.is_set():
            try:
                answer = http.post(
                    INBOX_BATCH, content=body, headers={"content-type": "application/x-ndjson"}
                )
            except httpx.HTTPError as e:
                out.errors.append(f"{type(e).__name__}: {e}")
                continue
            out.sent += MAX_BATCH
            out.answers[answer.status_code] += 1
            if answer.status_code == 200:
                out.refused += sum(r["status"] != 200 for r in answer.json()["results"])
            elif answer.status_code == 429:
                out.refused += 1
            due += every
            stop.wait(max(0.0, due - time.perf_counter()))


def flood_entries(path: Path, source: str) -> list[dict[str, Any]]:
    """JPN's audit entries about ``source``'s refusals."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM audit_entries")]
    finally:
        db.close()
    return [b for b in bodies if b.get("data", {}).get("source") == source]


# -- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> int:
    rng = random.Random(args.seed)
    failures: list[str] = []
    can_node = Node.init(work / "can", "CAN")
    Node.init(work / "jpn", "JPN").close()
    releaser = users(can_node, [("ca-releaser", "TS", Role.ANALYST)])["ca-releaser"]
    labels = can_labels(2 * args.items, rng)
    ids: list[str] = []
    drafts = [
        can_node.prepare_item(releaser[0], label, f"Arctic patrol {n}", b"ice" * 100)
        for n, label in enumerate(labels)
    ]
    for start in range(0, len(drafts), 500):
        ids += [v["id"] for v in can_node.store_items(releaser[0], drafts[start : start + 500])]
    can_node.close()
    quiet_ids, flooded_ids = ids[: args.items], ids[args.items :]

    can, jpn = Served("CAN", work / "can"), Served("JPN", work / "jpn")
    stop = threading.Event()
    flooded = Flood()
    try:
        can.start()
        jpn.start()
        pin(can, jpn)
        pin(jpn, can)
        print(f"[serve] CAN {can.url}, JPN {jpn.url}, pinned to each other")

        print(
            f"[quiet] {args.items:,} items CAN -> JPN ({CLIENTS} clients, {PER_REQUEST} a request)"
        )
        quiet_s, errors = timed_release(can, jpn, releaser[1], quiet_ids, 0)
        failures += errors[:5]
        quiet_rate = args.items / quiet_s
        print(f"    {quiet_rate:,.0f} items/s ({quiet_s:.2f} s)")

        print(
            f"[flood] {args.rate:,} forged packages/s to JPN's batch inbox from"
            f" {args.flood_from}, at least {args.flood_seconds:.0f} s"
        )
        flooder = threading.Thread(
            target=flood, args=(jpn.url, args.flood_from, args.rate, stop, flooded), daemon=True
        )
        flood_started = time.perf_counter()
        flooder.start()
        time.sleep(1.0)  # the flood under way first
        flooded_s, errors = timed_release(can, jpn, releaser[1], flooded_ids, args.items)
        failures += errors[:5]
        load = os.getloadavg()[0]
        rest = args.flood_seconds - (time.perf_counter() - flood_started)
        if rest > 0:
            time.sleep(rest)
        stop.set()
        flooder.join()
        flood_s = time.perf_counter() - flood_started
        flooded_rate = args.items / flooded_s
        print(
            f"    genuine releases while flooded: {flooded_rate:,.0f} items/s ({flooded_s:.2f} s)"
        )
        print(
            f"    the flooder sent {flooded.sent:,} packages in {flood_s:.0f} s"
            f" ({flooded.sent / flood_s:,.0f}/s); answers: {dict(sorted(flooded.answers.items()))}"
        )
        failures += flooded.errors[:5]
    finally:
        stop.set()
        can.stop()
        jpn.stop()  # (writes the counts not written yet)

    entries = flood_entries(jpn.sqlite_path, args.flood_from)
    counted = sum(int(e["data"].get("count", 1)) for e in entries)
    minutes = max(1, math.ceil(flood_s / 60))
    print(
        f"    JPN audit entries for the flood: {len(entries)} in {flood_s:.0f} s"
        f" ({len(entries) / (flood_s / 60):.1f} a minute; counting {counted:,} refusals,"
        f" {flooded.refused:,} answered)"
    )
    if counted != flooded.refused:
        failures.append(f"the flood's entries count {counted} refusals, not {flooded.refused}")
    if len(entries) > minutes + 1:
        failures.append(f"{len(entries)} entries for a flood of {minutes} minutes")
    node = Node.open(work / "jpn")
    try:
        node.verify_audit()
    finally:
        node.close()
    if held(jpn.sqlite_path) != 2 * args.items:
        failures.append(f"JPN holds {held(jpn.sqlite_path)} items, not {2 * args.items}")

    print()
    print("[summary]")
    print(
        f"    genuine release rate flooded / quiet: {flooded_rate / quiet_rate:.2f}"
        f" ({flooded_rate:,.0f} / {quiet_rate:,.0f} items/s), load average {load:.2f}"
    )
    print(f"    JPN audit entries per minute of flood: {len(entries) / (flood_s / 60):.1f}")
    print(f"correctness failures: {len(failures)}")
    for failure in failures:
        print(f"    {failure}")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _options(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="gsoia-bench-flood-") as tmp:
        status = run(args, Path(tmp))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
