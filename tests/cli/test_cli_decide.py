"""``gsoia decide``: one request from a file or stdin, one decision as JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_support import (
    MARKING,
    MARKING_TEXT,
    REQUEST,
    Runner,
    compact,
    decision,
    request,
    small_catalogue,
)


def assert_section_4_allow(doc: dict[str, object]) -> None:
    """The docs/decision.md §4 example decision."""
    assert doc["allow"] is True
    assert doc["reason"] == "ALLOW"
    assert doc["agreement"] == "JPN-CAN"
    assert doc["marking"] == MARKING


def test_decide_file_prints_the_section_4_decision(run: Runner, request_file: Path) -> None:
    result = run("decide", str(request_file))
    assert_section_4_allow(decision(result))


def test_decide_relative_path_from_the_working_directory(run: Runner, request_file: Path) -> None:
    result = run("decide", request_file.name)
    assert_section_4_allow(decision(result))


def test_decide_output_is_utf8_not_escaped(run: Runner, request_file: Path) -> None:
    result = run("decide", str(request_file))
    assert MARKING_TEXT in result.stdout
    assert "極秘" in result.stdout
    assert "\\u" not in result.stdout
    assert result.stdout.endswith("\n")


def test_decide_output_is_utf8_under_the_c_locale(run_script: Runner, request_file: Path) -> None:
    # A user with a bare POSIX locale still gets UTF-8, not a crash or escapes.
    result = run_script("decide", str(request_file), env={"LC_ALL": "C", "LANG": "C"})
    doc = decision(result)
    assert doc["marking"]["text"] == MARKING_TEXT
    assert MARKING_TEXT in result.stdout


def test_decide_dash_reads_stdin(run: Runner) -> None:
    result = run("decide", "-", input=json.dumps(REQUEST, indent=2))
    assert_section_4_allow(decision(result))


def test_decide_without_argument_reads_stdin(run: Runner) -> None:
    result = run("decide", input=compact(REQUEST))
    assert_section_4_allow(decision(result))


def test_same_request_same_decision(run: Runner, request_file: Path) -> None:
    first = run("decide", str(request_file))
    again = run("decide", input=request_file.read_text("utf-8"))
    assert decision(first) == decision(again)
    assert first.stdout == again.stdout


def test_denial_exits_0_with_an_explanation(run: Runner) -> None:
    # The day before JPN-CAN enters into force (signed 2025-07-08, in force 2025-10-16).
    result = run("decide", input=compact(request(at="2025-10-15")))
    doc = decision(result)
    assert doc["allow"] is False
    assert doc["reason"] == "NO_AGREEMENT"
    assert doc.get("marking") is None
    explanation = doc["explanation"]
    assert isinstance(explanation, str)
    assert explanation.strip()
    assert "JPN" in explanation
    assert "CAN" in explanation


def test_denial_names_the_agreement_found(run: Runner) -> None:
    subject = {**REQUEST["subject"], "clearance": "C"}
    result = run("decide", input=compact(request(subject=subject)))
    doc = decision(result)
    assert doc["allow"] is False
    assert doc["reason"] == "CLEARANCE"
    assert doc["agreement"] == "JPN-CAN"
    assert doc.get("marking") is None
    assert doc["explanation"]


def test_same_nation_decision_has_null_agreement(run: Runner) -> None:
    subject = {"id": "jpn-1", "nation": "JPN", "clearance": "KIMITSU", "need_to_know": ["maritime"]}
    doc = decision(run("decide", input=compact(request(subject=subject))))
    assert doc["allow"] is True
    assert doc["reason"] == "ALLOW"
    assert doc["agreement"] is None
    assert doc["marking"]["level"] == {"policy": "JPN", "id": "GOKUHI", "name": "極秘"}


def test_third_party_denial(run: Runner) -> None:
    usa = {"id": "usa-1", "nation": "USA", "clearance": "TS", "need_to_know": ["maritime"]}
    label = {**REQUEST["label"], "releasable_to": ["CAN", "USA"]}
    doc = decision(run("decide", input=compact(request(subject=usa, label=label, custodian="CAN"))))
    assert doc["allow"] is False
    assert doc["reason"] == "THIRD_PARTY"
    assert doc["explanation"]


def test_custom_yaml_catalogue_changes_the_answer(
    run: Runner, request_file: Path, small_yaml: Path
) -> None:
    bundled = decision(run("decide", str(request_file)))
    custom = decision(run("decide", "--catalogue", str(small_yaml), str(request_file)))
    assert bundled["allow"] is True
    assert custom["allow"] is False
    assert custom["reason"] == "CLEARANCE"
    assert custom["agreement"] == "JPN-CAN"
    assert "TS" in custom["explanation"] or "TOP SECRET" in custom["explanation"]


def test_custom_json_catalogue_changes_the_answer(
    run: Runner, request_file: Path, small_json: Path, small_yaml: Path
) -> None:
    from_json = decision(run("decide", "--catalogue", str(small_json), str(request_file)))
    from_yaml = decision(run("decide", "-c", str(small_yaml), str(request_file)))
    assert from_json["allow"] is False
    assert from_json["reason"] == "CLEARANCE"
    assert from_json == from_yaml


def test_custom_catalogue_with_stdin(run: Runner, small_yaml: Path) -> None:
    result = run("decide", "--catalogue", str(small_yaml), input=compact(REQUEST))
    assert decision(result)["reason"] == "CLEARANCE"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_custom_catalogue_governs_the_marking(
    run: Runner, tmp_path: Path, request_file: Path, suffix: str
) -> None:
    # Same parties, another agreement id, GOKUHI = CAN SECRET: the marking follows it.
    doc = small_catalogue()
    agreement = doc["agreements"][0]
    agreement["id"] = "TEST-JPN-CAN"
    agreement["equivalence"] = [
        {"JPN": "KIMITSU", "CAN": "TS"},
        {"JPN": "GOKUHI", "CAN": "S"},
        {"JPN": "HI", "CAN": "C"},
    ]
    path = tmp_path / f"custom{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    result = run("decide", "--catalogue", str(path), str(request_file))
    out = decision(result)
    assert out["allow"] is True
    assert out["agreement"] == "TEST-JPN-CAN"
    assert out["marking"]["text"] == "CAN SECRET // JPN 極秘 // TEST-JPN-CAN"


def test_custom_catalogue_without_the_agreement_denies(
    run: Runner, tmp_path: Path, request_file: Path
) -> None:
    doc = small_catalogue()
    doc["agreements"] = []
    path = tmp_path / "none.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    out = decision(run("decide", "--catalogue", str(path), str(request_file)))
    assert out["allow"] is False
    assert out["reason"] == "NO_AGREEMENT"
