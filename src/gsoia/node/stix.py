"""STIX 2.1 objects as gsoia items: the label extension, validation, timestamps.

A STIX object carries its confidentiality label as a property extension (docs/interfaces.md,
"TAXII 2.1")::

    "extensions": {"extension-definition--f67a03a9-ae79-440c-b2ec-6d97c54cb09d": {
        "extension_type": "property-extension",
        "originator": "JPN", "classification": "GOKUHI", "area": "defence",
        "releasable_to": ["CAN"], "need_to_know": [],
        "label_4774": "<originatorConfidentialityLabel xmlns=...>...</...>"}}

``label_4774`` is the originator's label as a STANAG 4774 label (XML text, docs/labels.md):
sent, it stands for (or must agree with) the label's fields and is stored as gsoia writes
it back; absent, the node writes it when it stores the object
(``gsoia.node.taxii_envelope``).

``check_object`` takes one object as sent and either accepts it (its label, title, version
and the normalised object to store) or refuses it with one line that says why: not STIX
2.1, no label, a label that is not an object of the extension, or a STIX 2.1 validation
failure (``stix2``). The node then decides the label (originator, levels, groups) when it
prepares the item. Nothing here touches the store.

Empty lists are not allowed in STIX 2.1 (the label's ``releasable_to: []`` means NOFORN,
``need_to_know: []`` none): the stored object omits them, so what the node emits passes
``stix2-validator``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import stix2  # type: ignore[import-untyped]
from stix2.registry import STIX2_OBJ_MAPS  # type: ignore[import-untyped]
from stix2patterns.validator import run_validator  # type: ignore[import-untyped]

EXTENSION_ID = "extension-definition--f67a03a9-ae79-440c-b2ec-6d97c54cb09d"
IDENTITY_ID = "identity--5f1d4c1e-8a47-4c55-9b0e-6f2d0a7c3b91"
SPEC_VERSION = "2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
LABEL_FIELDS = (
    "originator",
    "classification",
    "area",
    "releasable_to",
    "need_to_know",
    "categories",
)
LABEL_XML = "label_4774"
"""The label extension's property holding the originator's STANAG 4774 label (XML text)."""
EMITTED_FIELDS = ("custodian", "custodian_marking")
"""Set by the node on what it emits for a copy it holds for another originator."""
_DEFINED = "2026-01-01T00:00:00.000Z"
MAX_TITLE = 1000

IDENTITY: dict[str, Any] = {
    "type": "identity",
    "spec_version": SPEC_VERSION,
    "id": IDENTITY_ID,
    "created": _DEFINED,
    "modified": _DEFINED,
    "name": "gsoia",
    "description": "The gsoia project: executable security-of-information agreements.",
    "identity_class": "system",
}

EXTENSION_DEFINITION: dict[str, Any] = {
    "type": "extension-definition",
    "spec_version": SPEC_VERSION,
    "id": EXTENSION_ID,
    "created_by_ref": IDENTITY_ID,
    "created": _DEFINED,
    "modified": "2026-12-07T09:00:00.000Z",  # categories in the schema
    "name": "gsoia confidentiality label",
    "description": (
        "The confidentiality label of a STIX object exchanged under a General Security of"
        " Information Agreement: who originated it, at which classification of the"
        " originator's national policy, in which subject area, to which nations or groups"
        " it is releasable, and which need-to-know topics a reader must hold. A node that"
        " holds a copy for another originator adds the custodian and its own equivalent"
        " marking."
    ),
    "schema": (
        "Properties: originator (string, required: the policy id of the originating"
        " nation, e.g. JPN); classification (string, required: a level id of the"
        " originator's policy, e.g. GOKUHI); area (string, optional: the subject area, e.g."
        " defence); releasable_to (list of string, optional: policy ids or group names;"
        " absent = releasable to no foreign nation); need_to_know (list of string, optional:"
        " topics a reader must all hold); categories (object, optional: security categories"
        " of the originator's policy, tag name -> list of category names, decided as STANAG"
        " 4774's restrictive, permissive and informative tags); custodian (string, set by"
        " the holding node: the policy id of the party holding this copy); custodian_marking"
        " (string, set by the holding node: the custodian's equivalent marking, e.g. 'CAN"
        " SECRET // JPN 極秘 //"
        " JPN-CAN'); label_4774 (string, optional: the originator's label as a STANAG 4774"
        " originatorConfidentialityLabel, XML text; written by the storing node when absent)."
        " Decided by the rules of the gsoia release decision (docs/decision.md in the"
        " gsoia repository)."
    ),
    "version": "1.0.0",
    "extension_types": ["property-extension"],
}


class Refused(Exception):
    """One STIX object refused: ``message`` says why, in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Accepted:
    """An object that may be stored: its label (not yet decided), title and version."""

    stix_id: str
    type: str
    spec_version: str
    version: str | None
    """``modified``, else ``created``: the exact text; None for an object with neither
    (its version is then the date the node added it)."""
    version_us: int | None
    title: str
    label: dict[str, Any]
    content: bytes
    """The normalised object as compact JSON, sorted keys: what the node stores."""
    object: dict[str, Any]
    """The normalised object."""
    label_xml: str | None = None
    """The label extension's ``label_4774``: as sent, then as stored (``with_label``)."""
    template: str | None = None
    """``content`` with its label extension as ``_SLOT`` (which it holds nowhere else):
    ``with_label`` writes the object again by filling the slot, not encoding it all."""


