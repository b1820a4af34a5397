"""A page's seqs go to PostgreSQL as the text of one BIGINT[] parameter
(``store.postgres.any_of``, ``bigint_array``), and to SQLite as one JSON array
(``store.sqlite.in_json_array``, ``int_json_array``): the same rows as a list of
parameters would find, and nothing but integers in the text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, create_engine, select
from sqlalchemy.pool import StaticPool

from gsoia.store.postgres import any_of, bigint_array
from gsoia.store.sqlite import in_json_array, int_json_array
from tests.node.conftest import PG_SERVER

numbers = Table("numbers", MetaData(), Column("n", Integer, primary_key=True), prefixes=["TEMP"])


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A table of the numbers 1 to 300, on one connection (its TEMP table)."""
    if request.param == "postgresql":
        made = create_engine(PG_SERVER, pool_size=1, max_overflow=0)
    else:
        made = create_engine("sqlite://", poolclass=StaticPool)
    with made.begin() as connection:
        numbers.create(connection)
        connection.execute(numbers.insert(), [{"n": n} for n in range(1, 301)])
    try:
        yield made
    finally:
        made.dispose()


def test_the_text_of_an_array() -> None:
    assert bigint_array([3, 1, 2**62]) == "{3,1,4611686018427387904}"
    assert bigint_array([]) == "{}"
    assert bigint_array(n for n in (7, 8)) == "{7,8}"
    assert int_json_array([3, 1, 2**62]) == "[3,1,4611686018427387904]"
    assert int_json_array([]) == "[]"


def test_nothing_but_integers_is_written_in_it() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        bigint_array(["1}", "2"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="invalid literal"):
        int_json_array(["1]", "2"])  # type: ignore[list-item]


@pytest.mark.parametrize("wanted", [[], [5], [300, 1, 150, 999], list(range(2, 300, 3))])
def test_the_rows_are_those_of_the_numbers_given(engine: Engine, wanted: list[int]) -> None:
    postgres = engine.dialect.name == "postgresql"
    among = any_of if postgres else in_json_array
    query = select(numbers.c.n).where(among(numbers.c.n, "wanted")).order_by(numbers.c.n)
    given = bigint_array(wanted) if postgres else int_json_array(wanted)
    with engine.connect() as connection:
        found = connection.execute(query, {"wanted": given}).scalars().all()
    assert found == sorted(n for n in wanted if 1 <= n <= 300)
