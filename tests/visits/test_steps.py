"""The host's other steps between two real nodes: it asks for more on a request (the
visiting party amends it, which replaces it at both), ends an approved visit early (the
visitors' tokens refused at once, also by a second worker on the same database, as after
a withdrawal or a cancellation); an admin removes a visitor's account (the visiting party
told, at once or when it is back); the lead time is the agreement's; the accounts of a
visit past are removed. Refusals: one line, nothing stored, audited."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gsoia.federation.packages import Kind
from gsoia.node.authority import OPERATOR
from gsoia.node.config import ConfigError, NodeConfig
from gsoia.node.errors import Unauthorized
from gsoia.node.exchange.erasure import erase_personal
from gsoia.node.service import Node
from gsoia.node.users import Role
from gsoia.node.visitors import visitor_id
from gsoia.store.schema import users, visit_tokens, visitor_accounts, visits
from tests.visits.conftest import TODAY, Pair, can_down, delivered_late
from tests.visits.test_visits import _answer, _approved, _as_visitor, _listed, _visit_id


def _count(pair: Pair, table: Any) -> int:
    with pair.store(pair.jpn).engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)


def test_the_host_asks_for_more_and_the_amendment_replaces_the_request(pair: Pair) -> None:
    assurance = pair.assure("s-1001")
    visit = _visit_id(pair.visit([assurance]))
    asked = _answer(pair, visit, "ask", note="which berth?")
    assert (asked.status_code, asked.json()["delivery"]) == (200, "delivered"), asked.text
    seen = _listed(pair, "CAN", visit)
    assert (seen["state"], seen["note"]) == ("asked", "which berth?")
    assert _answer(pair, visit).status_code == 409  # asked for more: no longer to approve
    ahead = (TODAY + dt.timedelta(days=25)).isoformat()  # an amendment keeps the lead time
    amended = pair.visit(
        [assurance], kind="amendment", amends=visit, place="Ichigaya, berth 4", reason=None,
        first_day=ahead, last_day=ahead,
    )  # fmt: skip
    again = _visit_id(amended)
    for nation in ("CAN", "JPN"):
        assert _listed(pair, nation, visit)["state"] == "amended"
        assert _listed(pair, nation, again)["state"] == "requested"
    assert _listed(pair, "JPN", again)["place"] == "Ichigaya, berth 4"
    assert _answer(pair, again).status_code == 200


def test_asking_for_more_says_what_else_it_is_refused_and_audited(pair: Pair) -> None:
    visit = _visit_id(pair.visit([pair.assure("s-1101")]))
    size = pair.audit_size(pair.jpn)
    refused = _answer(pair, visit, "ask", note=" ")
    assert refused.status_code == 422
    assert "note" in refused.text
    assert "say what more" in refused.text
    assert [e["kind"] for e in pair.audit_since(pair.jpn, size)] == ["refused"]
    assert _listed(pair, "JPN", visit)["state"] == "requested"
    with pair.can.client("can-officer") as client:  # only the host asks
        assert client.post(f"/api/v1/visits/{visit}/ask", json={"note": "x"}).status_code == 404


def test_the_host_ends_an_approved_visit_and_the_visiting_party_is_told(pair: Pair) -> None:
    _, visit, token = _approved(pair, "s-2001")
    assert _as_visitor(pair, token, "/api/v1/me").status_code == 200
    size = pair.audit_size(pair.jpn)
    ended = _answer(pair, visit, "end", note="the ship sailed")
    assert ended.status_code == 200, ended.text
    assert ended.json()["accounts"] == [visitor_id(visit, "s-2001")]
    assert ended.json()["delivery"] == "delivered"
    assert _as_visitor(pair, token, "/api/v1/me").status_code == 401
    kinds = [e["kind"] for e in pair.audit_since(pair.jpn, size)]
    assert "visit.ended" in kinds
    assert "user.removed" in kinds
    seen = _listed(pair, "CAN", visit)
    assert (seen["state"], seen["note"]) == ("ended", "the ship sailed")
    with pair.store(pair.jpn).engine.connect() as connection:
        held = select(visitor_accounts).where(visitor_accounts.c.visit_id == visit)
        assert connection.execute(held).first() is None
    size = pair.audit_size(pair.jpn)
    again = _answer(pair, visit, "end")
    assert again.status_code == 409
    assert "is ended" in again.text
    assert [e["kind"] for e in pair.audit_since(pair.jpn, size)] == ["refused"]


def test_only_an_approved_visit_ends(pair: Pair) -> None:
    visit = _visit_id(pair.visit([pair.assure("s-2101")]))
    refused = _answer(pair, visit, "end")
    assert refused.status_code == 409
    assert "not approved" in refused.text
    assert _listed(pair, "JPN", visit)["state"] == "requested"


@pytest.fixture
def second(pair: Pair) -> Iterator[Node]:
    """A second worker of JPN: another ``Node`` on JPN's database."""
    jpn = pair.jpn
    node = Node.open(jpn.data, database=jpn.database.url)
    try:
        yield node
    finally:
        node.close()


