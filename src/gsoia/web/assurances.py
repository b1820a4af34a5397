"""The officers' page of personnel security assurances: those this node issued (each with
the forms to amend or withdraw it, the withdrawal ticked to confirm) and those partners
issued to it, each with its equivalent level under the agreement in force; and the form to
issue one to a partner with an agreement in force (``gsoia.node.exchange.assurances``,
``amendments``). Every button is a POST form with the session's CSRF token; a bad field is
refused with one line naming it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from gsoia.errors import RequestError
from gsoia.node.exchange.amendments import Amendment
from gsoia.node.exchange.assurances import mapped
from gsoia.node.exchange.visit_bodies import Person
from gsoia.web.site import Site
from gsoia.web.visits import MAX_ID, day_field, text_field


def topics(form: FormData, name: str) -> list[str]:
    """A comma-separated form field as its areas."""
    return [t.strip() for t in text_field(form, name).split(",") if t.strip()]


def person(form: FormData) -> tuple[str, Person]:
    """The person's id and details as the issuing form gives them."""
    person_id = text_field(form, "person_id")
    if not (0 < len(person_id) <= MAX_ID and person_id.isprintable()):
        raise RequestError.of("person_id", f"1 to {MAX_ID} printable characters")
    born = text_field(form, "birth_date")
    try:
        details = Person(
            name=text_field(form, "name"),
            birth_date=day_field(form, "birth_date") if born else None,
            birth_place=text_field(form, "birth_place") or None,
        )
    except ValidationError as e:
        error = e.errors(include_url=False)[0]
        raise RequestError.of(str(error["loc"][0]), str(error["msg"])) from e
    return person_id, details


def amendment(form: FormData) -> Amendment:
    """What the amending form changes (a field left empty is kept)."""
    expires = text_field(form, "expires")
    return Amendment(
        clearance=text_field(form, "clearance") or None,
        expires=day_field(form, "expires") if expires else None,
        need_to_know=topics(form, "need_to_know") if text_field(form, "need_to_know") else None,
    )


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/assurances")
    def assurances_page(request: Request) -> Response:
        user = site.user(request)
        listed = node.exchange.assurances.listed(user)
        done = request.query_params.get("done", "")[:MAX_ID]
        return site.page(
            request,
            "assurances.html",
            nav="assurances",
            issued=[a for a in listed if a["direction"] == "issued"],
            received=[a for a in listed if a["direction"] == "received"],
            partners=sorted(
                p
                for p in node.rulebook.catalogue.policies
                if mapped(node, node.nation, p, node.today()) is not None
            ),
            levels=[level.id for level in node.rulebook.catalogue.policies[node.nation].levels],
            tomorrow=(node.today() + dt.timedelta(days=1)).isoformat(),
            just_done=next((a for a in listed if a["id"] == done), None),
        )

    @router.post("/web/assurances")
    async def issue(request: Request) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        person_id, details = person(form)
        to, clearance = text_field(form, "to")[:32], text_field(form, "clearance")[:MAX_ID]
        expires, areas = day_field(form, "expires"), topics(form, "need_to_know")
        made: dict[str, Any] = await run_in_threadpool(
            lambda: node.exchange.assurances.issue(
                user, to, person_id, details, clearance, expires, areas
            )
        )
        return _done(made["id"])

    @router.post("/web/assurances/{assurance_id}")
    async def change(request: Request, assurance_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        action, assurance_id = form.get("action"), assurance_id[:MAX_ID]
        if action == "withdraw":
            if form.get("confirm") != "yes":
                raise RequestError.of("confirm", "tick it to withdraw the assurance")
            await run_in_threadpool(node.exchange.assurances.withdraw, user, assurance_id)
        elif action == "amend":
            asked = amendment(form)
            await run_in_threadpool(node.exchange.amendments.amend, user, assurance_id, asked)
        else:
            raise RequestError.of("action", "amend or withdraw")
        return _done(assurance_id)


def _done(assurance_id: str) -> Response:
    return RedirectResponse(
        f"/web/assurances?done={quote(assurance_id, safe='')}#done-notice", status_code=303
    )
