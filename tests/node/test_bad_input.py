"""Bad input of every kind the REST API accepts, sent to a real server on each database.

The security standard: fail closed. Malformed input, an unknown attribute or an unknown
peer is refused, explained in one line, nothing of it is stored, and the refusal is
written to the audit log. So for every refused request these tests check: the status,
``application/problem+json``, a one-line ``detail``, for a 422 an ``errors`` list naming
the field, that no row was added to the node's tables, and that exactly one audit entry
of kind ``refused`` (``item.refused`` for reads) was appended. No bad input may yield a
500, and the server's log holds no token and no traceback.

Each test function runs its whole list of cases against one server, collecting every
failure so that one run reports all of them. The two tests that count what the node
holds (``harness``) start a server of their own; the others share one per database
(``shared``: each compares the tables and the audit log before and after its own
requests, and reads serve.log from where it began).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select

from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries, metadata
from tests import loopback
from tests.node.conftest import RunningNode, fresh_database, make_node

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}
# every table of the node but the audit log itself and its bookkeeping (meta)
STORED: dict[str, Table] = {
    t.name: t for t in metadata.sorted_tables if t.name not in {"audit_entries", "meta"}
}
REFUSED = frozenset({"refused"})
READ_REFUSED = frozenset({"refused", "item.refused"})
MiB = 1024 * 1024

SQL_TITLE = "x'); DROP TABLE items;--"
SQL_AREA = "maritime'; DELETE FROM items;--"
SQL_TOPIC = "t' OR '1'='1"
SQL_TEXT = "'; DROP TABLE items; -- \" OR 1=1; /* */ %_\\"

LABEL: dict[str, Any] = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN"],
    "need_to_know": ["maritime"],
}
VALID: dict[str, Any] = {"label": LABEL, "title": "Patrol", "content": "x"}


# -- replies and raw HTTP -------------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP response, from httpx or read off a raw socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Reply:
        headers = {k.lower(): v for k, v in response.headers.items()}
        return cls(response.status_code, headers, response.content)

    def json(self) -> Any:
        return json.loads(self.body)

    def short(self) -> str:
        return f"{self.status} {self.body[:300]!r}"


def raw_exchange(
    port: int,
    head: bytes,
    body: Iterable[bytes] = (),
    *,
    half_close: bool = False,
    timeout: float = 20.0,
) -> Reply | None:
    """Send ``head`` then ``body`` (in a thread: the server may answer before it has read
    the body) and read one response; None if the server closed without answering."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def write() -> None:
        try:
            sock.sendall(head)
            for chunk in body:
                sock.sendall(chunk)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before reading everything: fine

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            received += chunk
        top, _, rest = received.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "-1"))
        while length < 0 or len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Reply(status, headers, rest[:length] if length >= 0 else rest)
    except ConnectionResetError:
        return None
    finally:
        sock.close()
        writer.join(timeout=timeout)


def request_head(
    token: str, content_length: str | None = None, *, chunked: bool = False, close: bool = True
) -> bytes:
    lines = [
        "POST /api/v1/items HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
    ]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- the harness ----------------------------------------------------------------------------


def names(place: str, field_: str) -> bool:
    """Whether an error's place names ``field_`` (``body.`` prefixes are optional)."""
    if field_ == "body":
        return place == "body" or place.startswith(("body.", "body["))
    place = place.removeprefix("body.")
    field_ = field_.removeprefix("body.")
    return place == field_ or place.startswith((f"{field_}.", f"{field_}["))


