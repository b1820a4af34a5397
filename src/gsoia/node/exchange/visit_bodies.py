"""What assurance and visit packages carry (their ``body``), as a receiver reads it: pure.

The person's name and birth data travel sealed to the receiving node (``sealed_person``,
``gsoia.crypto.seal`` with the package id as context), never in the clear; a visitor's
token likewise (``tokens``). A body that does not read is refused whole (MALFORMED).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictStr

_FORBID = ConfigDict(extra="forbid")
Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Topic = Annotated[StrictStr, Field(min_length=1, max_length=64)]
PersonId = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
"""A person's id: printable (it names the visitor's account, ``gsoia.node.visitors``)."""
Text = Annotated[StrictStr, Field(max_length=2000)]
VisitKind = Literal["one-time", "recurring", "emergency", "amendment"]


class Person(BaseModel):
    """A person as an assurance names them: what is sealed to the receiving node."""

    model_config = _FORBID
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    birth_date: dt.date | None = None
    birth_place: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None


class AssuranceBody(BaseModel):
    model_config = _FORBID
    assurance: Name
    person_id: PersonId
    sealed_person: StrictStr
    clearance: Name
    expires: dt.date
    need_to_know: Annotated[list[Topic], Field(max_length=100)]
    issued_by: Name
    issued_at: Annotated[StrictStr, Field(max_length=40)]


class AssuranceAmendedBody(BaseModel):
    model_config = _FORBID
    assurance: Name
    clearance: Name
    expires: dt.date
    need_to_know: Annotated[list[Topic], Field(max_length=100)]


class AssuranceWithdrawnBody(BaseModel):
    model_config = _FORBID
    assurance: Name


class VisitRequestBody(BaseModel):
    model_config = _FORBID
    visit: Name
    visitors: Annotated[list[Name], Field(min_length=1, max_length=100)]
    purpose: Text
    place: Text
    first_day: dt.date
    last_day: dt.date
    areas: Annotated[list[Topic], Field(min_length=1, max_length=100)]
    kind: VisitKind
    reason: Text | None
    amends: Name | None
    level: Name
    requested_by: Name
    requested_at: AwareDatetime | None = None
    """When the visiting party's officer made the request (signed with the body): the host
    judges the lead time from it, however long the package waited in the outbox; none
    from a sender that sends no such field (the package's own time is taken)."""


class VisitAnswerBody(BaseModel):
    model_config = _FORBID
    visit: Name
    approved: StrictBool
    note: Text
    level: Name | None
    tokens: dict[Name, StrictStr]
    """Each visitor's token (by person id), sealed to the visiting node; none if refused."""


class VisitCancelledBody(BaseModel):
    model_config = _FORBID
    visit: Name


class VisitStepBody(BaseModel):
    """The host asks for more on a request (``visit_more_asked``), or ends an approved visit
    early (``visit_ended``), with its officer's note."""

    model_config = _FORBID
    visit: Name
    note: Text


class VisitorRemovedBody(BaseModel):
    """The host's admin removed one visitor's account (``visitor_removed``)."""

    model_config = _FORBID
    visit: Name
    person_id: PersonId
