"""A generated world, as data: five nations, their users, their items and the releases to try.

Nothing here touches a node: the same seed gives the same people, labels and release plan,
and the expectations are computed from the bundled catalogue (``gsoia.load_catalogue()``)
with ``decide`` — the reference the nodes' endpoints are compared with, item by item.

The nations are Japan and four partners with which the bundled catalogue (Japan's
agreements) has an agreement in force: Canada, the United States, the United Kingdom and
Australia. The catalogue has no agreement between two of the partners, so an item that
Canada originates has no way to a US reader (``NO_AGREEMENT``), and a partner holding a
Japanese item may not pass it on without Japan's consent (``THIRD_PARTY``).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import gsoia
from gsoia.decision import Decision
from gsoia.node.stix import EXTENSION_ID
from gsoia.node.users import Role

SEED = 20261127
ITEMS = int(os.environ.get("GSOIA_WORLD_ITEMS", "2000"))
READS = float(os.environ.get("GSOIA_WORLD_READS", "0.04"))
"""The share of (user, copy) pairs also read one by one (the listings compare them all)."""
NATIONS = ("JPN", "CAN", "USA", "GBR", "AUS")
PARTNERS = NATIONS[1:]
TOPICS = ("maritime", "missile", "cyber", "space")
AREAS: tuple[str | None, ...] = (None, "defence", "maritime", "cyber", "space")
USERS_PER_NATION = {"JPN": 14, "CAN": 9, "USA": 9, "GBR": 9, "AUS": 9}
EXPIRED = (dt.date(2020, 1, 1), dt.date(2024, 3, 31))
VALID_UNTIL = dt.date(2031, 12, 31)
"""Clearance expiries far from today: the decisions do not change while the test runs."""

RELEASABLE: dict[str, list[list[str]]] = {
    "JPN": [
        [],
        [],
        ["FVEY"],
        ["FVEY"],
        ["CAN"],
        ["USA"],
        ["GBR"],
        ["AUS"],
        ["USA", "GBR"],
        ["AUS", "CAN"],
        ["FVEY", "KOR"],
        ["KOR"],
        ["NZL"],
        ["USA", "CAN", "GBR", "AUS"],
    ],
    "partner": [
        [],
        ["JPN"],
        ["JPN"],
        ["JPN", "FVEY"],
        ["FVEY"],
        ["CAN", "USA", "GBR", "AUS"],
        ["JPN", "USA"],
    ],
}


@dataclass(frozen=True)
class Person:
    """One of the world's users: an account of the same id on every node."""

    id: str
    nation: str
    clearance: str | None
    need_to_know: tuple[str, ...]
    expires: dt.date | None
    role: Role

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


@dataclass(frozen=True)
class Planned:
    """An item to create on its originator's node: a STIX indicator or plain text."""

    n: int
    label: dict[str, Any]
    """As stored: every field present."""
    title: str
    stix_id: str | None
    """None: a plain item (REST and web only; TAXII holds STIX objects)."""

    @property
    def originator(self) -> str:
        return str(self.label["originator"])

    def stix_object(self) -> dict[str, Any]:
        assert self.stix_id is not None
        extension: dict[str, Any] = {"extension_type": "property-extension"}
        extension |= {k: v for k, v in self.label.items() if v is not None}
        return {
            "type": "indicator",
            "spec_version": "2.1",
            "id": self.stix_id,
            "created": "2026-03-01T00:00:00.000Z",
            "modified": "2026-03-01T00:00:00.000Z",
            "name": self.title,
            "indicator_types": ["malicious-activity"],
            "pattern": f"[ipv4-addr:value = '198.51.{self.n // 250 % 250}.{self.n % 250}']",
            "pattern_type": "stix",
            "valid_from": "2026-03-01T00:00:00Z",
            "extensions": {EXTENSION_ID: extension},
        }

    def content(self) -> str:
        return f"plain item {self.n}: {self.title}"


@dataclass
class Held:
    """A copy of an item as one node holds it (the label is the originator's, unchanged)."""

    item_id: str
    label: dict[str, Any]
    custodian: str
    title: str
    stix_id: str | None
    custodian_marking: str | None = None
    """For a received copy: the marking the custodian gave it on receipt."""


@dataclass
class Holdings:
    """Every node's copies, by nation then item id."""

    by_node: dict[str, dict[str, Held]] = field(default_factory=lambda: {n: {} for n in NATIONS})

    def total(self) -> int:
        return sum(len(h) for h in self.by_node.values())


def people(seed: int = SEED) -> list[Person]:
    """50 users over the five nations: a releasing officer per nation (top clearance, every
    topic), then seeded clearances (some uncleared), expiries (some past), topics, roles."""
    rulebook = gsoia.load_catalogue()
    rng = random.Random(seed)  # noqa: S311 - a reproducible world, not a secret
    found: list[Person] = []
    for nation, count in USERS_PER_NATION.items():
        levels = [lv.id for lv in rulebook.catalogue.policies[nation].levels]
        found.append(Person(releaser(nation), nation, levels[-1], TOPICS, None, Role.OFFICER))
        for n in range(1, count):
            clearance = rng.choice([None, *levels, *levels])
            roll = rng.random()
            expires = rng.choice(EXPIRED) if roll < 0.15 else VALID_UNTIL if roll < 0.4 else None
            topics = tuple(sorted(rng.sample(TOPICS, rng.choice([0, 1, 2, 2, 3, 4, 4]))))
            role = rng.choice([Role.ANALYST, Role.ANALYST, Role.ANALYST, Role.OFFICER, Role.ADMIN])
            found.append(
                Person(f"{nation.lower()}-{n:02d}", nation, clearance, topics, expires, role)
            )
    return found


