"""The catalogue's questions: status on a date, entry into force, equivalents, groups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from gsoia.catalogue import Agreement, Catalogue, Status

Document = dict[str, Any]
Load = Callable[[Document], Catalogue]


@pytest.fixture
def jpn_can(document: Document, load: Load) -> Agreement:
    """negotiating 2022-10-11, signed 2025-07-08, in_force 2025-10-16."""
    return load(document).agreements[0]


def _with_events(document: Document, load: Load, *events: tuple[str, dt.date]) -> Agreement:
    document["agreements"][0]["events"] = [{"status": s, "date": d} for s, d in events]
    return load(document).agreements[0]


# --- status_on ------------------------------------------------------------------------


def test_no_status_before_the_first_event(jpn_can: Agreement) -> None:
    assert jpn_can.status_on(dt.date(2022, 10, 10)) is None


def test_the_status_starts_on_the_event_date(jpn_can: Agreement) -> None:
    assert jpn_can.status_on(dt.date(2022, 10, 11)) is Status.NEGOTIATING
    assert jpn_can.status_on(dt.date(2025, 7, 8)) is Status.SIGNED
    assert jpn_can.status_on(dt.date(2025, 10, 16)) is Status.IN_FORCE


def test_the_status_lasts_until_the_next_event(jpn_can: Agreement) -> None:
    assert jpn_can.status_on(dt.date(2025, 7, 7)) is Status.NEGOTIATING
    assert jpn_can.status_on(dt.date(2025, 10, 15)) is Status.SIGNED
    assert jpn_can.status_on(dt.date(2099, 1, 1)) is Status.IN_FORCE


def test_no_events_means_no_status(document: Document, load: Load) -> None:
    agreement = _with_events(document, load)

    assert agreement.status_on(dt.date(2099, 1, 1)) is None
    assert not agreement.was_in_force_by(dt.date(2099, 1, 1))


def test_of_events_on_one_date_the_last_listed_holds(document: Document, load: Load) -> None:
    day = dt.date(2007, 8, 10)
    agreement = _with_events(document, load, ("signed", day), ("in_force", day))

    assert agreement.status_on(day) is Status.IN_FORCE
    assert agreement.status_on(day - dt.timedelta(days=1)) is None


# --- was_in_force_by ------------------------------------------------------------------


def test_not_in_force_by_the_day_before_entry_into_force(jpn_can: Agreement) -> None:
    assert not jpn_can.was_in_force_by(dt.date(2025, 10, 15))


def test_in_force_by_the_day_of_entry_into_force(jpn_can: Agreement) -> None:
    assert jpn_can.was_in_force_by(dt.date(2025, 10, 16))


def test_in_force_by_still_holds_after_termination(document: Document, load: Load) -> None:
    agreement = _with_events(
        document,
        load,
        ("in_force", dt.date(2010, 1, 1)),
        ("suspended", dt.date(2015, 1, 1)),
        ("terminated", dt.date(2020, 1, 1)),
    )

    assert agreement.status_on(dt.date(2016, 1, 1)) is Status.SUSPENDED
    assert agreement.status_on(dt.date(2021, 1, 1)) is Status.TERMINATED
    assert agreement.was_in_force_by(dt.date(2021, 1, 1))
    assert not agreement.was_in_force_by(dt.date(2009, 12, 31))


def test_signed_only_was_never_in_force(document: Document, load: Load) -> None:
    agreement = _with_events(document, load, ("signed", dt.date(2024, 11, 16)))

    assert not agreement.was_in_force_by(dt.date(2099, 1, 1))


# --- equivalent -----------------------------------------------------------------------


def test_equivalent_of_a_level_in_a_row(jpn_can: Agreement) -> None:
    assert jpn_can.equivalent("JPN", "KIMITSU", "CAN") == "TS"
    assert jpn_can.equivalent("JPN", "HI", "CAN") == "C"
    assert jpn_can.equivalent("CAN", "TS", "JPN") == "KIMITSU"


def test_several_levels_of_one_party_map_to_the_same_level(jpn_can: Agreement) -> None:
    assert jpn_can.equivalent("JPN", "GOKUHI", "CAN") == "S"
    assert jpn_can.equivalent("JPN", "TOKUTEI", "CAN") == "S"


def test_mapping_into_a_party_with_several_levels_takes_the_first_listed(
    jpn_can: Agreement,
) -> None:
    # row {JPN: [GOKUHI, TOKUTEI], CAN: S}
    assert jpn_can.equivalent("CAN", "S", "JPN") == "GOKUHI"


def test_first_listed_is_the_order_of_the_row_not_the_rank(document: Document, load: Load) -> None:
    document["agreements"][0]["equivalence"][1]["JPN"] = ["TOKUTEI", "GOKUHI"]

    assert load(document).agreements[0].equivalent("CAN", "S", "JPN") == "TOKUTEI"


def test_a_level_in_no_row_has_no_equivalent(document: Document, load: Load) -> None:
    del document["agreements"][0]["equivalence"][0]  # the KIMITSU = TS row

    agreement = load(document).agreements[0]

    assert agreement.equivalent("JPN", "KIMITSU", "CAN") is None
    assert agreement.equivalent("CAN", "TS", "JPN") is None


def test_no_equivalent_in_a_policy_that_is_not_a_party(jpn_can: Agreement) -> None:
    assert jpn_can.equivalent("JPN", "HI", "USA") is None


def test_equivalent_in_a_three_party_row_names_only_the_parties_it_lists(
    document: Document, load: Load
) -> None:
    document["agreements"].append(
        {
            "id": "JPN-CAN-USA",
            "title": "A trilateral agreement",
            "parties": ["JPN", "CAN", "USA"],
            "equivalence": [{"JPN": "HI", "CAN": "C"}, {"CAN": "S", "USA": "S"}],
        }
    )

    trilateral = load(document).agreements[2]

    assert trilateral.equivalent("USA", "S", "CAN") == "S"
    assert trilateral.equivalent("USA", "S", "JPN") is None
    assert trilateral.equivalent("JPN", "HI", "USA") is None


# --- groups ---------------------------------------------------------------------------


def test_expand_replaces_a_group_by_its_members(document: Document, load: Load) -> None:
    assert load(document).expand(["FVEY"]) == {"CAN", "USA"}


def test_expand_keeps_policy_ids_and_merges_groups(document: Document, load: Load) -> None:
    assert load(document).expand(["JPN", "FVEY", "CAN"]) == {"JPN", "CAN", "USA"}


def test_expand_of_nothing_is_nothing(document: Document, load: Load) -> None:
    assert load(document).expand([]) == set()


# --- levels ---------------------------------------------------------------------------


def test_rank_is_the_position_lowest_first(document: Document, load: Load) -> None:
    japan = load(document).policies["JPN"]

    assert [japan.rank(i) for i in ["HI", "GOKUHI", "TOKUTEI", "KIMITSU"]] == [0, 1, 2, 3]
    assert japan.rank("TS") is None
