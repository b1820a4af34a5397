"""Invalid input to ``gsoia decide``: exit 2, one ``gsoia:`` line on stderr naming the
problem, nothing on stdout, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import REQUEST, Runner, assert_refused, compact, request, small_catalogue


def _label(**changes: Any) -> dict[str, Any]:
    return request(label={**REQUEST["label"], **changes})


def _subject(**changes: Any) -> dict[str, Any]:
    return request(subject={**REQUEST["subject"], **changes})


def _without(key: str) -> dict[str, Any]:
    doc = request()
    del doc[key]
    return doc


BAD_REQUESTS = [
    pytest.param(_label(classification="NOPE"), "label.classification", id="unknown-level"),
    pytest.param(_label(originator="XXX"), "label.originator", id="unknown-originator"),
    pytest.param(_subject(nation="ZZZ"), "subject.nation", id="unknown-nation"),
    pytest.param(_subject(nation="FVEY"), "subject.nation", id="group-as-nation"),
    pytest.param(_subject(clearance="GOKUHI"), "subject.clearance", id="level-of-other-policy"),
    pytest.param(_label(releasable_to=["CAN", "NOPE"]), "label.releasable_to", id="unknown-group"),
    pytest.param(request(custodian="XYZ"), "custodian", id="unknown-custodian"),
    pytest.param(request(consented_to=["QQQ"]), "consented_to", id="unknown-consent"),
    pytest.param(request(extra=1), "extra", id="unknown-attribute"),
    pytest.param(_subject(bogus=True), "subject.bogus", id="unknown-subject-attribute"),
    pytest.param(_label(colour="red"), "label.colour", id="unknown-label-attribute"),
    pytest.param(_without("subject"), "subject", id="missing-subject"),
    pytest.param(_without("label"), "label", id="missing-label"),
    pytest.param(request(label=None), "label", id="null-label"),
    pytest.param(request(at="2026-02-30"), "at", id="impossible-date"),
    pytest.param(request(at="tomorrow"), "at", id="not-a-date"),
    pytest.param(_subject(clearance_expires="soon"), "subject.clearance_expires", id="bad-expiry"),
    pytest.param(_label(need_to_know="maritime"), "label.need_to_know", id="topics-not-a-list"),
]


@pytest.mark.parametrize(("doc", "field"), BAD_REQUESTS)
def test_bad_request_names_the_field(run: Runner, doc: dict[str, Any], field: str) -> None:
    assert_refused(run("decide", input=compact(doc)), field)


@pytest.mark.parametrize(("doc", "field"), BAD_REQUESTS[:3])
def test_bad_request_from_a_file(
    run: Runner, tmp_path: Path, doc: dict[str, Any], field: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(compact(doc), "utf-8")
    assert_refused(run("decide", str(path)), field)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("not json", id="words"),
        pytest.param('{"subject": ', id="truncated"),
        pytest.param("", id="empty"),
        pytest.param("{'subject': {}}", id="single-quotes"),
    ],
)
def test_not_json(run: Runner, text: str) -> None:
    line = assert_refused(run("decide", input=text))
    assert "JSON" in line


@pytest.mark.parametrize(
    "text",
    [pytest.param("[]", id="array"), pytest.param('"x"', id="string"), pytest.param("3", id="int")],
)
def test_json_that_is_not_an_object(run: Runner, text: str) -> None:
    assert_refused(run("decide", input=text))


def test_pathologically_nested_json_is_refused_not_a_crash(run: Runner) -> None:
    assert_refused(run("decide", input="[" * 100_000 + "]" * 100_000))


def test_huge_integer_is_refused_not_a_crash(run: Runner) -> None:
    # Python refuses to parse integers over 4300 digits with a ValueError, not a
    # JSONDecodeError: it must still be "invalid input", not a traceback.
    assert_refused(run("decide", input='{"at": ' + "9" * 5000 + "}"))


def test_missing_request_file(run: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    assert_refused(run("decide", str(missing)), "nowhere.json")


def test_request_file_is_a_directory(run: Runner, tmp_path: Path) -> None:
    assert_refused(run("decide", str(tmp_path)))


def test_request_file_not_utf8(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'\xff\xfe{"subject": "\xe9"}')
    assert_refused(run("decide", str(path)), "latin1.json")


def test_missing_catalogue(run: Runner, tmp_path: Path, request_file: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert_refused(run("decide", "--catalogue", str(missing), str(request_file)), "nowhere.yaml")


def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return path


def _unknown_level_catalogue() -> dict[str, Any]:
    doc = small_catalogue()
    doc["agreements"][0]["equivalence"][1] = {"JPN": "HI", "CAN": "NOPE"}
    return doc


def _level_in_two_rows() -> dict[str, Any]:
    doc = small_catalogue()
    doc["agreements"][0]["equivalence"].append({"JPN": "HI", "CAN": "S"})
    return doc


@pytest.mark.parametrize(
    ("doc", "place"),
    [
        pytest.param(
            _unknown_level_catalogue(), "agreements[0].equivalence[1]", id="unknown-level"
        ),
        pytest.param(_level_in_two_rows(), "agreements[0].equivalence[2]", id="level-in-two-rows"),
        pytest.param({"policies": {"X": 1}}, "policies.X", id="bad-shape"),
        pytest.param(["not", "a", "mapping"], "", id="not-a-mapping"),
    ],
)
def test_invalid_catalogue_refuses_every_decision(
    run: Runner, tmp_path: Path, request_file: Path, doc: Any, place: str
) -> None:
    path = _write(tmp_path, "bad.yaml", doc)
    assert_refused(run("decide", "--catalogue", str(path), str(request_file)), place)


def test_catalogue_that_is_not_yaml(run: Runner, tmp_path: Path, request_file: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("policies: [\n", "utf-8")
    assert_refused(run("decide", "--catalogue", str(path), str(request_file)), "YAML")


def test_catalogue_that_is_not_json(run: Runner, tmp_path: Path, request_file: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"policies": ', "utf-8")
    assert_refused(run("decide", "--catalogue", str(path), str(request_file)), "JSON")


def test_bad_catalogue_message_names_the_catalogue_file(
    run: Runner, tmp_path: Path, request_file: Path
) -> None:
    # With two input files on the command line, "line 2: not YAML" alone does not say
    # which file is wrong: the refusal must name the catalogue.
    path = tmp_path / "broken.yaml"
    path.write_text("policies: [\n", "utf-8")
    assert_refused(run("decide", "--catalogue", str(path), str(request_file)), "broken.yaml")


def test_catalogue_is_refused_before_reading_stdin(run: Runner, tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", _unknown_level_catalogue())
    assert_refused(run("decide", "--catalogue", str(path), input=compact(REQUEST)))
