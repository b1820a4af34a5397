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
the first release until CAN's database holds every item. Target: >= 1,500 items/s.

``--witnessing both`` (the default) makes that run in ``--witnessing-pairs`` pairs (3), one
run of a pair with both nodes' setting ``witnessing`` off (no anchor kept, no head sent or
checked) and one with it on, the pairs off first and on first in turn; the median pair's
ratio of the two rates is what witnessing costs (target >= 0.90).

Exit status: 0 whether the target is met or missed (it is a benchmark); 1 if a release
failed or CAN does not end up holding exactly the items released, each once, with JPN's
outbox all delivered and both audit logs verifying (a correctness failure).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import httpx

import targets
from federation_load import http_floor, release_all, timed_release
from federation_nodes import WITNESSING_RATIO, Served, create_items, pin, users, witnessing
from federation_profile import profile
from federation_report import check, report_release
from gsoia.api.releases import MAX_RELEASES
from gsoia.node.service import Node
from gsoia.node.users import Role
from profile_servers import recording

TARGET_PER_S = 1_500.0
DEFAULT_BATCH = 100
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
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="py-spy on both served nodes during the timed release; stacks in DIR",
    )
    parser.add_argument(
        "--witnessing",
        choices=("on", "off", "both"),
        default="both",
        help="the nodes' witnessing setting; both (default): pairs of runs, one without it and"
        " one with it, and the median pair's ratio (target >= 0.90)",
    )
    parser.add_argument(
        "--witnessing-pairs",
        type=int,
        default=3,
        help="with --witnessing both: pairs of runs, off first and on first in turn (default 3)",
    )
    args = parser.parse_args(argv)
    args.items = args.items or (2_000 if args.quick else 10_000)
    if args.items < 1 or args.clients < 1 or args.warmup < 0 or args.profile_items < 1:
        parser.error("--items, --clients, --profile-items must be >= 1, --warmup >= 0")
    if args.witnessing_pairs < 1:
        parser.error("--witnessing-pairs must be >= 1")
    if not 1 <= args.batch <= MAX_RELEASES:
        parser.error(f"--batch must be 1 to {MAX_RELEASES}")
    return args


