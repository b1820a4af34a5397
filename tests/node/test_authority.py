"""The authority on its own: pure, every action in its table, each refusal with its code."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

import gsoia
from gsoia.decision import Label, Rulebook
from gsoia.node.authority import (
    OPERATOR,
    TABLE,
    Account,
    Action,
    Authority,
    Copy,
    Refusal,
    Target,
    entry_item,
    withheld,
    without_search,
)
from gsoia.node.errors import Conflict, Denied, Forbidden, NotFound, Unauthorized
from gsoia.node.routes import ROUTES, documented, markdown_table, routes_table
from gsoia.node.users import Role, User

DAY = dt.date(2026, 3, 1)


def user(
    nation: str = "JPN",
    clearance: str | None = "KIMITSU",
    role: Role = Role.ANALYST,
    need: tuple[str, ...] = ("maritime",),
    user_id: str = "u",
) -> User:
    return User(user_id, nation, clearance, None, need, role)


def copy(level: str = "GOKUHI", originator: str = "JPN", custodian: str = "JPN") -> Copy:
    label: Label = {
        "originator": originator,
        "classification": level,
        "area": "maritime",
        "releasable_to": ["CAN"],
        "need_to_know": ["maritime"],
    }
    return Copy("item-1", label, custodian)


@pytest.fixture(scope="module")
def authority() -> Authority:
    rulebook = gsoia.load_catalogue()
    assert isinstance(rulebook, Rulebook)
    return Authority(rulebook, "JPN")


def test_every_action_has_a_rule_and_every_route_an_action() -> None:
    assert set(TABLE) == set(Action)
    assert set(ROUTES.values()) <= set(Action)
    assert {row.action for row in documented()} == {a.value for a in Action}


def test_the_core_of_access_control_imports_no_io() -> None:
    code = (
        "import sys, gsoia.node.authority; "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'starlette', 'httpx') "
        "if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def test_nobody_is_refused_unauthenticated(authority: Authority) -> None:
    verdict = authority.decide(None, Action.READ, Target(copy=copy()), DAY)
    assert verdict.reason == Refusal.UNAUTHENTICATED
    assert isinstance(verdict.error(), Unauthorized)
    assert authority.decide(None, Action.PUBLIC, Target(), DAY).allowed
    assert authority.decide(None, Action.RECEIVE, Target(), DAY).allowed


def test_roles_and_nations_gate_each_action(authority: Authority) -> None:
    analyst, officer = user(), user(role=Role.OFFICER)
    foreign_officer = user("CAN", "TS", Role.OFFICER)
    monitor = user(role=Role.MONITOR)
    for action in (Action.AUDIT, Action.OUTBOX, Action.CANCEL, Action.CONSENT_REQUESTS):
        assert authority.admits(analyst, action).reason == Refusal.ROLE
        assert authority.admits(officer, action).allowed
        assert authority.admits(foreign_officer, action).reason == Refusal.FOREIGN_USER
    error = authority.admits(analyst, Action.AUDIT).error()
    assert isinstance(error, Forbidden)
    assert error.code == "ROLE"
    # a monitor reads the metrics and nothing else
    assert authority.admits(monitor, Action.METRICS).allowed
    assert authority.admits(analyst, Action.METRICS).reason == Refusal.ROLE
    for action in (Action.LIST, Action.READ, Action.DECIDE, Action.CREATE):
        assert authority.admits(monitor, action).reason == Refusal.ROLE
    assert authority.admits(analyst, Action.CREATE).allowed
    assert authority.admits(user("CAN", "S"), Action.CREATE).reason == Refusal.FOREIGN_USER
    # peers are pinned by the operator alone; the operator passes every gate
    assert authority.admits(user(role=Role.ADMIN), Action.PEERS_MANAGE).reason == Refusal.ROLE
    assert all(authority.admits(OPERATOR, a).allowed for a in Action)
    # a route without an action is refused
    assert authority.admits(officer, None).reason == Refusal.UNMAPPED


def test_acting_on_an_item_requires_reading_it(authority: Authority) -> None:
    kimitsu = copy("KIMITSU")
    uncleared = user(clearance=None, role=Role.OFFICER)
    for action in (Action.RECLASSIFY, Action.CONSENT):
        verdict = authority.decide(uncleared, action, Target(copy=kimitsu, level="HI"), DAY)
        assert verdict.reason == "CLEARANCE"
        assert isinstance(verdict.error(), Denied)
    cleared = user(role=Role.OFFICER)
    assert authority.decide(cleared, Action.CONSENT, Target(copy=kimitsu), DAY).allowed
    # without the item's topic, no action on it
    no_topic = user(role=Role.OFFICER, need=())
    verdict = authority.decide(no_topic, Action.CONSENT, Target(copy=kimitsu), DAY)
    assert verdict.reason == "NEED_TO_KNOW"


def test_reclassification_reads_at_both_levels(authority: Authority) -> None:
    gokuhi_officer = user(clearance="GOKUHI", role=Role.OFFICER)
    gokuhi = copy("GOKUHI")
    down = authority.decide(gokuhi_officer, Action.RECLASSIFY, Target(gokuhi, "HI"), DAY)
    assert down.allowed
    up = authority.decide(gokuhi_officer, Action.RECLASSIFY, Target(gokuhi, "KIMITSU"), DAY)
    assert up.reason == "CLEARANCE"
    assert up.decision is not None
    assert "KIMITSU" in up.decision.explanation
    # only the originator's officers reclassify or consent
    held = copy("S", originator="CAN")
    for action in (Action.RECLASSIFY, Action.CONSENT):
        verdict = authority.decide(gokuhi_officer, action, Target(held, "C"), DAY)
        assert verdict.reason == Refusal.NOT_ORIGINATOR


def test_hidden_actions_answer_as_missing(authority: Authority) -> None:
    uncleared = user(clearance=None)
    for action in (Action.REPORT_INCIDENT, Action.REQUEST_CONSENT, Action.WITHDRAW):
        verdict = authority.decide(uncleared, action, Target(copy=copy()), DAY)
        assert verdict.reason == "CLEARANCE"
        assert isinstance(verdict.error(), NotFound)
    read = authority.decide(uncleared, Action.READ, Target(copy=copy()), DAY)
    assert isinstance(read.error(), Denied)
    # a consent request is for a copy of another nation's item
    own = authority.decide(user(), Action.REQUEST_CONSENT, Target(copy=copy()), DAY)
    assert own.reason == Refusal.ORIGINATOR
    assert isinstance(own.error(), Conflict)


def test_status_resources_are_their_writers(authority: Authority) -> None:
    writer, other = user(user_id="w"), user(user_id="o")
    assert authority.decide(writer, Action.STATUS, Target(owner="w"), DAY).allowed
    refused = authority.decide(other, Action.STATUS, Target(owner="w"), DAY)
    assert refused.reason == Refusal.NOT_OWNER
    assert isinstance(refused.error(), NotFound)
    officer = user(role=Role.OFFICER, user_id="o")
    assert authority.decide(officer, Action.STATUS, Target(owner="w"), DAY).allowed


def test_an_admin_gives_no_clearance_above_its_own(authority: Authority) -> None:
    admin = user(clearance="GOKUHI", role=Role.ADMIN, user_id="admin")
    below = Target(account=Account("x", "JPN", "HI"))
    assert authority.decide(admin, Action.USERS, below, DAY).allowed
    same = Target(account=Account("x", "JPN", "GOKUHI"))
    assert authority.decide(admin, Action.USERS, same, DAY).allowed
    for account in (Account("x", "JPN", "KIMITSU"), Account("x", "CAN", "C")):
        verdict = authority.decide(admin, Action.USERS, Target(account=account), DAY)
        assert verdict.reason == Refusal.ABOVE_OWN_CLEARANCE
    uncleared_admin = user(clearance=None, role=Role.ADMIN, user_id="admin")
    verdict = authority.decide(uncleared_admin, Action.USERS, below, DAY)
    assert verdict.reason == Refusal.ABOVE_OWN_CLEARANCE
    own = Target(account=Account("admin", "JPN", None, Role.ANALYST))
    assert authority.decide(admin, Action.USERS, own, DAY).reason == Refusal.OWN_ACCOUNT
    # the operator gives any clearance
    top = Target(account=Account("x", "CAN", "TS"))
    assert authority.decide(OPERATOR, Action.USERS, top, DAY).allowed


def test_audit_entries_withhold_what_the_viewer_may_not_read() -> None:
    created = {
        "seq": 4,
        "kind": "item.created",
        "actor": "jp",
        "data": {"item": "abc", "label": {"classification": "KIMITSU"}, "content_sha384": "x"},
    }
    assert entry_item(created) == "abc"
    cut = withheld(created)
    assert cut["data"] == {"item": "abc"}
    assert cut["withheld"] == ["content_sha384", "label"]
    refused = {"kind": "refused", "data": {"action": "POST /api/v1/items/x-1/consents"}}
    assert entry_item(refused) == "x-1"
    assert entry_item({"kind": "refused", "data": {"action": "GET /api/v1/audit"}}) is None
    listed = {"kind": "items.listed", "data": {"filter": {"q": "secret words", "area": "a"}}}
    hidden = without_search(listed)
    assert hidden["data"]["filter"] == {"q": None, "area": "a"}
    assert hidden["withheld"] == ["filter.q"]
    assert listed["data"]["filter"]["q"] == "secret words"  # the stored entry untouched


def test_the_docs_show_the_table_and_the_routes_as_they_are() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "access.md").read_text("utf-8")
    assert markdown_table() in docs
    assert routes_table() in docs
