"""STANAG 4774 confidentiality labels: XML in and out, and their JSON form.

A label names its policy (``PolicyIdentifier``, by name and optionally by the OID URN in
its ``URL``), a classification by name, categories (``TagName``, ``Type``, one
``GenericValue`` per category) and a creation time. The JSON form (``LabelDocument``)
carries exactly that, so label -> JSON -> label loses nothing; anything else in the XML
is refused rather than dropped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from xml.etree.ElementTree import Element, SubElement, indent, register_namespace, tostring

from pydantic import Field, StrictStr, ValidationError

from gsoia.catalogue.categories import Strict
from gsoia.labels_xml.errors import LabelXmlError
from gsoia.labels_xml.names import LABEL_4774, q
from gsoia.labels_xml.safe import local, namespace, read_xml

register_namespace("slab", LABEL_4774)

Text = Annotated[StrictStr, Field(min_length=1, max_length=200)]


class LabelKind(StrEnum):
    """Which label: a plain one, the originator's, or the alternative label of a holder."""

    LABEL = "ConfidentialityLabel"
    ORIGINATOR = "originatorConfidentialityLabel"
    ALTERNATIVE = "alternativeConfidentialityLabel"


class CategoryType(StrEnum):
    """A 4774 category's ``Type``: how a reader's holdings are matched against it."""

    PERMISSIVE = "PERMISSIVE"
    RESTRICTIVE = "RESTRICTIVE"
    INFORMATIVE = "INFORMATIVE"


class LabelCategory(Strict):
    """One ``Category``: a tag and the categories of it the label carries."""

    tag: Text
    type: CategoryType
    values: Annotated[list[Text], Field(max_length=1000)]


class LabelDocument(Strict):
    """A STANAG 4774 label as JSON (what ``gsoia label parse`` prints)."""

    kind: LabelKind = LabelKind.ORIGINATOR
    policy: Text
    policy_uri: Text | None = None
    """``urn:oid:1.3.26.1.3.1``: the policy by its object identifier."""
    classification: Text
    categories: Annotated[list[LabelCategory], Field(max_length=100)] = Field(default_factory=list)
    created: Text | None = None
    """``CreationDateTime`` as written (ISO 8601)."""

    @property
    def policy_oid(self) -> str | None:
        uri = self.policy_uri or ""
        return uri.removeprefix("urn:oid:") if uri.startswith("urn:oid:") else None


_KINDS = {kind.value.lower(): kind for kind in LabelKind}


def read_label(data: bytes) -> LabelDocument:
    """A 4774 label from its XML; anything not understood refuses it, naming the element."""
    root = read_xml(data, "label")
    return label_from_element(root)


def label_from_element(root: Element) -> LabelDocument:
    kind = _KINDS.get(local(root.tag).lower())
    if kind is None or namespace(root.tag) != LABEL_4774:
        raise LabelXmlError.of(local(root.tag), f"not a confidentiality label of {LABEL_4774}")
    info: Element | None = None
    created: str | None = None
    for child in root:
        name = local(child.tag)
        if name == "ConfidentialityInformation" and info is None:
            info = child
        elif name == "CreationDateTime" and created is None:
            created = (child.text or "").strip()
        else:
            raise LabelXmlError.of(f"{kind.value}.{name}", "not understood by gsoia (refused)")
    if info is None:
        raise LabelXmlError.of(kind.value, "no ConfidentialityInformation")
    fields = _information(info)
    try:
        return LabelDocument(kind=kind, created=created, **fields)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LabelXmlError.of(f"ConfidentialityInformation.{where}", str(first["msg"])) from e


def _information(info: Element) -> dict[str, object]:
    fields: dict[str, object] = {}
    categories = []
    for child in info:
        name = local(child.tag)
        place = f"ConfidentialityInformation.{name}"
        if name == "PolicyIdentifier" and "policy" not in fields:
            fields["policy"] = (child.text or "").strip()
            if child.get("URL") is not None:
                fields["policy_uri"] = child.get("URL")
        elif name == "Classification" and "classification" not in fields:
            fields["classification"] = (child.text or "").strip()
        elif name == "Category":
            categories.append(_category(child))
        else:
            raise LabelXmlError.of(place, "not understood by gsoia, or repeated (refused)")
    for needed in ("policy", "classification"):
        if needed not in fields:
            raise LabelXmlError.of("ConfidentialityInformation", f"no {needed.title()}")
    fields["categories"] = categories
    return fields


def _category(element: Element) -> dict[str, object]:
    tag = element.get("TagName", "")
    values = []
    for child in element:
        if local(child.tag) != "GenericValue":
            where = f"Category[{tag}].{local(child.tag)}"
            raise LabelXmlError.of(where, "not understood by gsoia (refused)")
        values.append((child.text or "").strip())
    kind = element.get("Type", "")
    if kind not in CategoryType.__members__:
        raise LabelXmlError.of(f"Category[{tag}]@Type", f"'{kind}' is not a category type")
    return {"tag": tag, "type": kind, "values": values}


def write_label(label: LabelDocument) -> bytes:
    """The label's XML (UTF-8, with an XML declaration)."""
    root = label_element(label)
    indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode()


def label_element(label: LabelDocument) -> Element:
    """The label as an element, to write alone or inside another document."""
    root = Element(q(LABEL_4774, label.kind.value))
    info = SubElement(root, q(LABEL_4774, "ConfidentialityInformation"))
    policy = SubElement(info, q(LABEL_4774, "PolicyIdentifier"))
    policy.text = label.policy
    if label.policy_uri is not None:
        policy.set("URL", label.policy_uri)
    SubElement(info, q(LABEL_4774, "Classification")).text = label.classification
    for category in label.categories:
        element = SubElement(
            info, q(LABEL_4774, "Category"), {"TagName": category.tag, "Type": category.type}
        )
        for value in category.values:
            SubElement(element, q(LABEL_4774, "GenericValue")).text = value
    if label.created is not None:
        SubElement(root, q(LABEL_4774, "CreationDateTime")).text = label.created
    return root
