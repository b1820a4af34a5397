"""An item's label as STANAG 4774 XML, and a 4774 label taken as an item's label.

Out: the originator's label (``originatorConfidentialityLabel``: the originator's policy
by name and OID, the classification by name) and, for a copy held by another nation under
an agreement, the alternative label in the holder's policy (its equivalent level), bound
to the item in an ADatP-4778 ``MetadataBindingContainer``. In: a 4774 label naming a
policy of the catalogue (by OID, name or id), checked against that policy.

Releasability travels as the policy's permissive tag ``Releasable To`` (NATO's SPIF):
its categories, nations and groups of the catalogue, are the item's ``releasable_to``,
and an item's ``releasable_to`` is written back as that tag where the policy has it and
every name is a category of it allowed at the item's level. Other categories are the
item's security categories (its label's ``categories``), decided against those its
readers hold (docs/labels.md, docs/decision.md "Categories"), and written back as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, SubElement, indent, register_namespace, tostring

from gsoia.catalogue.categories import CategoryKind
from gsoia.catalogue.model import Catalogue, Policy
from gsoia.errors import InputError, Problem
from gsoia.labels_xml import LabelXmlError
from gsoia.labels_xml.label4774 import (
    CategoryType,
    LabelCategory,
    LabelDocument,
    LabelKind,
    label_element,
    read_label,
)
from gsoia.labels_xml.label_check import check_label
from gsoia.labels_xml.names import BINDING_4778, q
from gsoia.labels_xml.releasable import RELEASABLE_TO, releasable_values
from gsoia.labels_xml.spif_write import policy_oid

register_namespace("mb", BINDING_4778)

MAX_LABEL_XML = 64 * 1024
"""The largest ``label_xml`` taken with an item."""


def label_from_xml(catalogue: Catalogue, text: str, place: str) -> dict[str, Any]:
    """The item label (docs/decision.md §2) a 4774 label stands for, or an ``InputError``
    placed under ``place`` naming the element."""
    return label_from_document(catalogue, _read_text(text, place), place)


def _read_text(text: str, place: str) -> LabelDocument:
    if len(text) > MAX_LABEL_XML:
        raise InputError.of(place, f"longer than {MAX_LABEL_XML} characters")
    try:
        return read_label(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InputError.of(place, "not valid Unicode text") from e
    except LabelXmlError as e:
        raise InputError([Problem(f"{place}: {p.place}", p.reason) for p in e.problems]) from e


def label_with_xml(
    catalogue: Catalogue, fields: Mapping[str, Any], text: str, place: str
) -> tuple[dict[str, Any], str]:
    """A label given both as fields and as a 4774 label (``text``): the fields, with what
    the 4774 label stands for filled in where they lack it; a field it contradicts is
    refused (releasability compared as a set, and only where the 4774 label carries it: a
    policy without the ``Releasable To`` tag cannot say it). With it, the 4774 label as
    gsoia writes it back: all it understood (its creation time too), nothing else."""
    document = _read_text(text, place)
    from_xml = label_from_document(catalogue, document, place)
    label = dict(fields)
    for key, value in from_xml.items():
        given = label.setdefault(key, value)
        same = _same_names(given, value) if key == "releasable_to" else given == value
        if not same:
            raise InputError.of(place, f"stands for {key} {value}, not {str(given)[:100]}")
    return label, tostring(label_element(document), encoding="unicode")


def _same_names(given: Any, names: list[str]) -> bool:
    """Whether ``given`` (as sent: any JSON) lists the same names as ``names``."""
    if not isinstance(given, list) or not all(isinstance(name, str) for name in given):
        return False
    return set(given) == set(names)


def originator_label_text(catalogue: Catalogue, label: Mapping[str, Any]) -> str:
    """A checked label's originator label as 4774 XML text (no XML declaration)."""
    originator, level_id = label["originator"], label["classification"]
    policy = catalogue.policies[originator]
    released = _releasable(policy, level_id, label.get("releasable_to"))
    categories = [*_categories(policy, label.get("categories")), *released]
    document = _label(catalogue, LabelKind.ORIGINATOR, originator, level_id, categories)
    return tostring(label_element(document), encoding="unicode")


def label_from_document(catalogue: Catalogue, label: LabelDocument, place: str) -> dict[str, Any]:
    """The item label a read 4774 label stands for (see ``label_from_xml``)."""
    try:
        policy_id, policy = _policy_of(catalogue, label)
        named = policy.model_copy(update={"oid": policy_oid(policy_id, policy)})
        checked = check_label(label, named)
    except LabelXmlError as e:
        raise InputError([Problem(f"{place}: {p.place}", p.reason) for p in e.problems]) from e
    item_label: dict[str, Any] = {"originator": policy_id, "classification": checked.level.id}
    categories: dict[str, list[str]] = {}
    for tag_name, values in checked.categories.items():
        at = f"{place}: Category[{tag_name}]"
        if tag_name != RELEASABLE_TO:
            if values:
                categories[tag_name] = list(values)
            continue
        if policy.tags[tag_name].kind.rule != CategoryKind.PERMISSIVE:
            raise InputError.of(at, "taken as releasability only when permissive")
        for value in values:
            if value not in catalogue.names_known:
                raise InputError.of(
                    f"{at}.GenericValue[{value}]", "not a nation or group of the catalogue"
                )
        if values:
            item_label["releasable_to"] = list(values)
    if categories:
        item_label["categories"] = categories
    return item_label


