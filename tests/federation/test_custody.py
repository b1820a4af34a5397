"""Custody end to end: where an item is held and each package's state, the custodian's
onward release told to the originator, and consents that reach every custodian.

Three real nodes in this process (``tests.federation.mesh``): Japan's on SQLite or
PostgreSQL, Canada's and the United States' on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gsoia.federation.packages import Kind
from gsoia.node.errors import Conflict, Denied
from gsoia.node.exchange.custody import package_state
from gsoia.node.users import Role
from gsoia.store.schema import outbox
from tests.federation.mesh import Mesh, mesh_of
from tests.node.conftest import Database, database

__all__ = ["database"]


@pytest.fixture
def mesh(tmp_path: Path, database: Database) -> Iterator[Mesh]:
    with mesh_of(tmp_path, database.url) as built:
        yield built


def links(custody: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(link["from"], link["to"], link["state"]) for link in custody["chain"]]


def passed_on(mesh: Mesh) -> str:
    """A JPN item released to CAN, and by CAN to USA with JPN's consent given unasked, its
    outcome told to JPN."""
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item()
    assert jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")["state"] == "delivered"
    given = jpn.exchange.consent(mesh.officers["JPN"], item, "USA", note="for the exercise")
    assert [(n["custodian"], n["state"]) for n in given["notified"]] == [("CAN", "delivered")]
    released = can.exchange.release(mesh.analysts["CAN"], item, "USA")
    assert released["state"] == "delivered", released
    mesh.settle()  # what came of CAN's release, told to JPN
    return item


def test_the_originator_sees_every_holder_and_the_onward_release(mesh: Mesh) -> None:
    item = passed_on(mesh)
    custody = mesh.nodes["JPN"].exchange.custody(mesh.analysts["JPN"], item)

    assert links(custody) == [("JPN", "CAN", "received"), ("CAN", "USA", "received")]
    holders = {h["nation"]: (h["role"], h["from"]) for h in custody["holders"]}
    assert holders == {
        "JPN": ("originator", None),
        "CAN": ("custodian", "JPN"),
        "USA": ("third party", "CAN"),
    }
    [to_can, to_usa] = custody["chain"]
    assert to_can["receipt"]["marking"] == "CAN SECRET // JPN 極秘 // JPN-CAN"
    assert to_usa["by"] == "CAN/can-analyst"
    events = [e["event"] for e in custody["events"]]
    assert events[0] == "created"
    for expected in ("released", "receipt verified", "consent given", "consent told"):
        assert expected in events, events
    assert events[-2:] == ["released onward", "onward release received"]
    assert [e["at"] for e in custody["events"]] == sorted(e["at"] for e in custody["events"])
    [given] = [e for e in custody["events"] if e["event"] == "consent given"]
    assert (given["to"], given["note"]) == ("USA", "for the exercise")
    told = mesh.audited("JPN", "custody.onward")
    assert [(t["to"], t["state"]) for t in told] == [("USA", "reported"), ("USA", "received")]


def test_the_custodian_sees_where_its_copy_came_from_and_went(mesh: Mesh) -> None:
    item = passed_on(mesh)
    custody = mesh.nodes["CAN"].exchange.custody(mesh.analysts["CAN"], item)
    assert links(custody) == [("JPN", "CAN", "received"), ("CAN", "USA", "received")]
    assert [h["nation"] for h in custody["holders"]] == ["JPN", "CAN", "USA"]
    assert "consent received" in [e["event"] for e in custody["events"]]


def test_the_states_of_a_package() -> None:
    assert package_state("pending", 0, None) == "queued"
    assert package_state("pending", 2, None) == "retrying"
    assert package_state("unacknowledged", 1, None) == "delivered"
    assert package_state("delivered", 1, None) == "delivered"  # no receipt: not witnessing
    assert package_state("delivered", 1, "{}") == "received"
    assert package_state("failed", 1, None) == "refused"
    assert package_state("cancelled", 0, None) == "cancelled"


def test_a_package_retrying_then_cancelled(mesh: Mesh) -> None:
    jpn = mesh.nodes["JPN"]
    item = mesh.item()
    mesh.down.add("CAN")
    sent = jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    custody = jpn.exchange.custody(mesh.analysts["JPN"], item)
    [link] = custody["chain"]
    assert link["state"] == "retrying"
    assert "can.invalid unreachable" in link["last_error"]
    assert [h["nation"] for h in custody["holders"]] == ["JPN"]  # CAN holds nothing yet

    jpn.exchange.cancel(mesh.officers["JPN"], sent["package"])
    [link] = jpn.exchange.custody(mesh.analysts["JPN"], item)["chain"]
    assert (link["state"], link["last_error"]) == ("cancelled", None)


def test_a_refused_package_shows_the_partners_reason(mesh: Mesh) -> None:
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item()
    can.exchange.peers_book.load()
    with can.engine.begin() as connection:  # CAN forgets JPN: JPN's package is refused
        from gsoia.store.schema import peers

        connection.execute(peers.delete().where(peers.c.nation == "JPN"))
    can.exchange.peers_book.load()
    sent = jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    [link] = jpn.exchange.custody(mesh.analysts["JPN"], item)["chain"]
    assert link["state"] == "refused"
    assert "UNKNOWN_PEER" in link["last_error"]
    # the analyst who released it is told (the notice on the items page), with the reason
    [told] = jpn.exchange.unsent(mesh.analysts["JPN"])
    assert (told["package"], told["to"], told["state"]) == (sent["package"], "CAN", "refused")
    assert "UNKNOWN_PEER" in told["last_error"]
    assert told["item_title"] == "Patrol report"
    assert jpn.exchange.unsent(mesh.officers["JPN"]) == []  # released by someone else


def test_custody_is_refused_to_who_may_not_read_the_item(mesh: Mesh) -> None:
    item = mesh.item()
    mesh.nodes["JPN"].exchange.release(mesh.analysts["JPN"], item, "CAN")
    low, _ = mesh.nodes["CAN"].add_user("can-low", "CAN", clearance="C", need_to_know=["maritime"])
    with pytest.raises(Denied):
        mesh.nodes["CAN"].exchange.custody(low, item)


def test_a_consent_given_unasked_reaches_every_custodian(mesh: Mesh) -> None:
    """Given after CAN holds the item, with no request: CAN is told, and may release."""
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item()
    jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    with pytest.raises(Denied):
        can.exchange.release(mesh.analysts["CAN"], item, "USA")
    given = jpn.exchange.consent(mesh.officers["JPN"], item, "USA")
    assert [n["custodian"] for n in given["notified"]] == ["CAN"]
    assert given["not_pinned"] == []
    assert can.exchange.release(mesh.analysts["CAN"], item, "USA")["state"] == "delivered"
    [listed] = can.exchange.consents_of(mesh.analysts["CAN"], item)
    assert (listed["to"], listed["state"], listed["originator"]) == ("USA", "received", "JPN")


def test_a_withdrawn_consent_is_told_and_refuses_the_release(mesh: Mesh) -> None:
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item()
    jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    jpn.exchange.consent(mesh.officers["JPN"], item, "USA")
    withdrawn = jpn.exchange.withdraw_consent(mesh.officers["JPN"], item, "USA", "no longer")
    assert [(n["custodian"], n["state"]) for n in withdrawn["notified"]] == [("CAN", "delivered")]
    with pytest.raises(Denied) as refused:
        can.exchange.release(mesh.analysts["CAN"], item, "USA")
    assert refused.value.decision.reason.value == "THIRD_PARTY"
    [listed] = jpn.exchange.consents_of(mesh.analysts["JPN"], item)
    assert (listed["state"], listed["withdrawn_by"]) == ("withdrawn", "jpn-officer")
    assert can.exchange.consents_of(mesh.analysts["CAN"], item) == []
    [heard] = mesh.audited("CAN", "consent.withdrawal_received")
    assert (heard["to"], heard["note"]) == ("USA", "no longer")
    with pytest.raises(Conflict):  # nothing left to withdraw
        jpn.exchange.withdraw_consent(mesh.officers["JPN"], item, "USA", None)


def test_a_refusal_carries_the_officers_note(mesh: Mesh) -> None:
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item()
    jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    asked = can.exchange.request_consent(mesh.analysts["CAN"], item, "USA")
    refused = jpn.exchange.decide_request(
        mesh.officers["JPN"], asked["request"], grant=False, note="source protection"
    )
    assert refused["note"] == "source protection"
    [heard] = mesh.audited("CAN", "consent.refusal_received")
    assert heard["note"] == "source protection"
    [request] = jpn.exchange.consent_requests(mesh.officers["JPN"])
    assert (request["state"], request["note"]) == ("refused", "source protection")
    [sent] = can.exchange.consent_requests_sent(mesh.officers["CAN"])
    assert (sent["id"], sent["state"], sent["note"]) == (
        asked["request"],
        "refused",
        "source protection",
    )
    assert (sent["originator"], sent["to_party"], sent["item_title"]) == (
        "JPN",
        "USA",
        "Patrol report",
    )


def test_the_custodian_sees_its_request_waiting_then_granted(mesh: Mesh) -> None:
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item()
    jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    asked = can.exchange.request_consent(mesh.analysts["CAN"], item, "USA")
    [sent] = can.exchange.consent_requests_sent(mesh.officers["CAN"])
    assert (sent["state"], sent["answered_at"]) == ("pending", None)
    jpn.exchange.decide_request(
        mesh.officers["JPN"], asked["request"], grant=True, note="exercise only"
    )
    [sent] = can.exchange.consent_requests_sent(mesh.officers["CAN"])
    assert (sent["state"], sent["note"]) == ("granted", "exercise only")
    assert sent["answered_at"] is not None
    with mesh.client("CAN", "can-officer") as client:
        listed = client.get("/api/v1/consent-requests/sent")
        assert listed.status_code == 200, listed.text
        assert [r["state"] for r in listed.json()] == ["granted"]
    with mesh.client("CAN", "can-analyst") as client:
        assert client.get("/api/v1/consent-requests/sent").status_code == 403


def test_an_onward_notice_from_a_node_holding_no_copy_is_refused(mesh: Mesh) -> None:
    """USA holds nothing of JPN's: its notice of an onward release is refused, nothing kept."""
    jpn, usa = mesh.nodes["JPN"], mesh.nodes["USA"]
    item = mesh.item()
    body = {
        "item": item,
        "to": "CAN",
        "package": "p-forged",
        "released_by": "usa-analyst",
        "released_at": usa.audit.now(),
    }
    assert mesh.send("USA", Kind.ONWARD, "JPN", body, item) == "failed"
    with usa.engine.connect() as connection:
        errors = connection.execute(
            select(outbox.c.last_error).where(outbox.c.kind == Kind.ONWARD.value)
        ).scalars()
        assert ["UNKNOWN_ITEM" in e for e in errors] == [True]
    assert jpn.exchange.custody(mesh.analysts["JPN"], item)["chain"] == []


