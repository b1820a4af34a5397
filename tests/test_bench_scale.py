"""The scale benchmark keeps working: a tiny SQLite run (2,000 items, then 500), 5 s of load
each, no request errors, every reader's first page and total as ``decide_many`` allows (no
timing checks). wrk is used where it is installed, the Python load generator otherwise."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"


def test_bench_scale_runs_without_errors() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--items",
            "2000",
            "--small",
            "500",
            "--duration",
            "5",
            "--connections",
            "4",
            "--backends",
            "sqlite",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = run.stdout[-5000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    assert re.search(r"^correctness failures: 0$", run.stdout, re.MULTILINE), out
    errors = re.findall(r"^    errors: (\d+) \(", run.stdout, re.MULTILINE)
    assert errors == ["0", "0"], out  # one load run per corpus
    loaded = re.findall(r"^    ([\d,]+) items in [\d.]+ s = ", run.stdout, re.MULTILINE)
    assert loaded == ["2,000", "500"], out
    requests = re.findall(r": ([\d,]+) requests in [\d.]+ s = ", run.stdout)
    assert len(requests) == 2, out
    assert "0" not in requests, out
    assert run.stdout.count("first page as expected") == 8, out  # 4 readers x 2 corpora
    splits = re.findall(
        r"the 4 connections on the server's \d worker\(s\): ([\d + ]+) \(", run.stdout
    )
    assert len(splits) == 2, out  # sampled in each load run
    assert all(sum(int(n) for n in split.split(" + ")) == 4 for split in splits), out
