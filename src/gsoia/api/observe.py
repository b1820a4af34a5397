"""Structured logs with a request id, the latency histogram, and no caching of answers.

One JSON line per request (structlog): request id, method, path (never the query string,
which may carry search text), status, duration and the caller's user id. Never a body,
a token or a key. The request id comes from ``X-Request-ID`` when the client sends a
sane one, and is returned in that header.

Every answer that does not say otherwise (the web pages' static files do) carries
``Cache-Control: no-store``: REST, TAXII, federation and error answers carry classified
data or say what was refused, and no cache along the way keeps them.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gsoia.node.metrics import Metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
NO_STORE = (b"cache-control", b"no-store")


def configure_logging() -> None:
    """JSON lines on stderr, for the whole process."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=logging.WARNING,
        format='{"level": "%(levelname)s", "logger": "%(name)s", "event": "%(message)s"}',
    )


class RequestLog:
    """ASGI middleware: request id, one log line and the latency of every request, and
    ``Cache-Control: no-store`` on every answer without a ``Cache-Control`` of its own."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = structlog.get_logger("gsoia.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("ascii")))
                if not any(name.lower() == NO_STORE[0] for name, _ in headers):
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, f"{status // 100}xx").observe(elapsed)
            user: Any = scope.get("state", {}).get("user")
            self.log.info(
                "request",
                request_id=request_id,
                method=method,
                path=str(scope.get("path", "")),
                status=status,
                ms=round(elapsed * 1000, 2),
                user=getattr(user, "id", None),
            )
