"""The audit log searched by people (``gsoia.node.audit_search``) and its page, in process
on both backends: filters by item, user, kind and day; paging back newest first; entries
about what the officer may not read withheld exactly as the REST API withholds them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gsoia.api import create_app
from gsoia.node.audit_search import AuditFilter, search
from gsoia.node.errors import Forbidden
from gsoia.node.service import Node
from gsoia.node.users import Role, User
from gsoia.web.audit_sentences import sentence
from tests import loopback
from tests.node.conftest import Database
from tests.node.test_api_items import create, label

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Log:
    node: Node
    users: dict[str, User]
    tokens: dict[str, str]
    transport: httpx.BaseTransport
    opened: list[httpx.Client]
    top: str
    """An item above the HI officer's clearance."""
    low: str

    def api(self, user_id: str) -> httpx.Client:
        return loopback.client(
            transport=self.transport,
            base_url="http://node.test",
            headers={"Authorization": f"Bearer {self.tokens[user_id]}"},
        )

    def browser(self, user_id: str) -> httpx.Client:
        client = loopback.client(transport=self.transport, base_url="http://node.test")
        found = CSRF.search(client.get("/web/sign-in").text)
        assert found
        signed = client.post(
            "/web/sign-in", data={"csrf": found.group(1), "token": self.tokens[user_id]}
        )
        assert signed.status_code == 303, signed.text
        self.opened.append(client)
        return client


@pytest.fixture
def log(tmp_path: Path, database: Database) -> Iterator[Log]:
    node = Node.init(tmp_path / "jpn", "JPN", database=database.url)
    users, tokens = {}, {}
    for user_id, clearance, role in [
        ("analyst", "KIMITSU", Role.ANALYST),
        ("other", "HI", Role.ANALYST),
        ("officer", "KIMITSU", Role.OFFICER),
        ("hi-officer", "HI", Role.OFFICER),
    ]:
        users[user_id], tokens[user_id] = node.add_user(
            user_id, "JPN", clearance=clearance, need_to_know=["maritime"], role=role
        )
    transport = loopback.InProcess(create_app(node))
    made = Log(node, users, tokens, transport, [], "", "")
    with made.api("analyst") as analyst:
        made.top = create(analyst, "Top harbour plan", label("KIMITSU", ["CAN"]))
        made.low = create(analyst, "Low harbour note", label("HI", ["CAN"]))
        for _ in range(3):
            assert analyst.get(f"/api/v1/items/{made.top}").status_code == 200
    with made.api("other") as other:
        assert other.get(f"/api/v1/items/{made.low}").status_code == 200
        assert other.get(f"/api/v1/items/{made.top}").status_code == 403
    try:
        yield made
    finally:
        for client in made.opened:
            client.close()
        node.close()


def test_filters_narrow_the_log_by_item_user_kind_and_day(log: Log) -> None:
    officer = log.users["officer"]
    about_top = search(log.node, officer, AuditFilter(item=log.top)).entries
    assert {e["kind"] for e in about_top} == {"item.created", "item.read", "item.refused"}
    assert all(e["data"]["item"] == log.top for e in about_top)
    seqs = [e["seq"] for e in about_top]
    assert seqs == sorted(seqs, reverse=True)  # newest first

    by_other = search(log.node, officer, AuditFilter(actor="other")).entries
    assert {(e["kind"], e["data"].get("item")) for e in by_other} >= {
        ("item.read", log.low),
        ("item.refused", log.top),
    }
    assert {e["actor"] for e in by_other} == {"other"}

    reads = search(log.node, officer, AuditFilter(kind="item.read", item=log.top)).entries
    assert [e["actor"] for e in reads] == ["analyst"] * 3

    today = log.node.clock().date()
    assert search(log.node, officer, AuditFilter(since=today, until=today)).entries
    later = today + dt.timedelta(days=1)
    assert search(log.node, officer, AuditFilter(since=later)).entries == []
    earlier = today - dt.timedelta(days=1)
    assert search(log.node, officer, AuditFilter(until=earlier)).entries == []


def test_pages_go_back_newest_first_without_gaps_or_repeats(log: Log) -> None:
    officer = log.users["officer"]
    everything = search(log.node, officer, AuditFilter(), page=1000).entries
    seen: list[int] = []
    before = None
    while True:
        found = search(log.node, officer, AuditFilter(), before=before, page=4)
        seen += [e["seq"] for e in found.entries]
        if found.older is None:
            break
        before = found.older
    assert seen == [e["seq"] for e in everything]
    assert seen == list(range(seen[0], -1, -1))
    reads = search(log.node, officer, AuditFilter(item=log.top, kind="item.read"), page=2)
    assert len(reads.entries) == 2
    assert reads.older is not None
    rest = search(
        log.node, officer, AuditFilter(item=log.top, kind="item.read"), before=reads.older
    )
    assert len(rest.entries) == 1
    assert rest.older is None


