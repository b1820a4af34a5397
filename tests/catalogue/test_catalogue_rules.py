"""The cross-reference rules of docs/decision.md §1, one change of a valid catalogue per test.

"A catalogue that references an unknown policy, level or group, repeats an id, lists a level
twice in one equivalence row, puts one level in two rows of one agreement, maps a level of
one party to different levels of another in two agreements that share both parties, or has
events out of date order is rejected on load with a message that names the place."
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from gsoia.catalogue import Catalogue
from gsoia.errors import CatalogueError

Document = dict[str, Any]
Load = Callable[[Document], Catalogue]
Refuse = Callable[[Document], CatalogueError]


def test_the_minimal_document_is_accepted(document: Document, load: Load) -> None:
    catalogue = load(document)

    assert list(catalogue.policies) == ["JPN", "CAN", "USA"]
    assert [a.id for a in catalogue.agreements] == ["JPN-CAN", "JPN-USA"]


# --- unknown references ---------------------------------------------------------------


def test_unknown_policy_as_a_party(document: Document, refuse: Refuse) -> None:
    document["agreements"][1]["parties"] = ["JPN", "KOR"]

    err = refuse(document)

    assert err.problems[0].place == "agreements[1].parties[1]"
    assert "unknown policy 'KOR'" in err.problems[0].reason


def test_unknown_policy_in_an_equivalence_row(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][2]["KOR"] = "III"

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[2]"
    assert "unknown policy 'KOR'" in err.problems[0].reason


def test_unknown_policy_in_a_group(document: Document, refuse: Refuse) -> None:
    document["groups"]["FVEY"].append("NZL")

    err = refuse(document)

    assert err.problems[0].place == "groups.FVEY[2]"
    assert "unknown policy 'NZL'" in err.problems[0].reason


def test_unknown_level_in_an_equivalence_row(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][2]["CAN"] = "R"

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[2]"
    assert "unknown level 'R' of CAN" in err.problems[0].reason


def test_a_group_cannot_be_a_party(document: Document, refuse: Refuse) -> None:
    document["agreements"][1]["parties"] = ["JPN", "FVEY"]

    err = refuse(document)

    assert err.problems[0].place == "agreements[1].parties[1]"
    assert "unknown policy 'FVEY'" in err.problems[0].reason
    assert "a group cannot be a party" in err.problems[0].reason


# --- repeated ids ---------------------------------------------------------------------


def test_repeated_level_id_in_a_policy(document: Document, refuse: Refuse) -> None:
    document["policies"]["CAN"]["levels"].append({"id": "S", "name": "SECRET AGAIN"})

    err = refuse(document)

    assert err.problems[0].place == "policies.CAN.levels[3]"
    assert "level id 'S' repeats levels[1]" in err.problems[0].reason


def test_repeated_agreement_id(document: Document, refuse: Refuse) -> None:
    document["agreements"][1]["id"] = "JPN-CAN"

    err = refuse(document)

    assert err.problems[0].place == "agreements[1].id"
    assert "agreement id 'JPN-CAN' repeats agreements[0]" in err.problems[0].reason


def test_repeated_party(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["parties"] = ["JPN", "CAN", "CAN"]

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].parties[2]"
    assert "party 'CAN' is listed twice" in err.problems[0].reason


def test_group_name_clashing_with_a_policy_id(document: Document, refuse: Refuse) -> None:
    document["groups"]["JPN"] = ["CAN"]

    err = refuse(document)

    assert err.problems[0].place == "groups.JPN"
    assert "is already a policy id" in err.problems[0].reason


def test_repeated_group_member(document: Document, refuse: Refuse) -> None:
    document["groups"]["FVEY"] = ["CAN", "USA", "CAN"]

    err = refuse(document)

    assert err.problems[0].place == "groups.FVEY[2]"
    assert "policy 'CAN' is listed twice" in err.problems[0].reason


# --- equivalence rows -----------------------------------------------------------------


def test_a_level_listed_twice_in_one_row(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][1]["JPN"] = ["GOKUHI", "TOKUTEI", "GOKUHI"]

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[1]"
    assert "level 'GOKUHI' of JPN is listed twice in the row" in err.problems[0].reason


def test_one_level_in_two_rows_of_one_agreement(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][2]["JPN"] = ["HI", "GOKUHI"]

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[2]"
    assert "level 'GOKUHI' of JPN appears in two rows" in err.problems[0].reason
    assert "equivalence[1]" in err.problems[0].reason


def test_a_row_naming_a_policy_that_is_not_a_party(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][2]["USA"] = "C"

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[2]"
    assert "'USA' is not a party to JPN-CAN" in err.problems[0].reason


def test_a_row_with_fewer_than_two_parties(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][2] = {"JPN": "HI", "source": "a lonely row"}

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[2]"
    assert "at least two parties" in err.problems[0].reason


def test_a_row_with_an_empty_level_list(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["equivalence"][2]["JPN"] = []

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].equivalence[2]"
    assert "no level given for JPN" in err.problems[0].reason


# --- conflicts between agreements that share both parties -----------------------------


def test_two_bilaterals_mapping_a_level_differently(document: Document, refuse: Refuse) -> None:
    document["agreements"].append(
        {
            "id": "JPN-CAN-2",
            "title": "A second Japan-Canada agreement",
            "parties": ["JPN", "CAN"],
            "equivalence": [{"JPN": "HI", "CAN": "S"}],
        }
    )

    err = refuse(document)

    assert err.problems[0].place == "agreements[2].equivalence"
    assert "maps JPN HI to CAN S" in err.problems[0].reason
    assert "agreements[0] (JPN-CAN) maps it to CAN C" in err.problems[0].reason


def test_three_party_agreement_overlapping_a_bilateral(document: Document, refuse: Refuse) -> None:
    document["agreements"].append(
        {
            "id": "JPN-CAN-USA",
            "title": "A trilateral agreement",
            "parties": ["JPN", "CAN", "USA"],
            "equivalence": [{"JPN": "HI", "CAN": "S", "USA": "C"}],
        }
    )

    err = refuse(document)

    assert err.problems[0].place == "agreements[2].equivalence"
    assert "maps JPN HI to CAN S" in err.problems[0].reason
    assert "agreements[0] (JPN-CAN)" in err.problems[0].reason


def test_a_consistent_three_party_agreement_is_accepted(document: Document, load: Load) -> None:
    document["agreements"].append(
        {
            "id": "JPN-CAN-USA",
            "title": "A trilateral agreement",
            "parties": ["JPN", "CAN", "USA"],
            "equivalence": [
                {"JPN": "HI", "CAN": "C", "USA": "C"},  # JPN-USA has no HI row: no conflict
                {"JPN": "KIMITSU", "CAN": "TS", "USA": "TS"},
            ],
        }
    )

    assert [a.id for a in load(document).agreements][-1] == "JPN-CAN-USA"


# --- events ---------------------------------------------------------------------------


def test_events_out_of_date_order(document: Document, refuse: Refuse) -> None:
    events = document["agreements"][0]["events"]
    events[1], events[2] = events[2], events[1]

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].events[2]"
    assert "events must be in date order" in err.problems[0].reason
    assert "2025-07-08" in err.problems[0].reason


def test_events_on_the_same_date_are_accepted(document: Document, load: Load) -> None:
    document["agreements"][1]["events"] = [
        {"status": "signed", "date": dt.date(2007, 8, 10)},
        {"status": "in_force", "date": dt.date(2007, 8, 10)},
    ]

    catalogue = load(document)

    assert [e.status for e in catalogue.agreements[1].events] == ["signed", "in_force"]


# --- articles -------------------------------------------------------------------------


def test_unknown_articles_key(document: Document, refuse: Refuse) -> None:
    document["agreements"][0]["articles"] = {"MARKING": "Art. 4", "COLOUR": "Art. 99"}

    err = refuse(document)

    assert err.problems[0].place == "agreements[0].articles.COLOUR"
    assert "unknown key 'COLOUR'" in err.problems[0].reason


def test_known_articles_keys_are_accepted(document: Document, load: Load) -> None:
    articles = {"MARKING": "Art. 4", "THIRD_PARTY": "Art. 6(c)", "SURVIVAL": "Art. 21"}
    document["agreements"][0]["articles"] = articles

    assert load(document).agreements[0].articles == articles


# --- all or nothing -------------------------------------------------------------------


def test_every_problem_is_reported_in_document_order(document: Document, refuse: Refuse) -> None:
    document["policies"]["CAN"]["levels"].append({"id": "S", "name": "SECRET AGAIN"})
    document["groups"]["FVEY"].append("NZL")
    document["agreements"][1]["equivalence"][0]["USA"] = "R"

    err = refuse(document)

    assert len(err.problems) > 1
    assert [p.place for p in err.problems] == [
        "policies.CAN.levels[3]",
        "groups.FVEY[2]",
        "agreements[1].equivalence[0]",
    ]
