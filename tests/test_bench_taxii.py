"""The TAXII benchmark keeps working: a tiny run beside medallion (no timing checks)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_taxii.py"


def test_bench_taxii_runs() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--tiny"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=BENCH.parents[1],
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for engine in ("medallion", "gsoia"):
        assert re.search(rf"^  {engine}\s+write\s+[\d,]+ objects/s", run.stdout, re.M), run.stdout
    for target in ("write: gsoia / medallion", "read:  gsoia / medallion", "read at 1,000"):
        assert re.search(rf"{re.escape(target)}.*(PASS|MISS)$", run.stdout, re.M), run.stdout
