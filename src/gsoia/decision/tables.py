"""The catalogue compiled into small integer tables, shared by ``decide`` and ``decide_many``.

Codes: every policy gets a code (its position in the catalogue), every level of every
policy a *global level* number, every area named in some scope an *area* code (0 = an
area no scope names, which only ``"*"`` covers). A label's ``key`` is
``global_level * areas + area``.

For a subject's nation and an *epoch* (the span between two consecutive event dates of
the catalogue, in which no agreement changes status) a ``Resolution`` holds, per key and
per survival case (custodian == subject's nation or not), the outcome of rules 3-5 of the
foreign-subject rules: which agreement governs and the equivalent level's rank — or which
rule failed. The single and the batch decision both read these tables, so they cannot
drift (docs/decision.md §5).
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from gsoia.catalogue.model import Agreement, Catalogue, Status
from gsoia.decision.ruling import LevelRef, Marking

OTHER_AREA = ""
"""The area code 0: an area that no agreement's scope names."""

_ENDED = (Status.SUSPENDED, Status.TERMINATED)


class Outcome(IntEnum):
    """What rules 3-5 concluded for one key; SAME_NATION when the originator is the subject's."""

    GOVERNED = 0
    NO_AGREEMENT = 1
    OUT_OF_SCOPE = 2
    NO_EQUIVALENT = 3
    SAME_NATION = 4


@dataclass(frozen=True, slots=True)
class Cell:
    """Rules 3-5 for one key, ready for ``decide``: the governing agreement and marking."""

    outcome: Outcome
    rank: int
    agreement: Agreement | None
    marking: Marking | None
    """For GOVERNED: the dual marking; for SAME_NATION: the originator's own level."""
    protected: str = ""
    """For GOVERNED: ``JPN GOKUHI (極秘) is protected as CAN S (SECRET) under JPN-CAN``."""


@dataclass(frozen=True)
class Resolution:
    """Rules 3-5 for one subject nation in one epoch; arrays indexed ``[survival, key]``."""

    outcome: npt.NDArray[np.uint8]
    rank: npt.NDArray[np.int16]
    """Rank of the level the subject must be cleared for (equivalent, or own level); -1: none."""
    agreement: npt.NDArray[np.int16]
    """Index into ``catalogue.agreements`` of the agreement found; -1: none."""
    survival_differs: bool
    """Whether any key resolves differently when the subject's nation holds the copy."""
    cells: tuple[list[Cell], list[Cell]]
    """The same per key as ``Cell`` objects, for one decision at a time."""

    def allowed_keys(self, clearance_rank: int) -> npt.NDArray[np.bool_]:
        """Per ``[survival, key]``: rules 3-6 pass for a subject cleared to ``clearance_rank``."""
        passes = (self.outcome == Outcome.GOVERNED) | (self.outcome == Outcome.SAME_NATION)
        allowed: npt.NDArray[np.bool_] = passes & (self.rank <= clearance_rank) & (self.rank >= 0)
        return allowed