def _policy_of(catalogue: Catalogue, label: LabelDocument) -> tuple[str, Policy]:
    oid = label.policy_oid
    for policy_id, policy in catalogue.policies.items():
        if oid is not None:
            if policy_oid(policy_id, policy) == oid:
                return policy_id, policy
        elif label.policy in (policy.name, policy_id):
            return policy_id, policy
    named = f"OID {oid}" if oid is not None else f"'{label.policy}'"
    raise LabelXmlError.of("PolicyIdentifier", f"no policy {named} in the catalogue")


def item_labels(catalogue: Catalogue, item: Mapping[str, Any]) -> list[LabelDocument]:
    """The originator's label of an item (``read_item``'s view) and, for a copy held by
    another nation, the alternative label in the holder's policy."""
    label = item["label"]
    originator, level_id = label["originator"], label["classification"]
    policy = catalogue.policies[originator]
    released = _releasable(policy, level_id, label.get("releasable_to"))
    categories = [*_categories(policy, label.get("categories")), *released]
    labels = [_label(catalogue, LabelKind.ORIGINATOR, originator, level_id, categories)]
    holder = item.get("custodian") or originator
    if holder != originator:
        held = _equivalent(catalogue, originator, level_id, holder)
        if held is not None:
            labels.append(_label(catalogue, LabelKind.ALTERNATIVE, holder, held))
    return labels


def item_label_xml(catalogue: Catalogue, item: Mapping[str, Any]) -> bytes:
    """The labels of an item as a reader sees it (``read_item``'s view) bound to it."""
    labels = item_labels(catalogue, item)
    container = Element(q(BINDING_4778, "MetadataBindingContainer"))
    binding = SubElement(container, q(BINDING_4778, "MetadataBinding"))
    for document in labels:
        SubElement(binding, q(BINDING_4778, "Metadata")).append(label_element(document))
    SubElement(binding, q(BINDING_4778, "DataReference"), {"URI": f"urn:gsoia:item:{item['id']}"})
    indent(container)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + tostring(container, encoding="unicode").encode()
    )


def _label(
    catalogue: Catalogue,
    kind: LabelKind,
    policy_id: str,
    level_id: str,
    categories: list[LabelCategory] | None = None,
) -> LabelDocument:
    policy = catalogue.policies[policy_id]
    level = policy.levels[policy.ranks[level_id]]
    return LabelDocument(
        kind=kind,
        policy=policy.name,
        policy_uri=f"urn:oid:{policy_oid(policy_id, policy)}",
        classification=level.name,
        categories=categories or [],
    )


def _releasable(policy: Policy, level_id: str, names: list[str] | None) -> list[LabelCategory]:
    """An item's ``releasable_to`` as its policy's ``Releasable To`` category, if the
    policy can say it (``releasable_values``)."""
    values = releasable_values(policy, level_id, names)
    if not values:
        return []
    return [LabelCategory(tag=RELEASABLE_TO, type=CategoryType.PERMISSIVE, values=values)]


_TYPES = {
    CategoryKind.RESTRICTIVE.value: CategoryType.RESTRICTIVE,
    CategoryKind.PERMISSIVE.value: CategoryType.PERMISSIVE,
    CategoryKind.INFORMATIVE.value: CategoryType.INFORMATIVE,
}


def _categories(policy: Policy, categories: Mapping[str, list[str]] | None) -> list[LabelCategory]:
    """A label's security categories (checked against ``policy``) as 4774 categories."""
    return [
        LabelCategory(tag=tag, type=_TYPES[policy.tags[tag].kind.rule], values=list(values))
        for tag, values in (categories or {}).items()
        if values
    ]


def _equivalent(catalogue: Catalogue, originator: str, level_id: str, holder: str) -> str | None:
    """The holder's level equal to the originator's under the agreement with the fewest
    parties, then the smallest id, among those with a row for it, whatever its status or
    scope: a held copy stays protected after its agreement ends."""
    shared = [a for a in catalogue.agreements if {originator, holder} <= set(a.parties)]
    for agreement in sorted(shared, key=lambda a: (len(a.parties), a.id)):
        found = agreement.equivalent(originator, level_id, holder)
        if found is not None:
            return found
    return None
