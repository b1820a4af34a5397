"""The bundled catalogue against docs/agreements.md: ids users name, dates, sources."""

from __future__ import annotations

import datetime as dt

import pytest

from gsoia.catalogue import Agreement, Catalogue, Status, read_catalogue

MUST_LEVEL_IDS = {
    "JPN": ["HI", "GOKUHI", "TOKUTEI", "KIMITSU"],
    "USA": ["C", "S", "TS"],
    "CAN": ["C", "S", "TS"],
    "GBR": ["S", "TS"],
    "AUS": ["P", "S", "TS"],
    "FRA": ["S", "TS"],
    "DEU": ["VSNFD", "VSV", "GEHEIM", "STRGEHEIM"],
    "KOR": ["III", "II", "I"],
    "NATO": ["NR", "NC", "NS", "CTS"],
    "IND": ["R", "C", "S", "TS"],
    "NZL": ["R", "C", "S", "TS"],
    "ITA": ["R", "RR", "S", "SS"],
}
"""The level ids of docs/agreements.md, lowest first (UKR is there too, its scheme unsourced)."""

AGREEMENT_IDS = [
    "JPN-USA",
    "JPN-NATO",
    "JPN-FRA",
    "JPN-AUS",
    "JPN-GBR",
    "JPN-IND",
    "JPN-ITA",
    "JPN-KOR",
    "JPN-DEU",
    "JPN-UKR",
    "JPN-CAN",
]

SOURCED_TABLES = {"JPN-KOR"}
"""The only equivalence table read in full (docs/agreements.md); every other is assumed."""


@pytest.fixture(scope="module")
def bundled() -> Catalogue:
    return read_catalogue()


def _agreement(catalogue: Catalogue, agreement_id: str) -> Agreement:
    agreement = catalogue.agreement(agreement_id)
    assert agreement is not None, agreement_id
    return agreement


def test_thirteen_policies(bundled: Catalogue) -> None:
    assert len(bundled.policies) == 13
    assert set(bundled.policies) == {*MUST_LEVEL_IDS, "UKR"}


@pytest.mark.parametrize("policy", sorted(MUST_LEVEL_IDS))
def test_level_ids_lowest_first(bundled: Catalogue, policy: str) -> None:
    assert [level.id for level in bundled.policies[policy].levels] == MUST_LEVEL_IDS[policy]


def test_fvey_group(bundled: Catalogue) -> None:
    assert bundled.groups["FVEY"] == ["AUS", "CAN", "GBR", "NZL", "USA"]


def test_agreement_ids(bundled: Catalogue) -> None:
    assert [a.id for a in bundled.agreements] == AGREEMENT_IDS


def test_party_order_as_written_in_the_id(bundled: Catalogue) -> None:
    for agreement in bundled.agreements:
        assert "-".join(agreement.parties) == agreement.id


def _blank(source: object) -> bool:
    return not isinstance(source, str) or not source.strip()


def test_every_agreement_has_a_source(bundled: Catalogue) -> None:
    assert [a.id for a in bundled.agreements if _blank(a.source)] == []


def test_every_equivalence_row_has_a_source(bundled: Catalogue) -> None:
    missing = [
        f"{a.id} equivalence[{r}]"
        for a in bundled.agreements
        for r, row in enumerate(a.equivalence)
        if _blank(row.get("source"))
    ]

    assert missing == []


def test_every_event_has_a_source(bundled: Catalogue) -> None:
    missing = [
        f"{a.id} events[{e}]"
        for a in bundled.agreements
        for e, event in enumerate(a.events)
        if _blank(event.source)
    ]

    assert missing == []


def test_every_agreement_has_events_and_rows(bundled: Catalogue) -> None:
    assert [a.id for a in bundled.agreements if not a.events or not a.equivalence] == []


def test_unverified_rows_say_assumed(bundled: Catalogue) -> None:
    for agreement in bundled.agreements:
        for r, row in enumerate(agreement.equivalence):
            source = str(row["source"])
            if agreement.id in SOURCED_TABLES:
                assert "assumed" not in source, f"{agreement.id} row {r}"
            else:
                assert "assumed" in source, f"{agreement.id} row {r}"


@pytest.mark.parametrize(
    ("day", "status"),
    [
        (dt.date(2022, 10, 10), None),
        (dt.date(2022, 10, 11), Status.NEGOTIATING),
        (dt.date(2025, 7, 7), Status.NEGOTIATING),
        (dt.date(2025, 7, 8), Status.SIGNED),
        (dt.date(2025, 10, 15), Status.SIGNED),
        (dt.date(2025, 10, 16), Status.IN_FORCE),
    ],
    ids=str,
)
def test_japan_canada_status(bundled: Catalogue, day: dt.date, status: Status | None) -> None:
    assert _agreement(bundled, "JPN-CAN").status_on(day) is status


def test_japan_ukraine_is_signed_but_not_in_force(bundled: Catalogue) -> None:
    ukraine = _agreement(bundled, "JPN-UKR")

    assert ukraine.status_on(dt.date(2024, 11, 16)) is Status.SIGNED
    assert ukraine.status_on(dt.date(2026, 12, 31)) is Status.SIGNED
    assert not ukraine.was_in_force_by(dt.date(2026, 12, 31))


def test_japan_usa_in_force_on_signature(bundled: Catalogue) -> None:
    assert _agreement(bundled, "JPN-USA").status_on(dt.date(2007, 8, 10)) is Status.IN_FORCE


def test_japan_korea_table_of_article_4(bundled: Catalogue) -> None:
    korea = _agreement(bundled, "JPN-KOR")

    assert korea.equivalent("JPN", "GOKUHI", "KOR") == "II"
    assert korea.equivalent("JPN", "TOKUTEI", "KOR") == "II"
    assert korea.equivalent("JPN", "HI", "KOR") == "III"
    assert korea.equivalent("JPN", "KIMITSU", "KOR") is None
    assert korea.equivalent("KOR", "I", "JPN") is None


def test_japan_korea_articles(bundled: Catalogue) -> None:
    korea = _agreement(bundled, "JPN-KOR")

    assert korea.articles["MARKING"] == "Art. 4"
    assert korea.articles["SURVIVAL"] == "Art. 21"


def test_the_bundled_catalogue_reads_the_same_twice(bundled: Catalogue) -> None:
    assert read_catalogue() == bundled