@dataclass
class Harness:
    """A started node, its store opened for inspection, and the failures found so far."""

    node: RunningNode
    store: Node
    failures: list[str] = field(default_factory=list)
    cases: int = 0
    log_start: int = 0
    """Where serve.log ended when the test began."""
    shared: bool = False
    """The server serves the whole module: ``finish`` leaves it running."""

    def client(self, user: str | None = "jp") -> httpx.Client:
        return self.node.client(user)

    def call(self, user: str | None, method: str, path: str, **kwargs: Any) -> Reply:
        with self.client(user) as client:
            return Reply.of(client.request(method, path, **kwargs))

    def counts(self) -> dict[str, int]:
        with self.store.engine.connect() as connection:
            return {
                name: int(connection.execute(select(func.count()).select_from(t)).scalar_one())
                for name, t in STORED.items()
            }

    def audit_seq(self) -> int:
        with self.store.engine.connect() as connection:
            seq = connection.execute(select(func.max(audit_entries.c.seq))).scalar()
        return -1 if seq is None else int(seq)

    def audit_since(self, seq: int) -> list[dict[str, Any]]:
        with self.store.engine.connect() as connection:
            rows = connection.execute(
                select(audit_entries.c.body)
                .where(audit_entries.c.seq > seq)
                .order_by(audit_entries.c.seq)
            ).scalars()
            return [json.loads(body) for body in rows]

    def fail(self, case: str, why: str) -> None:
        self.failures.append(f"[{self.node.database.backend}] {case}: {why}")

    def create(self, title: str = "Patrol", **changes: Any) -> dict[str, Any]:
        """A valid item, created through the API."""
        reply = self.call("jp", "POST", "/api/v1/items", json=VALID | {"title": title} | changes)
        assert reply.status == 201, reply.short()
        created: dict[str, Any] = reply.json()
        return created

    def refused(
        self,
        case: str,
        send: Callable[[], Reply | None],
        statuses: Iterable[int] = (422,),
        fields: Iterable[str] = (),
        kinds: frozenset[str] = REFUSED,
    ) -> None:
        """Send a request that must be refused, and check everything the standard asks."""
        self.stored_or_refused(case, send, None, statuses, fields, kinds)

    def stored_or_refused(
        self,
        case: str,
        send: Callable[[], Reply | None],
        accepted: tuple[int, Callable[[Reply], bool]] | None,
        statuses: Iterable[int] = (422,),
        fields: Iterable[str] = (),
        kinds: frozenset[str] = REFUSED,
    ) -> None:
        """Like ``refused``; but with ``accepted = (status, check)`` that status is right
        too if ``check(reply)`` holds (e.g. the input was stored as it was sent)."""
        self.cases += 1
        before, seq = self.counts(), self.audit_seq()
        try:
            reply = send()
        except httpx.HTTPError as e:
            self.fail(case, f"no reply ({e!r})")
            return
        if reply is None:
            self.fail(case, "the server closed the connection without a reply")
            return
        if accepted is not None and reply.status == accepted[0]:
            if not accepted[1](reply):
                self.fail(case, f"accepted, but not as sent -- got {reply.short()}")
            return
        problems = _problem_shape(reply, set(statuses), list(fields))
        after = self.counts()
        if after != before:
            added = {k: after[k] - before[k] for k in after if after[k] != before[k]}
            problems.append(f"stored something: {added}")
        entries = self._new_entries(seq)
        found = [e["kind"] for e in entries]
        if len(entries) != 1 or found[0] not in kinds:
            problems.append(f"audit: expected one entry of {sorted(kinds)}, found {found}")
        for problem in problems:
            self.fail(case, f"{problem} -- got {reply.short()}")

    def _new_entries(self, seq: int) -> list[dict[str, Any]]:
        # the server commits the entry before it answers; a short grace for raw sockets
        deadline = time.monotonic() + 1.0
        entries = self.audit_since(seq)
        while not entries and time.monotonic() < deadline:
            time.sleep(0.05)
            entries = self.audit_since(seq)
        return entries

    def finish(self) -> None:
        """Stop the server (unless shared), check its log since the test began, and report
        every failure found."""
        if not self.shared:
            self.node.stop()
            self.store.close()
        with (self.node.data / "serve.log").open("rb") as file:
            file.seek(self.log_start)
            log = file.read().decode(errors="replace")
        for user, token in self.node.tokens.items():
            if token in log:
                self.fail("serve.log", f"holds the token of {user}")
        if "Traceback" in log:
            tracebacks = log.count("Traceback (most recent call last)")
            last = [line for line in log.splitlines() if line and not line.startswith(" ")]
            self.fail("serve.log", f"{tracebacks} traceback(s); last lines: {last[-3:]}")
        assert self.cases > 0
        assert not self.failures, f"{len(self.failures)} failure(s):\n" + "\n".join(self.failures)


def _problem_shape(reply: Reply, statuses: set[int], fields: list[str]) -> list[str]:
    problems: list[str] = []
    if reply.status not in statuses:
        problems.append(f"status {reply.status}, expected {sorted(statuses)}")
    media = reply.headers.get("content-type", "").split(";")[0].strip()
    if media != PROBLEM:
        return [*problems, f"content-type {media!r}, expected {PROBLEM}"]
    try:
        body = reply.json()
    except ValueError:
        return [*problems, "the problem is not JSON"]
    if not isinstance(body, dict):
        return [*problems, "the problem is not a JSON object"]
    detail = body.get("detail")
    if not isinstance(detail, str) or not detail.strip():
        problems.append("no detail")
    elif "\n" in detail or "\r" in detail:
        problems.append("detail is more than one line")
    if body.get("status") != reply.status:
        problems.append(f"problem status {body.get('status')} != HTTP status {reply.status}")
    if reply.status == 422:
        errors = body.get("errors")
        if not isinstance(errors, list) or not errors:
            problems.append("a 422 without an errors list")
        else:
            places = [str(e.get("place")) for e in errors if isinstance(e, dict)]
            for wanted in fields:
                if not any(names(p, wanted) for p in places):
                    problems.append(f"errors {places} do not name {wanted!r}")
    return problems


def _started(jpn: RunningNode) -> Node:
    """The Japanese node, started, with an analyst, two officers and a Canadian analyst;
    its store opened for inspection."""
    topics_held = ["maritime", SQL_TOPIC, "100%", "a_b"]
    jpn.add_user("jp", "JPN", "KIMITSU", topics_held)
    jpn.add_user("off", "JPN", "KIMITSU", ["maritime"], role=Role.OFFICER)
    jpn.add_user("off-sql", "JPN", "KIMITSU", topics_held, role=Role.OFFICER)
    jpn.add_user("ca", "CAN", "S", ["maritime"])
    jpn.in_process = False  # its serve.log is checked (no token, no traceback)
    jpn.start()
    return jpn.open()


@pytest.fixture
def harness(jpn: RunningNode) -> Iterator[Harness]:
    """A node of the test's own (for the tests that count what it holds)."""
    store = _started(jpn)
    try:
        yield Harness(jpn, store)
    finally:
        store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningNode, Node]]:
    with fresh_database(request.param) as database:
        jpn = make_node(tmp_path_factory.mktemp("bad-input"), database)
        try:
            store = _started(jpn)
            try:
                yield jpn, store
            finally:
                store.close()
        finally:
            jpn.stop()


@pytest.fixture
def shared(served: tuple[RunningNode, Node]) -> Harness:
    """The module's node, for a test that compares before and after its own requests."""
    node, store = served
    return Harness(node, store, log_start=(node.data / "serve.log").stat().st_size, shared=True)


