"""The web package's pure parts: banner bands, the agreements' story, session cookies."""

from __future__ import annotations

import datetime as dt

import pytest

import gsoia
from gsoia.catalogue.model import Status
from gsoia.web.bands import Band, level_bands
from gsoia.web.charts import chapters, matrix, pair_status, span, summary, timeline
from gsoia.web.session import Sessions
from gsoia.web.site import safe_next

CATALOGUE = gsoia.load_catalogue().catalogue


@pytest.mark.parametrize(
    ("policy", "level", "band"),
    [
        ("JPN", "KIMITSU", Band.TOP_SECRET),
        ("JPN", "TOKUTEI", Band.SECRET),
        ("JPN", "GOKUHI", Band.SECRET),  # one row with TOKUTEI: one step
        ("JPN", "HI", Band.CONFIDENTIAL),
        ("CAN", "TS", Band.TOP_SECRET),
        ("CAN", "S", Band.SECRET),
        ("CAN", "C", Band.CONFIDENTIAL),
        ("GBR", "S", Band.SECRET),
        ("NATO", "NR", Band.RESTRICTED),
        ("KOR", "III", Band.CONFIDENTIAL),
        ("FRA", "TS", Band.TOP_SECRET),
    ],
)
def test_bands_count_from_the_top_of_each_scale(policy: str, level: str, band: Band) -> None:
    assert level_bands(CATALOGUE)[(policy, level)] is band


def test_every_level_has_a_band() -> None:
    bands = level_bands(CATALOGUE)
    for policy_id, policy in CATALOGUE.policies.items():
        for level in policy.levels:
            assert (policy_id, level.id) in bands


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("2022-10-11", "2025-07-08", "2 years 8 months"),
        ("2025-07-08", "2025-10-16", "3 months"),
        ("2025-10-16", "2026-11-27", "1 year 1 month"),
        ("2025-10-16", "2025-10-17", "1 day"),
        ("2025-10-16", "2025-11-15", "30 days"),
        ("2020-01-01", "2022-01-01", "2 years"),
    ],
)
def test_span(start: str, end: str, words: str) -> None:
    assert span(dt.date.fromisoformat(start), dt.date.fromisoformat(end)) == words


def test_japan_canada_is_told_in_order() -> None:
    agreement = CATALOGUE.agreement("JPN-CAN")
    assert agreement is not None
    told = chapters(agreement, dt.date(2025, 8, 1))
    assert [(c.headline, c.since, c.future) for c in told] == [
        ("Talks opened", None, False),
        ("Signed", "after 2 years 8 months of talks", False),
        ("Entered into force", "3 months after signature", True),
    ]
    assert summary(agreement, dt.date(2021, 1, 1)) == (
        "On 1 January 2021 there was nothing yet between JPN and CAN: "
        "talks opened on 11 October 2022."
    )
    assert summary(agreement, dt.date(2025, 10, 16)) == (
        "On 16 October 2025 JPN-CAN is in force, since 16 October 2025."
    )
    line = timeline(agreement, dt.date(2024, 1, 1), dt.date(2026, 11, 27))
    assert line is not None
    assert [s.status for s in line.segments] == [
        Status.NEGOTIATING,
        Status.SIGNED,
        Status.IN_FORCE,
    ]
    xs = [s.x for s in line.segments]
    assert xs == sorted(xs)
    assert 0 < line.chosen < line.today < line.width


def test_the_matrix_on_a_date() -> None:
    before = matrix(CATALOGUE, "JPN", dt.date(2025, 10, 15))
    after = matrix(CATALOGUE, "JPN", dt.date(2025, 10, 16))
    assert before.nations[0] == "JPN"
    cell = {(c.row, c.column): c for c in before.cells}
    assert cell[("JPN", "CAN")].status is Status.SIGNED
    assert cell[("JPN", "JPN")].status is None
    assert {(c.row, c.column): c for c in after.cells}[("CAN", "JPN")].status is Status.IN_FORCE
    assert pair_status(CATALOGUE, "CAN", "USA", dt.date(2025, 10, 16)) == (None, None)


def test_sessions_refuse_forged_expired_rebound_and_revoked_cookies() -> None:
    now = [1_000_000.0]
    sessions = Sessions(b"k" * 32, lifetime=60, clock=lambda: now[0])
    cookie, session = sessions.issue("alice", "hash-1")
    assert sessions.read(cookie) == session
    assert sessions.bound_to(session, "hash-1")
    assert not sessions.bound_to(session, "hash-2")  # the token was replaced
    assert Sessions(b"x" * 32).read(cookie) is None  # another node's secret
    assert sessions.read(cookie[:-2] + "AA") is None
    assert sessions.read("v1.e30.AAAA") is None
    assert sessions.read("garbage") is None
    assert sessions.read("") is None
    assert sessions.csrf_ok(session.sid, sessions.csrf(session.sid))
    assert not sessions.csrf_ok(session.sid, sessions.csrf("another"))
    assert not sessions.csrf_ok(session.sid, None)
    sessions.revoke(session)
    assert sessions.read(cookie) is None
    other, _ = sessions.issue("bob", "hash-3")
    now[0] += 61
    assert sessions.read(other) is None


def test_sessions_from_one_node_key_agree() -> None:
    key = bytes(range(32))
    cookie, _ = Sessions.from_node_key(key).issue("alice", "h")
    assert Sessions.from_node_key(key).read(cookie) is not None
    assert Sessions.from_node_key(bytes(32)).read(cookie) is None


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/web/items?q=x", "/web/items?q=x"),
        ("https://evil.example/", "/web/items"),
        ("//evil.example/web/", "/web/items"),
        ("/web//evil.example", "/web/items"),
        ("/api/v1/items", "/web/items"),
        (None, "/web/items"),
    ],
)
def test_sign_in_returns_only_to_these_pages(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe
