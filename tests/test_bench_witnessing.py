"""The in-process witnessing benchmark keeps working: a tiny run, every release delivered,
the ratio printed, and no consistency proof asked for (each batch carries the one its
receiver needs). No timing checks."""

import re

from tests.benchmark_runs import run_benchmark


def test_bench_witnessing_runs_and_asks_for_no_proof() -> None:
    stdout, out = run_benchmark("bench_witnessing.py", "--rounds", "2", "--batch", "5")
    found = re.search(
        r"^CPU per release .*: [\d,]+ µs without witnessing, [\d,]+ µs with it: [\d.]+"
        r" \(consistency proofs asked for: (\d+)\)$",
        stdout,
        re.MULTILINE,
    )
    assert found, out
    assert found.group(1) == "0", out
