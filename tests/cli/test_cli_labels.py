"""``gsoia spif import|export`` and ``gsoia label parse|render|marking`` on the NATO SPIF
and the ADatP-4774 Table 17 labels (tests/fixtures/spif), in this process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Runner, assert_refused, no_traceback

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "spif"
SPIF = str(FIXTURES / "nato-4774-policy.xml")


def _label(number: int) -> str:
    return str(FIXTURES / f"nato-4774-17-{number}.nato")


def test_spif_import_prints_a_catalogue_and_names_what_it_does_not_carry(
    run: Runner, tmp_path: Path
) -> None:
    result = run("spif", "import", SPIF)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("policies:\n  NATO:\n    name: NATO\n")
    assert "SPIF@originatorDN: not carried" in result.stderr
    (tmp_path / "nato.yaml").write_text(result.stdout, "utf-8")
    checked = run("catalogue", "check", "nato.yaml")
    assert checked.returncode == 0, checked.stderr


def test_spif_export_is_read_back_to_the_same_policy(run: Runner, tmp_path: Path) -> None:
    imported = run("spif", "import", SPIF, "--nation", "NAT")
    (tmp_path / "nato.yaml").write_text(imported.stdout, "utf-8")
    exported = run("spif", "export", "--policy", "NAT", "--catalogue", "nato.yaml")
    assert exported.returncode == 0, exported.stderr
    (tmp_path / "out.xml").write_text(exported.stdout, "utf-8")
    again = run("spif", "import", "out.xml")
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    assert again.stdout == imported.stdout.replace("  NATO:", "  NAT:")


def test_spif_export_of_a_bundled_policy(run: Runner, tmp_path: Path) -> None:
    exported = run("spif", "export", "--policy", "JPN")
    assert exported.returncode == 0, exported.stderr
    (tmp_path / "jpn.xml").write_text(exported.stdout, "utf-8")
    again = run("spif", "import", "jpn.xml")
    assert "  JPN:\n    name: Japan\n" in again.stdout
    assert "id: GOKUHI\n      name: 極秘\n      latin: Gokuhi" in again.stdout


def test_spif_import_with_a_catalogue_writes_the_equivalences_as_rows(
    run: Runner, tmp_path: Path
) -> None:
    from gsoia.catalogue import read_catalogue

    bundled = read_catalogue()
    (tmp_path / "catalogue.yaml").write_text(
        bundled.model_dump_json(exclude_defaults=True), "utf-8"
    )
    exported = run("spif", "export", "--policy", "USA")
    assert 'applied="both"' in exported.stdout
    (tmp_path / "usa.xml").write_text(exported.stdout, "utf-8")
    alone = run("spif", "import", "usa.xml")
    assert alone.returncode == 0, alone.stderr
    assert "equivalentClassification[" in alone.stderr
    assert "--catalogue writes it as an agreement's rows" in alone.stderr
    merged = run("spif", "import", "usa.xml", "--catalogue", "catalogue.yaml")
    assert merged.returncode == 0, merged.stderr
    assert merged.stderr == ""
    (tmp_path / "merged.yaml").write_text(merged.stdout, "utf-8")
    assert run("catalogue", "check", "merged.yaml").returncode == 0
    again = read_catalogue(tmp_path / "merged.yaml")
    (before,) = [a for a in bundled.agreements if a.id == "JPN-USA"]
    (after,) = [a for a in again.agreements if a.id == "JPN-USA"]
    assert after.rows() == before.rows()
    assert {row["source"] for row in after.equivalence} == {
        "SPIF United States: equivalentClassification"
    }


def test_spif_export_of_an_unknown_policy_is_refused(run: Runner) -> None:
    assert_refused(run("spif", "export", "--policy", "XXX"), "--policy: no policy 'XXX'")


def test_label_marking(run: Runner) -> None:
    result = run("label", "marking", _label(4), "--spif", SPIF)
    assert result.stdout == "NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine\n"
    french = run("label", "marking", _label(6), "--spif", SPIF, "--lang", "fr")
    assert french.stdout == "NATO/KFOR CONFIDENTIEL Irlande, Suède, Ukraine, NATO SEULEMENT\n"


def test_a_label_invalid_under_its_spif_is_refused_naming_the_element(run: Runner) -> None:
    assert_refused(
        run("label", "marking", _label(5), "--spif", SPIF),
        "Category[Releasable To].GenericValue[EAPC]: excluded at CONFIDENTIAL",
    )
    assert_refused(run("label", "parse", _label(5), "--spif", SPIF), "GenericValue[EAPC]")


def test_parse_then_render_gives_the_label_back(run: Runner, tmp_path: Path) -> None:
    parsed = run("label", "parse", _label(1), "--spif", SPIF)
    assert parsed.returncode == 0, parsed.stderr
    label = json.loads(parsed.stdout)
    assert label["policy_uri"] == "urn:oid:1.3.26.1.3.1"
    (tmp_path / "label.json").write_text(parsed.stdout, "utf-8")
    rendered = run("label", "render", "label.json", "--format", "4774")
    (tmp_path / "label.xml").write_text(rendered.stdout, "utf-8")
    assert json.loads(run("label", "parse", "label.xml").stdout) == label
    marking = run("label", "render", "label.json", "--format", "marking", "--spif", SPIF)
    assert marking.stdout == "NATO UNCLASSIFIED Releasable to ISAF, KFOR, RESOLUTE SUPPORT\n"


def test_render_without_a_spif_marks_by_the_label_alone(run: Runner, tmp_path: Path) -> None:
    (tmp_path / "label.json").write_text(run("label", "parse", _label(2)).stdout, "utf-8")
    result = run("label", "render", "label.json", "--format", "marking")
    assert result.stdout == "NATO UNCLASSIFIED Context: NATO\n"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"policy": "NATO"}', "classification: Field required"),
        ('{"policy": "NATO", "classification": "S", "colour": "red"}', "colour"),
        ("not json", "label.json"),
    ],
)
def test_render_refuses_a_malformed_json_label(
    run: Runner, tmp_path: Path, content: str, fragment: str
) -> None:
    (tmp_path / "label.json").write_text(content, "utf-8")
    assert_refused(run("label", "render", "label.json"), fragment)


def test_hostile_xml_is_refused_with_one_line(run: Runner, tmp_path: Path) -> None:
    (tmp_path / "bomb.xml").write_text(
        '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><SPIF>&b;</SPIF>', "utf-8"
    )
    assert_refused(run("spif", "import", "bomb.xml"), "DTDForbidden")
    assert_refused(run("label", "parse", "bomb.xml"), "DTDForbidden")