# -- timestamps ---------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@functools.lru_cache(maxsize=1024)
def timestamp_us(text: str) -> int:
    """A STIX / TAXII timestamp (RFC 3339, UTC, ``Z``) in microseconds since 1970.

    Digits beyond the microsecond are dropped. ``ValueError`` if it is not one. Cached:
    the objects of an envelope share a few timestamps (only valid ones are kept, so the
    cache holds short strings).
    """
    found = _TIMESTAMP.fullmatch(text)
    if found is None:
        raise ValueError(f"'{text[:40]}' is not a timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)")
    year, month, day, hour, minute, second, fraction = found.groups()
    moment = dt.datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=dt.UTC
    )
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + micro


def datetime_us(moment: dt.datetime) -> int:
    """An aware datetime in microseconds since 1970 (what ``timestamp_us`` gives for it)."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def format_us(us: int) -> str:
    """Microseconds since 1970 as a TAXII timestamp with microsecond precision."""
    seconds, micro = divmod(us, 1_000_000)
    return f"{_format_second(seconds)}.{micro:06d}Z"


@functools.lru_cache(maxsize=256)
def _format_second(seconds: int) -> str:
    return (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


# -- patterns -----------------------------------------------------------------------------

# The STIX patterning grammar's keywords: an identifier spelled like one is a keyword.
_KEYWORDS = frozenset(
    [
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "ISSUPERSET",
        "ISSUBSET",
        "LAST",
        "IN",
        "START",
        "STOP",
        "SECONDS",
        "true",
        "false",
        "WITHIN",
        "REPEATS",
        "TIMES",
    ]
)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TYPE = r"[A-Za-z_][A-Za-z0-9_-]*"
_STRING = r"'(?:[^'\\]|\\['\\])*'"
_COMPARISON = rf"({_TYPE}):({_NAME}(?:\.{_NAME})*)[ ]*(?:=|!=|<>|<=|>=|<|>)[ ]*{_STRING}"
_SIMPLE = re.compile(rf"\[[ ]*{_COMPARISON}(?:[ ]+(?:AND|OR)[ ]+{_COMPARISON})*[ ]*\]")
_ONE = re.compile(_COMPARISON)


def simple_pattern(pattern: str) -> bool:
    """Whether ``pattern`` is in a subset of the STIX 2.1 patterning grammar that is valid
    by construction: one observation of string comparisons joined by AND / OR, e.g.
    ``[ipv4-addr:value = '198.51.100.1']``.

    The subset is checked by a regular expression instead of the (much slower) ANTLR
    parser of ``stix2-patterns``; anything outside it goes to that parser. No identifier
    may be a keyword, and no path may name ``hashes`` (whose values the full validator
    checks). The test suite holds ``simple_pattern(p)`` to imply ``run_validator(p) == []``.
    """
    if _SIMPLE.fullmatch(pattern) is None:
        return False
    for found in _ONE.finditer(pattern):
        object_type, path = found.group(1), found.group(2)
        names = [object_type, *path.split(".")]
        if any(name in _KEYWORDS for name in names) or "hashes" in names:
            return False
    return True


def pattern_errors(pattern: str, version: str = SPEC_VERSION) -> list[str]:
    """The STIX pattern's errors (empty: valid), quickly for simple patterns."""
    if version == SPEC_VERSION and simple_pattern(pattern):
        return []
    return [str(e) for e in run_validator(pattern, version)]


