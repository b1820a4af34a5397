"""The display marking of a label, built from its policy's SPIF marking data.

The policy's name (or the phrase of a classification or category that replaces it, such
as NATO's COSMIC), the classification's phrase, then each tag's categories in the SPIF's
order (by LACV within a tag), between the tag's prefix and suffix and joined by its
separator (default ``/``); parts joined by a space. Phrases and qualifiers are taken in
the language asked (``fr-CA`` falls back to ``fr``, then to the phrases with no
language). Only the marking data shown on a page counts (``pageTop``, ``pageBottom``,
``pageTopBottom``, or no place code).
"""

from __future__ import annotations

from gsoia.catalogue.categories import (
    CategoryTag,
    CategoryValue,
    Marking,
    MarkingCode,
    Qualifier,
    QualifierKind,
)
from gsoia.catalogue.model import Policy
from gsoia.labels_xml.label4774 import LabelDocument
from gsoia.labels_xml.label_check import CheckedLabel

_PAGE = {MarkingCode.PAGE_TOP, MarkingCode.PAGE_BOTTOM, MarkingCode.PAGE_TOP_BOTTOM}
_PLACES = _PAGE | {MarkingCode.DOCUMENT_START, MarkingCode.DOCUMENT_END}


def _languages(lang: str | None) -> list[str | None]:
    if not lang:
        return [None]
    primary = lang.split("-", 1)[0]
    return [lang, primary, None] if primary != lang else [lang, None]


def _entry(markings: list[Marking], lang: str | None) -> Marking | None:
    """The first marking data shown on a page, in the best language present."""
    for candidate in _languages(lang):
        group = [m for m in markings if (m.lang or None) == candidate]
        if group:
            shown = [m for m in group if not _PLACES & set(m.codes) or _PAGE & set(m.codes)]
            return shown[0] if shown else None
    return None


def _phrase(entry: Marking | None, name: str) -> str:
    if entry is None:
        return name
    if MarkingCode.NO_NAME_DISPLAY in entry.codes:
        return ""
    if MarkingCode.REPLACE_POLICY in entry.codes or entry.phrase is None:
        return name
    return entry.phrase


def _replacing(entry: Marking | None, name: str) -> str | None:
    if entry is None or MarkingCode.REPLACE_POLICY not in entry.codes:
        return None
    return entry.phrase or name


def _qualifier(qualifiers: list[Qualifier], kind: QualifierKind, lang: str | None) -> str | None:
    for candidate in _languages(lang):
        for qualifier in qualifiers:
            if qualifier.kind is kind and (qualifier.lang or None) == candidate:
                return qualifier.text
    return None


def display_marking(checked: CheckedLabel, policy: Policy, lang: str | None = None) -> str:
    """``NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine``."""
    chosen = _chosen(checked, policy)
    level = checked.level
    level_entry = _entry(level.markings, lang)
    head = _replacing(_entry(policy.markings, lang), policy.name) or _replacing(
        level_entry, level.name
    )
    suppress = False
    for _tag, value in chosen:
        entry = _entry(value.markings, lang)
        head = head or _replacing(entry, value.name)
        suppress |= entry is not None and MarkingCode.SUPPRESS_CLASS_NAME in entry.codes
    marking = head or policy.name
    if not suppress:
        marking += " " + _phrase(level_entry, level.name)
    return marking + _categories(chosen, lang)


def _chosen(checked: CheckedLabel, policy: Policy) -> list[tuple[CategoryTag, CategoryValue]]:
    found: list[tuple[CategoryTag, CategoryValue]] = []
    for tag in policy.tags.values():
        names = set(checked.categories.get(tag.name, ()))
        found += [(tag, v) for v in sorted(tag.values, key=lambda v: v.lacv) if v.name in names]
    return found


def _categories(chosen: list[tuple[CategoryTag, CategoryValue]], lang: str | None) -> str:
    text = ""
    current: CategoryTag | None = None
    suffix = ""
    separator = "/"
    for tag, value in chosen:
        entry = _entry(value.markings, lang) or _entry(tag.markings, lang)
        phrase = _phrase(entry, value.name)
        if not phrase:
            continue
        if tag is not current:
            text += suffix + " " + (_qualifier(tag.qualifiers, QualifierKind.PREFIX, lang) or "")
            suffix = _qualifier(tag.qualifiers, QualifierKind.SUFFIX, lang) or ""
            separator = _qualifier(tag.qualifiers, QualifierKind.SEPARATOR, lang) or "/"
            current = tag
        else:
            text += separator
        text += phrase
    return text + suffix


def plain_marking(label: LabelDocument) -> str:
    """A label's marking without its SPIF: policy, classification, then each tag's
    categories joined by ``/`` (``NATO SECRET Releasable To: CAN/JPN``)."""
    parts = [label.policy, label.classification]
    parts += [f"{c.tag}: {'/'.join(c.values)}" for c in label.categories if c.values]
    return " ".join(parts)
