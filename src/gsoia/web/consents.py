"""An item's consents on its page, at the originator's node: each consent its officers gave,
a form to give one without a request and, on each consent in force, a form to withdraw it
(opened first, with an optional note). Both are told to every custodian of the item, as
over REST (``Exchange.consent``, ``Exchange.withdraw_consent``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gsoia.errors import RequestError
from gsoia.web.queues import officer_note
from gsoia.web.site import Site

MAX_NATION = 32


def _to_item(item_id: str, done: str, party: str) -> str:
    return f"/web/items/{quote(item_id, safe='')}?{done}={quote(party, safe='')}#consents"


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.post("/web/items/{item_id}/consents")
    async def give(request: Request, item_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        to = str(form.get("to") or "").strip()[:MAX_NATION]
        if not to:
            raise RequestError.of("to", "choose the nation the consent is for")
        note = officer_note(form.get("note"))
        await run_in_threadpool(node.exchange.consent, user, item_id, to, None, note)
        return RedirectResponse(_to_item(item_id, "consented", to), status_code=303)

    @router.post("/web/items/{item_id}/consents/{party}/withdraw")
    async def withdraw(request: Request, item_id: str, party: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        note = officer_note(form.get("note"))
        party = party[:MAX_NATION]
        await run_in_threadpool(node.exchange.withdraw_consent, user, item_id, party, note)
        return RedirectResponse(_to_item(item_id, "withdrawn", party), status_code=303)


def shown(site: Site, request: Request, item_id: str, originator: str) -> dict[str, Any]:
    """What the item page shows of the item's consents (on the originator's node only)."""
    node = site.node
    if originator != node.nation:
        return {"consents": None}
    user = site.user(request)
    query = request.query_params
    return {
        "consents": node.exchange.consents_of(user, item_id),
        "consented": query.get("consented", "")[:MAX_NATION],
        "withdrawn": query.get("withdrawn", "")[:MAX_NATION],
    }
