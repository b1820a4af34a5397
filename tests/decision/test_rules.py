"""The release rules of docs/decision.md §3, one by one, on a small purpose-built catalogue.

Every rule and reason code is tried on both branches; then the order of the rules, survival,
groups, clearance expiry, multi-party agreements and the choice of the governing agreement,
dates, explanations, and the batch API (which must equal the single one element by element).
A few tests run on the bundled catalogue.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import gsoia
from gsoia.catalogue.load import catalogue_from_document
from gsoia.decision import Decision, Reason, Rulebook

TODAY = dt.date(2026, 1, 1)
"""The test rulebooks' clock: a request without ``at`` is decided on this day."""

DAY = "2026-01-01"

# -- the purpose-built catalogue ---------------------------------------------------------

POLICIES: dict[str, Any] = {
    "JPN": {
        "name": "Japan",
        "levels": [
            {"id": "HI", "name": "秘", "latin": "Hi"},
            {"id": "GOKUHI", "name": "極秘", "latin": "Gokuhi"},
            {"id": "TOKUTEI", "name": "特定秘密"},
            {"id": "KIMITSU", "name": "機密", "latin": "Kimitsu"},
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
    "GBR": {
        "name": "United Kingdom",
        "levels": [{"id": "S", "name": "SECRET"}, {"id": "TS", "name": "TOP SECRET"}],
    },
    "AUS": {
        "name": "Australia",
        "levels": [
            {"id": "P", "name": "PROTECTED"},
            {"id": "S", "name": "SECRET"},
            {"id": "TS", "name": "TOP SECRET"},
        ],
    },
    "NZL": {
        "name": "New Zealand",
        "levels": [
            {"id": "R", "name": "RESTRICTED"},
            {"id": "C", "name": "CONFIDENTIAL"},
            {"id": "S", "name": "SECRET"},
            {"id": "TS", "name": "TOP SECRET"},
        ],
    },
    "KOR": {
        "name": "Republic of Korea",
        "levels": [
            {"id": "III", "name": "군사III급비밀"},
            {"id": "II", "name": "군사II급비밀"},
            {"id": "I", "name": "군사I급비밀"},
        ],
    },
    "FRA": {
        "name": "France",
        "levels": [{"id": "S", "name": "SECRET"}, {"id": "TS", "name": "TRÈS SECRET"}],
    },
    "DEU": {
        "name": "Germany",
        "levels": [
            {"id": "VSV", "name": "VS-VERTRAULICH"},
            {"id": "GEHEIM", "name": "GEHEIM"},
            {"id": "STRGEHEIM", "name": "STRENG GEHEIM"},
        ],
    },
    "ITA": {
        "name": "Italy",
        "levels": [
            {"id": "R", "name": "RISERVATO"},
            {"id": "RR", "name": "RISERVATISSIMO"},
            {"id": "S", "name": "SEGRETO"},
            {"id": "SS", "name": "SEGRETISSIMO"},
        ],
    },
    "IND": {
        "name": "India",
        "levels": [
            {"id": "C", "name": "CONFIDENTIAL"},
            {"id": "S", "name": "SECRET"},
            {"id": "TS", "name": "TOP SECRET"},
        ],
    },
}

FULL_ROWS = [  # JPN and a three-level partner (C < S < TS)
    {"JPN": "KIMITSU", "X": "TS"},
    {"JPN": ["GOKUHI", "TOKUTEI"], "X": "S"},
    {"JPN": "HI", "X": "C"},
]


def _rows(partner: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{(partner if k == "X" else k): v for k, v in row.items()} for row in rows]


def _agreement(
    partner: str,
    events: list[tuple[str, str]],
    rows: list[dict[str, Any]] | None = None,
    *,
    scope: list[str] | None = None,
    articles: dict[str, str] | None = None,
    ident: str | None = None,
) -> dict[str, Any]:
    return {
        "id": ident or f"JPN-{partner}",
        "title": f"Agreement between Japan and {partner} on the Security of Information",
        "parties": ["JPN", partner],
        "scope": scope or ["*"],
        "events": [{"status": s, "date": d} for s, d in events],
        "equivalence": _rows(partner, FULL_ROWS if rows is None else rows),
        "articles": articles or {},
    }


def document() -> dict[str, Any]:
    """The test catalogue (a fresh copy each time, so a test may change it)."""
    return {
        "policies": copy.deepcopy(POLICIES),
        "groups": {"FVEY": ["AUS", "CAN", "GBR", "NZL", "USA"]},
        "agreements": [
            # in force since 2020, every level mapped, articles recorded
            _agreement(
                "CAN",
                [("signed", "2019-06-01"), ("in_force", "2020-01-01")],
                articles={
                    "THIRD_PARTY": "Art. 6(c)",
                    "CLEARANCE": "Art. 7",
                    "NEED_TO_KNOW": "Art. 8",
                    "MARKING": "Art. 4",
                },
            ),
            _agreement(
                "USA",
                [("in_force", "2007-08-10")],
                articles={"THIRD_PARTY": "Art. 6(c)"},
            ),
            # defence only; HI has no UK equivalent
            _agreement(
                "GBR",
                [("signed", "2013-07-01"), ("in_force", "2014-01-01")],
                [{"JPN": "KIMITSU", "GBR": "TS"}, {"JPN": ["GOKUHI", "TOKUTEI"], "GBR": "S"}],
                scope=["defence"],
                articles={"OUT_OF_SCOPE": "Art. 1"},
            ),
            # KIMITSU and Korean I are not exchanged
            _agreement(
                "KOR",
                [("in_force", "2016-11-23")],
                [{"JPN": ["GOKUHI", "TOKUTEI"], "KOR": "II"}, {"JPN": "HI", "KOR": "III"}],
                articles={"NO_EQUIVALENT": "Art. 4", "CLEARANCE": "Art. 7"},
            ),
            # a whole life: negotiating, signed, in force, suspended, resumed, terminated
            _agreement(
                "AUS",
                [
                    ("negotiating", "2022-01-01"),
                    ("signed", "2025-06-01"),
                    ("in_force", "2026-03-01"),
                    ("suspended", "2027-01-01"),
                    ("in_force", "2027-06-01"),
                    ("terminated", "2028-01-01"),
                ],
                [{"JPN": "KIMITSU", "AUS": "TS"}, {"JPN": ["GOKUHI", "TOKUTEI", "HI"], "AUS": "S"}],
            ),
            # signed, never in force
            _agreement(
                "FRA",
                [("signed", "2011-10-24")],
                [{"JPN": "KIMITSU", "FRA": "TS"}, {"JPN": ["GOKUHI", "TOKUTEI", "HI"], "FRA": "S"}],
            ),
            # in force, then suspended: survival
            _agreement(
                "DEU",
                [("in_force", "2015-01-01"), ("suspended", "2024-06-01")],
                [
                    {"JPN": "KIMITSU", "DEU": "STRGEHEIM"},
                    {"JPN": ["GOKUHI", "TOKUTEI"], "DEU": "GEHEIM"},
                    {"JPN": "HI", "DEU": "VSV"},
                ],
                articles={"SURVIVAL": "Art. 21"},
            ),
            # in force, then terminated: survival
            _agreement(
                "ITA",
                [
                    ("signed", "2016-03-19"),
                    ("in_force", "2016-06-07"),
                    ("terminated", "2025-03-01"),
                ],
                [
                    {"JPN": "KIMITSU", "ITA": "SS"},
                    {"JPN": ["GOKUHI", "TOKUTEI"], "ITA": "S"},
                    {"JPN": "HI", "ITA": "RR"},
                ],
            ),
            # signed, then terminated without ever being in force: no survival
            _agreement("IND", [("signed", "2020-01-01"), ("terminated", "2023-01-01")]),
            # NZL: no agreement with Japan at all
        ],
    }


def rulebook_of(doc: dict[str, Any], today: dt.date = TODAY) -> Rulebook:
    return Rulebook(catalogue_from_document(doc), today=lambda: today)


@pytest.fixture(scope="module")
def book() -> Rulebook:
    return rulebook_of(document())


# -- requests ------------------------------------------------------------------------------


def subject(
    nation: str,
    clearance: str | None = None,
    need: list[str] | None = None,
    expires: str | None = None,
    ident: str = "",
) -> dict[str, Any]:
    s: dict[str, Any] = {"nation": nation, "need_to_know": need or []}
    if ident:
        s["id"] = ident
    if clearance is not None:
        s["clearance"] = clearance
    if expires is not None:
        s["clearance_expires"] = expires
    return s


def label(
    classification: str,
    releasable_to: list[str] | None = None,
    *,
    originator: str = "JPN",
    area: str | None = None,
    need: list[str] | None = None,
) -> dict[str, Any]:
    lab: dict[str, Any] = {"originator": originator, "classification": classification}
    if releasable_to is not None:
        lab["releasable_to"] = releasable_to
    if area is not None:
        lab["area"] = area
    if need is not None:
        lab["need_to_know"] = need
    return lab


@dataclass(frozen=True)
class Case:
    """A hand-built request and what docs/decision.md §3 says of it."""

    name: str
    subject: dict[str, Any]
    label: dict[str, Any]
    reason: Reason
    rule: int
    agreement: str | None
    custodian: str | None = None
    consented_to: list[str] = field(default_factory=list)
    at: str | None = DAY

    @property
    def allow(self) -> bool:
        return self.reason is Reason.ALLOW

    def request(self) -> dict[str, Any]:
        r: dict[str, Any] = {"subject": self.subject, "label": self.label}
        if self.custodian is not None:
            r["custodian"] = self.custodian
        if self.consented_to:
            r["consented_to"] = self.consented_to
        if self.at is not None:
            r["at"] = self.at
        return r

    def held_label(self) -> dict[str, Any]:
        """The label with its own custody, as ``label_table`` takes it."""
        held = dict(self.label)
        if self.custodian is not None:
            held["custodian"] = self.custodian
        if self.consented_to:
            held["consented_to"] = self.consented_to
        return held


A, CL, NK = Reason.ALLOW, Reason.CLEARANCE, Reason.NEED_TO_KNOW
NR, TP, NA = Reason.NOT_RELEASABLE, Reason.THIRD_PARTY, Reason.NO_AGREEMENT
OS, NE = Reason.OUT_OF_SCOPE, Reason.NO_EQUIVALENT

CAN_S = subject("CAN", "S", ["maritime"], ident="can-0042")

CASES = [
    # ---- same nation
    Case("same/1-clearance-below", subject("JPN", "HI"), label("GOKUHI"), CL, 1, None),
    Case("same/1-uncleared", subject("JPN"), label("HI"), CL, 1, None),
    Case("same/1-equal-passes", subject("JPN", "GOKUHI"), label("GOKUHI"), A, 3, None),
    Case(
        "same/2-need-to-know",
        subject("JPN", "KIMITSU", ["space"]),
        label("GOKUHI", need=["maritime"]),
        NK,
        2,
        None,
    ),
    Case(
        "same/2-need-to-know-held",
        subject("JPN", "KIMITSU", ["space", "maritime"]),
        label("GOKUHI", need=["maritime"]),
        A,
        3,
        None,
    ),
    Case("same/3-allow-noforn", subject("JPN", "KIMITSU"), label("HI", []), A, 3, None),
    Case(
        "same/3-other-custodian-no-third-party-rule",
        subject("JPN", "GOKUHI"),
        label("GOKUHI", ["USA"]),
        A,
        3,
        None,
        custodian="USA",
    ),
    Case(
        "same/order-clearance-before-need",
        subject("JPN"),
        label("HI", [], need=["maritime"]),
        CL,
        1,
        None,
    ),
    # ---- foreign rule 1: NOT_RELEASABLE
    Case("f1/noforn-empty", CAN_S, label("GOKUHI", []), NR, 1, None),
    Case("f1/noforn-absent", CAN_S, label("GOKUHI"), NR, 1, None),
    Case("f1/other-nation", CAN_S, label("GOKUHI", ["USA", "GBR"]), NR, 1, None),
    Case("f1/group-excludes", subject("KOR", "I"), label("GOKUHI", ["FVEY"]), NR, 1, None),
    Case("f1/via-group", CAN_S, label("GOKUHI", ["FVEY"]), A, 8, "JPN-CAN"),
    Case("f1/direct", CAN_S, label("GOKUHI", ["CAN"]), A, 8, "JPN-CAN"),
    # ---- foreign rule 2: THIRD_PARTY
    Case("f2/third-party", CAN_S, label("GOKUHI", ["CAN", "USA"]), TP, 2, None, "USA"),
    Case(
        "f2/consent",
        CAN_S,
        label("GOKUHI", ["CAN", "USA"]),
        A,
        8,
        "JPN-CAN",
        "USA",
        ["CAN"],
    ),
    Case(
        "f2/consent-via-group",
        CAN_S,
        label("GOKUHI", ["FVEY"]),
        A,
        8,
        "JPN-CAN",
        "USA",
        ["FVEY"],
    ),
    Case(
        "f2/consent-to-another",
        CAN_S,
        label("GOKUHI", ["FVEY"]),
        TP,
        2,
        None,
        "USA",
        ["GBR", "KOR"],
    ),
    Case("f2/custodian-is-subject", CAN_S, label("GOKUHI", ["CAN"]), A, 8, "JPN-CAN", "CAN"),
    Case("f2/custodian-is-originator", CAN_S, label("GOKUHI", ["CAN"]), A, 8, "JPN-CAN", "JPN"),
    # ---- foreign rule 3: NO_AGREEMENT
    Case("f3/none", subject("NZL", "TS"), label("HI", ["NZL"]), NA, 3, None),
    Case(
        "f3/no-status-yet", subject("AUS", "TS"), label("HI", ["AUS"]), NA, 3, None, at="2021-12-31"
    ),
    Case(
        "f3/negotiating", subject("AUS", "TS"), label("HI", ["AUS"]), NA, 3, None, at="2023-01-01"
    ),
    Case("f3/signed", subject("AUS", "TS"), label("HI", ["AUS"]), NA, 3, None, at="2025-07-01"),
    Case("f3/signed-only", subject("FRA", "TS"), label("HI", ["FRA"]), NA, 3, None),
    Case("f3/suspended", subject("DEU", "STRGEHEIM"), label("HI", ["DEU"]), NA, 3, None),
    Case(
        "f3/suspended-custodian-originator",
        subject("DEU", "STRGEHEIM"),
        label("HI", ["DEU"]),
        NA,
        3,
        None,
        "JPN",
    ),
    Case(
        "f3/terminated",
        subject("ITA", "SS"),
        label("HI", ["ITA"]),
        NA,
        3,
        None,
        "JPN",
    ),
    Case(
        "f3/terminated-never-in-force-no-survival",
        subject("IND", "TS"),
        label("HI", ["IND"]),
        NA,
        3,
        None,
        "IND",
    ),
    Case(
        "f3/in-force",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        A,
        8,
        "JPN-AUS",
        at="2026-03-01",
    ),
    Case(
        "f3/day-before-in-force",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        NA,
        3,
        None,
        at="2026-02-28",
    ),
    Case(
        "f3/suspended-on-the-day",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        NA,
        3,
        None,
        at="2027-01-01",
    ),
    Case(
        "f3/day-before-suspension",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        A,
        8,
        "JPN-AUS",
        at="2026-12-31",
    ),
    Case(
        "f3/resumed",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        A,
        8,
        "JPN-AUS",
        at="2027-06-01",
    ),
    # ---- survival
    Case(
        "survival/suspended-held-by-subject",
        subject("DEU", "GEHEIM"),
        label("GOKUHI", ["DEU"]),
        A,
        8,
        "JPN-DEU",
        "DEU",
    ),
    Case(
        "survival/terminated-held-by-subject",
        subject("ITA", "S"),
        label("TOKUTEI", ["ITA"]),
        A,
        8,
        "JPN-ITA",
        "ITA",
    ),
    Case(
        "survival/suspended-period-held-by-subject",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        A,
        8,
        "JPN-AUS",
        "AUS",
        at="2027-02-01",
    ),
    Case(
        "survival/suspended-period-held-by-originator",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        NA,
        3,
        None,
        "JPN",
        at="2027-02-01",
    ),
    Case(
        "survival/terminated-held-by-subject-2028",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        A,
        8,
        "JPN-AUS",
        "AUS",
        at="2028-02-01",
    ),
    Case(
        "survival/not-before-in-force",
        subject("DEU", "GEHEIM"),
        label("GOKUHI", ["DEU"]),
        NA,
        3,
        None,
        "DEU",
        at="2014-06-01",
    ),
    Case(
        "survival/not-while-only-signed",
        subject("AUS", "S"),
        label("HI", ["AUS"]),
        NA,
        3,
        None,
        "AUS",
        at="2025-07-01",
    ),
    Case(
        "survival/then-clearance",
        subject("DEU", "VSV"),
        label("GOKUHI", ["DEU"]),
        CL,
        6,
        "JPN-DEU",
        "DEU",
    ),
    Case(
        "survival/third-party-custodian-no-survival",
        subject("DEU", "GEHEIM"),
        label("GOKUHI", ["DEU", "USA"]),
        NA,
        3,
        None,
        "USA",
        ["DEU"],
    ),
    # ---- foreign rule 4: OUT_OF_SCOPE
    Case(
        "f4/other-area",
        subject("GBR", "TS"),
        label("GOKUHI", ["GBR"], area="trade"),
        OS,
        4,
        "JPN-GBR",
    ),
    Case("f4/no-area", subject("GBR", "TS"), label("GOKUHI", ["GBR"]), OS, 4, "JPN-GBR"),
    Case(
        "f4/in-scope",
        subject("GBR", "S"),
        label("GOKUHI", ["GBR"], area="defence"),
        A,
        8,
        "JPN-GBR",
    ),
    # ---- foreign rule 5: NO_EQUIVALENT
    Case("f5/kimitsu-to-kor", subject("KOR", "I"), label("KIMITSU", ["KOR"]), NE, 5, "JPN-KOR"),
    Case(
        "f5/hi-to-gbr",
        subject("GBR", "TS"),
        label("HI", ["GBR"], area="defence"),
        NE,
        5,
        "JPN-GBR",
    ),
    Case(
        "f5/kor-i-to-jpn",
        subject("JPN", "KIMITSU"),
        label("I", ["JPN"], originator="KOR"),
        NE,
        5,
        "JPN-KOR",
    ),
    Case("f5/gokuhi-to-kor", subject("KOR", "II"), label("GOKUHI", ["KOR"]), A, 8, "JPN-KOR"),
    Case("f5/tokutei-to-kor", subject("KOR", "II"), label("TOKUTEI", ["KOR"]), A, 8, "JPN-KOR"),
    Case(
        "f5/into-first-listed",
        subject("JPN", "GOKUHI"),
        label("II", ["JPN"], originator="KOR"),
        A,
        8,
        "JPN-KOR",
    ),
    # ---- foreign rule 6: CLEARANCE against the equivalent level
    Case(
        "f6/below-equivalent",
        subject("CAN", "C", ["maritime"]),
        label("GOKUHI", ["CAN"]),
        CL,
        6,
        "JPN-CAN",
    ),
    Case(
        "f6/uncleared", subject("CAN", None, ["maritime"]), label("HI", ["CAN"]), CL, 6, "JPN-CAN"
    ),
    Case("f6/equal", CAN_S, label("TOKUTEI", ["CAN"]), A, 8, "JPN-CAN"),
    Case("f6/above", subject("CAN", "TS"), label("HI", ["CAN"]), A, 8, "JPN-CAN"),
    Case(
        "f6/into-first-listed-too-low",
        subject("JPN", "HI"),
        label("II", ["JPN"], originator="KOR"),
        CL,
        6,
        "JPN-KOR",
    ),
    # ---- foreign rule 7: NEED_TO_KNOW
    Case(
        "f7/missing",
        subject("CAN", "S"),
        label("GOKUHI", ["CAN"], need=["maritime"]),
        NK,
        7,
        "JPN-CAN",
    ),
    Case(
        "f7/one-of-two-missing",
        CAN_S,
        label("GOKUHI", ["CAN"], need=["maritime", "space"]),
        NK,
        7,
        "JPN-CAN",
    ),
    Case(
        "f7/all-held",
        subject("CAN", "S", ["cyber", "space", "maritime"]),
        label("GOKUHI", ["CAN"], need=["maritime", "space"]),
        A,
        8,
        "JPN-CAN",
    ),
    # ---- rule order: the first rule that fails is the reason
    Case("order/releasable-before-agreement", subject("NZL", "TS"), label("HI", []), NR, 1, None),
    Case(
        "order/releasable-before-third-party",
        CAN_S,
        label("GOKUHI", ["USA"]),
        NR,
        1,
        None,
        "USA",
    ),
    Case(
        "order/third-party-before-agreement",
        subject("NZL", "TS"),
        label("HI", ["NZL"]),
        TP,
        2,
        None,
        "USA",
    ),
    Case(
        "order/agreement-before-clearance",
        subject("NZL"),
        label("HI", ["NZL"], need=["maritime"]),
        NA,
        3,
        None,
    ),
    Case(
        "order/scope-before-equivalent",
        subject("GBR"),
        label("HI", ["GBR"], area="trade"),
        OS,
        4,
        "JPN-GBR",
    ),
    Case(
        "order/equivalent-before-clearance",
        subject("KOR"),
        label("KIMITSU", ["KOR"]),
        NE,
        5,
        "JPN-KOR",
    ),
    Case(
        "order/clearance-before-need",
        subject("CAN", "C"),
        label("GOKUHI", ["CAN"], need=["maritime"]),
        CL,
        6,
        "JPN-CAN",
    ),
    # ---- clearance expiry
    Case(
        "expiry/same-day-still-cleared",
        subject("CAN", "S", expires="2026-02-28"),
        label("GOKUHI", ["CAN"]),
        A,
        8,
        "JPN-CAN",
        at="2026-02-28",
    ),
    Case(
        "expiry/day-after-uncleared",
        subject("CAN", "S", expires="2026-02-28"),
        label("GOKUHI", ["CAN"]),
        CL,
        6,
        "JPN-CAN",
        at="2026-03-01",
    ),
    Case(
        "expiry/same-nation-day-after",
        subject("JPN", "KIMITSU", expires="2025-12-31"),
        label("HI"),
        CL,
        1,
        None,
    ),
    Case(
        "expiry/same-nation-same-day",
        subject("JPN", "KIMITSU", expires="2026-01-01"),
        label("HI"),
        A,
        3,
        None,
    ),
    # ---- the spec's example (docs/decision.md §2)
    Case(
        "allow/spec-example",
        {
            "id": "can-0042",
            "nation": "CAN",
            "clearance": "S",
            "clearance_expires": "2027-06-30",
            "need_to_know": ["maritime"],
        },
        {
            "originator": "JPN",
            "classification": "GOKUHI",
            "area": "defence",
            "releasable_to": ["CAN", "FVEY"],
            "need_to_know": ["maritime"],
        },
        A,
        8,
        "JPN-CAN",
        "JPN",
        at="2026-03-01",
    ),
    # ---- no `at`: the rulebook's clock (2026-01-01)
    Case("clock/in-force-today", CAN_S, label("GOKUHI", ["CAN"]), A, 8, "JPN-CAN", at=None),
    Case(
        "clock/only-signed-today", subject("AUS", "S"), label("HI", ["AUS"]), NA, 3, None, at=None
    ),
    Case(
        "clock/expired-before-today",
        subject("CAN", "S", expires="2025-12-31"),
        label("GOKUHI", ["CAN"]),
        CL,
        6,
        "JPN-CAN",
        at=None,
    ),
]

DENIALS = [c for c in CASES if not c.allow]


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


# -- each rule, both branches --------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case(book: Rulebook, case: Case) -> None:
    d = book.decide(case.request())
    assert (d.allow, d.reason, d.rule, d.agreement) == (
        case.allow,
        case.reason,
        case.rule,
        case.agreement,
    ), d.explanation
    as_dict = d.to_dict()
    assert as_dict["allow"] is case.allow
    assert as_dict["reason"] == case.reason.value
    assert as_dict["rule"] == case.rule
    assert "agreement" in as_dict
    assert as_dict["agreement"] == case.agreement
    if case.allow:
        assert d.marking is not None
        assert "marking" in as_dict
    else:
        assert d.marking is None
        assert "marking" not in as_dict


@pytest.mark.parametrize("case", DENIALS, ids=_ids(DENIALS))
def test_denial_explanation_cites_the_rule(book: Rulebook, case: Case) -> None:
    d = book.decide(case.request())
    assert d.explanation.strip()
    assert d.explanation.startswith(f"Rule {case.rule} ({case.reason.value})"), d.explanation


def test_same_nation_allow_marks_with_the_originators_own_level(book: Rulebook) -> None:
    d = book.decide({"subject": subject("JPN", "KIMITSU"), "label": label("GOKUHI"), "at": DAY})
    assert (d.allow, d.reason, d.rule, d.agreement) == (True, Reason.ALLOW, 3, None)
    assert d.marking is not None
    assert d.marking.text == "JPN 極秘"
    marking = d.to_dict()["marking"]
    assert marking["original"] == {"policy": "JPN", "id": "GOKUHI", "name": "極秘"}
    assert marking["level"] == {"policy": "JPN", "id": "GOKUHI", "name": "極秘"}
    assert marking["text"] == "JPN 極秘"


def test_foreign_allow_has_the_exact_dual_marking_of_the_spec(book: Rulebook) -> None:
    example = next(c for c in CASES if c.name == "allow/spec-example")
    d = book.decide(example.request())
    as_dict = d.to_dict()
    assert {k: as_dict[k] for k in ("allow", "reason", "rule", "agreement", "marking")} == {
        "allow": True,
        "reason": "ALLOW",
        "rule": 8,
        "agreement": "JPN-CAN",
        "marking": {
            "level": {"policy": "CAN", "id": "S", "name": "SECRET"},
            "original": {"policy": "JPN", "id": "GOKUHI", "name": "極秘"},
            "text": "CAN SECRET // JPN 極秘 // JPN-CAN",
        },
    }
    assert d.marking is not None
    assert d.marking.text == "CAN SECRET // JPN 極秘 // JPN-CAN"
    assert d.marking.agreement == "JPN-CAN"
    json.dumps(as_dict)  # the decision is plain data


def test_mapping_into_a_party_takes_its_first_listed_level(book: Rulebook) -> None:
    request = {
        "subject": subject("JPN", "KIMITSU"),
        "label": label("II", ["JPN"], originator="KOR"),
        "at": DAY,
    }
    d = book.decide(request)
    assert d.marking is not None
    assert d.marking.level.id == "GOKUHI"
    assert d.marking.text == "JPN 極秘 // KOR 군사II급비밀 // JPN-KOR"


def test_several_levels_sharing_a_row_map_to_one(book: Rulebook) -> None:
    for level in ("GOKUHI", "TOKUTEI"):
        d = book.decide(
            {"subject": subject("KOR", "II"), "label": label(level, ["KOR"]), "at": DAY}
        )
        assert d.marking is not None
        assert (d.marking.level.policy, d.marking.level.id) == ("KOR", "II")
        assert (d.marking.original.policy, d.marking.original.id) == ("JPN", level)


# -- explanations and articles ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cited"),
    [
        ("f6/below-equivalent", "(JPN-CAN Art. 7)"),
        ("f7/missing", "(JPN-CAN Art. 8)"),
        ("f4/other-area", "(JPN-GBR Art. 1)"),
        ("f5/kimitsu-to-kor", "(JPN-KOR Art. 4)"),
        ("f5/kor-i-to-jpn", "(JPN-KOR Art. 4)"),
        ("f6/into-first-listed-too-low", "(JPN-KOR Art. 7)"),
    ],
)
def test_denial_cites_the_recorded_article(book: Rulebook, name: str, cited: str) -> None:
    case = next(c for c in CASES if c.name == name)
    d = book.decide(case.request())
    assert cited in d.explanation, d.explanation


def test_third_party_denial_cites_the_recorded_article(book: Rulebook) -> None:
    # Both JPN-CAN and JPN-USA record the third-party rule as Art. 6(c): whichever agreement
    # the explanation refers to, the catalogue records an article for this reason.
    case = next(c for c in CASES if c.name == "f2/third-party")
    d = book.decide(case.request())
    assert d.reason is Reason.THIRD_PARTY
    assert "Art. 6(c)" in d.explanation, d.explanation


def test_no_article_is_invented_where_none_is_recorded(book: Rulebook) -> None:
    # JPN-GBR records only OUT_OF_SCOPE; its NO_EQUIVALENT denial cites no article.
    case = next(c for c in CASES if c.name == "f5/hi-to-gbr")
    d = book.decide(case.request())
    assert "Art." not in d.explanation, d.explanation


def test_survival_allow_explains_survival_and_cites_its_article(book: Rulebook) -> None:
    case = next(c for c in CASES if c.name == "survival/suspended-held-by-subject")
    d = book.decide(case.request())
    assert d.allow
    assert d.explanation.startswith("Rule 8 (ALLOW)")
    assert "surviv" in d.explanation.lower(), d.explanation
    assert "Art. 21" in d.explanation, d.explanation
    case = next(c for c in CASES if c.name == "survival/terminated-held-by-subject")
    d = book.decide(case.request())
    assert "surviv" in d.explanation.lower(), d.explanation


def test_allow_in_force_does_not_claim_survival(book: Rulebook) -> None:
    d = book.decide(next(c for c in CASES if c.name == "allow/spec-example").request())
    assert "surviv" not in d.explanation.lower()


# -- survival corner: in force and terminated on the same day -----------------------------


def test_no_survival_for_an_agreement_never_in_force_on_any_day() -> None:
    # Status on D is that of the latest event dated <= D: with in_force and terminated on
    # the same day, the agreement was never in force on any date, so nothing survives.
    doc = document()
    doc["agreements"].append(
        _agreement("NZL", [("in_force", "2024-01-01"), ("terminated", "2024-01-01")])
    )
    rb = rulebook_of(doc)
    request = {
        "subject": subject("NZL", "TS"),
        "label": label("HI", ["NZL"]),
        "custodian": "NZL",
        "at": "2025-01-01",
    }
    d = rb.decide(request)
    assert (d.allow, d.reason, d.rule, d.agreement) == (False, Reason.NO_AGREEMENT, 3, None)
    table = rb.label_table([{**request["label"], "custodian": "NZL"}])
    assert rb.decide_many(request["subject"], table, at=dt.date(2025, 1, 1)).tolist() == [False]


# -- multi-party agreements and the governing agreement ------------------------------------


def multi_document() -> dict[str, Any]:
    """JPN, USA, KOR, CAN: a three-party agreement beside bilateral ones."""
    in_force = [{"status": "in_force", "date": "2020-01-01"}]
    return {
        "policies": {p: copy.deepcopy(POLICIES[p]) for p in ("JPN", "USA", "KOR", "CAN", "GBR")},
        "agreements": [
            {
                # id sorts before JPN-USA: only the number of parties makes JPN-USA govern
                "id": "ALLIANCE",
                "title": "Trilateral information security arrangement",
                "parties": ["JPN", "KOR", "USA"],
                "scope": ["*"],
                "events": in_force,
                "equivalence": [
                    {"JPN": "KIMITSU", "KOR": "I", "USA": "TS"},
                    {"JPN": ["GOKUHI", "TOKUTEI"], "KOR": "II", "USA": "S"},
                    {"JPN": "HI", "KOR": "III", "USA": "C"},
                ],
                "articles": {"CLEARANCE": "Art. 9"},
            },
            {
                "id": "JPN-USA",
                "title": "GSOMIA",
                "parties": ["JPN", "USA"],
                "events": in_force,
                "equivalence": _rows("USA", FULL_ROWS),
            },
            {
                # defence only, and no row for KIMITSU
                "id": "JPN-KOR",
                "title": "GSOMIA",
                "parties": ["JPN", "KOR"],
                "scope": ["defence"],
                "events": in_force,
                "equivalence": [
                    {"JPN": ["GOKUHI", "TOKUTEI"], "KOR": "II"},
                    {"JPN": "HI", "KOR": "III"},
                ],
            },
            # two bilateral agreements of the same size: the smallest id governs, whatever
            # the order in the catalogue
            {
                "id": "JPN-CAN-B",
                "title": "Second",
                "parties": ["JPN", "CAN"],
                "events": in_force,
                "equivalence": _rows("CAN", FULL_ROWS),
            },
            {
                "id": "JPN-CAN-A",
                "title": "First",
                "parties": ["JPN", "CAN"],
                "events": in_force,
                "equivalence": _rows("CAN", FULL_ROWS),
            },
            # a three-party agreement with GBR, defence only, with a bilateral that maps
            # nothing: an agreement without an equivalent never governs
            {
                "id": "A-JPN-GBR",
                "title": "Bilateral without a table",
                "parties": ["JPN", "GBR"],
                "events": in_force,
                "equivalence": [],
            },
            {
                "id": "TRI-GBR",
                "title": "Trilateral",
                "parties": ["JPN", "GBR", "USA"],
                "scope": ["defence"],
                "events": in_force,
                "equivalence": [
                    {"JPN": "KIMITSU", "GBR": "TS", "USA": "TS"},
                    {"JPN": ["GOKUHI", "TOKUTEI"], "GBR": "S", "USA": "S"},
                ],
            },
        ],
    }


@pytest.fixture(scope="module")
def multi() -> Rulebook:
    return rulebook_of(multi_document())


MULTI_CASES = [
    Case(
        "multi/fewest-parties-governs",
        subject("USA", "S"),
        label("GOKUHI", ["USA"]),
        A,
        8,
        "JPN-USA",
    ),
    Case(
        "multi/out-of-scope-falls-to-next",
        subject("KOR", "II"),
        label("GOKUHI", ["KOR"], area="space"),
        A,
        8,
        "ALLIANCE",
    ),
    Case(
        "multi/no-area-falls-to-next",
        subject("KOR", "II"),
        label("GOKUHI", ["KOR"]),
        A,
        8,
        "ALLIANCE",
    ),
    Case(
        "multi/in-scope-bilateral-governs",
        subject("KOR", "II"),
        label("GOKUHI", ["KOR"], area="defence"),
        A,
        8,
        "JPN-KOR",
    ),
    Case(
        "multi/no-equivalent-falls-to-next",
        subject("KOR", "I"),
        label("KIMITSU", ["KOR"], area="defence"),
        A,
        8,
        "ALLIANCE",
    ),
    Case(
        "multi/no-equivalent-falls-to-next-clearance",
        subject("KOR", "II"),
        label("KIMITSU", ["KOR"], area="defence"),
        CL,
        6,
        "ALLIANCE",
    ),
    Case("multi/smallest-id", subject("CAN", "S"), label("GOKUHI", ["CAN"]), A, 8, "JPN-CAN-A"),
    Case(
        "multi/three-party-table-between-partners",
        subject("USA", "S"),
        label("II", ["USA"], originator="KOR"),
        A,
        8,
        "ALLIANCE",
    ),
    Case(
        "multi/three-party-table-reverse",
        subject("KOR", "II"),
        label("TS", ["KOR"], originator="USA"),
        CL,
        6,
        "ALLIANCE",
    ),
    Case(
        "multi/three-party-table-reverse-allowed",
        subject("KOR", "I"),
        label("TS", ["KOR"], originator="USA"),
        A,
        8,
        "ALLIANCE",
    ),
    Case(
        "multi/tableless-bilateral-does-not-govern",
        subject("GBR", "S"),
        label("GOKUHI", ["GBR"], area="defence"),
        A,
        8,
        "TRI-GBR",
    ),
    Case(
        "multi/no-equivalent-names-an-agreement",
        subject("GBR", "TS"),
        label("HI", ["GBR"], area="defence"),
        NE,
        5,
        "A-JPN-GBR",
    ),
    Case(
        "multi/no-equivalent-anywhere",
        subject("GBR", "TS"),
        label("GOKUHI", ["GBR"], area="trade"),
        NE,
        5,
        "A-JPN-GBR",
    ),
    Case(
        "multi/no-agreement-between-partners",
        subject("CAN", "TS"),
        label("S", ["CAN"], originator="USA"),
        NA,
        3,
        None,
    ),
]


@pytest.mark.parametrize("case", MULTI_CASES, ids=_ids(MULTI_CASES))
def test_multi_party_case(multi: Rulebook, case: Case) -> None:
    d = multi.decide(case.request())
    assert (d.allow, d.reason, d.rule, d.agreement) == (
        case.allow,
        case.reason,
        case.rule,
        case.agreement,
    ), d.explanation
    if not case.allow:
        assert d.explanation.startswith(f"Rule {case.rule} ({case.reason.value})")


def test_multi_party_denial_cites_the_governing_agreements_article(multi: Rulebook) -> None:
    case = next(c for c in MULTI_CASES if c.name == "multi/no-equivalent-falls-to-next-clearance")
    d = multi.decide(case.request())
    assert "(ALLIANCE Art. 9)" in d.explanation, d.explanation


def test_three_party_marking_names_the_governing_agreement(multi: Rulebook) -> None:
    d = multi.decide(
        {
            "subject": subject("USA", "TS"),
            "label": label("II", ["USA"], originator="KOR"),
            "at": DAY,
        }
    )
    assert d.marking is not None
    assert d.marking.text == "USA SECRET // KOR 군사II급비밀 // ALLIANCE"


def test_smallest_id_governs_whatever_the_catalogue_order() -> None:
    doc = multi_document()
    doc["agreements"].reverse()
    rb = rulebook_of(doc)
    for case in MULTI_CASES:
        d = rb.decide(case.request())
        assert (d.reason, d.agreement) == (case.reason, case.agreement), case.name


def test_out_of_scope_names_the_agreement_found() -> None:
    doc = multi_document()
    doc["agreements"] = [a for a in doc["agreements"] if a["id"] != "A-JPN-GBR"]
    rb = rulebook_of(doc)
    d = rb.decide(
        {
            "subject": subject("GBR", "TS"),
            "label": label("GOKUHI", ["GBR"], area="trade"),
            "at": DAY,
        }
    )
    assert (d.reason, d.rule, d.agreement) == (Reason.OUT_OF_SCOPE, 4, "TRI-GBR")
    assert d.explanation.startswith("Rule 4 (OUT_OF_SCOPE)")


def test_a_governing_agreement_that_ends_gives_way_to_the_next() -> None:
    doc = multi_document()
    usa = next(a for a in doc["agreements"] if a["id"] == "JPN-USA")
    usa["events"] = [
        {"status": "in_force", "date": "2020-01-01"},
        {"status": "terminated", "date": "2025-06-01"},
    ]
    rb = rulebook_of(doc)
    base = {"subject": subject("USA", "S"), "label": label("GOKUHI", ["USA"])}
    assert rb.decide({**base, "at": "2025-05-31"}).agreement == "JPN-USA"
    assert rb.decide({**base, "at": "2025-06-01"}).agreement == "ALLIANCE"
    # held by the subject's nation, the terminated bilateral survives and, fewer parties,
    # still governs
    held = rb.decide({**base, "custodian": "USA", "at": "2025-06-01"})
    assert (held.allow, held.agreement) == (True, "JPN-USA")


# -- dates and the clock ------------------------------------------------------------------


def test_at_absent_uses_the_rulebooks_clock() -> None:
    doc = document()
    request = {"subject": subject("AUS", "S"), "label": label("HI", ["AUS"])}
    calls: list[int] = []

    def clock(day: dt.date) -> Callable[[], dt.date]:
        def today() -> dt.date:
            calls.append(1)
            return day

        return today

    before = Rulebook(catalogue_from_document(doc), today=clock(dt.date(2026, 2, 28)))
    on = Rulebook(catalogue_from_document(doc), today=clock(dt.date(2026, 3, 1)))
    assert before.decide(request).reason is Reason.NO_AGREEMENT
    assert on.decide(request).reason is Reason.ALLOW
    assert calls
    # an explicit `at` wins over the clock
    assert before.decide({**request, "at": "2026-03-01"}).reason is Reason.ALLOW
    assert on.decide({**request, "at": "2026-02-28"}).reason is Reason.NO_AGREEMENT
    # and so in the batch
    table = before.label_table([request["label"]])
    assert before.decide_many(request["subject"], table).tolist() == [False]
    table = on.label_table([request["label"]])
    assert on.decide_many(request["subject"], table).tolist() == [True]


def test_status_changes_exactly_on_the_event_date(book: Rulebook) -> None:
    request = {"subject": subject("AUS", "S"), "label": label("HI", ["AUS"])}
    expected = {
        "2021-12-31": Reason.NO_AGREEMENT,  # before the first event: no status
        "2022-01-01": Reason.NO_AGREEMENT,  # negotiating
        "2025-06-01": Reason.NO_AGREEMENT,  # signed
        "2026-02-28": Reason.NO_AGREEMENT,
        "2026-03-01": Reason.ALLOW,  # in force
        "2026-12-31": Reason.ALLOW,
        "2027-01-01": Reason.NO_AGREEMENT,  # suspended
        "2027-05-31": Reason.NO_AGREEMENT,
        "2027-06-01": Reason.ALLOW,  # in force again
        "2027-12-31": Reason.ALLOW,
        "2028-01-01": Reason.NO_AGREEMENT,  # terminated
    }
    got = {day: book.decide({**request, "at": day}).reason for day in expected}
    assert got == expected
    for day, reason in expected.items():
        table = book.label_table([request["label"]])
        many = book.decide_many(request["subject"], table, at=dt.date.fromisoformat(day))
        assert many.tolist() == [reason is Reason.ALLOW], day


def test_decisions_do_not_depend_on_the_order_of_dates_asked(book: Rulebook) -> None:
    # resolutions are cached per epoch: ask dates out of order, twice
    request = {"subject": subject("AUS", "S"), "label": label("HI", ["AUS"]), "custodian": "AUS"}
    days = ["2028-02-01", "2021-01-01", "2027-02-01", "2026-03-01", "2025-07-01", "2027-02-01"]
    expected = [True, False, True, True, False, True]
    fresh = rulebook_of(document())
    assert [fresh.decide({**request, "at": d}).allow for d in days] == expected
    assert [book.decide({**request, "at": d}).allow for d in reversed(days)] == expected[::-1]


# -- the batch API equals the single one ---------------------------------------------------


def _distinct(
    items: list[tuple[dict[str, Any], str | None]],
) -> list[tuple[dict[str, Any], str | None]]:
    seen: dict[str, tuple[dict[str, Any], str | None]] = {}
    for s, at in items:
        seen.setdefault(json.dumps([s, at], sort_keys=True), (s, at))
    return list(seen.values())


def _single(rb: Rulebook, subj: dict[str, Any], held: dict[str, Any], at: str | None) -> Decision:
    lab = {k: v for k, v in held.items() if k not in ("custodian", "consented_to")}
    request: dict[str, Any] = {"subject": subj, "label": lab}
    if "custodian" in held:
        request["custodian"] = held["custodian"]
    if "consented_to" in held:
        request["consented_to"] = held["consented_to"]
    if at is not None:
        request["at"] = at
    return rb.decide(request)


def _assert_batch_equals_single(
    rb: Rulebook, subjects: list[tuple[dict[str, Any], str | None]], labels: list[dict[str, Any]]
) -> tuple[int, int]:
    """Every subject (and date) against every label; returns (allowed, denied) counts."""
    table = rb.label_table(labels)
    assert len(table) == len(labels)
    allowed = denied = 0
    for subj, at in subjects:
        day = None if at is None else dt.date.fromisoformat(at)
        many = rb.decide_many(subj, table, at=day)
        assert many.dtype == np.bool_
        assert many.shape == (len(labels),)
        single = [_single(rb, subj, held, at).allow for held in labels]
        mismatches = [
            (i, labels[i], single[i]) for i in range(len(labels)) if bool(many[i]) != single[i]
        ]
        assert not mismatches, (subj, at, mismatches[:5])
        allowed += sum(single)
        denied += len(single) - sum(single)
        # the label dicts may also be passed as they are
        assert rb.decide_many(subj, labels, at=day).tolist() == many.tolist()
    return allowed, denied


def test_batch_equals_single_on_every_hand_built_case(book: Rulebook) -> None:
    for case in CASES:
        table = book.label_table([case.held_label()])
        day = None if case.at is None else dt.date.fromisoformat(case.at)
        assert book.decide_many(case.subject, table, at=day).tolist() == [case.allow], case.name


def test_batch_equals_single_across_all_cases(book: Rulebook) -> None:
    # every subject (with its date) of the cases against every label of the cases
    labels = [c.held_label() for c in CASES]
    subjects = _distinct([(c.subject, c.at) for c in CASES])
    allowed, denied = _assert_batch_equals_single(book, subjects, labels)
    assert allowed > 0
    assert denied > 0


def test_batch_equals_single_on_multi_party_cases(multi: Rulebook) -> None:
    labels = [c.held_label() for c in MULTI_CASES]
    for case in MULTI_CASES:
        table = multi.label_table([case.held_label()])
        assert multi.decide_many(case.subject, table, at=TODAY).tolist() == [case.allow], case.name
    _assert_batch_equals_single(multi, _distinct([(c.subject, c.at) for c in MULTI_CASES]), labels)


def test_batch_equals_single_with_survival(book: Rulebook) -> None:
    labels = [
        {**label(level, ["DEU", "ITA", "AUS", "USA"]), "custodian": custodian, **consent}
        for level in ("HI", "GOKUHI", "KIMITSU")
        for custodian in ("JPN", "DEU", "ITA", "AUS", "USA")
        for consent in ({}, {"consented_to": ["DEU", "ITA", "AUS"]})
    ]
    subjects = [
        (subject(n, c), at)
        for n, c in (("DEU", "GEHEIM"), ("ITA", "SS"), ("AUS", "S"), ("AUS", "TS"), ("USA", "TS"))
        for at in ("2014-06-01", "2020-01-01", "2026-01-01", "2027-02-01", "2028-06-01", None)
    ]
    allowed, denied = _assert_batch_equals_single(book, subjects, labels)
    assert allowed > 0
    assert denied > 0
    # survival really is exercised: the same label allowed for one custodian, not another
    survived = _single(book, subject("DEU", "GEHEIM"), {**labels[0], "custodian": "DEU"}, DAY)
    assert survived.allow


def test_batch_equals_single_with_more_than_64_topics(book: Rulebook) -> None:
    rng = np.random.default_rng(20260101)
    topics = [f"topic{i:03d}" for i in range(150)]
    labels = []
    for i in range(400):
        k = int(rng.integers(0, 4))
        need = sorted({topics[int(j)] for j in rng.integers(0, len(topics), size=k)})
        lab = label(
            ["HI", "GOKUHI", "TOKUTEI", "KIMITSU"][i % 4],
            ["CAN", "JPN"] if i % 5 else [],
            need=need,
        )
        if i % 7 == 0:
            lab["custodian"] = "CAN"
        labels.append(lab)
    table = book.label_table(labels)
    assert len(table.topics) > 64
    assert table.need.shape[0] >= 2  # several 64-bit words
    subjects: list[tuple[dict[str, Any], str | None]] = []
    for nation, clearance in (("CAN", "TS"), ("CAN", "S"), ("JPN", "KIMITSU"), ("JPN", "HI")):
        for held in (
            [],
            topics[:70],
            topics[60:],
            topics[::2],
            topics,
            [topics[149], topics[0], topics[64], topics[63]],
        ):
            subjects.append((subject(nation, clearance, list(held)), DAY))
    allowed, denied = _assert_batch_equals_single(book, subjects, labels)
    assert allowed > 0
    assert denied > 0


def many_policies_document(n: int = 70) -> dict[str, Any]:
    """``n`` policies (more than 64: several words per bitmask), hub-and-spoke agreements."""
    ids = [f"P{i:02d}" for i in range(n)]
    policies = {
        p: {
            "name": f"Policy {p}",
            "levels": [{"id": "LO", "name": "LOW"}, {"id": "HI", "name": "HIGH"}],
        }
        for p in ids
    }
    agreements = []
    for i, p in enumerate(ids[1:], start=1):
        kind = i % 3
        events = [{"status": "in_force", "date": "2020-01-01"}]
        if kind == 1:
            events.append({"status": "terminated", "date": "2024-01-01"})
        elif kind == 2:
            events = [{"status": "signed", "date": "2020-01-01"}]
        agreements.append(
            {
                "id": f"A-P00-{p}",
                "title": f"P00 and {p}",
                "parties": ["P00", p],
                "events": events,
                "equivalence": [{"P00": "LO", p: "LO"}, {"P00": "HI", p: "HI"}],
            }
        )
    agreements.append(
        {
            "id": "B-P64-P66",
            "title": "P64 and P66, area x only",
            "parties": ["P64", "P66"],
            "scope": ["x"],
            "events": [{"status": "in_force", "date": "2021-01-01"}],
            "equivalence": [{"P64": ["LO", "HI"], "P66": "HI"}],
        }
    )
    agreements.append(
        {
            "id": "C-P65-P69",
            "title": "P65 and P69",
            "parties": ["P65", "P69", "P01"],
            "events": [
                {"status": "in_force", "date": "2021-01-01"},
                {"status": "suspended", "date": "2025-01-01"},
            ],
            "equivalence": [{"P65": "LO", "P69": "LO", "P01": "LO"}],
        }
    )
    return {
        "policies": policies,
        "groups": {"LOWER": ids[1:40], "UPPER": ids[40:], "ODD": ids[1::2]},
        "agreements": agreements,
    }


def test_batch_equals_single_with_more_than_64_policies() -> None:
    rb = rulebook_of(many_policies_document())
    assert rb.codes.words >= 2
    rng = np.random.default_rng(64)
    names = [f"P{i:02d}" for i in range(70)]
    originators = ["P00", "P01", "P02", "P03", "P64", "P65", "P66", "P69"]
    labels = []
    for i in range(600):
        originator = originators[i % len(originators)]
        releasable = sorted(
            {names[int(j)] for j in rng.integers(0, 70, size=int(rng.integers(0, 6)))}
        )
        if i % 4 == 0:
            releasable.append(["LOWER", "UPPER", "ODD"][i % 3])
        lab = label(
            ["LO", "HI"][int(rng.integers(0, 2))],
            releasable,
            originator=originator,
            area=[None, "x", "y"][i % 3],
            need=["t1"] if i % 11 == 0 else None,
        )
        r = i % 5
        if r == 1:
            lab["custodian"] = names[int(rng.integers(0, 70))]
        elif r == 2:
            lab["custodian"] = names[int(rng.integers(60, 70))]
            lab["consented_to"] = ["UPPER"]
        elif r == 3:
            lab["custodian"] = originator
        labels.append(lab)
    # labels the subjects of high codes may read, to be sure allows happen beyond bit 63
    for p in ("P66", "P67", "P69"):
        labels.append({**label("LO", [p], originator="P00"), "custodian": p})
        labels.append(label("HI", ["UPPER"], originator="P00"))
        labels.append(label("LO", ["UPPER"], originator="P64", area="x"))
        labels.append({**label("LO", [p], originator="P65"), "custodian": p})
    subjects: list[tuple[dict[str, Any], str | None]] = []
    for nation in ("P00", "P01", "P02", "P03", "P63", "P64", "P65", "P66", "P67", "P69"):
        for clearance, need in ((None, []), ("LO", ["t1"]), ("HI", []), ("HI", ["t1"])):
            for at in ("2020-06-01", "2022-01-01", "2026-01-01"):
                subjects.append((subject(nation, clearance, need), at))
    allowed, denied = _assert_batch_equals_single(rb, subjects, labels)
    assert allowed > 0
    assert denied > 0
    high = rb.decide_many(subject("P66", "HI"), rb.label_table(labels), at=TODAY)
    assert high.any()


def test_batch_of_no_labels(book: Rulebook) -> None:
    table = book.label_table([])
    assert len(table) == 0
    assert book.decide_many(CAN_S, table, at=TODAY).tolist() == []


# -- the LabelTable ----------------------------------------------------------------------


def test_label_table_is_small(book: Rulebook) -> None:
    labels = []
    for i in range(20_000):
        lab = label(
            ["HI", "GOKUHI", "TOKUTEI", "KIMITSU"][i % 4],
            [["CAN"], ["FVEY"], [], ["KOR", "USA"]][i % 4],
            area=[None, "defence", "trade"][i % 3],
            need=[f"t{i % 50}"] if i % 2 else None,
        )
        if i % 3 == 0:
            lab["custodian"] = ["USA", "CAN", "JPN"][i % 9 // 3]
            lab["consented_to"] = ["CAN"]
        labels.append(lab)
    table = book.label_table(labels)
    assert len(table) == 20_000
    assert table.nbytes / len(table) <= 32


def test_label_table_is_small_with_many_policies() -> None:
    rb = rulebook_of(many_policies_document())  # 70 policies: two words per bitmask
    labels = [
        label("LO", ["P66", "UPPER"], originator="P00", need=[f"t{i % 60}", f"t{(i * 7) % 60}"])
        for i in range(5_000)
    ]
    table = rb.label_table(labels)
    assert table.nbytes / len(table) <= 32


def test_label_table_is_small_with_many_topics(book: Rulebook) -> None:
    labels = [
        label("GOKUHI", ["CAN"], need=[f"t{i % 100}", f"t{(i * 7) % 100}"]) for i in range(5_000)
    ]
    table = book.label_table(labels)
    assert len(table.topics) == 100
    assert table.nbytes / len(table) <= 32


def test_table_built_by_another_rulebook_is_refused() -> None:
    first, second = rulebook_of(document()), rulebook_of(document())
    table = first.label_table([label("GOKUHI", ["CAN"])])
    assert first.decide_many(CAN_S, table, at=TODAY).tolist() == [True]
    with pytest.raises(gsoia.RequestError):
        second.decide_many(CAN_S, table, at=TODAY)


# -- the bundled catalogue -----------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> Rulebook:
    return gsoia.load_catalogue()


def test_bundled_spec_example(bundled: Rulebook) -> None:
    example = next(c for c in CASES if c.name == "allow/spec-example")
    d = bundled.decide(example.request())
    assert d.to_dict()["marking"] == {
        "level": {"policy": "CAN", "id": "S", "name": "SECRET"},
        "original": {"policy": "JPN", "id": "GOKUHI", "name": "極秘"},
        "text": "CAN SECRET // JPN 極秘 // JPN-CAN",
    }
    assert (d.allow, d.reason, d.rule, d.agreement) == (True, Reason.ALLOW, 8, "JPN-CAN")


def test_bundled_kimitsu_to_korea_is_not_exchanged_citing_article_4(bundled: Rulebook) -> None:
    d = bundled.decide(
        {"subject": subject("KOR", "I"), "label": label("KIMITSU", ["KOR"]), "at": "2026-03-01"}
    )
    assert (d.allow, d.reason, d.rule, d.agreement) == (False, Reason.NO_EQUIVALENT, 5, "JPN-KOR")
    assert d.explanation.startswith("Rule 5 (NO_EQUIVALENT)")
    assert "(JPN-KOR Art. 4)" in d.explanation


def test_bundled_korea_clearance_cites_article_7(bundled: Rulebook) -> None:
    d = bundled.decide(
        {"subject": subject("KOR", "III"), "label": label("GOKUHI", ["KOR"]), "at": "2026-03-01"}
    )
    assert (d.reason, d.rule, d.agreement) == (Reason.CLEARANCE, 6, "JPN-KOR")
    assert "(JPN-KOR Art. 7)" in d.explanation


def test_bundled_japan_canada_enters_into_force(bundled: Rulebook) -> None:
    request = {"subject": CAN_S, "label": label("GOKUHI", ["CAN"])}
    assert bundled.decide({**request, "at": "2025-10-15"}).reason is Reason.NO_AGREEMENT
    assert bundled.decide({**request, "at": "2025-10-16"}).reason is Reason.ALLOW


def test_bundled_ukraine_signed_only(bundled: Rulebook) -> None:
    d = bundled.decide(
        {"subject": subject("UKR", "OV"), "label": label("GOKUHI", ["UKR"]), "at": "2026-03-01"}
    )
    assert (d.reason, d.rule, d.agreement) == (Reason.NO_AGREEMENT, 3, None)


def test_bundled_same_nation_and_reverse_mapping(bundled: Rulebook) -> None:
    d = bundled.decide({"subject": subject("JPN", "KIMITSU"), "label": label("GOKUHI")})
    assert d.marking is not None
    assert (d.rule, d.agreement, d.marking.text) == (3, None, "JPN 極秘")
    d = bundled.decide(
        {
            "subject": subject("JPN", "GOKUHI"),
            "label": label("II", ["JPN"], originator="KOR"),
            "at": "2026-03-01",
        }
    )
    assert d.marking is not None
    assert d.marking.text == "JPN 極秘 // KOR 군사II급비밀 // JPN-KOR"


def test_bundled_batch_equals_single(bundled: Rulebook) -> None:
    labels = []
    for originator, levels in (
        ("JPN", ["HI", "GOKUHI", "TOKUTEI", "KIMITSU"]),
        ("KOR", ["III", "II", "I"]),
        ("CAN", ["C", "S", "TS"]),
    ):
        for level in levels:
            for releasable in ([], ["FVEY"], ["KOR", "CAN", "UKR", "FRA"]):
                labels.append(label(level, releasable, originator=originator))
                labels.append(
                    {**label(level, releasable, originator=originator), "custodian": "USA"}
                )
    subjects = [
        (subject(n, c), at)
        for n, c in (("CAN", "S"), ("KOR", "II"), ("JPN", "GOKUHI"), ("FRA", "TS"), ("UKR", "OV"))
        for at in ("2025-10-15", "2026-03-01")
    ]
    allowed, denied = _assert_batch_equals_single(bundled, subjects, labels)
    assert allowed > 0
    assert denied > 0
