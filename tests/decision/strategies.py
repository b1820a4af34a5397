"""Hypothesis strategies: valid catalogues (docs/decision.md §1) and requests against them (§2).

Catalogues have 2-8 policies (``P0``..``P7``, each with 1-4 levels ``L0``..``L3``, lowest
first), 0-2 groups and 1-8 agreements of 2-4 parties with random status histories, scopes
and equivalence rows.

Equivalence rows never conflict: every (policy, level) gets one global *class* (or none),
and a row of an agreement is a class — for each party, that party's levels of the class in
a fixed per-policy order. A row may then drop some parties (keeping two or more) and some
levels of a party, but never the party's first-listed level, so that the level a mapping
*into* the party yields is the same in every agreement. Every generated catalogue is loaded
with ``catalogue_from_document``: a strategy that produced an invalid one is a test bug.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from gsoia.catalogue.load import catalogue_from_document
from gsoia.catalogue.model import Catalogue

POLICY_IDS = tuple(f"P{i}" for i in range(8))
GROUP_IDS = ("G0", "G1")
AREAS = ("defence", "maritime", "cyber", "space")
OTHER_AREA = "other"
"""An area that no generated scope names."""
TOPICS = ("alpha", "bravo", "charlie")
STATUSES = ("negotiating", "signed", "in_force", "suspended", "terminated")
ARTICLE_KEYS = (
    "NOT_RELEASABLE",
    "THIRD_PARTY",
    "NO_AGREEMENT",
    "OUT_OF_SCOPE",
    "NO_EQUIVALENT",
    "CLEARANCE",
    "NEED_TO_KNOW",
    "SURVIVAL",
    "MARKING",
)
CLASSES = 3
TODAY = dt.date(2026, 1, 1)
"""The rulebooks' "today" (a request without ``at`` is decided on it)."""

EVENT_DATES = tuple(dt.date(2020, 1, 1) + dt.timedelta(days=200 * k) for k in range(12))
"""A small pool of event dates, so that agreements often change status on the same day."""
FIRST_DAY, LAST_DAY = dt.date(2019, 1, 1), dt.date(2027, 12, 31)
"""Where a date falls in a catalogue without events."""


@dataclass(frozen=True)
class World:
    """A generated catalogue: the document (plain data) and the validated model."""

    document: dict[str, Any]
    catalogue: Catalogue = field(repr=False)  # the document says it all, and shorter


def _weighted_bool(draw: st.DrawFn, true_in: int, out_of: int) -> bool:
    """True with probability about ``true_in / out_of`` (before shrinking)."""
    return draw(st.integers(0, out_of - 1)) < true_in


# -- catalogues --------------------------------------------------------------------------


