"""The decision benchmark keeps working: a tiny run, engines in agreement (no timing checks);
the rows it writes against its targets, and the table `make bench` ends with, made of them
by ``benchmarks/summary.py``."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
BENCH = BENCHMARKS / "bench_decision.py"
SUMMARY = BENCHMARKS / "summary.py"
DOCS = BENCHMARKS.parent / "docs" / "performance.md"
BEGIN = "<!-- make bench: begin (benchmarks/summary.py writes this table) -->"
END = "<!-- make bench: end -->"
DECISION_TARGETS = [
    "`decide_many` ≥ 25 M decisions/s",
    "`decide_many` ≥ 2,000× cedarpy's batch",
    "LabelTable ≤ 32 bytes a label",
    "`decide` median ≤ 4 µs",
    "engines agree with `decide`",
]


@pytest.fixture(scope="module")
def decision_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A tiny run of the decision benchmark, its rows written as `make bench` has them."""
    results = tmp_path_factory.mktemp("bench") / "results.jsonl"
    run = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--labels", "20000", "--sample", "300"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=os.environ | {"GSOIA_BENCH_RESULTS": str(results)},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout, results


@pytest.fixture
def targets(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``benchmarks/targets.py``, the benchmarks' writer of rows (a module of this test
    only: its dataclass is made while it stands in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location("targets", BENCHMARKS / "targets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "targets", module)
    spec.loader.exec_module(module)
    return module


def summary(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SUMMARY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bench_decision_runs_and_engines_agree(decision_run: tuple[str, Path]) -> None:
    stdout, _ = decision_run
    found = re.search(r"^mismatches: (\d+)$", stdout, re.MULTILINE)
    assert found is not None, stdout[-3000:]
    assert found.group(1) == "0", stdout[-3000:]
    for engine in ("decide_many", "cedarpy", "pycasbin"):
        assert re.search(rf"^  {engine}:\s+0 mismatches of [1-9]", stdout, re.MULTILINE), engine


def test_the_benchmark_writes_a_row_per_target(decision_run: tuple[str, Path]) -> None:
    _, results = decision_run
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [row["target"] for row in rows] == DECISION_TARGETS
    for row in rows:
        assert row["verdict"] in ("PASS", "MISS"), row
        assert row["load"] >= 0, row
        assert row["speed"] == rows[0]["speed"] > 0, row  # measured once, in its process
        assert row["command"] == "bench_decision.py --quick --labels 20000 --sample 300", row
    agree = rows[-1]
    assert (agree["figure"], agree["value"], agree["verdict"]) == ("0 mismatches", 0, "PASS")
    cedar = rows[1]
    assert cedar["peer"].startswith("cedarpy "), cedar
    assert cedar["ratio"] == cedar["value"] > 1, cedar
    label = rows[2]
    assert label["verdict"] == ("PASS" if label["value"] <= 32 else "MISS"), label


def test_without_the_variable_a_benchmark_writes_nothing(
    targets: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GSOIA_BENCH_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    made = targets.record("a target", "1 thing", 1.0, True)
    assert made.verdict == "PASS"
    assert list(tmp_path.iterdir()) == []


def test_the_summary_prints_the_table_and_writes_it_into_the_docs(
    decision_run: tuple[str, Path], tmp_path: Path
) -> None:
    _, results = decision_run
    docs = tmp_path / "performance.md"
    shutil.copy(DOCS, docs)
    before, after = DOCS.read_text().split(BEGIN)[0], DOCS.read_text().split(END)[1]
    run = summary(str(results), "--docs", str(docs))
    assert run.returncode == 0, run.stdout + run.stderr
    table = run.stdout.split(f"\nwritten into {docs}")[0]
    lines = table.splitlines()
    assert lines[0] == (
        "| target | figure | peer, same run | ratio | load | 10⁷ additions | command | |"
    )
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| {t}" for t in DECISION_TARGETS]
    speed = json.loads(results.read_text().splitlines()[0])["speed"]
    for line in lines[2:]:
        assert line.endswith((" | PASS |", " | MISS |")), line
        assert f" | {speed:.2f} s | " in line, line
        assert "`bench_decision.py --quick --labels 20000 --sample 300`" in line, line
    assert "| 0 mismatches |" in lines[-1]
    assert lines[-1].endswith("| PASS |")
    written = docs.read_text()
    assert written == f"{before}{BEGIN}\n{table}\n{END}{after}"
    again = summary(str(results), "--docs", str(docs))  # run again: the same file
    assert again.returncode == 0
    assert docs.read_text() == written


def test_a_target_run_three_times_shows_its_median_run(
    decision_run: tuple[str, Path], targets: ModuleType, tmp_path: Path
) -> None:
    _, results = decision_run
    label = next(r for r in targets.read(results) if r.target.startswith("LabelTable"))
    for value in (label.value - 5, label.value + 5):  # the run's own value is the median
        targets.write(tmp_path / "low.jsonl", targets.row(label.target, f"{value}", value, False))
    shutil.copy(results, tmp_path / "three.jsonl")
    with open(tmp_path / "three.jsonl", "a") as out:
        out.write((tmp_path / "low.jsonl").read_text())
    run = summary(str(tmp_path / "three.jsonl"))
    assert run.returncode == 0, run.stdout + run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("| LabelTable"))
    runs = f"{label.value:.1f}, {label.value - 5:.1f}, {label.value + 5:.1f}"
    assert f"| {label.figure} (median of 3 runs: {runs}) |" in line, line
    assert line.endswith(f"| {label.verdict} |"), line  # the median run's, not the others' MISS
    assert len(run.stdout.splitlines()) == 2 + len(DECISION_TARGETS)


def test_the_summary_refuses_docs_without_the_markers(
    decision_run: tuple[str, Path], tmp_path: Path
) -> None:
    docs = tmp_path / "plain.md"
    docs.write_text("# Performance\n")
    run = summary(str(decision_run[1]), "--docs", str(docs))
    assert run.returncode == 1
    assert "no lines" in run.stderr
    assert docs.read_text() == "# Performance\n"
    empty = summary(str(tmp_path / "none.jsonl"))
    assert (empty.returncode, empty.stdout) == (1, f"no results in {tmp_path / 'none.jsonl'}\n")
