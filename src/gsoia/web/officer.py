"""The security officer's pages: incidents with their deadlines.

Consent requests and the outbox are in ``gsoia.web.queues``; the audit log in
``gsoia.web.audit_log``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gsoia.node.exchange.incident_steps import STEPS
from gsoia.web.site import Site


def duration(seconds: float) -> str:
    """``2 d 3 h``, ``5 h 12 min``, ``40 min``, ``under a minute``."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return "under a minute"


@dataclass(frozen=True)
class IncidentRow:
    incident: dict[str, Any]
    state: str
    """``overdue``, ``open`` or ``told``."""
    when: str
    """What the officer must know: ``3 h 5 min late``, ``5 h 12 min left``, ``told``."""


def incident_rows(incidents: list[dict[str, Any]], now: dt.datetime) -> list[IncidentRow]:
    """Those still open before the closed; among them overdue first, then those to tell,
    then those told; newest first in each."""
    rows = []
    for incident in incidents:
        deadline = dt.datetime.fromisoformat(incident["notify_by"])
        if incident.get("notified_at"):
            rows.append(IncidentRow(incident, "told", "told"))
        elif incident.get("overdue") or now > deadline:
            late = (now - deadline).total_seconds()
            rows.append(IncidentRow(incident, "overdue", f"{duration(late)} late"))
        else:
            left = (deadline - now).total_seconds()
            rows.append(IncidentRow(incident, "open", f"{duration(left)} left"))
    order = {"overdue": 0, "open": 1, "told": 2}
    rows.sort(key=lambda r: r.incident["reported_at"], reverse=True)  # newest first
    return sorted(rows, key=lambda r: (r.incident.get("state") == "closed", order[r.state]))


def next_steps(incident: dict[str, Any]) -> list[str]:
    """The states an officer of this node may take an incident to next (none for one told
    by another node, which handles it)."""
    if incident.get("reported_from"):
        return []
    return list(STEPS[STEPS.index(incident.get("state") or "reported") + 1 :])


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/incidents")
    def incidents_page(request: Request) -> Response:
        user = site.user(request)
        rows = incident_rows(node.incidents(user), node.clock())
        stepped = request.query_params.get("stepped", "")[:64]
        return site.page(
            request,
            "incidents.html",
            nav="incidents",
            rows=rows,
            overdue=sum(r.state == "overdue" for r in rows),
            open=sum(bool(r.incident["open"]) for r in rows),
            hours=node.config.incident_deadline_hours,
            next_steps=next_steps,
            stepped=next((r.incident for r in rows if r.incident["id"] == stepped), None),
        )

    @router.post("/web/incidents/{incident_id}/steps")
    async def step(request: Request, incident_id: str) -> Response:
        form = await request.form()
        user = site.check_form(request, form)
        incident_id = incident_id[:64]
        await run_in_threadpool(
            node.exchange.step_incident,
            user,
            incident_id,
            str(form.get("state") or "")[:32],
            str(form.get("note") or "")[:2000],
        )
        return RedirectResponse(
            f"/web/incidents?stepped={quote(incident_id, safe='')}#stepped-notice",
            status_code=303,
        )
