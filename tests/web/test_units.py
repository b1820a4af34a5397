"""The web package's pure parts: banner bands, the agreements' story, session cookies."""

from __future__ import annotations

import datetime as dt

import pytest

import gsoia
from gsoia.catalogue.model import Status
from gsoia.decision import Rulebook
from gsoia.web.bands import Band, level_bands
from gsoia.web.charts import chapters, matrix, pair_status, span, summary, timeline
from gsoia.web.custody import detail, who
from gsoia.web.reasons import reason_first
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


def test_a_session_cookie_carries_its_id_and_secret_and_nothing_else() -> None:
    """The cookie only names the session and proves it (``gsoia.node.sessions`` decides
    whether it still holds); anything not of its form is no session."""
    sessions = Sessions(b"k" * 32)
    cookie = Sessions.cookie("A" * 22, "s3cret")
    assert cookie == f"v2.{'A' * 22}.s3cret"
    assert sessions.read(cookie) == ("A" * 22, "s3cret")
    for bad in ("", None, "garbage", "v1.e30.AAAA", "v2..x", "v2.x.", "v2." + "x" * 300):
        assert sessions.read(bad) is None, bad


def test_csrf_tokens_are_the_sessions_and_the_nodes() -> None:
    key = bytes(range(32))
    sessions = Sessions.from_node_key(key)
    token = sessions.csrf("sid-1")
    assert sessions.csrf_ok("sid-1", token)
    assert Sessions.from_node_key(key).csrf_ok("sid-1", token)  # every worker agrees
    assert not sessions.csrf_ok("sid-2", token)
    assert not sessions.csrf_ok("sid-1", None)
    assert not sessions.csrf_ok("sid-1", "")
    assert not Sessions.from_node_key(bytes(32)).csrf_ok("sid-1", token)  # another node's
    with pytest.raises(ValueError, match="32 bytes"):
        Sessions(b"short")


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


def test_need_to_know_reads_the_same_for_own_and_foreign_readers() -> None:
    """The core numbers the need-to-know rule 2 for a Japanese reader and 7 for a
    Canadian one; the pages name it NEED_TO_KNOW for both and show no rule number."""
    book = Rulebook(CATALOGUE, today=lambda: dt.date(2026, 1, 1))
    label = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]}
    label["need_to_know"] = ["maritime"]
    shown = []
    for nation, clearance in (("JPN", "KIMITSU"), ("CAN", "TS")):
        subject = {"nation": nation, "clearance": clearance, "need_to_know": []}
        decision = book.decide({"subject": subject, "label": label, "at": "2026-01-01"})
        assert decision.reason.value == "NEED_TO_KNOW"
        shown.append((decision.rule, reason_first(decision.explanation)))
    assert shown[0][0] != shown[1][0]
    for _, text in shown:
        assert text.startswith("NEED_TO_KNOW: ")
        assert "Rule" not in text


def test_text_without_a_rule_prefix_is_left_as_it_is() -> None:
    assert reason_first("no rule here (Rule 2 (X): y)") == "no rule here (Rule 2 (X): y)"


def test_a_change_of_classification_reads_from_the_old_level_to_the_new() -> None:
    event = {"event": "classification changed", "by": "jpn-officer"}
    assert who(event) == "jpn-officer"
    assert detail(event | {"was": "GOKUHI", "classification": "HI"}) == "from GOKUHI now HI"
    assert detail({"told": "CAN", "classification": "HI", "state": "delivered"}) == (
        "sent to CAN now HI (delivered)"
    )
