"""The scale benchmark: a node holding 1,000,000 items from 12 originators, listed under load.

Run ``python benchmarks/bench_scale.py``; ``--quick`` for 100,000 items, ``--help`` for the
options. See ``benchmarks/README.md`` ("The scale benchmark") for what is measured and how.

For each backend (PostgreSQL, SQLite) and each corpus size (``--items``, then ``--small``)
a fresh JPN node is filled in process — its own items with ``Node.store_items``, the items
of 11 partner originators with ``Node.store_received`` as federation stores them — then
served by a real ``gsoia serve`` process, and ``GET /api/v1/items?limit=100`` is driven by
``--connections`` concurrent keep-alive connections for ``--duration`` seconds (the server
runs ``--workers`` processes, by default one per CPU), by users
of four nations (JPN, CAN, USA, GBR), with ``wrk`` (Debian: ``apt-get install -y wrk``) or,
where wrk is missing, a Python fallback. Each user's first page and ``total`` are checked
against ``decide_many`` over the labels loaded.

Exit status: 0 whether the targets are met or missed (it is a benchmark); 1 if a request
failed (any status but 2xx, a transport error or a timeout) or a listing differed from
what ``decide_many`` allows (a correctness failure).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import math
import os
import platform
import pstats
import random
import resource
import shutil
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

import httpx
import numpy as np
from sqlalchemy import create_engine, text

import gsoia
import processes
import targets
from gsoia.decision import Rulebook
from gsoia.node.item import Draft
from gsoia.node.service import Node
from gsoia.node.users import User

TARGET_P99_MS = 50.0
TARGET_GROWTH = 2.0  # p99 at --items over p99 at --small

PG_SERVER = os.environ.get("GSOIA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GSOIA = str(Path(sys.executable).parent / "gsoia")
NATION = "JPN"
ALL_BACKENDS = ("postgresql", "sqlite")
PATH = "/api/v1/items?limit=100"
WRK_INSTALL = "apt-get install -y wrk  (Debian; run 'apt-get update' first)"

# The corpus: 12 originators with an agreement with JPN in the bundled catalogue (UKR's is
# signed, not in force: its items are held but no JPN reader sees them). Weights are
# relative (per cent).
ORIGINATORS = (
    ("JPN", 20),
    ("USA", 14),
    ("NATO", 9),
    ("GBR", 8),
    ("CAN", 8),
    ("AUS", 7),
    ("KOR", 7),
    ("FRA", 6),
    ("DEU", 6),
    ("IND", 6),
    ("ITA", 5),
    ("UKR", 4),
)
LEVEL_WEIGHTS = (40, 30, 20, 10)  # lowest level first, truncated to the policy's levels
AREAS = ((None, 30), ("maritime", 20), ("air", 15), ("cyber", 15), ("space", 10), ("land", 10))
RELEASABLE_OWN: tuple[tuple[tuple[str, ...], int], ...] = (
    ((), 20),
    (("CAN",), 15),
    (("FVEY",), 20),
    (("USA",), 10),
    (("CAN", "USA"), 10),
    (("FVEY", "NATO"), 10),
    (("KOR", "AUS"), 5),
    (("GBR", "FRA", "DEU"), 10),
)
RELEASABLE_FOREIGN: tuple[tuple[tuple[str, ...], int], ...] = (  # the originator is left out
    ((), 15),
    (("JPN",), 35),
    (("JPN", "FVEY"), 15),
    (("FVEY",), 10),
    (("JPN", "CAN"), 10),
    (("JPN", "GBR", "USA"), 15),
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
    Person("jp-tokutei", "JPN", "TOKUTEI", TOPICS[:4]),
    Person("ca-s", "CAN", "S", TOPICS[:3]),
    Person("us-ts", "USA", "TS", TOPICS),
    Person("gb-s", "GBR", "S", ("maritime", "cyber")),
)


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 items, 20 s runs")
    parser.add_argument("--items", type=int, help="items in the large corpus (default 1,000,000)")
    parser.add_argument(
        "--small",
        type=int,
        default=10_000,
        help="items in the comparison corpus (default 10,000; 0: none)",
    )
    parser.add_argument("--duration", type=float, help="seconds of load per run (default 60)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="gsoia serve --workers: server processes (default: one per CPU)",
    )
    parser.add_argument(
        "--backends", default=",".join(ALL_BACKENDS), help="comma-separated: postgresql,sqlite"
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk (Debian package), python (httpx threads), auto: wrk if found",
    )
    parser.add_argument("--batch", type=int, default=5_000, help="items per load transaction")
    parser.add_argument("--content-bytes", type=int, default=256, help="content size per item")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-url", default=PG_SERVER, help="PostgreSQL server (env GSOIA_TEST_PG)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then cProfile Node.list_items in process on the --items corpus of each backend",
    )
    parser.add_argument(
        "--profile-calls", type=int, default=20, help="list_items calls per reader profiled"
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    args.items = args.items or (100_000 if quick else 1_000_000)
    args.duration = args.duration or (20.0 if quick else 60.0)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(ALL_BACKENDS))
    if unknown:
        parser.error(f"--backends: unknown {', '.join(unknown)} (postgresql, sqlite)")
    if min(args.items, args.connections, args.batch, args.workers) < 1 or args.small < 0:
        parser.error("--items, --connections, --batch and --workers must be >= 1, --small >= 0")
    if args.generator == "auto":
        args.generator = "wrk" if shutil.which("wrk") else "python"
    elif args.generator == "wrk" and not shutil.which("wrk"):
        parser.error(f"--generator wrk: wrk is not on PATH ({WRK_INSTALL})")
    return args


# -- the corpus --------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


@dataclass
class Batch:
    """One load transaction's items: this node's own labels and received items."""

    own: list[dict[str, Any]]  # label dicts, as POST /api/v1/items takes them
    received: list[dict[str, Any]]  # item dicts, as store_received takes them


def make_batch(index: int, size: int, seed: int, levels: dict[str, list[str]]) -> Batch:
    """Batch ``index`` of the corpus: the same for any corpus size (seeded per batch), so a
    smaller corpus is a prefix of a larger one."""
    rng = random.Random(f"{seed}:{index}")
    batch = Batch([], [])
    for i in range(size):
        originator = _pick(rng, ORIGINATORS)
        ranks = levels[originator]
        classification = rng.choices(ranks, LEVEL_WEIGHTS[: len(ranks)])[0]
        area = _pick(rng, AREAS)
        need = sorted(rng.sample(TOPICS, _pick(rng, TOPIC_COUNTS)))
        if originator == NATION:
            releasable = list(_pick(rng, RELEASABLE_OWN))
            label: dict[str, Any] = {"originator": NATION, "classification": classification}
            if area is not None:
                label["area"] = area
            label["releasable_to"] = releasable
            label["need_to_know"] = need
            batch.own.append(label)
            continue
        releasable = [p for p in _pick(rng, RELEASABLE_FOREIGN) if p != originator]
        n = index * size + i
        batch.received.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "title": f"{originator} report {n}",
                "originator": originator,
                "classification": classification,
                "area": area,
                "releasable_to": releasable,
                "need_to_know": need,
                "created_at": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T08:00:00+00:00",
                "created_by": f"{originator.lower()}-analyst-{n % 50}",
            }
        )
    return batch


def policy_levels(rulebook: Rulebook) -> dict[str, list[str]]:
    policies = rulebook.catalogue.policies
    return {p: [level.id for level in policies[p].levels] for p, _ in ORIGINATORS}


# -- a served node ----------------------------------------------------------------------


@dataclass
class Store:
    backend: str
    url: str | None  # None: SQLite in the data directory
    schema: str | None
    admin: Any = None  # an engine on the PostgreSQL server

    def size_bytes(self, data: Path) -> int | None:
        if self.backend == "sqlite":
            return sum(p.stat().st_size for p in data.glob("*.db*"))
        with self.admin.connect() as connection:
            size = connection.execute(
                text("SELECT pg_total_relation_size(:t)"), {"t": f'"{self.schema}".items'}
            ).scalar()
        return int(size) if size is not None else None

    def analyze(self) -> None:
        """What autovacuum does after a bulk load, done now so the plans are settled; and
        a checkpoint, so the load's dirty pages are not flushed during the timed run (a
        node in service has no gigabyte of fresh writes behind it)."""
        if self.backend == "postgresql":
            with self.admin.begin() as connection:
                connection.execute(text(f'ANALYZE "{self.schema}".items'))
            with suppress(Exception), self.admin.connect() as connection:  # needs superuser
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("CHECKPOINT")
                )


@contextmanager
def store(backend: str, pg_url: str) -> Iterator[Store]:
    """SQLite in the data directory, or a fresh PostgreSQL schema, dropped at the end."""
    if backend == "sqlite":
        yield Store(backend, None, None)
        return
    schema = f"gsoia_scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield Store(backend, f"{pg_url}?options=-csearch_path%3D{schema}", schema, admin)
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
    workers: int = 1

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        path = self.data / "serve.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_size(self) -> int:
        path = self.data / "serve.log"
        return path.stat().st_size if path.exists() else 0

    def logged_ms(self, offset: int) -> list[float]:
        """The server's own time (``ms``) of each listing in its JSON request log from
        ``offset`` on, sorted; empty if the log has no such field."""
        path = self.data / "serve.log"
        if not path.exists():
            return []
        with open(path, "rb") as log:
            log.seek(offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        found = []
        for line in lines:
            if not line.startswith("{") or '"/api/v1/items"' not in line:
                continue
            with suppress(ValueError):
                entry = json.loads(line)
                if entry.get("path") == "/api/v1/items" and "ms" in entry:
                    found.append(float(entry["ms"]))
        return sorted(found)

    def log_unusual(self, lines: int) -> str:
        """Log lines of requests not answered 200, and of errors."""
        path = self.data / "serve.log"
        if not path.exists():
            return ""
        found = []
        for line in path.read_text(errors="replace").splitlines():
            if '"status": 200,' in line and '"level": "info"' in line:
                continue
            if "/healthz" in line:
                continue
            found.append(line[:400])
        return "\n".join(found[-lines:])

    def start(self) -> float:
        """Start ``gsoia serve``; returns the seconds until /healthz answers and every
        worker has started."""
        self.port = processes.free_port()
        args = [GSOIA, "serve", "--data", str(self.data), "--port", str(self.port)]
        if self.url:
            args += ["--database", self.url]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        t0 = time.perf_counter()
        with open(self.data / "serve.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        failed = processes.wait_until_healthy(self.base, self.process, 600)
        if failed:
            raise RuntimeError(f"gsoia serve {failed}:\n{self.log_tail()}")
        # every worker started, not only the first: a worker still loading takes no
        # connection, and the load's connections would all fall on the others
        if processes.wait_until_idle(self.process.pid, 600) is None:
            raise RuntimeError(f"gsoia serve still busy after 600 s:\n{self.log_tail()}")
        return time.perf_counter() - t0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server's processes so far (Linux), or None."""
        return None if self.process is None else processes.cpu_seconds(self.process.pid)

    def memory_mib(self) -> tuple[float, float] | None:
        """The resident set of the server's processes now and at their peaks, MiB."""
        return None if self.process is None else processes.memory_mib(self.process.pid)

    def connections(self) -> list[int]:
        """Clients' connections held by each server process that holds any (Linux)."""
        return [] if self.process is None else processes.connections(self.process.pid, self.port)


