"""The hot routes: listing, reading and creating items, answered past FastAPI's router.

They are most of a node's requests. FastAPI matches each request against every route
(REST, TAXII, federation, web) and solves each parameter through generic machinery: about
as much CPU as the listing itself. ``HotRoutes`` sits just outside the router (inside the
request log and the body guard) and answers these three when their input is plainly
well-formed, with the same node calls, the same responses, and the app's own exception
handlers (so every refusal is audited and shaped as before). Anything else, a parameter
out of range, repeated or empty, a body that does not validate, it hands on to FastAPI
unchanged (a body already read is replayed), so FastAPI still decides every refusal of
malformed input. The OpenAPI document still comes from the routes in ``gsoia.api.app``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gsoia.errors import GsoiaError
from gsoia.node.authority import Action
from gsoia.node.holdings import MAX_CURSOR
from gsoia.node.listing import ListFilter
from gsoia.node.users import User

ITEMS = "/api/v1/items"
Handler = Callable[[Request, Any], Awaitable[Response]]
Answer = Callable[[User], Response]

_LIMIT = re.compile(r"[0-9]{1,4}", re.ASCII)
_CURSOR = re.compile(r"[0-9]{1,16}", re.ASCII)
_TEXT_LIMITS = {"area": 64, "originator": 32, "level": 64, "q": 200}
"""The filters of a listing and their longest values (as the route declares them)."""
_LISTING = {"limit", "cursor", *_TEXT_LIMITS}


class HotRoutes:
    """ASGI middleware: the item routes answered directly when their input is well-formed.

    ``make_item``, ``list_items`` and ``read_item`` are the routes' own work, given the
    ``caller(request, action)`` authenticated and admitted to the route's action (both
    run on a worker thread); ``body_model`` is the
    create route's body model; ``refused`` and ``crashed`` the app's handlers of
    ``GsoiaError`` and of any other exception.
    """

    def __init__(
        self,
        app: ASGIApp,
        caller: Callable[[Request, Action], User],
        body_model: Any,
        make_item: Callable[[User, Any], Response],
        list_items: Callable[[User, int, int, ListFilter], Response],
        read_item: Callable[[User, str], Response],
        refused: Handler,
        crashed: Handler,
    ) -> None:
        self.app = app
        self.caller = caller
        self.body_model = body_model
        self.make_item = make_item
        self.list_items = list_items
        self.read_item = read_item
        self.refused = refused
        self.crashed = crashed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == ITEMS and method == "GET":
            query = listing_query(scope["query_string"])
            if query is not None:
                limit, cursor, filters = query
                await self._answer(
                    scope,
                    receive,
                    send,
                    Action.LIST,
                    lambda caller: self.list_items(caller, limit, cursor, filters),
                )
                return
        elif path == ITEMS and method == "POST":
            await self._create(scope, receive, send)
            return
        elif method == "GET" and path.startswith(ITEMS + "/"):
            item_id = path[len(ITEMS) + 1 :]
            if item_id and "/" not in item_id:
                await self._answer(
                    scope,
                    receive,
                    send,
                    Action.READ,
                    lambda caller: self.read_item(caller, item_id),
                )
                return
        await self.app(scope, receive, send)

    async def _create(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # gone, or refused by the body guard
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:  # as FastAPI parses and validates it; any doubt, and FastAPI decides
            item = self.body_model.model_validate(json.loads(body))
        except (ValueError, ValidationError, RecursionError, TypeError):
            await self.app(scope, _replayed(body, receive), send)
            return
        await self._answer(
            scope, receive, send, Action.CREATE, lambda caller: self.make_item(caller, item)
        )

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, action: Action, answer: Answer
    ) -> None:
        """The caller authenticated and admitted to ``action`` by the authority, and
        ``answer`` given, on one worker thread; a refusal or a crash through the app's
        handlers."""
        request = Request(scope, receive)
        try:
            response = await on_worker_thread(lambda: answer(self.caller(request, action)))
        except GsoiaError as error:
            response = await self.refused(request, error)
        except Exception as error:
            response = await self.crashed(request, error)
        await response(scope, receive, send)


_WORKER_THREADS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="gsoia-hot")
"""The threads the hot routes' work runs on (the node's calls block on the database)."""


async def on_worker_thread(work: Callable[[], Response]) -> Response:
    """``work()`` on one of the hot routes' threads, in a copy of this context.

    As Starlette's ``run_in_threadpool`` does, at half its cost in CPU (anyio's scope
    and limiter around each call: 90 against 50 µs a call, measured).
    """
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_WORKER_THREADS, context.run, work)


def listing_query(query_string: bytes) -> tuple[int, int, ListFilter] | None:
    """``(limit, cursor, filters)`` of a listing's query string when each is plainly valid
    (parsed as Starlette parses it; unknown parameters ignored, as FastAPI does); None
    for anything the route's own validation should judge."""
    values: dict[str, str] = {}
    for key, value in QueryParams(query_string.decode("latin-1")).multi_items():
        if key in _LISTING:
            if key in values or not value:
                return None
            values[key] = value
    limit = values.pop("limit", "100")
    cursor = values.pop("cursor", "0")
    if not _LIMIT.fullmatch(limit) or not 1 <= int(limit) <= 1000:
        return None
    if not _CURSOR.fullmatch(cursor) or int(cursor) > MAX_CURSOR:
        return None
    if any(len(value) > _TEXT_LIMITS[key] for key, value in values.items()):
        return None
    return int(limit), int(cursor), ListFilter(**values)


def _replayed(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read given back first."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
