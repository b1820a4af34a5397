"""The table `make bench` ends with: every target, its figure, the peer's figure from the
same run, the load average, the machine's speed, PASS or MISS.

Run ``python benchmarks/summary.py [RESULTS] [--docs docs/performance.md]``: it reads the
rows the benchmarks wrote (``targets.py``; RESULTS defaults to ``$GSOIA_BENCH_RESULTS``),
prints the table, and with ``--docs`` writes it into that file between its two marker
lines, in place of the table there. A target run several times (``make bench`` runs the
federation benchmark three times) shows the run of the median value, with every run's
value beside it; its verdict is that run's.

Exit status: 0; 1 if there are no rows, or the docs file has not the markers.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from targets import RESULTS, Row, read

BEGIN = "<!-- make bench: begin (benchmarks/summary.py writes this table) -->"
END = "<!-- make bench: end -->"
HEADER = (
    "| target | figure | peer, same run | ratio | load | 10⁷ additions | command | |\n"
    "|---|---|---|---|---|---|---|---|"
)
"""``10⁷ additions``: the CPU seconds of a pure-Python loop in the benchmark's process
(``targets.python_speed``), the machine's single-core speed when the row was written."""


def by_target(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """The rows of each target, targets in the order first written."""
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.target, []).append(row)
    return grouped


def median_run(runs: Sequence[Row]) -> Row:
    """The run whose value is the median (the lower of the two middle ones if even)."""
    ordered = sorted(runs, key=lambda r: r.value)
    return ordered[(len(ordered) - 1) // 2]


def number(value: float) -> str:
    """A value as the table shows it: whole above 100 (with thousands), else 3 digits."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def line(runs: Sequence[Row]) -> str:
    """The table's line for one target's runs."""
    chosen = median_run(runs)
    figure = chosen.figure
    if len(runs) > 1:
        values = ", ".join(number(r.value) for r in runs)
        figure += f" (median of {len(runs)} runs: {values})"
    ratio = "" if chosen.ratio is None else f"{number(chosen.ratio)}×"
    cells = (
        chosen.target,
        figure,
        chosen.peer or "",
        ratio,
        f"{chosen.load:.2f}",
        "" if chosen.speed is None else f"{chosen.speed:.2f} s",
        f"`{chosen.command}`",
        chosen.verdict,
    )
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def table(rows: Sequence[Row]) -> str:
    return "\n".join([HEADER, *(line(runs) for runs in by_target(rows).values())])


def rewrite(docs: Path, made: str) -> None:
    """Put ``made`` between the markers of ``docs``, replacing what was there."""
    text = docs.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{docs}: no lines {BEGIN!r} ... {END!r} to put the table between")
    docs.write_text(text[: start + len(BEGIN)] + "\n" + made + "\n" + text[end:], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("results", nargs="?", default=os.environ.get(RESULTS))
    parser.add_argument("--docs", type=Path, help="rewrite the table in this file")
    args = parser.parse_args(argv)
    if not args.results:
        parser.error(f"give the results file, or set ${RESULTS}")
    path = Path(args.results)
    rows = read(path) if path.exists() else []
    if not rows:
        print(f"no results in {path}")
        return 1
    made = table(rows)
    print(made)
    if args.docs is not None:
        rewrite(args.docs, made)
        print(f"written into {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