# -- loading ------------------------------------------------------------------------------


@dataclass
class Expected:
    """What ``decide_many`` allows a reader: the count, and the first page's ids."""

    total: int = 0
    first: list[str] = field(default_factory=list)


@dataclass
class Loaded:
    items: int
    own: int
    received: int
    wall_s: float
    own_s: float  # inside store_items (prepare_item excluded)
    received_s: float  # inside the store_received transactions
    analyze_s: float
    size_bytes: int | None
    loader_peak_mib: float
    tokens: dict[str, str]
    expected: dict[str, Expected]
    originators: dict[str, int]

    @property
    def rate(self) -> float:
        return self.items / self.wall_s


def load(data: Path, where: Store, n: int, args: argparse.Namespace) -> Loaded:
    """A JPN node in ``data`` holding ``n`` items, and the readers' tokens."""
    node = Node.init(data, NATION, database=where.url)
    try:
        tokens: dict[str, str] = {}
        creator: User | None = None
        for person in (CREATOR, *READERS):
            user, token = node.add_user(
                person.id,
                person.nation,
                clearance=person.clearance,
                need_to_know=list(person.need_to_know),
            )
            tokens[person.id] = token
            if person is CREATOR:
                creator = user
        assert creator is not None
        rulebook = gsoia.load_catalogue()
        levels = policy_levels(rulebook)
        today = dt.datetime.now(dt.UTC).date()  # the node decides on the UTC date
        expected = {r.id: Expected() for r in READERS}
        originators: dict[str, int] = {}
        content = (b"lorem ipsum dolor sit amet " * (args.content_bytes // 27 + 1))[
            : args.content_bytes
        ]
        own_s = received_s = 0.0
        own = received = 0
        done = 0
        step = max(1, n // 10)
        next_report = step
        t0 = time.perf_counter()
        for index in range(math.ceil(n / args.batch)):
            batch = make_batch(index, min(args.batch, n - index * args.batch), args.seed, levels)
            drafts: list[Draft] = [
                node.prepare_item(creator, label, f"JPN report {index}-{i}", content)
                for i, label in enumerate(batch.own)
            ]
            ids: list[str] = []
            if drafts:
                t1 = time.perf_counter()
                views = node.store_items(creator, drafts)
                own_s += time.perf_counter() - t1
                ids = [view["id"] for view in views]
            if batch.received:
                t1 = time.perf_counter()
                # No audit entry per received item: federation appends one per package
                # ("package.received"); the bulk load skips them (see the README).
                with node.audit.transaction() as tx:
                    for item in batch.received:
                        node.store_received(
                            tx,
                            item,
                            content,
                            sender=item["originator"],
                            package_id=str(uuid.uuid4()),
                            marking=f"{item['originator']} {item['classification']}",
                        )
                received_s += time.perf_counter() - t1
            own += len(drafts)
            received += len(batch.received)
            # the expected listing, in the order the items were stored (their seq)
            held = [{**label, "custodian": NATION, "consented_to": []} for label in batch.own] + [
                {
                    "originator": item["originator"],
                    "classification": item["classification"],
                    "area": item["area"],
                    "releasable_to": item["releasable_to"],
                    "need_to_know": item["need_to_know"],
                    "custodian": NATION,
                    "consented_to": [],
                }
                for item in batch.received
            ]
            ids += [item["id"] for item in batch.received]
            for label in held:
                originators[label["originator"]] = originators.get(label["originator"], 0) + 1
            table = rulebook.label_table(held)
            for reader in READERS:
                allowed = rulebook.decide_many(reader.subject(), table, at=today)
                want = expected[reader.id]
                want.total += int(allowed.sum())
                if len(want.first) < 100:
                    want.first += [ids[i] for i in np.flatnonzero(allowed)[: 100 - len(want.first)]]
            done = own + received
            if done >= next_report and n >= 50_000:
                elapsed = time.perf_counter() - t0
                print(
                    f"    {done:>10,} items  {elapsed:7.1f} s  {done / elapsed:8,.0f} items/s"
                    f"  (loader RSS peak {_peak_mib():,.0f} MiB)",
                    flush=True,
                )
                next_report += step
        wall = time.perf_counter() - t0
    finally:
        node.close()
    del node
    gc.collect()
    t1 = time.perf_counter()
    where.analyze()
    analyze_s = time.perf_counter() - t1
    return Loaded(
        items=done,
        own=own,
        received=received,
        wall_s=wall,
        own_s=own_s,
        received_s=received_s,
        analyze_s=analyze_s,
        size_bytes=where.size_bytes(data),
        loader_peak_mib=_peak_mib(),
        tokens=tokens,
        expected=expected,
        originators=originators,
    )


# -- load generators ----------------------------------------------------------------------


@dataclass
class LoadRun:
    generator: str
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    errors: dict[str, int]  # connect, read, write, timeout, non2xx
    per_user: list[tuple[str, int, int]]  # user, responses, non-2xx
    bytes: int
    raw: str = ""
    server_cpu_s: float | None = None
    bad_statuses: list[int] = field(default_factory=list)  # (wrk: the last per thread)
    server_ms: list[float] = field(default_factory=list)  # per request, from the server's log

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


WRK_SCRIPT = r"""
-- gsoia bench_scale: one reader per wrk thread, its token in the Authorization header.
local users = {USERS}
local threads = {}
local made = 0

function setup(thread)
  made = made + 1
  local u = users[((made - 1) % #users) + 1]
  thread:set("user", u[1])
  thread:set("token", u[2])
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. token
  responses = 0
  non2xx = 0
  bad = 0
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    bad = status
  end
end

function done(summary, latency, requests)
  local per = {}
  for _, t in ipairs(threads) do
    per[#per + 1] = string.format('["%s",%d,%d,%d]',
      t:get("user"), t:get("responses"), t:get("non2xx"), t:get("bad"))
  end
  local e = summary.errors
  io.write(string.format(
    'GSOIA_WRK {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f,' ..
    '"mean":%.1f,"threads":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, table.concat(per, ",")))
end
"""


def run_wrk(served: Served, users: list[tuple[str, str]], args: argparse.Namespace) -> LoadRun:
    """``wrk`` with one thread per reader (connections spread over the threads)."""
    threads = min(len(users), args.connections)
    lua = ", ".join(f'{{"{u}", "{t}"}}' for u, t in users)
    script = served.data / "bench_scale.lua"  # holds tokens: the data directory is 0700
    script.write_text(WRK_SCRIPT.replace("{USERS}", "{" + lua + "}"), encoding="utf-8")
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(args.duration))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        served.base + PATH,
    ]
    out = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=args.duration + 120, check=False
    )
    script.unlink()
    line = next((x for x in out.stdout.splitlines() if x.startswith("GSOIA_WRK ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    got = json.loads(line.removeprefix("GSOIA_WRK "))
    per_user: dict[str, list[int]] = {}
    statuses: set[int] = set()
    for user, responses, non2xx, bad in got["threads"]:
        counts = per_user.setdefault(user, [0, 0])
        counts[0] += responses
        counts[1] += non2xx
        if bad:
            statuses.add(int(bad))
    raw = "\n".join(x for x in out.stdout.splitlines() if not x.startswith("GSOIA_WRK "))
    return LoadRun(
        generator=f"wrk -t{threads} -c{args.connections}",
        requests=int(got["requests"]),
        duration_s=got["duration_us"] / 1e6,
        p50_ms=got["p50"] / 1e3,
        p90_ms=got["p90"] / 1e3,
        p99_ms=got["p99"] / 1e3,
        max_ms=got["max"] / 1e3,
        mean_ms=got["mean"] / 1e3,
        errors={
            "connect": got["connect"],
            "read": got["read"],
            "write": got["write"],
            "timeout": got["timeout"],
            "non2xx": sum(c[1] for c in per_user.values()),
        },
        per_user=[(u, c[0], c[1]) for u, c in per_user.items()],
        bytes=int(got["bytes"]),
        raw=raw,
        bad_statuses=sorted(statuses),
    )


def run_python(served: Served, users: list[tuple[str, str]], args: argparse.Namespace) -> LoadRun:
    """The fallback: one thread and keep-alive ``httpx.Client`` per connection (connection
    i as reader i mod 4), closed loop, in this process (so its CPU is the server's too)."""
    latencies: list[list[float]] = [[] for _ in range(args.connections)]
    non2xx = [0] * args.connections
    transport = [0] * args.connections
    received = [0] * args.connections
    bad: set[int] = set()
    barrier = threading.Barrier(args.connections + 1)
    stop_at = [0.0]

    def work(k: int) -> None:
        token = users[k % len(users)][1]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=served.base, headers=headers, timeout=10) as client:
            barrier.wait()
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                try:
                    response = client.get(PATH)
                except httpx.HTTPError:
                    transport[k] += 1
                    continue
                latencies[k].append((time.perf_counter() - t0) * 1e3)
                received[k] += len(response.content)
                if not 200 <= response.status_code <= 299:
                    non2xx[k] += 1
                    bad.add(response.status_code)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(args.connections)]
    for worker in workers:
        worker.start()
    stop_at[0] = time.perf_counter() + args.duration
    barrier.wait()
    t0 = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - t0
    merged = sorted(ms for part in latencies for ms in part)
    per_user: dict[str, list[int]] = {}
    for k in range(args.connections):
        counts = per_user.setdefault(users[k % len(users)][0], [0, 0])
        counts[0] += len(latencies[k])
        counts[1] += non2xx[k]
    return LoadRun(
        generator=f"python (httpx, {args.connections} threads)",
        requests=len(merged),
        duration_s=wall,
        p50_ms=_pct(merged, 50),
        p90_ms=_pct(merged, 90),
        p99_ms=_pct(merged, 99),
        max_ms=merged[-1] if merged else float("nan"),
        mean_ms=statistics.fmean(merged) if merged else float("nan"),
        errors={"transport": sum(transport), "non2xx": sum(non2xx)},
        per_user=[(u, c[0], c[1]) for u, c in per_user.items()],
        bytes=sum(received),
        bad_statuses=sorted(bad),
    )


# -- one corpus on one backend --------------------------------------------------------------


@dataclass
class Run:
    backend: str
    items: int
    skipped: str | None = None
    loaded: Loaded | None = None
    start_s: float = 0.0
    memory_after_start: tuple[float, float] | None = None
    memory_after_run: tuple[float, float] | None = None
    single: dict[str, list[float]] = field(default_factory=dict)  # one client, ms
    load_run: LoadRun | None = None
    failures: list[str] = field(default_factory=list)


def run_one(backend: str, n: int, args: argparse.Namespace, profile: bool) -> Run:
    run = Run(backend, n)
    print(f"\n== {backend}, {n:,} items ==", flush=True)
    with ExitStack() as stack:
        try:
            where = stack.enter_context(store(backend, args.pg_url))
        except Exception as e:  # no PostgreSQL server here: not a correctness failure
            run.skipped = f"cannot reach PostgreSQL at {args.pg_url}: {type(e).__name__}: {e}"
            print(f"  SKIPPED: {run.skipped}")
            return run
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gsoia-bench-scale-")))
        data = tmp / "jpn"
        served = Served(data, where.url, workers=args.workers)
        stack.callback(served.stop)
        try:
            _run(run, where, served, args, profile)
        except Exception as e:
            run.failures.append(f"{type(e).__name__}: {e}")
            print(f"  FAILED: {type(e).__name__}: {e}")
            tail = served.log_tail()
            if tail:
                print("  server log (last lines):\n" + _indent(tail, 4))
    return run


def _run(run: Run, where: Store, served: Served, args: argparse.Namespace, profile: bool) -> None:
    n = run.items
    place = "SQLite in the data directory" if where.url is None else "a fresh PostgreSQL schema"
    print(
        f"  [load] {n:,} items into a new {NATION} node on {place}, {args.batch:,} per transaction"
    )
    loaded = load(served.data, where, n, args)
    run.loaded = loaded
    print(
        f"    {loaded.items:,} items in {loaded.wall_s:.1f} s = {loaded.rate:,.0f} items/s:"
        f" {loaded.own:,} own by store_items ({_rate(loaded.own, loaded.own_s)} items/s),"
        f" {loaded.received:,} received by store_received"
        f" ({_rate(loaded.received, loaded.received_s)} items/s)"
    )
    rest = loaded.wall_s - loaded.own_s - loaded.received_s
    print(
        f"    (of the wall: generation, prepare_item and the expected listings {rest:.1f} s);"
        f" ANALYZE {loaded.analyze_s:.1f} s; loader RSS peak {loaded.loader_peak_mib:,.0f} MiB;"
        f" items table {_mib(loaded.size_bytes)}"
    )
    print(
        "    originators: "
        + ", ".join(f"{o} {c / loaded.items:.0%}" for o, c in loaded.originators.items())
    )

    run.start_s = served.start()
    run.memory_after_start = served.memory_mib()
    pid = served.process.pid if served.process else "?"
    print(
        f"  [serve] gsoia serve (pid {pid}) answered /healthz, every worker started,"
        f" after {run.start_s:.1f} s; RSS {_mem(run.memory_after_start)}"
    )

    users = [(r.id, loaded.tokens[r.id]) for r in READERS]
    print(f"  [check] first page and `total` per reader against decide_many; one client, {PATH}")
    for reader in READERS:
        want = loaded.expected[reader.id]
        times: list[float] = []
        with httpx.Client(
            base_url=served.base,
            headers={"Authorization": f"Bearer {loaded.tokens[reader.id]}"},
            timeout=60,
        ) as client:
            for i in range(21):  # the first untimed: it resolves the reader's rules
                t0 = time.perf_counter()
                response = client.get(PATH)
                elapsed = (time.perf_counter() - t0) * 1e3
                if response.status_code != 200:
                    run.failures.append(f"{reader.id}: {response.status_code}")
                    print(f"    WRONG: {reader.id}: {response.status_code} {response.text[:200]}")
                    break
                if i == 0:
                    page = response.json()
                    got = [item["id"] for item in page["items"]]
                    if page["total"] != want.total or got != want.first:
                        run.failures.append(f"{reader.id}: listing differs from decide_many")
                        print(
                            f"    WRONG: {reader.id}: total {page['total']:,} (decide_many"
                            f" {want.total:,}); first page {len(got)} ids,"
                            f" {sum(a == b for a, b in zip(got, want.first, strict=False))}"
                            f" as expected of {len(want.first)}"
                        )
                else:
                    times.append(elapsed)
        run.single[reader.id] = sorted(times)
        if times:
            print(
                f"    {reader.describe()}: sees {want.total:,} of {n:,}"
                f" ({want.total / n:.0%}); first page as expected;"
                f" alone: p50 {_pct(sorted(times), 50):.1f} ms over {len(times)} requests"
            )

    print(
        f"  [load test] {args.connections} connections for {args.duration:.0f} s,"
        f" GET {PATH}, readers {', '.join(r.id for r in READERS)}"
    )
    cpu0 = served.cpu_seconds()
    log_from = served.log_size()
    split: list[list[int]] = []  # sampled once the load is on
    sampler = threading.Timer(
        min(5.0, args.duration / 3), lambda: split.append(served.connections())
    )
    sampler.start()
    result = (
        run_wrk(served, users, args) if args.generator == "wrk" else run_python(served, users, args)
    )
    sampler.cancel()
    cpu1 = served.cpu_seconds()
    if cpu0 is not None and cpu1 is not None:
        result.server_cpu_s = cpu1 - cpu0
    result.server_ms = served.logged_ms(log_from)
    run.load_run = result
    run.memory_after_run = served.memory_mib()
    if result.raw:
        print(_indent(result.raw, 6))
    print(
        f"    {result.generator}: {result.requests:,} requests in {result.duration_s:.1f} s"
        f" = {result.rate:,.1f} requests/s; latency p50 {result.p50_ms:.1f} ms,"
        f" p90 {result.p90_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, max {result.max_ms:.1f} ms,"
        f" mean {result.mean_ms:.1f} ms; {result.bytes / max(1, result.requests) / 1024:.0f} KiB"
        " per response"
    )
    if result.server_ms:
        ms = result.server_ms
        print(
            f"    the server's own time per listing (its request log, {len(ms):,} requests, no"
            f" correction): p50 {_pct(ms, 50):.1f} ms, p90 {_pct(ms, 90):.1f} ms,"
            f" p99 {_pct(ms, 99):.1f} ms, max {ms[-1]:.1f} ms"
        )
    if result.server_cpu_s is not None and result.requests:
        print(
            f"    server CPU {result.server_cpu_s:.1f} s ="
            f" {result.server_cpu_s / result.requests * 1e3:.1f} ms per request"
            f" ({result.server_cpu_s / result.duration_s:.0%} of one core);"
            f" RSS {_mem(run.memory_after_run)}"
        )
    if split and split[0]:
        print(
            f"    the {args.connections} connections on the server's {served.workers} worker(s):"
            f" {' + '.join(map(str, split[0]))} (the workers take turns accepting, to hold as"
            " many each: a worker holding more answers each more slowly)"
        )
    print(
        "    per reader: "
        + "; ".join(f"{u} {r:,} responses, {b} non-2xx" for u, r, b in result.per_user)
    )
    print(
        f"    errors: {result.error_count} ("
        + ", ".join(f"{k} {v}" for k, v in result.errors.items())
        + ")"
    )
    if result.error_count:
        run.failures.append(f"{result.error_count} request errors under load")
        if result.bad_statuses:
            print(f"    non-2xx statuses seen: {', '.join(map(str, result.bad_statuses))}")
        print("    server log, requests not answered 200 and errors (up to 10):")
        print(_indent(served.log_unusual(10) or "(none)", 6))
    if result.requests == 0:
        run.failures.append("no request completed under load")
    served.stop()
    if profile:
        profile_listing(run.backend, served.data, where.url, loaded.tokens, n, args)


# -- profiling ----------------------------------------------------------------------------


BREAKDOWN = (  # (label, file suffix, function name), cumulative time per listing
    ("list_items, in all", "node/service.py", "list_items"),
    ("  refresh (new rows since the last look)", "node/listing.py", "refresh"),
    ("  decide_many over every item", "decision/rulebook.py", "decide_many"),
    ("  _filter_mask (no filter given)", "node/listing.py", "_filter_mask"),
    ("  intact (SHA-384 + Ed25519 per row)", "node/vault.py", "intact"),
    ("    of it Ed25519 verify", "crypto/signing.py", "verify"),
    ("  decided_on (decide per row)", "node/item.py", "decided_on"),
    ("  item_view (a view per row)", "node/item.py", "item_view"),
    ("  audit append (sign the tree head)", "audit/log.py", "append"),
    ("  SQL execute (every statement)", "sqlalchemy/engine/base.py", "execute"),
    ("  commit", "sqlalchemy/engine/base.py", "_commit_impl"),
)


def profile_listing(
    backend: str,
    data: Path,
    url: str | None,
    tokens: dict[str, str],
    n: int,
    args: argparse.Namespace,
) -> None:
    """``Node.list_items`` in this process over the loaded corpus: unprofiled wall time per
    call, ``decide_many`` alone, then cProfile with a breakdown of where the time goes."""
    t0 = time.perf_counter()
    node = Node.open(data, database=url)
    opened = time.perf_counter() - t0
    try:
        users = [node.authenticate(tokens[r.id]) for r in READERS]
        calls = args.profile_calls
        for user in users:  # warm: each nation's rules resolved once
            node.list_items(user, limit=100)
        print(
            f"\n[profile] {backend} at {n:,} items: Node.open {opened:.1f} s"
            " (it loads the label columns);"
            f" {calls} list_items(limit=100) per reader"
        )
        table = node.columns.table()
        today = node.today()
        for user in users:
            t0 = time.perf_counter()
            for _ in range(calls):
                node.list_items(user, limit=100)
            wall = (time.perf_counter() - t0) / calls * 1e3
            t0 = time.perf_counter()
            for _ in range(calls):
                node.rulebook.decide_many(user.subject(), table, at=today)
            alone = (time.perf_counter() - t0) / calls * 1e3
            print(
                f"  {user.id}: list_items {wall:.1f} ms per call unprofiled;"
                f" decide_many over {node.columns.size:,} labels alone"
                f" {alone:.1f} ms"
            )
        profiler = cProfile.Profile()
        profiler.enable()
        for user in users:
            for _ in range(calls):
                node.list_items(user, limit=100)
        profiler.disable()
    finally:
        node.close()
    listings = calls * len(users)
    stats = pstats.Stats(profiler)
    print(f"  where the time goes (cProfile, cumulative ms per listing, {listings} listings):")
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for label, suffix, name in BREAKDOWN:
        cumulative = sum(
            v[3] for (file, _line, func), v in raw.items() if func == name and file.endswith(suffix)
        )
        print(f"    {label:<46}{cumulative / listings * 1e3:8.2f} ms")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print("  top functions by own time:")
    print(_indent(_trim_stats(out.getvalue()), 4))


def _trim_stats(report: str) -> str:
    lines = report.splitlines()
    start = next((i for i, x in enumerate(lines) if x.strip().startswith("ncalls")), 0)
    return "\n".join(
        line.replace(str(Path(sys.prefix)), "<venv>") for line in lines[start:] if line.strip()
    )


# -- the report -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _options(argv)
    print("gsoia scale benchmark")
    print(
        f"  python {platform.python_version()}, gsoia {_version('gsoia')},"
        f" fastapi {_version('fastapi')}, uvicorn {_version('uvicorn')},"
        f" SQLAlchemy {_version('SQLAlchemy')}, psycopg {_version('psycopg')};"
        f" {platform.machine()}, {_cpu_count()} CPUs, {_mem_total()}"
    )
    print(
        f"  source: {_source()}; load average at start: {_load()};"
        f" 10⁷ additions in {targets.loop_seconds():.2f} s of CPU (the machine's speed)"
    )
    generator = args.generator
    if generator == "wrk":
        generator += f" ({_wrk_version()})"
    else:
        generator += f" (wrk not used: {WRK_INSTALL}; the figures share this process's CPU)"
    sizes = [args.items] + ([args.small] if args.small and args.small != args.items else [])
    print(
        f"  corpora {', '.join(f'{s:,}' for s in sizes)} items; {args.connections} connections"
        f" for {args.duration:.0f} s per run; gsoia serve --workers {args.workers};"
        f" load generator {generator};"
        f" backends {', '.join(args.backends)}; batch {args.batch:,}; content"
        f" {args.content_bytes} bytes; seed {args.seed}"
    )
    print(f"  readers: {'; '.join(r.describe() for r in READERS)}")
    runs: list[Run] = []
    for backend in args.backends:
        for i, size in enumerate(sizes):
            runs.append(run_one(backend, size, args, profile=args.profile and i == 0))
            gc.collect()

    print("\n[summary]")
    print(
        f"  {'backend':<11}{'items':>10}{'load items/s':>14}{'req/s':>9}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}{'CPU ms/req':>12}{'errors':>8}"
    )
    for run in runs:
        if run.skipped or run.loaded is None or run.load_run is None:
            note = "SKIPPED" if run.skipped else "FAILED"
            print(f"  {run.backend:<11}{run.items:>10,}  {note}")
            continue
        r = run.load_run
        cpu = f"{r.server_cpu_s / r.requests * 1e3:.1f}" if r.server_cpu_s and r.requests else "?"
        print(
            f"  {run.backend:<11}{run.items:>10,}{run.loaded.rate:>14,.0f}{r.rate:>9,.1f}"
            f"{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.max_ms:>9.1f}{cpu:>12}{r.error_count:>8}"
        )
    checks: list[tuple[str, str, str, bool | None]] = []
    failures = 0
    for run in runs:
        failures += len(run.failures)
        if run.load_run is None:
            continue
        r = run.load_run
        checks.append(
            (
                f"{run.backend} {run.items:,} p99",
                f"{r.p99_ms:.1f} ms (p50 {r.p50_ms:.1f})",
                f"<= {TARGET_P99_MS:.0f} ms",
                r.p99_ms <= TARGET_P99_MS,
            )
        )
        targets.record(
            f"listing at {run.items:,} items, {args.connections} connections,"
            f" {args.duration:.0f} s: p99 ≤ {TARGET_P99_MS:.0f} ms, 0 errors ({run.backend})",
            f"p99 {r.p99_ms:.1f} ms, p50 {r.p50_ms:.1f} ms, {r.rate:,.1f} requests/s,"
            f" {r.error_count} errors",
            r.p99_ms,
            r.p99_ms <= TARGET_P99_MS and r.error_count == 0,
        )
    for backend in args.backends:
        done = {
            run.items: run.load_run
            for run in runs
            if run.backend == backend and run.load_run is not None
        }
        if args.items in done and args.small in done and args.small != args.items:
            big, small = done[args.items], done[args.small]
            growth = big.p99_ms / small.p99_ms
            checks.append(
                (
                    f"{backend} p99 {args.items:,} / {args.small:,}",
                    f"{growth:.2f}x (p50 {big.p50_ms / small.p50_ms:.2f}x,"
                    f" req/s {small.rate / big.rate:.2f}x)",
                    f"<= {TARGET_GROWTH:.0f}x",
                    growth <= TARGET_GROWTH,
                )
            )
            targets.record(
                f"p99 at {args.items:,} items ≤ {TARGET_GROWTH:g}× p99 at {args.small:,}"
                f" ({backend})",
                f"p99 {big.p99_ms:.1f} ms",
                growth,
                growth <= TARGET_GROWTH,
                peer=f"p99 {small.p99_ms:.1f} ms at {args.small:,}",
                ratio=growth,
            )
            if big.server_cpu_s and small.server_cpu_s and big.requests and small.requests:
                cpu = (big.server_cpu_s / big.requests) / (small.server_cpu_s / small.requests)
                checks.append(
                    (
                        f"{backend} CPU/req {args.items:,} / {args.small:,}",
                        f"{cpu:.2f}x (server CPU per request: less noisy)",
                        "",
                        None,
                    )
                )
    for run in runs:
        if run.loaded is not None or run.skipped:
            checks.append(
                (
                    f"{run.backend} {run.items:,} correctness",
                    "SKIPPED" if run.skipped else f"{len(run.failures)} failures",
                    "0",
                    None if run.skipped else not run.failures,
                )
            )
    print()
    for name, value, target, ok in checks:
        mark = "" if ok is None else ("PASS" if ok else "MISS")
        print(f"  {name:<40}{value:<46}{target:<10}{mark}")
    print(
        f"\n  load average at end: {_load()} on {_cpu_count()} CPUs (above it, timings are shared);"
        f" 10⁷ additions in {targets.loop_seconds():.2f} s of CPU"
    )
    print(f"correctness failures: {failures}")
    return 1 if failures else 0


# -- helpers --------------------------------------------------------------------------------


def _pct(ordered: list[float], p: float) -> float:
    """The p-th percentile of sorted values (nearest rank)."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "-"


def _mib(size: int | None) -> str:
    return "?" if size is None else f"{size / 2**20:,.0f} MiB"


def _mem(memory: tuple[float, float] | None) -> str:
    return "?" if memory is None else f"{memory[0]:,.0f} MiB (peak {memory[1]:,.0f} MiB)"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _indent(text_: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text_.splitlines())


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)  # noqa: S607
    except OSError:
        return "?"
    return (out.stdout or out.stderr).split("Copyright")[0].strip() or "?"


def _source() -> str:
    """The commit of the source tree measured, and whether src/ differs from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(  # noqa: S603
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}" + (" + uncommitted changes in src/" if dirty else "")


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _mem_total() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return "? memory"
    return f"{pages / 2**30:.0f} GiB"


if __name__ == "__main__":
    sys.exit(main())
