"""The granian benchmark keeps working: one tiny round each of uvicorn and granian serving
the same app, no request errors, the reader seeing what ``decide_many`` allows (no timing
checks)."""

import re

from tests.benchmark_runs import run_benchmark


def test_bench_granian_runs_both_servers_without_errors() -> None:
    stdout, out = run_benchmark(
        "bench_granian.py", "--rounds", "1", "--items", "100", "--pages", "5"
    )
    assert re.search(r"^correctness failures: 0$", stdout, re.MULTILINE), out
    rounds = re.findall(r"^  (uvicorn|granian) +[\d,]+ items/s", stdout, re.MULTILINE)
    assert rounds == ["uvicorn", "granian"], out
    assert re.search(
        r"items/s +uvicorn +[\d,.]+ +granian +[\d,.]+ +granian / uvicorn [\d.]+", stdout
    ), out