# -- objects ------------------------------------------------------------------------------

_CHECKED = "gsoia-pattern-checked"
_DEFAULTS = frozenset({"revoked", "defanged", "pattern_version"})
"""Optional properties that ``stix2`` adds with their default values."""
_OBSERVABLES = frozenset(STIX2_OBJ_MAPS["2.1"]["observables"])
"""STIX Cyber-observable types: for these, ``spec_version`` is optional."""


def stix_errors(obj: dict[str, Any]) -> str | None:
    """Why ``obj`` is not a valid STIX 2.1 object (``stix2``), or None."""
    if plain_indicator(obj):
        return None
    return stix2_errors(obj)


# The properties of an indicator that ``plain_indicator`` checks itself, by kind.
_REQUIRED = frozenset(
    {"type", "spec_version", "id", "created", "modified", "pattern", "pattern_type", "valid_from"}
)
_TEXTS = frozenset({"name", "description", "lang", "pattern_version"})
_TEXT_LISTS = frozenset({"indicator_types", "labels"})
_PLAIN = _REQUIRED | _TEXTS | _TEXT_LISTS | {"valid_until", "confidence", "revoked", "extensions"}
_PLAIN_ID = re.compile(  # an RFC 4122 UUID (the variant stix2 asks for), in canonical form
    r"indicator--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
_PLAIN_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")
_EXTENSION_KEY = re.compile(r"[a-zA-Z0-9_-]{1,250}")


def plain_indicator(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` is an indicator in a subset of STIX 2.1 that ``stix2`` accepts by
    construction: the required properties, a few optional ones of plain types, a simple
    STIX pattern (``simple_pattern``), canonical timestamps and id, and only the label's
    extension. Checked in a few microseconds instead of ``stix2``'s ~100; anything outside
    the subset (False) goes to ``stix2``. The test suite holds ``plain_indicator(o)`` to
    imply ``stix2_errors(o) is None``.
    """
    if obj.get("type") != "indicator" or obj.get("spec_version") != SPEC_VERSION:
        return False
    keys = obj.keys()
    if not keys >= _REQUIRED or not keys <= _PLAIN:
        return False
    stix_id, pattern = obj["id"], obj["pattern"]
    if not isinstance(stix_id, str) or _PLAIN_ID.fullmatch(stix_id) is None:
        return False
    if obj["pattern_type"] != "stix" or obj.get("pattern_version", SPEC_VERSION) != SPEC_VERSION:
        return False
    if not isinstance(pattern, str) or not simple_pattern(pattern):
        return False
    stamps = {}
    for name in ("created", "modified", "valid_from", "valid_until"):
        value = obj.get(name)
        if value is None and name == "valid_until":
            continue
        if not isinstance(value, str) or _PLAIN_TIME.fullmatch(value) is None:
            return False
        try:
            stamps[name] = timestamp_us(value)
        except ValueError:  # not a date (2026-02-30)
            return False
    if "valid_until" in stamps and stamps["valid_until"] <= stamps["valid_from"]:
        return False
    for name in _TEXTS & keys:
        if not isinstance(obj[name], str):
            return False
    for name in _TEXT_LISTS & keys:
        value = obj[name]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return False
    if "confidence" in keys and type(obj["confidence"]) is not int:
        return False
    if "revoked" in keys and type(obj["revoked"]) is not bool:
        return False
    if "extensions" in keys:
        extensions = obj["extensions"]
        if not isinstance(extensions, dict) or extensions.keys() != {EXTENSION_ID}:
            return False
        extension = extensions[EXTENSION_ID]
        if not isinstance(extension, dict) or extension.get("extension_type") != (
            "property-extension"
        ):
            return False
        if not all(isinstance(k, str) and _EXTENSION_KEY.fullmatch(k) for k in extension):
            return False
    return True


def stix2_errors(obj: dict[str, Any]) -> str | None:
    """Why ``obj`` is not a valid STIX 2.1 object according to ``stix2``, or None."""
    probe = obj
    if obj.get("type") == "indicator" and obj.get("pattern_type") == "stix":
        pattern = obj.get("pattern")
        if isinstance(pattern, str):
            # The pattern is checked here (quickly where it is simple), and stix2 checks
            # every other property of a copy that does not ask it to parse the pattern.
            errors = pattern_errors(pattern, str(obj.get("pattern_version", SPEC_VERSION)))
            if errors:
                return f"invalid pattern: {errors[0]}"
            probe = {**obj, "pattern_type": _CHECKED}
    try:
        parsed = stix2.parse(probe, allow_custom=False)
    except Exception as e:  # any error of the parser is a refusal, never a skip
        return f"not valid STIX 2.1: {_one_line(str(e) or type(e).__name__)}"
    # stix2 fills in some required properties (id, created, modified, valid_from ...)
    # when they are missing: an object sent without them is not valid STIX 2.1.
    defaults = _DEFAULTS | ({"spec_version"} if obj.get("type") in _OBSERVABLES else set())
    missing = sorted(set(parsed) - set(probe) - defaults)
    if missing:
        return f"not valid STIX 2.1: missing required property '{missing[0]}'"
    return None


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:297] + "..."


def check_object(obj: Any) -> Accepted:
    """Read one STIX object for storing, or raise ``Refused`` with the reason.

    The cheap checks only: shape, spec version, label extension. ``validate`` runs the
    STIX 2.1 validation once the node has accepted the label.
    """
    if not isinstance(obj, dict):
        raise Refused("not a STIX object (a JSON object is expected)")
    stix_id, stix_type = obj.get("id"), obj.get("type")
    if not isinstance(stix_type, str) or not isinstance(stix_id, str):
        raise Refused("not a STIX object: 'type' and 'id' are required strings")
    if stix_type == "bundle":
        raise Refused("a bundle is not an object: send its objects")
    if not stix_id.startswith(f"{stix_type}--") or len(stix_id) > 300:
        raise Refused(f"id '{stix_id[:80]}' is not an identifier of type '{stix_type[:80]}'")
    spec_version = obj.get("spec_version")
    if spec_version != SPEC_VERSION and not (spec_version is None and stix_type in _OBSERVABLES):
        raise Refused("only STIX 2.1 objects are stored (spec_version must be '2.1')")
    label, label_xml = _label(obj)
    normal = _normalised(obj, label, label_xml)
    version = obj.get("modified", obj.get("created"))
    try:
        version_us = None if version is None else timestamp_us(version)
    except (TypeError, ValueError) as e:
        raise Refused("'modified' / 'created' must be STIX timestamps") from e
    title = obj.get("name")
    if isinstance(title, str):
        title = title.replace("\x00", "")
    if not isinstance(title, str) or not title.strip():
        title = stix_type
    extension = normal["extensions"][EXTENSION_ID]
    try:
        slotted = _json({**normal, "extensions": {**normal["extensions"], EXTENSION_ID: _SLOT}})
        template: str | None = slotted
        if slotted.count(_SLOT_JSON) != 1:  # the slot's text sent in the object: no slot
            template = None
            content = _json(normal)
        else:
            content = slotted.replace(_SLOT_JSON, _json(extension), 1)
    except (RecursionError, TypeError, ValueError) as e:
        raise Refused("not a STIX object: it cannot be written as JSON") from e
    return Accepted(
        stix_id=stix_id,
        type=stix_type,
        spec_version=SPEC_VERSION,
        version=version,
        version_us=version_us,
        title=title[:MAX_TITLE],
        label=label,
        content=content.encode("utf-8"),
        object=normal,
        label_xml=label_xml,
        template=template,
    )


def with_label(
    accepted: Accepted, label: dict[str, Any], label_xml: str, written: str | None = None
) -> Accepted:
    """``accepted`` with its label extension rewritten: the label's fields as the node
    decided them (``label``) and ``label_4774``, the originator's label as 4774 XML.
    ``written``: that extension's JSON (``extension_json``), if written already (the
    objects of one label in an envelope)."""
    extension = _extension(label, label_xml)
    extensions = {**accepted.object["extensions"], EXTENSION_ID: extension}
    normal = {**accepted.object, "extensions": extensions}
    template = accepted.template
    if template is None:
        content = _json(normal)
    else:  # the same text as _json(normal): only the extension differs from the template
        text = _json(extension) if written is None else written
        content = template.replace(_SLOT_JSON, text, 1)
    changed = {"content": content.encode("utf-8"), "object": normal, "label_xml": label_xml}
    return Accepted(**(vars(accepted) | changed))  # (dataclasses.replace: slower)


def extension_json(label: dict[str, Any], label_xml: str) -> str:
    """The label extension ``with_label`` writes, as JSON."""
    return _json(_extension(label, label_xml))


_SLOT = "\x00gsoia-label-extension\x00"
_SLOT_JSON = json.dumps(_SLOT)


def _json(value: Any) -> str:
    """``value`` as the node stores an object: compact JSON, its keys sorted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def validate(accepted: Accepted) -> None:
    """``Refused`` unless the object is valid STIX 2.1 (the costly check: run it last)."""
    error = stix_errors(accepted.object)
    if error is not None:
        raise Refused(error)


def _label(obj: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    extensions = obj.get("extensions")
    extension = extensions.get(EXTENSION_ID) if isinstance(extensions, dict) else None
    place = f"extensions.{EXTENSION_ID}"
    if extension is None:
        raise Refused(f"no confidentiality label: '{place}' is missing")
    if not isinstance(extension, dict):
        raise Refused(f"'{place}' must be an object")
    if extension.get("extension_type") != "property-extension":
        raise Refused(f"'{place}.extension_type' must be 'property-extension'")
    for key in extension:
        if key in EMITTED_FIELDS:
            raise Refused(f"'{place}.{key}' is set by the node that holds a copy, not sent")
        if key not in LABEL_FIELDS and key not in ("extension_type", LABEL_XML):
            raise Refused(f"'{place}.{key}': not a property of the label")
    label = {k: extension[k] for k in LABEL_FIELDS if k in extension}
    for key, value in label.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and "\x00" in text:
                raise Refused(f"'{place}.{key}': NUL is not allowed in a label")
    label_xml = extension.get(LABEL_XML)
    if label_xml is not None and not isinstance(label_xml, str):
        raise Refused(f"'{place}.{LABEL_XML}' must be a string (a STANAG 4774 label)")
    return label, label_xml


def _normalised(
    obj: dict[str, Any], label: dict[str, Any], label_xml: str | None
) -> dict[str, Any]:
    """The object as stored: the label extension without empty lists or a null area."""
    extension = _extension(label, label_xml)
    return {**obj, "extensions": {**obj["extensions"], EXTENSION_ID: extension}}


def _extension(label: dict[str, Any], label_xml: str | None) -> dict[str, Any]:
    """The label extension as stored: without empty lists or a null area."""
    extension: dict[str, Any] = {"extension_type": "property-extension"}
    for key, value in label.items():
        if value is None or value == []:
            continue
        extension[key] = value
    if label_xml is not None:
        extension[LABEL_XML] = label_xml
    return extension


def relabelled(
    obj: dict[str, Any], label: dict[str, Any], label_xml: Callable[[], str]
) -> dict[str, Any] | None:
    """``obj`` with its label extension saying ``label``, the item's label as the node
    holds it now (after a reclassification), and ``label_xml()``, that label as 4774 XML;
    None where the extension says it already."""
    extensions = obj.get("extensions")
    extension = extensions.get(EXTENSION_ID) if isinstance(extensions, dict) else None
    said = {k: v for k, v in (extension or {}).items() if k != LABEL_XML}
    if said == _extension(label, None):
        return None
    return _normalised(obj, label, label_xml())


def labelled(obj: dict[str, Any], custodian: str, marking: str) -> dict[str, Any]:
    """``obj`` as emitted by a custodian: its label extension names the custodian and the
    custodian's own equivalent marking next to the originator's label."""
    extensions = dict(obj.get("extensions") or {})
    extension = {
        k: v for k, v in (extensions.get(EXTENSION_ID) or {}).items() if v is not None and v != []
    }
    extension["custodian"] = custodian
    extension["custodian_marking"] = marking
    extensions[EXTENSION_ID] = extension
    return {**obj, "extensions": extensions}


def definitions_bundle(bundle_id: str) -> dict[str, Any]:
    """A bundle of the gsoia identity and the label's extension-definition."""
    return {"type": "bundle", "id": bundle_id, "objects": [IDENTITY, EXTENSION_DEFINITION]}


def validate_many(found: Sequence[Accepted]) -> list[str | None]:
    """``stix_errors`` of each object, in order."""
    return [stix_errors(a.object) for a in found]
