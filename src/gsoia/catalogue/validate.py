"""The rules that relate one part of a catalogue to another (docs/decision.md §1).

A catalogue is rejected if it references an unknown policy, level or group, repeats an
id, lists a level twice in one equivalence row, puts one level in two rows of one
agreement, maps a level of one party to different levels of another in two agreements
that share both parties, or has events out of date order. Every problem is reported with
its place; the caller refuses the whole catalogue if there is any.
"""

from __future__ import annotations

from itertools import combinations

from gsoia.catalogue.model import ROW_SOURCE, Agreement, Catalogue, Policy
from gsoia.errors import Problem

ARTICLE_KEYS = frozenset(
    {
        "NOT_RELEASABLE",
        "THIRD_PARTY",
        "NO_AGREEMENT",
        "OUT_OF_SCOPE",
        "NO_EQUIVALENT",
        "CLEARANCE",
        "NEED_TO_KNOW",
        "SURVIVAL",
        "MARKING",
    }
)
"""What an agreement's ``articles`` may cite: the reason codes, survival and marking."""


def problems_of(catalogue: Catalogue) -> list[Problem]:
    """Every cross-reference problem of ``catalogue``, in document order."""
    found: list[Problem] = []
    found += _policy_problems(catalogue)
    found += _group_problems(catalogue)
    seen_ids: dict[str, int] = {}
    for i, agreement in enumerate(catalogue.agreements):
        place = f"agreements[{i}]"
        if agreement.id in seen_ids:
            found.append(
                Problem(
                    f"{place}.id",
                    f"agreement id '{agreement.id}' repeats agreements[{seen_ids[agreement.id]}]",
                )
            )
        else:
            seen_ids[agreement.id] = i
        found += _agreement_problems(catalogue, agreement, place)
    if not found:  # conflicts are only meaningful between agreements that are sound
        found += _conflicts(catalogue)
    return found


def _policy_problems(catalogue: Catalogue) -> list[Problem]:
    found = []
    for policy_id, policy in catalogue.policies.items():
        first: dict[str, int] = {}
        for j, level in enumerate(policy.levels):
            if level.id in first:
                found.append(
                    Problem(
                        f"policies.{policy_id}.levels[{j}]",
                        f"level id '{level.id}' repeats levels[{first[level.id]}]",
                    )
                )
            first.setdefault(level.id, j)
        found += _category_problems(f"policies.{policy_id}", policy)
    return found


def _category_problems(place: str, policy: Policy) -> list[Problem]:
    """A tag named twice in the policy, a category named twice (or a LACV used twice) in a
    tag, an excluded level the policy does not have or names twice."""
    found = []
    tags_seen: set[str] = set()
    for i, tag_set in enumerate(policy.categories):
        for j, tag in enumerate(tag_set.tags):
            at = f"{place}.categories[{i}].tags[{j}]"
            if tag.name in tags_seen:
                found.append(Problem(f"{at}.name", f"tag '{tag.name}' is named twice"))
            tags_seen.add(tag.name)
            names: set[str] = set()
            lacvs: set[int] = set()
            for k, value in enumerate(tag.values):
                here = f"{at}.values[{k}]"
                if value.name in names:
                    found.append(Problem(here, f"category '{value.name}' is named twice"))
                if value.lacv in lacvs:
                    found.append(Problem(here, f"lacv {value.lacv} is used twice"))
                names.add(value.name)
                lacvs.add(value.lacv)
                for m, level in enumerate(value.excluded):
                    if policy.rank(level) is None:
                        found.append(Problem(f"{here}.excluded[{m}]", f"unknown level '{level}'"))
                    elif level in value.excluded[:m]:
                        found.append(Problem(f"{here}.excluded[{m}]", f"'{level}' is listed twice"))
    return found


