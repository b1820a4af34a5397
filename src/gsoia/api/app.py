"""The node's REST API (docs/interfaces.md, "REST API"); the OpenAPI document at /openapi.json.

Every refusal is a problem+json with a one-line ``detail``, and is written to the audit
log (by the node where it knows more, here otherwise). Bad input is a 422, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, cast

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from gsoia import __version__
from gsoia.api.audit import audit_router
from gsoia.api.auth import Caller, authenticate, authorized
from gsoia.api.federation import federation_router
from gsoia.api.hot import HotRoutes
from gsoia.api.limits import BodyGuard
from gsoia.api.listing_json import ListingJson
from gsoia.api.observe import RequestLog
from gsoia.api.problems import declare_problems, problem, problem_for
from gsoia.api.taxii_served import install_taxii
from gsoia.api.users import users_router
from gsoia.api.visits import visits_router
from gsoia.errors import GsoiaError, InputError, Problem, RequestError
from gsoia.node.errors import NodeError
from gsoia.node.floods import Flusher, client_address
from gsoia.node.holdings import MAX_CURSOR
from gsoia.node.listing import ListFilter
from gsoia.node.service import ANONYMOUS, Node
from gsoia.node.users import User
from gsoia.web import web_router

MAX_BODY = 12 * 1024 * 1024
ErrorAnswer = Callable[[Request, Any], Awaitable[JSONResponse]]
MULTIPROCESS_METRICS = "PROMETHEUS_MULTIPROC_DIR"
"""Where the workers of ``gsoia serve --workers`` keep their counts (prometheus_client)."""
log = logging.getLogger("gsoia.api")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemIn(_In):
    label: dict[str, Any] | None = Field(
        default=None, description="A label (docs/decision.md §2); originator = this node"
    )
    label_xml: str | None = Field(
        default=None, description="Or a STANAG 4774 label (XML), in place of label"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _one_label(cls, data: Any, handler: ModelWrapValidatorHandler[ItemIn]) -> ItemIn:
        """A body with neither ``label`` nor ``label_xml`` names ``label`` among its faults."""
        missing = isinstance(data, dict) and "label" not in data and "label_xml" not in data
        try:
            body = handler(data)
        except ValidationError as e:
            if not missing:
                raise
            label = InitErrorDetails(type="missing", loc=("label",), input=data)
            errors = [label, *(cast(InitErrorDetails, x) for x in e.errors(include_url=False))]
            raise ValidationError.from_exception_data(e.title, errors) from None
        if missing:
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type="missing", loc=("label",), input=data)]
            )
        return body

    title: str = Field(min_length=1, max_length=1000)
    content: str | None = Field(default=None, description="The content as text")
    content_b64: str | None = Field(default=None, description="Or the content as base64")


class IncidentIn(_In):
    item: str = Field(min_length=1, max_length=64)
    kind: str = Field(description="loss, compromise, possible_loss or possible_compromise")
    description: str = Field(default="", max_length=10_000)


class IncidentStepIn(_In):
    state: str = Field(description="acknowledged, investigating or closed (in that order)")
    note: str = Field(min_length=1, max_length=2000, description="What was done, or found")


class JSONBody(JSONResponse):
    """A JSONResponse encoded by msgspec: the same compact UTF-8 JSON, a page of items
    encoded several times faster than by the standard library."""

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


def create_app(node: Node) -> FastAPI:
    """The ASGI application of one node.

    While it is served (its lifespan), a thread writes the node's counted refusals every
    few seconds, and all of them as it stops (``gsoia.node.floods``).
    """
    app = FastAPI(
        title=f"gsoia node {node.nation}",
        version=__version__,
        description="Share classified items under security-of-information agreements.",
        lifespan=flushing_refusals(node),
        # gsoia exports no OpenTelemetry (its metrics are Prometheus'): without this,
        # FastAPI asks OpenTelemetry's three providers whether one is set at every
        # request (18 µs a request, measured on this project's 2-core machine).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.node = node
    declare_problems_in_schema(app)
    gsoia_error, crash = answer_errors(app, node)
    items = ItemWork(node)
    serve_items_hot(app, node, items, gsoia_error, crash)
    app.add_middleware(BodyGuard, limit=MAX_BODY, refused=guard_refusal(node))
    app.include_router(federation_router(node))
    install_taxii(app, node, guard_refusal(node))  # TAXII 2.1 under /taxii2/, its body limit
    app.add_middleware(RequestLog, metrics=node.metrics)  # outermost: sees every answer
    monitor_routes(app, node)
    item_routes(app, items)
    desk_routes(app, node)
    for router in (audit_router(node), users_router(node), visits_router(node), web_router(node)):
        app.include_router(router)
    return app


def flushing_refusals(node: Node) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: a ``Flusher`` writes the node's counted refusals while served."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        flusher = Flusher(node.flush_refusals)
        flusher.start()
        try:
            yield
        finally:
            flusher.stop()

    return lifespan


def declare_problems_in_schema(app: FastAPI) -> None:
    """The OpenAPI document names every route's problem+json answers, built once."""
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_problems(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class ItemWork:
    """The item routes' work, for their FastAPI routes and for ``HotRoutes``."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.listed = ListingJson()

    def create(self, caller: User, body: ItemIn) -> JSONResponse:
        node = self.node
        view = node.create_item(caller, _label(node, body), body.title, _content(body))
        return JSONBody(view, status_code=201)

    def listing(self, caller: User, limit: int, cursor: int, filters: ListFilter) -> JSONResponse:
        page = self.node.list_page(caller, filters, cursor=cursor, limit=limit)
        return JSONBody(self.listed.page(page))  # msgspec: takes the items given as JSON already

    def read(self, caller: User, item_id: str) -> JSONResponse:
        return JSONBody(self.node.read_item(caller, item_id))


def serve_items_hot(
    app: FastAPI, node: Node, items: ItemWork, refused: ErrorAnswer, crashed: ErrorAnswer
) -> None:
    """The item routes answered past FastAPI's router (``HotRoutes``), innermost: next to
    the router; ``refused`` and ``crashed`` answer as ``answer_errors`` does."""
    app.add_middleware(
        HotRoutes,
        caller=lambda request, action: authorized(node, request, action),
        body_model=ItemIn,
        make_item=items.create,
        list_items=items.listing,
        read_item=items.read,
        refused=refused,
        crashed=crashed,
    )


def monitor_routes(app: FastAPI, node: Node) -> None:
    """Prometheus metrics and the health check, outside the OpenAPI document."""

    @app.get("/metrics", include_in_schema=False)
    def metrics(caller: Caller) -> Response:
        """Prometheus metrics: counts and latencies only, nothing classified; to a
        monitor's, an officer's or an admin's token."""
        registry = node.metrics.registry
        if os.environ.get(MULTIPROCESS_METRICS):  # gsoia serve --workers: every worker's
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "nation": node.nation}