def post_raw(
    h: Harness, path: str, content: bytes, headers: dict[str, str] | None = None
) -> Callable[[], Reply]:
    return lambda: h.call("jp", "POST", path, content=content, headers=JSON | (headers or {}))


def post_json(h: Harness, path: str, body: Any, user: str = "jp") -> Callable[[], Reply]:
    return lambda: h.call(user, "POST", path, json=body)


# -- POST /api/v1/items -------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A bad body: ``body`` is sent as JSON, or as it is when it is bytes."""

    name: str
    body: Any
    fields: tuple[str, ...] = ()
    statuses: tuple[int, ...] = (422,)
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


def _with_label(**changes: Any) -> dict[str, Any]:
    return VALID | {"label": LABEL | changes}


def _without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


_VALID_BYTES = json.dumps(VALID).encode()
_PLAIN = (("content-type", "text/plain"),)

BAD_ITEMS: list[Bad] = [
    # not JSON at all, or JSON that cannot be read
    Bad("not JSON", b"{not json", ("body",)),
    Bad("truncated JSON", _VALID_BYTES[:-7], ("body",)),
    Bad("empty body", b"", ("body",)),
    Bad("invalid UTF-8", b'{"label": {}, "title": "\xff\xfe\xfd", "content": "x"}', ("body",)),
    Bad("deep nesting [ x100000", b"[" * 100_000, ("body",)),
    Bad("deep nesting [] x100000", b"[" * 100_000 + b"]" * 100_000, ("body",)),
    Bad("deep nesting {: x100000", b'{"a":' * 100_000, ("body",)),
    Bad("huge integer, 5000 digits", b'{"title": ' + b"9" * 5000 + b"}", ("body",)),
    # JSON, but not an object
    Bad("JSON array", [VALID], ("body",)),
    Bad("JSON string", "title", ("body",)),
    Bad("JSON number", 5, ("body",)),
    Bad("JSON null", None, ("body",)),
    # wrong content types
    Bad("text/plain", _VALID_BYTES, ("body",), (415, 422), _PLAIN),
    Bad("no content-type", _VALID_BYTES, ("body",), (415, 422), ()),
    Bad(
        "form content-type",
        _VALID_BYTES,
        ("body",),
        (415, 422),
        (("content-type", "application/x-www-form-urlencoded"),),
    ),
    # unknown, missing and malformed attributes
    Bad("unknown top-level attribute", VALID | {"colour": "red"}, ("colour",)),
    Bad("unknown label attribute", _with_label(colour="red"), ("label.colour",)),
    Bad("custodian in the label", _with_label(custodian="JPN"), ("label.custodian",)),
    Bad("consented_to in the label", _with_label(consented_to=["USA"]), ("label.consented_to",)),
    Bad("missing title", _without(VALID, "title"), ("title",)),
    Bad("missing label", _without(VALID, "label"), ("label",)),
    Bad("missing everything", {}, ("label", "title")),
    Bad("empty title", VALID | {"title": ""}, ("title",)),
    Bad("blank title", VALID | {"title": "   "}, ("title",)),
    Bad("title of 1001 characters", VALID | {"title": "t" * 1001}, ("title",)),
    Bad("label is a list", VALID | {"label": [LABEL]}, ("label",)),
    Bad("label is a string", VALID | {"label": "JPN GOKUHI"}, ("label",)),
    Bad("label is null", VALID | {"label": None}, ("label",)),
    Bad("empty label", VALID | {"label": {}}, ("label.originator", "label.classification")),
    Bad(
        "label without classification",
        VALID | {"label": _without(LABEL, "classification")},
        ("label.classification",),
    ),
    Bad("unknown policy", _with_label(originator="XXX"), ("label.originator",)),
    Bad("policy in lower case", _with_label(originator="jpn"), ("label.originator",)),
    Bad("policy with a space", _with_label(originator="JPN "), ("label.originator",)),
    Bad("unknown level", _with_label(classification="TOP"), ("label.classification",)),
    Bad("another nation's level", _with_label(classification="S"), ("label.classification",)),
    Bad("unknown group", _with_label(releasable_to=["NOPE"]), ("label.releasable_to",)),
    Bad(
        "originator not this node",
        _with_label(originator="CAN", classification="S"),
        ("label.originator",),
    ),
    Bad("area of 65 characters", _with_label(area="a" * 65), ("label.area",)),
    Bad("topic of 65 characters", _with_label(need_to_know=["t" * 65]), ("label.need_to_know",)),
    # content
    Bad("content and content_b64", VALID | {"content_b64": "eA=="}, ("content",)),
    Bad("neither content nor content_b64", _without(VALID, "content"), ("content",)),
    Bad("both null", VALID | {"content": None, "content_b64": None}, ("content",)),
    Bad("invalid base64", _without(VALID, "content") | {"content_b64": "!!!"}, ("content_b64",)),
    Bad(
        "base64 without padding",
        _without(VALID, "content") | {"content_b64": "eA"},
        ("content_b64",),
    ),
    Bad(
        "base64 with a newline",
        _without(VALID, "content") | {"content_b64": "eA==\n"},
        ("content_b64",),
    ),
    Bad("content over 8 MiB", VALID | {"content": "x" * (8 * MiB + 1)}, ("content",)),
    Bad(
        "content_b64 over 8 MiB",
        _without(VALID, "content")
        | {"content_b64": base64.b64encode(b"x" * (8 * MiB + 1)).decode()},
        ("content",),
    ),
    # wrong types everywhere
    Bad("title 5", VALID | {"title": 5}, ("title",)),
    Bad("title true", VALID | {"title": True}, ("title",)),
    Bad("title a list", VALID | {"title": ["t"]}, ("title",)),
    Bad("title a 100-digit integer", VALID | {"title": 10**100}, ("title",)),
    Bad("title 1e999", b'{"label": {}, "title": 1e999, "content": "x"}', ("title",)),
    Bad("title NaN", b'{"label": {}, "title": NaN, "content": "x"}', ("title",)),
    Bad("content 5", VALID | {"content": 5}, ("content",)),
    Bad(
        "content_b64 a list",
        _without(VALID, "content") | {"content_b64": ["eA=="]},
        ("content_b64",),
    ),
    Bad('releasable_to "CAN"', _with_label(releasable_to="CAN"), ("label.releasable_to",)),
    Bad("need_to_know [1]", _with_label(need_to_know=[1]), ("label.need_to_know",)),
    Bad("area 5", _with_label(area=5), ("label.area",)),
    Bad("originator a list", _with_label(originator=["JPN"]), ("label.originator",)),
    Bad(
        "classification a huge integer",
        _with_label(classification=10**100),
        ("label.classification",),
    ),
    # SQL metacharacters where only known names are allowed
    Bad("SQL in originator", _with_label(originator=SQL_TITLE), ("label.originator",)),
    Bad("SQL in classification", _with_label(classification=SQL_TITLE), ("label.classification",)),
    Bad("SQL in releasable_to", _with_label(releasable_to=[SQL_TITLE]), ("label.releasable_to",)),
    # well-formed, but the creator could not read it: refused by the decision
    Bad("creator lacks the need-to-know", _with_label(need_to_know=["nuclear"]), (), (403,)),
]