@st.composite
def _events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A status history in date order; two events on one day keep their listed order."""
    if _weighted_bool(draw, 2, 3):  # a life: talks, in force, perhaps suspended or ended
        statuses = [s for s in ("negotiating", "signed") if draw(st.booleans())]
        statuses.append("in_force")
        statuses += draw(
            st.sampled_from(
                [
                    [],
                    [],
                    ["suspended"],
                    ["terminated"],
                    ["suspended", "in_force"],
                    ["suspended", "terminated"],
                ]
            )
        )
    else:
        statuses = draw(st.lists(st.sampled_from(STATUSES), max_size=5))
    days = sorted(
        draw(
            st.lists(
                st.integers(0, len(EVENT_DATES) - 1),
                min_size=len(statuses),
                max_size=len(statuses),
            )
        )
    )
    if len(days) > 1 and _weighted_bool(draw, 1, 3):  # two events on one day
        i = draw(st.integers(0, len(days) - 2))
        days[i + 1] = days[i]
    return [
        {"status": status, "date": EVENT_DATES[k].isoformat()}
        for k, status in zip(days, statuses, strict=True)
    ]


@st.composite
def _scope(draw: st.DrawFn) -> list[str]:
    kind = draw(st.integers(0, 3))
    if kind <= 1:
        return ["*"]
    areas = draw(st.lists(st.sampled_from(AREAS), min_size=1, max_size=3, unique=True))
    return ["*", *areas] if kind == 2 and _weighted_bool(draw, 1, 4) else areas


def _level_class(draw: st.DrawFn, rank: int, aligned: bool) -> int | None:
    """The class of a level: near its rank if ``aligned``, else any; now and then none."""
    if draw(st.integers(0, 5)) == 2:  # not at a bound: Hypothesis draws those more often
        return None
    if aligned:
        return draw(st.integers(max(0, rank - 1), min(CLASSES - 1, rank)))
    return draw(st.integers(0, CLASSES - 1))


@st.composite
def _rows(
    draw: st.DrawFn,
    parties: list[str],
    classes: dict[str, list[int | None]],
    order: dict[str, list[int]],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for c in range(CLASSES):
        members: dict[str, list[str]] = {}
        for party in parties:
            ranks = [r for r in order[party] if classes[party][r] == c]
            if not ranks:
                continue
            first, rest = ranks[0], ranks[1:]
            kept = [first] + [r for r in rest if draw(st.booleans())]
            members[party] = [f"L{r}" for r in kept]
        if len(members) < 2 or not _weighted_bool(draw, 5, 6):  # keep a row 5 times in 6
            continue
        keep = sorted(members)
        if _weighted_bool(draw, 1, 3):  # leave some parties out of the row
            keep = draw(st.lists(st.sampled_from(keep), min_size=2, unique=True))
        row: dict[str, Any] = {}
        for party in keep:
            levels = members[party]
            row[party] = levels[0] if len(levels) == 1 and draw(st.booleans()) else levels
        if _weighted_bool(draw, 1, 4):
            row["source"] = "assumed: generated"
        rows.append(row)
    return draw(st.permutations(rows))


TAG_NAMES = ("T0", "T1", "T2")
CATEGORY_NAMES = ("c0", "c1", "c2")
CATEGORY_KINDS = (
    "restrictive",
    "permissive",
    "enumerated-restrictive",
    "enumerated-permissive",
    "informative",
)


@st.composite
def _tag_sets(draw: st.DrawFn, size: int) -> list[dict[str, Any]]:
    """A policy's category tags (docs/decision.md, "Categories"): 1-3 tags named from
    ``TAG_NAMES`` (so that policies share tag names, not always of one kind), each with the
    categories ``CATEGORY_NAMES``, some excluded at some of the ``size`` levels."""
    tags = []
    for name in draw(st.lists(st.sampled_from(TAG_NAMES), min_size=1, max_size=3, unique=True)):
        values = []
        for i, category in enumerate(CATEGORY_NAMES):
            value: dict[str, Any] = {"name": category, "lacv": i + 1}
            if _weighted_bool(draw, 1, 3):
                value["excluded"] = draw(
                    st.lists(st.sampled_from([f"L{r}" for r in range(size)]), unique=True)
                )
            values.append(value)
        tag = {"name": name, "kind": draw(st.sampled_from(CATEGORY_KINDS)), "values": values}
        if _weighted_bool(draw, 1, 4):
            tag["single"] = True
        tags.append(tag)
    return [{"name": "Categories", "oid": "1.2.3.4", "tags": tags}]


@st.composite
def worlds(draw: st.DrawFn, *, categories: bool = False) -> World:
    """A valid catalogue, loaded; with ``categories``, most policies have category tags."""
    count = draw(st.integers(2, len(POLICY_IDS)))
    policy_ids = draw(st.permutations(POLICY_IDS[:count]))  # dict order = policy codes
    sizes = {p: draw(st.integers(1, 4)) for p in policy_ids}
    aligned = _weighted_bool(draw, 3, 4)  # levels of equal rank are mostly equivalent
    classes = {p: [_level_class(draw, r, aligned) for r in range(sizes[p])] for p in policy_ids}
    order = {p: draw(st.permutations(range(sizes[p]))) for p in policy_ids}
    policies = {
        p: {
            "name": f"Policy {p}",
            "levels": [{"id": f"L{r}", "name": f"{p} LEVEL {r}"} for r in range(sizes[p])],
        }
        for p in policy_ids
    }
    for p in policy_ids if categories else ():
        if _weighted_bool(draw, 3, 4):
            policies[p]["categories"] = draw(_tag_sets(sizes[p]))
    groups = {
        g: draw(st.lists(st.sampled_from(policy_ids), max_size=4, unique=True))
        for g in GROUP_IDS[: draw(st.integers(0, len(GROUP_IDS)))]
    }
    n_agreements = draw(st.integers(1, 8))
    numbers = draw(st.permutations(range(8)))  # ids not in list order: "smallest id" matters
    agreements = []
    for i in range(n_agreements):
        parties = draw(
            st.lists(st.sampled_from(policy_ids), min_size=2, max_size=min(4, count), unique=True)
        )
        agreement: dict[str, Any] = {
            "id": f"A{numbers[i]}",
            "title": f"Agreement A{numbers[i]}",
            "parties": parties,
            "scope": draw(_scope()),
            "events": draw(_events()),
            "equivalence": draw(_rows(parties, classes, order)),
        }
        articles = draw(st.lists(st.sampled_from(ARTICLE_KEYS), max_size=3, unique=True))
        if articles:
            agreement["articles"] = {key: f"Art. {n + 1}" for n, key in enumerate(articles)}
        agreements.append(agreement)
    document: dict[str, Any] = {"policies": policies, "agreements": agreements}
    if groups or draw(st.booleans()):
        document["groups"] = groups
    return World(document, catalogue_from_document(document))


# -- requests ----------------------------------------------------------------------------


def _level_ids(catalogue: Catalogue, policy: str) -> list[str]:
    return [level.id for level in catalogue.policies[policy].levels]


def _names(catalogue: Catalogue) -> list[str]:
    """What ``releasable_to`` and ``consented_to`` may name: policies and groups."""
    return [*catalogue.policies, *catalogue.groups]


def _partners(catalogue: Catalogue, policy: str) -> list[str]:
    """The policies that share some agreement with ``policy``."""
    found = {p for a in catalogue.agreements if policy in a.parties for p in a.parties}
    return sorted(found - {policy})


def _areas(catalogue: Catalogue) -> list[str]:
    named = {area for a in catalogue.agreements for area in a.scope if area != "*"}
    return sorted(named | set(AREAS) | {OTHER_AREA})


@st.composite
def dates(draw: st.DrawFn, catalogue: Catalogue) -> dt.date:
    """A date on, next to, or anywhere around the catalogue's event dates."""
    event_dates = catalogue.event_dates()
    if not event_dates:
        return draw(st.dates(FIRST_DAY, LAST_DAY))
    if _weighted_bool(draw, 2, 3):
        day = draw(st.sampled_from(event_dates))
        return day + dt.timedelta(days=draw(st.integers(-1, 1)))
    margin = dt.timedelta(days=400)
    return draw(st.dates(event_dates[0] - margin, event_dates[-1] + margin))


