"""A keep-alive HTTP/1.1 client on the standard library's ``http.client``, for load.

The benchmarks' clients run on the same cores as the server they measure. httpx costs
about 1.3 ms of CPU a request on the machines used here, ``http.client`` about 0.3: with
httpx the clients took a quarter of the machine from the server under test, and added a
millisecond to each latency measured. Functional tests keep httpx.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from types import TracebackType
from typing import Any

ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)
"""What a request through ``KeepAlive`` may raise: the connection or the protocol failed."""


@dataclass(frozen=True)
class Reply:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class KeepAlive:
    """One connection to ``base`` (``http://host:port``), reopened if it breaks; every
    request carries ``headers``. Not thread-safe: one per thread."""

    def __init__(self, base: str, headers: dict[str, str], timeout: float = 120) -> None:
        parsed = urllib.parse.urlsplit(base)
        if parsed.scheme != "http" or parsed.hostname is None:
            raise ValueError(f"an http://host:port base URL, not {base!r}")
        self._host, self._port = parsed.hostname, parsed.port or 80
        self._headers = headers
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> Reply:
        """Send one request and read its whole answer. A GET on a kept connection that the
        server closed meanwhile is sent once more on a new one; anything else raises."""
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        headers = dict(self._headers)
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        reused = self._connection is not None
        try:
            return self._send(method, path, body, headers)
        except ERRORS:
            self.close()
            if not (reused and method == "GET"):
                raise
            return self._send(method, path, body, headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Reply:
        return self.request("GET", path, params=params)

    def post(self, path: str, json_body: Any) -> Reply:
        return self.request("POST", path, json_body=json_body)

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self._host, self._port, timeout=self._timeout
            )
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        content = response.read()
        if response.will_close:
            self.close()
        return Reply(response.status, content)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> KeepAlive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