def test_custody_and_consents_over_rest(mesh: Mesh) -> None:
    item = passed_on(mesh)
    with mesh.client("JPN", "jpn-analyst") as client:
        custody = client.get(f"/api/v1/items/{item}/custody")
        assert custody.status_code == 200, custody.text
        assert links(custody.json()) == [("JPN", "CAN", "received"), ("CAN", "USA", "received")]
        listed = client.get(f"/api/v1/items/{item}/consents")
        assert listed.status_code == 200, listed.text
        assert [(c["to"], c["state"]) for c in listed.json()] == [("USA", "given")]
        refused = client.post(f"/api/v1/items/{item}/consents/USA/withdraw", json={})
        assert refused.status_code == 403  # an analyst does not withdraw consents
        assert client.get("/api/v1/items/no-such-item/custody").status_code == 404
    with mesh.client("JPN", "jpn-officer") as client:
        withdrawn = client.post(
            f"/api/v1/items/{item}/consents/USA/withdraw", json={"note": "ended"}
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert [n["custodian"] for n in withdrawn.json()["notified"]] == ["CAN"]
        unknown = client.post(f"/api/v1/items/{item}/consents/XXX/withdraw")
        assert unknown.status_code == 422


def test_queues_name_the_item_only_to_who_may_read_it(mesh: Mesh) -> None:
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item("Sealed report")
    jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    can.exchange.request_consent(mesh.analysts["CAN"], item, "USA")
    low, _ = jpn.add_user("jpn-low", "JPN", clearance="HI", role=Role.OFFICER)
    [named] = jpn.exchange.consent_requests(mesh.officers["JPN"])
    assert named["item_title"] == "Sealed report"
    assert named["item_marking"] == {
        "text": "JPN 極秘",
        "display": "JPN 極秘",  # no policy has a SPIF
        "policy": "JPN",
        "level": "GOKUHI",
    }
    [unnamed] = jpn.exchange.consent_requests(low)
    assert (unnamed["item_id"], unnamed["item_title"], unnamed["item_marking"]) == (
        item,
        None,
        None,
    )
    sent = [r for r in jpn.exchange.outbox(low) if r["item_id"] == item]
    assert sent
    assert all(r["item_title"] is None for r in sent)
    told = [r for r in can.exchange.outbox(mesh.officers["CAN"]) if r["item_id"] == item]
    assert [r["item_title"] for r in told] == ["Sealed report"]


def test_a_reclassification_is_in_the_custody_of_both_ends(mesh: Mesh) -> None:
    """The originator's custody shows the notice told to each custodian, the custodian's
    the notice it received, in time order with the rest."""
    jpn, can = mesh.nodes["JPN"], mesh.nodes["CAN"]
    item = mesh.item()
    jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")
    jpn.exchange.reclassify(mesh.officers["JPN"], item, "HI")
    mesh.settle()
    originators = jpn.exchange.custody(mesh.analysts["JPN"], item)["events"]
    [changed] = [e for e in originators if e["event"] == "classification changed"]
    assert (changed["by"], changed["was"], changed["classification"]) == (
        "jpn-officer",
        "GOKUHI",
        "HI",
    )
    [told] = [e for e in originators if e["event"] == "reclassified"]
    assert (told["told"], told["classification"], told["state"]) == ("CAN", "HI", "delivered")
    assert [e["at"] for e in originators] == sorted(e["at"] for e in originators)
    custodians = can.exchange.custody(mesh.analysts["CAN"], item)["events"]
    [heard] = [e for e in custodians if e["event"] == "reclassified"]
    assert heard["from"] == "JPN"
    assert custodians.index(heard) > [e["event"] for e in custodians].index("received")


def test_a_reclassification_with_no_custodian_is_in_the_custody(mesh: Mesh) -> None:
    """Nobody to tell: the change is still in the item's history (another item's is not)."""
    jpn = mesh.nodes["JPN"]
    item, other = mesh.item(), mesh.item()
    jpn.exchange.reclassify(mesh.officers["JPN"], item, "HI")
    jpn.exchange.reclassify(mesh.officers["JPN"], other, "KIMITSU")
    events = jpn.exchange.custody(mesh.analysts["JPN"], item)["events"]
    assert [(e["event"], e.get("classification")) for e in events] == [
        ("created", None),
        ("classification changed", "HI"),
    ]
