"""Security categories in the decision (docs/decision.md, "Categories"): each rule on a
small catalogue, the refusals of labels their policy does not allow, and on generated
catalogues with categories: batch = single, monotonic in what the subject holds, and the
outcome against a plain reading of the categories written here."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gsoia.catalogue.load import catalogue_from_document
from gsoia.decision import Rulebook
from gsoia.errors import RequestError
from tests.budget import examples
from tests.decision.strategies import TODAY, batches, requests, single_request, worlds

FAST = settings(
    deadline=None, max_examples=examples(40), suppress_health_check=[HealthCheck.too_slow]
)

LEVELS = [{"id": "R", "name": "RESTRICTED"}, {"id": "S", "name": "SECRET"}]


def _tag(name: str, kind: str, *values: str, excluded: dict[str, list[str]] | None = None) -> Any:
    return {
        "name": name,
        "kind": kind,
        "values": [
            {"name": v, "lacv": i + 1, "excluded": (excluded or {}).get(v, [])}
            for i, v in enumerate(values)
        ],
    }


DOCUMENT: dict[str, Any] = {
    "policies": {
        "NATO": {
            "name": "NATO",
            "levels": LEVELS,
            "categories": [
                {
                    "name": "Sets",
                    "oid": "1.3.26.1.4",
                    "tags": [
                        _tag(
                            "Sensitivity",
                            "restrictive",
                            "ATOMAL",
                            "CRYPTO",
                            excluded={"ATOMAL": ["R"]},
                        ),
                        _tag("Releasable To", "enumerated-permissive", "JPN", "CHE", "UKR"),
                        _tag("Administrative", "informative", "STAFF"),
                    ],
                }
            ],
        },
        "JPN": {
            "name": "Japan",
            "levels": [{"id": "HI", "name": "秘"}, {"id": "GOKUHI", "name": "極秘"}],
        },
    },
    "agreements": [
        {
            "id": "NATO-JPN",
            "title": "NATO and Japan",
            "parties": ["NATO", "JPN"],
            "events": [{"status": "in_force", "date": "2020-01-01"}],
            "equivalence": [{"NATO": "S", "JPN": "GOKUHI"}, {"NATO": "R", "JPN": "HI"}],
        }
    ],
}
BOOK = Rulebook(catalogue_from_document(copy.deepcopy(DOCUMENT)), today=lambda: TODAY)


def _request(categories: dict[str, list[str]], held: dict[str, list[str]], **subject: Any) -> Any:
    return {
        "subject": {"nation": "NATO", "clearance": "S", "categories": held, **subject},
        "label": {
            "originator": "NATO",
            "classification": "S",
            "releasable_to": ["JPN"],
            "categories": categories,
        },
    }


@pytest.mark.parametrize(
    ("categories", "held", "allow"),
    [
        ({"Sensitivity": ["ATOMAL", "CRYPTO"]}, {"Sensitivity": ["ATOMAL", "CRYPTO"]}, True),
        ({"Sensitivity": ["ATOMAL", "CRYPTO"]}, {"Sensitivity": ["ATOMAL"]}, False),
        ({"Releasable To": ["JPN", "CHE"]}, {"Releasable To": ["CHE"]}, True),
        ({"Releasable To": ["JPN", "CHE"]}, {"Releasable To": ["UKR"]}, False),
        ({"Releasable To": ["JPN"]}, {}, False),
        ({"Administrative": ["STAFF"]}, {}, True),
        ({}, {}, True),
    ],
)
def test_restrictive_all_permissive_one_informative_none(
    categories: dict[str, list[str]], held: dict[str, list[str]], allow: bool
) -> None:
    decision = BOOK.decide(_request(categories, held))
    assert decision.allow is allow
    if not allow:
        assert (decision.reason.value, decision.rule) == ("NEED_TO_KNOW", 2)
    table = BOOK.label_table(
        [{"originator": "NATO", "classification": "S", "categories": categories}]
    )
    subject = {"nation": "NATO", "clearance": "S", "categories": held}
    assert BOOK.decide_many(subject, table).tolist() == [allow]


def test_the_explanation_names_what_is_lacking() -> None:
    decision = BOOK.decide(
        _request(
            {"Sensitivity": ["CRYPTO"], "Releasable To": ["JPN", "CHE"]},
            {},
            need_to_know=[],
        )
    )
    assert decision.explanation == (
        "Rule 2 (NEED_TO_KNOW): the NATO subject lacks the categories CRYPTO (Sensitivity);"
        " one of JPN, CHE (Releasable To), which the item requires."
    )


def test_a_foreign_reader_is_held_to_the_categories_at_rule_7() -> None:
    request = _request({"Sensitivity": ["CRYPTO"]}, {}, nation="JPN", clearance="GOKUHI")
    decision = BOOK.decide(request)
    assert (decision.reason.value, decision.rule, decision.agreement) == (
        "NEED_TO_KNOW",
        7,
        "NATO-JPN",
    )
    request["subject"]["categories"] = {"Sensitivity": ["CRYPTO"]}
    assert BOOK.decide(request).allow


def test_a_label_without_categories_is_decided_as_before() -> None:
    request = _request({}, {})
    del request["label"]["categories"], request["subject"]["categories"]
    decision = BOOK.decide(request)
    assert (decision.allow, decision.rule) == (True, 3)
    assert decision.explanation == (
        "Rule 3 (ALLOW): the NATO subject is cleared for NATO S (SECRET)"
        " and holds the need-to-know."
    )


@pytest.mark.parametrize(
    ("categories", "classification", "problem"),
    [
        ({"Flavour": ["X"]}, "S", "label.categories.Flavour: unknown category tag 'Flavour'"),
        (
            {"Sensitivity": ["NUKE"]},
            "S",
            "label.categories.Sensitivity[0]: unknown category 'NUKE' of Sensitivity",
        ),
        (
            {"Sensitivity": ["ATOMAL"]},
            "R",
            "label.categories.Sensitivity[0]: 'ATOMAL' is excluded at R",
        ),
        (
            {"Sensitivity": []},
            "S",
            "label.categories.Sensitivity: a restrictive category with no value",
        ),
        (
            {"Releasable To": ["JPN", "JPN"]},
            "S",
            "label.categories.Releasable To[1]: category 'JPN' is listed twice",
        ),
    ],
)
def test_a_label_its_policy_does_not_allow_is_not_a_decision(
    categories: dict[str, list[str]], classification: str, problem: str
) -> None:
    request = _request(categories, {})
    request["label"]["classification"] = classification
    with pytest.raises(RequestError) as caught:
        BOOK.decide(request)
    assert str(caught.value.problems[0]) == problem
    label = {"originator": "NATO", "classification": classification, "categories": categories}
    with pytest.raises(RequestError):
        BOOK.label_table([label])


def test_a_subject_holding_an_unknown_category_is_refused() -> None:
    with pytest.raises(RequestError, match=r"subject\.categories\.Flavour: unknown category tag"):
        BOOK.decide(_request({}, {"Flavour": ["X"]}))


def test_a_node_label_carries_no_categories() -> None:
    from gsoia.decision.request import parse_held_label

    with pytest.raises(RequestError, match=r"label\.categories: unknown attribute"):
        parse_held_label({"originator": "NATO", "classification": "S", "categories": {}}, "label")


# -- generated catalogues with categories ---------------------------------------------------


def _book(document: dict[str, Any]) -> Rulebook:
    return Rulebook(catalogue_from_document(copy.deepcopy(document)), today=lambda: TODAY)


@st.composite
def _category_batches(draw: st.DrawFn) -> tuple[Rulebook, Any]:
    world = draw(worlds(categories=True))
    return _book(world.document), draw(batches(world.catalogue))


@FAST
@given(_category_batches())
def test_batch_equals_single_with_categories(case: tuple[Rulebook, Any]) -> None:
    book, (subject, held, at) = case
    single = [book.decide(single_request(subject, h, at)).allow for h in held]
    event("some allowed" if any(single) else "none allowed")
    event("with categories" if any(h.get("categories") for h in held) else "no categories")
    assert book.decide_many(subject, book.label_table(held), at).tolist() == single


def _plainly_lacking(document: dict[str, Any], label: dict[str, Any], held: dict[str, Any]) -> bool:
    """Whether the subject lacks the label's categories, read from the raw document."""
    policy = document["policies"][label["originator"]]
    kinds = {t["name"]: t["kind"] for s in policy.get("categories", []) for t in s["tags"]}
    for tag, values in label.get("categories", {}).items():
        own = set(held.get(tag, []))
        if kinds[tag].endswith("restrictive") and not set(values) <= own:
            return True
        if kinds[tag].endswith("permissive") and values and not set(values) & own:
            return True
    return False


