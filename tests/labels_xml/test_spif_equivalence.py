"""A SPIF's equivalent classifications as the equivalence rows of the catalogue's
agreements, and back: every bundled policy's rows go out as a SPIF and come back to the
same equalities, and what the rows cannot hold is named, one line each."""

from __future__ import annotations

from typing import Any

import pytest

from gsoia.catalogue import read_catalogue
from gsoia.catalogue.load import catalogue_from_document
from gsoia.catalogue.model import Catalogue
from gsoia.labels_xml.spif_equivalence import equivalences, with_spif_policy
from gsoia.labels_xml.spif_read import read_spif
from gsoia.labels_xml.spif_write import PolicyEquivalence, policy_oid, write_spif

BUNDLED = read_catalogue()


def _equalities(catalogue: Catalogue, policy_id: str) -> set[tuple[str, str, str, str | None]]:
    """Every (policy, level, other policy, its equal level) the catalogue decides with,
    both ways, between ``policy_id`` and the others."""
    found = set()
    for agreement in catalogue.agreements:
        if policy_id not in agreement.parties:
            continue
        for other in agreement.parties:
            for one, into in ((policy_id, other), (other, policy_id)):
                for level in catalogue.policies[one].levels:
                    equal = agreement.equivalent(one, level.id, into)
                    found.add((one, level.id, into, equal))
    return found


def _imported(spif: bytes, catalogue: Catalogue = BUNDLED) -> tuple[Catalogue, list[str]]:
    document, notes = with_spif_policy(catalogue, read_spif(spif))
    return catalogue_from_document(document), notes


@pytest.mark.parametrize("policy_id", sorted(BUNDLED.policies))
def test_a_policys_rows_go_out_and_come_back_to_the_same_equalities(policy_id: str) -> None:
    policy = BUNDLED.policies[policy_id]
    spif = write_spif(policy_id, policy, equivalences(BUNDLED, policy_id))
    again, notes = _imported(spif)
    assert notes == []
    assert _equalities(again, policy_id) == _equalities(BUNDLED, policy_id)
    assert again.policies[policy_id].model_copy(update={"oid": None}) == policy
    untouched = [a for a in BUNDLED.agreements if policy_id not in a.parties]
    assert [a for a in again.agreements if policy_id not in a.parties] == untouched


def test_the_rows_say_where_they_come_from_and_join_equal_levels() -> None:
    """Levels equal to one level share its row, the highest first where no row of the
    agreement lists them already."""
    usa = BUNDLED.policies["USA"]
    spif = write_spif(
        "JPN",
        BUNDLED.policies["JPN"],
        [PolicyEquivalence("USA", usa, {"HI": ["C"], "GOKUHI": ["C"], "KIMITSU": ["S", "TS"]})],
    )
    again, notes = _imported(spif)
    assert notes == []
    (agreement,) = [a for a in again.agreements if a.id == "JPN-USA"]
    assert agreement.equivalence == [
        {"JPN": "KIMITSU", "USA": ["TS", "S"], "source": "SPIF Japan: equivalentClassification"},
        {"JPN": ["GOKUHI", "HI"], "USA": "C", "source": "SPIF Japan: equivalentClassification"},
    ]


def _usa_spif(equalities: str, policies: str = "") -> bytes:
    """The United States' SPIF with equalities of its SECRET (``equivalentClassification``
    attributes, one element per line of ``equalities``)."""
    text = write_spif("USA", BUNDLED.policies["USA"]).decode()
    elements = "".join(
        f"<spif:equivalentClassification {line}/>" for line in equalities.splitlines() if line
    )
    text = text.replace(
        'name="SECRET" lacv="2" hierarchy="2" />',
        f'name="SECRET" lacv="2" hierarchy="2">{elements}</spif:securityClassification>',
        1,
    )
    if policies:
        text = text.replace(
            "<spif:extensions>",
            f"<spif:equivalentPolicies>{policies}</spif:equivalentPolicies><spif:extensions>",
        )
    return text.encode()


def _oid(policy_id: str) -> str:
    return policy_oid(policy_id, BUNDLED.policies[policy_id])


@pytest.mark.parametrize(
    ("equalities", "note"),
    [
        (
            f'policyRef="{_oid("JPN")}" lacv="2" applied="encrypt"',
            "applied 'encrypt' holds one way; the catalogue's rows hold both ways: not carried",
        ),
        ('policyRef="9.9.9" lacv="2" applied="both"', "no other policy '9.9.9' in the catalogue"),
        (f'policyRef="{_oid("JPN")}" lacv="9" applied="both"', "no level of LACV 9 in JPN"),
        (
            f'policyRef="{_oid("CAN")}" lacv="2" applied="both"',
            "SPIF.equivalentPolicies[Canada]: no agreement has USA and CAN as parties",
        ),
    ],
)
def test_what_the_rows_cannot_hold_is_named_and_left_out(equalities: str, note: str) -> None:
    again, notes = _imported(_usa_spif(equalities))
    assert len(notes) == 1
    assert note in notes[0]
    assert _equalities(again, "USA") == _equalities(BUNDLED, "USA")


def test_an_equivalent_policy_named_by_its_name_is_found() -> None:
    spif = _usa_spif(
        'policyRef="Japan" lacv="3" applied="both"',
        f'<spif:equivalentPolicy id="{_oid("JPN")}" name="Japan"/>',
    )
    again, notes = _imported(spif)
    assert notes == []
    (agreement,) = [a for a in again.agreements if a.id == "JPN-USA"]
    assert agreement.rows() == [{"USA": ["S"], "JPN": ["TOKUTEI"]}]


def test_an_agreement_of_more_than_two_parties_keeps_its_rows() -> None:
    document: dict[str, Any] = BUNDLED.model_dump(mode="json", exclude_defaults=True)
    document["agreements"].append(
        {"id": "A-TRI", "title": "Three", "parties": ["USA", "CAN", "GBR"], "equivalence": []}
    )
    catalogue = catalogue_from_document(document)
    again, notes = _imported(
        _usa_spif(f'policyRef="{_oid("CAN")}" lacv="2" applied="both"'), catalogue
    )
    assert notes == [
        "SPIF.equivalentPolicies[Canada]: A-TRI has more than two parties: its rows kept"
    ]
    assert again.agreements == catalogue.agreements
