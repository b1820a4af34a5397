"""TAXII 2.1 benchmark: gsoia beside medallion 3 (memory backend), one taxii2-client script.

1. Side by side: write N indicators (default 2,000) in envelopes of E (100) to each server,
   then read them all back page by page (P per page, 100), with the OASIS taxii2-client.
   Repeated R times (default 3), each round on freshly started servers, the order of the
   two servers alternating; the summary takes the median of each ratio over the rounds.
2. gsoia alone on a larger store (default 100,000 objects): the same writes and reads.

Targets: gsoia writes at >= 1.5x medallion's rate while labelling, encrypting and
auditing; reads >= 100x medallion's rate; at the large size its read rate stays within 2x
of its rate at N. The CPU time each server process spends on the writes and on the reads
is printed too (Linux): on a shared machine it varies far less than the rates. PASS/MISS
is printed; the exit status is 0 unless something is wrong
(a server fails to start, or a read does not return exactly what was written).

    python benchmarks/bench_taxii.py                 # 2,000 side by side, then 100,000
    python benchmarks/bench_taxii.py --large 0       # side by side only
    python benchmarks/bench_taxii.py --rounds 5      # five side-by-side rounds
    python benchmarks/bench_taxii.py --quick         # the same, while iterating
    python benchmarks/bench_taxii.py --tiny          # a few hundred objects (the test)
    python benchmarks/bench_taxii.py --profile       # gsoia's write path in process, cProfile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from taxii2client.v21 import Collection, as_pages

import processes
import targets
from gsoia.node.service import Node
from gsoia.node.stix import EXTENSION_ID
from profile_servers import recording

BIN = Path(sys.executable).parent
TARGET_WRITE = 1.5
"""gsoia's write rate over medallion's."""
TARGET_READ = 100.0
"""gsoia's read rate over medallion's."""
MEDALLION_COLLECTION = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4"
GSOIA_COLLECTION = "9b1f4c7e-2d3a-4e5b-8f61-0c7a2b9d4e13"


def indicator(n: int) -> dict[str, Any]:
    """An indicator labelled JPN GOKUHI, releasable to Canada (medallion ignores the label)."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-03-01T00:00:00.000Z",
        "modified": "2026-03-01T00:00:00.000Z",
        "name": f"Beacon {n}",
        "description": "An address seen in beacons from patrol craft.",
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}']",
        "pattern_type": "stix",
        "valid_from": "2026-03-01T00:00:00Z",
        "extensions": {
            EXTENSION_ID: {
                "extension_type": "property-extension",
                "originator": "JPN",
                "classification": "GOKUHI",
                "area": "defence",
                "releasable_to": ["CAN"],
            }
        },
    }


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    written: int
    write_s: float
    read: int
    read_s: float
    first_page_s: float
    pages: int
    write_cpu: float = 0.0
    """CPU seconds the server spent on the writes (its process, any load)."""
    read_cpu: float = 0.0

    @property
    def write_rate(self) -> float:
        return self.written / self.write_s

    @property
    def read_rate(self) -> float:
        return self.read / self.read_s


WARMUP = 10
"""Objects written once before the clock starts, to each server: its first request's
one-time costs (lazy imports, caches) are not counted in either's rate or CPU."""


def warm_up(collection: Collection) -> None:
    objects = [indicator(-1 - n) for n in range(WARMUP)]
    status = collection.add_objects({"objects": objects}, poll_interval=0.05)
    if status.success_count != WARMUP:
        raise SystemExit(f"warm-up write failed: {status.failures[:3]}")


