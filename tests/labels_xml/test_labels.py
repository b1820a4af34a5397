"""STANAG 4774 labels: the ADatP-4774 Table 17 examples read, checked against the NATO
SPIF, marked as spiffing's own tests expect, written back with nothing lost; and the
refusals, each naming the element."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsoia.labels_xml import LabelXmlError
from gsoia.labels_xml.label4774 import LabelDocument, LabelKind, read_label, write_label
from gsoia.labels_xml.label_check import check_label
from gsoia.labels_xml.marking import display_marking
from gsoia.labels_xml.spif_read import read_spif

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "spif"
NATO = read_spif((FIXTURES / "nato-4774-policy.xml").read_bytes()).policy
NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"


def _label(number: int) -> LabelDocument:
    return read_label((FIXTURES / f"nato-4774-17-{number}.nato").read_bytes())


@pytest.mark.parametrize(
    ("number", "lang", "marking"),
    [
        (1, None, "NATO UNCLASSIFIED Releasable to ISAF, KFOR, RESOLUTE SUPPORT"),
        (1, "fr", "NATO SANS CLASSIFICATION Communicable a ISAF, KFOR, RESOLUTE SUPPORT"),
        (1, "fr-CA", "NATO SANS CLASSIFICATION Communicable a ISAF, KFOR, RESOLUTE SUPPORT"),
        (2, None, "NATO UNCLASSIFIED"),
        (3, None, "NATO UNCLASSIFIED - STAFF"),
        (4, None, "NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine"),
        (4, "en-GB", "NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine"),
        (6, None, "NATO/KFOR CONFIDENTIAL Ireland, Sweden, Ukraine, NATO ONLY"),
    ],
)
def test_the_markings_read_as_the_spif_says(number: int, lang: str | None, marking: str) -> None:
    assert display_marking(check_label(_label(number), NATO), NATO, lang) == marking


def test_cosmic_replaces_the_policy_name() -> None:
    label = LabelDocument(policy="NATO", classification="TOP SECRET")
    assert display_marking(check_label(label, NATO), NATO) == "COSMIC TOP SECRET"


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5, 6])
def test_label_to_json_to_label_loses_nothing(number: int) -> None:
    label = _label(number)
    as_json = label.model_dump_json(exclude_defaults=True)
    again = LabelDocument.model_validate_json(as_json)
    assert again == label
    assert read_label(write_label(again)) == label


def test_the_parts_of_a_label() -> None:
    label = _label(1)
    assert label.kind is LabelKind.ORIGINATOR
    assert label.policy_oid == "1.3.26.1.3.1"
    checked = check_label(label, NATO)
    assert checked.level.id == "UNCLASSIFIED"
    assert checked.categories["Releasable To"] == ["NATO", "ISAF", "KFOR", "RESOLUTE SUPPORT"]


def test_an_alternative_label_keeps_its_kind_and_creation_time() -> None:
    label = LabelDocument(
        kind=LabelKind.ALTERNATIVE,
        policy="NATO",
        classification="SECRET",
        created="2026-03-01T10:00:00Z",
    )
    xml = write_label(label)
    assert b"alternativeConfidentialityLabel" in xml
    assert read_label(xml) == label


def _category(tag: str, kind: str, *values: str) -> str:
    inner = "".join(f"<GenericValue>{value}</GenericValue>" for value in values)
    return f'<Category TagName="{tag}" Type="{kind}">{inner}</Category>'


def _with(category: str, classification: str = "CONFIDENTIAL") -> LabelDocument:
    return read_label(
        f'<originatorConfidentialityLabel xmlns="{NS}"><ConfidentialityInformation>'
        f"<PolicyIdentifier>NATO</PolicyIdentifier>"
        f"<Classification>{classification}</Classification>{category}"
        "</ConfidentialityInformation></originatorConfidentialityLabel>".encode()
    )


@pytest.mark.parametrize(
    ("label", "place", "reason"),
    [
        (_label(5), "Category[Releasable To].GenericValue[EAPC]", "excluded at CONFIDENTIAL"),
        (
            _with(_category("Flavour", "PERMISSIVE", "X")),
            "Category[Flavour]",
            "unknown tag of NATO",
        ),
        (
            _with(_category("Only", "PERMISSIVE", "XYZ")),
            "Category[Only].GenericValue[XYZ]",
            "unknown category of Only",
        ),
        (
            _with('<Category TagName="Additional Sensitivity" Type="RESTRICTIVE"/>'),
            "Category[Additional Sensitivity]",
            "a restrictive category with no value",
        ),
        (
            _with(_category("Only", "RESTRICTIVE", "CAN")),
            "Category[Only]@Type",
            "RESTRICTIVE, but the tag is PERMISSIVE",
        ),
        (
            _with(
                '<Category TagName="Additional Sensitivity" Type="RESTRICTIVE">'
                "<GenericValue>ATOMAL</GenericValue></Category>",
                "RESTRICTED",
            ),
            "Category[Additional Sensitivity].GenericValue[ATOMAL]",
            "excluded at RESTRICTED",
        ),
        (
            _with("", "VERY SECRET"),
            "Classification",
            "'VERY SECRET' is not a classification of NATO",
        ),
    ],
)
def test_a_label_invalid_under_its_spif_is_refused_naming_the_element(
    label: LabelDocument, place: str, reason: str
) -> None:
    with pytest.raises(LabelXmlError) as caught:
        check_label(label, NATO)
    assert (caught.value.place, caught.value.reason) == (place, reason)


def test_a_label_of_another_policy_is_refused() -> None:
    other = LabelDocument(policy="NATO", policy_uri="urn:oid:1.2.3", classification="SECRET")
    with pytest.raises(LabelXmlError, match=r"PolicyIdentifier@URL: 1\.2\.3 is not"):
        check_label(other, NATO)


@pytest.mark.parametrize(
    ("xml", "place"),
    [
        (f'<ConfidentialityLabel xmlns="{NS}"/>', "ConfidentialityLabel"),
        (f'<Label xmlns="{NS}"/>', "Label"),
        (
            f'<ConfidentialityLabel xmlns="{NS}"><ConfidentialityInformation>'
            "<PolicyIdentifier>NATO</PolicyIdentifier><Secret/></ConfidentialityInformation>"
            "</ConfidentialityLabel>",
            "ConfidentialityInformation.Secret",
        ),
        (
            f'<ConfidentialityLabel xmlns="{NS}"><ConfidentialityInformation>'
            "<PolicyIdentifier>NATO</PolicyIdentifier></ConfidentialityInformation>"
            "</ConfidentialityLabel>",
            "ConfidentialityInformation",
        ),
    ],
)
def test_a_malformed_label_is_refused(xml: str, place: str) -> None:
    with pytest.raises(LabelXmlError) as caught:
        read_label(xml.encode())
    assert caught.value.place == place
