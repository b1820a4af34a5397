"""Every user sees exactly what the release decision allows: a generated corpus, all of it.

A seeded corpus of JPN items (every JPN level, several areas, releasable_to from NOFORN to
FVEY, need-to-know subsets of four topics) is filed by a JPN KIMITSU user holding every
topic. For users of several nations, cleared or not, the node's listing (every page),
every read (on PostgreSQL a third, still every item and every user) and every filtered
search are compared, item by item, with
``gsoia.load_catalogue().decide(...)`` for custodian JPN at today: same set, same
marking, same reason for a refusal.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import gsoia
from gsoia.decision import Decision
from gsoia.node.listing import ListFilter
from gsoia.node.service import Node
from gsoia.node.users import User
from tests.node.conftest import RunningNode, fresh_database, make_node

SEED = 20261127
JPN_LEVELS = ["HI", "GOKUHI", "TOKUTEI", "KIMITSU"]
AREAS: list[str | None] = [None, "defence", "maritime", "cyber", "space"]
TOPICS = ["maritime", "missile", "cyber", "space"]
RELEASABLE: list[list[str]] = [
    [],
    [],
    ["FVEY"],
    ["CAN"],
    ["USA", "GBR"],
    ["KOR"],
    ["UKR"],
    ["AUS", "CAN"],
    ["FVEY", "KOR"],
    ["FVEY", "KOR", "UKR"],
    ["NZL"],
    ["FRA", "DEU"],
    ["USA", "CAN", "GBR", "AUS", "KOR", "UKR"],
]
TITLE_WORDS = [
    "Patrol",
    "PATROL",
    "radar",
    "Radar",
    "convoy",
    "50% readiness",
    "under_score",
    "back\\slash",
    "海上",
    "ミサイル",
    "sortie",
    "Sortie",
    "drill",
]
QUERIES = ["patrol", "RADAR", "50%", "%", "_", "under_", "\\", "海上", "sortie drill", "zzz"]
CREATOR = "jp-creator"


@dataclass(frozen=True)
class Person:
    id: str
    nation: str
    clearance: str | None = None
    need_to_know: tuple[str, ...] = ()
    expires: dt.date | None = None

    def subject(self) -> dict[str, Any]:
        subject: dict[str, Any] = {
            "id": self.id,
            "nation": self.nation,
            "clearance": self.clearance,
            "need_to_know": list(self.need_to_know),
        }
        if self.expires is not None:
            subject["clearance_expires"] = self.expires.isoformat()
        return subject


PEOPLE = [
    Person("jp-k", "JPN", "KIMITSU", tuple(TOPICS)),
    Person("jp-g", "JPN", "GOKUHI", ("maritime", "cyber")),
    Person("jp-none", "JPN", None, tuple(TOPICS)),
    Person("jp-expired", "JPN", "KIMITSU", tuple(TOPICS), dt.date(2020, 1, 1)),
    Person("ca-ts", "CAN", "TS", tuple(TOPICS)),
    Person("ca-c", "CAN", "C", ("maritime",)),
    Person("us-s", "USA", "S", ("maritime", "missile", "cyber")),
    Person("us-none", "USA", None, tuple(TOPICS)),
    Person("gb-ts", "GBR", "TS", ("space", "cyber")),
    Person("kr-i", "KOR", "I", tuple(TOPICS)),
    Person("ua-ct", "UKR", "CT", tuple(TOPICS)),
    Person("au-s", "AUS", "S", tuple(TOPICS)),
    Person("au-p", "AUS", "P", tuple(TOPICS)),
]


@dataclass
class Corpus:
    """The items as filed: id -> (label as stored, title), in creation order."""

    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)


def generate(count: int, seed: int = SEED) -> Iterator[tuple[dict[str, Any], str, str]]:
    """``count`` (label, title, content) triples, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    for n in range(count):
        label: dict[str, Any] = {
            "originator": "JPN",
            "classification": rng.choice(JPN_LEVELS),
            "releasable_to": list(rng.choice(RELEASABLE)),
            "need_to_know": sorted(rng.sample(TOPICS, rng.randint(0, len(TOPICS)))),
        }
        area = rng.choice(AREAS)
        if area is not None or rng.random() < 0.5:  # absent, or explicitly null
            label["area"] = area
        title = " ".join(rng.sample(TITLE_WORDS, rng.randint(1, 3))) + f" #{n}"
        yield label, title, f"content {n} of seed {seed}"


def stored(label: dict[str, Any]) -> dict[str, Any]:
    """The label as the node stores and returns it: every field present."""
    return {
        "originator": label["originator"],
        "classification": label["classification"],
        "area": label.get("area"),
        "releasable_to": list(label["releasable_to"]),
        "need_to_know": list(label["need_to_know"]),
    }


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def expected(rulebook: gsoia.Rulebook, person: Person, label: dict[str, Any]) -> Decision:
    """The decision for ``person`` on a JPN item held by its originator, at today."""
    return rulebook.decide(
        {
            "subject": person.subject(),
            "label": label,
            "custodian": "JPN",
            "consented_to": [],
            "at": today().isoformat(),
        }
    )


