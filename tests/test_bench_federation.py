"""The federation benchmark keeps working: a tiny run, no release errors, CAN holds exactly the
items released, with and without witnessing, the in-process profile runs (no timing checks)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_federation.py"


ARGS = ["--items", "50", "--clients", "2", "--warmup", "5", "--profile", "--profile-items", "20"]


def test_bench_federation_runs_without_errors() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), *ARGS],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = run.stdout[-4000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    assert re.search(r"^    errors: 0$", run.stdout, re.MULTILINE), out
    assert re.search(r"^correctness failures: 0$", run.stdout, re.MULTILINE), out
    assert re.search(r"all 50 stored on CAN after [\d.]+ s: [\d,]+ items/s", run.stdout), out
    assert "JPN outbox: {'delivered': 55}" in run.stdout, out
    assert re.search(r"release end to end: [\d,]+ items/s .*: (PASS|MISS)$", run.stdout, re.M), out
    assert "Exchange.receive (CAN, all)" in run.stdout, out
    # a run without witnessing, then one with it, and the ratio
    assert "[witnessing] off on both nodes" in run.stdout, out
    assert "[witnessing] on on both nodes" in run.stdout, out
    assert re.search(r"^witnessing cost: .* \(target >= 0\.90\): (PASS|MISS)", run.stdout, re.M), (
        out
    )