def _mentioning(draw: st.DrawFn, catalogue: Catalogue, nation: str) -> str:
    """The nation itself, or a group that has it as a member."""
    groups = [g for g, members in catalogue.groups.items() if nation in members]
    return draw(st.sampled_from([nation, *groups]))


@st.composite
def subjects(
    draw: st.DrawFn,
    catalogue: Catalogue,
    nation: str | None = None,
    covering: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A subject of ``nation`` (or of any policy), holding at least the topics ``covering``."""
    if nation is None:
        nation = draw(st.sampled_from(list(catalogue.policies)))
    subject: dict[str, Any] = {"nation": nation}
    if _weighted_bool(draw, 1, 3):
        subject["id"] = draw(st.sampled_from(["s-1", "s-2", ""]))
    if _weighted_bool(draw, 6, 7):
        levels = _level_ids(catalogue, nation)
        # the top level half of the time: most requests get past the clearance rules
        subject["clearance"] = levels[-1] if draw(st.booleans()) else draw(st.sampled_from(levels))
    elif draw(st.booleans()):
        subject["clearance"] = None
    if _weighted_bool(draw, 1, 4):
        subject["clearance_expires"] = draw(dates(catalogue)).isoformat()
    topics = draw(st.lists(st.sampled_from(TOPICS), max_size=3, unique=True))
    topics += [t for t in covering if t not in topics]
    if topics or draw(st.booleans()):
        subject["need_to_know"] = topics
    tags = sorted({tag for policy in catalogue.policies.values() for tag in policy.tags})
    if tags and _weighted_bool(draw, 2, 3):
        subject["categories"] = draw(
            st.dictionaries(
                st.sampled_from(tags),
                st.lists(st.sampled_from(CATEGORY_NAMES), max_size=3, unique=True),
            )
        )
    return subject


@st.composite
def labels(
    draw: st.DrawFn,
    catalogue: Catalogue,
    originator: str | None = None,
    reader: str | None = None,
) -> dict[str, Any]:
    """A label of ``originator`` (or any policy), often releasable to ``reader``."""
    if originator is None:
        originator = draw(st.sampled_from(list(catalogue.policies)))
    label: dict[str, Any] = {
        "originator": originator,
        "classification": draw(st.sampled_from(_level_ids(catalogue, originator))),
    }
    if _weighted_bool(draw, 4, 5):
        label["area"] = draw(st.sampled_from(_areas(catalogue)))
    releasable = draw(st.lists(st.sampled_from(_names(catalogue)), max_size=4, unique=True))
    if reader is not None and _weighted_bool(draw, 3, 4):
        mention = _mentioning(draw, catalogue, reader)
        if mention not in releasable:
            releasable.insert(draw(st.integers(0, len(releasable))), mention)
    if releasable or draw(st.booleans()):
        label["releasable_to"] = releasable
    if _weighted_bool(draw, 1, 2):
        label["need_to_know"] = draw(st.lists(st.sampled_from(TOPICS), max_size=2, unique=True))
    tags = catalogue.policies[originator].tags
    if tags and _weighted_bool(draw, 3, 4):
        label["categories"] = draw(_label_categories(tags, label["classification"]))
    return label


@st.composite
def _label_categories(draw: st.DrawFn, tags: Any, classification: str) -> dict[str, list[str]]:
    """Categories valid under the policy at ``classification``."""
    chosen: dict[str, list[str]] = {}
    for name in draw(st.lists(st.sampled_from(sorted(tags)), unique=True)):
        tag = tags[name]
        allowed = [v.name for v in tag.values if classification not in v.excluded]
        values = draw(
            st.lists(st.sampled_from(allowed), max_size=1 if tag.single else 3, unique=True)
            if allowed
            else st.just([])
        )
        if values or tag.kind.rule != "restrictive":
            chosen[name] = values
    return chosen


@st.composite
def custody(draw: st.DrawFn, catalogue: Catalogue, originator: str, reader: str) -> dict[str, Any]:
    """``custodian`` and ``consented_to``: often the reader holds it, or a third party."""
    policies = list(catalogue.policies)
    others = [p for p in policies if p not in (originator, reader)] or policies
    held: dict[str, Any] = {}
    kind = draw(st.integers(0, 5))
    if kind == 0:
        held["custodian"] = reader
    elif kind == 1:
        held["custodian"] = draw(st.sampled_from(others))  # a third party
    elif kind == 2:
        held["custodian"] = None
    elif kind == 3:
        held["custodian"] = originator
    elif kind == 4:
        held["custodian"] = draw(st.sampled_from(policies))
    consented = draw(st.lists(st.sampled_from(_names(catalogue)), max_size=3, unique=True))
    if _weighted_bool(draw, 1, 3):
        mention = _mentioning(draw, catalogue, reader)
        if mention not in consented:
            consented.append(mention)
    if consented or draw(st.booleans()):
        held["consented_to"] = consented
    return held


@st.composite
def _request_date(
    draw: st.DrawFn, catalogue: Catalogue, originator: str, nation: str, *, ended: bool = False
) -> dt.date:
    """Mostly a date on which an agreement between the two changes status, or soon after.

    ``ended``: preferably the day one of them is suspended or terminated, or later.
    """
    events = [
        e
        for a in catalogue.agreements
        if originator in a.parties and nation in a.parties
        for e in a.events
    ]
    if not events or (not ended and _weighted_bool(draw, 1, 4)):
        return draw(dates(catalogue))
    kind = 0 if ended else draw(st.integers(0, 2))
    wanted = {0: ("suspended", "terminated"), 1: ("in_force",)}.get(kind, tuple(STATUSES))
    events = [e for e in events if e.status.value in wanted] or events
    day = draw(st.sampled_from(events)).date
    return day + dt.timedelta(days=draw(st.sampled_from([0, 0, 0, -1, 1, 150])))


@st.composite
def requests(
    draw: st.DrawFn, catalogue: Catalogue, *, allow_no_date: bool = True, survival: bool = False
) -> dict[str, Any]:
    """A valid request (docs/decision.md §2) against ``catalogue``.

    ``survival``: a foreign subject whose nation holds the copy, mostly on or after a day
    an agreement between the two was suspended or terminated.
    """
    policies = list(catalogue.policies)
    originator = draw(st.sampled_from(policies))
    partners = _partners(catalogue, originator)
    kind = draw(st.integers(0, 9))  # Hypothesis favours the bounds: keep them the usual case
    if survival and partners:
        nation = draw(st.sampled_from(partners))
    elif kind == 4:
        nation = originator
    elif kind == 5 or not partners:
        nation = draw(st.sampled_from(policies))
    else:
        nation = draw(st.sampled_from(partners))
    label = draw(labels(catalogue, originator, nation))
    needed = tuple(label.get("need_to_know", ())) if _weighted_bool(draw, 2, 3) else ()
    request: dict[str, Any] = {
        "subject": draw(subjects(catalogue, nation, needed)),
        "label": label,
        **draw(custody(catalogue, originator, nation)),
    }
    if survival:
        request["custodian"] = nation
    if survival or not allow_no_date or _weighted_bool(draw, 9, 10):
        day = draw(_request_date(catalogue, originator, nation, ended=survival))
        request["at"] = day.isoformat()
    return request


@st.composite
def scenarios(draw: st.DrawFn, *, survival: bool = False) -> tuple[World, dict[str, Any]]:
    """A generated catalogue and one request against it (``survival``: see ``requests``)."""
    world = draw(worlds())
    return world, draw(requests(world.catalogue, survival=survival))


@st.composite
def held_labels(draw: st.DrawFn, catalogue: Catalogue, reader: str) -> dict[str, Any]:
    """A label carrying its own ``custodian`` and ``consented_to`` (a batch element)."""
    partners = _partners(catalogue, reader)
    if partners and _weighted_bool(draw, 3, 4):
        originator = draw(st.sampled_from(partners))
    else:
        originator = draw(st.sampled_from(list(catalogue.policies)))
    return {
        **draw(labels(catalogue, originator, reader)),
        **draw(custody(catalogue, originator, reader)),
    }


@st.composite
def batches(
    draw: st.DrawFn, catalogue: Catalogue, *, allow_no_date: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]], dt.date | None]:
    """A subject, 1-50 labels (each with its own custody, repeats likely) and a date."""
    policies = list(catalogue.policies)
    nation = draw(st.sampled_from(policies))
    subject = draw(subjects(catalogue, nation, TOPICS if draw(st.booleans()) else ()))
    pool = draw(st.lists(held_labels(catalogue, nation), min_size=1, max_size=20))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=50))
    at = None
    if not allow_no_date or _weighted_bool(draw, 9, 10):
        # a day that matters to the first label's originator and the subject's nation
        at = draw(_request_date(catalogue, pool[picks[0]]["originator"], nation))
    return subject, [pool[i] for i in picks], at


def single_request(
    subject: dict[str, Any], held: dict[str, Any], at: dt.date | None
) -> dict[str, Any]:
    """The single request that asks what one element of a batch asks."""
    label = {k: v for k, v in held.items() if k not in ("custodian", "consented_to")}
    request: dict[str, Any] = {"subject": subject, "label": label}
    for key in ("custodian", "consented_to"):
        if key in held:
            request[key] = held[key]
    if at is not None:
        request["at"] = at.isoformat()
    return request
