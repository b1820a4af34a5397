"""Malformed requests (docs/decision.md §2): a RequestError naming the field, never a decision.

"A request naming an unknown policy, level or group, or malformed in any way, is not a
decision: it is an error with a message that names the field."
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

import gsoia
from gsoia.catalogue.load import catalogue_from_document
from gsoia.decision import Reason, Rulebook

TODAY = dt.date(2026, 1, 1)

DOCUMENT: dict[str, Any] = {
    "policies": {
        "JPN": {
            "name": "Japan",
            "levels": [
                {"id": "HI", "name": "秘"},
                {"id": "GOKUHI", "name": "極秘"},
                {"id": "KIMITSU", "name": "機密"},
            ],
        },
        "CAN": {
            "name": "Canada",
            "levels": [
                {"id": "C", "name": "CONFIDENTIAL"},
                {"id": "S", "name": "SECRET"},
                {"id": "TS", "name": "TOP SECRET"},
            ],
        },
        "USA": {
            "name": "United States",
            "levels": [
                {"id": "C", "name": "CONFIDENTIAL"},
                {"id": "S", "name": "SECRET"},
                {"id": "TS", "name": "TOP SECRET"},
            ],
        },
    },
    "groups": {"FVEY": ["CAN", "USA"]},
    "agreements": [
        {
            "id": "JPN-CAN",
            "title": "Agreement between Japan and Canada on the Security of Information",
            "parties": ["JPN", "CAN"],
            "events": [{"status": "in_force", "date": "2020-01-01"}],
            "equivalence": [
                {"JPN": "KIMITSU", "CAN": "TS"},
                {"JPN": "GOKUHI", "CAN": "S"},
                {"JPN": "HI", "CAN": "C"},
            ],
        }
    ],
}

VALID: dict[str, Any] = {
    "subject": {
        "id": "can-0042",
        "nation": "CAN",
        "clearance": "S",
        "clearance_expires": "2027-06-30",
        "need_to_know": ["maritime"],
    },
    "label": {
        "originator": "JPN",
        "classification": "GOKUHI",
        "area": "defence",
        "releasable_to": ["CAN", "FVEY"],
        "need_to_know": ["maritime"],
    },
    "custodian": "JPN",
    "consented_to": ["CAN"],
    "at": "2026-03-01",
}


@pytest.fixture(scope="module")
def book() -> Rulebook:
    return Rulebook(catalogue_from_document(copy.deepcopy(DOCUMENT)), today=lambda: TODAY)


def valid() -> dict[str, Any]:
    return copy.deepcopy(VALID)


def changed(path: str, value: Any) -> dict[str, Any]:
    """The valid request with the field at ``path`` (``label.area``) set to ``value``."""
    request = valid()
    *parents, last = path.split(".")
    node = request
    for part in parents:
        node = node[part]
    node[last] = value
    return request


def without(path: str) -> dict[str, Any]:
    request = valid()
    *parents, last = path.split(".")
    node = request
    for part in parents:
        node = node[part]
    del node[last]
    return request


def refused(book: Rulebook, request: Any) -> gsoia.RequestError:
    with pytest.raises(gsoia.RequestError) as caught:
        book.decide(request)
    error = caught.value
    assert error.problems
    assert str(error)
    return error


def places(error: gsoia.RequestError) -> list[str]:
    return [p.place for p in error.problems]


def test_the_valid_request_is_decided(book: Rulebook) -> None:
    d = book.decide(valid())
    assert (d.allow, d.reason, d.agreement) == (True, Reason.ALLOW, "JPN-CAN")


def test_a_request_error_is_an_input_error() -> None:
    assert issubclass(gsoia.RequestError, gsoia.InputError)
    assert issubclass(gsoia.RequestError, gsoia.GsoiaError)


# -- unknown policies, levels and groups ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "place"),
    [
        ("subject.nation", "XXX", "subject.nation"),
        ("subject.nation", "FVEY", "subject.nation"),  # a group is not a nation
        ("subject.nation", "can", "subject.nation"),
        ("label.originator", "XXX", "label.originator"),
        ("label.originator", "FVEY", "label.originator"),
        ("custodian", "XXX", "custodian"),
        ("custodian", "FVEY", "custodian"),
        ("label.releasable_to", ["CAN", "XXX"], "label.releasable_to[1]"),
        ("label.releasable_to", ["XXX"], "label.releasable_to[0]"),
        ("consented_to", ["XXX"], "consented_to[0]"),
        ("consented_to", ["CAN", "FVEY", "NATO"], "consented_to[2]"),
        ("label.classification", "NOPE", "label.classification"),
        ("label.classification", "S", "label.classification"),  # CAN's level, not JPN's
        ("label.classification", "gokuhi", "label.classification"),
        ("subject.clearance", "NOPE", "subject.clearance"),
        ("subject.clearance", "GOKUHI", "subject.clearance"),  # JPN's level, not CAN's
    ],
)
def test_unknown_reference_is_refused_naming_the_field(
    book: Rulebook, path: str, value: Any, place: str
) -> None:
    error = refused(book, changed(path, value))
    assert places(error) == [place]
    assert place in str(error)


def test_unknown_reference_of_a_same_nation_request_is_refused(book: Rulebook) -> None:
    request = changed("subject.nation", "JPN")
    request["subject"]["clearance"] = "S"  # a CAN level
    assert places(refused(book, request)) == ["subject.clearance"]


def test_every_unknown_reference_is_reported(book: Rulebook) -> None:
    request = changed("subject.nation", "XXX")
    request["label"]["originator"] = "YYY"
    request["custodian"] = "ZZZ"
    found = places(refused(book, request))
    assert {"subject.nation", "label.originator", "custodian"} <= set(found)


# -- unknown attributes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "place"),
    [
        ("label.colour", "label.colour"),
        ("subject.rank", "subject.rank"),
        ("when", "when"),
        ("subject.clearance_expiry", "subject.clearance_expiry"),
    ],
)
def test_unknown_attribute_is_refused_naming_it(book: Rulebook, path: str, place: str) -> None:
    error = refused(book, changed(path, "x"))
    assert places(error) == [place]


# -- wrong types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "place"),
    [
        ("subject", "CAN", "subject"),
        ("subject", ["CAN"], "subject"),
        ("label", [], "label"),
        ("label", None, "label"),
        ("subject.id", 42, "subject.id"),
        ("subject.nation", 5, "subject.nation"),
        ("subject.nation", None, "subject.nation"),
        ("subject.nation", "", "subject.nation"),
        ("subject.nation", ["CAN"], "subject.nation"),
        ("subject.clearance", 3, "subject.clearance"),
        ("subject.clearance", "", "subject.clearance"),
        ("subject.need_to_know", "maritime", "subject.need_to_know"),
        ("subject.need_to_know", [1], "subject.need_to_know[0]"),
        ("label.originator", 1, "label.originator"),
        ("label.classification", 2, "label.classification"),
        ("label.classification", None, "label.classification"),
        ("label.area", 7, "label.area"),
        ("label.area", "", "label.area"),
        ("label.releasable_to", "CAN", "label.releasable_to"),
        ("label.releasable_to", {"CAN": True}, "label.releasable_to"),
        ("label.releasable_to", [["CAN"]], "label.releasable_to[0]"),
        ("label.need_to_know", [1], "label.need_to_know[0]"),
        ("label.need_to_know", ["maritime", ""], "label.need_to_know[1]"),
        ("custodian", 5, "custodian"),
        ("custodian", ["JPN"], "custodian"),
        ("consented_to", "CAN", "consented_to"),
        ("consented_to", [None], "consented_to[0]"),
        ("at", True, "at"),
        ("at", [2026, 3, 1], "at"),
    ],
)
def test_wrong_type_is_refused_naming_the_field(
    book: Rulebook, path: str, value: Any, place: str
) -> None:
    error = refused(book, changed(path, value))
    assert places(error) == [place], error.problems


# -- missing required fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["subject", "label", "subject.nation", "label.originator", "label.classification"],
)
def test_missing_required_field_is_refused_naming_it(book: Rulebook, path: str) -> None:
    error = refused(book, without(path))
    assert places(error) == [path]


@pytest.mark.parametrize(
    "path",
    [
        "subject.id",
        "subject.clearance",
        "subject.clearance_expires",
        "subject.need_to_know",
        "label.area",
        "label.releasable_to",
        "label.need_to_know",
        "custodian",
        "consented_to",
        "at",
    ],
)
def test_optional_fields_may_be_absent(book: Rulebook, path: str) -> None:
    book.decide(without(path))  # a decision, not an error


# -- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30",
        "2026-13-01",
        "yesterday",
        "2026/03/01",
        "01-03-2026",
        "",
        "2026-03-01T10:00:00",
    ],
)
@pytest.mark.parametrize("path", ["at", "subject.clearance_expires"])
def test_bad_date_is_refused_naming_the_field(book: Rulebook, path: str, value: str) -> None:
    error = refused(book, changed(path, value))
    assert places(error) == [path]


@pytest.mark.parametrize("value", [0, 1767225600, 1767225600.0])
@pytest.mark.parametrize("path", ["at", "subject.clearance_expires"])
def test_a_number_is_not_an_iso_date(book: Rulebook, path: str, value: float) -> None:
    # `at` and `clearance_expires` are ISO 8601 dates; a number (read by a lax parser as
    # seconds since 1970) is a malformed request, not a decision on some day in 1970 or 2026.
    error = refused(book, changed(path, value))
    assert places(error) == [path]


def test_a_date_object_is_accepted(book: Rulebook) -> None:
    d = book.decide(changed("at", dt.date(2019, 1, 1)))
    assert d.reason is Reason.NO_AGREEMENT


# -- not a request at all ------------------------------------------------------------------


@pytest.mark.parametrize("request_", [None, [], "request", 3, [("subject", {})], b"{}"])
def test_a_non_dict_request_is_refused(book: Rulebook, request_: Any) -> None:
    refused(book, request_)


def test_an_empty_request_names_both_missing_fields(book: Rulebook) -> None:
    assert set(places(refused(book, {}))) == {"subject", "label"}


# -- label tables and batches ----------------------------------------------------------------


def good_labels() -> list[dict[str, Any]]:
    return [
        {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]},
        {"originator": "JPN", "classification": "GOKUHI", "releasable_to": ["FVEY"]},
        {"originator": "CAN", "classification": "S", "custodian": "JPN", "consented_to": ["USA"]},
        {"originator": "JPN", "classification": "KIMITSU"},
        {"originator": "USA", "classification": "TS", "need_to_know": ["maritime"]},
    ]


def test_good_labels_make_a_table(book: Rulebook) -> None:
    table = book.label_table(good_labels())
    assert len(table) == 5


@pytest.mark.parametrize(
    ("index", "change", "place"),
    [
        (3, lambda lab: lab.update(classification="NOPE"), "labels[3].classification"),
        (3, lambda lab: lab.update(classification="S"), "labels[3].classification"),
        (0, lambda lab: lab.update(originator="XXX"), "labels[0].originator"),
        (1, lambda lab: lab.update(releasable_to=["CAN", "XXX"]), "labels[1].releasable_to[1]"),
        (2, lambda lab: lab.update(custodian="XXX"), "labels[2].custodian"),
        (2, lambda lab: lab.update(consented_to=["XXX"]), "labels[2].consented_to[0]"),
        (4, lambda lab: lab.update(colour="red"), "labels[4].colour"),
        (4, lambda lab: lab.pop("classification"), "labels[4].classification"),
        (4, lambda lab: lab.update(need_to_know="maritime"), "labels[4].need_to_know"),
        (1, lambda lab: lab.update(area=3), "labels[1].area"),
    ],
)
def test_a_bad_label_refuses_the_whole_table(
    book: Rulebook, index: int, change: Callable[[dict[str, Any]], object], place: str
) -> None:
    labels = good_labels()
    change(labels[index])
    result = None
    with pytest.raises(gsoia.RequestError) as caught:
        result = book.label_table(labels)
    assert result is None  # nothing is returned
    assert places(caught.value) == [place]


def test_a_non_mapping_label_is_refused_naming_its_index(book: Rulebook) -> None:
    labels: list[Any] = good_labels()
    labels[2] = "JPN GOKUHI"
    with pytest.raises(gsoia.RequestError) as caught:
        book.label_table(labels)
    assert places(caught.value) == ["labels[2]"]


def test_a_bad_label_repeated_is_still_refused(book: Rulebook) -> None:
    bad = {"originator": "JPN", "classification": "NOPE"}
    labels = [*good_labels(), bad, dict(bad)]
    with pytest.raises(gsoia.RequestError) as caught:
        book.label_table(labels)
    assert "labels[5].classification" in places(caught.value)


def test_decide_many_refuses_a_bad_label_list(book: Rulebook) -> None:
    labels = good_labels()
    labels[3]["classification"] = "NOPE"
    with pytest.raises(gsoia.RequestError) as caught:
        book.decide_many(VALID["subject"], labels, at=TODAY)
    assert places(caught.value) == ["labels[3].classification"]


@pytest.mark.parametrize(
    ("subject", "place"),
    [
        ({"nation": "XXX", "clearance": "S"}, "subject.nation"),
        ({"nation": "FVEY"}, "subject.nation"),
        ({"clearance": "S"}, "subject.nation"),
        ({"nation": 5}, "subject.nation"),
        ({"nation": "CAN", "clearance": "GOKUHI"}, "subject.clearance"),
        ({"nation": "CAN", "colour": "red"}, "subject.colour"),
        ({"nation": "CAN", "clearance_expires": "2026-02-30"}, "subject.clearance_expires"),
        ({"nation": "CAN", "need_to_know": "maritime"}, "subject.need_to_know"),
    ],
)
def test_decide_many_refuses_a_bad_subject_naming_the_field(
    book: Rulebook, subject: dict[str, Any], place: str
) -> None:
    table = book.label_table(good_labels())
    with pytest.raises(gsoia.RequestError) as caught:
        book.decide_many(subject, table, at=TODAY)
    assert places(caught.value) == [place]


@pytest.mark.parametrize("subject", [None, "CAN", ["CAN"]])
def test_decide_many_refuses_a_subject_that_is_not_an_object(book: Rulebook, subject: Any) -> None:
    table = book.label_table(good_labels())
    with pytest.raises(gsoia.RequestError) as caught:
        book.decide_many(subject, table, at=TODAY)
    assert places(caught.value) == ["subject"]
