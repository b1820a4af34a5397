"""A decision request (docs/decision.md §2): its shape, and its references checked.

A request naming an unknown policy, level or group, or malformed in any way, is not a
decision: it is a ``RequestError`` whose place names the field (``label.classification``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, NotRequired, TypeVar

import msgspec
from msgspec.structs import asdict
from pydantic import (
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from gsoia.catalogue.load import problems_from_validation
from gsoia.catalogue.model import Catalogue
from gsoia.decision.categories import category_problems, held_problems
from gsoia.errors import Problem, RequestError

Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]


def _iso_date(value: Any) -> dt.date:
    """Only a date or an ISO 8601 date string (YYYY-MM-DD): no timestamps, no date-times."""
    kind = type(value)
    if kind is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:  # YYYY-MM-DD only: fromisoformat refuses anything else of this shape
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)") from None
    if kind is dt.date:
        return value  # type: ignore[no-any-return]
    raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)")


Day = Annotated[dt.date, PlainValidator(_iso_date, json_schema_input_type=str)]
_FORBID = ConfigDict(extra="forbid")

# Requests are validated into plain dicts (TypedDicts): pydantic checks the shape at a
# fraction of the cost of building model objects, and decide() is a hot path.


@with_config(_FORBID)
class Subject(TypedDict):
    """The person (or node) asking: nation, clearance in its own policy, need-to-know."""

    id: NotRequired[Annotated[StrictStr, Field(max_length=256)]]
    nation: Name
    clearance: NotRequired[Name | None]
    clearance_expires: NotRequired[Day | None]
    need_to_know: NotRequired[list[Name]]
    categories: NotRequired[dict[Name, list[Name]]]
    """The security categories it holds, by tag name (docs/decision.md, "Categories")."""


@with_config(_FORBID)
class Label(TypedDict):
    """An item's confidentiality label, set by its originator (as a node stores it)."""

    originator: Name
    classification: Name
    area: NotRequired[Name | None]
    releasable_to: NotRequired[list[Name]]
    need_to_know: NotRequired[list[Name]]


@with_config(_FORBID)
class CategorizedLabel(Label):
    """A label of a decision request: it may carry security categories by tag name
    (docs/decision.md, "Categories"); a node stores none yet."""

    categories: NotRequired[dict[Name, list[Name]]]


@with_config(_FORBID)
class HeldLabel(Label):
    """A label together with who holds the copy and what the originator consented to."""

    custodian: NotRequired[Name | None]
    consented_to: NotRequired[list[Name]]


@with_config(_FORBID)
class BatchLabel(HeldLabel):
    """A label of ``decide_many``: a held label that may carry categories."""

    categories: NotRequired[dict[Name, list[Name]]]


@with_config(_FORBID)
class Request(TypedDict):
    subject: Subject
    label: CategorizedLabel
    custodian: NotRequired[Name | None]
    consented_to: NotRequired[list[Name]]
    at: NotRequired[Day | None]


# The same request shape in msgspec, for decide()'s hot path: a well-formed request is
# converted at a third of pydantic's cost. It accepts a subset of what the pydantic schema
# accepts and means the same by it (tests/decision/test_request_shapes.py holds both to
# that); anything it refuses goes to pydantic, which accepts it or names the bad field.
# The rules read these records (``decide_parsed`` fills them from the checked dicts).
# gc=False: a record holds names, lists and dicts of names, never itself (no cycles).

