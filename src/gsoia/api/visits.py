"""The REST API of personnel security assurances and visits (``gsoia.node.exchange``):
``/api/v1/assurances`` and ``/api/v1/visits``, for officers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from gsoia.api.auth import Caller
from gsoia.node.exchange.amendments import Amendment
from gsoia.node.exchange.visit_bodies import Person, PersonId
from gsoia.node.exchange.visits import VisitRequest
from gsoia.node.service import Node

Short = Annotated[str, Field(min_length=1, max_length=64)]
Topic = Annotated[str, Field(min_length=1, max_length=64)]
Words = Annotated[str, Field(max_length=2000)]


def _without_nul(value: Any, place: str) -> None:
    """``ValueError`` naming the first text under ``value`` that holds a NUL character."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{place}: NUL characters are not accepted")
    if isinstance(value, dict):
        for key, item in value.items():
            _without_nul(item, f"{place}.{key}" if place else str(key))
    if isinstance(value, list):
        for i, item in enumerate(value):
            _without_nul(item, f"{place}[{i}]")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        _without_nul(self.model_dump(mode="json"), "")
        return self


class PersonIn(Person):
    id: PersonId
    # (its text is checked for NUL with the body that holds it)


class AssuranceIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The partner nation")
    person: PersonIn
    clearance: Short = Field(description="The person's clearance, in this nation's scheme")
    expires: dt.date
    need_to_know: Annotated[list[Topic], Field(max_length=100)] = []


class AmendmentIn(_In):
    clearance: Short | None = None
    expires: dt.date | None = None
    need_to_know: Annotated[list[Topic], Field(max_length=100)] | None = None


class VisitIn(_In):
    to: str = Field(min_length=1, max_length=32, description="The host nation")
    visitors: Annotated[list[Short], Field(min_length=1, max_length=100)] = Field(
        description="Assurance ids, one per visitor"
    )
    purpose: Words
    place: Words
    first_day: dt.date
    last_day: dt.date
    areas: Annotated[list[Topic], Field(min_length=1, max_length=100)]
    kind: Literal["one-time", "recurring", "emergency", "amendment"]
    reason: Words | None = None
    amends: Short | None = None
    level: Short | None = Field(
        default=None, description="Highest level asked, this nation's scheme (default: assured)"
    )


class LeadTimeIn(_In):
    days: StrictInt = Field(description="Days a request must come before its first day")


class AnswerIn(_In):
    note: Words = ""
    level: Short | None = Field(
        default=None, description="Highest level approved, the visiting party's scheme"
    )


def visits_router(node: Node) -> APIRouter:
    router = APIRouter()
    exchange = node.exchange

    @router.post("/api/v1/assurances", status_code=201, summary="Assure a person (officer)")
    def issue(body: AssuranceIn, caller: Caller) -> dict[str, Any]:
        person = Person.model_validate(body.person.model_dump(exclude={"id"}))
        return exchange.assurances.issue(
            caller,
            body.to,
            body.person.id,
            person,
            body.clearance,
            body.expires,
            body.need_to_know,
        )

    @router.get("/api/v1/assurances", summary="Assurances issued and received (officer)")
    def assurances(caller: Caller) -> list[dict[str, Any]]:
        return exchange.assurances.listed(caller)

    @router.post(
        "/api/v1/assurances/{assurance_id}/withdraw", summary="Withdraw an assurance (officer)"
    )
    def withdraw(assurance_id: str, caller: Caller) -> dict[str, Any]:
        return exchange.assurances.withdraw(caller, assurance_id)

    @router.post("/api/v1/assurances/{assurance_id}/amend", summary="Amend an assurance (officer)")
    def amend(assurance_id: str, body: AmendmentIn, caller: Caller) -> dict[str, Any]:
        change = Amendment(body.clearance, body.expires, body.need_to_know)
        return exchange.amendments.amend(caller, assurance_id, change)

    @router.post("/api/v1/visits", status_code=201, summary="Request a visit (officer)")
    def request(body: VisitIn, caller: Caller) -> dict[str, Any]:
        return exchange.visits.request(caller, VisitRequest(**body.model_dump()))

    @router.get("/api/v1/visits", summary="Visits requested and received (officer)")
    def listed(caller: Caller) -> list[dict[str, Any]]:
        return exchange.visits.listed(caller)

    @router.post("/api/v1/visits/{visit_id}/approve", summary="Approve a visit (host officer)")
    def approve(visit_id: str, body: AnswerIn, caller: Caller) -> dict[str, Any]:
        return exchange.visit_answers.decide(
            caller, visit_id, approve=True, note=body.note, level=body.level
        )

    @router.post("/api/v1/visits/{visit_id}/refuse", summary="Refuse a visit (host officer)")
    def refuse(visit_id: str, body: AnswerIn, caller: Caller) -> dict[str, Any]:
        return exchange.visit_answers.decide(
            caller, visit_id, approve=False, note=body.note, level=None
        )

    @router.post("/api/v1/visits/{visit_id}/ask", summary="Ask for more on a visit (host)")
    def ask(visit_id: str, body: AnswerIn, caller: Caller) -> dict[str, Any]:
        return exchange.visit_steps.ask(caller, visit_id, body.note)

    @router.post("/api/v1/visits/{visit_id}/end", summary="End an approved visit now (host)")
    def end(visit_id: str, body: AnswerIn, caller: Caller) -> dict[str, Any]:
        return exchange.visit_steps.end(caller, visit_id, body.note)

    @router.post("/api/v1/visits/{visit_id}/cancel", summary="Cancel a visit (visiting officer)")
    def cancel(visit_id: str, caller: Caller) -> dict[str, Any]:
        return exchange.visits.cancel(caller, visit_id)

    @router.get("/api/v1/visit-lead-times", summary="Each agreement's lead time (officer)")
    def lead_times(caller: Caller) -> list[dict[str, Any]]:
        return exchange.lead_times.listed(caller)

    @router.put(
        "/api/v1/visit-lead-times/{agreement_id}", summary="Set an agreement's lead time (officer)"
    )
    def set_lead_time(agreement_id: str, body: LeadTimeIn, caller: Caller) -> dict[str, Any]:
        return exchange.lead_times.set(caller, agreement_id, body.days)

    @router.get("/api/v1/visits/{visit_id}/tokens", summary="The visitors' tokens, each shown once")
    def tokens(visit_id: str, caller: Caller) -> dict[str, Any]:
        return exchange.visit_answers.tokens(caller, visit_id)

    return router
