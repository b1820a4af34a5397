"""A seeded, synthetic world for the decision benchmark: catalogue, labels and subjects.

Everything here is deterministic for a given seed. The catalogue is a plain document (the
shape of docs/decision.md §1) that ``gsoia.catalogue.load.catalogue_from_document`` accepts.

Equivalences are consistent by construction: every level of every policy belongs to a
global *band* (0 RESTRICTED .. 3 TOP SECRET), or to none (a national-only level), and an
agreement's rows are "the levels of its parties in band b", for the bands it covers. Two
agreements that share parties therefore never map a level differently.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

DAY = dt.date(2026, 3, 1)
"""The benchmark date: every decision is taken on it."""

_TRIGRAPHS = (
    "AUS AUT BEL BRA CAN CHE CZE DEU DNK ESP EST FIN FRA GBR GRC HUN IDN IND IRL ISR "
    "ITA JPN KOR LTU LVA MEX NLD NOR NZL PHL POL PRT ROU SGP SVK SWE THA TUR UKR USA"
)
NATIONS = tuple(_TRIGRAPHS.split())

GROUPS = {
    "FVEY": ["AUS", "CAN", "GBR", "NZL", "USA"],
    "QUAD": ["AUS", "IND", "JPN", "USA"],
    "NORDIC": ["DNK", "FIN", "NOR", "SWE"],
    "BALTIC": ["EST", "LTU", "LVA"],
    "EUCORE": ["BEL", "DEU", "ESP", "FRA", "ITA", "NLD", "POL"],
}

AREAS = (
    "defence",
    "maritime",
    "cyber",
    "space",
    "intelligence",
    "procurement",
    "nuclear",
    "diplomatic",
)
EXTRA_AREAS = ("health", "trade")
"""Areas that labels use but no agreement scope names (only ``"*"`` covers them)."""

TOPICS = tuple(f"topic-{i}" for i in range(10))

BAND_IDS = ("RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP_SECRET")
BAND_NAMES = ("RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP SECRET")

# Band of each level, lowest first; None = a national-only level with no equivalent.
# A repeated band puts two levels of one policy in one row (the first is mapped into).
BAND_LAYOUTS: tuple[tuple[int | None, ...], ...] = (
    (2, 3),
    (1, 2),
    (1, 2, 3),
    (0, 1, 2),
    (1, 2, 3),
    (0, 1, 2, 3),
    (1, 2, 2, 3),
    (1, 2, 3, None),
)


@dataclass(frozen=True)
class World:
    """The catalogue document and what labels and subjects are drawn from."""

    document: dict[str, Any]
    partners: dict[str, list[str]]
    """Per nation, the nations it shares at least one agreement with."""
    levels: dict[str, list[str]]
    """Per nation, its level ids, lowest first."""


def _date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(max(1, (end - start).days)))


def _events(rng: random.Random) -> list[dict[str, str]]:
    """A status history; mostly in force on DAY, some signed, ended, suspended or future."""
    t0 = _date(rng, dt.date(1995, 1, 1), dt.date(2021, 1, 1))
    step = [t0]
    for _ in range(4):
        step.append(step[-1] + dt.timedelta(days=rng.randrange(60, 900)))
    kind = rng.choices(
        ["in_force", "signed", "terminated", "suspended", "negotiating", "dead", "future"],
        weights=[66, 8, 8, 5, 5, 3, 5],
    )[0]
    if step[3] >= DAY:  # the first four events fall before DAY
        shift = step[3] - DAY + dt.timedelta(days=30)
        step = [s - shift for s in step]

    def ev(status: str, day: dt.date) -> dict[str, str]:
        return {"status": status, "date": day.isoformat()}

    history = [ev("negotiating", step[0])]
    if kind == "negotiating":
        return history
    history.append(ev("signed", step[1]))
    if kind == "signed":
        if rng.random() < 0.5:  # enters into force after DAY
            history.append(ev("in_force", DAY + dt.timedelta(days=rng.randrange(30, 400))))
        return history
    if kind == "dead":  # signed, never in force, terminated
        history.append(ev("terminated", step[2]))
        return history
    history.append(ev("in_force", step[2]))
    if kind == "terminated":
        history.append(ev("terminated", step[3]))
    elif kind == "suspended":
        history.append(ev("suspended", step[3]))
    elif kind == "future":  # in force on DAY, terminated later: one more epoch
        history.append(ev("terminated", DAY + dt.timedelta(days=rng.randrange(30, 700))))
    return history


def make_world(seed: int, agreements: int = 60) -> World:
    """~40 policies, a few groups, ``agreements`` agreements (mostly bilateral)."""
    rng = random.Random(seed)
    policies: dict[str, Any] = {}
    bands: dict[str, list[int | None]] = {}
    levels: dict[str, list[str]] = {}
    for nation in NATIONS:
        layout = rng.choice(BAND_LAYOUTS)
        ids: list[str] = []
        entries = []
        for band in layout:
            if band is None:
                level_id, name = "NATIONAL_EYES", "NATIONAL EYES ONLY"
            elif BAND_IDS[band] in ids:
                level_id, name = BAND_IDS[band] + "_SPECIAL", BAND_NAMES[band] + " SPECIAL"
            else:
                level_id, name = BAND_IDS[band], BAND_NAMES[band]
            ids.append(level_id)
            entries.append({"id": level_id, "name": f"{nation} {name}"})
        policies[nation] = {"name": f"Republic of {nation}", "levels": entries}
        bands[nation] = list(layout)
        levels[nation] = ids

    # Nations with more agreements (hubs) and the rest.
    weights = [1.0 / (1 + i % 17) for i in range(len(NATIONS))]
    parties_of: list[list[str]] = []
    pairs_seen: set[frozenset[str]] = set()
    multilateral = agreements // 6
    while len(parties_of) < agreements - multilateral:
        a, b = rng.choices(NATIONS, weights=weights, k=2)
        pair = frozenset((a, b))
        if a == b or (pair in pairs_seen and rng.random() < 0.8):
            continue  # a few pairs get a second (usually sectoral) agreement
        pairs_seen.add(pair)
        parties_of.append(sorted(pair))
    while len(parties_of) < agreements:
        size = rng.choice([3, 3, 4, 5])
        chosen: set[str] = set()
        while len(chosen) < size:
            chosen.add(rng.choices(NATIONS, weights=weights)[0])
        parties_of.append(sorted(chosen))

    docs: list[dict[str, Any]] = []
    ids_seen: set[str] = set()
    partners: dict[str, set[str]] = {n: set() for n in NATIONS}
    for parties in parties_of:
        base = "-".join(parties)
        agreement_id = base
        n = 2
        while agreement_id in ids_seen:
            agreement_id = f"{base}-{n}"
            n += 1
        ids_seen.add(agreement_id)
        second = agreement_id != base
        if second or rng.random() < 0.4:
            scope = sorted(rng.sample(AREAS, rng.randint(1, 3)))
        else:
            scope = ["*"]
        rows = []
        for band in range(4):
            if rng.random() < 0.12:
                continue  # this agreement exchanges nothing at that band
            row: dict[str, Any] = {}
            for party in parties:
                at_band = [
                    lv for lv, b in zip(levels[party], bands[party], strict=True) if b == band
                ]
                if at_band:
                    row[party] = at_band[0] if len(at_band) == 1 else at_band
            if len(row) >= 2:
                rows.append(row)
        doc: dict[str, Any] = {
            "id": agreement_id,
            "title": f"Agreement between {', '.join(parties)} on the security of information",
            "parties": parties,
            "scope": scope,
            "events": _events(rng),
            "equivalence": rows,
        }
        if rng.random() < 0.3:
            doc["articles"] = {"THIRD_PARTY": "Art. 6", "SURVIVAL": "Art. 14(3)"}
        docs.append(doc)
        for p in parties:
            partners[p].update(q for q in parties if q != p)

    document = {"policies": policies, "groups": GROUPS, "agreements": docs}
    return World(
        document=document,
        partners={n: sorted(ps) for n, ps in partners.items()},
        levels=levels,
    )


def make_labels(world: World, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` label dicts (docs/decision.md §2), some with their own custodian and consent."""
    rng = random.Random(seed)
    nations = NATIONS
    origin_weights = [1.0 / (1 + (i * 7) % 13) for i in range(len(nations))]
    originators = rng.choices(nations, weights=origin_weights, k=n)
    groups = list(GROUPS)
    area_choices = [*AREAS, *AREAS, *EXTRA_AREAS]
    labels: list[dict[str, Any]] = []
    random_ = rng.random
    for originator in originators:
        own = world.levels[originator]
        partners = world.partners[originator] or nations
        classification = own[min(int(random_() ** 1.6 * len(own)), len(own) - 1)]
        r = random_()
        if r < 0.2:
            releasable: list[str] = []
        elif r < 0.45:
            releasable = [rng.choice(groups)]
        elif r < 0.85:
            releasable = rng.sample(partners, min(len(partners), rng.randint(1, 4)))
        else:
            releasable = [rng.choice(groups), *rng.sample(nations, 2)]
        r = random_()
        need = [] if r < 0.6 else rng.sample(TOPICS, 1 if r < 0.9 else 2)
        label: dict[str, Any] = {
            "originator": originator,
            "classification": classification,
            "area": rng.choice(area_choices) if random_() > 0.03 else None,
            "releasable_to": releasable,
            "need_to_know": need,
        }
        if random_() < 0.15:
            # a copy held elsewhere: mostly by a partner it was released to
            holder = rng.choice(releasable or partners) if random_() < 0.8 else rng.choice(nations)
            if holder in GROUPS:
                holder = rng.choice(GROUPS[holder])
            label["custodian"] = holder
            if random_() < 0.4:
                label["consented_to"] = rng.sample(partners, min(len(partners), 2))
        labels.append(label)
    return labels


def make_subjects(world: World, seed: int, count: int = 16) -> list[dict[str, Any]]:
    """Subjects of various nations, clearances (some uncleared or expired) and topics."""
    rng = random.Random(seed)
    hubs = sorted(NATIONS, key=lambda n: -len(world.partners[n]))
    nations = [*hubs[:6], *rng.sample(NATIONS, count)][:count]
    subjects: list[dict[str, Any]] = []
    for i, nation in enumerate(nations):
        own = world.levels[nation]
        subject: dict[str, Any] = {"id": f"s{i:02d}-{nation.lower()}", "nation": nation}
        kind = i % 8
        if kind == 3:
            subject["clearance"] = None  # uncleared
        elif kind == 5:
            subject["clearance"] = own[-1]
            subject["clearance_expires"] = (DAY - dt.timedelta(days=10)).isoformat()
        else:
            subject["clearance"] = own[min(len(own) - 1, rng.randrange(len(own)) + (kind % 2))]
            if kind == 1:
                subject["clearance_expires"] = (DAY + dt.timedelta(days=365)).isoformat()
        k = [0, 3, 6, 10][i % 4]
        subject["need_to_know"] = sorted(rng.sample(TOPICS, k))
        subjects.append(subject)
    return subjects