def item_routes(app: FastAPI, items: ItemWork) -> None:
    """Create, list and read items (their work shared with ``HotRoutes``)."""

    @app.post(
        "/api/v1/items",
        status_code=201,
        summary="Create an item of this node's nation",
        response_model=dict[str, Any],
    )
    def create_item(body: ItemIn, caller: Caller) -> JSONResponse:
        return items.create(caller, body)

    @app.get(
        "/api/v1/items",
        summary="The items the caller may see, with their markings",
        response_model=dict[str, Any],
    )
    def list_items(
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[
            str | None, Query(max_length=32, description="`next` of the previous page")
        ] = None,
        area: Annotated[str | None, Query(max_length=64)] = None,
        originator: Annotated[str | None, Query(max_length=32)] = None,
        level: Annotated[str | None, Query(max_length=64)] = None,
        q: Annotated[str | None, Query(max_length=200, description="Text in the title")] = None,
    ) -> JSONResponse:
        if cursor is not None and not (
            re.fullmatch(r"[0-9]{1,16}", cursor) and int(cursor) <= MAX_CURSOR
        ):
            raise InputError.of(
                "query.cursor",
                f"must be the `next` value of a previous page (a whole number to {MAX_CURSOR})",
            )
        filters = ListFilter(area=area, originator=originator, level=level, q=q)
        return items.listing(caller, limit, int(cursor or 0), filters)

    @app.get(
        "/api/v1/items/{item_id}",
        summary="One item, or 403 with the decision",
        response_model=dict[str, Any],
    )
    def read_item(item_id: str, caller: Caller) -> JSONResponse:
        return items.read(caller, item_id)

    @app.get(
        "/api/v1/items/{item_id}/label.xml",
        summary="The item's STANAG 4774 labels (originator's, and the holder's alternative)",
        response_class=Response,
    )
    def read_label_xml(item_id: str, caller: Caller) -> Response:
        from gsoia.node.labels4774 import item_label_xml

        node: Node = app.state.node
        view = node.read_item(caller, item_id)
        xml = item_label_xml(node.rulebook.catalogue, view)
        return Response(xml, media_type="application/xml")


