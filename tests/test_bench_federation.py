"""The federation benchmark keeps working: a tiny run, no release errors, CAN holds exactly the
items released, with and without witnessing, the in-process profile runs (no timing checks)."""

import re

from tests.benchmark_runs import run_benchmark

ARGS = [
    *("--items", "50", "--clients", "2", "--warmup", "5"),
    *("--profile", "--profile-items", "20", "--witnessing-pairs", "1"),
]


def test_bench_federation_runs_without_errors() -> None:
    stdout, out = run_benchmark("bench_federation.py", *ARGS)
    assert re.search(r"^    errors: 0$", stdout, re.MULTILINE), out
    assert re.search(r"^correctness failures: 0$", stdout, re.MULTILINE), out
    assert re.search(r"all 50 stored on CAN after [\d.]+ s: [\d,]+ items/s", stdout), out
    assert "JPN outbox: {'delivered': 55}" in stdout, out
    assert re.search(r"release end to end: [\d,]+ items/s .*: (PASS|MISS)$", stdout, re.M), out
    assert "Exchange.receive (CAN, all)" in stdout, out
    # a pair of runs, without witnessing then with it, and the ratio
    assert "[witnessing] off on both nodes" in stdout, out
    assert "[witnessing] on on both nodes" in stdout, out
    assert re.search(r"^witnessing cost: .* \(target >= 0\.90\): (PASS|MISS)", stdout, re.M), out
