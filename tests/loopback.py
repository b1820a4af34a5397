"""HTTP clients for the servers the tests start on 127.0.0.1.

httpx builds an SSL context for each ``Client`` (and each ``httpx.get``), loading every CA
certificate: 50-100 ms of CPU here, for plain HTTP on the loopback interface, thousands
of times a run. These clients share one context.

They also let an idle connection go after 2 s, before the server does (uvicorn: 5 s):
a request sent on a connection the server is closing just then fails with "Server
disconnected without sending a response" (httpx's own default is 5 s too).
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

TLS = ssl.create_default_context()
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0)


def client(**kwargs: Any) -> httpx.Client:
    """``httpx.Client(**kwargs)`` with the shared SSL context and the limits above."""
    return httpx.Client(verify=TLS, **{"limits": LIMITS} | kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.get(url, **kwargs)`` with the shared SSL context."""
    with client() as http:
        return http.get(url, **kwargs)