def drive(
    collection: Collection,
    reader: Collection,
    count: int,
    envelope: int,
    page: int,
    start: int = 0,
    quiet: bool = False,
    server: int | None = None,
    spy: tuple[Path, str] | None = None,
) -> Run:
    """The one client script: write ``count`` indicators, then read everything back.

    ``server``: the server's process id, to count the CPU time it spends; ``spy``: a
    directory and a name, py-spy on the server during the writes and during the reads.
    """
    directory, name = spy if spy is not None else (None, "")
    objects = [indicator(start + n) for n in range(count)]
    if start == 0:
        warm_up(collection)
    with recording(directory, f"{name}-write", server):
        cpu = cpu_seconds(server)
        began = time.perf_counter()
        for at in range(0, count, envelope):
            status = collection.add_objects(
                {"objects": objects[at : at + envelope]}, poll_interval=0.05
            )
            if status.success_count != len(objects[at : at + envelope]):
                raise SystemExit(f"write failed: {status.failures[:3]}")
            if not quiet and at and at % (envelope * 100) == 0:
                rate = at / (time.perf_counter() - began)
                print(f"    {at:,} written ({rate:,.0f}/s)", flush=True)
        write_s = time.perf_counter() - began
        write_cpu = cpu_seconds(server) - cpu
    read = pages = 0
    first_page_s = 0.0
    seen: set[str] = set()
    with recording(directory, f"{name}-read", server):
        cpu = cpu_seconds(server)
        began = time.perf_counter()
        for envelope_read in as_pages(reader.get_objects, per_request=page):
            found = envelope_read.get("objects", [])
            read += len(found)
            seen.update(o["id"] for o in found)
            pages += 1
            if pages == 1:
                first_page_s = time.perf_counter() - began
        read_s = time.perf_counter() - began
        read_cpu = cpu_seconds(server) - cpu
    wanted = {o["id"] for o in objects}
    if not wanted <= seen:
        raise SystemExit(f"read back {len(wanted & seen)} of the {count} objects written")
    return Run(count, write_s, read, read_s, first_page_s, pages, write_cpu, read_cpu)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, **kwargs: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=2, **kwargs)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")


@contextmanager
def serving(args: list[str], url: str, log: Path, **kwargs: Any) -> Iterator[int]:
    """Run a server until the block ends; its process id."""
    with open(log, "ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        wait_for(url, process, log, **kwargs)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gsoia_server(work: Path) -> Iterator[tuple[Collection, Collection, int]]:
    work.mkdir(parents=True, exist_ok=True)
    data = work / "gsoia"
    node = Node.init(data, "JPN")
    _, writer = node.add_user("jp", "JPN", clearance="KIMITSU")
    _, reader = node.add_user("ca", "CAN", clearance="S")
    node.close()
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(BIN / "gsoia"), "serve", "--data", str(data), "--port", str(port)]
    with serving(command, f"{url}/healthz", work / "gsoia.log") as pid:
        base = f"{url}/taxii2/api1/collections/{GSOIA_COLLECTION}/"
        yield (
            Collection(base, user="jp", password=writer),
            Collection(base, user="ca", password=reader),
            pid,
        )


