"""What every page shares: templates, the signed-in user, CSRF, error pages, headers.

A page is rendered on the server (Jinja2, autoescaped, undefined names are errors); htmx,
vendored under ``static/``, only spares a reload where a page can do without one. Every
refusal is a page that says why, with the status the REST API gives
(``gsoia.node.errors.ANSWERS``, the REST API's too), and is written to the audit log as the REST
API's refusals are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

from gsoia.catalogue.model import Catalogue
from gsoia.decision import Decision, Marking, Reason
from gsoia.decision.request import clearance_on
from gsoia.errors import GsoiaError, InputError
from gsoia.labels_xml.banner import banner_text, marking_display, marking_of
from gsoia.node.authority import Action
from gsoia.node.errors import (
    Denied,
    Forbidden,
    NodeError,
    Unauthorized,
    answer_for,
)
from gsoia.node.floods import client_address
from gsoia.node.routes import scope_action
from gsoia.node.service import ANONYMOUS, Node
from gsoia.node.sessions import WebSession
from gsoia.node.users import User
from gsoia.web.bands import Band, level_bands
from gsoia.web.reasons import reason_first
from gsoia.web.session import COOKIE, Sessions

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Vary": "Cookie, HX-Request",
}

RULES: dict[Reason, str] = {
    Reason.CLEARANCE: "Clearance: the reader's clearance must reach the level the item is "
    "protected at.",
    Reason.NEED_TO_KNOW: "Need to know: the reader must hold every topic the item names.",
    Reason.NOT_RELEASABLE: "Releasability: the reader's nation must be named in the item's "
    "releasable-to (directly or through a group).",
    Reason.THIRD_PARTY: "Third-party rule: a custodian passes an item on only with the "
    "originator's prior written consent.",
    Reason.NO_AGREEMENT: "Agreement: an agreement between the originator and the reader's "
    "nation must be in force on the day.",
    Reason.OUT_OF_SCOPE: "Scope: the agreement must cover the item's subject area.",
    Reason.NO_EQUIVALENT: "Equivalence: the agreement must give the item's level an "
    "equivalent in the reader's policy.",
    Reason.ALLOW: "Every rule holds.",
}
"""What each rule of docs/decision.md §3 asks, in one sentence, for the "why not" pages."""


class SignInRequired(Exception):
    """The page needs a signed-in user."""


class CsrfRefused(Forbidden):
    """A form came without this session's CSRF token."""


