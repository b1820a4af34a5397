"""The federation benchmark: release items JPN -> CAN over loopback, end to end.

Run ``python benchmarks/bench_federation.py``; ``--quick`` for a smaller run, ``--help`` for
the options. See ``benchmarks/README.md`` ("The federation benchmark") for what is measured.

Two fresh nodes (JPN and CAN, SQLite) are served by real ``gsoia serve`` processes on free
loopback ports and pinned to each other with ``gsoia peer add``. ``--items`` items are
created on JPN first (in process, timed apart), then released to CAN by ``--clients``
concurrent keep-alive clients through the bulk release endpoint ``POST /api/v1/releases``
(``--batch`` items per request; ``--batch 1``: one ``POST /api/v1/items/{id}/releases``
per item instead): each item is decided, sealed into its own signed package, put in the
outbox and delivered to CAN's inbox (JPN's courier posts the packages of a request together
to CAN's batch inbox), which verifies, decides, stores and audits each. The clock runs from
the first release until CAN's database holds every item. Target: >= 1,000 items/s.

``--witnessing both`` (the default) makes that run twice: first with both nodes' setting
``witnessing`` off (no anchor kept, no head sent or checked), then on; the ratio of the
two rates is what witnessing costs (target >= 0.90).

Exit status: 0 whether the target is met or missed (it is a benchmark); 1 if a release
failed or CAN does not end up holding exactly the items released, each once, with JPN's
outbox all delivered and both audit logs verifying (a correctness failure).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import itertools
import json
import os
import platform
import pstats
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

import processes
from gsoia.api.federation import batch_answer
from gsoia.api.releases import MAX_RELEASES
from gsoia.federation.packages import PackageRejected
from gsoia.federation.peers import INBOX_BATCH, Peer
from gsoia.node.service import Node
from gsoia.node.users import Role, User

TARGET_PER_S = 1_000.0
WITNESSING_RATIO = 0.90
"""Federation with witnessing (heads sent and checked, the anchor kept) over without it."""
DEFAULT_BATCH = 100
GSOIA = str(Path(sys.executable).parent / "gsoia")
TOPICS = ("maritime", "missile", "cyber", "space")
# Every label is releasable to CAN under JPN-CAN (scope "*"): levels with a Canadian
# equivalent, CAN named or through FVEY, 0-2 need-to-know topics.
LEVELS = ("HI", "GOKUHI", "TOKUTEI", "KIMITSU")
AREAS = (None, "maritime", "air", "cyber")
RELEASABLE = (("CAN",), ("FVEY",), ("CAN", "USA"), ("CAN", "AUS", "GBR"))
TO_CAN = {"to": "CAN"}


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 items")
    parser.add_argument("--items", type=int, help="items released (default 10,000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent releasing clients")
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"items per bulk release request (default {DEFAULT_BATCH}; 1: the single release)",
    )
    parser.add_argument("--content-bytes", type=int, default=512, help="content size per item")
    parser.add_argument(
        "--warmup", type=int, default=20, help="releases before the clock starts (default 20)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for CAN to hold all"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then profile in-process nodes (release -> receive, no HTTP) and time primitives",
    )
    parser.add_argument(
        "--profile-items", type=int, default=1_000, help="releases profiled under --profile"
    )
    parser.add_argument(
        "--witnessing",
        choices=("on", "off", "both"),
        default="both",
        help="the nodes' witnessing setting; both (default): a run without it, then one with"
        " it, and the ratio (target >= 0.90)",
    )
    args = parser.parse_args(argv)
    args.items = args.items or (2_000 if args.quick else 10_000)
    if args.items < 1 or args.clients < 1 or args.warmup < 0 or args.profile_items < 1:
        parser.error("--items, --clients, --profile-items must be >= 1, --warmup >= 0")
    if not 1 <= args.batch <= MAX_RELEASES:
        parser.error(f"--batch must be 1 to {MAX_RELEASES}")
    return args


# -- nodes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A node's data directory and its ``gsoia serve`` process."""

    nation: str
    data: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sqlite_path(self) -> Path:
        return self.data.resolve() / "gsoia.db"

    def start(self) -> None:
        self.port = free_port()
        args = [GSOIA, "serve", "--data", str(self.data), "--port", str(self.port)]
        with open(self.data / "serve.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        failed = processes.wait_until_healthy(self.url, self.process, 60)
        if failed:
            raise RuntimeError(f"{self.nation} {failed}:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        with suppress(OSError):
            return (self.data / "serve.log").read_text()[-4000:]
        return ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux)."""
        if self.process is None:
            return None
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(node: Served, peer: Served) -> None:
    """``gsoia peer add`` on ``node`` for ``peer`` (both running)."""
    args = [GSOIA, "peer", "add", "--data", str(node.data), "--nation", peer.nation]
    args += ["--url", peer.url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"gsoia peer add on {node.nation}: {done.stderr}")


def make_labels(n: int, rng: random.Random) -> list[dict[str, Any]]:
    labels = []
    for _ in range(n):
        label: dict[str, Any] = {
            "originator": "JPN",
            "classification": rng.choice(LEVELS),
            "releasable_to": list(rng.choice(RELEASABLE)),
            "need_to_know": sorted(rng.sample(TOPICS, rng.choice((0, 1, 1, 2)))),
        }
        area = rng.choice(AREAS)
        if area is not None:
            label["area"] = area
        labels.append(label)
    return labels


def create_items(
    node: Node, user: User, n: int, content_bytes: int, rng: random.Random
) -> list[str]:
    """``n`` items stored in process, 500 per transaction; their ids, in order."""
    ids: list[str] = []
    labels = make_labels(n, rng)
    filler = "東シナ海の哨戒報告。" * (content_bytes // 10 + 1)
    for start in range(0, n, 500):
        drafts = [
            node.prepare_item(
                user,
                label,
                f"Patrol report {start + k}",
                f"{start + k} {filler}".encode()[:content_bytes],
            )
            for k, label in enumerate(labels[start : start + 500])
        ]
        ids += [view["id"] for view in node.store_items(user, drafts)]
    return ids


def users(node: Node, specs: Sequence[tuple[str, str, Role]]) -> dict[str, tuple[User, str]]:
    made = {}
    for user_id, clearance, role in specs:
        made[user_id] = node.add_user(
            user_id, node.nation, clearance=clearance, need_to_know=list(TOPICS), role=role
        )
    return made


# -- releasing ----------------------------------------------------------------------------------


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


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the run ---------------------------------------------------------------------------------


def witnessing(data: Path, on: bool) -> None:
    """Set a node's ``witnessing`` (its anchor, heads sent and checked) in its node.json."""
    config = data / "node.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"witnessing": on}))


def run(args: argparse.Namespace, work: Path, witnessed: bool = True) -> tuple[int, float | None]:
    """One run: (1 on a correctness failure else 0, items/s end to end or None)."""
    rng = random.Random(args.seed)
    failures: list[str] = []
    jpn_node = Node.init(work / "jpn", "JPN")
    can_node = Node.init(work / "can", "CAN")
    releaser = users(jpn_node, [("jp-releaser", "KIMITSU", Role.ANALYST)])["jp-releaser"]
    reader = users(can_node, [("ca-reader", "TS", Role.ANALYST)])["ca-reader"]

    total = args.warmup + args.items
    print(f"[create] {total:,} items on JPN, in process (Node.store_items, 500 per transaction)")
    t = time.perf_counter()
    ids = create_items(jpn_node, releaser[0], total, args.content_bytes, rng)
    took = time.perf_counter() - t
    print(f"    {total:,} items in {took:.2f} s ({total / took:,.0f} items/s)")
    jpn_node.close()
    can_node.close()
    for data in (work / "jpn", work / "can"):
        witnessing(data, witnessed)
    print(f"[witnessing] {'on' if witnessed else 'off'} on both nodes")
    warm, timed = ids[: args.warmup], ids[args.warmup :]

    jpn, can = Served("JPN", work / "jpn"), Served("CAN", work / "can")
    rate: float | None = None
    try:
        jpn.start()
        can.start()
        pin(jpn, can)
        pin(can, jpn)
        print(f"[serve] JPN {jpn.url}, CAN {can.url}, pinned to each other (gsoia peer add)")

        if warm:
            clients = min(args.clients, len(warm))
            warmed = release_all(jpn.url, releaser[1], warm, clients, args.batch, [])
            failures += [f"warm-up: {e}" for e in warmed.errors[:5]]
        watcher = Watcher(can.sqlite_path)
        watcher.start()
        cpu_before = {n.nation: n.cpu_seconds() for n in (jpn, can)}
        started: list[float] = []
        how = (
            "one POST /api/v1/items/{id}/releases each"
            if args.batch == 1
            else f"POST /api/v1/releases, {args.batch} items per request"
        )
        print(
            f"[release] {len(timed):,} items JPN -> CAN, {args.clients} concurrent clients, {how}"
        )
        outcome = release_all(jpn.url, releaser[1], timed, args.clients, args.batch, started)
        done_at = watcher.wait(total, args.timeout)
        cpu_after = {n.nation: n.cpu_seconds() for n in (jpn, can)}
        watcher.stop()
        t0 = started[0]
        answered = outcome.last_answer - t0

        n = len(timed)
        print(f"    errors: {len(outcome.errors)}")
        for error in outcome.errors[:5]:
            print(f"      {error}")
        print(f"    answered: {dict(outcome.states)} (pending: delivered later by the courier)")
        print(
            f"    request latency ({args.batch} per request):"
            f" p50 {percentile(outcome.latencies, 50) * 1e3:.1f} ms,"
            f" p99 {percentile(outcome.latencies, 99) * 1e3:.1f} ms,"
            f" max {max(outcome.latencies, default=float('nan')) * 1e3:.1f} ms,"
            f" mean {statistics.fmean(outcome.latencies or [float('nan')]) * 1e3:.1f} ms"
        )
        print(f"    all answered after {answered:.2f} s ({n / answered:,.0f} releases/s)")
        if done_at is None:
            failures.append(f"CAN did not hold all {total:,} items within {args.timeout:.0f} s")
            print(f"    CAN holds {watcher.count():,} of {total:,} after {args.timeout:.0f} s")
        else:
            elapsed = done_at - t0
            rate = n / elapsed
            print(
                f"    all {n:,} stored on CAN after {elapsed:.2f} s: {rate:,.0f} items/s end to end"
            )
            _throughput_curve(watcher.samples, t0, args.warmup, done_at)
        for nation in ("JPN", "CAN"):
            before, after = cpu_before[nation], cpu_after[nation]
            if before is not None and after is not None:
                print(
                    f"    {nation} server CPU: {after - before:.1f} s,"
                    f" {(after - before) / n * 1e3:.2f} ms per release"
                )
        failures += [f"release: {e}" for e in outcome.errors[:5]]
        if len(outcome.errors) > 5:
            failures.append(f"... {len(outcome.errors) - 5} more release errors")

        with httpx.Client(base_url=can.url, headers={"Authorization": f"Bearer {reader[1]}"}) as c:
            listing = c.get("/api/v1/items", params={"limit": 1}, timeout=120)
        listed = listing.json().get("total") if listing.status_code == 200 else None
        print(f"    CAN listing total for ca-reader (TS, all topics): {listed}")
        if listed != total:
            failures.append(f"CAN's listing shows {listed} items, not {total}")
        http_floor(jpn, can, releaser[1], min(1_000, max(50, args.items // 10)))
    finally:
        jpn.stop()
        can.stop()

    failures += check(jpn, can, set(ids), total)
    print()
    print("[summary]")
    verdict = "PASS" if rate is not None and rate >= TARGET_PER_S else "MISS"
    shown = f"{rate:,.0f}" if rate is not None else "n/a"
    print(f"    release end to end: {shown} items/s (target >= {TARGET_PER_S:,.0f}): {verdict}")
    print(f"correctness failures: {len(failures)}")
    for failure in failures:
        print(f"    {failure}")

    return (1 if failures else 0), rate


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


def _throughput_curve(samples: list[tuple[float, int]], t0: float, warm: int, end: float) -> None:
    """Items stored per second in each tenth of the run's time (a steady rate, or not)."""
    if end <= t0:
        return

    def count_at(moment: float) -> int:
        """The count the watcher last saw at ``moment`` (items of the timed run)."""
        seen = [n for t, n in samples if t <= moment]
        return max(0, (seen[-1] if seen else warm) - warm)

    step = (end - t0) / 10
    counts = [count_at(t0 + k * step) for k in range(11)]
    counts[-1] = max(counts[-1], count_at(end))
    rates = [(b - a) / step for a, b in itertools.pairwise(counts)]
    print(
        "    stored per tenth of the run's time (items/s): " + ", ".join(f"{r:,.0f}" for r in rates)
    )


def check(jpn: Served, can: Served, ids: set[str], total: int) -> list[str]:
    """CAN holds each released item once; JPN's outbox is all delivered; both logs verify."""
    failures = []
    with sqlite3.connect(jpn.sqlite_path) as db:
        states = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        released = [r[0] for r in db.execute("SELECT item_id FROM releases")]
    with sqlite3.connect(can.sqlite_path) as db:
        held = [r[0] for r in db.execute("SELECT id FROM items WHERE sender = 'JPN'")]
        stored = db.execute(
            "SELECT count(*) FROM audit_entries WHERE kind = 'package.received'"
        ).fetchone()[0]
    print()
    print("[check]")
    print(f"    JPN outbox: {states}; releases recorded: {len(released):,}")
    print(f"    CAN holds {len(held):,} items from JPN ({len(set(held)):,} distinct)")
    if states != {"delivered": total}:
        failures.append(f"JPN's outbox is {states}, not {total} delivered")
    if sorted(released) != sorted(ids) or len(released) != total:
        failures.append("JPN's releases are not each item once")
    if len(held) != len(set(held)) or set(held) != ids:
        failures.append("CAN does not hold exactly the released items, each once")
    if stored != total:
        failures.append(f"CAN audited {stored} receipts, not {total}")
    for served in (jpn, can):
        node = Node.open(served.data)
        t = time.perf_counter()
        try:
            head = node.verify_audit()
            size = head.size if head else 0
            print(
                f"    {served.nation} audit log: {size:,} entries verified"
                f" in {time.perf_counter() - t:.1f} s"
            )
        except Exception as e:  # a verification failure of any kind is reported, not raised
            failures.append(f"{served.nation} audit log: {e}")
        finally:
            node.close()
    return failures


# -- where the time goes (--profile) -------------------------------------------------------------


def in_process_pair(work: Path) -> tuple[Node, Node]:
    """JPN and CAN nodes in this process, pinned to each other, JPN's courier posting
    straight into CAN's ``Exchange.receive`` and ``receive_batch`` (an httpx MockTransport:
    no socket, no server)."""
    jpn = Node.init(work / "jpn", "JPN")
    can = Node.init(work / "can", "CAN")
    jpn.exchange.add_peer(Peer("CAN", "http://can.invalid", can.public))
    can.exchange.add_peer(Peer("JPN", "http://jpn.invalid", jpn.public))

    def inbox(request: httpx.Request) -> httpx.Response:
        try:
            if request.url.path == INBOX_BATCH:
                received = can.exchange.receive_batch(request.content)
                return httpx.Response(
                    200, json={"results": [batch_answer(p, r) for p, r in received]}
                )
            return httpx.Response(200, json=can.exchange.receive(request.content))
        except PackageRejected as e:
            return httpx.Response(409, json={"reason": e.reason.value, "detail": e.detail})

    courier = jpn.exchange.courier
    courier.http.close()
    courier.http = httpx.Client(transport=httpx.MockTransport(inbox))
    return jpn, can


# (label, how cProfile names it): the steps of a release, cumulative time
RELEASES = ("release", "release_many")
RECEIVES = ("receive", "receive_batch")
STEPS: tuple[tuple[str, Callable[[tuple[str, int, str]], bool]], ...] = (
    ("Exchange.release[_many] (JPN, all)", lambda f: f[2] in RELEASES and "exch" in f[0]),
    ("  _releasable_row or _plan (read, verify)", lambda f: f[2] in ("_releasable_row", "_plan")),
    ("  partner_decision", lambda f: f[2] == "partner_decision"),
    ("  _release_body (decrypt, seal)", lambda f: f[2] == "_release_body"),
    ("  one transaction (JPN: outbox, audit)", lambda f: f[2] == "write" and "exch" in f[0]),
    ("  Courier (sign, send, settle)", lambda f: f[2] in ("_deliver", "_deliver_batch")),
    ("    Exchange.receive (CAN, all)", lambda f: f[2] in RECEIVES and "exchange" in f[0]),
    ("      open_package", lambda f: f[2] == "open_package"),
    ("      _check_release", lambda f: f[2] == "_check_release"),
    ("      Node.store_received", lambda f: f[2] == "store_received"),
    ("    Courier._settled (JPN: delivered)", lambda f: f[2] == "_settled"),
    ("Ed25519 sign", lambda f: f[2] == "sign" and f[0].endswith("signing.py")),
    ("Ed25519 verify", lambda f: f[2] == "verify" and f[0].endswith("signing.py")),
    ("X25519 seal", lambda f: f[2] == "seal" and f[0].endswith("seal.py")),
    ("X25519 unseal", lambda f: f[2] == "unseal" and f[0].endswith("seal.py")),
    ("AES-GCM encrypt", lambda f: f[2] == "encrypt" and f[0].endswith("aead.py")),
    ("AES-GCM decrypt", lambda f: f[2] == "decrypt" and f[0].endswith("aead.py")),
    ("AES key wrap/unwrap", lambda f: f[2] in ("wrap_key", "unwrap_key")),
    ("SHA-384 digest", lambda f: f[2] == "digest" and f[0].endswith("signing.py")),
    ("canonical_json", lambda f: f[2] == "canonical_json"),
    ("AuditTransaction.append", lambda f: f[2] == "append" and f[0].endswith("log.py")),
    ("SQLite COMMIT", lambda f: f[2] == "do_commit"),
    ("SQLite BEGIN IMMEDIATE", lambda f: f[2] == "_sqlite_begin"),
    ("SQLAlchemy Connection.execute", lambda f: f[2] == "execute" and "engine/base.py" in f[0]),
    ("  of which: statement cache keys", lambda f: f[2] == "_generate_cache_key"),
    ("pydantic validation", lambda f: f[2] in ("model_validate", "validate_python")),
    ("json.dumps/loads", lambda f: f[0].endswith("json/__init__.py")),
)


def profile(args: argparse.Namespace, work: Path, rng: random.Random) -> None:
    n = args.profile_items
    print()
    print(f"[profile] in-process JPN -> CAN (no HTTP): {n:,} releases timed, {n:,} profiled")
    jpn, can = in_process_pair(work)
    user, _ = users(jpn, [("jp-releaser", "KIMITSU", Role.ANALYST)])["jp-releaser"]
    ids = create_items(jpn, user, 2 * n + 20, args.content_bytes, rng)

    def release(share: Sequence[str]) -> list[str]:
        """Release ``share`` as the clients do (``--batch`` per call); the states."""
        states = []
        for start in range(0, len(share), args.batch):
            chunk = share[start : start + args.batch]
            if args.batch == 1:
                states.append(jpn.exchange.release(user, chunk[0], "CAN")["state"])
                continue
            for result in jpn.exchange.release_many(user, "CAN", chunk):
                states.append(result["state"] if isinstance(result, dict) else repr(result))
        return states

    release(ids[:20])  # warm-up
    timed, profiled = ids[20 : 20 + n], ids[20 + n :]
    how = "one release each" if args.batch == 1 else f"release_many, {args.batch} per call"
    cpu, t = time.process_time(), time.perf_counter()
    states = release(timed)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert set(states) == {"delivered"}, Counter(states)
    print(
        f"    no profiler ({how}): {n / wall:,.0f} releases/s in one thread"
        f" ({wall / n * 1e6:,.0f} µs wall, {cpu / n * 1e6:,.0f} µs CPU per release,"
        " both nodes' work)"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    release(profiled)
    profiler.disable()
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    whole: float = next(
        (v[3] for k, v in table.items() if k[2] in RELEASES and k[0].endswith("exchange.py")),
        0.0,
    ) or sum(v[2] for v in table.values())
    print("    under cProfile (inflates Python code more than C): per release, cumulative")
    print(f"    {'step':42} {'calls':>6} {'µs':>8} {'share':>6}")
    for label, match in STEPS:
        rows = [v for k, v in table.items() if match(k)]
        if not rows:
            continue
        calls = sum(r[1] for r in rows)
        cumulative = sum(r[3] for r in rows)
        share = f"{cumulative / whole:6.0%}"
        print(f"    {label:42} {calls / n:6.1f} {cumulative / n * 1e6:8.0f} {share}")
    print("    own time (cProfile tottime) by where the code lives, per release:")
    for place, seconds in own_time_by_library(table):
        print(f"      {place:34} {seconds / n * 1e6:8.0f} µs {seconds / whole:6.0%}")
    jpn.close()
    can.close()
    primitives(args.content_bytes)
    print()
    print("    top 15 functions by own time (cProfile tottime):")
    stream = Path(work / "profile.txt")
    with open(stream, "w") as out:
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
    printing = False
    shown = 0
    for line in stream.read_text().splitlines():
        if line.lstrip().startswith("ncalls"):
            printing = True
            print(f"    {line}")
            continue
        if printing and line.strip() and shown < 15:
            print(f"    {line}")
            shown += 1


LIBRARIES = (
    ("site-packages/sqlalchemy", "SQLAlchemy (Python)"),
    ("sqlite3.Connection", "sqlite3 (C: commit)"),
    ("sqlite3.Cursor", "sqlite3 (C: statements)"),
    ("cryptography", "cryptography (C: Ed25519, X25519, AES)"),
    ("_hashlib", "hashlib (C: SHA-384)"),
    ("src/gsoia/crypto/canonical", "gsoia canonical JSON"),
    ("src/gsoia/audit", "gsoia audit log (Merkle)"),
    ("src/gsoia/decision", "gsoia decisions"),
    ("src/gsoia", "gsoia (other)"),
    ("pydantic", "pydantic"),
    ("site-packages/httpx", "httpx (in-process transport)"),
    ("site-packages/httpcore", "httpx (in-process transport)"),
    ("json/", "json"),
)


def own_time_by_library(
    table: dict[tuple[str, int, str], tuple[Any, ...]],
) -> list[tuple[str, float]]:
    """Self time summed by library, largest first."""
    totals: dict[str, float] = {}
    for (filename, _, function), row in table.items():
        where = f"{filename}:{function}"
        place = next((name for key, name in LIBRARIES if key in where), "other (Python, builtins)")
        totals[place] = totals.get(place, 0.0) + float(row[2])
    return sorted(totals.items(), key=lambda kv: -kv[1])


def primitives(content_bytes: int) -> None:
    """The primitives' own cost, without the profiler, to read the profile against."""
    from gsoia.audit.log import AuditLog
    from gsoia.crypto import aead
    from gsoia.crypto.keys import NodeKeys
    from gsoia.crypto.seal import seal, unseal
    from gsoia.crypto.signing import digest, sign, verify
    from gsoia.store.database import migrate, open_engine

    keys = NodeKeys.generate()
    public = keys.public()
    message = os.urandom(600)
    signature = sign(keys.signing, message)
    key = aead.new_key()
    content = os.urandom(content_bytes)
    blob = aead.encrypt(key, content)
    sealed = seal(public.sealing, key, b"ctx")

    def timed(fn: Callable[[], object], reps: int = 2_000) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t) / reps * 1e6

    print()
    print("    primitives, without the profiler (µs per call):")
    print(
        f"      Ed25519 sign {timed(lambda: sign(keys.signing, message)):.0f},"
        f" verify {timed(lambda: verify(public.signing, message, signature)):.0f};"
        f" X25519 seal {timed(lambda: seal(public.sealing, key, b'ctx')):.0f},"
        f" unseal {timed(lambda: unseal(keys.sealing, sealed, b'ctx')):.0f};"
        f" AES-GCM {content_bytes} B encrypt {timed(lambda: aead.encrypt(key, content)):.0f},"
        f" decrypt {timed(lambda: aead.decrypt(key, blob)):.0f};"
        f" SHA-384 {timed(lambda: digest(blob)):.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/t.db")
        migrate(engine)
        audit = AuditLog(engine, keys.signing, lambda: dt.datetime.now(dt.UTC))

        def append() -> None:
            with audit.transaction() as tx:
                tx.append("bench", "bench", {"item": "x" * 36, "to": "CAN"})

        def empty() -> None:
            with engine.begin() as connection:
                connection.exec_driver_sql("SELECT 1")

        print(
            f"      SQLite (WAL, synchronous=NORMAL): empty BEGIN IMMEDIATE..COMMIT"
            f" {timed(empty, 1_000):.0f}; one audited transaction"
            f" (lock, max(seq), Merkle root, sign, insert, commit) {timed(append, 1_000):.0f}"
        )
        engine.dispose()


def _describe() -> None:
    print(
        f"gsoia {metadata.version('gsoia')}, Python {platform.python_version()},"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gsoia-bench-fed-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    args = _options(argv)
    _describe()
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.witnessing]
    status, rates = 0, {}
    for on in modes:
        with _workdir() as work:
            failed, rates[on] = run(args, work, on)
            status |= failed
        print()
    if len(modes) == 2:
        with_it, without = rates[True], rates[False]
        if with_it is not None and without is not None:
            ratio = with_it / without
            verdict = "PASS" if ratio >= WITNESSING_RATIO else "MISS"
            print(
                f"witnessing cost: {with_it:,.0f} items/s with it, {without:,.0f} without:"
                f" {ratio:.2f} (target >= {WITNESSING_RATIO:.2f}): {verdict}"
                f" (load average {os.getloadavg()[0]:.2f})"
            )
    if args.profile:
        with _workdir() as work:
            profile(args, work / "profile", random.Random(args.seed))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
