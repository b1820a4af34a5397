"""An item as an ADatP-4778 binding: its data, its labels, and the node's XML signature
over both; and such a binding read back, its signature checked before anything is used.

The document (namespace ``urn:nato:stanag:4778:bindinginformation:1:0``)::

    <mb:BindingInformation>
      <mb:MetadataBindingContainer><mb:MetadataBinding>
        <mb:Metadata><slab:originatorConfidentialityLabel>…</mb:Metadata>
        <mb:Metadata><slab:alternativeConfidentialityLabel>…</mb:Metadata>  (a held copy)
        <mb:DataReference URI="#data"/>
      </mb:MetadataBinding></mb:MetadataBindingContainer>
      <gsoia:Handling area="…">                      (what a 4774 label cannot say)
        <gsoia:NeedToKnow>…</gsoia:NeedToKnow> <gsoia:ReleasableTo>…</gsoia:ReleasableTo>
      </gsoia:Handling>
      <gsoia:Data Id="data" item="…" title="…">base64 of the content</gsoia:Data>
      <ds:Signature>…</ds:Signature>
    </mb:BindingInformation>

The signature is an enveloped XML signature (``http://www.w3.org/2000/09/xmldsig#``) by
the node's Ed25519 key (``http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519``, RFC
9231) over the canonical form (C14N 2.0) of the whole document without the signature, so
that it binds the data and every label; its ``KeyName`` is the signing node's nation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import (
    Element,
    SubElement,
    canonicalize,
    indent,
    register_namespace,
    tostring,
)

from gsoia.crypto.errors import BadSignature
from gsoia.crypto.signing import sign, verify_any
from gsoia.errors import InputError
from gsoia.labels_xml.label4774 import LabelDocument, LabelKind, label_element, label_from_element
from gsoia.labels_xml.names import BINDING_4778, GSOIA, q
from gsoia.labels_xml.releasable import RELEASABLE_TO
from gsoia.labels_xml.safe import local, read_xml
from gsoia.node.labels4774 import item_labels, label_from_document
from gsoia.node.rotation import own_signing_keys

if TYPE_CHECKING:
    from gsoia.node.service import Node
    from gsoia.node.users import User

DSIG = "http://www.w3.org/2000/09/xmldsig#"
C14N2 = "http://www.w3.org/2010/xml-c14n2"
ED25519 = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
MAX_BINDING = 16 * 1024 * 1024
"""The largest binding read: an item's content (8 MiB) in base64, and its labels."""

register_namespace("ds", DSIG)
register_namespace("mb", BINDING_4778)
register_namespace("gsoia", GSOIA)


@dataclass(frozen=True)
class Handling:
    """What an item's label says that its 4774 labels cannot: its subject area, its
    need-to-know topics, and its releasability where the originator's policy has no
    ``Releasable To`` tag that can say it."""

    area: str | None = None
    need_to_know: tuple[str, ...] = ()
    releasable_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Binding:
    """A binding whose signature verified: who signed it, the item, its labels."""

    signer: str
    item_id: str
    title: str
    content: bytes
    labels: list[LabelDocument]
    handling: Handling = Handling()


def write_binding(
    labels: list[LabelDocument],
    item_id: str,
    title: str,
    content: bytes,
    signer: str,
    sign: Callable[[bytes], bytes],
    handling: Handling | None = None,
) -> bytes:
    """The signed binding of an item's content and labels (and its ``handling``)."""
    root = Element(q(BINDING_4778, "BindingInformation"))
    container = SubElement(root, q(BINDING_4778, "MetadataBindingContainer"))
    binding = SubElement(container, q(BINDING_4778, "MetadataBinding"))
    for label in labels:
        SubElement(binding, q(BINDING_4778, "Metadata")).append(label_element(label))
    SubElement(binding, q(BINDING_4778, "DataReference"), {"URI": "#data"})
    if handling is not None and handling != Handling():
        _write_handling(root, handling)
    data = SubElement(root, q(GSOIA, "Data"), {"Id": "data", "item": item_id, "title": title})
    data.text = base64.b64encode(content).decode("ascii")
    indent(root)  # before the digest: the signature covers the document as written
    signed_info = _signed_info(_digest(root))
    signature = SubElement(root, q(DSIG, "Signature"))
    signature.append(signed_info)
    value = sign(_canonical(signed_info))
    SubElement(signature, q(DSIG, "SignatureValue")).text = base64.b64encode(value).decode()
    key_info = SubElement(signature, q(DSIG, "KeyInfo"))
    SubElement(key_info, q(DSIG, "KeyName")).text = signer  # the signature: one line, as signed
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode()


def read_binding(data: bytes, keys_of: Callable[[str], Iterable[bytes]]) -> Binding:
    """A binding, its signature checked with the keys ``keys_of(signer)`` names (none: not
    a signer this node knows) before anything of it is used; else an ``InputError``."""
    root = read_xml(data, "binding", max_bytes=MAX_BINDING, max_text=MAX_BINDING)
    if root.tag != q(BINDING_4778, "BindingInformation"):
        raise InputError.of("binding", f"the root is {local(root.tag)}, not BindingInformation")
    signature = root.find(q(DSIG, "Signature"))
    if signature is None:
        raise InputError.of("binding.Signature", "missing: the binding is not signed")
    signer = (signature.findtext(f"{q(DSIG, 'KeyInfo')}/{q(DSIG, 'KeyName')}") or "").strip()
    signed_info = signature.find(q(DSIG, "SignedInfo"))
    if signed_info is None:
        raise InputError.of("binding.Signature.SignedInfo", "missing")
    root.remove(signature)
    expected = _signed_info(_digest(root))
    if _canonical(signed_info) != _canonical(expected):
        raise InputError.of(
            "binding.Signature.SignedInfo",
            "does not match the document: altered, or signed otherwise than gsoia signs",
        )
    try:
        value = base64.b64decode(signature.findtext(q(DSIG, "SignatureValue")) or "", validate=True)
        verify_any(keys_of(signer), _canonical(signed_info), value)
    except (binascii.Error, ValueError, BadSignature) as e:
        raise InputError.of(
            "binding.Signature.SignatureValue", f"does not verify with a key of '{signer}'"
        ) from e
    return _contents(root, signer)


