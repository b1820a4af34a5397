"""PostgreSQL's autocommit connections (``store.postgres.autocommit``): each statement on
its own, and the connection back in the pool as it was taken — out of autocommit, no
transaction left open — whether the block ended normally, raised, or left a transaction
begun by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg import pq
from psycopg.errors import DivisionByZero
from sqlalchemy import Engine, create_engine, text

from gsoia.store.postgres import autocommit
from tests.node.conftest import PG_SERVER

IDLE = pq.TransactionStatus.IDLE


@pytest.fixture
def engine() -> Iterator[Engine]:
    made = create_engine(PG_SERVER, pool_size=1, max_overflow=0)  # one connection: reused
    with made.begin() as connection:
        connection.execute(text("CREATE TEMP TABLE IF NOT EXISTS kept (n int)"))
    try:
        yield made
    finally:
        made.dispose()


def _pooled_state(engine: Engine) -> tuple[bool, pq.TransactionStatus]:
    """Whether the pool's connection is in autocommit, and its transaction status."""
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        return driver.autocommit, driver.info.transaction_status  # type: ignore[attr-defined]


def _rows(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return sorted(connection.execute(text("SELECT n FROM kept")).scalars())


def test_each_statement_is_committed_on_its_own(engine: Engine) -> None:
    with autocommit(engine) as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("INSERT INTO kept VALUES (1)")
        assert driver.info.transaction_status == IDLE  # no transaction begun by the driver
    assert _pooled_state(engine) == (False, IDLE)
    assert _rows(engine) == [1]


def test_a_transaction_begun_by_hand_and_left_open_is_rolled_back(engine: Engine) -> None:
    with autocommit(engine) as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN")
        driver.execute("INSERT INTO kept VALUES (2)")
    assert _pooled_state(engine) == (False, IDLE)
    assert _rows(engine) == []


def test_a_block_that_raises_leaves_the_connection_as_it_was(engine: Engine) -> None:
    def insert_then_raise() -> None:
        with autocommit(engine) as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("BEGIN; INSERT INTO kept VALUES (3)")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        insert_then_raise()
    assert _pooled_state(engine) == (False, IDLE)
    assert _rows(engine) == []


def test_sqlalchemys_transaction_on_it_commits_a_transaction_begun_by_hand(
    engine: Engine,
) -> None:
    """As ``self_begun`` uses it: the caller sends BEGIN; SQLAlchemy's commit ends it."""
    with autocommit(engine) as connection, connection.begin():
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN; INSERT INTO kept VALUES (4)")
    assert _pooled_state(engine) == (False, IDLE)
    assert _rows(engine) == [4]


def test_a_failed_statement_in_a_transaction_leaves_no_aborted_connection(
    engine: Engine,
) -> None:
    def begin_then_fail() -> None:
        with autocommit(engine) as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("BEGIN")
            driver.execute("SELECT 1 / 0")

    with pytest.raises(DivisionByZero):
        begin_then_fail()
    assert _pooled_state(engine) == (False, IDLE)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
