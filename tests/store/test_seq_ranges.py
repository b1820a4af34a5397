"""A read of the rows past a seq is planned on the primary key's index by PostgreSQL, in
a generic plan too (a prepared statement run often): with a lower bound alone such a plan
estimates a third of the table and scans it whole. The row versions' read of the audit
log's tail, run on every listing, scanned a million-entry log (in parallel) that way."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, bindparam, create_engine, select

from gsoia.node import versions
from gsoia.node.service import Node
from gsoia.store import postgres
from gsoia.store.schema import audit_entries
from tests.node.conftest import fresh_database

ENTRIES = 200_000


@pytest.fixture(scope="module")
def long_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A node's schema on PostgreSQL whose audit log holds 200,000 entries, not analysed
    (autovacuum off, or not yet run after they came): half record an item's first version,
    half a listing (as a served node's log does)."""
    with fresh_database("postgresql") as database:
        assert database.url is not None
        Node.init(tmp_path_factory.mktemp("node") / "jpn", "JPN", database=database.url).close()
        engine = create_engine(database.url)
        with engine.begin() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute(
                "INSERT INTO audit_entries (seq, at, kind, actor, body, leaf, root)"  # noqa: S608
                " SELECT g, 'at', 'kind', 'actor', CASE WHEN g % 2 = 0"
                ' THEN \'{"data":{"subject":"item:\' || g || \'","version":1},'
                '"kind":"item.stored"}\''
                ' ELSE \'{"data":{"cursor":0},"kind":"items.listed"}\' END,'
                " '\\x00', '\\x00'"
                f" FROM generate_series(1000, {ENTRIES:d}) AS g"
            )
        try:
            yield engine
        finally:
            engine.dispose()


def plan(engine: Engine, sql: str, values: dict[str, object], mode: str) -> str:
    """The plan PostgreSQL makes for ``sql`` prepared: ``generic`` (kept once a statement
    has run often) or ``custom`` (made for the values given)."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql)
    arguments = ", ".join(f"'{values[name]}'" for name in names)
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute(f"SET plan_cache_mode = force_{mode}_plan")
        driver.execute(f"PREPARE tail AS {numbered}")
        try:
            rows = driver.execute(f"EXPLAIN EXECUTE tail({arguments})").fetchall()
        finally:
            driver.execute("DEALLOCATE tail")
    return "\n".join(row[0] for row in rows)


TAIL = {"after": ENTRIES - 10} | versions._PATTERNS


@pytest.mark.parametrize("mode", ["generic", "custom"])
def test_the_log_tail_read_is_planned_on_the_index(long_log: Engine, mode: str) -> None:
    made = plan(long_log, versions._SINCE_PG, TAIL, mode)
    assert "Seq Scan on audit_entries" not in made, made
    assert "audit_entries_pkey" in made, made


@pytest.mark.parametrize("mode", ["generic", "custom"])
def test_without_an_upper_bound_the_same_read_scans_the_whole_log(
    long_log: Engine, mode: str
) -> None:
    """What the test above guards against, shown on the same table: a lower bound alone."""
    alone = select(audit_entries.c.seq, audit_entries.c.body).where(
        audit_entries.c.seq > bindparam("after"),
        audit_entries.c.body.like(bindparam("subject")),
        ~audit_entries.c.body.like(bindparam("first")),
    )
    made = plan(long_log, postgres.compiled(alone), TAIL, mode)
    assert "Seq Scan on audit_entries" in made, made


def test_the_node_reads_past_a_seq_with_two_bounds() -> None:
    """Every statement of the node that reads past a seq on PostgreSQL bounds it above."""
    from gsoia.node import taxii_store, vault

    for sql in (
        versions._SINCE_PG,
        vault._CHANGED_AFTER_PG,
        postgres.compiled(taxii_store._STIX_SEQS_AFTER),
    ):
        assert "9223372036854775807" in sql, sql