def run(args: argparse.Namespace, work: Path, witnessed: bool = True) -> tuple[int, float | None]:
    """One run: (1 on a correctness failure else 0, items/s end to end or None)."""
    ids, releaser, reader = prepare(args, work, witnessed)
    total = len(ids)
    jpn, can = Served("JPN", work / "jpn"), Served("CAN", work / "can")
    rate: float | None = None
    failures: list[str] = []
    try:
        serve_pinned(jpn, can)
        failures += warm_up(args, jpn, releaser, ids[: args.warmup])
        rate, failed = release(args, jpn, can, releaser, ids[args.warmup :], total, witnessed)
        failures += failed
        failures += listed_on_can(can, reader, total)
        http_floor(jpn, can, releaser, min(1_000, max(50, args.items // 10)))
    finally:
        jpn.stop()
        can.stop()
    failures += check(jpn, can, set(ids), total)
    summary(rate, failures, witnessed)
    return (1 if failures else 0), rate


def prepare(args: argparse.Namespace, work: Path, witnessed: bool) -> tuple[list[str], str, str]:
    """JPN and CAN initialised in ``work``, the items made on JPN, ``witnessing`` set on both:
    the items' ids, the releaser's token (JPN) and the reader's (CAN)."""
    jpn_node = Node.init(work / "jpn", "JPN")
    can_node = Node.init(work / "can", "CAN")
    releaser = users(jpn_node, [("jp-releaser", "KIMITSU", Role.ANALYST)])["jp-releaser"]
    reader = users(can_node, [("ca-reader", "TS", Role.ANALYST)])["ca-reader"]
    total = args.warmup + args.items
    print(f"[create] {total:,} items on JPN, in process (Node.store_items, 500 per transaction)")
    t = time.perf_counter()
    ids = create_items(jpn_node, releaser[0], total, args.content_bytes, random.Random(args.seed))
    took = time.perf_counter() - t
    print(f"    {total:,} items in {took:.2f} s ({total / took:,.0f} items/s)")
    jpn_node.close()
    can_node.close()
    for data in (work / "jpn", work / "can"):
        witnessing(data, witnessed)
    print(f"[witnessing] {'on' if witnessed else 'off'} on both nodes")
    return ids, releaser[1], reader[1]


def serve_pinned(jpn: Served, can: Served) -> None:
    jpn.start()
    can.start()
    pin(jpn, can)
    pin(can, jpn)
    print(f"[serve] JPN {jpn.url}, CAN {can.url}, pinned to each other (gsoia peer add)")


def warm_up(args: argparse.Namespace, jpn: Served, token: str, warm: Sequence[str]) -> list[str]:
    """Release ``warm`` before the clock starts; its first failures."""
    if not warm:
        return []
    clients = min(args.clients, len(warm))
    warmed = release_all(jpn.url, token, warm, clients, args.batch, [])
    return [f"warm-up: {e}" for e in warmed.errors[:5]]


def release(
    args: argparse.Namespace,
    jpn: Served,
    can: Served,
    token: str,
    timed: Sequence[str],
    total: int,
    witnessed: bool,
) -> tuple[float | None, list[str]]:
    """The timed release, reported: its rate end to end (None if CAN did not hold every item
    in time) and its failures; under ``--py-spy`` each node's stacks and shares."""
    how = (
        "one POST /api/v1/items/{id}/releases each"
        if args.batch == 1
        else f"POST /api/v1/releases, {args.batch} items per request"
    )
    print(f"[release] {len(timed):,} items JPN -> CAN, {args.clients} concurrent clients, {how}")
    run = f"release-witnessing-{'on' if witnessed else 'off'}"
    with (
        recording(args.py_spy, f"{run}-JPN", jpn.process and jpn.process.pid),
        recording(args.py_spy, f"{run}-CAN", can.process and can.process.pid),
    ):
        measured = timed_release(jpn, can, token, timed, total, args)
    return report_release(measured, len(timed), total, args.warmup, args.batch, args.timeout)


def listed_on_can(can: Served, token: str, total: int) -> list[str]:
    """CAN's listing for its reader (TS, all topics) shows every item."""
    with httpx.Client(base_url=can.url, headers={"Authorization": f"Bearer {token}"}) as c:
        listing = c.get("/api/v1/items", params={"limit": 1}, timeout=120)
    listed = listing.json().get("total") if listing.status_code == 200 else None
    print(f"    CAN listing total for ca-reader (TS, all topics): {listed}")
    return [] if listed == total else [f"CAN's listing shows {listed} items, not {total}"]


def summary(rate: float | None, failures: list[str], witnessed: bool) -> None:
    """The rate against the target (recorded for ``make bench``'s table when witnessing is
    on, as nodes run by default), and the correctness failures."""
    print()
    print("[summary]")
    shown = f"{rate:,.0f}" if rate is not None else "n/a"
    met = rate is not None and rate >= TARGET_PER_S
    if witnessed:
        target = f"release end to end ≥ {TARGET_PER_S:,.0f} items/s"
        targets.record(target, f"{shown} items/s", rate or 0.0, met)
    verdict = "PASS" if met else "MISS"
    print(f"    release end to end: {shown} items/s (target >= {TARGET_PER_S:,.0f}): {verdict}")
    print(f"correctness failures: {len(failures)}")
    for failure in failures:
        print(f"    {failure}")


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
    if args.witnessing == "both":
        # in pairs, off first and on first in turn: a drift of the machine falls on both
        modes = [on for n in range(args.witnessing_pairs) for on in (n % 2 == 1, n % 2 == 0)]
    else:
        modes = [args.witnessing == "on"]
    status, runs = 0, []
    for on in modes:
        with _workdir() as work:
            failed, rate = run(args, work, on)
            status |= failed
            runs.append((on, rate))
        print()
    if args.witnessing == "both":
        status |= _witnessing_cost(runs)
    if args.profile:
        with _workdir() as work:
            profile(args, work / "profile", random.Random(args.seed))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return status


def _witnessing_cost(runs: list[tuple[bool, float | None]]) -> int:
    """The ratio of each pair of runs (``runs``: witnessing on or off and the rate, a pair
    after another), the median pair's recorded; 1 if a run gave no rate."""
    pairs = []
    for n in range(0, len(runs), 2):
        pair = dict(runs[n : n + 2])
        with_it, without = pair[True], pair[False]
        if with_it is None or without is None:
            return 1
        pairs.append((with_it, without))
    with_it, without = targets.median_pair(pairs)
    ratio = with_it / without
    verdict = "PASS" if ratio >= WITNESSING_RATIO else "MISS"
    targets.record(
        f"federation with witnessing ≥ {WITNESSING_RATIO:.2f} × without",
        f"{with_it:,.0f} items/s with witnessing",
        ratio,
        ratio >= WITNESSING_RATIO,
        peer=f"{without:,.0f} items/s without",
        ratio=ratio,
    )
    print(
        f"witnessing cost: {with_it:,.0f} items/s with it, {without:,.0f} without:"
        f" {ratio:.2f} (target >= {WITNESSING_RATIO:.2f}): {verdict}, the median pair"
        f" (pairs: {', '.join(f'{w / wo:.2f}' for w, wo in pairs)};"
        f" load average {os.getloadavg()[0]:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
