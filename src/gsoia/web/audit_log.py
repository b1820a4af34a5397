"""The audit log page for people: entries newest first as sentences with links, narrowed by
item, user, kind and day range (``gsoia.node.audit_search``), with the log's signed head and
whether it verifies: the entries appended since the page last verified it, the whole log
the first time in a process and when asked (``?verify=whole``; ``gsoia.node.audit_checks``).

What an officer may not read is withheld here exactly as the REST API withholds it: both go
through ``gsoia.node.audit_view.shown_entries``."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from gsoia.errors import GsoiaError, Problem, RequestError
from gsoia.node.audit_search import AuditFilter, search
from gsoia.node.holdings import MAX_CURSOR
from gsoia.web.audit_sentences import VERBS, sentence
from gsoia.web.site import Site

_KIND = re.compile(r"[a-z_.]{1,32}")
_FIELDS = ("item", "actor", "kind", "since", "until")


def audit_filter(query: QueryParams) -> AuditFilter:
    """The filter a page's query asks for; ``RequestError`` naming each bad field."""
    problems = []
    text = {f: query.get(f, "").strip() for f in _FIELDS}
    if len(text["item"]) > 64:
        problems.append(Problem("item", "an item id is at most 64 characters"))
    if len(text["actor"]) > 128:
        problems.append(Problem("actor", "a user id is at most 128 characters"))
    if text["kind"] and not _KIND.fullmatch(text["kind"]):
        problems.append(Problem("kind", f"no kind of entry is called {text['kind'][:40]!r}"))
    days: dict[str, dt.date | None] = {}
    for field in ("since", "until"):
        try:
            days[field] = dt.date.fromisoformat(text[field]) if text[field] else None
        except ValueError:
            problems.append(Problem(field, f"{text[field][:40]!r} is not a day (2026-12-07)"))
    if problems:
        raise RequestError(problems)
    return AuditFilter(
        item=text["item"] or None,
        actor=text["actor"] or None,
        kind=text["kind"] or None,
        since=days["since"],
        until=days["until"],
    )


def _before(query: QueryParams) -> int | None:
    text = query.get("before", "")
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_CURSOR:
        raise RequestError.of("before", f"{text[:40]!r} is not an entry number")
    return int(text)


def add_routes(router: APIRouter, site: Site) -> None:
    node = site.node

    @router.get("/web/audit")
    def audit_page(request: Request) -> Response:
        user = site.user(request)
        wanted = audit_filter(request.query_params)
        before = _before(request.query_params)
        found = search(node, user, wanted, before=before)
        whole = request.query_params.get("verify") == "whole"
        try:  # from where the last verification ended (``node.audit_checks``)
            verified, failure = node.audit_checks.verified(whole=whole), None
        except GsoiaError as e:
            verified, failure = None, e.diagnostics()
        head = node.audit.head()
        filters = {f: request.query_params.get(f, "").strip() for f in _FIELDS}
        kept = {f: v for f, v in filters.items() if v}
        return site.page(
            request,
            "audit.html",
            nav="audit",
            head=head.to_dict() if head else None,
            signing_key=node.public.signing.hex(),
            verified=verified,
            failure=failure,
            entries=[
                e | {"data_text": _short(e.get("data")), "sentence": sentence(e, found.titles)}
                for e in found.entries
            ],
            filters=filters,
            filtered=bool(kept),
            kinds=sorted(VERBS),
            before=before,
            older=None if found.older is None else urlencode(kept | {"before": found.older}),
            link=lambda **more: urlencode(kept | more),
        )


def _short(data: Any, limit: int = 240) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
