"""The node benchmark: create items through the REST API, then list them page by page.

Run ``python benchmarks/bench_node.py``; ``--quick`` for a smaller run, ``--help`` for the
options. See ``benchmarks/README.md`` ("The node benchmark") for what is measured and how.

For each backend (SQLite, PostgreSQL) a fresh node is initialised and served by a real
``gsoia serve`` process on a free loopback port; ``--items`` items are created through
``POST /api/v1/items`` by ``--clients`` concurrent keep-alive clients (the server runs
``--workers`` processes, by default one per CPU), then two readers of
two clearances walk every page of ``GET /api/v1/items?limit=100``, several rounds, each page
request timed on its own. What each reader saw is checked against ``decide_many`` over the
labels created.

Exit status: 0 whether the targets are met or missed (it is a benchmark); 1 if a request
failed or a reader saw other items than ``decide_many`` allows (a correctness failure).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

import gsoia
import processes
import targets
from gsoia.node.service import Node
from gsoia.node.users import User
from keepalive import ERRORS, KeepAlive
from profile_servers import recording

TARGET_CREATED_PER_S = {"postgresql": 600, "sqlite": 800}
"""Items created a second by the ``--clients`` (by default 4), per backend."""
TARGET_PAGE_P99_MS = 30.0
WITNESSING_RATIO = 0.90
"""Creation with witnessing (the anchor kept) over without it."""
WITNESSING_PAIRS = 3
"""Pairs of creation runs (one without witnessing, one with it) of ``witnessing_cost``: a
run of 2,000 items lasts a second or two, shorter than the swings of a shared machine."""

PG_SERVER = os.environ.get("GSOIA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GSOIA = str(Path(sys.executable).parent / "gsoia")
NATION = "JPN"
ALL_BACKENDS = ("sqlite", "postgresql")

# The labels: levels skewed low, varied areas, releasability to nations and groups (or
# none: national only), 0-2 need-to-know topics. Weights are relative.
LEVELS = (("HI", 40), ("GOKUHI", 30), ("TOKUTEI", 15), ("KIMITSU", 15))
AREAS = ((None, 30), ("maritime", 20), ("air", 15), ("cyber", 15), ("space", 10), ("land", 10))
RELEASABLE: tuple[tuple[tuple[str, ...], int], ...] = (
    ((), 20),
    (("CAN",), 15),
    (("FVEY",), 20),
    (("USA",), 10),
    (("CAN", "USA"), 10),
    (("FVEY", "NATO"), 10),
    (("KOR", "AUS"), 5),
    (("GBR", "FRA", "DEU"), 10),
)
TOPICS = ("maritime", "missile", "cyber", "space", "logistics", "sigint")
TOPIC_COUNTS = ((0, 50), (1, 35), (2, 15))


@dataclass(frozen=True)
class Person:
    id: str
    nation: str
    clearance: str
    need_to_know: tuple[str, ...]

    def subject(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "nation": self.nation,
            "clearance": self.clearance,
            "need_to_know": list(self.need_to_know),
        }

    def describe(self) -> str:
        return f"{self.id} ({self.nation} {self.clearance}, {len(self.need_to_know)} topics)"


CREATOR = Person("jp-creator", "JPN", "KIMITSU", TOPICS)
READERS = (
    Person("jp-gokuhi", "JPN", "GOKUHI", TOPICS[:4]),
    Person("ca-s", "CAN", "S", TOPICS[:3]),
)


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 items, 1 timed round")
    parser.add_argument("--items", type=int, help="items created per backend (default 10,000)")
    parser.add_argument(
        "--backends", default=",".join(ALL_BACKENDS), help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent creating clients")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="gsoia serve --workers: server processes (default: one per CPU)",
    )
    parser.add_argument("--limit", type=int, default=100, help="items per page (default 100)")
    parser.add_argument("--rounds", type=int, help="timed walks over all pages (default 3)")
    parser.add_argument(
        "--pages",
        type=int,
        help="at least this many timed page requests per reader: more rounds if needed"
        " (default 300)",
    )
    parser.add_argument("--content-bytes", type=int, default=512, help="content size per item")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-url", default=PG_SERVER, help="PostgreSQL server (env GSOIA_TEST_PG)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then cProfile an in-process Node (create_item, list_items) on each backend",
    )
    parser.add_argument(
        "--profile-items", type=int, default=2_000, help="items created under --profile"
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="py-spy on the served node during the timed creation and walks; stacks in DIR",
    )
    parser.add_argument(
        "--no-witnessing-cost",
        dest="witnessing_cost",
        action="store_false",
        help="skip the creation runs without and with witnessing (its cost, target >= 0.90)",
    )
    parser.add_argument(
        "--witnessing-pairs",
        type=int,
        default=WITNESSING_PAIRS,
        help=f"pairs of creation runs pricing witnessing (default {WITNESSING_PAIRS})",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    args.items = args.items or (2_000 if quick else 10_000)
    args.rounds = args.rounds or (1 if quick else 3)
    args.pages = args.pages if args.pages is not None else (50 if quick else 300)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(ALL_BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {', '.join(unknown)} (sqlite, postgresql)")
    if args.items < 1 or args.clients < 1 or not 1 <= args.limit <= 1000:
        parser.error("--items and --clients must be >= 1, --limit 1..1000")
    if args.witnessing_pairs < 1:
        parser.error("--witnessing-pairs must be >= 1")
    return args


# -- the data ---------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


def make_labels(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` label dicts of this node's nation, as sent to POST /api/v1/items."""
    rng = random.Random(seed)
    labels = []
    for _ in range(n):
        label: dict[str, Any] = {"originator": NATION, "classification": _pick(rng, LEVELS)}
        area = _pick(rng, AREAS)
        if area is not None:
            label["area"] = area
        label["releasable_to"] = list(_pick(rng, RELEASABLE))
        label["need_to_know"] = sorted(rng.sample(TOPICS, _pick(rng, TOPIC_COUNTS)))
        labels.append(label)
    return labels


