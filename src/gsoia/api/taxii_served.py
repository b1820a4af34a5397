"""TAXII 2.1 served from the node's app: its router, and its body limit (§3.6: a request
body over the limit is answered 413 as a TAXII error, before it is read whole)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gsoia.api.taxii import MAX_CONTENT_LENGTH, PREFIX, error_response, taxii_router
from gsoia.node.service import Node


class TaxiiBodyLimit:
    """ASGI middleware: a TAXII request body over ``limit`` bytes gets 413 (§3.6), as a
    TAXII error message, before it is read whole."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_CONTENT_LENGTH,
        refused: Callable[[Scope, str, str], None] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.refused = refused
        """Called with the scope, the action and the reason of each refusal (the audit log)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.refused is not None:
            action = f"{scope.get('method', '')} {scope.get('path', '')}"
            reason = f"413 the body is larger than {self.limit} bytes"
            await run_in_threadpool(self.refused, scope, action, reason)
        response = error_response(
            413, "Payload too large", f"the body is larger than {self.limit} bytes"
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def install_taxii(
    app: FastAPI, node: Node, refused: Callable[[Scope, str, str], None] | None = None
) -> None:
    """Serve TAXII 2.1 from ``app`` (one line in ``create_app``); ``refused``: how its body
    limit has a refusal audited."""
    app.include_router(taxii_router(node))
    app.add_middleware(TaxiiBodyLimit, limit=MAX_CONTENT_LENGTH, refused=refused)