@st.composite
def _category_requests(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    world = draw(worlds(categories=True))
    return world.document, draw(requests(world.catalogue))


@FAST
@given(_category_requests())
def test_categories_decide_as_a_plain_reading_says(case: tuple[dict[str, Any], Any]) -> None:
    document, request = case
    book = _book(document)
    decision = book.decide(request)
    without = copy.deepcopy(request)
    without["label"].pop("categories", None)
    before = book.decide(without)
    lacking = _plainly_lacking(document, request["label"], request["subject"].get("categories", {}))
    event("lacking" if lacking else "holding")
    if not before.allow or not lacking:
        assert decision.to_dict() == before.to_dict()
    else:
        assert (decision.allow, decision.reason.value) == (False, "NEED_TO_KNOW")
        assert decision.rule == before.rule - 1  # the rule before ALLOW: 2 or 7


@FAST
@given(_category_requests(), st.data())
def test_holding_more_categories_never_turns_allow_into_denial(
    case: tuple[dict[str, Any], Any], data: st.DataObject
) -> None:
    document, request = case
    book = _book(document)
    if not book.decide(request).allow:
        return
    more = copy.deepcopy(request)
    held = more["subject"].setdefault("categories", {})
    tags = sorted({t for p in book.catalogue.policies.values() for t in p.tags})
    if tags:
        tag = data.draw(st.sampled_from(tags))
        held[tag] = sorted(
            {*held.get(tag, []), *data.draw(st.lists(st.sampled_from(["c0", "c1", "c2"])))}
        )
    assert book.decide(more).allow
