"""What the host's node refuses of a request for a visit as it arrives, between two real
nodes: a first day sooner than the host's own lead time of the agreement, judged from when
the request was made (however long it waited in CAN's outbox), and no agreement in force
at the host. Nothing is stored at the host, the refusal audited there; the requesting
node's visit shows it (REST, the command line), audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import func, select

from gsoia.federation.packages import Kind
from gsoia.store.schema import outbox, visits
from tests import loopback
from tests.node.conftest import RunningNode
from tests.visits.conftest import TODAY, Pair, refused_at, signed, unreachable
from tests.visits.test_cli import _gsoia
from tests.visits.test_inbox import _request


def _lead_time(pair: Pair, days: int) -> None:
    with pair.jpn.client("jpn-officer") as client:
        done = client.put("/api/v1/visit-lead-times/JPN-CAN", json={"days": days})
    assert done.status_code == 200, done.text


def _listed(pair: Pair, runner: RunningNode, visit: str) -> dict[str, Any]:
    with runner.client(f"{runner.nation.lower()}-officer") as client:
        response = client.get("/api/v1/visits")
    assert response.status_code == 200, response.text
    return dict(next(v for v in response.json() if v["id"] == visit))


def _held_at_jpn(pair: Pair, visit: str) -> bool:
    with pair.store(pair.jpn).engine.connect() as connection:
        found = connection.execute(select(visits.c.id).where(visits.c.id == visit)).first()
    return found is not None


def _one_day(pair: Pair, person: str, day: dt.date) -> httpx.Response:
    return pair.visit(
        [pair.assure(person)],
        kind="one-time",
        reason=None,
        first_day=day.isoformat(),
        last_day=day.isoformat(),
    )


def _shown_refused(pair: Pair, response: httpx.Response, said: str, can_size: int) -> str:
    """The request was refused at JPN with ``said``: CAN's visit shows it, audited."""
    assert response.status_code == 201, response.text
    visit = str(response.json()["id"])
    note = f"refused by JPN's node: REFUSED: {said}"
    assert (response.json()["delivery"], response.json()["state"]) == ("failed", "refused")
    assert response.json()["note"] == note
    seen = _listed(pair, pair.can, visit)
    assert (seen["state"], seen["note"], seen["decided_by"]) == ("refused", note, "JPN")
    refusals = [
        e["data"]
        for e in pair.audit_since(pair.can, can_size)
        if e["kind"] == "visit.refused_on_arrival"
    ]
    assert [(r["visit"], r["by"], r["reason"]) for r in refusals] == [
        (visit, "JPN", f"REFUSED: {said}")
    ]
    assert not _held_at_jpn(pair, visit)
    listed = _gsoia(pair.can, "visit", "list")
    assert [(v["state"], v["note"]) for v in listed if v["id"] == visit] == [("refused", note)]
    return visit


def test_a_request_sooner_than_the_hosts_lead_time_is_refused_there_and_shown(
    pair: Pair,
) -> None:
    _lead_time(pair, 30)  # CAN's own stays 20
    try:
        ahead = TODAY + dt.timedelta(days=25)
        assured = pair.assure("h-1001")
        can_size, jpn_size = pair.audit_size(pair.can), pair.audit_size(pair.jpn)
        response = pair.visit(
            [assured], kind="one-time", reason=None,
            first_day=ahead.isoformat(), last_day=ahead.isoformat(),
        )  # fmt: skip
        said = (
            f"first day {ahead.isoformat()} is less than 30 days after the request"
            f" ({TODAY.isoformat()}), JPN's lead time of JPN-CAN (an emergency request,"
            " with its reason, may be sooner)"
        )
        _shown_refused(pair, response, said, can_size)
        assert [
            (e["kind"], e["data"].get("detail")) for e in pair.audit_since(pair.jpn, jpn_size)
        ] == [("package.refused", said)]
        later = _one_day(pair, "h-1002", TODAY + dt.timedelta(days=30))
        assert (later.status_code, later.json()["state"]) == (201, "requested"), later.text
        assert _listed(pair, pair.jpn, str(later.json()["id"]))["state"] == "requested"
        sooner = pair.visit([pair.assure("h-1003")])  # an emergency, with its reason
        assert (sooner.status_code, sooner.json()["state"]) == (201, "requested"), sooner.text
    finally:
        _lead_time(pair, 20)


