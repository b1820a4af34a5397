"""What witnessing costs a release, in CPU: two pairs of in-process nodes, one with witnessing
off and one with it on, releasing in turns.

Each pair is JPN and CAN in this process, JPN's courier posting to CAN's batch inbox and
CAN asking JPN for consistency proofs through ``httpx.MockTransport`` (no sockets, no
server: the nodes' own work and the HTTP clients' only). Each round releases ``--batch``
items in each pair, the pair with witnessing off first, then on, and times the CPU of this
process (both nodes' work) for each; the rounds alternate so that other work on the
machine falls on both alike. Printed: the median CPU per release of each, and their ratio
(off over on: the share of the rate a CPU-bound federation would keep with witnessing on;
``bench_federation.py --witnessing both`` measures the served rate itself, which on a
shared machine varies more from run to run than witnessing costs), and how many
consistency proofs CAN asked for.

Usage: ``python benchmarks/bench_witnessing.py [--rounds 20] [--batch 100]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import targets
from federation_nodes import WITNESSING_RATIO, create_items, users, witnessing
from gsoia.node.service import Node
from gsoia.node.users import Role
from in_process import Wiring


class Pair:
    """JPN and CAN in this process, with witnessing ``on`` or off on both."""

    def __init__(self, work: Path, on: bool, items: int) -> None:
        for nation in ("JPN", "CAN"):
            Node.init(work / nation, nation).close()
            witnessing(work / nation, on)
        self.jpn, self.can = Node.open(work / "JPN"), Node.open(work / "CAN")
        self.wiring = Wiring(self.jpn, self.can)
        self.user, _ = users(self.jpn, [("jp-releaser", "KIMITSU", Role.ANALYST)])["jp-releaser"]
        self.ids = iter(create_items(self.jpn, self.user, items, 512, random.Random(2026)))

    def release(self, n: int) -> float:
        """CPU seconds of this process to release the next ``n`` items to CAN."""
        share = [next(self.ids) for _ in range(n)]
        cpu = time.process_time()
        answers = self.jpn.exchange.release_many(self.user, "CAN", share)
        cpu = time.process_time() - cpu
        states = {a["state"] if isinstance(a, dict) else repr(a) for a in answers}
        if states != {"delivered"}:
            raise SystemExit(f"a release was not delivered: {sorted(states)[:3]}")
        return cpu

    def close(self) -> None:
        self.jpn.close()
        self.can.close()


@contextmanager
def _pairs(work: Path, items: int) -> Iterator[tuple[Pair, Pair]]:
    off, on = Pair(work / "off", False, items), Pair(work / "on", True, items)
    try:
        yield off, on
    finally:
        off.close()
        on.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds timed (default 20)")
    parser.add_argument("--batch", type=int, default=100, help="releases a round (default 100)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or not 1 <= args.batch <= 500:
        parser.error("--rounds must be >= 1, --batch 1 to 500")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with (
        tempfile.TemporaryDirectory(prefix="gsoia-witnessing-") as tmp,
        _pairs(Path(tmp), (args.rounds + 1) * args.batch) as (off, on),
    ):
        for pair in (off, on):  # warm-up: the first heads, the caches
            pair.release(args.batch)
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            cpu[False].append(off.release(args.batch) / args.batch)
            cpu[True].append(on.release(args.batch) / args.batch)
        without, with_it = statistics.median(cpu[False]), statistics.median(cpu[True])
        print(
            f"CPU per release (both nodes, median of {args.rounds} rounds of"
            f" {args.batch}): {without * 1e6:,.0f} µs without witnessing,"
            f" {with_it * 1e6:,.0f} µs with it: {without / with_it:.2f}"
            f" (consistency proofs asked for: {on.wiring.asked})"
        )
        kept = without / with_it
        targets.record(
            f"federation with witnessing ≥ {WITNESSING_RATIO:.2f} × without, in CPU",
            f"{with_it * 1e6:,.0f} µs a release with witnessing",
            kept,
            kept >= WITNESSING_RATIO,
            peer=f"{without * 1e6:,.0f} µs without",
            ratio=kept,
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
