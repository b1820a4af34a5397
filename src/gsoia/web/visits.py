"""The officers' page of visits: the requests partners made to this node, each visitor
with its assurance, approved, refused or asked for more here; the calendar of approved
visits, those to this node each with a button to end it now (ticked to confirm); the
requests this node made, with the form to make one (or amend one waiting) and, once
approved, the visitors' tokens, each shown once; each agreement's lead time, with a form
to set one (``lead_times``) (``gsoia.node.exchange.visits``,
``visit_answers``, ``visit_steps``). Every button is a POST form with the session's CSRF
token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from gsoia.errors import RequestError
from gsoia.node.exchange.visits import KINDS, WAITING, VisitRequest
from gsoia.web.site import Site

MAX_ID = 64
MAX_TEXT = 2000


def text_field(form: FormData, name: str) -> str:
    """A form's text field, stripped (at most ``MAX_TEXT`` characters); "" if absent."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        raise RequestError.of(name, "NUL characters are not accepted")
    return value.strip()[:MAX_TEXT]


def day_field(form: FormData, name: str) -> dt.date:
    """A form's date field; ``RequestError`` naming it unless it is YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text_field(form, name))
    except ValueError as e:
        raise RequestError.of(name, "a date (YYYY-MM-DD)") from e


def asked(form: FormData) -> VisitRequest:
    """A request for a visit as the form gives it."""
    areas = [a.strip() for a in text_field(form, "areas").split(",") if a.strip()]
    visitors = [v[:MAX_ID] for v in form.getlist("visitors") if isinstance(v, str)]
    if any("\x00" in v for v in visitors):
        raise RequestError.of("visitors", "NUL characters are not accepted")
    return VisitRequest(
        to=text_field(form, "to"),
        visitors=visitors,
        purpose=text_field(form, "purpose"),
        place=text_field(form, "place"),
        first_day=day_field(form, "first_day"),
        last_day=day_field(form, "last_day"),
        areas=areas,
        kind=text_field(form, "kind"),
        reason=text_field(form, "reason") or None,
        level=text_field(form, "level") or None,
        amends=text_field(form, "amends")[:MAX_ID] or None,
    )


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/visits")
    def visits_page(request: Request) -> Response:
        user = site.user(request)
        visits = node.exchange.visits.listed(user)
        assured = node.exchange.assurances.listed(user)
        lead_times = node.exchange.lead_times.listed(user)
        approved = [v for v in visits if v["state"] == "approved"]
        received = [v for v in visits if v["direction"] == "received"]
        done = request.query_params.get("done", "")[:MAX_ID]
        return site.page(
            request,
            "visits.html",
            nav="visits",
            waiting=[v for v in received if v["state"] == "requested"],
            calendar=sorted(approved, key=lambda v: (v["first_day"], v["id"])),
            requested=[v for v in visits if v["direction"] == "requested"],
            assurable=[a for a in assured if a["direction"] == "issued" and a["state"] == "valid"],
            levels=[level.id for level in node.rulebook.catalogue.policies[node.nation].levels],
            kinds=KINDS,
            amendable=[
                v for v in visits if v["direction"] == "requested" and v["state"] in WAITING
            ],
            just_done=next((v for v in visits if v["id"] == done), None),
            leads={t["agreement"]: t["days"] for t in lead_times if t["status"] == "in_force"},
            lead_times=lead_times,
            lead_set=request.query_params.get("lead", "")[:MAX_ID],
        )

    @router.post("/web/visit-lead-times")
    async def set_lead_time(request: Request) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        agreement, days = text_field(form, "agreement")[:MAX_ID], text_field(form, "days")
        if not days.isdigit() or len(days) > 3:
            raise RequestError.of("days", "a whole number of days from 0 to 365")
        await run_in_threadpool(node.exchange.lead_times.set, user, agreement, int(days))
        return RedirectResponse(
            f"/web/visits?lead={quote(agreement, safe='')}#lead-times", status_code=303
        )

    @router.post("/web/visits")
    async def request_visit(request: Request) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        made: dict[str, Any] = await run_in_threadpool(
            node.exchange.visits.request, user, asked(form)
        )
        return RedirectResponse(
            f"/web/visits?done={quote(made['id'], safe='')}#done-notice", status_code=303
        )

    @router.post("/web/visits/{visit_id}")
    async def decide(request: Request, visit_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        choice = form.get("decision")
        if choice not in ("approve", "refuse", "ask", "end"):
            raise RequestError.of("decision", "approve, refuse, ask or end")
        if choice == "end" and form.get("confirm") != "yes":
            raise RequestError.of("confirm", "tick it to end the visit now")
        visit_id, note = visit_id[:MAX_ID], text_field(form, "note")
        steps = node.exchange.visit_steps
        await run_in_threadpool(
            lambda: (
                steps.ask(user, visit_id, note)
                if choice == "ask"
                else steps.end(user, visit_id, note)
                if choice == "end"
                else node.exchange.visit_answers.decide(
                    user,
                    visit_id,
                    approve=choice == "approve",
                    note=note,
                    level=text_field(form, "level") or None,
                )
            )
        )
        return RedirectResponse(
            f"/web/visits?done={quote(visit_id, safe='')}#done-notice", status_code=303
        )

    @router.post("/web/visits/{visit_id}/tokens")
    async def tokens(request: Request, visit_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        shown = await run_in_threadpool(node.exchange.visit_answers.tokens, user, visit_id[:MAX_ID])
        return site.page(
            request, "visit_tokens.html", nav="visits", visit=visit_id, tokens=shown["tokens"]
        )
