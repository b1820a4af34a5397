"""TAXII 2.1 (OASIS Standard, 10 June 2021) over the node's STIX objects.

Endpoints (API root ``/taxii2/api1/``, default collection ``intel``)::

    GET    /taxii2/                                          discovery (§4.1)
    GET    /taxii2/api1/                                     API root (§4.2)
    GET    /taxii2/api1/status/{status-id}/                  status (§4.3)
    GET    /taxii2/api1/collections/                         collections (§5.1)
    GET    /taxii2/api1/collections/{id}/                    collection (§5.2)
    GET    /taxii2/api1/collections/{id}/manifest/           manifest (§5.3)
    GET    /taxii2/api1/collections/{id}/objects/            objects (§5.4)
    POST   /taxii2/api1/collections/{id}/objects/            add objects (§5.5)
    GET    /taxii2/api1/collections/{id}/objects/{obj}/      an object (§5.6)
    DELETE /taxii2/api1/collections/{id}/objects/{obj}/      delete an object (§5.7)
    GET    /taxii2/api1/collections/{id}/objects/{obj}/versions/   versions (§5.8)
    GET    /taxii2/extension-definition                      the label's extension-definition

The same credentials as the REST API (Bearer token, or HTTP Basic with user id and
token). Every response is ``application/taxii+json;version=2.1``; every error the error
message resource of §3.6.1 with the HTTP status of §3.6 (400, 401, 403, 404, 406, 413,
415, 422), and every refusal is written to the audit log. A body holds at most
``MAX_CONTENT_LENGTH`` bytes and an envelope at most ``MAX_ENVELOPE`` objects (413
otherwise, before any object is read); the API root says both. A collection's ``can_write`` is
true for users of the node's own nation: they originate what it holds.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gsoia import __version__
from gsoia.api.auth import authenticate
from gsoia.errors import GsoiaError, InputError
from gsoia.node import stix
from gsoia.node.authority import Action
from gsoia.node.errors import (
    NodeError,
    NotFound,
    answer_for,
)
from gsoia.node.floods import client_address
from gsoia.node.routes import scope_action
from gsoia.node.service import ANONYMOUS, Node
from gsoia.node.stix_index import (
    COLLECTIONS,
    DEFAULT_PAGE,
    MAX_PAGE,
    Collection,
    Query,
    decode_cursor,
    find_collection,
)
from gsoia.node.taxii_envelope import STATUS_DETAILS
from gsoia.node.taxii_store import MAX_ENVELOPE, Page, TaxiiStore
from gsoia.node.users import User

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
PREFIX = "/taxii2"
API_ROOT = "api1"
MAX_CONTENT_LENGTH = 10 * 1024 * 1024
"""Bytes of one request body (the API root's ``max_content_length``)."""


class TaxiiError(GsoiaError):
    """A TAXII request refused with an HTTP status (§3.6)."""

    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(f"{status} {title}: {description}")
        self.status = status
        self.title = title
        self.description = description


class TaxiiJSONResponse(JSONResponse):
    media_type = TAXII_MEDIA_TYPE


class StixJSONResponse(JSONResponse):
    media_type = stix.STIX_MEDIA_TYPE


_ERROR_RESPONSE: dict[str, Any] = {
    "description": "The TAXII 2.1 error message resource (§3.6.1)",
    "content": {
        TAXII_MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "required": ["title", "http_status"],
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "error_id": {"type": "string"},
                    "http_status": {"type": "string"},
                    "details": {"type": "object"},
                },
            }
        }
    },
}

_ERRORS: dict[int | str, dict[str, Any]] = {"4XX": _ERROR_RESPONSE}