def test_create_item_refuses_bad_bodies(harness: Harness) -> None:
    h = harness
    first = h.create()  # the valid body every bad one departs from is accepted
    for bad in BAD_ITEMS:
        headers = dict(bad.headers)
        content = bad.body if isinstance(bad.body, bytes) else json.dumps(bad.body).encode()

        def send(content: bytes = content, headers: dict[str, str] = headers) -> Reply:
            return h.call("jp", "POST", "/api/v1/items", content=content, headers=headers)

        h.refused(f"POST /api/v1/items, {bad.name}", send, bad.statuses, bad.fields)

    # not the node's nation, and no valid credentials: refused before anything else
    h.refused("POST /api/v1/items by a CAN user", post_json(h, "/api/v1/items", VALID, "ca"),
              (403,))  # fmt: skip
    h.refused(
        "POST /api/v1/items without credentials",
        lambda: h.call(None, "POST", "/api/v1/items", json=VALID),
        (401,),
    )

    # the refusals are in the audit log as an officer reads it
    refusals = sum(e["kind"] == "refused" for e in _audit_via_api(h))
    with h.store.engine.connect() as connection:
        stored = connection.execute(
            select(func.count()).where(audit_entries.c.kind == "refused")
        ).scalar_one()
    if refusals != stored or refusals < len(BAD_ITEMS):
        h.fail("GET /api/v1/audit", f"{refusals} refusals listed, {stored} stored")

    # and the node still works
    second = h.create("After the bad input")
    listed = h.call("jp", "GET", "/api/v1/items").json()
    assert [i["id"] for i in listed["items"]] == [first["id"], second["id"]]
    h.finish()


def _audit_via_api(h: Harness) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    after = -1
    with h.client("off") as officer:
        while True:
            page = officer.get("/api/v1/audit", params={"after": after, "limit": 1000})
            assert page.status_code == 200, page.text
            batch = page.json()["entries"]
            if not batch:
                return entries
            entries += batch
            after = batch[-1]["seq"]


# -- text that is stored must come back verbatim --------------------------------------------


def test_sql_metacharacters_are_stored_verbatim_and_filtered_as_text(harness: Harness) -> None:
    h = harness
    sql = h.create(
        SQL_TITLE,
        label=LABEL | {"area": SQL_AREA, "need_to_know": [SQL_TOPIC]},
        content=SQL_TEXT,
    )
    others = {
        title: h.create(title)["id"] for title in ("100% sure", "a_b", "back\\slash", "plain")
    }
    ids = {SQL_TITLE: sql["id"], **others}
    with h.client("jp") as jp:
        read = jp.get(f"/api/v1/items/{sql['id']}")
        assert read.status_code == 200, read.text
        item = read.json()
        assert item["title"] == SQL_TITLE
        assert item["content"] == SQL_TEXT
        assert item["label"]["area"] == SQL_AREA
        assert item["label"]["need_to_know"] == [SQL_TOPIC]
        assert jp.get("/api/v1/items").json()["total"] == 5  # the table is still there

        # filters are text: % and _ match themselves, quotes are no syntax
        expected: list[tuple[dict[str, str], set[str]]] = [
            ({"q": "%"}, {"100% sure"}),
            ({"q": "_"}, {"a_b"}),
            ({"q": "\\"}, {"back\\slash"}),
            ({"q": "'"}, {SQL_TITLE}),
            ({"q": SQL_TITLE}, {SQL_TITLE}),
            ({"q": "' OR '1'='1"}, set()),
            ({"q": "%%"}, set()),
            ({"q": "a%b"}, set()),
            ({"q": "p_ain"}, set()),
            ({"q": "PLAIN"}, {"plain"}),
            ({"area": "%"}, set()),
            ({"area": "maritime%"}, set()),
            ({"area": SQL_AREA}, {SQL_TITLE}),
            ({"area": "maritime' OR '1'='1"}, set()),
            ({"originator": "JPN' OR '1'='1"}, set()),
            ({"originator": "%"}, set()),
            ({"level": "GOKUHI' OR '1'='1"}, set()),
            ({"level": "%"}, set()),
        ]
        for params, titles in expected:
            listed = jp.get("/api/v1/items", params=params)
            if listed.status_code != 200:
                h.fail(f"GET /api/v1/items {params}", f"status {listed.status_code}")
                continue
            found = {i["title"] for i in listed.json()["items"]}
            if found != titles:
                h.fail(f"GET /api/v1/items {params}", f"{sorted(found)} != {sorted(titles)}")
            wanted_ids = {ids[t] for t in titles}
            if {i["id"] for i in listed.json()["items"]} != wanted_ids:
                h.fail(f"GET /api/v1/items {params}", "wrong ids")

        # an incident description is text too
        incident = jp.post(
            "/api/v1/incidents",
            json={"item": sql["id"], "kind": "possible_loss", "description": SQL_TEXT},
        )
        assert incident.status_code == 201, incident.text
    with h.client("off") as officer:  # it lacks the item's topic: the text is withheld
        listed_incidents = officer.get("/api/v1/incidents").json()
        assert [i["description"] for i in listed_incidents] == [None]
        assert listed_incidents[0]["withheld"] == ["description"]
    with h.client("off-sql") as officer:  # it holds the topic: the text, verbatim
        listed_incidents = officer.get("/api/v1/incidents").json()
        assert [i["description"] for i in listed_incidents] == [SQL_TEXT]
    assert h.counts()["items"] == 5
    h.cases += len(expected)
    h.finish()


