"""An Open XML SPIF read into a catalogue policy, all or nothing.

What the catalogue carries (docs/decision.md, "Categories and marking data"): the policy's
name and object identifier, its classifications in hierarchy order (name, LACV, marking
data per language), its category tag sets (tags, categories, excluded classifications,
marking data and qualifiers). What would change a decision if it were dropped (a required
category rule, an unknown tag type, an unknown element) refuses the whole SPIF; what only
describes the document (its version, date, signer, colours) is carried by nothing and
named in ``notes``, one line each. Its equivalent policies and classifications are read
into ``equivalents``, which ``spif_equivalence`` turns into the equivalence rows of the
catalogue's agreements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from pydantic import ValidationError

from gsoia.catalogue.categories import (
    CategoryKind,
    CategoryTag,
    CategoryValue,
    Marking,
    MarkingCode,
    Qualifier,
    QualifierKind,
    TagSet,
)
from gsoia.catalogue.model import Level, Policy
from gsoia.errors import Problem
from gsoia.labels_xml.errors import LabelXmlError
from gsoia.labels_xml.names import GSOIA, SPIF, XML_LANG, q
from gsoia.labels_xml.safe import local, read_xml

_ID = re.compile(r"^[A-Z][A-Z0-9_-]{0,31}$")
_DESCRIPTIVE = ("version", "creationDate", "originatorDN", "keyIdentifier", "privilegeId", "rbacId")
_TAG_KINDS = {
    ("restrictive", None): CategoryKind.RESTRICTIVE,
    ("permissive", None): CategoryKind.PERMISSIVE,
    ("enumerated", "restrictive"): CategoryKind.ENUMERATED_RESTRICTIVE,
    ("enumerated", "permissive"): CategoryKind.ENUMERATED_PERMISSIVE,
    ("tagType7", None): CategoryKind.INFORMATIVE,
}


@dataclass(frozen=True)
class EquivalentPolicy:
    """An ``equivalentPolicy`` of the SPIF: another policy, by object identifier and name."""

    oid: str
    name: str


@dataclass(frozen=True)
class EquivalentClass:
    """An ``equivalentClassification``: a level of this policy equal to the level of LACV
    ``lacv`` of the policy ``policy_ref`` names, applied when labelling (``encrypt``),
    reading (``decrypt``) or both."""

    level: str
    """The level id, in this policy."""
    policy_ref: str
    lacv: int | None
    applied: str
    place: str
    """Where it is in the SPIF: ``securityClassification[SECRET].equivalentClassification``."""


@dataclass(frozen=True)
class Equivalents:
    """What a SPIF says of other policies' levels."""

    policies: list[EquivalentPolicy] = field(default_factory=list)
    classes: list[EquivalentClass] = field(default_factory=list)


@dataclass(frozen=True)
class SpifPolicy:
    """A SPIF as a catalogue policy: its id, the policy, its equivalents, and what was not
    carried."""

    policy_id: str
    policy: Policy
    notes: list[str] = field(default_factory=list)
    equivalents: Equivalents = field(default_factory=Equivalents)


def read_spif(data: bytes, *, nation: str | None = None) -> SpifPolicy:
    """The policy of a SPIF document; ``nation`` names its catalogue id (default: the id
    gsoia wrote in it, else its name in upper case)."""
    root = read_xml(data, "SPIF")
    if root.tag != q(SPIF, "SPIF"):
        raise LabelXmlError.of("SPIF", f"the root is {root.tag}, not SPIF of {SPIF}")
    return _Reader(root).read(nation)


