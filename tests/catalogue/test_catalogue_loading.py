"""Reading a catalogue: its shape, YAML and JSON, files; all or nothing (docs/decision.md §1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gsoia.catalogue import Catalogue, parse_catalogue, read_catalogue
from gsoia.errors import CatalogueError

Document = dict[str, Any]
Load = Callable[[Document], Catalogue]
Refuse = Callable[[Document], CatalogueError]


def _json(document: Document) -> str:
    return json.dumps(document, default=str, ensure_ascii=False)


# --- shape: unknown attributes, types, required fields ---------------------------------


@pytest.mark.parametrize(
    ("path", "place"),
    [
        ((), "colour"),
        (("policies", "JPN"), "policies.JPN.colour"),
        (("policies", "JPN", "levels", 0), "policies.JPN.levels[0].colour"),
        (("agreements", 0), "agreements[0].colour"),
        (("agreements", 0, "events", 1), "agreements[0].events[1].colour"),
    ],
    ids=["document", "policy", "level", "agreement", "event"],
)
def test_unknown_attribute(
    document: Document, refuse: Refuse, path: tuple[str | int, ...], place: str
) -> None:
    target: Any = document
    for step in path:
        target = target[step]
    target["colour"] = "red"

    err = refuse(document)

    assert err.problems[0].place == place
    if place.startswith("agreements"):  # the agreement named too: JPN-CAN is the first
        assert err.problems[0].reason == "unknown attribute (agreement JPN-CAN)"
    else:
        assert err.problems[0].reason == "unknown attribute"


def test_policy_levels_given_as_a_string(document: Document, refuse: Refuse) -> None:
    document["policies"]["JPN"]["levels"] = "HI"

    err = refuse(document)

    assert err.problems[0].place == "policies.JPN.levels"
    assert "valid list" in err.problems[0].reason


def test_parties_given_as_a_string(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["parties"] = "JPN"

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].parties"
    assert "valid list" in err.problems[0].reason


def test_an_event_date_that_is_not_a_date(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["events"][1]["date"] = "soon"

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].events[1].date"
    assert "valid date" in err.problems[0].reason


def test_an_unknown_status(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["events"][1]["status"] = "ratified"

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].events[1].status"
    assert "in_force" in err.problems[0].reason


def test_an_empty_levels_list(document: Document, refuse: Refuse) -> None:
    document["policies"]["USA"]["levels"] = []

    err = refuse(document)

    assert err.problems[0].place == "policies.USA.levels"
    assert "at least 1 item" in err.problems[0].reason


def test_an_agreement_with_one_party(document: Document, refuse: Refuse) -> None:
    document["agreements"][1]["parties"] = ["JPN"]

    err = refuse(document)

    assert err.problems[0].place == "agreements[1].parties"
    assert "at least 2 items" in err.problems[0].reason


def test_a_missing_policies_section(document: Document, refuse: Refuse) -> None:
    del document["policies"]

    err = refuse(document)

    assert err.problems[0].place == "policies"
    assert err.problems[0].reason == "required, missing"


def test_a_lower_case_policy_id(document: Document, refuse: Refuse) -> None:
    document["policies"]["jpn"] = document["policies"]["USA"]

    err = refuse(document)

    assert err.problems[0].place.startswith("policies.jpn")
    assert "should match pattern" in err.problems[0].reason


@pytest.mark.parametrize(
    "text", ["- JPN\n- CAN\n", "just words\n", "", "42\n"], ids=["list", "text", "empty", "number"]
)
def test_a_document_that_is_not_a_mapping(text: str) -> None:
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text)

    assert err.value.problems[0].place == ""
    assert "a catalogue is a mapping" in err.value.problems[0].reason


def test_source_keys_in_rows_are_accepted(document: Document, load: Load) -> None:
    document["agreements"][0]["equivalence"][2]["source"] = "Art. 4 of the agreement text"

    agreement = load(document).agreements[0]

    assert agreement.equivalence[2]["source"] == "Art. 4 of the agreement text"
    assert agreement.rows()[2] == {"JPN": ["HI"], "CAN": ["C"]}
    assert agreement.equivalent("CAN", "C", "JPN") == "HI"


def test_a_row_source_that_is_not_a_string(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][2]["source"] = ["a", "list"]

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[2].source"
    assert "must be a string" in err.problems[0].reason


# --- YAML -----------------------------------------------------------------------------

_YAML_WORDS = """\
policies:
  JPN:
    name: Japan
    levels:
      - {id: HI, name: Hi}
  ON:
    name: A policy whose id YAML 1.1 reads as a boolean
    levels:
      - {id: N, name: n}
      - {id: NO, name: no}
      - {id: Y, name: y}
      - {id: YES, name: yes}
      - {id: OFF, name: off}