# -- control characters and lone surrogates -----------------------------------------------


def test_nul_and_lone_surrogates_never_give_a_500(shared: Harness) -> None:
    """A NUL is valid JSON (``\\u0000``) but PostgreSQL text cannot hold it; a lone
    surrogate (``\\ud800``) is valid JSON but not Unicode. Either the node refuses them
    (422 naming the field, or the 403/404 the request earns anyway), or it stores them
    and gives them back verbatim; never a 500."""
    h = shared
    item = h.create("Visible")["id"]
    nul = "a\x00b"
    valid = json.dumps(VALID)

    def read_back(reply: Reply) -> dict[str, Any]:
        got: dict[str, Any] = h.call("jp", "GET", f"/api/v1/items/{reply.json()['id']}").json()
        return got

    h.stored_or_refused(
        "NUL in title",
        post_json(h, "/api/v1/items", VALID | {"title": nul}),
        (201, lambda r: read_back(r)["title"] == nul),
        (422,),
        ("title",),
    )
    h.stored_or_refused(
        "NUL in area",
        post_json(h, "/api/v1/items", _with_label(area=nul)),
        (201, lambda r: read_back(r)["label"]["area"] == nul),
        (422,),
        ("label.area",),
    )
    h.stored_or_refused(
        "NUL in content",
        post_json(h, "/api/v1/items", VALID | {"content": nul}),
        (201, lambda r: read_back(r)["content"] == nul),
        (422,),
        ("content",),
    )
    h.stored_or_refused(
        "NUL in an incident's description",
        post_json(h, "/api/v1/incidents", {"item": item, "kind": "loss", "description": nul}),
        (201, lambda r: r.json()["description"] == nul),
        (422,),
        ("description",),
    )

    cases: list[tuple[str, Callable[[], Reply], tuple[int, ...], tuple[str, ...], frozenset[str]]]
    cases = [
        ("lone surrogate in content",
         post_raw(h, "/api/v1/items", valid.replace('"x"', '"x\\udfff"').encode()),
         (422,), ("content",), REFUSED),
        ("lone surrogate in title",
         post_raw(h, "/api/v1/items", valid.replace('"Patrol"', '"\\ud800"').encode()),
         (422,), ("title",), REFUSED),
        ("lone surrogate in area",
         post_raw(h, "/api/v1/items", valid.replace('"maritime"', '"\\udfff"', 1).encode()),
         (422,), ("label.area",), REFUSED),
        ("NUL in need_to_know", post_json(h, "/api/v1/items", _with_label(need_to_know=[nul])),
         (403, 422), (), REFUSED),
        ("NUL in an item id", lambda: h.call("jp", "GET", "/api/v1/items/a%00b"),
         (404, 422), (), READ_REFUSED),
        ("NUL in a consent's item id",
         lambda: h.call("off", "POST", "/api/v1/items/a%00b/consents", json={"to": "USA"}),
         (404, 422), (), REFUSED),
        ("NUL in a consent's party",
         post_json(h, f"/api/v1/items/{item}/consents", {"to": nul}, "off"),
         (422,), ("to",), REFUSED),
        ("NUL in an incident's item",
         post_json(h, "/api/v1/incidents", {"item": nul, "kind": "loss"}),
         (404, 422), (), REFUSED),
        ("lone surrogate in an incident's description",
         post_raw(h, "/api/v1/incidents",
                  b'{"item": "%s", "kind": "loss", "description": "\\ud800"}' % item.encode()),
         (422,), ("description",), REFUSED),
        ("lone surrogate in decide",
         post_raw(h, "/api/v1/decide",
                  b'{"subject": {"nation": "CAN", "id": "\\ud800"}, "label": %s}'
                  % json.dumps(LABEL).encode()),
         (422,), ("subject.id",), REFUSED),
    ]  # fmt: skip
    for name, send, statuses, fields, kinds in cases:
        h.refused(name, send, statuses, fields, kinds)

    # a NUL in a filter: searched for as text (it matches only what holds it), or refused
    def listed(r: Reply) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = r.json()["items"]
        return found

    h.stored_or_refused(
        "NUL in q",
        lambda: h.call("jp", "GET", "/api/v1/items", params={"q": nul}),
        (200, lambda r: all(i["title"] == nul for i in listed(r))),
        (422,),
        ("query.q",),
    )
    h.stored_or_refused(
        "NUL in area filter",
        lambda: h.call("jp", "GET", "/api/v1/items", params={"area": nul}),
        (200, lambda r: all(i["label"]["area"] == nul for i in listed(r))),
        (422,),
        ("query.area",),
    )
    h.finish()