@pytest.mark.parametrize("ending", ["withdraw", "cancel", "end"])
def test_a_second_worker_refuses_the_token_at_once(pair: Pair, second: Node, ending: str) -> None:
    assurance, visit, token = _approved(pair, f"s-3{ending}")
    assert second.accounts.authenticate(token).id == visitor_id(visit, f"s-3{ending}")
    if ending == "end":
        assert _answer(pair, visit, "end").status_code == 200
    else:
        path = {"withdraw": f"/api/v1/assurances/{assurance}/withdraw"}.get(
            ending, f"/api/v1/visits/{visit}/cancel"
        )
        with pair.can.client("can-officer") as client:
            assert client.post(path).json()["delivery"] == "delivered"
    with pytest.raises(Unauthorized, match="unknown or revoked token"):
        second.accounts.authenticate(token)


def _told_removed(pair: Pair, visit: str, person: str, size: int) -> None:
    """CAN heard that JPN removed ``person``'s account of ``visit``: audited, its token gone."""
    entries = [e for e in pair.audit_since(pair.can, size) if e["kind"].startswith("visit.")]
    assert [(e["kind"], e["actor"], e["data"]) for e in entries] == [
        ("visit.visitor_removed_received", "JPN", {"visit": visit, "person": person})
    ]
    with pair.store(pair.can).engine.connect() as connection:
        held = select(visit_tokens).where(visit_tokens.c.visit_id == visit)
        assert connection.execute(held).first() is None
    for nation in ("CAN", "JPN"):
        seen = _listed(pair, nation, visit)
        assert (seen["state"], seen["removed"]) == ("approved", [person])  # it goes on


def test_an_admin_removes_a_visitors_account_and_the_visiting_party_is_told(
    pair: Pair,
) -> None:
    _, visit, token = _approved(pair, "s-4001")
    account = visitor_id(visit, "s-4001")
    size, told = pair.audit_size(pair.jpn), pair.audit_size(pair.can)
    removed = pair.store(pair.jpn).accounts.remove(OPERATOR, account)
    assert removed.id == account
    assert _as_visitor(pair, token, "/api/v1/me").status_code == 401
    entries = pair.audit_since(pair.jpn, size)  # then the token's refusal, anonymous
    assert [(e["kind"], e["actor"]) for e in entries][:2] == [
        ("visit.visitor_removed", "cli"),
        ("user.removed", "cli"),
    ]
    assert entries[0]["data"]["person"] == "s-4001"
    _told_removed(pair, visit, "s-4001", told)
    with pair.store(pair.jpn).engine.connect() as connection:
        held = select(visitor_accounts).where(visitor_accounts.c.user_id == account)
        assert connection.execute(held).first() is None
    _, visit, token = _approved(pair, "s-4002")
    if "jpn-admin" not in pair.jpn.tokens:
        pair.jpn.add_user("jpn-admin", "JPN", "KIMITSU", role=Role.ADMIN)
    told = pair.audit_size(pair.can)
    with pair.jpn.client("jpn-admin") as client:
        assert client.delete(f"/api/v1/users/{visitor_id(visit, 's-4002')}").status_code == 204
        assert client.delete(f"/api/v1/users/{visitor_id(visit, 's-4002')}").status_code == 404
    assert _as_visitor(pair, token, "/api/v1/me").status_code == 401
    _told_removed(pair, visit, "s-4002", told)


