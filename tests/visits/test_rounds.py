"""The served node's own erasure rounds, between two real nodes: the day after a visit,
its visitors' accounts are removed without an officer listing anything, and its personal
data once the retention has passed; a round with nothing due writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from gsoia.node.exchange.erasure import ErasureRounds
from gsoia.node.service import Node
from gsoia.node.visitors import visitor_id
from gsoia.store.schema import assurances, users, visitor_accounts
from tests.visits.conftest import TODAY, Pair
from tests.visits.test_visits import _approved

PATIENCE = 60.0
"""Seconds a round may take on a loaded machine (a bound on a hang, not a measure)."""


@pytest.fixture
def rounds(pair: Pair) -> Iterator[tuple[Node, ErasureRounds]]:
    """JPN's served node with its erasure rounds running, its day put back after."""
    jpn = pair.store(pair.jpn)
    running = jpn.exchange.erasure_rounds
    running.start()
    try:
        yield jpn, running
    finally:
        running.stop()
        jpn.today_override = None


def _round(running: ErasureRounds) -> None:
    assert running.wait_for(running.wake(), PATIENCE), "the erasure round did not run"


def test_a_round_removes_the_accounts_of_a_visit_past(
    pair: Pair, rounds: tuple[Node, ErasureRounds]
) -> None:
    jpn, running = rounds
    assurance, visit, _ = _approved(pair, "r-1001")  # today to two days hence
    account = visitor_id(visit, "r-1001")
    size = pair.audit_size(pair.jpn)
    _round(running)
    assert pair.audit_since(pair.jpn, size) == []  # nothing due: nothing written
    jpn.today_override = TODAY + dt.timedelta(days=3)  # the day after the last
    _round(running)
    entries = pair.audit_since(pair.jpn, size)
    assert [(e["kind"], e["actor"]) for e in entries] == [
        ("user.removed", "node"),
        ("visit.accounts_past", "node"),
    ]
    assert entries[1]["data"]["accounts"] == [account]
    with jpn.engine.connect() as connection:
        assert connection.execute(select(users).where(users.c.id == account)).first() is None
        held = select(visitor_accounts).where(visitor_accounts.c.user_id == account)
        assert connection.execute(held).first() is None
        kept = select(assurances.c.personal).where(assurances.c.id == assurance)
        assert connection.execute(kept).scalar() is not None  # within the retention
    jpn.today_override = TODAY + dt.timedelta(days=2 + 31)  # then the 30 days kept
    size = pair.audit_size(pair.jpn)
    _round(running)
    erased = [e for e in pair.audit_since(pair.jpn, size) if e["kind"] == "personal.erased"]
    assert len(erased) == 1
    assert assurance in erased[0]["data"]["assurances"]
    assert visit in erased[0]["data"]["visits"]
    with jpn.engine.connect() as connection:
        kept = select(assurances.c.personal).where(assurances.c.id == assurance)
        assert connection.execute(kept).scalar() is None
    size = pair.audit_size(pair.jpn)
    _round(running)
    assert pair.audit_since(pair.jpn, size) == []  # done once
