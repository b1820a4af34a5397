"""A STANAG 4774 label checked against the SPIF of the policy it names.

Refused, naming the element: another policy; an unknown classification; an unknown tag,
a type other than the tag's, an unknown category; a category excluded at the label's
classification; a restrictive tag with no category; two categories of a single-selection
tag; a tag or a category repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

from gsoia.catalogue.categories import CategoryKind, CategoryTag
from gsoia.catalogue.model import Level, Policy
from gsoia.labels_xml.errors import LabelXmlError
from gsoia.labels_xml.label4774 import CategoryType, LabelDocument

_TYPE_OF = {
    "restrictive": CategoryType.RESTRICTIVE,
    "permissive": CategoryType.PERMISSIVE,
    "informative": CategoryType.INFORMATIVE,
}


@dataclass(frozen=True)
class CheckedLabel:
    """A label valid under its policy: the level, and each tag's categories."""

    level: Level
    categories: dict[str, list[str]]


def check_label(label: LabelDocument, policy: Policy) -> CheckedLabel:
    """The label read under ``policy``, or a ``LabelXmlError`` naming the element."""
    _check_policy(label, policy)
    level = next((lv for lv in policy.levels if lv.name == label.classification), None)
    if level is None:
        raise LabelXmlError.of(
            "Classification", f"'{label.classification}' is not a classification of {policy.name}"
        )
    categories: dict[str, list[str]] = {}
    for category in label.categories:
        place = f"Category[{category.tag}]"
        tag = policy.tags.get(category.tag)
        if tag is None:
            raise LabelXmlError.of(place, f"unknown tag of {policy.name}")
        if category.tag in categories:
            raise LabelXmlError.of(place, "the tag is repeated")
        if _TYPE_OF[tag.kind.rule] != category.type:
            raise LabelXmlError.of(
                f"{place}@Type", f"{category.type}, but the tag is {_TYPE_OF[tag.kind.rule]}"
            )
        categories[category.tag] = _values(category.values, tag, level, place)
    return CheckedLabel(level, categories)


def _check_policy(label: LabelDocument, policy: Policy) -> None:
    oid = label.policy_oid
    if label.policy_uri is not None and oid is None:
        raise LabelXmlError.of("PolicyIdentifier@URL", "not an OID URN (urn:oid:...)")
    if oid is not None and oid != policy.oid:
        raise LabelXmlError.of("PolicyIdentifier@URL", f"{oid} is not the policy {policy.oid}")
    if label.policy != policy.name:
        raise LabelXmlError.of("PolicyIdentifier", f"'{label.policy}' is not {policy.name}")


def _values(values: list[str], tag: CategoryTag, level: Level, place: str) -> list[str]:
    if not values and tag.kind.rule == CategoryKind.RESTRICTIVE:
        raise LabelXmlError.of(place, "a restrictive category with no value")
    if tag.single and len(values) > 1:
        raise LabelXmlError.of(place, "the tag allows one category only")
    known = {value.name: value for value in tag.values}
    seen: list[str] = []
    for name in values:
        where = f"{place}.GenericValue[{name}]"
        value = known.get(name)
        if value is None:
            raise LabelXmlError.of(where, f"unknown category of {tag.name}")
        if name in seen:
            raise LabelXmlError.of(where, "repeated")
        if level.id in value.excluded:
            raise LabelXmlError.of(where, f"excluded at {level.name}")
        seen.append(name)
    return seen
