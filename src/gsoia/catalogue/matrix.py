"""Who may share with whom on a date, and at which levels: the agreement matrix."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gsoia.catalogue.model import Agreement, Catalogue, Status


@dataclass(frozen=True)
class Pairing:
    """Sharing from one policy to another on a date, under the governing agreement."""

    source: str
    to: str
    agreement: str
    status: Status
    levels: tuple[tuple[str, str], ...]
    """``(level of source, equivalent of to)``, lowest first; levels not exchanged left out."""


def status_table(catalogue: Catalogue, day: dt.date) -> list[tuple[Agreement, Status | None]]:
    """Every agreement with its status on ``day``."""
    return [(a, a.status_on(day)) for a in catalogue.agreements]


def pairing(catalogue: Catalogue, source: str, to: str, day: dt.date) -> Pairing | None:
    """How ``source`` may share with ``to`` on ``day``, if any agreement in force allows it.

    The governing agreement is the one in force with the fewest parties, then the smallest id
    (docs/decision.md §3, rule 5); only the levels it maps are listed.
    """
    in_force = [
        a
        for a in catalogue.agreements
        if source in a.parties and to in a.parties and a.status_on(day) is Status.IN_FORCE
    ]
    if not in_force or source == to:
        return None
    governing = min(in_force, key=lambda a: (len(a.parties), a.id))
    levels = tuple(
        (level.id, equivalent)
        for level in catalogue.policies[source].levels
        if (equivalent := governing.equivalent(source, level.id, to)) is not None
    )
    return Pairing(source, to, governing.id, Status.IN_FORCE, levels)


def matrix(catalogue: Catalogue, day: dt.date) -> dict[tuple[str, str], Pairing]:
    """Every ordered pair of policies that may share on ``day``."""
    found = {}
    for source in catalogue.policies:
        for to in catalogue.policies:
            p = pairing(catalogue, source, to, day)
            if p is not None:
                found[(source, to)] = p
    return found
