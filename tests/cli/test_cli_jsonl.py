"""``gsoia decide --jsonl``: one request a line in, one decision a line out, in order."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import MARKING, REQUEST, Runner, compact, no_traceback, request

ALLOWED = compact(REQUEST)
TOO_EARLY = compact(request(at="2025-10-15"))  # JPN-CAN signed, not yet in force
SAME_NATION = compact(
    request(subject={"id": "jpn-1", "nation": "JPN", "clearance": "HI", "need_to_know": []})
)
BAD_LEVEL = compact(request(label={**REQUEST["label"], "classification": "NOPE"}))


def lines_of(stdout: str) -> list[dict[str, object]]:
    docs = [json.loads(line) for line in stdout.splitlines()]
    assert all(isinstance(doc, dict) for doc in docs)
    return docs


def test_one_decision_per_line_in_order(run: Runner) -> None:
    result = run("decide", "--jsonl", input="\n".join([ALLOWED, TOO_EARLY, SAME_NATION]) + "\n")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    docs = lines_of(result.stdout)
    assert [d["reason"] for d in docs] == ["ALLOW", "NO_AGREEMENT", "CLEARANCE"]
    assert docs[0]["marking"] == MARKING
    assert docs[2]["agreement"] is None
    assert "極秘" in result.stdout
    assert "\\u" not in result.stdout


def test_jsonl_from_a_file(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(f"{TOO_EARLY}\n{ALLOWED}\n", "utf-8")
    result = run("decide", "--jsonl", str(path))
    assert result.returncode == 0, result.stderr
    assert [d["reason"] for d in lines_of(result.stdout)] == ["NO_AGREEMENT", "ALLOW"]


def test_jsonl_dash_reads_stdin(run: Runner) -> None:
    result = run("decide", "--jsonl", "-", input=f"{ALLOWED}\n{ALLOWED}\n")
    assert result.returncode == 0, result.stderr
    assert [d["reason"] for d in lines_of(result.stdout)] == ["ALLOW", "ALLOW"]


def test_blank_lines_are_skipped(run: Runner) -> None:
    text = f"\n{ALLOWED}\n\n   \n\t\n{TOO_EARLY}\n\n"
    result = run("decide", "--jsonl", input=text)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [d["reason"] for d in lines_of(result.stdout)] == ["ALLOW", "NO_AGREEMENT"]


def test_crlf_line_ends(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    path.write_bytes(f"{ALLOWED}\r\n{TOO_EARLY}\r\n".encode())
    result = run("decide", "--jsonl", str(path))
    assert result.returncode == 0, result.stderr
    assert [d["reason"] for d in lines_of(result.stdout)] == ["ALLOW", "NO_AGREEMENT"]


def test_empty_input_decides_nothing(run: Runner) -> None:
    result = run("decide", "--jsonl", input="")
    no_traceback(result)
    assert result.returncode == 0
    assert result.stdout == ""


def test_a_malformed_line_is_an_error_in_its_place(run: Runner) -> None:
    # Line 2 is blank; the bad request is on line 4 of the input.
    text = "\n".join([ALLOWED, "", TOO_EARLY, BAD_LEVEL, SAME_NATION]) + "\n"
    result = run("decide", "--jsonl", input=text)
    no_traceback(result)
    assert result.returncode == 2
    docs = lines_of(result.stdout)
    assert len(docs) == 4
    assert docs[0]["reason"] == "ALLOW"
    assert docs[1]["reason"] == "NO_AGREEMENT"
    assert set(docs[2]) == {"error"}
    assert "label.classification" in str(docs[2]["error"])
    assert docs[3]["reason"] == "CLEARANCE"
    errors = result.stderr.splitlines()
    assert len(errors) == 1, errors
    assert errors[0].startswith("gsoia:")
    assert "line 4" in errors[0]
    assert "label.classification" in errors[0]


def test_every_bad_line_is_reported(run: Runner) -> None:
    lines = ["not json", ALLOWED, "[]", compact(request(extra=1)), BAD_LEVEL]
    result = run("decide", "--jsonl", input="\n".join(lines))
    no_traceback(result)
    assert result.returncode == 2
    docs = lines_of(result.stdout)
    assert len(docs) == len(lines)
    assert [("error" in d) for d in docs] == [True, False, True, True, True]
    assert docs[1]["reason"] == "ALLOW"
    errors = result.stderr.splitlines()
    assert len(errors) == 4, errors
    assert all(e.startswith("gsoia:") for e in errors)
    for number, error in zip((1, 3, 4, 5), errors, strict=True):
        assert f"line {number}" in error
    assert "extra" in errors[2]
    assert "label.classification" in errors[3]


def test_a_pathologically_nested_line_is_an_error_not_a_crash(run: Runner) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    result = run("decide", "--jsonl", input=f"{ALLOWED}\n{deep}\n{ALLOWED}\n")
    no_traceback(result)
    assert result.returncode == 2
    docs = lines_of(result.stdout)
    assert len(docs) == 3
    assert docs[0]["reason"] == "ALLOW"
    assert "error" in docs[1]
    assert docs[2]["reason"] == "ALLOW"
    assert "line 2" in result.stderr


def test_jsonl_with_a_custom_catalogue(run: Runner, small_json: Path) -> None:
    result = run("decide", "--jsonl", "--catalogue", str(small_json), input=f"{ALLOWED}\n")
    assert result.returncode == 0, result.stderr
    assert [d["reason"] for d in lines_of(result.stdout)] == ["CLEARANCE"]
