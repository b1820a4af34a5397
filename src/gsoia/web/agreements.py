"""The agreements pages: the matrix on a chosen date, and each agreement's story and table.

The date comes from a date field (``at``) or a slider (``day``: days since the slider's
first date); each is its own GET form, so both work without JavaScript. With htmx, moving
either redraws the matrix in place and updates the other control (``hx-select-oob``).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gsoia.catalogue.model import Catalogue
from gsoia.node.errors import NotFound
from gsoia.web.charts import LEGEND, LOOKS, chapters, matrix, summary, timeline
from gsoia.web.site import Site, parse_day


def slider_range(catalogue: Catalogue, today: dt.date) -> tuple[dt.date, dt.date]:
    """From the 1st of January of the first event's year to today (or the last event)."""
    dates = catalogue.event_dates()
    first = dt.date(dates[0].year, 1, 1) if dates else today - dt.timedelta(days=365)
    last = max([today, *dates[-1:]])
    return first, last


def chosen_day(request: Request, first: dt.date, today: dt.date) -> dt.date:
    """The date asked for by ``at`` (a date) or ``day`` (a slider position); else today."""
    query = request.query_params
    day = parse_day(query.get("at"))
    offset = query.get("day", "")
    if day is None and offset.isdigit() and len(offset) < 7:
        day = first + dt.timedelta(days=int(offset))
    day = day or today
    return max(dt.date(1900, 1, 1), min(day, dt.date(2199, 12, 31)))


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node
    catalogue = site.catalogue

    @router.get("/web/agreements")
    def agreements_page(request: Request) -> Response:
        site.user(request)
        today = node.today()
        first, last = slider_range(catalogue, today)
        day = chosen_day(request, first, today)
        position = min(max((day - first).days, 0), (last - first).days)
        statuses = [(a, a.status_on(day)) for a in catalogue.agreements]
        return site.page(
            request,
            "agreements.html",
            nav="agreements",
            day=day,
            first=first,
            last=last,
            position=position,
            span_days=(last - first).days,
            marks=[((d - first).days, d) for d in catalogue.event_dates() if first <= d <= last],
            grid=matrix(catalogue, node.nation, day),
            legend=LEGEND,
            looks=LOOKS,
            statuses=statuses,
        )

    @router.get("/web/agreements/{agreement_id}")
    def agreement_page(request: Request, agreement_id: str) -> Response:
        site.user(request)
        agreement = catalogue.agreement(agreement_id[:64])
        if agreement is None:
            raise NotFound(f"no agreement {agreement_id[:64]} in the catalogue")
        today = node.today()
        day = parse_day(request.query_params.get("at")) or today
        parties = agreement.parties
        rows = [[(p, row.get(p, [])) for p in parties] for row in agreement.rows()]
        sources = [
            str(row.get("source", "")) if isinstance(row.get("source"), str) else ""
            for row in agreement.equivalence
        ]
        return site.page(
            request,
            "agreement.html",
            nav="agreements",
            agreement=agreement,
            day=day,
            on_day=agreement.status_on(day),
            looks=LOOKS,
            chapters=chapters(agreement, day),
            summary=summary(agreement, day),
            today_summary=summary(agreement, today) if day != today else "",
            line=timeline(agreement, day, today),
            rows=list(zip(rows, sources, strict=True)),
        )