agreements:
  - id: JPN-ON
    title: t
    parties: [JPN, ON]
    equivalence:
      - {JPN: HI, ON: [NO, Y]}
"""


def test_yaml_boolean_words_stay_strings() -> None:
    catalogue = parse_catalogue(_YAML_WORDS)

    assert list(catalogue.policies) == ["JPN", "ON"]
    assert [level.id for level in catalogue.policies["ON"].levels] == ["N", "NO", "Y", "YES", "OFF"]
    assert catalogue.agreements[0].parties == ["JPN", "ON"]
    assert catalogue.agreements[0].equivalent("JPN", "HI", "ON") == "NO"
    assert catalogue.agreements[0].equivalent("ON", "Y", "JPN") == "HI"


def test_repeated_policy_id_in_a_yaml_mapping() -> None:
    text = """\
policies:
  CAN:
    name: Canada
    levels: [{id: C, name: CONFIDENTIAL}]
  CAN:
    name: Canada again
    levels: [{id: S, name: SECRET}]
"""
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text)

    assert err.value.problems[0].place == "line 5"
    assert "key 'CAN' is repeated" in err.value.problems[0].reason


def test_repeated_party_key_in_a_yaml_row() -> None:
    text = """\
policies:
  JPN: {name: Japan, levels: [{id: HI, name: Hi}, {id: GOKUHI, name: Gokuhi}]}
  CAN: {name: Canada, levels: [{id: C, name: C}]}
agreements:
  - {id: JPN-CAN, title: t, parties: [JPN, CAN], equivalence: [{JPN: HI, CAN: C, JPN: GOKUHI}]}
