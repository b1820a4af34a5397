"""A decision request (DECISION.md §2): its shape, and its references checked.

A request naming an unknown policy, level or group, or malformed in any way, is not a
decision: it is a ``RequestError`` whose place names the field (``label.classification``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from gsoia.catalogue.load import problems_from_validation
from gsoia.catalogue.model import Catalogue
from gsoia.errors import Problem, RequestError

Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Subject(_Strict):
    """The person (or node) asking: nation, clearance in its own policy, need-to-know."""

    id: Annotated[StrictStr, Field(max_length=256)] = ""
    nation: Name
    clearance: Name | None = None
    clearance_expires: dt.date | None = None
    need_to_know: list[Name] = []

    def cleared_on(self, day: dt.date) -> str | None:
        """The clearance held on ``day``: none once it has expired."""
        if self.clearance_expires is not None and day > self.clearance_expires:
            return None
        return self.clearance


class Label(_Strict):
    """An item's confidentiality label, set by its originator."""

    originator: Name
    classification: Name
    area: Name | None = None
    releasable_to: list[Name] = []
    need_to_know: list[Name] = []


class HeldLabel(Label):
    """A label together with who holds the copy and what the originator consented to."""

    custodian: Name | None = None
    consented_to: list[Name] = []


class Request(_Strict):
    subject: Subject
    label: Label
    custodian: Name | None = None
    consented_to: list[Name] = []
    at: dt.date | None = None


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: Any, place: str) -> M:
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise RequestError([Problem(place, "must be an object")])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise RequestError(problems_from_validation(e, prefix=place)) from e


def parse_request(data: Any) -> Request:
    """The request's shape, checked (references are checked by ``check_request``)."""
    return _parse(Request, data, "")


def parse_subject(data: Any, place: str = "subject") -> Subject:
    return _parse(Subject, data, place)


def parse_held_label(data: Any, place: str) -> HeldLabel:
    return _parse(HeldLabel, data, place)


def subject_problems(catalogue: Catalogue, subject: Subject, place: str) -> list[Problem]:
    policy = catalogue.policies.get(subject.nation)
    if policy is None:
        return [Problem(f"{place}.nation", f"unknown policy '{subject.nation}'")]
    if subject.clearance is not None and policy.rank(subject.clearance) is None:
        return [
            Problem(
                f"{place}.clearance",
                f"unknown level '{subject.clearance}' of {subject.nation}",
            )
        ]
    return []


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
    policy = catalogue.policies.get(label.originator)
    if policy is None:
        found.append(Problem(f"{place}.originator", f"unknown policy '{label.originator}'"))
    elif policy.rank(label.classification) is None:
        found.append(
            Problem(
                f"{place}.classification",
                f"unknown level '{label.classification}' of {label.originator}",
            )
        )
    for field, names in (
        (f"{place}.releasable_to", label.releasable_to),
        (f"{custody_place}consented_to", consented_to),
    ):
        for i, name in enumerate(names):
            if name not in catalogue.policies and name not in catalogue.groups:
                found.append(Problem(f"{field}[{i}]", f"unknown policy or group '{name}'"))
    if custodian is not None and custodian not in catalogue.policies:
        found.append(Problem(f"{custody_place}custodian", f"unknown policy '{custodian}'"))
    return found


def check_request(catalogue: Catalogue, request: Request) -> None:
    """Refuse a request that names anything the catalogue does not know."""
    found = subject_problems(catalogue, request.subject, "subject")
    found += label_problems(
        catalogue, request.label, "label", request.custodian, request.consented_to, ""
    )
    if found:
        raise RequestError(found)
