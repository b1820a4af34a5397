"""The granian benchmark keeps working: one tiny round each of uvicorn and granian serving
the same app, no request errors, the reader seeing what ``decide_many`` allows (no timing
checks)."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_granian.py"


def test_bench_granian_runs_both_servers_without_errors() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--rounds", "1", "--items", "100", "--pages", "5"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = run.stdout[-4000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    assert re.search(r"^correctness failures: 0$", run.stdout, re.MULTILINE), out
    rounds = re.findall(r"^  (uvicorn|granian) +[\d,]+ items/s", run.stdout, re.MULTILINE)
    assert rounds == ["uvicorn", "granian"], out
    assert re.search(
        r"items/s +uvicorn +[\d,.]+ +granian +[\d,.]+ +granian / uvicorn [\d.]+", run.stdout
    ), out
