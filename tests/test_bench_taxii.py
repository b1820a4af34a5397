"""The TAXII benchmark keeps working: a tiny run beside medallion (no timing checks)."""

import re

from tests.benchmark_runs import run_benchmark


def test_bench_taxii_runs() -> None:
    stdout, _ = run_benchmark("bench_taxii.py", "--tiny")
    for engine in ("medallion", "gsoia"):
        assert re.search(rf"^  {engine}\s+write\s+[\d,]+ objects/s", stdout, re.M), stdout
    for target in ("write: gsoia / medallion", "read:  gsoia / medallion", "read at 1,000"):
        assert re.search(rf"{re.escape(target)}.*(PASS|MISS)$", stdout, re.M), stdout
