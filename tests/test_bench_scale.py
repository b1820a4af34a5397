"""The scale benchmark keeps working: a tiny SQLite run (2,000 items, then 500), 5 s of load
each, no request errors, every reader's first page and total as ``decide_many`` allows (no
timing checks). wrk is used where it is installed, the Python load generator otherwise."""

import re

from tests.benchmark_runs import run_benchmark


def test_bench_scale_runs_without_errors() -> None:
    stdout, out = run_benchmark(
        "bench_scale.py",
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
    )
    assert re.search(r"^correctness failures: 0$", stdout, re.MULTILINE), out
    errors = re.findall(r"^    errors: (\d+) \(", stdout, re.MULTILINE)
    assert errors == ["0", "0"], out  # one load run per corpus
    loaded = re.findall(r"^    ([\d,]+) items in [\d.]+ s = ", stdout, re.MULTILINE)
    assert loaded == ["2,000", "500"], out
    requests = re.findall(r": ([\d,]+) requests in [\d.]+ s = ", stdout)
    assert len(requests) == 2, out
    assert "0" not in requests, out
    assert stdout.count("every worker started") == 2, out  # waited for, before each load
    speeds = re.findall(r"10⁷ additions in (\d+\.\d\d) s of CPU", stdout)
    assert len(speeds) == 2, out  # at start and end
    assert all(float(s) > 0 for s in speeds), out
    assert stdout.count("first page as expected") == 8, out  # 4 readers x 2 corpora
    splits = re.findall(r"the 4 connections on the server's \d worker\(s\): ([\d + ]+) \(", stdout)
    assert len(splits) == 2, out  # sampled in each load run
    assert all(sum(int(n) for n in split.split(" + ")) == 4 for split in splits), out