def test_a_removal_told_while_the_visiting_party_is_down_waits_in_the_outbox(
    pair: Pair,
) -> None:
    _, visit, _ = _approved(pair, "s-4101")
    with can_down(pair):
        pair.store(pair.jpn).accounts.remove(OPERATOR, visitor_id(visit, "s-4101"))
    told = pair.audit_size(pair.can)
    delivered_late(pair, Kind.VISITOR_REMOVED, visit)
    _told_removed(pair, visit, "s-4101", told)


def test_the_lead_time_is_the_agreements(pair: Pair) -> None:
    store = pair.store(pair.can)
    kept = store.config
    store.config = dataclasses.replace(kept, visit_lead_days_by_agreement={"JPN-CAN": 30})
    try:
        ahead = (TODAY + dt.timedelta(days=25)).isoformat()
        before = _count(pair, visits)
        size = pair.audit_size(pair.can)
        refused = pair.visit(
            [pair.assure("s-5001")], kind="one-time", reason=None, first_day=ahead, last_day=ahead
        )
        assert refused.status_code == 422
        assert "less than 30 days ahead, the lead time of JPN-CAN" in refused.text
        assert [e["kind"] for e in pair.audit_since(pair.can, size)][-1] == "refused"
        assert _count(pair, visits) == before
    finally:
        store.config = kept
    assert (
        pair.visit(
            [pair.assure("s-5002")], kind="one-time", reason=None, first_day=ahead, last_day=ahead
        ).status_code
        == 201
    )  # 20 days, the default


def test_the_accounts_of_a_visit_past_are_removed(pair: Pair) -> None:
    # (last in this module: it removes every account whose visit is past on that day)
    _, visit, _ = _approved(pair, "s-6001")
    account = visitor_id(visit, "s-6001")
    jpn = pair.store(pair.jpn)
    size = pair.audit_size(pair.jpn)
    erase_personal(jpn, today=TODAY + dt.timedelta(days=3))  # the day after the last
    entries = pair.audit_since(pair.jpn, size)
    past = [e for e in entries if e["kind"] == "visit.accounts_past"]
    assert len(past) == 1
    assert account in past[0]["data"]["accounts"]
    with jpn.engine.connect() as connection:
        assert connection.execute(select(users).where(users.c.id == account)).first() is None
        gone = select(visitor_accounts).where(visitor_accounts.c.user_id == account)
        assert connection.execute(gone).first() is None


@pytest.mark.parametrize(
    ("leads", "ok"),
    [({"JPN-CAN": 30}, True), ({"JPN-CAN": -1}, False), ({"JPN-CAN": "30"}, False), ([], False)],
)
def test_the_lead_times_setting_is_checked_as_the_node_opens(
    tmp_path: Path, leads: Any, ok: bool
) -> None:
    config = NodeConfig("JPN", "sqlite://", visit_lead_days=10)
    config.save(tmp_path)
    path = tmp_path / "node.json"
    path.write_text(
        json.dumps(json.loads(path.read_text()) | {"visit_lead_days_by_agreement": leads})
    )
    if not ok:
        with pytest.raises(ConfigError, match="visit_lead_days_by_agreement maps agreement ids"):
            NodeConfig.load(tmp_path)
        return
    loaded = NodeConfig.load(tmp_path)
    assert (loaded.lead_days("JPN-CAN"), loaded.lead_days("JPN-USA"), loaded.lead_days(None)) == (
        30,
        10,
        10,
    )
