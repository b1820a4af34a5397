"""Release to a partner, from the item's page: the decision shown before anything is sent.

The analyst chooses a partner nation (a plain GET form: choosing sends nothing), the page
shows what the partner's node would decide (``Exchange.preview``: rules 1-5 of
docs/decision.md §3 for the partner's cleared readers) with the marking it would carry,
and only then a confirm button posts the release (``Exchange.release``). A refusal shows
its reason code, explanation and rule. For an item this node holds as custodian, the
third-party rule refuses until the originator consents: the page offers to ask it
(``Exchange.request_consent``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gsoia.decision import Decision, Reason
from gsoia.errors import RequestError
from gsoia.node.errors import Denied
from gsoia.node.users import User
from gsoia.web.items import release_partners
from gsoia.web.site import RULES, Site

MAX_NATION = 32


def _nation(value: Any) -> str:
    return str(value or "").strip()[:MAX_NATION]


SENT_STATES = ("queued", "retrying", "delivered", "received", "reported")
"""The states of a link to a nation that holds the item, or will."""


def already_sent(custody: dict[str, Any], to: str) -> list[dict[str, Any]]:
    """The packages that carried the item to ``to``, or wait to (newest first)."""
    links = [link for link in custody["chain"] if link["to"] == to]
    return [link for link in reversed(links) if link["state"] in SENT_STATES]


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/items/{item_id}/release")
    def preview_page(request: Request, item_id: str) -> Response:
        user = site.user(request)
        to = _nation(request.query_params.get("to"))
        return _page(site, request, user, item_id, to)

    @router.post("/web/items/{item_id}/release")
    async def release(request: Request, item_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        to = _nation(form.get("to"))
        if not to:
            raise RequestError.of("to", "choose the partner nation to release to")
        try:
            sent = await run_in_threadpool(node.exchange.release, user, item_id, to)
        except Denied as e:  # for the partner; a refused read of one's own fails in _page
            return await run_in_threadpool(
                _page, site, request, user, item_id, to, e.decision, None, None, 403
            )
        return await run_in_threadpool(_page, site, request, user, item_id, to, None, sent)

    @router.post("/web/items/{item_id}/consent-requests")
    async def ask_consent(request: Request, item_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        to = _nation(form.get("to"))
        if not to:
            raise RequestError.of("to", "choose the nation the consent is for")
        asked = await run_in_threadpool(node.exchange.request_consent, user, item_id, to)
        return await run_in_threadpool(_page, site, request, user, item_id, to, None, None, asked)


def _page(
    site: Site,
    request: Request,
    user: User,
    item_id: str,
    to: str,
    refused: Decision | None = None,
    sent: dict[str, Any] | None = None,
    asked: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """The release page of one item: the partner chooser and, once chosen, its decision."""
    node = site.node
    item = node.read_item(user, item_id)
    marking = item["marking"]
    offered = release_partners(site, item["label"]["originator"])
    decision: Decision | None = refused
    if to and decision is None and sent is None:
        decision = node.exchange.preview(user, item_id, to)
    pinned = bool(to) and node.exchange.known_peer(to) is not None
    earlier = already_sent(node.exchange.custody(user, item_id), to) if to and not sent else []
    band = None
    if decision is not None and decision.marking is not None:
        band = site.band(decision.marking.level.policy, decision.marking.level.id)
    return site.page(
        request,
        "release.html",
        status,
        nav="items",
        item=item,
        banner=site.band(marking["level"]["policy"], marking["level"]["id"]),
        partners=offered,
        to=to,
        to_name=site.policy_name(to) if to else "",
        decision=decision,
        rule_text=RULES[decision.reason] if decision is not None else "",
        partner_band=band,
        pinned=pinned,
        refused=refused is not None,
        sent=sent,
        asked=asked,
        earlier=earlier,
        may_ask=(
            decision is not None
            and decision.reason is Reason.THIRD_PARTY
            and item["label"]["originator"] != node.nation
        ),
    )
