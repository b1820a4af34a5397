"""The officers' page of visits: the requests partners made to this node, each visitor
with its assurance, approved or refused here; the calendar of approved visits; the
requests this node made, with the form to make one and, once approved, the visitors'
tokens, each shown once (``gsoia.node.exchange.visits``, ``visit_answers``). Every button
is a POST form with the session's CSRF token.
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
from gsoia.node.exchange.visits import KINDS, VisitRequest
from gsoia.web.site import Site

MAX_ID = 64
MAX_TEXT = 2000


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        raise RequestError.of(name, "NUL characters are not accepted")
    return value.strip()[:MAX_TEXT]


def _day(form: FormData, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_text(form, name))
    except ValueError as e:
        raise RequestError.of(name, "a date (YYYY-MM-DD)") from e


def asked(form: FormData) -> VisitRequest:
    """A request for a visit as the form gives it."""
    areas = [a.strip() for a in _text(form, "areas").split(",") if a.strip()]
    visitors = [v[:MAX_ID] for v in form.getlist("visitors") if isinstance(v, str)]
    if any("\x00" in v for v in visitors):
        raise RequestError.of("visitors", "NUL characters are not accepted")
    return VisitRequest(
        to=_text(form, "to"),
        visitors=visitors,
        purpose=_text(form, "purpose"),
        place=_text(form, "place"),
        first_day=_day(form, "first_day"),
        last_day=_day(form, "last_day"),
        areas=areas,
        kind=_text(form, "kind"),
        reason=_text(form, "reason") or None,
        level=_text(form, "level") or None,
    )


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/visits")
    def visits_page(request: Request) -> Response:
        user = site.user(request)
        visits = node.exchange.visits.listed(user)
        assured = node.exchange.assurances.listed(user)
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
            just_done=next((v for v in visits if v["id"] == done), None),
            lead=node.config.visit_lead_days,
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
        if choice not in ("approve", "refuse"):
            raise RequestError.of("decision", "approve or refuse")
        visit_id = visit_id[:MAX_ID]
        await run_in_threadpool(
            lambda: node.exchange.visit_answers.decide(
                user,
                visit_id,
                approve=choice == "approve",
                note=_text(form, "note"),
                level=_text(form, "level") or None,
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
