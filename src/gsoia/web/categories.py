"""The security categories' fields of the web forms (docs/decision.md, "Categories").

The new-item form offers a field per category tag of the originator's policy (its
``Releasable To`` tag is the form's "Releasable to" field already): checkboxes of its
categories, or a select for a single-selection tag. The accounts page offers one per tag of
any policy, as checkboxes (a holder may hold several categories of a single-selection tag).
Every box is named ``categories`` with the value ``TAG=VALUE``, as the CLI's ``--category``:
a tag or category the catalogue lacks is refused by the node, naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gsoia.catalogue.model import Catalogue, Policy
from gsoia.errors import RequestError
from gsoia.labels_xml.releasable import RELEASABLE_TO
from gsoia.node.categories import from_options

FIELD = "categories"
"""The form field every category box is named."""
MAX_CHOSEN = 200
"""The most boxes a form may tick (more: refused, none dropped)."""


@dataclass(frozen=True)
class Choice:
    """One category of a tag, and the levels a label may not carry it at."""

    name: str
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagField:
    """A tag's field: its categories, and whether one at most is chosen (a select)."""

    name: str
    rule: str
    """restrictive, permissive or informative: how a decision reads the tag."""
    choices: tuple[Choice, ...]
    single: bool = False


def label_fields(policy: Policy) -> list[TagField]:
    """The new-item form's fields: the policy's tags, but ``Releasable To``."""
    return [
        TagField(
            tag.name,
            tag.kind.rule,
            tuple(Choice(v.name, tuple(v.excluded)) for v in tag.values if not v.obsolete),
            tag.single,
        )
        for tag in policy.tags.values()
        if tag.name != RELEASABLE_TO
    ]


def holder_fields(catalogue: Catalogue) -> list[TagField]:
    """The accounts page's fields: every tag of any policy, as checkboxes, the categories
    of the policies that share its name together (a holder's are kept by tag name)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for policy in catalogue.policies.values():
        for tag in policy.tags.values():
            _, names = found.setdefault(tag.name, (tag.kind.rule, []))
            names += [v.name for v in tag.values if v.name not in names]
    return [
        TagField(name, rule, tuple(Choice(n) for n in names))
        for name, (rule, names) in found.items()
    ]


def chosen(given: Iterable[str]) -> dict[str, list[str]]:
    """The categories a form's ``categories`` boxes name (an empty one, a select's "none",
    left out); ``RequestError`` naming each that is not ``TAG=VALUE``, or all if there
    are more than ``MAX_CHOSEN``."""
    texts = [text for text in given if text]
    if len(texts) > MAX_CHOSEN:
        raise RequestError.of(FIELD, f"at most {MAX_CHOSEN} categories")
    return from_options(texts, FIELD)


def field_of(place: str) -> str | None:
    """The tag's field a problem's place names (``label.categories.Mission[0]`` →
    ``categories.Mission``), or None if it names no tag."""
    rest = place.removeprefix("label.")
    if not rest.startswith(f"{FIELD}."):
        return None
    if rest.endswith("]") and "[" in rest:
        rest = rest[: rest.rindex("[")]
    return rest


def options(categories: dict[str, Sequence[str]] | None) -> list[str]:
    """Categories as the boxes' values (``TAG=VALUE``), to tick them."""
    return [f"{tag}={value}" for tag, values in (categories or {}).items() for value in values]
