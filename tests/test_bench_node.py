"""The node benchmark keeps working: a tiny SQLite run, no request errors, every reader sees
exactly what ``decide_many`` allows (no timing checks)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_node.py"


def test_bench_node_runs_without_errors() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--items", "200", "--pages", "5", "--backends", "sqlite"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = run.stdout[-4000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    assert re.search(r"^    errors: 0$", run.stdout, re.MULTILINE), out
    assert re.search(r"^correctness failures: 0$", run.stdout, re.MULTILINE), out
    split = re.search(
        r"the 4 connections on the server's \d worker\(s\): ([\d + ]+) \(", run.stdout
    )
    assert split is not None, out
    assert sum(int(n) for n in split.group(1).split(" + ")) == 4, out  # the clients, each once
    walks = re.findall(r"items seen per walk: ([\d, ]+) \(expected ([\d,]+)\)", run.stdout)
    assert len(walks) == 2, out  # two readers
    assert re.search(
        r"\[witnessing cost\] creation, 200 items on fresh nodes: [\d,]+ items/s", run.stdout
    ), out
    for seen, expected in walks:
        assert expected != "0", out
        assert set(seen.split(", ")) == {expected}, out
