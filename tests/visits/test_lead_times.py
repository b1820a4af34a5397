"""The lead time of visits per agreement, set and read by officers between two real nodes
(REST and CLI): it holds for the next request at once, on every worker; a bad setting is
refused in one line, nothing changed, the refusal audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gsoia.node.service import Node
from tests.cli.cli_support import run_in_process
from tests.node.conftest import RunningNode
from tests.visits.conftest import TODAY, Pair


def _lead_times(pair: Pair) -> dict[str, tuple[int, str]]:
    with pair.can.client("can-officer") as client:
        response = client.get("/api/v1/visit-lead-times")
    assert response.status_code == 200, response.text
    return {t["agreement"]: (t["days"], t["source"]) for t in response.json()}


def _put(pair: Pair, agreement: str, days: Any, user: str = "can-officer") -> Any:
    with pair.can.client(user) as client:
        return client.put(f"/api/v1/visit-lead-times/{agreement}", json={"days": days})


def _ahead(pair: Pair, person: str, days: int) -> Any:
    day = (TODAY + dt.timedelta(days=days)).isoformat()
    return pair.visit(
        [pair.assure(person)], kind="one-time", reason=None, first_day=day, last_day=day
    )


def test_an_officer_sets_the_lead_time_and_the_next_request_follows(pair: Pair) -> None:
    assert _lead_times(pair) == {"JPN-CAN": (20, "default")}  # CAN's only agreement
    assert _ahead(pair, "l-1001", 25).status_code == 201
    size = pair.audit_size(pair.can)
    done = _put(pair, "JPN-CAN", 30)
    assert done.status_code == 200, done.text
    assert done.json() == {"agreement": "JPN-CAN", "days": 30, "before": 20}
    entries = pair.audit_since(pair.can, size)
    assert [(e["kind"], e["actor"], e["data"]) for e in entries] == [
        ("visit.lead_time", "can-officer", {"agreement": "JPN-CAN", "days": 30, "before": 20})
    ]
    assert _lead_times(pair) == {"JPN-CAN": (30, "set")}
    second = Node.open(pair.can.data, database=pair.can.database.url)  # another worker
    try:
        assert second.exchange.lead_times.days("JPN-CAN") == 30
    finally:
        second.close()
    refused = _ahead(pair, "l-1002", 25)
    assert refused.status_code == 422
    assert "less than 30 days ahead, the lead time of JPN-CAN" in refused.text
    assert _put(pair, "JPN-CAN", 0).status_code == 200
    assert _ahead(pair, "l-1003", 0).status_code == 201  # no lead time: today will do
    assert _put(pair, "JPN-CAN", 20).json()["before"] == 0


@pytest.mark.parametrize(
    ("agreement", "days", "said"),
    [
        ("JPN-KOR", 30, "no agreement JPN-KOR of CAN"),  # CAN is no party to it
        ("NOPE", 30, "no agreement NOPE of CAN"),
        ("JPN-CAN", -1, "a whole number of days from 0 to 365"),
        ("JPN-CAN", 366, "a whole number of days from 0 to 365"),
        ("JPN-CAN", 10**9, "a whole number of days from 0 to 365"),
        ("JPN-CAN", "30", "days"),
        ("JPN-CAN", True, "days"),
        ("JPN-CAN", 2.5, "days"),
    ],
)
def test_a_bad_lead_time_is_refused_nothing_changed_audited(
    pair: Pair, agreement: str, days: Any, said: str
) -> None:
    before = _lead_times(pair)
    size = pair.audit_size(pair.can)
    refused = _put(pair, agreement, days)
    assert refused.status_code == 422, refused.text
    assert said in refused.text
    assert [e["kind"] for e in pair.audit_since(pair.can, size)] == ["refused"]
    assert _lead_times(pair) == before


def test_only_an_officer_sets_a_lead_time(pair: Pair) -> None:
    size = pair.audit_size(pair.can)
    assert _put(pair, "JPN-CAN", 5, user="can-analyst").status_code == 403
    assert [e["kind"] for e in pair.audit_since(pair.can, size)] == ["refused"]
    with pair.can.client("can-analyst") as client:
        assert client.get("/api/v1/visit-lead-times").status_code == 403


def _gsoia(node: RunningNode, *args: str) -> Any:
    where = ["--data", str(node.data)]
    if node.database.url:
        where += ["--database", node.database.url]
    return run_in_process("visit", "lead-time", *args, *where)


def test_the_lead_time_from_the_command_line(pair: Pair) -> None:
    done = _gsoia(pair.jpn, "--agreement", "JPN-CAN", "--days", "45")
    assert done.returncode == 0, done.stderr
    assert '"before": 20' in done.stdout
    listed = _gsoia(pair.jpn)
    assert listed.returncode == 0, listed.stderr
    assert '"days": 45' in listed.stdout
    assert '"agreement": "JPN-UKR"' in listed.stdout  # signed, not in force: listed too
    assert pair.store(pair.jpn).exchange.lead_times.days("JPN-CAN") == 45  # the served node
    assert pair.store(pair.can).exchange.lead_times.days("JPN-CAN") == 20  # each its own
    size = pair.audit_size(pair.jpn)
    refused = _gsoia(pair.jpn, "--agreement", "JPN-CAN", "--days", "-3")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "gsoia: days: a whole number of days from 0 to 365"
    ]
    entries = pair.audit_since(pair.jpn, size)
    assert [(e["kind"], e["data"]["action"]) for e in entries] == [
        ("refused", "gsoia visit lead-time")
    ]
    alone = _gsoia(pair.jpn, "--days", "3")
    assert alone.returncode == 2
    assert "--agreement and --days are given together" in alone.stderr
    assert pair.store(pair.jpn).exchange.lead_times.days("JPN-CAN") == 45
