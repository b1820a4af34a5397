"""SPIF -> catalogue policy -> SPIF, on the NATO SPIF that spiffing publishes, on every
policy of the bundled catalogue, and the refusals of SPIFs gsoia cannot carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsoia.catalogue import parse_catalogue, read_catalogue
from gsoia.catalogue.categories import CategoryKind
from gsoia.errors import CatalogueError
from gsoia.labels_xml import LabelXmlError
from gsoia.labels_xml.policy_yaml import policy_yaml
from gsoia.labels_xml.spif_read import read_spif
from gsoia.labels_xml.spif_write import write_spif

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "spif"
NATO_SPIF = (FIXTURES / "nato-4774-policy.xml").read_bytes()


def test_the_nato_spif_reads_into_a_policy() -> None:
    read = read_spif(NATO_SPIF)
    policy = read.policy
    assert read.policy_id == "NATO"
    assert policy.oid == "1.3.26.1.3.1"
    assert [level.id for level in policy.levels] == [
        "UNCLASSIFIED",
        "RESTRICTED",
        "CONFIDENTIAL",
        "SECRET",
        "TOP_SECRET",
    ]
    assert policy.levels[4].name == "TOP SECRET"
    french = [m.phrase for m in policy.levels[1].markings if m.lang == "fr"]
    assert french == ["DIFFUSION RESTREINTE"]
    kinds = {tag.name: tag.kind for tag in policy.tags.values()}
    assert kinds == {
        "Additional Sensitivity": CategoryKind.RESTRICTIVE,
        "Releasable To": CategoryKind.ENUMERATED_PERMISSIVE,
        "Only": CategoryKind.ENUMERATED_PERMISSIVE,
        "Administrative": CategoryKind.INFORMATIVE,
        "Context": CategoryKind.PERMISSIVE,
    }
    eapc = next(v for v in policy.tags["Releasable To"].values if v.name == "EAPC")
    assert eapc.excluded == ["RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP_SECRET"]
    assert eapc.lacv == 1101


def test_what_describes_the_document_is_named_one_line_each() -> None:
    notes = read_spif(NATO_SPIF).notes
    assert "SPIF@originatorDN: not carried (describes the document)" in notes
    assert "SPIF.extensions.BindingInformation: not carried" in notes
    assert all("\n" not in note for note in notes)


def test_spif_to_catalogue_to_spif_loses_nothing() -> None:
    read = read_spif(NATO_SPIF)
    again = read_spif(write_spif(read.policy_id, read.policy))
    assert again.policy == read.policy
    assert again.policy_id == "NATO"
    assert again.notes == []


def test_the_catalogue_yaml_is_a_catalogue_holding_the_same_policy() -> None:
    read = read_spif(NATO_SPIF)
    catalogue = parse_catalogue(policy_yaml(read.policy_id, read.policy))
    assert catalogue.policies["NATO"] == read.policy


@pytest.mark.parametrize("policy_id", sorted(read_catalogue().policies))
def test_every_bundled_policy_goes_out_and_back(policy_id: str) -> None:
    policy = read_catalogue().policies[policy_id]
    again = read_spif(write_spif(policy_id, policy))
    assert again.policy_id == policy_id
    assert again.policy.oid is not None
    assert again.policy.oid.startswith("2.25.")
    assert again.policy.model_copy(update={"oid": None}) == policy


def test_nation_names_the_policy() -> None:
    assert read_spif(NATO_SPIF, nation="NATO2").policy_id == "NATO2"
    with pytest.raises(LabelXmlError, match="--nation: 'nato' is not a policy id"):
        read_spif(NATO_SPIF, nation="nato")


def _spif(body: str) -> bytes:
    return (
        '<spif:SPIF xmlns:spif="http://www.xmlspif.org/spif" schemaVersion="2.1">'
        '<spif:securityPolicyId name="TEST" id="1.2.3.4"/>'
        "<spif:securityClassifications>"
        '<spif:securityClassification name="LOW" lacv="1" hierarchy="1"/>'
        '<spif:securityClassification name="HIGH" lacv="2" hierarchy="2"/>'
        f"</spif:securityClassifications>{body}</spif:SPIF>"
    ).encode()


def _tag(tag_type: str, category: str) -> str:
    return (
        '<spif:securityCategoryTagSets><spif:securityCategoryTagSet name="S" id="1.2.3.5">'
        f'<spif:securityCategoryTag name="T" tagType="{tag_type}">{category}'
        "</spif:securityCategoryTag></spif:securityCategoryTagSet></spif:securityCategoryTagSets>"
    )


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ("<spif:requiredCategories/>", "SPIF.requiredCategories"),
        (_tag("tagType9", '<spif:tagCategory name="A" lacv="1"/>'), "securityCategoryTag[T]"),
        (
            _tag(
                "restrictive",
                '<spif:tagCategory name="A" lacv="1"><spif:excludedClass>NONE'
                "</spif:excludedClass></spif:tagCategory>",
            ),
            "securityCategoryTag[T].tagCategory[A].excludedClass",
        ),
        (
            _tag(
                "restrictive",
                '<spif:tagCategory name="A" lacv="1"><spif:requiredCategory/></spif:tagCategory>',
            ),
            "securityCategoryTag[T].tagCategory[A].requiredCategory",
        ),
    ],
)
def test_what_would_change_a_decision_refuses_the_whole_spif(body: str, place: str) -> None:
    with pytest.raises(LabelXmlError) as caught:
        read_spif(_spif(body))
    assert caught.value.place == place


def test_a_small_spif_reads() -> None:
    read = read_spif(_spif(_tag("restrictive", '<spif:tagCategory name="A" lacv="7"/>')))
    assert read.policy_id == "TEST"
    assert read.policy.tags["T"].values[0].lacv == 7


def test_a_category_named_twice_is_refused_by_the_catalogue() -> None:
    read = read_spif(_spif(_tag("restrictive", '<spif:tagCategory name="A" lacv="7"/>')))
    text = policy_yaml(read.policy_id, read.policy).replace(
        "lacv: 7", "lacv: 7\n        - {name: A, lacv: 8}"
    )
    with pytest.raises(CatalogueError, match=r"categories\[0\]\.tags\[0\]\.values\[1\]"):
        parse_catalogue(text)


def test_not_a_spif_is_refused() -> None:
    with pytest.raises(LabelXmlError, match="not SPIF"):
        read_spif(b"<SPIF/>")