_QuickName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SubjectFields(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A subject with every optional field at its meaning when absent."""

    nation: _QuickName
    id: Annotated[str, msgspec.Meta(max_length=256)] = ""
    clearance: _QuickName | None = None
    clearance_expires: dt.date | None = None
    need_to_know: list[_QuickName] = []
    categories: dict[_QuickName, list[_QuickName]] = {}


class LabelFields(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A request's label with every optional field at its meaning when absent."""

    originator: _QuickName
    classification: _QuickName
    area: _QuickName | None = None
    releasable_to: list[_QuickName] = []
    need_to_know: list[_QuickName] = []
    categories: dict[_QuickName, list[_QuickName]] = {}


class RequestFields(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A request with every optional field at its meaning when absent."""

    subject: SubjectFields
    label: LabelFields
    custodian: _QuickName | None = None
    consented_to: list[_QuickName] = []
    at: dt.date | None = None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def categories_of(label: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """A label's categories, if it may carry them and does."""
    return label.get("categories")


def _names(categories: dict[str, list[str]]) -> list[str]:
    return [*categories, *(value for values in categories.values() for value in values)]


def quick_fields(data: Any) -> RequestFields | None:
    """The request converted by msgspec; None if refused (pydantic then decides)."""
    if type(data) is not dict:
        return None
    try:
        quick = msgspec.convert(data, RequestFields)
    except Exception:  # not only ValidationError: a lone surrogate in a field's name gives
        return None  # UnicodeEncodeError. Pydantic decides, and names the field.
    subject, label = quick.subject, quick.label
    text = "".join(
        (
            subject.nation,
            subject.id,
            subject.clearance or "",
            *subject.need_to_know,
            label.originator,
            label.classification,
            label.area or "",
            *label.releasable_to,
            *label.need_to_know,
            quick.custodian or "",
            *quick.consented_to,
        )
    )
    if subject.categories or label.categories:  # seldom: most labels carry none
        text += "".join((*_names(subject.categories), *_names(label.categories)))
    if not text.isascii() and not _encodable(text):  # pydantic refuses lone surrogates
        return None
    return quick


def quick_request(data: Any) -> Request | None:
    """The request converted by msgspec, every optional field filled in; None if refused."""
    quick = quick_fields(data)
    return None if quick is None else as_request(quick)


def as_request(quick: RequestFields) -> Request:
    """The request's records as the schema's dicts, every optional field filled in."""
    request: Request = {
        "subject": asdict(quick.subject),  # type: ignore[typeddict-item]
        "label": asdict(quick.label),  # type: ignore[typeddict-item]
        "custodian": quick.custodian,
        "consented_to": quick.consented_to,
        "at": quick.at,
    }
    return request


def subject_fields(subject: Subject) -> SubjectFields:
    """A checked subject dict as the rules read it."""
    return SubjectFields(
        nation=subject["nation"],
        id=subject.get("id") or "",
        clearance=subject.get("clearance"),
        clearance_expires=subject.get("clearance_expires"),
        need_to_know=subject.get("need_to_know") or [],
        categories=subject.get("categories") or {},
    )


def label_fields(label: Label) -> LabelFields:
    """A checked label dict as the rules read it."""
    return LabelFields(
        originator=label["originator"],
        classification=label["classification"],
        area=label.get("area"),
        releasable_to=label.get("releasable_to") or [],
        need_to_know=label.get("need_to_know") or [],
        categories=categories_of(label) or {},
    )


def clearance_on(subject: Subject, day: dt.date) -> str | None:
    """The clearance held on ``day``: none once it has expired."""
    expires = subject.get("clearance_expires")
    if expires is not None and day > expires:
        return None
    return subject.get("clearance")


_REQUEST = TypeAdapter(Request)
_SUBJECT = TypeAdapter(Subject)
_HELD_LABEL = TypeAdapter(HeldLabel)
_BATCH_LABEL = TypeAdapter(BatchLabel)

T = TypeVar("T")


def _parse(adapter: TypeAdapter[T], data: Any, place: str) -> T:
    if type(data) is not dict and not isinstance(data, Mapping):
        raise RequestError([Problem(place, "must be an object")])
    try:
        # the adapter's core validator, called directly: decide() is a hot path
        return adapter.validator.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as e:
        raise RequestError(problems_from_validation(e, prefix=place)) from e


def parse_request(data: Any) -> Request:
    """The request's shape, checked (references are checked by ``check_request``)."""
    quick = quick_request(data)
    return quick if quick is not None else _parse(_REQUEST, data, "")


def parse_subject(data: Any, place: str = "subject") -> Subject:
    return _parse(_SUBJECT, data, place)


def parse_held_label(data: Any, place: str) -> HeldLabel:
    return _parse(_HELD_LABEL, data, place)


def parse_batch_label(data: Any, place: str) -> BatchLabel:
    return _parse(_BATCH_LABEL, data, place)


def subject_problems(catalogue: Catalogue, subject: Subject, place: str) -> list[Problem]:
    nation, clearance = subject["nation"], subject.get("clearance")
    policy = catalogue.policies.get(nation)
    if policy is None:
        return [Problem(f"{place}.nation", f"unknown policy '{nation}'")]
    if clearance is not None and clearance not in policy.ranks:
        return [Problem(f"{place}.clearance", f"unknown level '{clearance}' of {nation}")]
    return held_problems(catalogue, subject.get("categories") or {}, f"{place}.categories")


def area_problems(catalogue: Catalogue, area: str | None, place: str) -> list[Problem]:
    """A new item's subject area the catalogue does not name (when it names any)."""
    named = catalogue.areas
    if not area or not named or area in named:
        return []
    return [Problem(place, f"unknown area '{area}': one of {', '.join(named)}")]


def label_problems(
    catalogue: Catalogue,
    label: Label,
    place: str,
    custodian: str | None,
    consented_to: list[str],
    custody_place: str,
) -> list[Problem]:
    """Unknown policies, levels or groups named by a label and its custody."""
    found: list[Problem] = []
    originator, classification = label["originator"], label["classification"]
    policy = catalogue.policies.get(originator)
    if policy is None:
        found.append(Problem(f"{place}.originator", f"unknown policy '{originator}'"))
    elif classification not in policy.ranks:
        found.append(
            Problem(
                f"{place}.classification",
                f"unknown level '{classification}' of {originator}",
            )
        )
    else:
        categories = categories_of(label) or {}
        found += category_problems(policy, classification, categories, f"{place}.categories")
    for field, names in (
        (f"{place}.releasable_to", label.get("releasable_to", [])),
        (f"{custody_place}consented_to", consented_to),
    ):
        for i, name in enumerate(names):
            if name not in catalogue.names_known:
                found.append(Problem(f"{field}[{i}]", f"unknown policy or group '{name}'"))
    if custodian is not None and custodian not in catalogue.policies:
        found.append(Problem(f"{custody_place}custodian", f"unknown policy '{custodian}'"))
    return found


def check_request(catalogue: Catalogue, request: Request) -> None:
    """Refuse a request that names anything the catalogue does not know."""
    found = subject_problems(catalogue, request["subject"], "subject")
    found += label_problems(
        catalogue,
        request["label"],
        "label",
        request.get("custodian"),
        request.get("consented_to", []),
        "",
    )
    if found:
        raise RequestError(found)