"""
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text)

    assert err.value.problems[0].place == "line 5"
    assert "key 'JPN' is repeated" in err.value.problems[0].reason


def test_yaml_syntax_error() -> None:
    with pytest.raises(CatalogueError) as err:
        parse_catalogue("policies:\n  JPN: [HI\n")

    assert err.value.problems[0].place.startswith("line ")
    assert err.value.problems[0].reason.startswith("not YAML")


def test_yaml_python_tags_are_refused() -> None:
    with pytest.raises(CatalogueError) as err:
        parse_catalogue("policies: !!python/object/apply:os.getcwd []\n")

    assert err.value.problems[0].place == "line 1"
    assert err.value.problems[0].reason.startswith("not YAML")


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "{[JPN]: x}\n"], ids=["block", "flow"])
def test_yaml_mapping_key_that_is_a_list(text: str) -> None:
    # A malformed document is refused with a CatalogueError, never a crash (TypeError).
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text)

    assert err.value.problems[0].place == "line 1"


@pytest.mark.parametrize("is_json", [False, True], ids=["yaml", "json"])
def test_a_pathologically_nested_document(is_json: bool) -> None:
    # A malformed document is refused with a CatalogueError, never a crash (RecursionError).
    text = '{"policies": ' + "[" * 50_000 + "]" * 50_000 + "}"

    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text, is_json=is_json)

    assert err.value.problems[0].reason


# --- JSON -----------------------------------------------------------------------------


def test_a_json_file_is_read_as_json(document: Document, tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text(_json(document), "utf-8")

    catalogue = read_catalogue(path)

    assert [a.id for a in catalogue.agreements] == ["JPN-CAN", "JPN-USA"]
    assert catalogue.agreements[0].events[0].date.isoformat() == "2022-10-11"


def test_json_syntax_error(document: Document, tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text(_json(document)[:-1] + ",}", "utf-8")

    with pytest.raises(CatalogueError) as err:
        read_catalogue(path)

    assert err.value.problems[0].place == "line 1"
    assert err.value.problems[0].reason.startswith("not JSON")


def test_json_is_not_read_as_yaml(tmp_path: Path) -> None:
    # Valid YAML, invalid JSON: a .json file must be JSON.
    path = tmp_path / "catalogue.json"
    path.write_text("policies: {}\n", "utf-8")

    with pytest.raises(CatalogueError) as err:
        read_catalogue(path)

    assert err.value.problems[0].reason.startswith("not JSON")


def test_repeated_policy_id_in_a_json_object_is_refused() -> None:
    text = '{"policies": {"JPN": {"name": "a", "levels": []}, "JPN": {"name": "b", "levels": []}}}'

    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text, is_json=True)

    assert "key 'JPN' is repeated" in err.value.problems[0].reason


def test_repeated_policy_id_in_a_json_object_names_the_place() -> None:
    # docs/decision.md §1: rejected "with a message that names the place".
    text = (
        '{"policies": {"JPN": {"name": "a", "levels": []},\n "JPN": {"name": "b", "levels": []}}}'
    )

    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text, is_json=True)

    assert err.value.problems[0].place != ""


# --- files ----------------------------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"

    with pytest.raises(CatalogueError) as err:
        read_catalogue(path)

    assert err.value.problems[0].place == str(path)
    assert err.value.problems[0].reason == "no such file"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_bytes("policies: {}\n# caf\N{LATIN SMALL LETTER E WITH ACUTE}\n".encode("latin-1"))

    with pytest.raises(CatalogueError) as err:
        read_catalogue(path)

    assert err.value.problems[0].place == str(path)
    assert "not UTF-8" in err.value.problems[0].reason


def test_a_yaml_file_is_read(document: Document, tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(_json(document), "utf-8")  # JSON is YAML too

    assert list(read_catalogue(path).policies) == ["JPN", "CAN", "USA"]


# --- all or nothing -------------------------------------------------------------------


def test_a_refused_file_yields_nothing_and_every_problem(
    document: Document, tmp_path: Path
) -> None:
    document["agreements"][0]["colour"] = "red"
    document["agreements"][1]["events"][0]["date"] = "soon"
    path = tmp_path / "catalogue.json"
    path.write_text(_json(document), "utf-8")
    result: Catalogue | None = None

    with pytest.raises(CatalogueError) as err:
        result = read_catalogue(path)

    assert result is None
    assert len(err.value.problems) > 1
    assert [p.place for p in err.value.problems] == [
        "agreements[0].colour",
        "agreements[1].events[0].date",
    ]
    assert str(err.value).startswith("agreements[0].colour: unknown attribute")
    assert "(and 1 more)" in str(err.value)


def test_a_problem_in_an_agreement_names_it_and_echoes_the_value(
    document: Document, refuse: Refuse
) -> None:
    document["agreements"][1]["events"][0]["status"] = "ratified"
    err = refuse(document)
    problem = err.problems[0]
    agreement = document["agreements"][1]["id"]
    assert problem.place == "agreements[1].events[0].status"
    assert problem.reason.endswith(f"; given 'ratified' (agreement {agreement})")


def test_a_bad_date_is_echoed(document: Document, refuse: Refuse) -> None:
    document["agreements"][1]["events"][0]["date"] = "2013-13-01"
    err = refuse(document)
    [problem] = err.problems
    assert problem.place == "agreements[1].events[0].date"
    assert "given '2013-13-01'" in problem.reason