def _contents(root: Element, signer: str) -> Binding:
    element = root.find(q(GSOIA, "Data"))
    if element is None:
        raise InputError.of("binding.Data", "missing")
    try:
        content = base64.b64decode(element.text or "", validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError.of("binding.Data", "not base64") from e
    path = f"{q(BINDING_4778, 'MetadataBindingContainer')}/{q(BINDING_4778, 'MetadataBinding')}"
    labels = [
        label_from_element(metadata[0])
        for metadata in root.iterfind(f"{path}/{q(BINDING_4778, 'Metadata')}")
        if len(metadata)
    ]
    if not labels:
        raise InputError.of("binding.Metadata", "no confidentiality label")
    handling = _read_handling(root.find(q(GSOIA, "Handling")))
    item_id, title = element.get("item", ""), element.get("title", "")
    return Binding(signer, item_id, title, content, labels, handling)


_TOPIC, _RELEASED = "NeedToKnow", "ReleasableTo"


def _handled(handling: Handling, label: dict[str, Any]) -> dict[str, Any]:
    """The label's fields the binding's handling gives; releasability given by both the
    originator label and the handling is refused."""
    fields: dict[str, Any] = {"need_to_know": list(handling.need_to_know)}
    if handling.area is not None:
        fields["area"] = handling.area
    if handling.releasable_to:
        if label.get("releasable_to"):
            raise InputError.of("binding.Handling.ReleasableTo", "the label says it already")
        fields["releasable_to"] = list(handling.releasable_to)
    return fields


def _write_handling(root: Element, handling: Handling) -> None:
    element = SubElement(root, q(GSOIA, "Handling"))
    if handling.area is not None:
        element.set("area", handling.area)
    for name, values in ((_TOPIC, handling.need_to_know), (_RELEASED, handling.releasable_to)):
        for value in values:
            SubElement(element, q(GSOIA, name)).text = value


def _read_handling(element: Element | None) -> Handling:
    if element is None:
        return Handling()
    found: dict[str, list[str]] = {_TOPIC: [], _RELEASED: []}
    for child in element:
        name = local(child.tag)
        if child.tag != q(GSOIA, name) or name not in found:
            raise InputError.of(f"binding.Handling.{name}", "not understood by gsoia (refused)")
        found[name].append((child.text or "").strip())
    return Handling(element.get("area"), tuple(found[_TOPIC]), tuple(found[_RELEASED]))


def _handling(label: dict[str, Any], labels: list[LabelDocument]) -> Handling:
    """What the labels of an item (``label``: as a reader sees it) cannot say."""
    said = any(c.tag == RELEASABLE_TO for c in labels[0].categories)
    return Handling(
        label.get("area"),
        tuple(label.get("need_to_know") or ()),
        () if said else tuple(label.get("releasable_to") or ()),
    )


def _digest(root: Element) -> str:
    return base64.b64encode(hashlib.sha256(_canonical(root)).digest()).decode()


def _canonical(element: Element) -> bytes:
    return canonicalize(tostring(element, encoding="unicode")).encode("utf-8")


def _signed_info(digest: str) -> Element:
    info = Element(q(DSIG, "SignedInfo"))
    SubElement(info, q(DSIG, "CanonicalizationMethod"), {"Algorithm": C14N2})
    SubElement(info, q(DSIG, "SignatureMethod"), {"Algorithm": ED25519})
    reference = SubElement(info, q(DSIG, "Reference"), {"URI": ""})
    transforms = SubElement(reference, q(DSIG, "Transforms"))
    SubElement(transforms, q(DSIG, "Transform"), {"Algorithm": ENVELOPED})
    SubElement(transforms, q(DSIG, "Transform"), {"Algorithm": C14N2})
    SubElement(reference, q(DSIG, "DigestMethod"), {"Algorithm": SHA256})
    SubElement(reference, q(DSIG, "DigestValue")).text = digest
    return info


def export_item(node: Node, user: User, item_id: str) -> bytes:
    """The item as a signed binding, to a user who may read it (a read, decided and
    audited as one)."""
    view = node.read_item(user, item_id)
    content = base64.b64decode(view["content_b64"])
    labels = item_labels(node.rulebook.catalogue, view)
    return write_binding(
        labels,
        view["id"],
        view["title"],
        content,
        node.nation,
        lambda message: sign(node.keys.signing, message),
        _handling(view["label"], labels),
    )


def import_item(node: Node, user: User, data: bytes) -> dict[str, Any]:
    """A binding this node signed (with its current or a retired key) stored again as a new
    item of the user's; its signature and originator label checked first. A refusal is
    audited (``item.import``), nothing stored."""
    try:
        binding = read_binding(
            data, lambda signer: own_signing_keys(node) if signer == node.nation else []
        )
        first = binding.labels[0]
        label = label_from_document(node.rulebook.catalogue, first, "binding.Metadata")
        if first.kind is not LabelKind.ORIGINATOR or label["originator"] != node.nation:
            raise InputError.of(
                "binding.Metadata",
                f"not an originator label of {node.nation}: another nation's items come"
                " through the federation",
            )
        label |= _handled(binding.handling, label)
    except InputError as e:
        node.refuse(user.id, "item.import", e.diagnostics())
        raise
    return node.create_item(user, label, binding.title, binding.content)
