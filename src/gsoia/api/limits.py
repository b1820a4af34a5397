"""Refuse bodies that are too large (413) or not JSON (415) before the app reads them.

A declared ``Content-Length`` over the limit is refused at once; a body that grows past
the limit while it streams in (chunked) is refused as soon as it does, and the app's own
answer, if any, is dropped. Every refusal is handed to ``refused`` (with the request's
scope, the action and the reason) for the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_PREFIXES = ("/api/",)
"""Paths whose request bodies must be ``application/json``."""


class BodyGuard:
    """ASGI middleware: size limit on every body, media type on the JSON API's bodies."""

    def __init__(
        self, app: ASGIApp, limit: int, refused: Callable[[Scope, str, str], None]
    ) -> None:
        self.app = app
        self.limit = limit
        self.refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        path = str(scope.get("path", ""))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, send, 413, f"the body is larger than {self.limit} bytes")
            return
        if (
            scope.get("method") in ("POST", "PUT", "PATCH")
            and path.startswith(JSON_PREFIXES)
            and (declared is None or declared != b"0")
            and not _is_json(headers.get(b"content-type", b""))
        ):
            kind = headers.get(b"content-type", b"none").decode("latin-1")[:100]
            await self._refuse(scope, send, 415, f"send application/json, not {kind}")
            return
        received = 0
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not answered:
                    answered = True
                    scope.setdefault("state", {})["answered"] = True  # the app stays silent
                    await self._refuse(
                        scope, send, 413, f"the body is larger than {self.limit} bytes"
                    )
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        self.refused(scope, f"{scope.get('method')} {scope.get('path')}", f"{status} {detail}")
        titles = {413: "Request body too large", 415: "Unsupported media type"}
        body: dict[str, Any] = {
            "type": "/problems/too-large" if status == 413 else "/problems/media-type",
            "title": titles[status],
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json"