def test_a_request_refused_for_no_agreement_at_the_host_is_shown(pair: Pair) -> None:
    jpn = pair.store(pair.jpn)
    assured = pair.assure("h-2001")
    can_size = pair.audit_size(pair.can)
    jpn.today_override = dt.date(2025, 10, 15)  # the eve of JPN-CAN's entry into force
    try:
        response = pair.visit([assured])
    finally:
        jpn.today_override = None
    visit = _shown_refused(pair, response, "no agreement between CAN and JPN in force", can_size)
    with pair.can.client("can-officer") as client:  # nothing left to cancel or show
        assert client.post(f"/api/v1/visits/{visit}/cancel").status_code == 409
        assert client.get(f"/api/v1/visits/{visit}/tokens").status_code == 409


def test_a_request_that_waited_in_the_outbox_is_judged_by_when_it_was_made(pair: Pair) -> None:
    ahead = TODAY + dt.timedelta(days=22)
    jpn = pair.store(pair.jpn)
    assured = pair.assure("h-3001")
    with unreachable(pair, pair.can, pair.jpn):
        response = pair.visit(
            [assured], kind="one-time", reason=None,
            first_day=ahead.isoformat(), last_day=ahead.isoformat(),
        )  # fmt: skip
        assert response.status_code == 201, response.text
        assert (response.json()["delivery"], response.json()["state"]) != ("delivered", "refused")
        visit = str(response.json()["id"])
        # it comes ten days later by JPN's day: 12 days before the visit, the request 22
        jpn.today_override = TODAY + dt.timedelta(days=10)
    try:
        can = pair.store(pair.can)
        with can.engine.connect() as connection:
            waiting = connection.execute(
                select(outbox.c.package_id)
                .where(outbox.c.kind == Kind.VISIT_REQUEST.value)
                .where(outbox.c.payload.contains(visit))
            ).scalar_one()
        assert can.exchange.courier.deliver(waiting).state == "delivered"
    finally:
        jpn.today_override = None
    assert _listed(pair, pair.jpn, visit)["state"] == "requested"
    assert _listed(pair, pair.can, visit)["state"] == "requested"


def _posted(pair: Pair, raw: bytes) -> httpx.Response:
    with loopback.client_from(loopback.fresh_source(), base_url=pair.jpn.url) as client:
        return client.post(
            "/federation/v1/inbox", content=raw, headers={"content-type": "application/json"}
        )


def test_the_host_judges_the_lead_time_from_the_signed_request_time(pair: Pair) -> None:
    can, jpn = pair.store(pair.can), pair.store(pair.jpn)
    assured = pair.assure("h-4001")
    day = (TODAY + dt.timedelta(days=15)).isoformat()
    asked = {"visitors": [assured], "first_day": day, "last_day": day, "kind": "one-time"}
    now = can.clock()
    with jpn.engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(visits)).scalar()
    # made ten days ago, sent now: 25 days ahead when made
    made = (now - dt.timedelta(days=10)).isoformat()
    taken = _posted(
        pair, signed(can, "JPN", Kind.VISIT_REQUEST, _request(**asked, requested_at=made))
    )
    assert taken.status_code == 200, taken.text
    # no time of its own (an older sender): the package's, 15 days ahead
    refused_at(
        pair, pair.jpn, signed(can, "JPN", Kind.VISIT_REQUEST, _request(**asked)), 403, "REFUSED"
    )
    # a time after its package's
    future = (now + dt.timedelta(minutes=5)).isoformat()
    raw = signed(can, "JPN", Kind.VISIT_REQUEST, _request(**asked, requested_at=future))
    refused_at(pair, pair.jpn, raw, 422, "MALFORMED")
    # an emergency that does not say why
    raw = signed(
        can, "JPN", Kind.VISIT_REQUEST, _request(**asked | {"kind": "emergency", "reason": " "})
    )
    refused_at(pair, pair.jpn, raw, 403, "REFUSED")
    with jpn.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(visits)).scalar() == before + 1
