"""The properties of docs/decision.md §5, on generated catalogues and requests.

Each property is its own test. The oracles below read the catalogue's data directly
(events, parties, scopes, rows) and never call the catalogue models' helpers
(``status_on``, ``was_in_force_by``, ``covers``, ``equivalent``) nor ``gsoia.decision``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import gsoia
from gsoia.catalogue.load import catalogue_from_document
from gsoia.catalogue.model import Catalogue
from gsoia.decision import Decision, Rulebook
from gsoia.decision.request import _REQUEST, _parse
from tests.budget import examples
from tests.decision.strategies import (
    TODAY,
    World,
    batches,
    requests,
    scenarios,
    single_request,
    worlds,
)

FAST = settings(
    deadline=None, max_examples=examples(120), suppress_health_check=[HealthCheck.too_slow]
)
"""Sized so that the whole file runs well under a minute on two cores (a third of it
under ``make test``: ``tests/budget.py``)."""

_BUNDLED = gsoia.load_catalogue()


def rulebook(document: dict[str, Any]) -> Rulebook:
    """A fresh rulebook over a (copied, re-validated) catalogue document."""
    return Rulebook(catalogue_from_document(copy.deepcopy(document)), today=lambda: TODAY)


# -- oracles: the catalogue data read directly ---------------------------------------------


def _day(request: dict[str, Any]) -> dt.date:
    at = request.get("at")
    return dt.date.fromisoformat(at) if at else TODAY


def _status(events: list[Any], day: dt.date) -> str | None:
    """docs/decision.md §1: the status of the latest event dated on or before ``day``."""
    status = None
    for e in events:
        if e.date <= day:
            status = e.status.value
    return status


def _was_in_force_before(events: list[Any], day: dt.date) -> bool:
    """Whether the status was ``in_force`` on some date before ``day``.

    The status only changes on event dates, so the statuses held before ``day`` are those
    on the event dates before it.
    """
    return any(_status(events, e.date) == "in_force" for e in events if e.date < day)


def _stands(agreement: Any, day: dt.date, *, survival: bool) -> bool:
    """Rule 3: in force on ``day``, or (survival) ended after having been in force."""
    status = _status(agreement.events, day)
    if status == "in_force":
        return True
    return (
        survival
        and status in ("suspended", "terminated")
        and _was_in_force_before(agreement.events, day)
    )


def _expand(catalogue: Catalogue, names: list[str]) -> set[str]:
    found: set[str] = set()
    for name in names:
        found.update(catalogue.groups.get(name, [name]))
    return found


def _holder(request: dict[str, Any]) -> str:
    return str(request.get("custodian") or request["label"]["originator"])


def _standing(catalogue: Catalogue, request: dict[str, Any]) -> list[Any]:
    """The agreements rule 3 lets through for this request (survival included)."""
    originator, nation = request["label"]["originator"], request["subject"]["nation"]
    survival = _holder(request) == nation
    return [
        a
        for a in catalogue.agreements
        if originator in a.parties
        and nation in a.parties
        and _stands(a, _day(request), survival=survival)
    ]


def _listed(levels: str | list[str]) -> list[str]:
    return [levels] if isinstance(levels, str) else list(levels)


def _equivalent(agreement: Any, party: str, level: str, into: str) -> str | None:
    for row in agreement.equivalence:
        if level in _listed(row.get(party, [])) and row.get(into):
            return _listed(row[into])[0]
    return None


def reference(catalogue: Catalogue, request: dict[str, Any]) -> dict[str, Any]:
    """docs/decision.md §3, written out plainly: reason, rule, agreement (where fixed), marking."""
    subject, label = request["subject"], request["label"]
    day = _day(request)
    nation, originator = subject["nation"], label["originator"]
    levels = {p: [lv.id for lv in pol.levels] for p, pol in catalogue.policies.items()}
    clearance = subject.get("clearance")
    expires = subject.get("clearance_expires")
    if expires is not None and day > dt.date.fromisoformat(expires):
        clearance = None
    cleared = -1 if clearance is None else levels[nation].index(clearance)
    original = levels[originator].index(label["classification"])
    missing = set(label.get("need_to_know", [])) - set(subject.get("need_to_know", []))

    def out(reason: str, rule: int, agreement: str | None = None, **more: Any) -> dict[str, Any]:
        return {"reason": reason, "rule": rule, "agreement": agreement, **more}

    if nation == originator:
        if cleared < original:
            return out("CLEARANCE", 1)
        if missing:
            return out("NEED_TO_KNOW", 2)
        return out("ALLOW", 3, level=(nation, label["classification"]))
    if nation not in _expand(catalogue, label.get("releasable_to", [])):
        return out("NOT_RELEASABLE", 1)
    holder = _holder(request)
    if holder not in (originator, nation) and nation not in _expand(
        catalogue, request.get("consented_to", [])
    ):
        return out("THIRD_PARTY", 2)
    standing = _standing(catalogue, request)
    if not standing:
        return out("NO_AGREEMENT", 3)
    area = label.get("area")
    scoped = [a for a in standing if "*" in a.scope or area in a.scope]
    if not scoped:
        return out("OUT_OF_SCOPE", 4, among={a.id for a in standing})
    mapping = [
        (a, eq)
        for a in scoped
        if (eq := _equivalent(a, originator, label["classification"], nation)) is not None
    ]
    if not mapping:
        return out("NO_EQUIVALENT", 5, among={a.id for a in scoped})
    governing, equivalent = min(mapping, key=lambda m: (len(m[0].parties), m[0].id))
    if cleared < levels[nation].index(equivalent):
        return out("CLEARANCE", 6, governing.id)
    if missing:
        return out("NEED_TO_KNOW", 7, governing.id)
    return out("ALLOW", 8, governing.id, level=(nation, equivalent))


def _summary(decision: Decision) -> dict[str, Any]:
    """What ``reference`` says of a decision."""
    found: dict[str, Any] = {
        "reason": decision.reason.value,
        "rule": decision.rule,
        "agreement": decision.agreement,
    }
    if decision.marking is not None:
        found["level"] = (decision.marking.level.policy, decision.marking.level.id)
    return found


def _foreign(request: dict[str, Any]) -> bool:
    return bool(request["subject"]["nation"] != request["label"]["originator"])


# -- 1. determinism ----------------------------------------------------------------------


@st.composite
def _many_requests(draw: st.DrawFn) -> tuple[World, list[dict[str, Any]]]:
    world = draw(worlds())
    return world, draw(st.lists(requests(world.catalogue), min_size=1, max_size=6))


@FAST
@given(_many_requests())
def test_determinism(case: tuple[World, list[dict[str, Any]]]) -> None:
    """The same catalogue and request give the same decision: again, and on another rulebook
    that saw the requests in the other order (its caches filled differently)."""
    world, reqs = case
    first, second = rulebook(world.document), rulebook(world.document)
    once = [first.decide(r).to_dict() for r in reqs]
    again = [first.decide(r).to_dict() for r in reqs]
    other = [second.decide(r).to_dict() for r in reversed(reqs)][::-1]
    assert once == again == other


# -- 2. monotonic in clearance -----------------------------------------------------------


@FAST
@given(scenarios(), st.data())
def test_raising_clearance_never_turns_allow_into_denial(
    case: tuple[World, dict[str, Any]], data: st.DataObject
) -> None:
    """From uncleared or a level, to a higher level; and also with the expiry lifted."""
    world, request = case
    levels = [lv.id for lv in world.catalogue.policies[request["subject"]["nation"]].levels]
    choices: list[str | None] = [None, *levels]
    low = data.draw(st.integers(0, len(levels) - 1), label="lower clearance")
    high = data.draw(st.integers(low + 1, len(levels)), label="higher clearance")
    before, after = copy.deepcopy(request), copy.deepcopy(request)
    before["subject"]["clearance"] = choices[low]
    after["subject"]["clearance"] = choices[high]
    if data.draw(st.booleans(), label="lift the expiry too"):
        after["subject"].pop("clearance_expires", None)  # the clearance no longer ends
    book = rulebook(world.document)
    lower, higher = book.decide(before), book.decide(after)
    event(f"{lower.reason.value} -> {higher.reason.value}")
    if lower.allow:
        assert higher.allow, (lower.to_dict(), higher.to_dict())


# -- 3. monotonic in agreements ----------------------------------------------------------


def _pick_agreement(
    data: st.DataObject, document: dict[str, Any], request: dict[str, Any], fits: Any
) -> int:
    """An agreement index that ``fits``, preferably one between the originator and subject."""
    agreements = document["agreements"]
    pair = {request["label"]["originator"], request["subject"]["nation"]}
    fitting = [i for i, a in enumerate(agreements) if fits(a)]
    assume(fitting)
    relevant = [i for i in fitting if pair <= set(agreements[i]["parties"])]
    if relevant and data.draw(st.integers(0, 3), label="relevant agreement") > 0:
        return int(data.draw(st.sampled_from(relevant), label="agreement"))
    return int(data.draw(st.sampled_from(fitting), label="agreement"))


def _remove_agreement(
    data: st.DataObject, document: dict[str, Any], request: dict[str, Any]
) -> None:
    del document["agreements"][_pick_agreement(data, document, request, lambda a: True)]


def _narrow_scope(data: st.DataObject, document: dict[str, Any], request: dict[str, Any]) -> None:
    def narrowable(a: dict[str, Any]) -> bool:
        return "*" in a["scope"] or len(a["scope"]) > 1

    agreement = document["agreements"][_pick_agreement(data, document, request, narrowable)]
    scope = agreement["scope"]
    if "*" in scope:  # anything named is narrower than every area
        pool = sorted({*scope, "defence", "maritime", "cyber", "space", "other"} - {"*"})
    else:
        pool = scope[:]
    narrower = data.draw(
        st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True),
        label="narrower scope",
    )
    if "*" not in scope:
        assume(len(narrower) < len(scope))
    agreement["scope"] = narrower
    area = request["label"].get("area")
    covered = "*" in scope or area in scope
    event("the label's area no longer covered" if covered and area not in narrower else "not")


def _remove_row(data: st.DataObject, document: dict[str, Any], request: dict[str, Any]) -> None:
    index = _pick_agreement(data, document, request, lambda a: bool(a["equivalence"]))
    rows = document["agreements"][index]["equivalence"]
    del rows[data.draw(st.integers(0, len(rows) - 1), label="row")]


def _remove_releasable(
    data: st.DataObject, document: dict[str, Any], request: dict[str, Any]
) -> None:
    releasable = request["label"].get("releasable_to", [])
    assume(releasable)
    del releasable[data.draw(st.integers(0, len(releasable) - 1), label="entry")]


Mutation = Callable[[st.DataObject, dict[str, Any], dict[str, Any]], None]
"""Changes a catalogue document and a request in place, to grant no more than before."""


@pytest.mark.parametrize(
    "mutate", [_remove_agreement, _narrow_scope, _remove_row, _remove_releasable]
)
@FAST
@given(case=scenarios(), data=st.data())
def test_less_agreement_never_turns_denial_into_allow(
    mutate: Mutation, case: tuple[World, dict[str, Any]], data: st.DataObject
) -> None:
    world, request = case
    document, changed = copy.deepcopy(world.document), copy.deepcopy(request)
    mutate(data, document, changed)
    before = rulebook(world.document).decide(request)
    after = rulebook(document).decide(changed)  # rulebook() also checks it still loads
    event(f"{before.reason.value} -> {after.reason.value}")
    if not before.allow:
        assert not after.allow, (before.to_dict(), after.to_dict())


# -- 4. no release to a foreign subject without an agreement (or survival) -----------------


@pytest.mark.parametrize("survival", [False, True], ids=["any-custody", "held-by-subject"])
@FAST
@given(data=st.data())
def test_no_foreign_release_without_agreement_or_survival(
    survival: bool, data: st.DataObject
) -> None:
    world, request = data.draw(scenarios(survival=survival), label="scenario")
    assume(_foreign(request))
    decision = rulebook(world.document).decide(request)
    standing = _standing(world.catalogue, request)
    event(f"{decision.reason.value}, {'an' if standing else 'no'} agreement stands")
    if not standing:
        assert not decision.allow, decision.to_dict()
    if decision.allow:
        assert decision.agreement in {a.id for a in standing}, decision.to_dict()


@FAST
@given(scenarios())
def test_no_agreement_reason_matches_oracle(case: tuple[World, dict[str, Any]]) -> None:
    """Past rules 1-2, rule 3 fails exactly when no agreement stands on ``at``."""
    world, request = case
    assume(_foreign(request))
    decision = rulebook(world.document).decide(request)
    assume(decision.rule >= 3)
    standing = _standing(world.catalogue, request)
    event(f"{decision.reason.value}, {'an' if standing else 'no'} agreement stands")
    assert (decision.reason.value == "NO_AGREEMENT") == (not standing), decision.to_dict()


# -- 5. the third-party rule -------------------------------------------------------------


@FAST
@given(scenarios())
def test_no_third_party_release_without_consent(case: tuple[World, dict[str, Any]]) -> None:
    world, request = case
    originator, nation = request["label"]["originator"], request["subject"]["nation"]
    assume(nation != originator)  # the originator's own nationals are no third party
    holder = _holder(request)
    consented = _expand(world.catalogue, request.get("consented_to", []))
    decision = rulebook(world.document).decide(request)
    third = holder not in (originator, nation) and nation not in consented
    event(f"third party: {third}, {decision.reason.value}")
    if third:
        assert not decision.allow, decision.to_dict()


# -- 6. batch = single -------------------------------------------------------------------


def _batch_equals_single(book: Rulebook, case: tuple[Any, list[Any], dt.date | None]) -> None:
    subject, held, at = case
    allowed = book.decide_many(subject, book.label_table(held), at)
    single = [book.decide(single_request(subject, h, at)).allow for h in held]
    event(f"{sum(single)} of {len(single)} allowed" if len(single) < 3 else "3+ labels")
    event("some allowed" if any(single) else "none allowed")
    assert allowed.dtype == bool
    assert allowed.tolist() == single
    assert book.decide_many(subject, held, at).tolist() == single  # label dicts, not a table


@st.composite
def _generated_batches(draw: st.DrawFn) -> tuple[World, tuple[Any, list[Any], dt.date | None]]:
    world = draw(worlds())
    return world, draw(batches(world.catalogue))


@settings(FAST, max_examples=examples(100))
@given(_generated_batches())
def test_batch_equals_single(case: tuple[World, tuple[Any, list[Any], dt.date | None]]) -> None:
    world, batch = case
    _batch_equals_single(rulebook(world.document), batch)


@settings(FAST, max_examples=examples(100))
@given(batches(_BUNDLED.catalogue, allow_no_date=False))
def test_batch_equals_single_on_bundled_catalogue(
    case: tuple[Any, list[Any], dt.date | None],
) -> None:
    _batch_equals_single(_BUNDLED, case)


# -- 7. explanations and markings --------------------------------------------------------


@FAST
@given(scenarios())
def test_explanation_cites_rule_and_allow_is_marked(case: tuple[World, dict[str, Any]]) -> None:
    world, request = case
    catalogue = world.catalogue
    decision = rulebook(world.document).decide(request)
    result = decision.to_dict()
    event(decision.reason.value)
    if not decision.allow:
        cited = f"Rule {decision.rule} ({decision.reason.value})"
        assert decision.explanation.startswith(cited), result
        assert "marking" not in result
        return
    assert decision.marking is not None
    originator, level = request["label"]["originator"], request["label"]["classification"]
    name = next(lv.name for lv in catalogue.policies[originator].levels if lv.id == level)
    original = decision.marking.original
    assert (original.policy, original.id, original.name) == (originator, level, name), result
    if not _foreign(request):
        assert decision.agreement is None
        return
    nation = request["subject"]["nation"]
    assert decision.marking.level.policy == nation
    agreement = catalogue.agreement(decision.agreement or "")
    assert agreement is not None, result
    assert {originator, nation} <= set(agreement.parties), result
    assert result["marking"]["text"] == (
        f"{decision.marking.level} // {decision.marking.original} // {agreement.id}"
    )


@FAST
@given(scenarios())
def test_decide_parsed_decides_as_decide(case: tuple[World, dict[str, Any]]) -> None:
    """A node's path (the schema's dicts, optional fields absent) and ``decide``'s (the
    msgspec records) give the same decision, explanation and marking included."""
    world, request = case
    book = rulebook(world.document)
    parsed = _parse(_REQUEST, request, "")
    decision = book.decide_parsed(
        parsed["subject"],
        parsed["label"],
        custodian=parsed.get("custodian"),
        consented_to=parsed.get("consented_to", ()),
        at=parsed.get("at"),
    )
    event(decision.reason.value)
    assert decision == book.decide(request), decision.to_dict()


# -- and all of §3 at once, against the plain reading ----------------------------------


@pytest.mark.parametrize("survival", [False, True], ids=["any-custody", "held-by-subject"])
@FAST
@given(data=st.data())
def test_decision_matches_reference_reading(survival: bool, data: st.DataObject) -> None:
    world, request = data.draw(scenarios(survival=survival), label="scenario")
    expected = reference(world.catalogue, request)
    decision = rulebook(world.document).decide(request)
    found = _summary(decision)
    event(expected["reason"])
    among = expected.pop("among", None)
    if among is not None:  # which agreement a rule 4/5 denial names: any of those considered
        assert found.pop("agreement") in among, (expected, found)
        expected.pop("agreement")
    assert found == expected, decision.to_dict()


@settings(FAST, max_examples=examples(50))
@given(worlds(), st.data())
def test_generated_catalogues_are_valid(world: World, data: st.DataObject) -> None:
    """The generator's promise: valid, reloadable, and its requests are decisions."""
    again = catalogue_from_document(copy.deepcopy(world.document))
    assert again.model_dump() == world.catalogue.model_dump()
    request = data.draw(requests(world.catalogue))
    rulebook(world.document).decide(request)  # not a RequestError