def matches(corpus: Corpus, item_id: str, filters: ListFilter) -> bool:
    label, title = corpus.labels[item_id], corpus.titles[item_id]
    if filters.area is not None and label["area"] != filters.area:
        return False
    if filters.level is not None and label["classification"] != filters.level:
        return False
    if filters.originator is not None and label["originator"] != filters.originator:
        return False
    return not (filters.q is not None and filters.q.lower() not in title.lower())


def listing(client: httpx.Client, params: dict[str, str], limit: int = 50) -> dict[str, Any]:
    """Every page of a listing: the items in order, and the total the first page gave."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    totals: set[int] = set()
    while True:
        query = {**params, "limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = client.get("/api/v1/items", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        totals.add(page["total"])
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(totals) == 1, f"total changed between pages: {totals}"
    return {"items": items, "total": totals.pop()}


def file_corpus(jpn: RunningNode, count: int) -> Corpus:
    corpus = Corpus()
    with jpn.client(CREATOR) as creator:
        for label, title, content in generate(count):
            response = creator.post(
                "/api/v1/items", json={"label": label, "title": title, "content": content}
            )
            assert response.status_code == 201, response.text
            body = response.json()
            assert body["label"] == stored(label)
            corpus.labels[body["id"]] = stored(label)
            corpus.titles[body["id"]] = title
    return corpus


def add_people(jpn: RunningNode) -> None:
    node = jpn.open()
    try:
        _, jpn.tokens[CREATOR] = node.add_user(
            CREATOR, "JPN", clearance="KIMITSU", need_to_know=TOPICS
        )
        for person in PEOPLE:
            _, jpn.tokens[person.id] = node.add_user(
                person.id,
                person.nation,
                clearance=person.clearance,
                clearance_expires=person.expires,
                need_to_know=list(person.need_to_know),
            )
    finally:
        node.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningNode, Corpus]]:
    """The corpus filed once per database for the tests below, which only read it."""
    with fresh_database(request.param) as database:
        jpn = make_node(tmp_path_factory.mktemp("exhaustive"), database)
        jpn.in_process = True
        try:
            add_people(jpn)
            jpn.start()
            yield jpn, file_corpus(jpn, 300)
        finally:
            jpn.stop()


def check_corpus(corpus: Corpus, rulebook: gsoia.Rulebook) -> None:
    """Guard: the generated corpus meets allow and every denial reason the users can reach."""
    reasons = {
        expected(rulebook, person, label).reason.value
        for person in PEOPLE
        for label in corpus.labels.values()
    }
    assert reasons == {
        "ALLOW",
        "CLEARANCE",
        "NEED_TO_KNOW",
        "NOT_RELEASABLE",
        "NO_AGREEMENT",
        "NO_EQUIVALENT",
    }
    seen = {
        person.id: sum(expected(rulebook, person, lb).allow for lb in corpus.labels.values())
        for person in PEOPLE
    }
    assert seen["jp-k"] == len(corpus.labels)
    assert seen["jp-none"] == seen["jp-expired"] == seen["us-none"] == seen["ua-ct"] == 0
    partial = [p for p, n in seen.items() if 0 < n < len(corpus.labels)]
    assert len(partial) >= 7, seen
    assert {lb["classification"] for lb in corpus.labels.values()} == set(JPN_LEVELS)
    assert {lb["area"] for lb in corpus.labels.values()} == set(AREAS)


def test_each_listing_is_exactly_what_decide_allows(filed: tuple[RunningNode, Corpus]) -> None:
    jpn, corpus = filed
    rulebook = gsoia.load_catalogue()
    check_corpus(corpus, rulebook)
    for person in PEOPLE:
        decisions = {i: expected(rulebook, person, lb) for i, lb in corpus.labels.items()}
        allowed = [i for i, d in decisions.items() if d.allow]
        with jpn.client(person.id) as client:
            listed = listing(client, {})
        ids = [item["id"] for item in listed["items"]]
        assert ids == allowed, person.id  # same set, in filing order, no duplicates
        assert listed["total"] == len(allowed), person.id
        for item in listed["items"]:
            decision = decisions[item["id"]]
            assert decision.marking is not None
            assert item["marking"]["text"] == decision.marking.text, (person.id, item["id"])
            assert item["agreement"] == decision.agreement
            assert item["label"] == corpus.labels[item["id"]]
            assert item["title"] == corpus.titles[item["id"]]
            assert item["custodian"] == "JPN"
            assert "content" not in item
            assert "content_b64" not in item


def test_each_read_is_allowed_iff_decide_allows(filed: tuple[RunningNode, Corpus]) -> None:
    jpn, corpus = filed
    rulebook = gsoia.load_catalogue()
    contents = {
        item_id: content
        for item_id, (_, _, content) in zip(
            corpus.labels, generate(len(corpus.labels)), strict=True
        )
    }
    # every person reads every item on SQLite; on PostgreSQL, where only the store differs,
    # every third item (a different third for each person): every item, every person
    share = 1 if jpn.database.backend == "sqlite" else 3
    for n, person in enumerate(PEOPLE):
        with jpn.client(person.id) as client:
            for i, (item_id, label) in enumerate(corpus.labels.items()):
                if i % share != n % share:
                    continue
                decision = expected(rulebook, person, label)
                response = client.get(f"/api/v1/items/{item_id}")
                where = (person.id, item_id, label)
                if decision.allow:
                    assert response.status_code == 200, (where, response.text)
                    body = response.json()
                    assert decision.marking is not None
                    assert body["marking"]["text"] == decision.marking.text, where
                    assert body["content"] == contents[item_id], where
                else:
                    assert response.status_code == 403, (where, response.text)
                    assert response.headers["content-type"] == "application/problem+json"
                    body = response.json()
                    assert body["type"] == "/problems/denied"
                    assert body["reason"] == decision.reason.value, where
                    assert body["rule"] == decision.rule, where
                    assert body["agreement"] == decision.agreement, where
                    assert body["explanation"] == decision.explanation, where
                    assert "content" not in body
                    assert "content_b64" not in body


def _filters() -> list[ListFilter]:
    return (
        [ListFilter(area=a) for a in AREAS if a is not None]
        + [ListFilter(area="unheard-of")]
        + [ListFilter(level=lv) for lv in JPN_LEVELS]
        + [ListFilter(level="TS"), ListFilter(originator="JPN"), ListFilter(originator="USA")]
        + [ListFilter(q=q) for q in QUERIES]
        + [ListFilter(area="maritime", level="GOKUHI"), ListFilter(level="HI", q="radar")]
    )


def test_each_search_is_allowed_and_filtered(filed: tuple[RunningNode, Corpus]) -> None:
    jpn, corpus = filed
    rulebook = gsoia.load_catalogue()
    filters = _filters()
    for f in filters:  # guard: every filter keeps some items but not all (bar the empty ones)
        kept = sum(matches(corpus, i, f) for i in corpus.labels)
        assert kept < len(corpus.labels) or f.originator == "JPN", f
    for person in PEOPLE:
        decisions = {i: expected(rulebook, person, lb) for i, lb in corpus.labels.items()}
        with jpn.client(person.id) as client:
            for f in filters:
                want = [i for i, d in decisions.items() if d.allow and matches(corpus, i, f)]
                listed = listing(client, f.to_dict())
                got = [item["id"] for item in listed["items"]]
                assert got == want, (person.id, f)
                assert listed["total"] == len(want), (person.id, f)
                for item in listed["items"]:
                    marking = decisions[item["id"]].marking
                    assert marking is not None
                    assert item["marking"]["text"] == marking.text


# -- in process, many more items ----------------------------------------------------------


def _node_users(node: Node) -> tuple[User, dict[str, User]]:
    creator, _ = node.add_user(CREATOR, "JPN", clearance="KIMITSU", need_to_know=TOPICS)
    users = {}
    for person in PEOPLE:
        users[person.id], _ = node.add_user(
            person.id,
            person.nation,
            clearance=person.clearance,
            clearance_expires=person.expires,
            need_to_know=list(person.need_to_know),
        )
    return creator, users


def _all_pages(node: Node, user: User, filters: ListFilter | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = node.list_items(user, filters or ListFilter(), cursor=cursor, limit=1000)
        items += page["items"]
        if page["next"] is None:
            return items
        cursor = int(page["next"])


def _compare(node: Node, users: dict[str, User], corpus: Corpus) -> None:
    rulebook = gsoia.load_catalogue()
    for person in PEOPLE:
        listed = {item["id"]: item for item in _all_pages(node, users[person.id])}
        assert len(listed) == len(set(listed))
        for item_id, label in corpus.labels.items():
            decision = expected(rulebook, person, label)
            assert (item_id in listed) == decision.allow, (person.id, item_id, label)
            if decision.allow:
                assert decision.marking is not None
                assert listed[item_id]["marking"]["text"] == decision.marking.text


def test_in_process_thousands_of_items_match_decide(jpn: RunningNode) -> None:
    node = jpn.open()
    try:
        creator, users = _node_users(node)
        corpus = Corpus()
        for label, title, content in generate(3000, seed=SEED + 1):
            view = node.create_item(creator, label, title, content.encode())
            corpus.labels[view["id"]] = stored(label)
            corpus.titles[view["id"]] = title
        _compare(node, users, corpus)
    finally:
        node.close()
    reopened = jpn.open()  # the columns as the store kept them, not as this process built them
    try:
        _compare(reopened, users, corpus)
    finally:
        reopened.close()