def releaser(nation: str) -> str:
    return f"{nation.lower()}-officer"


def plan_items(count: int, seed: int = SEED) -> list[Planned]:
    """``count`` items: 80 % originated by Japan, 5 % by each partner; one in ten plain."""
    rulebook = gsoia.load_catalogue()
    rng = random.Random(seed + 1)  # noqa: S311 - a reproducible world, not a secret
    planned = []
    for n in range(count):
        share = n % 20
        originator = "JPN" if share < 16 else PARTNERS[share - 16]
        levels = [lv.id for lv in rulebook.catalogue.policies[originator].levels]
        options = RELEASABLE["JPN" if originator == "JPN" else "partner"]
        label = {
            "originator": originator,
            "classification": rng.choice(levels),
            "area": rng.choice(AREAS),
            "releasable_to": list(rng.choice(options)),
            "need_to_know": sorted(rng.sample(TOPICS, rng.choice([0, 0, 1, 1, 2, 3]))),
        }
        title = f"{originator} {rng.choice(['Patrol', 'Radar', 'Convoy', '海上', 'Sortie'])} #{n}"
        stix_id = (
            None
            if rng.random() < 0.1
            else f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        )
        planned.append(Planned(n, label, title, stix_id))
    return planned


def plan_first_releases(
    items: dict[str, Planned], share: float, seed: int = SEED
) -> list[tuple[str, str]]:
    """(item id, to) release attempts from the originator's node: mostly to a nation the
    label names, sometimes to one it does not (a refusal to check), partners' items to Japan
    and now and then to another partner (no agreement between them)."""
    rng = random.Random(seed + 2)  # noqa: S311 - a reproducible world, not a secret
    attempts = []
    for item_id, planned in sorted(items.items(), key=lambda kv: kv[1].n):
        if rng.random() >= share:
            continue
        origin = planned.originator
        others = [n for n in NATIONS if n != origin]
        if origin == "JPN":
            named = [p for p in PARTNERS if _names(planned.label["releasable_to"], p)]
            targets = rng.sample(named, min(len(named), rng.choice([1, 1, 2, 3])))
            if not targets or rng.random() < 0.25:
                targets.append(rng.choice([p for p in others if p not in targets]))
        else:
            targets = ["JPN"] if rng.random() < 0.85 else [rng.choice(others)]
        attempts += [(item_id, to) for to in targets]
    return attempts


def plan_second_releases(
    holdings: Holdings, count: int, seed: int = SEED
) -> list[tuple[str, str, str]]:
    """(custodian, item id, to): a partner passing on a copy it received to a third nation,
    or (one time in five) back to its originator."""
    rng = random.Random(seed + 3)  # noqa: S311 - a reproducible world, not a secret
    received = [
        (nation, held)
        for nation in PARTNERS
        for held in sorted(holdings.by_node[nation].values(), key=lambda h: h.item_id)
        if held.label["originator"] != nation
    ]
    chosen = rng.sample(received, min(count, len(received)))
    return [
        (
            nation,
            held.item_id,
            held.label["originator"]
            if n % 5 == 0
            else rng.choice([p for p in PARTNERS if p != nation]),
        )
        for n, (nation, held) in enumerate(chosen)
    ]


def _names(releasable: list[str], nation: str) -> bool:
    return nation in releasable or (nation in FVEY and "FVEY" in releasable)


FVEY = ("AUS", "CAN", "GBR", "NZL", "USA")


# -- expectations -----------------------------------------------------------------------------


def today() -> dt.date:
    """The date the nodes decide on: today, UTC (``gsoia serve`` without ``--today``)."""
    return gsoia.today_utc()


def expected(rulebook: gsoia.Rulebook, person: Person, held: Held, at: dt.date) -> Decision:
    """``decide`` for a user reading a copy as its node holds it."""
    return rulebook.decide(
        {
            "subject": person.subject(),
            "label": held.label,
            "custodian": held.custodian,
            "consented_to": [],
            "at": at.isoformat(),
        }
    )


def partner_expected(
    rulebook: gsoia.Rulebook, label: dict[str, Any], custodian: str, to: str, at: dt.date
) -> Decision:
    """``decide`` for a release to ``to``: its node stands for its readers of the highest
    clearance holding the item's need-to-know (rules 1-5 of docs/decision.md §3)."""
    top = rulebook.catalogue.policies[to].levels[-1].id
    return rulebook.decide(
        {
            "subject": {
                "id": f"{to} node",
                "nation": to,
                "clearance": top,
                "need_to_know": list(label["need_to_know"]),
            },
            "label": label,
            "custodian": custodian,
            "consented_to": [],
            "at": at.isoformat(),
        }
    )