class _Reader:
    def __init__(self, root: Element) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.level_ids: dict[str, str] = {}  # classification name -> level id
        self.equivalents = Equivalents()
        self.extension = root.find(f"{q(SPIF, 'extensions')}/{q(GSOIA, 'catalogue')}")

    def read(self, nation: str | None) -> SpifPolicy:
        for name in _DESCRIPTIVE:
            if name in self.root.attrib:
                self.notes.append(f"SPIF@{name}: not carried (describes the document)")
        ident = self._one(self.root, "securityPolicyId", "SPIF")
        classes = self._one(self.root, "securityClassifications", "SPIF")
        self._others(self.root, "SPIF", {"securityPolicyId", "securityClassifications"})
        levels = self._levels(classes) if classes is not None else []
        tag_sets = self._tag_sets()
        policy_id = nation or self._policy_id(ident)
        if policy_id is not None and not _ID.match(policy_id):
            self.problems.append(Problem("--nation", f"'{policy_id}' is not a policy id"))
        if self.problems or ident is None or policy_id is None:
            raise LabelXmlError(self.problems or [Problem("SPIF", "no policy id")])
        ext = self.extension.attrib if self.extension is not None else {}
        try:
            policy = Policy(
                name=ident.get("name", ""),
                oid=ident.get("id"),
                source=ext.get("source"),
                levels=levels,
                markings=self._markings(classes) if classes is not None else [],
                categories=tag_sets,
            )
        except ValueError as e:
            raise LabelXmlError.of("SPIF.securityPolicyId", _first_line(e)) from e
        return SpifPolicy(policy_id, policy, self.notes, self.equivalents)

    def _policy_id(self, ident: Element | None) -> str | None:
        if self.extension is not None and self.extension.get("policy"):
            return self.extension.get("policy")
        name = ident.get("name", "") if ident is not None else ""
        derived = _derived_id(name)
        if derived is None:
            self.problems.append(Problem("SPIF.securityPolicyId@name", "gives no policy id"))
        return derived

    def _one(self, parent: Element, name: str, place: str) -> Element | None:
        found = parent.findall(q(SPIF, name))
        if len(found) != 1:
            self.problems.append(Problem(f"{place}.{name}", f"{len(found)} found, one needed"))
            return None
        return found[0]

    def _others(self, parent: Element, place: str, known: set[str]) -> None:
        for child in parent:
            name = local(child.tag)
            if name in known or (name in {"markingData", "markingQualifier"} and place != "SPIF"):
                continue
            if name == "equivalentPolicies" and place == "SPIF":
                self._equivalent_policies(child)
            elif name == "extensions":
                self._note_extension(child, place, name)
            elif name == "securityCategoryTagSets" and place == "SPIF":
                continue
            else:
                self.problems.append(Problem(f"{place}.{name}", "not understood by gsoia"))

    def _note_extension(self, child: Element, place: str, name: str) -> None:
        for item in child:
            if item.tag == q(GSOIA, "catalogue"):
                continue
            what = item.get("name") or item.get("id") or ""
            self.notes.append(
                f"{place}.{name}.{local(item.tag)}{f'[{what}]' if what else ''}: not carried"
            )

    def _equivalent_policies(self, holder: Element) -> None:
        for item in holder:
            oid, name = item.get("id", ""), item.get("name", "")
            if item.tag != q(SPIF, "equivalentPolicy") or not (oid or name):
                where = f"SPIF.equivalentPolicies.{local(item.tag)}"
                self.notes.append(
                    f"{where}: not an equivalentPolicy with an id or name: not carried"
                )
                continue
            self.equivalents.policies.append(EquivalentPolicy(oid, name))

    def _equivalent_class(self, element: Element, level_id: str, place: str) -> None:
        ref = element.get("policyRef", "")
        self.equivalents.classes.append(
            EquivalentClass(
                level=level_id,
                policy_ref=ref,
                lacv=_int(element.get("lacv"), None),
                applied=element.get("applied", "both"),
                place=f"{place}.equivalentClassification[{ref}]",
            )
        )

    def _levels(self, classes: Element) -> list[Level]:
        own = {}
        if self.extension is not None:
            own = {e.get("name", ""): e for e in self.extension.findall(q(GSOIA, "level"))}
        found = []
        for element in classes:
            if element.tag != q(SPIF, "securityClassification"):
                if local(element.tag) not in {"markingData", "markingQualifier"}:
                    self.problems.append(
                        Problem(f"securityClassifications.{local(element.tag)}", "not understood")
                    )
                continue
            found.append(element)
        ordered = sorted(found, key=lambda e: _int(e.get("hierarchy"), -1) or 0)
        levels = []
        for position, element in enumerate(ordered):
            level = self._level(element, position, own.get(element.get("name", "")))
            if level is not None:
                levels.append(level)
        return levels

    def _level(self, element: Element, position: int, own: Element | None) -> Level | None:
        name = element.get("name", "")
        place = f"securityClassification[{name}]"
        level_id = own.get("id") if own is not None else _derived_id(name)
        lacv = _int(element.get("lacv"), None)
        if level_id is None or lacv is None or _int(element.get("hierarchy"), None) is None:
            self.problems.append(Problem(place, "needs a name giving a level id, lacv, hierarchy"))
            return None
        self.level_ids[name] = level_id
        if "color" in element.attrib:
            self.notes.append(f"{place}@color: not carried")
        self._others(element, place, {"equivalentClassification"})
        for child in element.findall(q(SPIF, "equivalentClassification")):
            self._equivalent_class(child, level_id, place)
        try:
            return Level(
                id=level_id,
                name=name,
                latin=own.get("latin") if own is not None else None,
                lacv=None if lacv == position + 1 else lacv,
                markings=self._markings(element),
            )
        except ValueError as e:
            self.problems.append(Problem(place, _first_line(e)))
            return None

    def _markings(self, holder: Element) -> list[Marking]:
        found = []
        for data in holder.findall(q(SPIF, "markingData")):
            codes = [(code.text or "").strip() for code in data.findall(q(SPIF, "code"))]
            try:
                found.append(
                    Marking(
                        lang=data.get(XML_LANG),
                        phrase=data.get("phrase"),
                        codes=[MarkingCode(code) for code in codes],
                    )
                )
            except ValueError as e:
                where = holder.get("name", local(holder.tag))
                self.problems.append(Problem(f"{where}.markingData", _first_line(e)))
        return found

    def _qualifiers(self, tag: Element) -> list[Qualifier]:
        found = []
        for holder in tag.findall(q(SPIF, "markingQualifier")):
            code = holder.get("markingCode")
            for item in holder.findall(q(SPIF, "qualifier")):
                try:
                    found.append(
                        Qualifier(
                            kind=QualifierKind(item.get("qualifierCode", "")),
                            text=item.get("markingQualifier", ""),
                            lang=item.get(XML_LANG),
                            code=MarkingCode(code) if code else None,
                        )
                    )
                except ValueError as e:
                    where = f"securityCategoryTag[{tag.get('name')}].markingQualifier"
                    self.problems.append(Problem(where, _first_line(e)))
        return found

    def _tag_sets(self) -> list[TagSet]:
        holder = self.root.find(q(SPIF, "securityCategoryTagSets"))
        if holder is None:
            return []
        tag_sets = []
        for element in holder:
            place = f"securityCategoryTagSet[{element.get('name')}]"
            if element.tag != q(SPIF, "securityCategoryTagSet"):
                self.problems.append(Problem(local(element.tag), "not understood by gsoia"))
                continue
            self._others(element, place, {"securityCategoryTag"})
            tags = [self._tag(t) for t in element.findall(q(SPIF, "securityCategoryTag"))]
            try:
                tag_sets.append(
                    TagSet(
                        name=element.get("name", ""),
                        oid=element.get("id", ""),
                        tags=[t for t in tags if t is not None],
                    )
                )
            except ValueError as e:
                self.problems.append(Problem(place, _first_line(e)))
        return tag_sets

    def _tag(self, element: Element) -> CategoryTag | None:
        place = f"securityCategoryTag[{element.get('name')}]"
        key = (element.get("tagType", ""), element.get("enumType"))
        kind = _TAG_KINDS.get(key)
        if kind is None:
            self.problems.append(Problem(place, f"tag type {key} not understood by gsoia"))
            return None
        self._others(element, place, {"tagCategory"})
        values = [self._value(c, place) for c in element.findall(q(SPIF, "tagCategory"))]
        try:
            return CategoryTag(
                name=element.get("name", ""),
                kind=kind,
                single=element.get("singleSelection") == "true",
                encoding=element.get("tag7Encoding"),
                values=[v for v in values if v is not None],
                markings=self._markings(element),
                qualifiers=self._qualifiers(element),
            )
        except ValueError as e:
            self.problems.append(Problem(place, _first_line(e)))
            return None

    def _value(self, element: Element, tag_place: str) -> CategoryValue | None:
        name = element.get("name", "")
        place = f"{tag_place}.tagCategory[{name}]"
        self._others(element, place, {"excludedClass"})
        excluded = []
        for child in element.findall(q(SPIF, "excludedClass")):
            level_id = self.level_ids.get((child.text or "").strip())
            if level_id is None:
                self.problems.append(Problem(f"{place}.excludedClass", "unknown classification"))
            else:
                excluded.append(level_id)
        try:
            return CategoryValue(
                name=name,
                lacv=_int(element.get("lacv"), -1),
                markings=self._markings(element),
                excluded=excluded,
                obsolete=element.get("obsolete") == "true",
            )
        except ValueError as e:
            self.problems.append(Problem(place, _first_line(e)))
            return None


def _derived_id(name: str) -> str | None:
    """``TOP SECRET`` -> ``TOP_SECRET``; None if the name gives no id."""
    candidate = re.sub(r"[^A-Z0-9_-]", "_", name.strip().upper())
    return candidate if _ID.match(candidate) else None


def _int(text: str | None, default: int | None) -> int | None:
    if text is None or not text.strip().isdigit() or len(text) > 10:
        return default
    return int(text)


def _first_line(error: ValueError) -> str:
    """pydantic's first complaint, with the field it is about, on one line."""
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(error).splitlines()[0] if str(error) else "invalid"
