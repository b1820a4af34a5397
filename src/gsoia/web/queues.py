"""The security officer's federation queues: consent requests and the outbox.

Consent requests are custodians asking this node, the originator, for written consent to
pass one of its items to a third party; an officer grants or refuses each
(``Exchange.decide_request``). The outbox holds the packages this node sends: pending
(not yet tried), retrying (tried, failed, tried again later), failed (refused by the
peer), delivered and unacknowledged (a release the peer took without a receipt that
verifies: posted again for it, so listed with those that wait), delivered or cancelled;
an officer may cancel one that has not gone (``Exchange.cancel``). Every button is a POST
form with the session's CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gsoia.errors import RequestError
from gsoia.federation.courier import State
from gsoia.web.site import Site

DONE_SHOWN = 50
"""The delivered and cancelled packages shown, newest first."""
MAX_ID = 64
MAX_NOTE = 1000
WAITING = ("pending", "retrying", "unacknowledged", "failed")
"""The states of the packages that wait: to be delivered, for their receipt, or refused."""


@dataclass(frozen=True)
class Delivery:
    """One outbox row as the officer reads it."""

    row: dict[str, Any]
    shown_state: str
    """``pending``, ``retrying``, ``unacknowledged``, ``failed``, ``delivered`` or
    ``cancelled``."""

    @property
    def cancellable(self) -> bool:
        return self.row["state"] in (State.PENDING, State.FAILED)

    @property
    def waiting(self) -> bool:
        """Not done: to be delivered, refused, or delivered and waiting for its receipt."""
        return self.shown_state in WAITING


def deliveries(rows: list[dict[str, Any]]) -> list[Delivery]:
    """Outbox rows with their shown state: a pending package already tried is retrying."""
    found = []
    for row in rows:
        state = str(row["state"])
        if state == State.PENDING and int(row["attempts"] or 0) > 0:
            state = "retrying"
        found.append(Delivery(row, state))
    return found


def officer_note(value: Any) -> str | None:
    """An officer's optional note, as typed (at most ``MAX_NOTE`` characters)."""
    text = str(value or "").strip()[:MAX_NOTE]
    return text or None


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/consent-requests")
    def consent_page(request: Request) -> Response:
        user = site.user(request)
        requests = node.exchange.consent_requests(user)
        decided_id = request.query_params.get("decided", "")[:MAX_ID]
        decided = [r for r in requests if r["state"] != "pending"]
        decided.sort(key=lambda r: str(r["decided_at"] or ""), reverse=True)
        return site.page(
            request,
            "consent_requests.html",
            nav="consents",
            pending=[r for r in requests if r["state"] == "pending"],
            decided=decided,
            just_decided=next((r for r in decided if r["id"] == decided_id), None),
            sent=node.exchange.consent_requests_sent(user),
        )

    @router.post("/web/consent-requests/{request_id}")
    async def decide(request: Request, request_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        choice = form.get("decision")
        if choice not in ("grant", "refuse"):
            raise RequestError.of("decision", "grant or refuse")
        request_id = request_id[:MAX_ID]
        await run_in_threadpool(
            lambda: node.exchange.decide_request(
                user, request_id, grant=choice == "grant", note=officer_note(form.get("note"))
            )
        )
        return RedirectResponse(
            f"/web/consent-requests?decided={quote(request_id, safe='')}#decided-notice",
            status_code=303,
        )

    @router.get("/web/outbox")
    def outbox_page(request: Request) -> Response:
        user = site.user(request)
        rows = deliveries(node.exchange.outbox(user))
        waiting = [d for d in rows if d.waiting]
        done = [d for d in rows if not d.waiting]
        cancelled_id = request.query_params.get("cancelled", "")[:MAX_ID]
        counts = {s: sum(d.shown_state == s for d in rows) for s in WAITING}
        return site.page(
            request,
            "outbox.html",
            nav="outbox",
            waiting=waiting,
            done=done[:DONE_SHOWN],
            more_done=max(0, len(done) - DONE_SHOWN),
            counts=counts,
            just_cancelled=next(
                (
                    d
                    for d in done
                    if d.row["package_id"] == cancelled_id and d.shown_state == State.CANCELLED
                ),
                None,
            ),
        )

    @router.post("/web/outbox/{package_id}/cancel")
    async def cancel(request: Request, package_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        package_id = package_id[:MAX_ID]
        await run_in_threadpool(
            node.exchange.cancel, user, package_id, officer_note(form.get("note"))
        )
        return RedirectResponse(
            f"/web/outbox?cancelled={quote(package_id, safe='')}#cancelled-notice", status_code=303
        )
