"""The flood benchmark keeps working: a tiny run releases every item while flooded, and the
entries JPN wrote for the flood count every refusal the flooder was answered (no timing
checks)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_flood.py"


def test_bench_flood_runs_without_errors() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--items", "50", "--flood-seconds", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=BENCH.parents[1],
    )
    out = run.stdout[-4000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    assert re.search(r"^correctness failures: 0$", run.stdout, re.MULTILINE), out
    assert re.search(r"answers: \{200: \d+, 429: \d+\}", run.stdout), out
    found = re.search(r"counting ([\d,]+) refusals, ([\d,]+) answered", run.stdout)
    assert found is not None, out
    assert found.group(1) == found.group(2), out
    assert re.search(r"flooded / quiet: [\d.]+ .* load average [\d.]+$", run.stdout, re.M), out