def expected_allowed(labels: list[dict[str, Any]], reader: Person) -> list[bool]:
    """What ``decide`` allows ``reader`` of each label as this node holds it (custodian =
    originator, no consents), by the public API's ``decide_many``."""
    rulebook = gsoia.load_catalogue()
    held = [label | {"custodian": NATION, "consented_to": []} for label in labels]
    return [bool(a) for a in rulebook.decide_many(reader.subject(), held)]


# -- a served node ----------------------------------------------------------------------


@contextmanager
def database(backend: str, pg_url: str) -> Iterator[str | None]:
    """None for SQLite in the data directory; for PostgreSQL a URL to a fresh schema,
    dropped at the end."""
    if backend == "sqlite":
        yield None
        return
    schema = f"gsoia_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with suppress(Exception), admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Served:
    data: Path
    url: str | None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def log_tail(self, lines: int = 30) -> str:
        path = self.data / "serve.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> None:
        self.port = processes.free_port()
        args = [GSOIA, "serve", "--data", str(self.data), "--port", str(self.port)]
        if self.url:
            args += ["--database", self.url]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        with open(self.data / "serve.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        failed = processes.wait_until_healthy(self.base, self.process, 60)
        if failed:
            raise RuntimeError(f"gsoia serve {failed}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self, user_id: str) -> KeepAlive:
        """A keep-alive client as ``user_id`` (``keepalive``: a fraction of httpx's CPU)."""
        headers = {"Authorization": f"Bearer {self.tokens[user_id]}"}
        return KeepAlive(self.base, headers, timeout=120)

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server's processes so far (Linux), or None."""
        return None if self.process is None else processes.cpu_seconds(self.process.pid)

    def connections(self) -> list[int]:
        """Clients' connections held by each server process that holds any (Linux)."""
        return [] if self.process is None else processes.connections(self.process.pid, self.port)


def init_node(data: Path, url: str | None, workers: int, *, witnessing: bool = True) -> Served:
    node = Node.init(data, NATION, database=url)
    if not witnessing:  # the node's setting: no anchor kept (no partners here to witness)
        config = data / "node.json"
        config.write_text(json.dumps(json.loads(config.read_text()) | {"witnessing": False}))
    served = Served(data, url, workers=workers)
    try:
        for person in (CREATOR, *READERS):
            _, token = node.add_user(
                person.id,
                person.nation,
                clearance=person.clearance,
                need_to_know=list(person.need_to_know),
            )
            served.tokens[person.id] = token
    finally:
        node.close()
    return served


# -- the measurements -------------------------------------------------------------------


@dataclass
class Created:
    wall_s: float
    ids: list[str | None]  # per label index; None where the request failed
    latencies_ms: list[float]
    errors: list[str]
    server_cpu_s: float | None
    split: list[int]  # the clients' connections held by each worker that holds any

    @property
    def rate(self) -> float:
        return len(self.ids) / self.wall_s


def create_all(
    served: Served, labels: list[dict[str, Any]], clients: int, content_bytes: int
) -> Created:
    """Every label, by ``clients`` threads with a keep-alive client each (label i by
    thread i % clients); wall time from the common start to the last response."""
    ids: list[str | None] = [None] * len(labels)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    filler = "lorem ipsum dolor sit amet " * (content_bytes // 27 + 1)

    def work(k: int) -> None:
        with served.client(CREATOR.id) as client:
            barrier.wait()
            for i in range(k, len(labels), clients):
                body = {"label": labels[i], "title": f"item {i}", "content": filler[:content_bytes]}
                t0 = time.perf_counter()
                try:
                    response = client.post("/api/v1/items", body)
                except ERRORS as e:
                    with lock:
                        errors.append(f"item {i}: {type(e).__name__}: {e}")
                    continue
                latencies[k].append((time.perf_counter() - t0) * 1e3)
                if response.status_code == 201:
                    ids[i] = response.json()["id"]
                else:
                    with lock:
                        errors.append(f"item {i}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    cpu0 = served.cpu_seconds()
    barrier.wait()
    t0 = time.perf_counter()
    while not all(latencies) and any(thread.is_alive() for thread in threads):
        time.sleep(0.005)  # every client connected (its first answer came)
    split = served.connections()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    cpu1 = served.cpu_seconds()
    server_cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    merged = [ms for part in latencies for ms in part]
    return Created(wall, ids, merged, errors, server_cpu, split)


@dataclass
class Walked:
    reader: Person
    expected: int
    pages_per_walk: int = 0
    rounds: int = 0
    page_ms: list[float] = field(default_factory=list)
    walk_s: list[float] = field(default_factory=list)
    bytes_per_page: list[int] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)  # items seen per walk (warm-up included)
    totals: set[int] = field(default_factory=set)  # the "total" field of every page
    wrong: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float | None = None

    @property
    def pages_per_s(self) -> float:
        return len(self.page_ms) / sum(self.walk_s) if self.walk_s else 0.0


def walk(client: KeepAlive, limit: int, out: Walked, timed: bool) -> tuple[list[str], int, float]:
    """All pages, following ``next``; returns the ids seen, the pages and the wall time."""
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    t_walk = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        t0 = time.perf_counter()
        try:
            response = client.get("/api/v1/items", params=params)
        except ERRORS as e:
            out.errors.append(f"page {pages + 1}: {type(e).__name__}: {e}")
            break
        elapsed_ms = (time.perf_counter() - t0) * 1e3
        pages += 1
        if response.status_code != 200:
            out.errors.append(f"page {pages}: {response.status_code} {response.text[:200]}")
            break
        if timed:
            out.page_ms.append(elapsed_ms)
            out.bytes_per_page.append(len(response.content))
        page = response.json()
        seen.extend(item["id"] for item in page["items"])
        out.totals.add(int(page["total"]))
        cursor = page["next"]
        if cursor is None:
            break
        if pages > 10 * (out.expected // max(1, limit) + 2):
            out.errors.append(f"more than {pages} pages: `next` does not end")
            break
    return seen, pages, time.perf_counter() - t_walk


def list_all(
    served: Served,
    reader: Person,
    allowed_ids: set[str],
    limit: int,
    rounds: int,
    min_pages: int,
    spy: Path | None = None,
) -> Walked:
    """One untimed warm-up walk, then timed walks until ``rounds`` and ``min_pages``;
    ``spy``: py-spy on the server during the timed walks, its stacks in that directory."""
    out = Walked(reader, len(allowed_ids))
    cpu0: float | None = None
    with ExitStack() as spying, served.client(reader.id) as client:
        walks = 0
        while walks == 0 or out.rounds < rounds or len(out.page_ms) < min_pages:
            timed = walks > 0
            if timed and out.rounds == 0:
                name = f"{served.backend}-list-{reader.id}"
                spying.enter_context(recording(spy, name, served.pid))
                cpu0 = served.cpu_seconds()
            seen, pages, seconds = walk(client, limit, out, timed)
            walks += 1
            out.seen.append(len(seen))
            _check(out, walks, seen, allowed_ids)
            if out.errors:
                break
            out.pages_per_walk = pages
            if timed:
                out.rounds += 1
                out.walk_s.append(seconds)
        cpu1 = served.cpu_seconds()
        if out.rounds and cpu0 is not None and cpu1 is not None:
            out.server_cpu_s = cpu1 - cpu0
    if out.totals and out.totals != {len(allowed_ids)}:
        out.wrong.append(f"`total` was {sorted(out.totals)}, expected {len(allowed_ids)}")
    return out


def _check(out: Walked, walk_no: int, seen: list[str], allowed_ids: set[str]) -> None:
    if len(seen) != len(set(seen)):
        out.wrong.append(f"walk {walk_no}: {len(seen) - len(set(seen))} items seen twice")
    extra = set(seen) - allowed_ids
    missing = allowed_ids - set(seen)
    if extra or missing:
        out.wrong.append(
            f"walk {walk_no}: saw {len(set(seen))} items, decide_many allows"
            f" {len(allowed_ids)}: {len(extra)} not allowed, {len(missing)} missing"
        )


# -- one backend ------------------------------------------------------------------------


def witnessing_cost(
    backend: str, args: argparse.Namespace, labels: list[dict[str, Any]]
) -> tuple[float, float] | None:
    """Items created per second on fresh nodes with witnessing off and on, in
    ``--witnessing-pairs`` pairs (same labels, clients, workers), the pairs in turn off first
    and on first so that a drift of the machine falls on both alike: the rates of the pair
    whose ratio is the median; None if a run had errors."""
    pairs: list[tuple[float, float]] = []
    for n in range(args.witnessing_pairs):
        rates: dict[bool, float] = {}
        for on in (False, True) if n % 2 == 0 else (True, False):
            rate = _created_rate(backend, args, labels, on)
            if rate is None:
                return None
            rates[on] = rate
        pairs.append((rates[True], rates[False]))
    with_it, without = targets.median_pair(pairs)
    ratios = ", ".join(f"{w / wo:.2f}" for w, wo in pairs)
    print(
        f"\n  [witnessing cost] creation, {len(labels):,} items on fresh nodes, the median"
        f" pair (pairs: {ratios}): {without:,.0f} items/s without, {with_it:,.0f} with:"
        f" {with_it / without:.2f} (target >= {WITNESSING_RATIO:.2f}; load average {_load()})"
    )
    return with_it, without


def _created_rate(
    backend: str, args: argparse.Namespace, labels: list[dict[str, Any]], on: bool
) -> float | None:
    """Items created per second on a fresh node with witnessing ``on`` or off; None on
    errors."""
    with ExitStack() as stack:
        url = stack.enter_context(database(backend, args.pg_url))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gsoia-bench-w-")))
        served = init_node(tmp / "jpn", url, args.workers, witnessing=on)
        stack.callback(served.stop)
        served.start()
        created = create_all(served, labels, args.clients, args.content_bytes)
        if created.errors:
            print(f"    witnessing {'on' if on else 'off'}: {len(created.errors)} errors")
            return None
        return created.rate


@dataclass
class Result:
    backend: str
    skipped: str | None = None
    created: Created | None = None
    witnessing: tuple[float, float] | None = None
    """Creation rates with and without witnessing (``witnessing_cost``)."""
    walked: list[Walked] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def run_backend(backend: str, args: argparse.Namespace, labels: list[dict[str, Any]]) -> Result:
    result = Result(backend)
    print(f"\n== {backend} ==")
    with ExitStack() as stack:
        try:
            url = stack.enter_context(database(backend, args.pg_url))
        except Exception as e:  # no PostgreSQL server here: not a correctness failure
            result.skipped = f"cannot reach PostgreSQL at {args.pg_url}: {type(e).__name__}: {e}"
            print(f"  SKIPPED: {result.skipped}")
            return result
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gsoia-bench-node-")))
        served: Served | None = None
        try:
            t0 = time.perf_counter()
            served = init_node(tmp / "jpn", url, args.workers)
            init_s = time.perf_counter() - t0
            stack.callback(served.stop)
            served.start()
            _run_served(served, args, labels, result, init_s)
            served.stop()
            if args.witnessing_cost:
                result.witnessing = witnessing_cost(backend, args, labels)
        except Exception as e:
            result.failures.append(f"{type(e).__name__}: {e}")
            print(f"  FAILED: {type(e).__name__}: {e}")
            tail = served.log_tail() if served is not None else ""
            if tail:
                print("  server log (last lines):\n" + _indent(tail, 4))
    return result


def _run_served(
    served: Served,
    args: argparse.Namespace,
    labels: list[dict[str, Any]],
    result: Result,
    init_s: float,
) -> None:
    where = "SQLite in the data directory" if served.url is None else "a fresh PostgreSQL schema"
    pid = served.process.pid if served.process else "?"
    print(
        f"  node {NATION} initialised in {init_s:.2f} s on {where}; serving on"
        f" 127.0.0.1:{served.port} (gsoia serve --workers {served.workers}, pid {pid})"
    )
    print(f"  creator {CREATOR.describe()}; readers {', '.join(r.describe() for r in READERS)}")

    with recording(args.py_spy, f"{served.backend}-create", served.pid):
        created = create_all(served, labels, args.clients, args.content_bytes)
    result.created = created
    n = len(labels)
    ordered = sorted(created.latencies_ms)
    print(f"\n  [create] {n:,} items by {args.clients} clients (POST /api/v1/items, keep-alive)")
    print(
        f"    wall {created.wall_s:.2f} s = {created.rate:,.0f} items/s;"
        f" per request p50 {_pct(ordered, 50):.1f} ms, p99 {_pct(ordered, 99):.1f} ms,"
        f" max {ordered[-1] if ordered else 0:.1f} ms"
    )
    if created.server_cpu_s is not None:
        print(
            f"    server CPU {created.server_cpu_s:.2f} s = {created.server_cpu_s / n * 1e3:.2f} ms"
            f" per item ({created.server_cpu_s / created.wall_s:.0%} of one core over the wall)"
        )
    if created.split:
        print(
            f"    the {args.clients} connections on the server's {served.workers} worker(s):"
            f" {' + '.join(map(str, created.split))} (the workers take turns accepting;"
            " two workers holding clients contend for the audit log's lock)"
        )
    print(f"    errors: {len(created.errors)}")
    for line in created.errors[:5]:
        print(f"      {line}")
    if created.errors:
        result.failures.append(f"{len(created.errors)} create errors")
        print("    server log (last lines):\n" + _indent(served.log_tail(40), 6))

    ids = created.ids
    print(f"\n  [list] GET /api/v1/items?limit={args.limit}, all pages following `next`")
    for reader in READERS:
        allow = expected_allowed(labels, reader)
        allowed_ids = {i for i, ok in zip(ids, allow, strict=True) if ok and i is not None}
        walked = list_all(
            served, reader, allowed_ids, args.limit, args.rounds, args.pages, args.py_spy
        )
        result.walked.append(walked)
        times = sorted(walked.page_ms)
        print(
            f"    {reader.describe()}: decide_many allows {len(allowed_ids):,} of {n:,}"
            f" ({len(allowed_ids) / n:.0%}) = {walked.pages_per_walk} pages per walk"
        )
        if times:
            print(
                f"      {walked.rounds} timed walks (after 1 untimed), {len(times)} pages:"
                f" p50 {_pct(times, 50):.1f} ms, p99 {_pct(times, 99):.1f} ms,"
                f" max {times[-1]:.1f} ms, mean {statistics.fmean(times):.1f} ms;"
                f" {walked.pages_per_s:,.1f} pages/s;"
                f" {statistics.fmean(walked.bytes_per_page) / 1024:.0f} KiB per page"
            )
        if walked.server_cpu_s is not None and times:
            print(f"      server CPU {walked.server_cpu_s / len(times) * 1e3:.1f} ms per page")
        print(
            f"      items seen per walk: {', '.join(f'{s:,}' for s in walked.seen)}"
            f" (expected {len(allowed_ids):,}); `total`: {sorted(walked.totals)}"
        )
        for line in (walked.errors + walked.wrong)[:5]:
            print(f"      WRONG: {line}")
        if walked.errors:
            result.failures.append(f"{reader.id}: {len(walked.errors)} list errors")
        if walked.wrong:
            result.failures.append(f"{reader.id}: {len(walked.wrong)} wrong walks")


# -- profiling ----------------------------------------------------------------------------


def profile_backend(backend: str, args: argparse.Namespace, labels: list[dict[str, Any]]) -> None:
    """cProfile of ``Node.create_item`` and ``Node.list_items`` in this process."""
    n = min(args.profile_items, len(labels))
    with ExitStack() as stack:
        try:
            url = stack.enter_context(database(backend, args.pg_url))
        except Exception as e:
            print(f"\n[profile] {backend}: skipped ({type(e).__name__}: {e})")
            return
        with tempfile.TemporaryDirectory(prefix="gsoia-bench-prof-") as tmp:
            served = init_node(Path(tmp) / "jpn", url, 1)
            node = Node.open(served.data, database=url)
            try:
                creator = node.authenticate(served.tokens[CREATOR.id])
                filler = b"x" * args.content_bytes
                profiler = cProfile.Profile()
                t0 = time.perf_counter()
                profiler.enable()
                for i in range(n):
                    node.create_item(creator, labels[i], f"item {i}", filler)
                profiler.disable()
                wall = time.perf_counter() - t0
                _print_profile(
                    f"{backend}: Node.create_item x {n:,} in process"
                    f" ({n / wall:,.0f} items/s under the profiler)",
                    profiler,
                )
                reader: User = node.authenticate(served.tokens[READERS[0].id])
                profiler = cProfile.Profile()
                pages = 0
                t0 = time.perf_counter()
                profiler.enable()
                for _ in range(3):
                    cursor = 0
                    while True:
                        page = node.list_items(reader, cursor=cursor, limit=args.limit)
                        pages += 1
                        if page["next"] is None:
                            break
                        cursor = int(page["next"])
                profiler.disable()
                wall = time.perf_counter() - t0
                _print_profile(
                    f"{backend}: Node.list_items x {pages} pages of {args.limit} over {n:,}"
                    f" items, reader {READERS[0].id} ({wall / pages * 1e3:.1f} ms per page"
                    " under the profiler)",
                    profiler,
                )
            finally:
                node.close()


def _print_profile(title: str, profiler: cProfile.Profile) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(30)
    print(f"\n[profile] {title}")
    print(out.getvalue())


# -- the report -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _options(argv)
    print("gsoia node benchmark")
    print(
        f"  python {platform.python_version()}, gsoia {_version('gsoia')},"
        f" fastapi {_version('fastapi')}, uvicorn {_version('uvicorn')},"
        f" SQLAlchemy {_version('SQLAlchemy')}, psycopg {_version('psycopg')},"
        f" httpx {_version('httpx')}; {platform.machine()}, {_cpu_count()} CPUs"
    )
    print(f"  load average at start: {_load()}")
    print(
        f"  items {args.items:,}, clients {args.clients}, page limit {args.limit},"
        f" rounds >= {args.rounds}, timed pages >= {args.pages} per reader,"
        f" content {args.content_bytes} bytes, backends {', '.join(args.backends)},"
        f" seed {args.seed}"
    )
    labels = make_labels(args.items, args.seed)
    print(
        f"  labels: levels {_share(labels, 'classification')};"
        f" releasable to none {sum(1 for x in labels if not x['releasable_to']) / len(labels):.0%};"
        f" with need-to-know {sum(1 for x in labels if x['need_to_know']) / len(labels):.0%}"
    )

    results = [run_backend(backend, args, labels) for backend in args.backends]

    print("\n[summary]")
    checks: list[tuple[str, str, str, bool | None]] = []
    failures = 0
    for result in results:
        name = result.backend
        if result.skipped:
            checks.append((f"{name}", "SKIPPED", result.skipped[:40], None))
            continue
        failures += len(result.failures)
        created = result.created
        if created is not None:
            bar = TARGET_CREATED_PER_S[name]
            checks.append(
                (
                    f"{name} created items/s",
                    f"{created.rate:,.0f} ({len(created.ids):,} in {created.wall_s:.1f} s)",
                    f">= {bar}",
                    created.rate >= bar,
                )
            )
            targets.record(
                f"items created ≥ {bar}/s by {args.clients} clients, {name}",
                f"{created.rate:,.0f} items/s ({len(created.ids):,} items, {args.clients} clients)",
                created.rate,
                created.rate >= bar,
            )
        if result.witnessing is not None:
            with_it, without = result.witnessing
            checks.append(
                (
                    f"{name} creation with/without witnessing",
                    f"{with_it / without:.2f} ({with_it:,.0f} / {without:,.0f} items/s)",
                    f">= {WITNESSING_RATIO:.2f}",
                    with_it / without >= WITNESSING_RATIO,
                )
            )
            targets.record(
                f"item creation with witnessing ≥ {WITNESSING_RATIO:.2f} × without, {name}",
                f"{with_it:,.0f} items/s with witnessing",
                with_it / without,
                with_it / without >= WITNESSING_RATIO,
                peer=f"{without:,.0f} items/s without",
                ratio=with_it / without,
            )
        for walked in result.walked:
            times = sorted(walked.page_ms)
            if not times:
                continue
            p99 = _pct(times, 99)
            checks.append(
                (
                    f"{name} page p99, {walked.reader.id}",
                    f"{p99:.1f} ms (p50 {_pct(times, 50):.1f}, max {times[-1]:.0f})",
                    f"<= {TARGET_PAGE_P99_MS:.0f} ms",
                    p99 <= TARGET_PAGE_P99_MS,
                )
            )
            targets.record(
                f"page of {args.limit} over {args.items:,} items p99 ≤ {TARGET_PAGE_P99_MS:.0f}"
                f" ms, {name}, {walked.reader.id}",
                f"{p99:.1f} ms (p50 {_pct(times, 50):.1f})",
                p99,
                p99 <= TARGET_PAGE_P99_MS,
            )
        wrong = len(result.failures)
        checks.append((f"{name} correctness", f"{wrong} failures", "0", wrong == 0))
    for name, value, target, ok in checks:
        mark = "" if ok is None else _verdict(ok)
        print(f"  {name:<46}{value:<36}{target:<14}{mark}")
    load = f"{_load()} on {_cpu_count()} CPUs"
    print(f"\n  load average at end: {load} (above the CPU count, timings are shared)")
    print(f"correctness failures: {failures}")

    if args.profile:
        if args.profile_items > len(labels):  # the same seed: the run's labels come first
            labels = make_labels(args.profile_items, args.seed)
        for backend in args.backends:
            profile_backend(backend, args, labels)
    return 1 if failures else 0


def _pct(ordered: list[float], p: float) -> float:
    """The p-th percentile of sorted values (nearest rank)."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _share(labels: list[dict[str, Any]], key: str) -> str:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label[key]] = counts.get(label[key], 0) + 1
    return ", ".join(f"{k} {v / len(labels):.0%}" for k, v in counts.items())


def _indent(text_: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text_.splitlines())


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
