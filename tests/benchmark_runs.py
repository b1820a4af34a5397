"""A benchmark as its smoke test runs it: ``benchmarks/SCRIPT`` in a process of its own,
from the repository's root, to a successful end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str) -> tuple[str, str]:
    """Run ``benchmarks/SCRIPT ARGS``, which must exit 0: its standard output, and the
    tails of its output and its errors (what an assertion about the run shows)."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    out = run.stdout[-5000:] + run.stderr[-3000:]
    assert run.returncode == 0, out
    return run.stdout, out
