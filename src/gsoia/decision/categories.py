"""A label's security categories, decided as the standard does (docs/decision.md,
"Categories"): a restrictive tag's categories must all be held by the subject, a
permissive tag's at least one, an informative tag's never decide. A label naming a tag or
category its originator's policy lacks, a category excluded at its classification, a
restrictive tag without categories, or several categories of a single-selection tag is
malformed: not a decision.

The categories are keyed by the tag's name (the ``TagName`` of a STANAG 4774 label); the
subject's are those it holds, keyed likewise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gsoia.catalogue.categories import CategoryKind
from gsoia.catalogue.model import Catalogue, Policy
from gsoia.errors import Problem

Categories = Mapping[str, Sequence[str]]


def lacking(policy: Policy, categories: Categories, held: Categories) -> list[str]:
    """What the subject lacks of the label's categories, each as the explanation names it:
    ``ATOMAL (Additional Sensitivity)``, ``one of JPN, CHE (Releasable To)``."""
    found: list[str] = []
    tags = policy.tags
    for tag_name, values in categories.items():
        rule = tags[tag_name].kind.rule  # INVARIANT: checked by category_problems
        own = held.get(tag_name, ())
        if rule == CategoryKind.RESTRICTIVE:
            found += [f"{value} ({tag_name})" for value in values if value not in own]
        elif rule == CategoryKind.PERMISSIVE and values and not any(v in own for v in values):
            found.append(f"one of {', '.join(values)} ({tag_name})")
    return found


def category_problems(
    policy: Policy, classification: str, categories: Categories, place: str
) -> list[Problem]:
    """Every category of a label its policy does not allow at ``classification``."""
    found: list[Problem] = []
    tags = policy.tags
    for tag_name, values in categories.items():
        at = f"{place}.{tag_name}"
        tag = tags.get(tag_name)
        if tag is None:
            found.append(Problem(at, f"unknown category tag '{tag_name}'"))
            continue
        if not values and tag.kind.rule == CategoryKind.RESTRICTIVE:
            found.append(Problem(at, "a restrictive category with no value"))
        if tag.single and len(values) > 1:
            found.append(Problem(at, "the tag allows one category only"))
        known = {value.name: value for value in tag.values}
        for i, name in enumerate(values):
            value = known.get(name)
            if value is None:
                found.append(Problem(f"{at}[{i}]", f"unknown category '{name}' of {tag_name}"))
            elif name in values[:i]:
                found.append(Problem(f"{at}[{i}]", f"category '{name}' is listed twice"))
            elif classification in value.excluded:
                found.append(Problem(f"{at}[{i}]", f"'{name}' is excluded at {classification}"))
    return found


def held_problems(catalogue: Catalogue, held: Categories, place: str) -> list[Problem]:
    """Categories a subject holds that no policy of the catalogue defines."""
    found: list[Problem] = []
    for tag_name, values in held.items():
        names = {
            value.name
            for policy in catalogue.policies.values()
            if tag_name in policy.tags
            for value in policy.tags[tag_name].values
        }
        if not names:
            found.append(Problem(f"{place}.{tag_name}", f"unknown category tag '{tag_name}'"))
            continue
        found += [
            Problem(f"{place}.{tag_name}[{i}]", f"unknown category '{value}' of {tag_name}")
            for i, value in enumerate(values)
            if value not in names
        ]
    return found