def test_what_the_officer_may_not_read_is_withheld_as_the_api_withholds_it(log: Log) -> None:
    hi_officer = log.users["hi-officer"]
    found = search(log.node, hi_officer, AuditFilter(item=log.top))
    assert found.entries
    assert log.top not in found.titles
    with log.api("hi-officer") as api:
        served = api.get("/api/v1/audit", params={"limit": 1000}).json()["entries"]
    by_seq = {e["seq"]: e for e in served}
    for entry in found.entries:
        assert entry == by_seq[entry["seq"]]
        assert set(entry["data"]) <= {"item", "action"}
        assert entry["withheld"]
    assert found.titles == {}
    readable = search(log.node, hi_officer, AuditFilter(item=log.low))
    assert readable.titles == {log.low: "Low harbour note"}
    assert all("withheld" not in e for e in readable.entries)
    # the cleared officer reads both
    assert search(log.node, log.users["officer"], AuditFilter(item=log.top)).titles == {
        log.top: "Top harbour plan"
    }


def test_analysts_may_not_search_the_log(log: Log) -> None:
    with pytest.raises(Forbidden):
        search(log.node, log.users["analyst"], AuditFilter())


def test_the_page_tells_entries_as_sentences_with_links(log: Log) -> None:
    officer = log.browser("officer")
    page = officer.get("/web/audit", params={"item": log.top, "kind": "item.read"})
    assert page.status_code == 200, page.text
    assert page.text.count('data-kind="item.read"') == 3
    assert f'href="/web/items/{log.top}" class="item">Top harbour plan</a>' in page.text
    assert re.search(r'class="actor">analyst</a>\s*<a [^>]*class="verb">read</a>', page.text)
    assert "(ALLOW, rule" in page.text
    assert 'data-verified="true"' in page.text
    refused = officer.get("/web/audit", params={"actor": "other", "kind": "item.refused"})
    assert "was refused</a>" in refused.text
    assert "(CLEARANCE, rule" in refused.text


def test_the_page_withholds_titles_and_data_from_an_officer_not_cleared(log: Log) -> None:
    page = log.browser("hi-officer").get("/web/audit", params={"item": log.top})
    assert page.status_code == 200, page.text
    assert "Top harbour plan" not in page.text
    assert "KIMITSU" not in page.text
    assert f'<code class="item">{log.top}</code>' in page.text
    assert "withheld from you" in page.text


def test_a_bad_filter_is_refused_with_its_field_and_audited(log: Log) -> None:
    officer = log.browser("officer")
    page = officer.get("/web/audit", params={"since": "2026-13-01", "kind": "DROP TABLE"})
    assert page.status_code == 422, page.text
    assert "since" in page.text
    assert "2026-13-01" in page.text
    assert officer.get("/web/audit", params={"before": "-1"}).status_code == 422
    refused = search(log.node, log.users["officer"], AuditFilter(kind="refused", actor="officer"))
    assert any("/web/audit" in e["data"]["action"] for e in refused.entries)


def test_entries_read_as_sentences() -> None:
    released = {
        "seq": 9,
        "kind": "item.released",
        "actor": "jpn-analyst",
        "at": "2026-12-07T10:14:00+00:00",
        "data": {"item": "i-1", "to": "CAN", "agreement": "JPN-CAN", "package": "p"},
    }
    said = sentence(released, {"i-1": "Harbour survey"})
    assert (said.actor, said.verb, said.title, said.rest, said.why) == (
        "jpn-analyst",
        "released",
        "Harbour survey",
        "to CAN",
        "ALLOW, JPN-CAN",
    )
    refused = {"kind": "refused", "actor": "x", "data": {"action": "GET /api/v1/items/i-2"}}
    said = sentence(refused, {})
    assert (said.verb, said.item, said.title, said.rest) == (
        "was refused",
        "i-2",
        None,
        "(GET /api/v1/items/i-2)",
    )
    signed_in = sentence({"kind": "session.opened", "actor": "x", "data": {}}, {})
    assert (signed_in.verb, signed_in.item) == ("signed in", None)
    odd = sentence({"kind": "rows.adopted", "actor": "cli", "data": {"rule": 3}}, {})
    assert (odd.verb, odd.why) == ("rows.adopted", "rule 3")