# -- oversize bodies and lying Content-Length ----------------------------------------------


def test_oversize_bodies_and_lying_content_length(shared: Harness) -> None:
    h = shared
    token = h.node.tokens["jp"]
    port = h.node.port
    big = 13 * MiB
    megabyte = b"x" * MiB

    # declared too large: answered at once, without waiting for (or reading) the body
    started = time.monotonic()
    h.refused(
        "Content-Length 13 MiB, body never sent",
        lambda: raw_exchange(port, request_head(token, str(big)), timeout=10),
        (413,),
    )
    if time.monotonic() - started > 5:
        h.fail("Content-Length 13 MiB", "the server waited for the body")

    h.refused(
        "13 MiB body with its Content-Length",
        lambda: raw_exchange(port, request_head(token, str(big)), [megabyte] * 13),
        (413,),
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(13):
            yield b"%x\r\n%s\r\n" % (len(megabyte), megabyte)
        yield b"0\r\n\r\n"

    h.refused(
        "13 MiB chunked body, no Content-Length",
        lambda: raw_exchange(port, request_head(token, chunked=True), chunks()),
        (413,),
    )
    h.refused(
        "13 MiB body through httpx",
        lambda: h.call("jp", "POST", "/api/v1/items", content=b"x" * big, headers=JSON),
        (413,),
    )

    body = json.dumps(VALID | {"title": "Lying"}).encode()
    # shorter than the body: the server reads a truncated JSON document
    h.refused(
        "Content-Length shorter than the body",
        lambda: raw_exchange(port, request_head(token, "20") + body),
        (422,),
        ("body",),
    )

    # longer than the body, then the client stops sending: nothing stored, no 500
    before = h.counts()
    reply = raw_exchange(port, request_head(token, "1000") + body, half_close=True)
    h.cases += 1
    if reply is not None and (reply.status < 400 or reply.status >= 500):
        h.fail("Content-Length longer, half-closed", reply.short())
    time.sleep(0.3)
    if h.counts() != before:
        h.fail("Content-Length longer, half-closed", "stored something")

    # longer than the body, connection kept open: the server keeps serving others
    hanging = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        hanging.sendall(request_head(token, "1000", close=False) + body)
        with loopback.client(base_url=h.node.url, timeout=10) as other:
            if other.get("/healthz").status_code != 200:
                h.fail("Content-Length longer, held open", "the server stopped serving")
    finally:
        hanging.close()
    h.cases += 1
    time.sleep(0.3)
    if h.counts() != before:
        h.fail("Content-Length longer, held open", "stored something")

    # a Content-Length that is no number never reaches the application: the HTTP layer
    # (uvicorn/h11) answers 400 text/plain; it must store nothing
    for declared in ("abc", "-5", f"{len(body)}\r\nContent-Length: 5"):
        reply = raw_exchange(port, request_head(token, declared) + body)
        h.cases += 1
        if reply is None or reply.status != 400:
            h.fail(f"Content-Length {declared!r}", reply.short() if reply else "no reply")
        if h.counts() != before:
            h.fail(f"Content-Length {declared!r}", "stored something")

    assert h.call("jp", "GET", "/healthz").status == 200
    h.finish()


# -- GET /api/v1/items (and the other GETs with parameters) ---------------------------------


BAD_QUERIES: list[tuple[str, dict[str, str], str]] = [
    ("/api/v1/items", {"limit": "0"}, "query.limit"),
    ("/api/v1/items", {"limit": "-1"}, "query.limit"),
    ("/api/v1/items", {"limit": "1001"}, "query.limit"),
    ("/api/v1/items", {"limit": "5000"}, "query.limit"),
    ("/api/v1/items", {"limit": "abc"}, "query.limit"),
    ("/api/v1/items", {"limit": "1.5"}, "query.limit"),
    ("/api/v1/items", {"limit": ""}, "query.limit"),
    ("/api/v1/items", {"limit": "9" * 30}, "query.limit"),
    ("/api/v1/items", {"cursor": "-1"}, "query.cursor"),
    ("/api/v1/items", {"cursor": "abc"}, "query.cursor"),
    ("/api/v1/items", {"cursor": "1.5"}, "query.cursor"),
    ("/api/v1/items", {"cursor": " 1"}, "query.cursor"),
    ("/api/v1/items", {"cursor": "²"}, "query.cursor"),  # str.isdigit() yet not int()
    ("/api/v1/items", {"cursor": "1" * 33}, "query.cursor"),
    ("/api/v1/items", {"q": "q" * 201}, "query.q"),
    ("/api/v1/items", {"area": "a" * 65}, "query.area"),
    ("/api/v1/items", {"originator": "O" * 33}, "query.originator"),
    ("/api/v1/items", {"level": "L" * 65}, "query.level"),
    ("/api/v1/agreements", {"at": "2026-13-45"}, "query.at"),
    ("/api/v1/agreements", {"at": "yesterday"}, "query.at"),
    ("/api/v1/audit", {"after": "abc"}, "query.after"),
    ("/api/v1/audit", {"after": "-2"}, "query.after"),
    ("/api/v1/audit", {"limit": "0"}, "query.limit"),
    ("/api/v1/audit", {"limit": "100000"}, "query.limit"),
]


def test_bad_query_parameters_are_refused(shared: Harness) -> None:
    h = shared
    h.create()
    for path, params, place in BAD_QUERIES:
        h.refused(
            f"GET {path} {params}",
            lambda path=path, params=params: h.call("off", "GET", path, params=params),
            (422,),
            (place,),
        )
    # the boundaries themselves are accepted
    for params in ({"limit": "1"}, {"limit": "1000"}, {"cursor": "0"}, {"q": "q" * 200}):
        assert h.call("jp", "GET", "/api/v1/items", params=params).status == 200, params
    h.finish()


# -- GET /api/v1/items/{id} -------------------------------------------------------------------


BAD_IDS: list[str] = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "..%5C..%5Cwindows%5Cwin.ini",
    "%2E%2E",
    "%2E",
    "%252E%252E%252Fetc%252Fpasswd",
    "a" * 8000,
    "秘密",
    "%F0%9F%92%A3",
    "%FF%FE",
    "%ED%A0%80",
    "x%27%20OR%20%271%27%3D%271",
    "%25",
    "_",
    "%0Aline%0Dbreak",
    "%20",
]


