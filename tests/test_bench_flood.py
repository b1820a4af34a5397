"""The flood benchmark keeps working: a tiny run releases every item while flooded, and the
entries JPN wrote for the flood count every refusal the flooder was answered (no timing
checks)."""

import re

from tests.benchmark_runs import run_benchmark


def test_bench_flood_runs_without_errors() -> None:
    stdout, out = run_benchmark("bench_flood.py", "--items", "50", "--flood-seconds", "2")
    assert re.search(r"^correctness failures: 0$", stdout, re.MULTILINE), out
    assert re.search(r"answers: \{200: \d+, 429: \d+\}", stdout), out
    found = re.search(r"counting ([\d,]+) refusals, ([\d,]+) answered", stdout)
    assert found is not None, out
    assert found.group(1) == found.group(2), out
    assert re.search(r"flooded / quiet: [\d.]+ .* load average [\d.]+$", stdout, re.M), out
