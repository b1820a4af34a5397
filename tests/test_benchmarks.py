"""The decision benchmark keeps working: a tiny run, engines in agreement (no timing checks)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_decision.py"


def test_bench_decision_runs_and_engines_agree() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--labels", "20000", "--sample", "300"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = re.search(r"^mismatches: (\d+)$", run.stdout, re.MULTILINE)
    assert found is not None, run.stdout[-3000:]
    assert found.group(1) == "0", run.stdout[-3000:]
    for engine in ("decide_many", "cedarpy", "pycasbin"):
        assert re.search(rf"^  {engine}:\s+0 mismatches of [1-9]", run.stdout, re.MULTILINE), engine