def test_bad_item_ids_are_not_found(shared: Harness) -> None:
    h = shared
    h.create()
    for bad in BAD_IDS:
        label = bad if len(bad) < 60 else f"{bad[:20]}…({len(bad)} chars)"
        h.refused(
            f"GET /api/v1/items/{label}",
            lambda bad=bad: h.call("jp", "GET", f"/api/v1/items/{bad}"),
            (404, 422),
            (),
            READ_REFUSED,
        )
        h.refused(
            f"POST /api/v1/items/{label}/consents",
            lambda bad=bad: h.call(
                "off", "POST", f"/api/v1/items/{bad}/consents", json={"to": "USA"}
            ),
            (404, 422),
        )
    h.finish()


# -- consents, incidents, decide ------------------------------------------------------------


def test_consents_incidents_and_decide_refuse_malformed_bodies(shared: Harness) -> None:
    h = shared
    item = h.create()["id"]
    consent_path = f"/api/v1/items/{item}/consents"
    consent_cases: list[tuple[str, bytes | Any, tuple[str, ...]]] = [
        ("not JSON", b"{to: USA}", ("body",)),
        ("a list", [{"to": "USA"}], ("body",)),
        ("empty", {}, ("to",)),
        ("to empty", {"to": ""}, ("to",)),
        ("to null", {"to": None}, ("to",)),
        ("to 5", {"to": 5}, ("to",)),
        ("to a list", {"to": ["USA"]}, ("to",)),
        ("to of 33 characters", {"to": "U" * 33}, ("to",)),
        ("to unknown", {"to": "XXX"}, ("to",)),
        ("to a group", {"to": "NOPE"}, ("to",)),
        ("to SQL", {"to": "USA'; DROP TABLE consents;--"}, ("to",)),
        ("unknown attribute", {"to": "USA", "until": "2030-01-01"}, ("until",)),
    ]
    for name, body, fields in consent_cases:
        send = (
            _as(h, "off", consent_path, body)
            if isinstance(body, bytes)
            else post_json(h, consent_path, body, "off")
        )
        h.refused(f"POST consents, {name}", send, (422,), fields)
    h.refused("POST consents, text/plain", _as(h, "off", consent_path, b'{"to": "USA"}', _PLAIN),
              (415, 422), ("body",))  # fmt: skip
    h.refused("POST consents by an analyst", post_json(h, consent_path, {"to": "USA"}), (403,))
    h.refused(
        "POST consents to a missing item",
        post_json(h, "/api/v1/items/no-such-item/consents", {"to": "USA"}, "off"),
        (404,),
    )

    incident_cases: list[tuple[str, bytes | Any, tuple[str, ...]]] = [
        ("not JSON", b"item=x&kind=loss", ("body",)),
        ("a list", [{"item": item, "kind": "loss"}], ("body",)),
        ("empty", {}, ("item", "kind")),
        ("no kind", {"item": item}, ("kind",)),
        ("no item", {"kind": "loss"}, ("item",)),
        ("kind unknown", {"item": item, "kind": "theft"}, ("kind",)),
        ("kind in upper case", {"item": item, "kind": "LOSS"}, ("kind",)),
        ("kind 5", {"item": item, "kind": 5}, ("kind",)),
        ("item 5", {"item": 5, "kind": "loss"}, ("item",)),
        ("item empty", {"item": "", "kind": "loss"}, ("item",)),
        ("item of 65 characters", {"item": "i" * 65, "kind": "loss"}, ("item",)),
        ("description 5", {"item": item, "kind": "loss", "description": 5}, ("description",)),
        ("description of 10001 characters",
         {"item": item, "kind": "loss", "description": "d" * 10_001}, ("description",)),
        ("unknown attribute", {"item": item, "kind": "loss", "severity": 9}, ("severity",)),
    ]  # fmt: skip
    for name, body, fields in incident_cases:
        send = (
            post_raw(h, "/api/v1/incidents", body)
            if isinstance(body, bytes)
            else post_json(h, "/api/v1/incidents", body)
        )
        h.refused(f"POST incidents, {name}", send, (422,), fields)
    h.refused("POST incidents, text/plain",
              post_raw(h, "/api/v1/incidents", json.dumps({"item": item, "kind": "loss"})
                       .encode(), dict(_PLAIN)), (415, 422), ("body",))  # fmt: skip
    for missing in ("no-such-item", SQL_TITLE, "' OR '1'='1"):
        h.refused(
            f"POST incidents on item {missing!r}",
            post_json(h, "/api/v1/incidents", {"item": missing, "kind": "loss"}),
            (404,),
        )

    subject = {"nation": "CAN", "clearance": "S", "need_to_know": ["maritime"]}
    request = {"subject": subject, "label": LABEL}
    decide_cases: list[tuple[str, bytes | Any, tuple[str, ...]]] = [
        ("not JSON", b"subject=CAN", ("body",)),
        ("deep nesting", b"[" * 100_000, ("body",)),
        ("a list", [request], ("body",)),
        ("empty", {}, ("subject", "label")),
        ("no label", {"subject": subject}, ("label",)),
        ("unknown attribute", request | {"purpose": "x"}, ("purpose",)),
        ("unknown subject attribute", request | {"subject": subject | {"rank": "x"}},
         ("subject.rank",)),
        ("unknown label attribute", request | {"label": LABEL | {"colour": "red"}},
         ("label.colour",)),
        ("unknown nation", request | {"subject": subject | {"nation": "XXX"}},
         ("subject.nation",)),
        ("unknown clearance", request | {"subject": subject | {"clearance": "TS2"}},
         ("subject.clearance",)),
        ("unknown classification", request | {"label": LABEL | {"classification": "ZZ"}},
         ("label.classification",)),
        ("unknown custodian", request | {"custodian": "XXX"}, ("custodian",)),
        ("unknown consented_to", request | {"consented_to": ["NOPE"]}, ("consented_to",)),
        ("at not a date", request | {"at": "2026-13-01"}, ("at",)),
        ("at a date-time", request | {"at": "2026-01-01T00:00:00"}, ("at",)),
        ("at a number", request | {"at": 20260101}, ("at",)),
        ("need_to_know [1]", request | {"subject": subject | {"need_to_know": [1]}},
         ("subject.need_to_know",)),
        ('releasable_to "CAN"', request | {"label": LABEL | {"releasable_to": "CAN"}},
         ("label.releasable_to",)),
        ("nation a huge integer", request | {"subject": subject | {"nation": 10**100}},
         ("subject.nation",)),
        ("SQL in nation", request | {"subject": subject | {"nation": SQL_TITLE}},
         ("subject.nation",)),
    ]  # fmt: skip
    for name, body, fields in decide_cases:
        send = (
            post_raw(h, "/api/v1/decide", body)
            if isinstance(body, bytes)
            else post_json(h, "/api/v1/decide", body)
        )
        h.refused(f"POST decide, {name}", send, (422,), fields)
    h.refused("POST decide, text/plain",
              post_raw(h, "/api/v1/decide", json.dumps(request).encode(), dict(_PLAIN)),
              (415, 422), ("body",))  # fmt: skip

    # the well-formed request is decided (and that is audited as a decision)
    decided = h.call("jp", "POST", "/api/v1/decide", json=request)
    assert decided.status == 200, decided.short()
    h.finish()


