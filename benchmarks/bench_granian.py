"""The node's app served by granian against uvicorn (``gsoia serve``), in the same run.

Run ``python benchmarks/bench_granian.py``; ``--help`` for the options. Each round starts a
fresh SQLite node (as ``bench_node.py`` does) and serves it with one server, ``--workers``
processes of the same app (``gsoia.api.served:app``, the factory ``gsoia serve --workers``
gives uvicorn): ``--items`` items are created by ``--clients`` keep-alive clients, then one
reader walks the listing (``--pages`` timed pages). The servers alternate round by round
(uvicorn, granian, granian, uvicorn, …: neither always first on a warming machine); the
summary gives each server's median items/s, pages/s and server CPU per request, and the
ratio granian / uvicorn. ``gsoia serve`` itself is not changed: granian is run here by its
own command line.

Exit status: 0 whether granian is faster or not; 1 if any request failed or the reader saw
other items than ``decide_many`` allows (a correctness failure).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import processes
from bench_node import (
    READERS,
    Served,
    create_all,
    expected_allowed,
    init_node,
    list_all,
    make_labels,
)
from gsoia.api import served
from gsoia.api.app import MULTIPROCESS_METRICS

GRANIAN = str(Path(sys.executable).parent / "granian")
SERVERS = ("uvicorn", "granian")


class GranianServed(Served):
    """A node served by ``granian --interface asgi --factory gsoia.api.served:app``, with
    the environment ``gsoia serve --workers`` gives uvicorn's workers."""

    def start(self) -> None:
        self.port = processes.free_port()
        metrics = self.data.resolve() / "metrics"
        metrics.mkdir(mode=0o700, exist_ok=True)
        env = os.environ | {
            MULTIPROCESS_METRICS: str(metrics),
            served.SERVE_DATA: str(self.data.resolve()),
            served.SERVE_DATABASE: self.url or "",
            served.SERVE_TODAY: "",
        }
        args = [GRANIAN, "--interface", "asgi", "--factory", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--workers", str(self.workers)]
        args += ["--log-level", "warning", "gsoia.api.served:app"]
        with open(self.data / "serve.log", "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                args, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        failed = processes.wait_until_healthy(self.base, self.process, 60)
        if failed:
            raise RuntimeError(f"granian {failed}:\n{self.log_tail()}")


@dataclass
class Figures:
    created: list[float] = field(default_factory=list)  # items/s
    create_cpu_ms: list[float] = field(default_factory=list)  # server CPU an item
    pages: list[float] = field(default_factory=list)  # pages/s
    page_cpu_ms: list[float] = field(default_factory=list)  # server CPU a page


def one_round(
    server: str, work: Path, args: argparse.Namespace, labels: list[dict[str, Any]]
) -> tuple[Figures, list[str]]:
    """One fresh node served by ``server``: creation then the listing; its figures and
    its failures."""
    node = init_node(work, None, args.workers)
    serving: Served = node if server == "uvicorn" else GranianServed(**vars(node))
    figures, failures = Figures(), []
    serving.start()
    try:
        created = create_all(serving, labels, args.clients, args.content_bytes)
        failures += created.errors[:5]
        figures.created.append(created.rate)
        if created.server_cpu_s is not None:
            figures.create_cpu_ms.append(created.server_cpu_s / len(labels) * 1e3)
        reader = READERS[0]
        allow = expected_allowed(labels, reader)
        ids = {i for i, ok in zip(created.ids, allow, strict=True) if ok and i is not None}
        walked = list_all(serving, reader, ids, args.limit, 1, args.pages)
        failures += walked.wrong[:5] + walked.errors[:5]
        figures.pages.append(walked.pages_per_s)
        if walked.server_cpu_s is not None and walked.page_ms:
            figures.page_cpu_ms.append(walked.server_cpu_s / len(walked.page_ms) * 1e3)
    finally:
        serving.stop()
    print(
        f"  {server:<8} {figures.created[0]:>6,.0f} items/s"
        f" ({_first(figures.create_cpu_ms):.2f} ms CPU an item),"
        f" {figures.pages[0]:>6,.1f} pages/s ({_first(figures.page_cpu_ms):.2f} ms CPU a page)"
        f"  load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return figures, failures


def _first(values: list[float]) -> float:
    return values[0] if values else float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (default 3)")
    parser.add_argument("--items", type=int, default=2_000, help="items created a round")
    parser.add_argument("--clients", type=int, default=4, help="concurrent creating clients")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--pages", type=int, default=200, help="timed pages a round")
    parser.add_argument("--limit", type=int, default=100, help="items per page")
    parser.add_argument("--content-bytes", type=int, default=512)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    print(
        f"granian against uvicorn: {args.items:,} items created by {args.clients} clients and"
        f" {args.pages} pages listed, {args.workers} workers, SQLite, {args.rounds} rounds each;"
        f" load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    labels = make_labels(args.items, args.seed)
    figures = {server: Figures() for server in SERVERS}
    failures: list[str] = []
    order = [SERVERS[(r + 1) // 2 % 2] for r in range(2 * args.rounds)]  # u g g u u g …
    with tempfile.TemporaryDirectory(prefix="gsoia-bench-granian-") as tmp:
        for n, server in enumerate(order):
            got, failed = one_round(server, Path(tmp) / f"round-{n}", args, labels)
            failures += [f"{server}: {f}" for f in failed]
            mine = figures[server]
            mine.created += got.created
            mine.create_cpu_ms += got.create_cpu_ms
            mine.pages += got.pages
            mine.page_cpu_ms += got.page_cpu_ms
    print("\n[summary] medians over the rounds")
    for what, unit in (
        ("created", "items/s"),
        ("create_cpu_ms", "ms CPU an item"),
        ("pages", "pages/s"),
        ("page_cpu_ms", "ms CPU a page"),
    ):
        uvicorn, granian = (_median(getattr(figures[s], what)) for s in SERVERS)
        # a short round's CPU can read 0 (the clock's tick is 10 ms): no ratio then
        ratio = f"{granian / uvicorn:.2f}" if uvicorn else "n/a (uvicorn's figure is 0)"
        print(
            f"  {unit:<15} uvicorn {uvicorn:>8,.2f}  granian {granian:>8,.2f}"
            f"  granian / uvicorn {ratio}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"correctness failures: {len(failures)}")
    for failure in failures:
        print(f"    {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
