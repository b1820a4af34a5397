"""The node benchmark keeps working: a tiny SQLite run, no request errors, every reader sees
exactly what ``decide_many`` allows (no timing checks)."""

import re

from tests.benchmark_runs import run_benchmark


def test_bench_node_runs_without_errors() -> None:
    stdout, out = run_benchmark(
        "bench_node.py",
        "--items",
        "200",
        "--pages",
        "5",
        "--backends",
        "sqlite",
        "--witnessing-pairs",
        "1",
    )
    assert re.search(r"^    errors: 0$", stdout, re.MULTILINE), out
    assert re.search(r"^correctness failures: 0$", stdout, re.MULTILINE), out
    split = re.search(r"the 4 connections on the server's \d worker\(s\): ([\d + ]+) \(", stdout)
    assert split is not None, out
    assert sum(int(n) for n in split.group(1).split(" + ")) == 4, out  # the clients, each once
    walks = re.findall(r"items seen per walk: ([\d, ]+) \(expected ([\d,]+)\)", stdout)
    assert len(walks) == 2, out  # two readers
    assert re.search(
        r"\[witnessing cost\] creation, 200 items on fresh nodes, the median pair"
        r" \(pairs: [\d.]+\): [\d,]+ items/s",
        stdout,
    ), out
    for seen, expected in walks:
        assert expected != "0", out
        assert set(seen.split(", ")) == {expected}, out