ENV = Environment(
    loader=PackageLoader("gsoia.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["reason_first"] = reason_first


def safe_next(target: str | None) -> str:
    """A place to go after signing in: a path of these pages, never another site."""
    if target and target.startswith("/web/") and "//" not in target and "\\" not in target:
        return target
    return "/web/items"


class Site:
    """The pages' shared state: the node, its sessions, its catalogue's banner colours."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.catalogue: Catalogue = node.rulebook.catalogue
        self.sessions = Sessions.from_node_key(node.keys.storage)
        self.bands = level_bands(self.catalogue)

    # -- who is there -----------------------------------------------------------------------

    def visitor(self, request: Request) -> tuple[User, WebSession] | None:
        """The signed-in user and session, if the cookie names a session that still holds."""
        cookie = self.sessions.read(request.cookies.get(COOKIE))
        session = self.node.sessions.find(*cookie) if cookie else None
        if session is None:
            return None
        return session.user, session

    def maybe_user(self, request: Request) -> User | None:
        """The signed-in user, if any (remembered on the request for the page's header)."""
        found = self.visitor(request)
        if found is None:
            return None
        user, session = found
        request.state.user = user
        request.state.session = session
        return user

    def user(self, request: Request) -> User:
        """The signed-in user, admitted to the page's action by the node's authority
        (``SignInRequired`` without one)."""
        user = self.maybe_user(request)
        if user is None:
            raise SignInRequired
        self.node.authority.admits(user, scope_action(request.scope)).check()
        return user

    def check_form(self, request: Request, form: FormData) -> User:
        """The signed-in user, if the form carries the session's CSRF token."""
        user = self.user(request)
        session: WebSession = request.state.session
        token = form.get("csrf")
        if not isinstance(token, str) or not self.sessions.csrf_ok(session.sid, token):
            raise CsrfRefused("the form did not carry this session's CSRF token")
        return user

    # -- words and colours --------------------------------------------------------------------

    def band(self, policy: str, level: str) -> Band:
        return self.bands.get((policy, level), Band.RESTRICTED)

    def level_text(self, policy: str, level: str) -> str:
        """``極秘 (Gokuhi)``: the level's name, and its Latin form where the catalogue has one."""
        found = self.catalogue.policies.get(policy)
        entry = next((lv for lv in found.levels if lv.id == level), None) if found else None
        if entry is None:
            return level
        if entry.latin:
            return f"{entry.name} ({entry.latin})"
        return entry.name

    def banner_text(self, item: Mapping[str, Any]) -> str:
        """An item view's marking as its banner shows it: in the SPIF's display marking
        where its policy has a SPIF (``gsoia.labels_xml.banner``), else as decided."""
        return banner_text(self.catalogue, item)

    def marking_display(
        self,
        marking: Marking | Mapping[str, Any],
        released: Sequence[str] | None,
        agreement: str | None = None,
    ) -> str:
        """A decision's marking (or its ``to_dict``, with the decision's ``agreement``) as
        the SPIFs display it (``gsoia.labels_xml.banner.marking_display``)."""
        if not isinstance(marking, Marking):
            marking = marking_of(marking, agreement)
        return marking_display(self.catalogue, marking, released)

    def policy_name(self, policy: str) -> str:
        found = self.catalogue.policies.get(policy)
        return found.name if found else policy

    # -- rendering ----------------------------------------------------------------------------

    def context(self, request: Request, **extra: Any) -> dict[str, Any]:
        user: User | None = getattr(request.state, "user", None)
        session: WebSession | None = getattr(request.state, "session", None)
        clearance = "uncleared"
        held = clearance_on(user.subject(), self.node.today()) if user else None
        if user is not None and held:
            clearance = f"{user.nation} {self.level_text(user.nation, held)}"
        officer = user is not None and self.node.authority.admits(user, Action.ACKNOWLEDGE).allowed
        return {
            "alarms": self.node.exchange.witnesses.open_alarms() if officer else [],
            "nation": self.node.nation,
            "nation_name": self.policy_name(self.node.nation),
            "user": user,
            "clearance": clearance,
            "csrf": self.sessions.csrf(session.sid) if session else "",
            "today": self.node.today(),
            "nav": "",
            "band": self.band,
            "level_text": self.level_text,
            "banner_text": self.banner_text,
            "marking_display": self.marking_display,
            "policy_name": self.policy_name,
            "policies": [
                self.node.nation,
                *(p for p in self.catalogue.policies if p != self.node.nation),
            ],
            "levels_of": lambda p: self.catalogue.policies[p].levels,
            "rules": RULES,
            "can": lambda action: (
                user is not None and self.node.authority.admits(user, Action(action)).allowed
            ),
            "query": lambda **q: urlencode({k: v for k, v in q.items() if v not in (None, "")}),
        } | extra

    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> HTMLResponse:
        html = ENV.get_template(template).render(self.context(request, **extra))
        return HTMLResponse(html, status_code=status, headers=dict(headers or {}))

    def sign_in_redirect(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = "/web/sign-in?" + urlencode({"next": safe_next(target)})
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)

    def error_page(self, request: Request, error: GsoiaError) -> Response:
        """The page for a refusal: the decision for a denial, the message otherwise."""
        if isinstance(error, Unauthorized):
            return self.sign_in_redirect(request)
        if not (isinstance(error, NodeError) and error.audited):
            actor = getattr(getattr(request.state, "user", None), "id", ANONYMOUS)
            action = f"{request.method} {request.url.path}"
            source = client_address(request.scope)
            self.node.refuse(actor, action, error.diagnostics(), source=source)
        status = status_of(error)
        if isinstance(error, Denied):
            return self.why_not(request, error.decision, status)
        problems = error.problems if isinstance(error, InputError) else []
        return self.page(
            request,
            "error.html",
            status,
            status_code=status,
            title=answer_for(error).title,
            message=error.diagnostics(),
            problems=problems,
        )

    def why_not(self, request: Request, decision: Decision, status: int = 403) -> HTMLResponse:
        return self.page(
            request,
            "why_not.html",
            status,
            decision=decision,
            rule_text=RULES[decision.reason],
            decided_on=self.node.today(),
        )


def status_of(error: GsoiaError) -> int:
    """The HTTP status of a refusal's page (``gsoia.node.errors.ANSWERS``)."""
    return answer_for(error).status


def parse_day(text: str | None) -> dt.date | None:
    """A ``YYYY-MM-DD`` date, or None for anything else."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None
