"""gsoia.catalogue.matrix: who may share with whom on a date, and at which levels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from gsoia.catalogue import Catalogue, Status, read_catalogue
from gsoia.catalogue.matrix import Pairing, matrix, pairing, status_table

Document = dict[str, Any]
Load = Callable[[Document], Catalogue]

BEFORE = dt.date(2007, 8, 9)
"""The day before JPN-USA enters into force (and JPN-CAN is not yet negotiated)."""
SIGNED = dt.date(2025, 9, 1)
"""JPN-USA in force; JPN-CAN signed, not in force."""
AFTER = dt.date(2026, 3, 1)
"""JPN-USA and JPN-CAN in force."""


def _trilateral(document: Document) -> Document:
    """Adds CAN-JPN-USA, in force since 2000, consistent with JPN-CAN and JPN-USA."""
    document["agreements"].append(
        {
            "id": "CAN-JPN-USA",
            "title": "A trilateral agreement",
            "parties": ["JPN", "CAN", "USA"],
            "events": [{"status": "in_force", "date": dt.date(2000, 1, 1)}],
            "equivalence": [
                {"JPN": "KIMITSU", "CAN": "TS", "USA": "TS"},
                {"JPN": "HI", "CAN": "C", "USA": "C"},
            ],
        }
    )
    return document


def _governing(catalogue: Catalogue, source: str, to: str, day: dt.date) -> str | None:
    found = pairing(catalogue, source, to, day)
    return None if found is None else found.agreement


def test_no_pairing_before_entry_into_force(document: Document, load: Load) -> None:
    catalogue = load(document)

    assert pairing(catalogue, "JPN", "USA", BEFORE) is None
    assert matrix(catalogue, BEFORE) == {}


def test_no_pairing_while_only_signed(document: Document, load: Load) -> None:
    catalogue = load(document)

    assert pairing(catalogue, "JPN", "CAN", SIGNED) is None
    assert set(matrix(catalogue, SIGNED)) == {("JPN", "USA"), ("USA", "JPN")}


def test_pairing_lists_levels_lowest_first(document: Document, load: Load) -> None:
    catalogue = load(document)

    assert pairing(catalogue, "JPN", "CAN", AFTER) == Pairing(
        source="JPN",
        to="CAN",
        agreement="JPN-CAN",
        status=Status.IN_FORCE,
        levels=(("HI", "C"), ("GOKUHI", "S"), ("TOKUTEI", "S"), ("KIMITSU", "TS")),
    )


def test_pairing_into_a_row_of_several_levels_takes_the_first(
    document: Document, load: Load
) -> None:
    found = pairing(load(document), "CAN", "JPN", AFTER)

    assert found is not None
    assert found.levels == (("C", "HI"), ("S", "GOKUHI"), ("TS", "KIMITSU"))


def test_pairing_leaves_out_levels_not_exchanged(document: Document, load: Load) -> None:
    found = pairing(load(document), "JPN", "USA", AFTER)

    assert found is not None
    assert found.levels == (("GOKUHI", "S"), ("TOKUTEI", "S"), ("KIMITSU", "TS"))


def test_the_matrix_on_a_date(document: Document, load: Load) -> None:
    table = matrix(load(document), AFTER)

    assert set(table) == {("JPN", "CAN"), ("CAN", "JPN"), ("JPN", "USA"), ("USA", "JPN")}
    assert table[("USA", "JPN")].agreement == "JPN-USA"


def test_no_pairing_of_a_policy_with_itself(document: Document, load: Load) -> None:
    assert pairing(load(document), "JPN", "JPN", AFTER) is None


def test_the_agreement_with_fewest_parties_governs(document: Document, load: Load) -> None:
    catalogue = load(_trilateral(document))

    assert _governing(catalogue, "JPN", "CAN", AFTER) == "JPN-CAN"
    assert _governing(catalogue, "JPN", "CAN", SIGNED) == "CAN-JPN-USA"  # JPN-CAN only signed
    assert _governing(catalogue, "CAN", "USA", AFTER) == "CAN-JPN-USA"


def test_among_equally_many_parties_the_smallest_id_governs(document: Document, load: Load) -> None:
    document["agreements"].append(
        {
            "id": "A-JPN-CAN",
            "title": "An earlier-sorting Japan-Canada agreement",
            "parties": ["JPN", "CAN"],
            "events": [{"status": "in_force", "date": dt.date(2000, 1, 1)}],
            "equivalence": [{"JPN": "HI", "CAN": "C"}],
        }
    )

    found = pairing(load(document), "JPN", "CAN", AFTER)

    assert found is not None
    assert found.agreement == "A-JPN-CAN"
    assert found.levels == (("HI", "C"),)


def test_a_suspended_agreement_pairs_no_one(document: Document, load: Load) -> None:
    document["agreements"][1]["events"].append({"status": "suspended", "date": dt.date(2020, 1, 1)})

    assert pairing(load(document), "JPN", "USA", AFTER) is None


def test_status_table(document: Document, load: Load) -> None:
    rows = status_table(load(document), SIGNED)

    assert [(a.id, status) for a, status in rows] == [
        ("JPN-CAN", Status.SIGNED),
        ("JPN-USA", Status.IN_FORCE),
    ]


def test_matrix_of_the_bundled_catalogue_in_2026() -> None:
    table = matrix(read_catalogue(), dt.date(2026, 3, 1))

    assert ("JPN", "CAN") in table
    assert ("JPN", "UKR") not in table
    assert table[("JPN", "KOR")].levels == (("HI", "III"), ("GOKUHI", "II"), ("TOKUTEI", "II"))
