"""The web pages as one FastAPI router: sign-in and sign-out, static files, and the pages of
``gsoia.web.items``, ``gsoia.web.release``, ``gsoia.web.consents``, ``gsoia.web.officer``,
``gsoia.web.audit_log``, ``gsoia.web.queues``, ``gsoia.web.agreements``,
``gsoia.web.accounts``, ``gsoia.web.visits`` and ``gsoia.web.assurances``.

The pages are under ``/web/``; ``/`` leads there. Handlers read their query and form fields
themselves (a bad field is a page that says so, never FastAPI's JSON 422), and every route
goes through ``_route_class``: a refusal becomes its page, a missing session a redirect to
sign-in, and every page gets the security headers of ``SECURITY_HEADERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from gsoia.errors import GsoiaError
from gsoia.node.accounts import Disabled
from gsoia.node.errors import Unauthorized
from gsoia.node.floods import client_address, too_many
from gsoia.node.service import ANONYMOUS, Node
from gsoia.node.users import token_hash
from gsoia.web.accounts import add_routes as add_account_routes
from gsoia.web.agreements import add_routes as add_agreement_routes
from gsoia.web.assurances import add_routes as add_assurance_routes
from gsoia.web.audit_log import add_routes as add_audit_routes
from gsoia.web.consents import add_routes as add_consent_routes
from gsoia.web.items import add_routes as add_item_routes
from gsoia.web.officer import add_routes as add_officer_routes
from gsoia.web.queues import add_routes as add_queue_routes
from gsoia.web.release import add_routes as add_release_routes
from gsoia.web.session import COOKIE, LIFETIME, PRE_COOKIE, Sessions
from gsoia.web.site import SECURITY_HEADERS, SignInRequired, Site, safe_next
from gsoia.web.visits import add_routes as add_visit_routes

STATIC = {
    "gsoia.css": "text/css; charset=utf-8",
    "htmx.min.js": "text/javascript; charset=utf-8",
}
MAX_TOKEN = 200
DISABLED = "That account is disabled: ask an administrator of this node."

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _route_class(site: Site) -> type[APIRoute]:
    class WebRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    response = await handler(request)
                except SignInRequired:
                    response = site.sign_in_redirect(request)
                except GsoiaError as error:
                    response = await run_in_threadpool(site.error_page, request, error)
                for name, value in SECURITY_HEADERS.items():
                    response.headers.setdefault(name, value)
                return response

            return guarded

    return WebRoute


def set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/web",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def web_router(node: Node) -> APIRouter:
    """Every web page of ``node``; include it in the node's FastAPI application."""
    site = Site(node)
    router = APIRouter(route_class=_route_class(site), include_in_schema=False)

    @router.get("/")
    @router.get("/web")
    @router.get("/web/")
    def home(request: Request) -> Response:
        return RedirectResponse("/web/items", status_code=303)

    @router.get("/web/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found", status_code=404, media_type="text/plain")
        body = resources.files("gsoia.web").joinpath("static", name).read_bytes()
        return Response(
            body, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=3600"}
        )

    _add_sign_in_routes(router, site)
    add_item_routes(router, site)
    add_release_routes(router, site)
    add_consent_routes(router, site)
    add_officer_routes(router, site)
    add_audit_routes(router, site)
    add_queue_routes(router, site)
    add_visit_routes(router, site)
    add_assurance_routes(router, site)
    add_agreement_routes(router, site)
    add_account_routes(router, site)

    @router.get("/web/{rest:path}")
    def unknown(request: Request, rest: str) -> Response:
        site.maybe_user(request)
        return site.page(
            request,
            "error.html",
            404,
            status_code=404,
            title="Not found",
            message=f"There is no page /web/{rest[:200]}.",
            problems=[],
        )

    return router


def _add_sign_in_routes(router: APIRouter, site: Site) -> None:
    """Sign in with a token (a session cookie), and sign out."""
    node = site.node

    @router.get("/web/sign-in")
    def sign_in_form(request: Request) -> Response:
        return _sign_in_page(site, request, request.query_params.get("next"))

    @router.post("/web/sign-in")
    async def sign_in(request: Request) -> Response:
        source = client_address(request.scope)
        wait = node.floods.retry_after(source) if source is not None else None
        if source is not None and wait is not None:  # its refusals spent its budget
            await run_in_threadpool(
                node.count_refusal, source, too_many("POST /web/sign-in", wait), spend=False
            )
            page = _sign_in_page(
                site,
                request,
                request.query_params.get("next"),
                f"Too many refused sign-ins from your address: try again in {wait} s.",
                429,
            )
            page.headers["Retry-After"] = str(wait)
            return page
        form = await request.form()
        target = safe_next(str(form.get("next") or ""))
        nonce = request.cookies.get(PRE_COOKIE)
        csrf = form.get("csrf")
        refuse = partial(node.refuse, ANONYMOUS, "POST /web/sign-in", source=source)
        if not nonce or not site.sessions.csrf_ok(f"pre:{nonce}", str(csrf or "")):
            await run_in_threadpool(refuse, "no CSRF token")
            return _sign_in_page(
                site, request, target, "The sign-in form had expired. Please try again.", 403
            )
        token = str(form.get("token") or "").strip()[:MAX_TOKEN]
        try:
            user = await run_in_threadpool(node.authenticate, token)
            session, secret = await run_in_threadpool(node.sessions.open, user, token_hash(token))
        except Unauthorized as e:
            await run_in_threadpool(refuse, str(e))
            shown = DISABLED if isinstance(e, Disabled) else "That token is unknown or revoked."
            return _sign_in_page(site, request, target, shown, 401)
        response = RedirectResponse(target, status_code=303)
        set_cookie(request, response, COOKIE, site.sessions.cookie(session.sid, secret), LIFETIME)
        response.delete_cookie(PRE_COOKIE, path="/web")
        return response

    @router.post("/web/sign-out")
    async def sign_out(request: Request) -> Response:
        form = await request.form()
        site.check_form(request, form)
        await run_in_threadpool(node.sessions.end, request.state.session)
        response = RedirectResponse("/web/sign-in?signed_out=1", status_code=303)
        response.delete_cookie(COOKIE, path="/web")
        return response


def _sign_in_page(
    site: Site, request: Request, target: str | None, error: str = "", status: int = 200
) -> Response:
    nonce = request.cookies.get(PRE_COOKIE) or Sessions.nonce()
    response = site.page(
        request,
        "sign_in.html",
        status,
        csrf_pre=site.sessions.csrf(f"pre:{nonce}"),
        next=safe_next(target),
        error=error,
        signed_out=request.query_params.get("signed_out") == "1",
    )
    set_cookie(request, response, PRE_COOKIE, nonce, 3600)
    return response
