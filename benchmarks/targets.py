"""A benchmark's result against one of its targets, as a row of the table `make bench` ends
with (``summary.py``).

Each benchmark calls ``record`` where it prints PASS or MISS. The row goes, as one line of
JSON, to the file named by ``$GSOIA_BENCH_RESULTS`` (``make bench`` sets it); without that
variable nothing is written, so a benchmark run by hand leaves no file behind.

Each row carries the load average and the machine's speed when it was written: the CPU
seconds a pure-Python loop of 10⁷ additions takes (``python_speed``). This machine's
single-core speed varies from day to day, and the figures follow it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

RESULTS = "GSOIA_BENCH_RESULTS"


@dataclass(frozen=True)
class Row:
    """One target's result in one run of its benchmark.

    ``figure`` and ``peer`` are as the benchmark prints them; ``value`` is the number held
    against the target (the ratio where the target is one), of which ``summary.py`` takes
    the median over the runs of the same target.
    """

    target: str
    figure: str
    value: float
    verdict: str
    load: float
    command: str
    peer: str | None = None
    ratio: float | None = None
    speed: float | None = None
    """CPU seconds of ``python_speed``'s loop in the process that wrote the row (None in
    rows written before it was recorded)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        return cls(
            target=str(data["target"]),
            figure=str(data["figure"]),
            value=float(data["value"]),
            verdict=str(data["verdict"]),
            load=float(data["load"]),
            command=str(data["command"]),
            peer=None if data.get("peer") is None else str(data["peer"]),
            ratio=None if data.get("ratio") is None else float(data["ratio"]),
            speed=None if data.get("speed") is None else float(data["speed"]),
        )


def command() -> str:
    """How this benchmark was run: the script's name and its arguments."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


LOOP = 10_000_000


def loop_seconds() -> float:
    """CPU seconds this process takes now for a pure-Python loop of ``LOOP`` additions."""
    started = time.process_time()
    total = 0
    for n in range(LOOP):
        total += n
    return round(time.process_time() - started, 3)


@cache
def python_speed() -> float:
    """``loop_seconds``, measured once a process (at its first row, after the benchmark's
    own work)."""
    return loop_seconds()


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Of pairs of rates (with, without), the pair whose ratio is the median (the upper
    of the two middle ones if even); ``pairs`` sorted by ratio in place."""
    pairs.sort(key=lambda pair: pair[0] / pair[1])
    return pairs[len(pairs) // 2]


def row(
    target: str,
    figure: str,
    value: float,
    met: bool,
    *,
    peer: str | None = None,
    ratio: float | None = None,
) -> Row:
    """The row of a target met (PASS) or not (MISS), at this moment's load average and the
    machine's speed."""
    verdict = "PASS" if met else "MISS"
    load = os.getloadavg()[0]
    return Row(target, figure, value, verdict, load, command(), peer, ratio, python_speed())


def record(
    target: str,
    figure: str,
    value: float,
    met: bool,
    *,
    peer: str | None = None,
    ratio: float | None = None,
) -> Row:
    """Write the row of a target to ``$GSOIA_BENCH_RESULTS`` if it is set; the row."""
    made = row(target, figure, value, met, peer=peer, ratio=ratio)
    path = os.environ.get(RESULTS)
    if path:
        write(Path(path), made)
    return made


def write(path: Path, made: Row) -> None:
    """Append ``made`` to the JSON lines file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(made), ensure_ascii=False) + "\n")


def read(path: Path) -> list[Row]:
    """The rows of the JSON lines file at ``path``, in the order written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Row.from_dict(json.loads(line)) for line in lines if line.strip()]