def error_response(status: int, title: str, description: str, **extra: Any) -> JSONResponse:
    """The error message resource of TAXII 2.1 §3.6.1."""
    body: dict[str, Any] = {
        "title": title,
        "description": description.splitlines()[0] if description else title,
        "error_id": str(uuid.uuid4()),
        "http_status": str(status),
        **extra,
    }
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="gsoia", Bearer realm="gsoia"'
    return JSONResponse(body, status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


def _error_for(error: GsoiaError) -> JSONResponse:
    if isinstance(error, TaxiiError):
        return error_response(error.status, error.title, error.description)
    answer = answer_for(error)
    status, title = answer.taxii_status, answer.taxii_title
    extra: dict[str, Any] = {}
    if isinstance(error, InputError):
        extra["details"] = {
            "errors": [{"place": p.place, "reason": p.reason} for p in error.problems[:20]]
        }
    return error_response(status, title, error.diagnostics(), **extra)


def _taxii(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=TAXII_MEDIA_TYPE, headers=headers)


# -- content negotiation (§1.6.8) ---------------------------------------------------------


def _media_types(header: str) -> list[tuple[str, dict[str, str]]]:
    found = []
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        options = {}
        for param in params:
            name, _, value = param.partition("=")
            options[name.strip().lower()] = value.strip().strip('"')
        found.append((media.lower(), options))
    return found


def accepts_taxii(header: str | None) -> bool:
    """Whether an Accept header admits TAXII 2.1 (absent admits it too)."""
    if header is None or not header.strip():
        return True
    for media, options in _media_types(header):
        if options.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if media in ("*/*", "application/*"):
            return True
        if media == "application/taxii+json" and options.get("version", "2.1") == "2.1":
            return True
    return False


def is_taxii(content_type: str | None) -> bool:
    """Whether a Content-Type is TAXII 2.1 (the version may be left out)."""
    if not content_type:
        return False
    kinds = _media_types(content_type)
    if len(kinds) != 1:
        return False
    media, options = kinds[0]
    return media == "application/taxii+json" and options.get("version", "2.1") == "2.1"


# -- query parameters (§3.4) --------------------------------------------------------------


def _values(request: Request, name: str) -> tuple[str, ...] | None:
    given = request.query_params.getlist(name)
    if not given:
        return None
    values = tuple(v.strip() for text in given for v in text.split(","))
    if not all(values) or len(values) > 1000:
        raise InputError.of(name, "a comma-separated list of 1 to 1000 non-empty values")
    return values


_DIGITS = re.compile(r"[0-9]+")


def parse_query(request: Request, *, versions: bool = True, ids: bool = True) -> Query:
    """The filters, limit and cursor of a request; ``InputError`` (400) if malformed."""
    params = request.query_params
    added_after = None
    if "added_after" in params:
        try:
            added_after = stix.timestamp_us(params["added_after"])
        except ValueError as e:
            raise InputError.of("added_after", str(e)) from e
    limit = DEFAULT_PAGE
    if "limit" in params:
        text = params["limit"]
        if _DIGITS.fullmatch(text) is None or int(text[:7]) < 1:
            raise InputError.of("limit", "a whole number of objects, 1 or more")
        limit = MAX_PAGE if len(text) > 6 else min(int(text), MAX_PAGE)
    cursor = decode_cursor(params["next"]) if "next" in params else None
    version_values: tuple[str, ...] = ("last",)
    if versions:
        version_values = _values(request, "match[version]") or ("last",)
        for value in version_values:
            if value not in ("first", "last", "all"):
                try:
                    stix.timestamp_us(value)
                except ValueError as e:
                    raise InputError.of(
                        "match[version]", f"'{value[:40]}': first, last, all or a timestamp"
                    ) from e
    return Query(
        added_after=added_after,
        ids=_values(request, "match[id]") if ids else None,
        types=_values(request, "match[type]") if ids else None,
        versions=version_values,
        spec_versions=_values(request, "match[spec_version]"),
        limit=limit,
        cursor=cursor,
    )


def _date_headers(page: Page) -> dict[str, str]:
    headers = {}
    if page.first_added is not None and page.last_added is not None:
        headers["X-TAXII-Date-Added-First"] = page.first_added
        headers["X-TAXII-Date-Added-Last"] = page.last_added
    return headers


def _envelope(page: Page, objects: list[bytes]) -> Response:
    """The envelope (§3.7) around objects already in JSON, with the date-added headers."""
    head: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        head["next"] = page.next
    body = json.dumps(head).encode()
    if objects:
        body = body[:-1] + b',"objects":[' + b",".join(objects) + b"]}"
    return Response(body, media_type=TAXII_MEDIA_TYPE, headers=_date_headers(page))


# -- the router ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxiiSite:
    """What every TAXII route uses: the node's STIX store, the API root's path, how a
    request is handled (negotiated, authenticated, admitted, refusals audited), and the
    collections."""

    store: TaxiiStore
    root: str
    handle: Callable[[Request, Callable[[User], Response]], Response]
    collection_of: Callable[[str], Collection]
    collection_resource: Callable[[Collection, User], dict[str, Any]]


def taxii_router(node: Node) -> APIRouter:
    """The TAXII 2.1 endpoints of one node."""
    router = APIRouter(
        prefix=PREFIX,
        tags=["TAXII 2.1"],
        default_response_class=TaxiiJSONResponse,
    )
    site = taxii_site(node)
    server_routes(router, node, site)
    object_routes(router, node, site)
    single_object_routes(router, node, site)
    return router


def taxii_site(node: Node) -> TaxiiSite:
    store = TaxiiStore(node)
    root = f"{PREFIX}/{API_ROOT}"

    def handle(request: Request, action: Callable[[User], Response]) -> Response:
        """Negotiate, authenticate, act; any refusal as a TAXII error, audited."""
        user: User | None = None
        try:
            if not accepts_taxii(request.headers.get("accept")):
                raise TaxiiError(
                    406, "Not acceptable", f"this server answers in {TAXII_MEDIA_TYPE}"
                )
            user = authenticate(node, request)
            node.authority.admits(user, scope_action(request.scope)).check()
            return action(user)
        except GsoiaError as error:
            if not (isinstance(error, NodeError) and error.audited):
                node.refuse(
                    user.id if user is not None else _quiet_actor(node, request),
                    f"{request.method} {request.url.path}",
                    error.diagnostics(),
                    source=client_address(request.scope),
                )
            return _error_for(error)

    def collection_of(key: str) -> Collection:
        found = find_collection(key)
        if found is None:
            raise NotFound(f"no collection {key[:64]}")
        return found

    def collection_resource(collection: Collection, user: User) -> dict[str, Any]:
        return {
            "id": collection.id,
            "title": collection.title,
            "description": collection.description,
            "alias": collection.alias,
            "can_read": True,
            "can_write": node.authority.admits(user, Action.CREATE).allowed,
            "media_types": [stix.STIX_MEDIA_TYPE],
        }

    return TaxiiSite(store, root, handle, collection_of, collection_resource)


def server_routes(router: APIRouter, node: Node, site: TaxiiSite) -> None:
    """Discovery, the API root, status resources, the collections, the extension."""
    store, root, handle = site.store, site.root, site.handle
    collection_of, collection_resource = site.collection_of, site.collection_resource

    @router.get("/", summary="TAXII 2.1 discovery", responses=_ERRORS)
    def discovery(request: Request) -> Response:
        def act(user: User) -> Response:
            url = f"{str(request.base_url).rstrip('/')}{root}/"
            return _taxii(
                {
                    "title": f"gsoia {node.nation} node",
                    "description": (
                        "TAXII 2.1 under security-of-information agreements: each reader"
                        " sees only what the agreements release to them."
                    ),
                    "default": url,
                    "api_roots": [url],
                }
            )

        return handle(request, act)

    @router.get(f"/{API_ROOT}/", summary="TAXII 2.1 API root", responses=_ERRORS)
    def api_root(request: Request) -> Response:
        def act(user: User) -> Response:
            return _taxii(
                {
                    "title": f"gsoia {node.nation}",
                    "description": f"The {node.nation} node's STIX 2.1 collections (gsoia"
                    f" {__version__}). An envelope holds at most {MAX_ENVELOPE} objects; a"
                    f" status resource names the first {STATUS_DETAILS} successes and"
                    " failures (its counts are complete).",
                    "versions": [TAXII_MEDIA_TYPE],
                    "max_content_length": MAX_CONTENT_LENGTH,
                    "x_gsoia_max_envelope_objects": MAX_ENVELOPE,
                }
            )

        return handle(request, act)

    @router.get(
        f"/{API_ROOT}/status/{{status_id}}/", summary="TAXII 2.1 status resource", responses=_ERRORS
    )
    def status(status_id: str, request: Request) -> Response:
        return handle(request, lambda user: _taxii(store.status(user, status_id)))

    @router.get(f"/{API_ROOT}/collections/", summary="TAXII 2.1 collections", responses=_ERRORS)
    def collections(request: Request) -> Response:
        def act(user: User) -> Response:
            return _taxii({"collections": [collection_resource(c, user) for c in COLLECTIONS]})

        return handle(request, act)

    @router.get(
        f"/{API_ROOT}/collections/{{collection_id}}/",
        summary="TAXII 2.1 collection",
        responses=_ERRORS,
    )
    def collection(collection_id: str, request: Request) -> Response:
        def act(user: User) -> Response:
            return _taxii(collection_resource(collection_of(collection_id), user))

        return handle(request, act)

    @router.get(
        "/extension-definition",
        summary="The STIX 2.1 extension-definition of the confidentiality label",
        response_class=StixJSONResponse,
    )
    def extension_definition(request: Request) -> Response:
        if request.query_params.get("bundle") in ("1", "true"):
            body = stix.definitions_bundle(f"bundle--{uuid.uuid4()}")
        else:
            body = stix.EXTENSION_DEFINITION
        return StixJSONResponse(body)


def object_routes(router: APIRouter, node: Node, site: TaxiiSite) -> None:
    """A collection's manifest, its objects read and added."""
    store, handle, collection_of = site.store, site.handle, site.collection_of

    @router.get(
        f"/{API_ROOT}/collections/{{collection_id}}/manifest/",
        summary="TAXII 2.1 object manifests: only what the caller may see",
        responses=_ERRORS,
    )
    def manifest(collection_id: str, request: Request) -> Response:
        def act(user: User) -> Response:
            found = collection_of(collection_id)
            page, _ = store.query(user, found, parse_query(request), what="manifest", content=False)
            body: dict[str, Any] = {"more": page.more}
            if page.next is not None:
                body["next"] = page.next
            if page.rows:
                body["objects"] = [
                    {
                        "id": row.stix_id,
                        "date_added": row.date_added,
                        "version": row.version,
                        "media_type": f"application/stix+json;version={row.spec_version}",
                    }
                    for row in page.rows
                ]
            return _taxii(body, headers=_date_headers(page))

        return handle(request, act)

    @router.get(
        f"/{API_ROOT}/collections/{{collection_id}}/objects/",
        summary="TAXII 2.1 objects: only what the caller may see",
        responses=_ERRORS,
    )
    def get_objects(collection_id: str, request: Request) -> Response:
        def act(user: User) -> Response:
            found = collection_of(collection_id)
            page, objects = store.query(user, found, parse_query(request))
            return _envelope(page, objects)

        return handle(request, act)

    @router.post(
        f"/{API_ROOT}/collections/{{collection_id}}/objects/",
        status_code=202,
        summary="TAXII 2.1 add objects: an envelope in, a status resource out",
        responses=_ERRORS,
    )
    async def add_objects(collection_id: str, request: Request) -> Response:
        body = await request.body()  # TaxiiBodyLimit has refused oversize bodies

        def act(user: User) -> Response:
            found = collection_of(collection_id)
            if not is_taxii(request.headers.get("content-type")):
                raise TaxiiError(
                    415, "Unsupported media type", f"send the envelope as {TAXII_MEDIA_TYPE}"
                )
            objects = _envelope_objects(body)
            if len(objects) > MAX_ENVELOPE:
                raise TaxiiError(
                    413,
                    "Payload too large",
                    f"{len(objects)} objects; an envelope holds at most {MAX_ENVELOPE}",
                )
            return _taxii(store.add(user, found, objects), status=202)

        return await run_in_threadpool(handle, request, act)


def single_object_routes(router: APIRouter, node: Node, site: TaxiiSite) -> None:
    """One object of a collection: read, deleted, its versions."""
    store, handle, collection_of = site.store, site.handle, site.collection_of

    @router.get(
        f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/",
        summary="TAXII 2.1 an object: its versions the caller may see",
        responses=_ERRORS,
    )
    def get_object(collection_id: str, object_id: str, request: Request) -> Response:
        def act(user: User) -> Response:
            found = collection_of(collection_id)
            page, objects = store.query(
                user, found, parse_query(request, ids=False), object_id=object_id
            )
            if not objects and not request.query_params:
                raise NotFound(f"no object {object_id[:300]}")
            return _envelope(page, objects)

        return handle(request, act)

    @router.delete(
        f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/",
        summary="TAXII 2.1 delete an object from the collection (all versions by default)",
        response_class=Response,
        responses={**_ERRORS, 200: {"description": "Deleted (no content)"}},
    )
    def delete_object(collection_id: str, object_id: str, request: Request) -> Response:
        def act(user: User) -> Response:
            found = collection_of(collection_id)
            query = parse_query(request, ids=False)
            if request.query_params.get("match[version]") is None:
                query = Query(spec_versions=query.spec_versions, versions=("all",))
            store.delete(user, found, object_id, query)
            return Response(status_code=200)

        return handle(request, act)

    @router.get(
        f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/",
        summary="TAXII 2.1 object versions the caller may see",
        responses=_ERRORS,
    )
    def versions(collection_id: str, object_id: str, request: Request) -> Response:
        def act(user: User) -> Response:
            found = collection_of(collection_id)
            page, _ = store.query(
                user,
                found,
                parse_query(request, versions=False, ids=False),
                object_id=object_id,
                versions=False,
                what="versions",
                content=False,
            )
            if not page.rows and not request.query_params:
                raise NotFound(f"no object {object_id[:300]}")
            body: dict[str, Any] = {"more": page.more}
            if page.next is not None:
                body["next"] = page.next
            if page.rows:
                body["versions"] = [row.version for row in page.rows]
            return _taxii(body, headers=_date_headers(page))

        return handle(request, act)


def _quiet_actor(node: Node, request: Request) -> str:
    """Who made a request refused before it was authenticated (checked quietly)."""
    try:
        return authenticate(node, request).id
    except GsoiaError:
        return ANONYMOUS


def _envelope_objects(body: bytes) -> list[Any]:
    """The objects of an envelope (§3.7); ``TaxiiError`` 400 when it is not one."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise TaxiiError(400, "Bad request", f"the body is not JSON: {e}") from e
    except RecursionError as e:
        raise TaxiiError(400, "Bad request", "the body nests too deeply") from e
    if not isinstance(envelope, dict):
        raise TaxiiError(400, "Bad request", "an envelope is a JSON object")
    if envelope.get("type") == "bundle":
        raise TaxiiError(400, "Bad request", 'send an envelope {"objects": [...]}, not a bundle')
    objects = envelope.get("objects", [])
    if not isinstance(objects, list):
        raise TaxiiError(400, "Bad request", "the envelope's 'objects' must be a list")
    if "more" in envelope and not isinstance(envelope["more"], bool):
        raise TaxiiError(400, "Bad request", "the envelope's 'more' must be true or false")
    return objects