def _as(
    h: Harness, user: str, path: str, content: bytes, headers: Iterable[tuple[str, str]] = ()
) -> Callable[[], Reply]:
    return lambda: h.call(user, "POST", path, content=content, headers=JSON | dict(headers))


# -- credentials ----------------------------------------------------------------------------


def test_bad_credentials_are_refused(shared: Harness) -> None:
    h = shared
    token = h.node.tokens["jp"]

    def basic(text: bytes) -> str:
        return "Basic " + base64.b64encode(text).decode()

    bad_headers: list[tuple[str, dict[str, str]]] = [
        ("no Authorization", {}),
        ("Bearer without a token", {"Authorization": "Bearer"}),
        ("unknown token", {"Authorization": "Bearer not-a-token"}),
        ("token of another case", {"Authorization": f"Bearer {token.swapcase()}"}),
        ("token with a prefix", {"Authorization": f"Bearer x{token}"}),
        ("unknown scheme", {"Authorization": f"Token {token}"}),
        ("Basic not base64", {"Authorization": "Basic !!!"}),
        ("Basic without a colon", {"Authorization": basic(b"jp")}),
        ("Basic without a token", {"Authorization": basic(b"jp:")}),
        ("Basic of another user", {"Authorization": basic(f"off:{token}".encode())}),
        ("Basic not UTF-8", {"Authorization": basic(b"\xff\xfe:" + token.encode())}),
        ("Basic with NUL", {"Authorization": basic(b"j\x00p:" + token.encode())}),
        ("Basic with SQL", {"Authorization": basic(b"' OR '1'='1:' OR '1'='1")}),
    ]
    for name, headers in bad_headers:
        for method, path, body in (
            ("GET", "/api/v1/items", None),
            ("POST", "/api/v1/items", VALID),
            ("POST", "/api/v1/decide", {"subject": {"nation": "CAN"}, "label": LABEL}),
        ):

            def send(
                method: str = method, path: str = path, body: Any = body, headers: Any = headers
            ) -> Reply:
                # from an address of its own: the first refusal of its source, written at
                # once (the later ones of a source are counted: tests/node/test_floods.py)
                source = loopback.fresh_source()
                with loopback.client_from(source, base_url=h.node.url, timeout=30) as anonymous:
                    return Reply.of(anonymous.request(method, path, json=body, headers=headers))

            h.refused(f"{method} {path}, {name}", send, (401,))
    assert h.call("jp", "GET", "/api/v1/me").status == 200
    h.finish()
