"""HTTP clients for the servers the tests start on 127.0.0.1.

httpx builds an SSL context for each ``Client`` (and each ``httpx.get``), loading every CA
certificate: 50-100 ms of CPU here, for plain HTTP on the loopback interface, thousands
of times a run. These clients share one context.

They also let an idle connection go after 2 s, before the server does (uvicorn: 5 s):
a request sent on a connection the server is closing just then fails with "Server
disconnected without sending a response" (httpx's own default is 5 s too).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
import threading
from typing import Any

import httpx

TLS = ssl.create_default_context()
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0)


def client(**kwargs: Any) -> httpx.Client:
    """``httpx.Client(**kwargs)`` with the shared SSL context and the limits above."""
    return httpx.Client(verify=TLS, **{"limits": LIMITS} | kwargs)


def client_from(address: str, **kwargs: Any) -> httpx.Client:
    """``client(**kwargs)`` whose connections come from ``address`` (another loopback
    address, 127.x.y.z: a source of its own to the node's per-address counts)."""
    transport = httpx.HTTPTransport(verify=TLS, limits=LIMITS, local_address=address)
    return httpx.Client(transport=transport, **kwargs)


_sources = itertools.count(1)


def fresh_source() -> str:
    """A loopback address no other call gave in this process (127.1.0.1, 127.1.0.2, ...);
    each pytest worker process starts from its own second byte."""
    n = next(_sources)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    second = 1 + (int(worker) if worker.isdigit() else 0) % 200
    return f"127.{second}.{n // 250 % 250}.{1 + n % 250}"


def get(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.get(url, **kwargs)`` with the shared SSL context."""
    with client() as http:
        return http.get(url, **kwargs)


class InProcess(httpx.BaseTransport):
    """An ASGI application answered in this process, for a synchronous client: httpx's
    ASGI transport on an event loop of its own, in a thread of its own (so it works
    whether or not the calling thread already runs a loop); app errors become 500s."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run_coroutine_threadsafe(send(), self._loop).result()