def _group_problems(catalogue: Catalogue) -> list[Problem]:
    found = []
    for name, members in catalogue.groups.items():
        if name in catalogue.policies:
            found.append(Problem(f"groups.{name}", f"group name '{name}' is already a policy id"))
        seen: set[str] = set()
        for j, member in enumerate(members):
            place = f"groups.{name}[{j}]"
            if member not in catalogue.policies:
                found.append(Problem(place, f"unknown policy '{member}'"))
            elif member in seen:
                found.append(Problem(place, f"policy '{member}' is listed twice"))
            seen.add(member)
    return found


def _agreement_problems(catalogue: Catalogue, agreement: Agreement, place: str) -> list[Problem]:
    found = []
    parties: set[str] = set()
    for j, party in enumerate(agreement.parties):
        if party not in catalogue.policies:
            hint = " (a group cannot be a party)" if party in catalogue.groups else ""
            found.append(Problem(f"{place}.parties[{j}]", f"unknown policy '{party}'{hint}"))
        elif party in parties:
            found.append(Problem(f"{place}.parties[{j}]", f"party '{party}' is listed twice"))
        parties.add(party)

    for j in range(1, len(agreement.events)):
        before, event = agreement.events[j - 1], agreement.events[j]
        if event.date < before.date:
            found.append(
                Problem(
                    f"{place}.events[{j}]",
                    f"dated {event.date}, before events[{j - 1}] ({before.date}):"
                    " events must be in date order",
                )
            )

    for key in agreement.articles:
        if key not in ARTICLE_KEYS:
            found.append(
                Problem(
                    f"{place}.articles.{key}",
                    f"unknown key '{key}' (one of {', '.join(sorted(ARTICLE_KEYS))})",
                )
            )

    in_row: dict[tuple[str, str], int] = {}
    for r, row in enumerate(agreement.equivalence):
        row_place = f"{place}.equivalence[{r}]"
        named = 0
        for party, levels in row.items():
            if party == ROW_SOURCE:
                if not isinstance(levels, str):
                    found.append(Problem(f"{row_place}.source", "must be a string"))
                continue
            named += 1
            if party not in catalogue.policies:
                found.append(Problem(row_place, f"unknown policy '{party}'"))
                continue
            if party not in agreement.parties:
                found.append(Problem(row_place, f"'{party}' is not a party to {agreement.id}"))
                continue
            policy = catalogue.policies[party]
            listed = [levels] if isinstance(levels, str) else levels
            if not listed:
                found.append(Problem(row_place, f"no level given for {party}"))
            in_this_row: set[str] = set()
            for level in listed:
                if policy.rank(level) is None:
                    found.append(Problem(row_place, f"unknown level '{level}' of {party}"))
                elif level in in_this_row:
                    found.append(
                        Problem(row_place, f"level '{level}' of {party} is listed twice in the row")
                    )
                elif (party, level) in in_row:
                    found.append(
                        Problem(
                            row_place,
                            f"level '{level}' of {party} appears in two rows"
                            f" (also equivalence[{in_row[(party, level)]}])",
                        )
                    )
                else:
                    in_row[(party, level)] = r
                in_this_row.add(level)
        if named < 2:
            found.append(Problem(row_place, "a row must name levels of at least two parties"))
    return found


def _conflicts(catalogue: Catalogue) -> list[Problem]:
    """Two agreements that share both parties must map a level to the same equivalent."""
    found = []
    agreements = catalogue.agreements
    for (i, first), (j, second) in combinations(enumerate(agreements), 2):
        shared = [p for p in first.parties if p in second.parties]
        for party, into in ((a, b) for a in shared for b in shared if a != b):
            for level in catalogue.policies[party].levels:
                here = first.equivalent(party, level.id, into)
                there = second.equivalent(party, level.id, into)
                if here is not None and there is not None and here != there:
                    found.append(
                        Problem(
                            f"agreements[{j}].equivalence",
                            f"maps {party} {level.id} to {into} {there}, but agreements[{i}]"
                            f" ({first.id}) maps it to {into} {here}",
                        )
                    )
    return found
