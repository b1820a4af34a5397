"""The audit page's verification (``gsoia.node.audit_checks``) and its filters' indexes, on
both backends: the whole log verified once, then only what was appended since, each time
as the whole walk checks it; an end cut short or rewritten sends it back to the whole
log; an entry rewritten further back is found by the whole verification the page offers.
The filters by user, kind and day are answered through their indexes (migration 0015).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Connection, delete, func, select, text, update

from gsoia.audit.log import AuditVerifyError
from gsoia.node.audit_search import AuditFilter, batch
from gsoia.node.service import Node
from gsoia.store.schema import audit_entries
from tests.node.test_audit_page import Log, log

__all__ = ["log"]


def appended(node: Node, count: int) -> int:
    """Append ``count`` entries (a transaction each); the log's size after."""
    for n in range(count):
        node.audit.record("decide", "tester", {"n": n})
    return last_seq(node) + 1


def last_seq(node: Node) -> int:
    with node.engine.connect() as connection:
        return int(connection.execute(select(func.max(audit_entries.c.seq))).scalar_one())


def rewrite(node: Node, seq: int) -> None:
    """Change entry ``seq``'s body behind the node's back (its leaf no longer matches)."""
    with node.engine.begin() as connection:
        body = connection.execute(
            select(audit_entries.c.body).where(audit_entries.c.seq == seq)
        ).scalar_one()
        changed = json.loads(body) | {"actor": "ghost"}
        connection.execute(
            update(audit_entries)
            .where(audit_entries.c.seq == seq)
            .values(body=json.dumps(changed, sort_keys=True, separators=(",", ":")))
        )


def test_the_whole_log_once_then_only_what_was_appended(log: Log) -> None:
    checks = log.node.audit_checks
    first = checks.verified()
    assert first.whole
    assert first.size == first.whole_size == last_seq(log.node) + 1
    assert first.head is not None
    assert first.head.size == first.size

    size = appended(log.node, 3)
    then = checks.verified()
    assert not then.whole
    assert (then.size, then.whole_size, then.whole_at) == (size, first.size, first.whole_at)
    assert then.head is not None
    assert then.head.size == size

    again = checks.verified(whole=True)
    assert again.whole
    assert again.whole_size == size


def test_an_entry_appended_since_is_checked_as_the_whole_walk_checks_it(log: Log) -> None:
    checks = log.node.audit_checks
    checks.verified()
    size = appended(log.node, 3)
    rewrite(log.node, size - 2)
    with pytest.raises(AuditVerifyError) as failed:
        checks.verified()
    assert failed.value.seq == size - 2
    with pytest.raises(AuditVerifyError):  # forgotten: the next opening fails the same way
        checks.verified()


def test_an_end_cut_short_is_found(log: Log) -> None:
    checks = log.node.audit_checks
    size = appended(log.node, 2)
    assert checks.verified().size == size
    with log.node.engine.begin() as connection:
        connection.execute(delete(audit_entries).where(audit_entries.c.seq == size - 1))
    with pytest.raises(AuditVerifyError) as failed:
        checks.verified()
    assert failed.value.seq == size - 1
    assert f"the log held {size} entries" in str(failed.value)
    with pytest.raises(AuditVerifyError):  # a whole transaction gone: the whole walk would
        checks.verified(whole=True)  # pass, but this process verified more before


def test_an_older_entry_rewritten_is_found_by_the_whole_verification(log: Log) -> None:
    """What the page trusts between whole verifications: the entries it verified before."""
    checks = log.node.audit_checks
    checks.verified()
    rewrite(log.node, 1)
    assert not checks.verified().whole  # not read again: only the end is compared
    with pytest.raises(AuditVerifyError) as failed:
        checks.verified(whole=True)
    assert failed.value.seq == 1


def test_the_page_says_what_it_verified_and_offers_the_whole_log(log: Log) -> None:
    officer = log.browser("officer")
    page = officer.get("/web/audit")
    assert page.status_code == 200, page.text
    assert 'data-whole="true"' in page.text
    page = officer.get("/web/audit")
    assert 'data-whole="false"' in page.text
    assert "since the whole log" in page.text
    assert 'href="?verify=whole"' in page.text
    assert 'data-whole="true"' in officer.get("/web/audit", params={"verify": "whole"}).text
    rewrite(log.node, 1)
    assert 'data-whole="false"' in officer.get("/web/audit").text
    failed = officer.get("/web/audit", params={"verify": "whole"})
    assert 'data-verified="false"' in failed.text
    assert "audit entry 1:" in failed.text


FILTERS = {
    "audit_entries_actor": AuditFilter(actor="analyst"),
    "audit_entries_kind": AuditFilter(kind="item.read"),
    "audit_entries_at": AuditFilter(since=dt.date(2026, 1, 1), until=dt.date(2026, 1, 1)),
}


def plan(connection: Connection, wanted: AuditFilter) -> str:
    statement = batch(wanted, 1_000_000)
    sql = str(statement.compile(connection.engine, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "sqlite":
        rows: Any = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
        return " ".join(str(r[-1]) for r in rows)
    # a few rows: a sequential scan would do; the index is what a long log is read by
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    return " ".join(str(r[0]) for r in connection.execute(text(f"EXPLAIN {sql}")))


@pytest.mark.parametrize("index", sorted(FILTERS))
def test_the_filters_by_user_kind_and_day_use_their_index(log: Log, index: str) -> None:
    appended(log.node, 50)
    with log.node.engine.connect() as connection:
        assert index in plan(connection, FILTERS[index])
