"""A catalogue policy written as an Open XML SPIF (schema 2.1) that ``read_spif`` reads back
to the same policy.

The catalogue ids of the policy and its levels, and a level's Latin name, have no place in
the SPIF's own elements: they go in gsoia's element of the SPIF's ``extensions``
(namespace ``urn:gsoia:spif:1``), which other SPIF readers skip. A policy without an
object identifier is written under ``2.25.<n>``, the arc of UUIDs, with a UUID derived
from its id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, indent, register_namespace, tostring

from gsoia.catalogue.categories import CategoryKind, CategoryTag, Marking, Qualifier
from gsoia.catalogue.model import Policy
from gsoia.labels_xml.names import GSOIA, SPIF, XML_LANG, q

register_namespace("spif", SPIF)
register_namespace("gsoia", GSOIA)

_TAG_TYPES = {
    CategoryKind.RESTRICTIVE: ("restrictive", None),
    CategoryKind.PERMISSIVE: ("permissive", None),
    CategoryKind.ENUMERATED_RESTRICTIVE: ("enumerated", "restrictive"),
    CategoryKind.ENUMERATED_PERMISSIVE: ("enumerated", "permissive"),
    CategoryKind.INFORMATIVE: ("tagType7", None),
}


@dataclass(frozen=True)
class PolicyEquivalence:
    """The levels of another policy equal to each level of a policy, by level id (what the
    SPIF's ``equivalentPolicies`` and ``equivalentClassification`` say)."""

    policy_id: str
    policy: Policy
    levels: dict[str, list[str]]


def policy_oid(policy_id: str, policy: Policy) -> str:
    """The policy's object identifier, or one derived from its id under ``2.25``."""
    if policy.oid is not None:
        return policy.oid
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'urn:gsoia:policy:{policy_id}').int}"


def write_spif(
    policy_id: str, policy: Policy, equivalents: Sequence[PolicyEquivalence] = ()
) -> bytes:
    """The SPIF of ``policy`` (UTF-8, with an XML declaration), with the levels of other
    policies equal to its own (``spif_equivalence.equivalences``)."""
    root = Element(q(SPIF, "SPIF"), {"schemaVersion": "2.1"})
    SubElement(
        root,
        q(SPIF, "securityPolicyId"),
        {"name": policy.name, "id": policy_oid(policy_id, policy)},
    )
    classes = SubElement(root, q(SPIF, "securityClassifications"))
    for position, level in enumerate(policy.levels):
        lacv = level.lacv if level.lacv is not None else position + 1
        element = SubElement(
            classes,
            q(SPIF, "securityClassification"),
            {"name": level.name, "lacv": str(lacv), "hierarchy": str(position + 1)},
        )
        _write_markings(element, level.markings)
        for equal in equivalents:
            for other_level in equal.levels.get(level.id, []):
                SubElement(
                    element,
                    q(SPIF, "equivalentClassification"),
                    {
                        "policyRef": policy_oid(equal.policy_id, equal.policy),
                        "lacv": str(_lacv(equal.policy, other_level)),
                        "applied": "both",
                    },
                )
    _write_markings(classes, policy.markings)
    if policy.categories:
        holder = SubElement(root, q(SPIF, "securityCategoryTagSets"))
        for tag_set in policy.categories:
            element = SubElement(
                holder, q(SPIF, "securityCategoryTagSet"), {"name": tag_set.name, "id": tag_set.oid}
            )
            for tag in tag_set.tags:
                _write_tag(element, tag, {level.id: level.name for level in policy.levels})
    if equivalents:
        holder = SubElement(root, q(SPIF, "equivalentPolicies"))
        for equal in equivalents:
            SubElement(
                holder,
                q(SPIF, "equivalentPolicy"),
                {"id": policy_oid(equal.policy_id, equal.policy), "name": equal.policy.name},
            )
    extensions = SubElement(root, q(SPIF, "extensions"))
    own = SubElement(extensions, q(GSOIA, "catalogue"), {"policy": policy_id})
    if policy.source is not None:
        own.set("source", policy.source)
    for level in policy.levels:
        attributes = {"name": level.name, "id": level.id}
        if level.latin is not None:
            attributes["latin"] = level.latin
        SubElement(own, q(GSOIA, "level"), attributes)
    indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode()


def _lacv(policy: Policy, level_id: str) -> int:
    rank = policy.ranks[level_id]
    lacv = policy.levels[rank].lacv
    return lacv if lacv is not None else rank + 1


def _write_tag(parent: Element, tag: CategoryTag, level_names: dict[str, str]) -> None:
    tag_type, enum_type = _TAG_TYPES[tag.kind]
    attributes = {"name": tag.name, "tagType": tag_type}
    if enum_type is not None:
        attributes["enumType"] = enum_type
    if tag.encoding is not None:
        attributes["tag7Encoding"] = tag.encoding
    attributes["singleSelection"] = "true" if tag.single else "false"
    element = SubElement(parent, q(SPIF, "securityCategoryTag"), attributes)
    _write_markings(element, tag.markings)
    for value in tag.values:
        value_attributes = {"name": value.name, "lacv": str(value.lacv)}
        if value.obsolete:
            value_attributes["obsolete"] = "true"
        category = SubElement(element, q(SPIF, "tagCategory"), value_attributes)
        _write_markings(category, value.markings)
        for level_id in value.excluded:
            SubElement(category, q(SPIF, "excludedClass")).text = level_names[level_id]
    _write_qualifiers(element, tag.qualifiers)


def _write_markings(parent: Element, markings: list[Marking]) -> None:
    for marking in markings:
        attributes = {}
        if marking.lang is not None:
            attributes[XML_LANG] = marking.lang
        if marking.phrase is not None:
            attributes["phrase"] = marking.phrase
        data = SubElement(parent, q(SPIF, "markingData"), attributes)
        for code in marking.codes:
            SubElement(data, q(SPIF, "code")).text = code.value


def _write_qualifiers(parent: Element, qualifiers: list[Qualifier]) -> None:
    by_code: dict[str | None, list[Qualifier]] = {}
    for qualifier in qualifiers:
        by_code.setdefault(qualifier.code, []).append(qualifier)
    for code, group in by_code.items():
        holder = SubElement(
            parent, q(SPIF, "markingQualifier"), {"markingCode": code} if code else {}
        )
        for qualifier in group:
            attributes = {"markingQualifier": qualifier.text, "qualifierCode": qualifier.kind}
            if qualifier.lang is not None:
                attributes[XML_LANG] = qualifier.lang
            SubElement(holder, q(SPIF, "qualifier"), attributes)
