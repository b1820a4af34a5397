"""``gsoia catalogue check FILE`` and ``gsoia catalogue show [FILE]``."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import Result, Runner, assert_refused, no_traceback, small_catalogue


def _write_yaml(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _ok(result: Result) -> str:
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


# --- check ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["small_yaml", "small_json"])
def test_check_valid_prints_a_summary(
    run: Runner, request: pytest.FixtureRequest, fixture: str
) -> None:
    path: Path = request.getfixturevalue(fixture)
    out = _ok(run("catalogue", "check", str(path)))
    lines = out.splitlines()
    assert len(lines) == 1, lines
    assert path.name in lines[0]
    assert "valid" in lines[0]
    assert "2 policies" in lines[0]


def test_check_the_bundled_catalogue_file(run: Runner) -> None:
    bundled = resources.files("gsoia.catalogue.data").joinpath("default.yaml")
    with resources.as_file(bundled) as path:
        out = _ok(run("catalogue", "check", str(path)))
    assert "valid" in out


def test_check_reports_every_problem_on_its_own_line(run: Runner, tmp_path: Path) -> None:
    doc = small_catalogue()
    doc["agreements"][0]["equivalence"] = [
        {"JPN": "KIMITSU", "CAN": "TS"},
        {"JPN": ["GOKUHI", "GOKUHI"], "CAN": "S"},  # a level listed twice in one row
        {"JPN": "HI", "CAN": "NOPE"},  # an unknown level
    ]
    path = _write_yaml(tmp_path, "bad.yaml", doc)
    result = run("catalogue", "check", str(path))
    no_traceback(result)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert all(line.startswith("gsoia:") for line in lines)
    assert all("bad.yaml" in line for line in lines)
    assert "agreements[0].equivalence[1]" in lines[0]
    assert "GOKUHI" in lines[0]
    assert "agreements[0].equivalence[2]" in lines[1]
    assert "NOPE" in lines[1]


@pytest.mark.parametrize(
    ("change", "place"),
    [
        pytest.param(
            lambda d: d["groups"].update(FVEY=["CAN", "XXX"]), "groups.FVEY", id="unknown-member"
        ),
        pytest.param(
            lambda d: d["agreements"].append(dict(d["agreements"][0])),
            "agreements[1]",
            id="repeated-id",
        ),
        pytest.param(
            lambda d: d["agreements"][0]["events"].insert(
                0, {"status": "signed", "date": "2021-01-01"}
            ),
            "agreements[0].events",
            id="events-out-of-order",
        ),
        pytest.param(
            lambda d: d["agreements"][0].update(parties=["JPN", "XXX"]),
            "agreements[0].parties",
            id="unknown-party",
        ),
        pytest.param(
            lambda d: d["agreements"][0]["events"][0].update(date="someday"),
            "agreements[0].events[0].date",
            id="bad-date",
        ),
    ],
)
def test_check_names_the_place(run: Runner, tmp_path: Path, change: Any, place: str) -> None:
    doc = small_catalogue()
    change(doc)
    path = _write_yaml(tmp_path, "bad.yaml", doc)
    result = run("catalogue", "check", str(path))
    no_traceback(result)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith("gsoia:") for line in lines)
    assert any(place in line for line in lines), (place, lines)


def test_check_invalid_json_catalogue(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"policies": {}, "policies": {}}', "utf-8")
    result = run("catalogue", "check", str(path))
    no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.startswith("gsoia:")
    assert "repeated" in result.stderr


def test_check_missing_file(run: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    line = assert_refused(run("catalogue", "check", str(missing)), "nowhere.yaml")
    assert "no such file" in line
    # One clear line: the path once, not "nowhere.yaml: nowhere.yaml: no such file".
    assert line.count(str(missing)) == 1, line


HOSTILE = {
    "nested": "[" * 100_000 + "]" * 100_000,
    # Python refuses integers over 4300 digits with a ValueError, in JSON and YAML alike.
    "huge-int": '{"policies": ' + "9" * 5000 + "}",
}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_check_hostile_file_is_refused_not_a_crash(
    run: Runner, tmp_path: Path, kind: str, suffix: str
) -> None:
    path = tmp_path / f"hostile{suffix}"
    path.write_text(HOSTILE[kind], "utf-8")
    result = run("catalogue", "check", str(path))
    no_traceback(result)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("gsoia:")


# --- show ----------------------------------------------------------------------------


def _show_json(run: Runner, *args: str) -> dict[str, Any]:
    doc = json.loads(_ok(run("catalogue", "show", "--json", *args)))
    assert isinstance(doc, dict)
    return doc


def _status(doc: dict[str, Any], agreement: str) -> str | None:
    (entry,) = [a for a in doc["agreements"] if a["id"] == agreement]
    status: str | None = entry["status"]
    return status


def _pair(doc: dict[str, Any], source: str, to: str) -> dict[str, Any] | None:
    found = [m for m in doc["matrix"] if m["from"] == source and m["to"] == to]
    assert len(found) <= 1
    return found[0] if found else None


def test_show_bundled_tables(run: Runner) -> None:
    out = _ok(run("catalogue", "show"))
    for text in ("Japan", "Canada", "極秘", "特定秘密", "機密", "JPN-CAN", "JPN-USA", "FVEY"):
        assert text in out, text
    assert "\x1b[" not in out  # no colour codes when not on a terminal


def test_show_file(run: Runner, small_yaml: Path) -> None:
    out = _ok(run("catalogue", "show", str(small_yaml)))
    for text in ("Japan", "Canada", "秘", "極秘", "機密", "JPN-CAN", "TOP SECRET"):
        assert text in out, text
    assert "JPN-USA" not in out  # only the file's agreements, not the bundled ones
    assert "KOR" not in out


def test_show_json_file(run: Runner, small_json: Path) -> None:
    doc = _show_json(run, str(small_json), "--at", "2024-01-01")
    assert set(doc["policies"]) == {"JPN", "CAN"}
    assert doc["policies"]["JPN"]["levels"] == ["HI", "GOKUHI", "KIMITSU"]
    assert _status(doc, "JPN-CAN") == "in_force"
    pair = _pair(doc, "JPN", "CAN")
    assert pair is not None
    assert {"from": "GOKUHI", "to": "TS"} in pair["levels"]


def _agreement_row_status(table: str, agreement: str) -> str:
    """The status cell of ``agreement`` in the agreements table."""
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 3 and cells[1] == agreement:
            return cells[2]
    raise AssertionError(f"no row for {agreement} in:\n{table}")


def test_show_at_dates_the_tables(run: Runner) -> None:
    before = _ok(run("catalogue", "show", "--at", "2025-10-15"))
    after = _ok(run("catalogue", "show", "--at", "2025-10-16"))
    assert "2025-10-15" in before
    assert "2025-10-16" in after
    assert _agreement_row_status(before, "JPN-CAN") == "signed"
    assert _agreement_row_status(after, "JPN-CAN") == "in_force"


def test_show_json_matrix_follows_entry_into_force(run: Runner) -> None:
    before = _show_json(run, "--at", "2025-10-15")
    after = _show_json(run, "--at", "2025-10-16")
    assert before["at"] == "2025-10-15"
    assert after["at"] == "2025-10-16"
    assert _status(before, "JPN-CAN") == "signed"
    assert _status(after, "JPN-CAN") == "in_force"
    assert _pair(before, "JPN", "CAN") is None
    assert _pair(before, "CAN", "JPN") is None
    pair = _pair(after, "JPN", "CAN")
    assert pair is not None
    assert pair["agreement"] == "JPN-CAN"
    assert {"from": "GOKUHI", "to": "S"} in pair["levels"]
    assert {"from": "KIMITSU", "to": "TS"} in pair["levels"]
    assert _pair(after, "CAN", "JPN") is not None
    # Other pairs did not change that day.
    assert _pair(before, "JPN", "USA") == _pair(after, "JPN", "USA") is not None


def test_show_json_defaults_to_today(run: Runner) -> None:
    before = dt.datetime.now(dt.UTC).date()
    doc = _show_json(run)
    after = dt.datetime.now(dt.UTC).date()
    assert doc["at"] in {before.isoformat(), after.isoformat()}
    assert "JPN" in doc["policies"]


def test_show_json_is_utf8(run: Runner) -> None:
    out = _ok(run("catalogue", "show", "--json"))
    assert "\\u" not in out
    json.loads(out)


@pytest.mark.parametrize("day", ["not-a-date", "2025-13-01", "16/10/2025", ""])
def test_show_at_not_a_date(run: Runner, day: str) -> None:
    line = assert_refused(run("catalogue", "show", "--at", day), "--at")
    assert repr(day) in line or day in line


def test_show_at_not_a_date_with_json(run: Runner) -> None:
    assert_refused(run("catalogue", "show", "--json", "--at", "not-a-date"), "--at")


def test_show_missing_file(run: Runner, tmp_path: Path) -> None:
    line = assert_refused(run("catalogue", "show", str(tmp_path / "nowhere.yaml")))
    assert "nowhere.yaml" in line
    assert "no such file" in line


def test_show_invalid_file(run: Runner, tmp_path: Path) -> None:
    doc = small_catalogue()
    doc["agreements"][0]["parties"] = ["JPN", "XXX"]
    path = _write_yaml(tmp_path, "bad.yaml", doc)
    assert_refused(run("catalogue", "show", str(path)), "agreements[0].parties")
