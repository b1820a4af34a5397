"""The catalogue's data: national policies, groups and agreements (docs/decision.md §1).

These models check the shape of a catalogue (types, required fields, no unknown
attributes). The rules that relate one part to another (unknown references, repeated ids,
conflicting equivalences, event order) are in ``gsoia.catalogue.validate``; a ``Catalogue``
is only ever handed out after both have passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from gsoia.catalogue.categories import CategoryTag, Lacv, Marking, Oid, TagSet

Identifier = Annotated[StrictStr, Field(pattern=r"^[A-Z][A-Z0-9_-]{0,31}$")]
"""A policy, group or level id: upper-case letters and digits (``JPN``, ``NATO``, ``GOKUHI``)."""

ROW_SOURCE = "source"
"""The key of an equivalence row that carries its source rather than a party's levels."""


class Status(StrEnum):
    """An agreement's status; the status on a date is that of its latest event."""

    NEGOTIATING = "negotiating"
    SIGNED = "signed"
    IN_FORCE = "in_force"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    """One classified level of a policy."""

    id: Identifier
    name: Annotated[StrictStr, Field(min_length=1)]
    latin: StrictStr | None = None
    lacv: Lacv | None = None
    """The level's LACV in the policy's SPIF; absent: its position, counting from 1."""
    markings: list[Marking] = []
    """Its SPIF marking data: phrases per language (absent: the name is the marking)."""


class Policy(_Strict):
    """A national (or organisational) security policy: its classified levels, lowest first."""

    name: Annotated[StrictStr, Field(min_length=1)]
    levels: Annotated[list[Level], Field(min_length=1)]
    source: StrictStr | None = None
    oid: Oid | None = None
    """The policy's object identifier in its SPIF (``securityPolicyId``)."""
    markings: list[Marking] = []
    """The SPIF's policy-wide marking data (``securityClassifications``' own)."""
    categories: list[TagSet] = []
    """Its security category tag sets (docs/decision.md, "Categories")."""
    assurance_fields: list[Literal["birth_date", "birth_place"]] = []
    """What its security authority asks of a person in the assurances it receives, beyond
    the id and the name (``gsoia.node.exchange.assurances``): nothing else is sent to it."""

    @cached_property
    def ranks(self) -> dict[str, int]:
        """Each level id's rank (0 = lowest)."""
        return {level.id: rank for rank, level in enumerate(self.levels)}

    def rank(self, level_id: str) -> int | None:
        """The level's rank (0 = lowest), or None if the policy has no such level."""
        return self.ranks.get(level_id)

    @cached_property
    def tags(self) -> dict[str, CategoryTag]:
        """Each category tag of the policy by its name."""
        return {tag.name: tag for tag_set in self.categories for tag in tag_set.tags}


class Event(_Strict):
    """A dated change of an agreement's status."""

    status: Status
    date: dt.date
    source: StrictStr | None = None


EquivalenceRow = dict[StrictStr, StrictStr | list[StrictStr]]
"""``{JPN: [GOKUHI, TOKUTEI], CAN: S, source: "..."}``: levels of several parties held equal."""


class Agreement(_Strict):
    """A security-of-information agreement between two or more policies."""

    id: Identifier
    title: Annotated[StrictStr, Field(min_length=1)]
    parties: Annotated[list[Identifier], Field(min_length=2)]
    scope: Annotated[list[Annotated[StrictStr, Field(min_length=1)]], Field(min_length=1)] = ["*"]
    events: list[Event] = []
    equivalence: list[EquivalenceRow] = []
    source: StrictStr | None = None
    articles: dict[StrictStr, StrictStr] = {}
    """Article of the agreement text per reason code (``THIRD_PARTY: "Art. 6(c)"``)."""

    def status_on(self, day: dt.date) -> Status | None:
        """The status on ``day``: that of the latest event dated on or before it."""
        status: Status | None = None
        for event in self.events:  # INVARIANT: events are in date order (validated)
            if event.date > day:
                break
            status = event.status
        return status

    def was_in_force_by(self, day: dt.date) -> bool:
        """Whether the agreement was in force on some date on or before ``day``.

        An ``in_force`` event overtaken by another event of the same date never took effect.
        """
        return any(
            e.status is Status.IN_FORCE
            and e.date <= day
            and self.status_on(e.date) is Status.IN_FORCE
            for e in self.events
        )

    def covers(self, area: str) -> bool:
        return "*" in self.scope or area in self.scope

    def rows(self) -> list[dict[str, list[str]]]:
        """The equivalence rows without their sources, each party's levels as a list."""
        return [
            {
                party: [levels] if isinstance(levels, str) else list(levels)
                for party, levels in row.items()
                if party != ROW_SOURCE
            }
            for row in self.equivalence
        ]

    def equivalent(self, party: str, level: str, into: str) -> str | None:
        """The level of ``into`` equal to ``level`` of ``party`` here (first listed), if any."""
        for row in self.rows():
            if level in row.get(party, ()) and row.get(into):
                return row[into][0]
        return None


class Catalogue(_Strict):
    """A whole catalogue. Build it with ``gsoia.catalogue.parse_catalogue``, which validates."""

    policies: dict[Identifier, Policy]
    groups: dict[Identifier, list[Identifier]] = {}
    agreements: list[Agreement] = []

    def expand(self, names: list[str]) -> set[str]:
        """Policy ids named directly or through a group."""
        members: set[str] = set()
        for name in names:
            members.update(self.groups.get(name, [name]))
        return members

    @cached_property
    def names_known(self) -> frozenset[str]:
        """Every policy id and group name."""
        return frozenset(self.policies) | frozenset(self.groups)

    @cached_property
    def naming(self) -> dict[str, frozenset[str]]:
        """For each policy: the names that stand for it (its id and its groups)."""
        return {
            p: frozenset([p, *(g for g, members in self.groups.items() if p in members)])
            for p in self.policies
        }

    def names(self, names: Collection[str], policy: str) -> bool:
        """Whether ``policy`` is among ``names``, directly or through a group."""
        naming = self.naming.get(policy)
        if naming is None:
            return policy in names
        return not naming.isdisjoint(names)

    @cached_property
    def areas(self) -> tuple[str, ...]:
        """The subject areas the agreements name, sorted; none if every one covers all."""
        return tuple(sorted({s for a in self.agreements for s in a.scope if s != "*"}))

    def agreement(self, agreement_id: str) -> Agreement | None:
        return next((a for a in self.agreements if a.id == agreement_id), None)

    def event_dates(self) -> list[dt.date]:
        """Every date on which some agreement's status changes, sorted, without repeats."""
        return sorted({e.date for a in self.agreements for e in a.events})
