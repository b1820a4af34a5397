"""What a federation run shows: the timed release's figures (errors, latency, the rate end
to end and per tenth of the run, each server's CPU) and the correctness check afterwards
(CAN holds each released item once, JPN's outbox is all delivered, both logs verify)."""

from __future__ import annotations

import itertools
import sqlite3
import statistics
import time
from collections.abc import Sequence

from federation_load import TimedRelease
from federation_nodes import Served
from gsoia.node.service import Node


def report_release(
    timed: TimedRelease, n: int, total: int, warmup: int, batch: int, timeout: float
) -> tuple[float | None, list[str]]:
    """Print the timed release of ``n`` items (CAN to hold ``total``); its rate end to end
    (None if CAN did not hold them all within ``timeout``) and its failures."""
    outcome, t0 = timed.outcome, timed.started
    failures: list[str] = []
    rate: float | None = None
    answered = outcome.last_answer - t0
    print(f"    errors: {len(outcome.errors)}")
    for error in outcome.errors[:5]:
        print(f"      {error}")
    print(f"    answered: {dict(outcome.states)} (pending: delivered later by the courier)")
    print(
        f"    request latency ({batch} per request):"
        f" p50 {percentile(outcome.latencies, 50) * 1e3:.1f} ms,"
        f" p99 {percentile(outcome.latencies, 99) * 1e3:.1f} ms,"
        f" max {max(outcome.latencies, default=float('nan')) * 1e3:.1f} ms,"
        f" mean {statistics.fmean(outcome.latencies or [float('nan')]) * 1e3:.1f} ms"
    )
    print(f"    all answered after {answered:.2f} s ({n / answered:,.0f} releases/s)")
    if timed.done_at is None:
        failures.append(f"CAN did not hold all {total:,} items within {timeout:.0f} s")
        print(f"    CAN holds {timed.held:,} of {total:,} after {timeout:.0f} s")
    else:
        elapsed = timed.done_at - t0
        rate = n / elapsed
        print(f"    all {n:,} stored on CAN after {elapsed:.2f} s: {rate:,.0f} items/s end to end")
        throughput_curve(timed.samples, t0, warmup, timed.done_at)
    for nation, seconds in timed.cpu.items():
        if seconds is not None:
            print(
                f"    {nation} server CPU: {seconds:.1f} s, {seconds / n * 1e3:.2f} ms per release"
            )
    failures += [f"release: {e}" for e in outcome.errors[:5]]
    if len(outcome.errors) > 5:
        failures.append(f"... {len(outcome.errors) - 5} more release errors")
    return rate, failures


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def throughput_curve(samples: list[tuple[float, int]], t0: float, warm: int, end: float) -> None:
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