@contextmanager
def medallion_server(work: Path, page: int) -> Iterator[tuple[Collection, int]]:
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    data = {
        "/discovery": {
            "title": "medallion",
            "description": "benchmark",
            "contact": "",
            "default": f"{url}/api1/",
            "api_roots": [f"{url}/api1/"],
        },
        "api1": {
            "information": {
                "title": "api1",
                "description": "benchmark",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 100 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": MEDALLION_COLLECTION,
                    "title": "benchmark",
                    "description": "",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (work / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module_class": "MemoryBackend",
            "module": "medallion.backends.memory_backend",
            "filename": str(work / "medallion-data.json"),
        },
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": page},
    }
    (work / "medallion.json").write_text(json.dumps(config))
    command = [str(BIN / "medallion"), "--port", str(port), str(work / "medallion.json")]
    log = work / "medallion.log"
    with serving(command, f"{url}/taxii2/", log, auth=("bench", "bench")) as pid:
        collection = Collection(
            f"{url}/api1/collections/{MEDALLION_COLLECTION}/",
            user="bench",
            password="bench",  # noqa: S106
        )
        yield collection, pid


def profile_writes(work: Path, count: int, envelope: int, top: int = 30) -> None:
    """What the server does for each envelope written, in process under cProfile: parse
    the body, authenticate, ``TaxiiStore.add`` and the status resource's JSON (no HTTP).
    """
    from gsoia.api.taxii import _envelope_objects, _taxii
    from gsoia.node.stix_index import INTEL
    from gsoia.node.taxii_store import TaxiiStore

    data = work / "gsoia"
    node = Node.init(data, "JPN")
    _, token = node.add_user("jp", "JPN", clearance="KIMITSU")
    node.close()
    node = Node.open(data)
    try:
        store = TaxiiStore(node)
        bodies = [
            json.dumps({"objects": [indicator(n) for n in range(at, min(at + envelope, count))]})
            for at in range(0, count, envelope)
        ]
        profiler = cProfile.Profile()
        cpu = time.process_time()
        profiler.enable()
        for body in bodies:
            user = node.authenticate(token, "jp")
            status = store.add(user, INTEL, _envelope_objects(body.encode()))
            _taxii(status, status=202)
        profiler.disable()
        cpu = time.process_time() - cpu
        if status["success_count"] != len(_envelope_objects(bodies[-1].encode())):
            raise SystemExit(f"write failed: {status.get('failures', [])[:3]}")
    finally:
        node.close()
    print(f"  {count:,} objects in process: {cpu / count * 1e6:,.0f} us CPU an object (profiled)")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def show(name: str, run: Run) -> None:
    print(
        f"  {name:<10} write {run.write_rate:>9,.0f} objects/s ({run.written:,} in"
        f" {run.write_s:.2f} s)   read {run.read_rate:>9,.0f} objects/s ({run.read:,} in"
        f" {run.read_s:.2f} s, {run.pages} pages, first page {run.first_page_s * 1000:.0f} ms)"
    )
    if run.write_cpu or run.read_cpu:
        print(
            f"  {'':<10} server CPU: write {run.write_cpu:.2f} s"
            f" ({run.write_cpu / run.written * 1e6:,.0f} us/object),"
            f" read {run.read_cpu:.2f} s ({run.read_cpu / max(run.read, 1) * 1e6:,.0f} us/object)"
        )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def side_by_side(
    work: Path, args: argparse.Namespace, round_: int, last: bool
) -> tuple[Run | None, Run, Run | None]:
    """One round: each server started afresh, written to and read from; on the last round
    gsoia goes on alone to ``--large``. medallion first in even rounds, second in odd."""
    medallion: Run | None = None
    small: Run | None = None
    large: Run | None = None

    def run_medallion() -> None:
        nonlocal medallion
        if args.no_medallion:
            return
        with medallion_server(work, args.page) as (collection, pid):
            medallion = drive(
                collection, collection, args.objects, args.envelope, args.page, server=pid
            )
        show("medallion", medallion)

    def run_gsoia() -> None:
        nonlocal small, large
        with gsoia_server(work / f"round-{round_}") as (writer, reader, pid):
            spy = (args.py_spy, f"taxii-round-{round_ + 1}") if args.py_spy else None
            small = drive(
                writer, reader, args.objects, args.envelope, args.page, server=pid, spy=spy
            )
            show("gsoia", small)
            if last and args.large > args.objects:
                large = run_large(writer, reader, args, pid)

    for run in (run_medallion, run_gsoia) if round_ % 2 == 0 else (run_gsoia, run_medallion):
        run()
    assert small is not None
    return medallion, small, large


def run_large(writer: Collection, reader: Collection, args: argparse.Namespace, pid: int) -> Run:
    print(f"gsoia alone: up to {args.large:,} objects")
    extra = drive(
        writer,
        reader,
        args.large - args.objects,
        args.envelope,
        args.page,
        start=args.objects,
        server=pid,
    )
    print(
        f"  {'gsoia':<10} write {extra.write_rate:>9,.0f} objects/s (the last"
        f" {extra.written:,})   read {extra.read_rate:>9,.0f} objects/s"
        f" ({extra.read:,} in {extra.read_s:.2f} s, {extra.pages} pages)"
    )
    if extra.write_cpu or extra.read_cpu:
        print(
            f"  {'':<10} server CPU: write {extra.write_cpu:.2f} s"
            f" ({extra.write_cpu / extra.written * 1e6:,.0f} us/object),"
            f" read {extra.read_cpu:.2f} s"
            f" ({extra.read_cpu / max(extra.read, 1) * 1e6:,.0f} us/object)"
        )
    return Run(
        args.large,
        extra.write_s,
        extra.read,
        extra.read_s,
        extra.first_page_s,
        extra.pages,
        extra.write_cpu,
        extra.read_cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000, help="side by side (2,000)")
    parser.add_argument("--envelope", type=int, default=100, help="objects per envelope")
    parser.add_argument("--page", type=int, default=100, help="objects per page read")
    parser.add_argument("--large", type=int, default=100_000, help="gsoia alone (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="side-by-side rounds (3)")
    parser.add_argument("--no-medallion", action="store_true", help="gsoia only")
    parser.add_argument("--tiny", action="store_true", help="300 objects, large 1,000, 1 round")
    parser.add_argument(
        "--quick", action="store_true", help="side by side only (--large 0): while iterating"
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="py-spy on gsoia's server during each round's writes and reads; stacks in DIR",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: gsoia's write path in process under cProfile (--objects, --envelope)",
    )
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="bench-taxii-") as tmp:
            profile_writes(Path(tmp), args.objects, args.envelope)
        return
    if args.tiny:
        args.objects, args.large, args.rounds = 300, 1000, 1
    if args.quick:
        args.large = 0
    args.rounds = max(1, args.rounds)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"write {args.objects:,} indicators in envelopes of {args.envelope}, read back"
        f" {args.page} per page (taxii2-client {args.page} per request),"
        f" {args.rounds} round{'s' if args.rounds > 1 else ''}"
    )
    rounds: list[tuple[Run | None, Run]] = []
    large: Run | None = None
    with tempfile.TemporaryDirectory(prefix="bench-taxii-") as tmp:
        work = Path(tmp)
        for round_ in range(args.rounds):
            if args.rounds > 1:
                print(f"round {round_ + 1} of {args.rounds}")
            last = round_ == args.rounds - 1
            medallion, small, found = side_by_side(work, args, round_, last)
            rounds.append((medallion, small))
            large = found or large
    summarise(args, rounds, large)
    print(f"load average {os.getloadavg()[0]:.2f}")


def summarise(
    args: argparse.Namespace, rounds: list[tuple[Run | None, Run]], large: Run | None
) -> None:
    print("summary" + (f" (median of {len(rounds)} rounds)" if len(rounds) > 1 else ""))
    pairs = [(m, g) for m, g in rounds if m is not None]
    if pairs:
        write_ratios = [g.write_rate / m.write_rate for m, g in pairs]
        read_ratios = [g.read_rate / m.read_rate for m, g in pairs]
        write_ratio, read_ratio = median(write_ratios), median(read_ratios)
        each = ", ".join(f"{r:.2f}" for r in write_ratios)
        print(
            f"  write: gsoia / medallion = {write_ratio:.2f}x (target >= {TARGET_WRITE:g}x)"
            + (f" [rounds: {each}]" if len(pairs) > 1 else ""),
            verdict(write_ratio >= TARGET_WRITE),
        )
        each = ", ".join(f"{r:.1f}" for r in read_ratios)
        print(
            f"  read:  gsoia / medallion = {read_ratio:.1f}x (target >= {TARGET_READ:g}x)"
            + (f" [rounds: {each}]" if len(pairs) > 1 else ""),
            verdict(read_ratio >= TARGET_READ),
        )
        record_ratios(pairs)
        if all(m.write_cpu and g.write_cpu and g.read_cpu for m, g in pairs):
            m_write = sum(m.write_cpu for m, _ in pairs) / sum(m.written for m, _ in pairs)
            g_write = sum(g.write_cpu for _, g in pairs) / sum(g.written for _, g in pairs)
            m_read = sum(m.read_cpu for m, _ in pairs) / sum(m.read for m, _ in pairs)
            g_read = sum(g.read_cpu for _, g in pairs) / sum(g.read for _, g in pairs)
            print(
                "  server CPU per object, medallion / gsoia (whatever the load):"
                f" write {m_write * 1e6:,.0f} / {g_write * 1e6:,.0f} us ="
                f" {m_write / g_write:.2f}x,"
                f" read {m_read * 1e6:,.0f} / {g_read * 1e6:,.0f} us = {m_read / g_read:.1f}x"
            )
    if large is not None:
        small = rounds[-1][1]
        slow = small.read_rate / large.read_rate
        print(
            f"  read at {large.written:,} vs {small.written:,}: {large.read_rate:,.0f} vs"
            f" {small.read_rate:,.0f} objects/s, {slow:.2f}x slower (target <= 2x)"
            f" {verdict(slow <= 2)}"
        )
        targets.record(
            f"TAXII read at {large.written:,} objects ≤ 2× slower than at {small.written:,}",
            f"{large.read_rate:,.0f} objects/s",
            slow,
            slow <= 2,
            peer=f"{small.read_rate:,.0f} objects/s at {small.written:,}",
            ratio=slow,
        )


def record_ratios(pairs: list[tuple[Run, Run]]) -> None:
    """The write and read ratios for ``make bench``'s table: each the round of the median
    ratio, with medallion's figure from that round."""
    for kind, bound in (("write", TARGET_WRITE), ("read", TARGET_READ)):

        def ratio(pair: tuple[Run, Run], kind: str = kind) -> float:
            m, g = pair
            return g.write_rate / m.write_rate if kind == "write" else g.read_rate / m.read_rate

        m, g = sorted(pairs, key=ratio)[(len(pairs) - 1) // 2]
        rate, peer = (g.write_rate, m.write_rate) if kind == "write" else (g.read_rate, m.read_rate)
        targets.record(
            f"TAXII {kind} ≥ {bound:g}× medallion",
            f"{rate:,.0f} objects/s"
            + (f" (median of {len(pairs)} rounds)" if len(pairs) > 1 else ""),
            rate / peer,
            rate / peer >= bound,
            peer=f"medallion {peer:,.0f} objects/s",
            ratio=rate / peer,
        )


if __name__ == "__main__":
    main()
