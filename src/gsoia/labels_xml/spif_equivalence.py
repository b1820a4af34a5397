"""A SPIF's equivalent policies and classifications as the equivalence rows of the
catalogue's agreements, and back.

A SPIF says, level by level, which classification of another policy is its equal
(``equivalentClassification``: the other policy, the LACV of its level, and whether the
equality holds when labelling, reading, or ``both``). The catalogue keeps the same facts as
the rows of an agreement between the two policies (docs/decision.md §1), which hold both
ways. Going in, the equalities with one other policy become the rows of the agreement the
catalogue would read them from (``agreement_between``), replacing its rows; going out, the
rows of that agreement are written as the policy's equivalent classifications.

Anything the rows cannot hold is named, one line each, and left out: an equality that
holds one way only, another policy the catalogue lacks, a LACV that policy lacks, two
policies no agreement of the catalogue has as parties, an agreement of more than two
parties (whose rows the SPIF of one of them cannot describe whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gsoia.catalogue.model import Agreement, Catalogue, Policy
from gsoia.labels_xml.spif_read import EquivalentClass, Equivalents, SpifPolicy
from gsoia.labels_xml.spif_write import PolicyEquivalence, policy_oid

BOTH = "both"
"""The ``applied`` of an equality that holds when labelling and reading alike."""


def agreement_between(catalogue: Catalogue, one: str, other: str) -> Agreement | None:
    """The agreement whose rows equate the levels of two policies: of those having both as
    parties, the one of fewest parties, then of smallest id."""
    shared = [a for a in catalogue.agreements if {one, other} <= set(a.parties)]
    return min(shared, key=lambda a: (len(a.parties), a.id), default=None)


def equivalences(catalogue: Catalogue, policy_id: str) -> list[PolicyEquivalence]:
    """What a SPIF of ``policy_id`` says of the other policies: from the rows of the
    agreement between them (``agreement_between``), in the catalogue's order."""
    found = []
    for other_id, other in catalogue.policies.items():
        agreement = (
            None if other_id == policy_id else agreement_between(catalogue, policy_id, other_id)
        )
        if agreement is None:
            continue
        levels: dict[str, list[str]] = {}
        for row in agreement.rows():
            for level in row.get(policy_id, []):
                levels.setdefault(level, []).extend(row.get(other_id, []))
        levels = {level: others for level, others in levels.items() if others}
        if levels:
            found.append(PolicyEquivalence(other_id, other, levels))
    return found


def with_spif_policy(catalogue: Catalogue, read: SpifPolicy) -> tuple[dict[str, Any], list[str]]:
    """The catalogue's document with the SPIF's policy in it (added, or in place of the
    policy of that id) and the SPIF's equalities as the rows of the agreements between
    it and each other policy; and what was left out, one line each. The caller checks the
    document as a catalogue (a row of another agreement naming a level the new policy
    lacks refuses it)."""
    document = catalogue.model_dump(mode="json", exclude_defaults=True)
    policy_id = read.policy_id
    document["policies"][policy_id] = read.policy.model_dump(mode="json", exclude_defaults=True)
    notes: list[str] = []
    by_policy: dict[str, list[tuple[str, str]]] = {}
    for equal in read.equivalents.classes:
        resolved = _resolve(catalogue, read.equivalents, equal, policy_id)
        if isinstance(resolved, str):
            notes.append(f"{equal.place}: {resolved}: not carried")
        else:
            by_policy.setdefault(resolved[0], []).append((equal.level, resolved[1]))
    ids = [a["id"] for a in document.get("agreements", [])]
    for other_id, pairs in by_policy.items():
        agreement = agreement_between(catalogue, policy_id, other_id)
        where = f"SPIF.equivalentPolicies[{catalogue.policies[other_id].name}]"
        if agreement is None:
            notes.append(
                f"{where}: no agreement has {policy_id} and {other_id} as parties: not carried"
            )
        elif len(agreement.parties) > 2:
            notes.append(f"{where}: {agreement.id} has more than two parties: its rows kept")
        else:
            parties = ((policy_id, read.policy), (other_id, catalogue.policies[other_id]))
            rows = _rows(parties, pairs, agreement.rows())
            source = f"SPIF {read.policy.name}: equivalentClassification"
            document["agreements"][ids.index(agreement.id)]["equivalence"] = [
                {**row, "source": source} for row in rows
            ]
    return document, notes


def _resolve(
    catalogue: Catalogue, equivalents: Equivalents, equal: EquivalentClass, policy_id: str
) -> tuple[str, str] | str:
    """(the other policy's id, its level id) an equality names, or why it cannot be held."""
    if equal.applied != BOTH:
        return f"applied '{equal.applied}' holds one way; the catalogue's rows hold both ways"
    names = {equal.policy_ref}
    for named in equivalents.policies:
        if equal.policy_ref in (named.oid, named.name):
            names |= {named.oid, named.name}
    names.discard("")
    other_id = next(
        (
            pid
            for pid, policy in catalogue.policies.items()
            if names & {pid, policy.name, policy_oid(pid, policy)}
        ),
        None,
    )
    if other_id is None or other_id == policy_id:
        return f"no other policy '{equal.policy_ref}' in the catalogue"
    other = catalogue.policies[other_id]
    for position, level in enumerate(other.levels):
        if (level.lacv if level.lacv is not None else position + 1) == equal.lacv:
            return other_id, level.id
    return f"no level of LACV {equal.lacv} in {other_id}"


def _rows(
    parties: tuple[tuple[str, Policy], tuple[str, Policy]],
    pairs: Sequence[tuple[str, str]],
    existing: list[dict[str, list[str]]],
) -> list[dict[str, Any]]:
    """The equalities of two policies' levels (``pairs``: a level of the first, one of the
    second) as rows: each row the levels joined by equalities, so that no level is in two
    rows; the highest first. A party's levels in a row are in the order of an ``existing``
    row holding the same ones (the first listed is the one a level of the other party is
    read as), else highest first (the stricter)."""
    (policy_id, policy), (other_id, _) = parties
    row_of: dict[tuple[str, str], int] = {}
    rows: list[set[tuple[str, str]]] = []
    for mine, theirs in pairs:
        ends = [(policy_id, mine), (other_id, theirs)]
        joined = sorted({row_of[end] for end in ends if end in row_of})
        merged = set(ends).union(*(rows[i] for i in joined))
        for i in joined:
            rows[i] = set()
        rows.append(merged)
        for end in merged:
            row_of[end] = len(rows) - 1
    written = []
    for row in rows:
        if row:
            entry: dict[str, Any] = {}
            for party_id, party in parties:
                levels = _ordered(
                    {lv for pid, lv in row if pid == party_id}, party_id, party, existing
                )
                entry[party_id] = levels[0] if len(levels) == 1 else levels
            written.append(entry)
    return sorted(
        written, key=lambda entry: -max(policy.ranks[lv] for lv in _listed(entry[policy_id]))
    )


def _ordered(
    levels: set[str], party_id: str, party: Policy, existing: list[dict[str, list[str]]]
) -> list[str]:
    for row in existing:
        if set(row.get(party_id, ())) == levels:
            return row[party_id]
    return sorted(levels, key=lambda level: -party.ranks[level])


def _listed(levels: str | list[str]) -> list[str]:
    return [levels] if isinstance(levels, str) else levels