class Codes:
    """The integer codes of one catalogue, and its resolutions, computed on first use."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.policies: list[str] = list(catalogue.policies)
        self.policy_code = {p: i for i, p in enumerate(self.policies)}
        self.level_base: list[int] = []
        self.level_of: list[tuple[int, int]] = []  # global level -> (policy code, rank)
        for code, policy_id in enumerate(self.policies):
            self.level_base.append(len(self.level_of))
            for rank in range(len(catalogue.policies[policy_id].levels)):
                self.level_of.append((code, rank))
        named = sorted({a for ag in catalogue.agreements for a in ag.scope if a != "*"})
        self.areas: list[str] = [OTHER_AREA, *named]
        self.area_code = {a: i for i, a in enumerate(self.areas)}
        self.keys = len(self.level_of) * len(self.areas)
        self.level_keys = {
            policy_id: {
                level.id: (self.level_base[code] + rank) * len(self.areas)
                for rank, level in enumerate(catalogue.policies[policy_id].levels)
            }
            for code, policy_id in enumerate(self.policies)
        }
        """Per policy and level id: the key of a label at that level naming no area."""
        self.words = (len(self.policies) + 63) // 64
        """How many 64-bit words a set of policies takes."""
        self.level_refs = {
            policy_id: [LevelRef(policy_id, level.id, level.name) for level in policy.levels]
            for policy_id, policy in catalogue.policies.items()
        }
        self.groups = {g: [self.policy_code[m] for m in ms] for g, ms in catalogue.groups.items()}
        self.masks: dict[str, int] = {p: 1 << i for i, p in enumerate(self.policies)}
        """The bitmask of each policy id and group name."""
        for group, members in self.groups.items():
            self.masks[group] = sum(1 << m for m in members)
        self.all_mask = (1 << len(self.policies)) - 1
        self.event_dates = catalogue.event_dates()
        self.pairs: dict[tuple[int, int], list[int]] = {}
        """Indices of the agreements having both policies of a pair (by code) as parties."""
        self._equivalents: list[dict[tuple[str, str, str], str]] = []
        for index, agreement in enumerate(catalogue.agreements):
            self._equivalents.append(_equivalents(agreement))
            for a in agreement.parties:
                for b in agreement.parties:
                    if a != b:
                        pair = (self.policy_code[a], self.policy_code[b])
                        self.pairs.setdefault(pair, []).append(index)
        self._resolutions: dict[tuple[str, int], Resolution] = {}

    # -- codes of a label -------------------------------------------------------------

    def key(self, originator: str, classification: str, area: str | None) -> int:
        """The label's key; its references must have been checked."""
        # INVARIANT: the references were checked by request.label_problems
        area_code = self.area_code.get(area or OTHER_AREA, 0)
        return self.level_keys[originator][classification] + area_code

    def policy_set(self, names: list[str]) -> set[int]:
        """Codes of the policies named directly or through a group."""
        codes: set[int] = set()
        for name in names:
            group = self.groups.get(name)
            if group is not None:
                codes.update(group)
            else:
                codes.add(self.policy_code[name])
        return codes

    # -- rules 3-5 ----------------------------------------------------------------------

    def epoch(self, day: dt.date) -> int:
        """Which span between event dates ``day`` falls in: statuses are constant within it."""
        return bisect.bisect_right(self.event_dates, day)

    def resolution(self, nation: str, day: dt.date) -> Resolution:
        """Rules 3-5 for subjects of ``nation`` on ``day`` (cached per epoch)."""
        epoch = bisect.bisect_right(self.event_dates, day)  # self.epoch(day), inlined
        cached = self._resolutions.get((nation, epoch))
        if cached is None:
            # Any day of the epoch will do: its first event date, or the day itself.
            representative = self.event_dates[epoch - 1] if epoch > 0 else day
            cached = self._resolve(self.policy_code[nation], representative)
            self._resolutions[(nation, epoch)] = cached
        return cached

    def _resolve(self, subject_code: int, day: dt.date) -> Resolution:
        areas = len(self.areas)
        outcome = np.full((2, self.keys), Outcome.NO_AGREEMENT, dtype=np.uint8)
        rank = np.full((2, self.keys), -1, dtype=np.int16)
        agreement = np.full((2, self.keys), -1, dtype=np.int16)
        subject = self.policies[subject_code]
        subject_policy = self.catalogue.policies[subject]
        agreements = self.catalogue.agreements
        for originator_code, originator in enumerate(self.policies):
            levels = self.catalogue.policies[originator].levels
            base = self.level_base[originator_code]
            if originator_code == subject_code:
                for r in range(len(levels)):
                    span = slice((base + r) * areas, (base + r + 1) * areas)
                    outcome[:, span] = Outcome.SAME_NATION
                    rank[:, span] = r
                continue
            shared = self.pairs.get((originator_code, subject_code), [])
            for survival in (0, 1):
                # rule 3 (and survival: protection outlives the agreement)
                standing = [
                    i for i in shared if _stands(agreements[i], day, survival=bool(survival))
                ]
                if not standing:
                    continue
                for area_code, area in enumerate(self.areas):
                    # rule 4
                    scoped = [i for i in standing if agreements[i].covers(area)]
                    for r, level in enumerate(levels):
                        k = (base + r) * areas + area_code
                        if not scoped:
                            outcome[survival, k] = Outcome.OUT_OF_SCOPE
                            agreement[survival, k] = _governing(agreements, standing)
                            continue
                        # rule 5: the fewest parties, then the smallest id, governs
                        mapping = [
                            i
                            for i in scoped
                            if (originator, level.id, subject) in self._equivalents[i]
                        ]
                        if not mapping:
                            outcome[survival, k] = Outcome.NO_EQUIVALENT
                            agreement[survival, k] = _governing(agreements, scoped)
                            continue
                        governing = _governing(agreements, mapping)
                        equivalent = self._equivalents[governing][(originator, level.id, subject)]
                        outcome[survival, k] = Outcome.GOVERNED
                        agreement[survival, k] = governing
                        rank[survival, k] = subject_policy.rank(equivalent) or 0
        differs = not (
            np.array_equal(outcome[0], outcome[1])
            and np.array_equal(rank[0], rank[1])
            and np.array_equal(agreement[0], agreement[1])
        )
        cells = (
            self._cells(subject, outcome[0], rank[0], agreement[0]),
            self._cells(subject, outcome[1], rank[1], agreement[1]),
        )
        return Resolution(outcome, rank, agreement, differs, cells)

    def _cells(
        self,
        subject: str,
        outcomes: npt.NDArray[np.uint8],
        ranks: npt.NDArray[np.int16],
        agreements: npt.NDArray[np.int16],
    ) -> list[Cell]:
        cells = []
        areas = len(self.areas)
        for key, (code, rank, index) in enumerate(
            zip(outcomes.tolist(), ranks.tolist(), agreements.tolist(), strict=True)
        ):
            outcome = Outcome(code)
            found = self.catalogue.agreements[index] if index >= 0 else None
            policy_code, original_rank = self.level_of[key // areas]
            original = self.level_refs[self.policies[policy_code]][original_rank]
            marking, protected = None, ""
            if outcome is Outcome.GOVERNED and found is not None:
                equivalent = self.level_refs[subject][rank]
                marking = Marking(equivalent, original, found.id)
                protected = (
                    f"{original.described()} is protected as {equivalent.described()}"
                    f" under {found.id}"
                )
            elif outcome is Outcome.SAME_NATION:
                marking = Marking(original, original, None)
            cells.append(Cell(outcome, rank, found, marking, protected))
        return cells


def _stands(agreement: Agreement, day: dt.date, *, survival: bool) -> bool:
    """Rule 3: in force on ``day``; with survival, also ended after having been in force."""
    status = agreement.status_on(day)
    if status is Status.IN_FORCE:
        return True
    return survival and status in _ENDED and agreement.was_in_force_by(day)


def _equivalents(agreement: Agreement) -> dict[tuple[str, str, str], str]:
    """``(party, level, into) -> level of into`` for every pair of parties of a row."""
    table: dict[tuple[str, str, str], str] = {}
    for row in agreement.rows():
        for party, levels in row.items():
            for into, into_levels in row.items():
                if into != party:
                    for level in levels:
                        table[(party, level, into)] = into_levels[0]
    return table


def _governing(agreements: list[Agreement], indices: list[int]) -> int:
    return min(indices, key=lambda i: (len(agreements[i].parties), agreements[i].id))
