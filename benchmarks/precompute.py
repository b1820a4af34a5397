"""Rules 3-5 precomputed from the raw catalogue document, independently of ``gsoia``.

The Cedar and casbin encodings of the benchmark evaluate rules 1-2, 6-7 and the
same-nation rules themselves, from attributes of the request; what they cannot express
(which agreement governs, and the equivalent level it maps to) is computed here, straight
from docs/decision.md §3, and handed to them as a per-label attribute: for each foreign
nation, the rank of the level its subjects must hold — absent where rule 3, 4 or 5 fails.

Written from the spec against the plain document (not ``gsoia``'s tables) so the
engines' agreement with ``decide`` is a real cross-check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

_ENDED = ("suspended", "terminated")


class Resolver:
    """``required(originator, level, area, nation, held)``: rank needed in ``nation``, or None."""

    def __init__(self, document: dict[str, Any], day: dt.date) -> None:
        self.day = day
        self.ranks = {
            p: {level["id"]: r for r, level in enumerate(policy["levels"])}
            for p, policy in document["policies"].items()
        }
        self.groups: dict[str, list[str]] = dict(document.get("groups", {}))
        self.agreements: list[dict[str, Any]] = list(document.get("agreements", []))
        self._memo: dict[tuple[str, str, str | None, str, bool], int | None] = {}

    def expand(self, names: list[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            out.update(self.groups.get(name, [name]))
        return out

    def _status(self, agreement: dict[str, Any]) -> str | None:
        status = None
        for event in agreement.get("events", []):
            if dt.date.fromisoformat(event["date"]) <= self.day:
                status = event["status"]
        return status

    def _stands(self, agreement: dict[str, Any], held: bool) -> bool:
        status = self._status(agreement)
        if status == "in_force":
            return True
        was_in_force = any(
            e["status"] == "in_force" and dt.date.fromisoformat(e["date"]) <= self.day
            for e in agreement.get("events", [])
        )
        return held and status in _ENDED and was_in_force

    @staticmethod
    def _covers(agreement: dict[str, Any], area: str | None) -> bool:
        scope = agreement.get("scope", ["*"])
        return "*" in scope or (area is not None and area in scope)

    @staticmethod
    def _maps(agreement: dict[str, Any], party: str, level: str, into: str) -> str | None:
        for row in agreement.get("equivalence", []):
            mine = row.get(party)
            theirs = row.get(into)
            if mine is None or theirs is None:
                continue
            mine = [mine] if isinstance(mine, str) else mine
            if level in mine:
                return theirs if isinstance(theirs, str) else theirs[0]
        return None

    def required(
        self, originator: str, level: str, area: str | None, nation: str, held: bool
    ) -> int | None:
        """Rules 3-5 for a foreign subject of ``nation``; ``held``: custodian == nation."""
        key = (originator, level, area, nation, held)
        if key in self._memo:
            return self._memo[key]
        standing = [
            a
            for a in self.agreements
            if originator in a["parties"] and nation in a["parties"] and self._stands(a, held)
        ]
        scoped = [a for a in standing if self._covers(a, area)]
        mapping = [
            (len(a["parties"]), a["id"], eq)
            for a in scoped
            if (eq := self._maps(a, originator, level, nation)) is not None
        ]
        result = self.ranks[nation][min(mapping)[2]] if mapping else None
        self._memo[key] = result
        return result

    def required_by_nation(self, label: dict[str, Any]) -> dict[str, int]:
        """Per foreign nation, the rank its subjects need for this label (rules 3-5 pass)."""
        originator = label["originator"]
        custodian = label.get("custodian") or originator
        out: dict[str, int] = {}
        for nation in self.ranks:
            if nation == originator:
                continue
            rank = self.required(
                originator, label["classification"], label.get("area"), nation, custodian == nation
            )
            if rank is not None:
                out[nation] = rank
        return out

    def clearance_rank(self, subject: dict[str, Any]) -> int:
        """The subject's clearance rank on the day (-1: uncleared or expired)."""
        clearance = subject.get("clearance")
        expires = subject.get("clearance_expires")
        if clearance is None or (expires and self.day > dt.date.fromisoformat(expires)):
            return -1
        return self.ranks[subject["nation"]][clearance]