def desk_routes(app: FastAPI, node: Node) -> None:
    """The signed-in user, incidents, the agreements, and a decision on any request."""

    @app.get("/api/v1/me", summary="The signed-in user")
    def me(caller: Caller) -> dict[str, Any]:
        return caller.to_dict()

    # The hot endpoints answer with JSONResponse: their dicts are built by the node and
    # need no second validation on the way out.
    @app.post("/api/v1/incidents", status_code=201, summary="Report a loss or compromise")
    def report_incident(body: IncidentIn, caller: Caller) -> dict[str, Any]:
        return node.exchange.report_incident(caller, body.item, body.kind, body.description)

    @app.get("/api/v1/incidents", summary="Incidents, newest first, their deadlines and steps")
    def list_incidents(caller: Caller) -> list[dict[str, Any]]:
        return node.incidents(caller)

    @app.post(
        "/api/v1/incidents/{incident_id}/steps",
        summary="Acknowledge, investigate or close an incident (officer); the originator is told",
    )
    def step_incident(incident_id: str, body: IncidentStepIn, caller: Caller) -> dict[str, Any]:
        return node.exchange.step_incident(caller, incident_id, body.state, body.note)

    @app.get("/api/v1/agreements", summary="The agreements and their status on a date")
    def agreements(
        caller: Caller, at: Annotated[dt.date | None, Query(description="YYYY-MM-DD")] = None
    ) -> list[dict[str, Any]]:
        return node.agreements(at)

    @app.post("/api/v1/decide", summary="Decide a request (docs/decision.md §2 -> §4)")
    def decide(body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        return node.decide(caller, body).to_dict()


def answer_errors(app: FastAPI, node: Node) -> tuple[ErrorAnswer, ErrorAnswer]:
    """Every error as problem+json (``gsoia.api.problems``), each refusal audited: gsoia's
    own errors, FastAPI's validation (422, credentials checked first), Starlette's HTTP
    errors, and anything else (500, logged). Returns the answers to gsoia's errors and to
    crashes, for the routes that answer outside FastAPI (``HotRoutes``)."""

    def _refused(request: Request, error: GsoiaError | str) -> None:
        if getattr(request.state, "answered", False):  # the body guard refused and audited it
            return
        reason = error if isinstance(error, str) else error.diagnostics()
        action = f"{request.method} {request.url.path}"
        node.refuse(_actor(node, request), action, reason, source=client_address(request.scope))

    @app.exception_handler(GsoiaError)
    async def gsoia_error(request: Request, error: GsoiaError) -> JSONResponse:
        if not (isinstance(error, NodeError) and error.audited):
            _refused(request, error)
        return problem_for(error, request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/api/") and _actor(node, request) == ANONYMOUS:
            # FastAPI reads the body before it asks who is calling: credentials come first
            try:
                authenticate(node, request)
            except GsoiaError as unauthorized:
                return await gsoia_error(request, unauthorized)
        problems = [
            Problem(".".join(str(p) for p in e["loc"]), str(e["msg"])) for e in error.errors()
        ]
        return await gsoia_error(request, RequestError(problems or [Problem("", "invalid")]))

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        _refused(request, f"500 {type(error).__name__}")
        return problem(500, "internal", "Internal error", "the node could not do this", request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = str(error.detail)
        if error.status_code == 400 and "parsing the body" in detail:
            # invalid UTF-8, nesting too deep, numbers too long: malformed input, a 422
            malformed = RequestError.of("body", "not valid JSON (UTF-8, not too deeply nested)")
            return await gsoia_error(request, malformed)
        if error.status_code >= 400:
            _refused(request, f"{error.status_code} {detail}")
        slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
            error.status_code, "http"
        )
        return problem(error.status_code, slug, detail, detail, request)

    return gsoia_error, crash


def guard_refusal(node: Node) -> Callable[[Scope, str, str], None]:
    """How a guard (a body too large, ...) has a refusal audited: for its caller if the
    request's credentials are good, else counted for its client address."""

    def refused(scope: Scope, action: str, reason: str) -> None:
        actor = _actor(node, Request(scope))
        node.refuse(actor, action, reason, source=client_address(scope))

    return refused


def _actor(node: Node, request: Request) -> str:
    """Who made a refused request, if its credentials are good (checked quietly)."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return str(user.id)
    try:
        return authenticate(node, request).id
    except GsoiaError:
        return ANONYMOUS


def _label(node: Node, body: ItemIn) -> dict[str, Any]:
    """The item's label: ``label``, or the one ``label_xml`` stands for (docs/labels.md)."""
    if (body.label is None) == (body.label_xml is None):
        raise InputError.of("body.label", "give exactly one of label and label_xml")
    if body.label is not None:
        return body.label
    assert body.label_xml is not None
    from gsoia.node.labels4774 import label_from_xml

    return label_from_xml(node.rulebook.catalogue, body.label_xml, "body.label_xml")


def _content(body: ItemIn) -> bytes:
    if (body.content is None) == (body.content_b64 is None):
        raise InputError.of("body.content", "give exactly one of content and content_b64")
    if body.content is not None:
        try:
            return body.content.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError.of("body.content", "not valid Unicode text") from e
    assert body.content_b64 is not None
    try:
        return base64.b64decode(body.content_b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError.of("body.content_b64", "not base64") from e
