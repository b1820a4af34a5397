"""What came of a custodian's onward release, told to the originator: Canada's node,
holding Japan's item, releases it to the United States with Japan's consent; once that
package is settled (taken with a verified receipt, refused by the United States' node, or
cancelled by Canada's officer) Canada's node tells Japan's, and Japan's custody shows it.
The nodes are those of ``tests.federation.test_custody`` (Japan's on both backends).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gsoia.federation.packages import Kind
from gsoia.store.schema import audit_entries, outbox, peers
from tests.federation.mesh import Mesh
from tests.federation.test_custody import database, links, mesh

__all__ = ["database", "mesh"]


def consented(mesh: Mesh) -> str:
    """A JPN item released to CAN, with JPN's consent to USA given unasked."""
    jpn = mesh.nodes["JPN"]
    item = mesh.item()
    assert jpn.exchange.release(mesh.analysts["JPN"], item, "CAN")["state"] == "delivered"
    jpn.exchange.consent(mesh.officers["JPN"], item, "USA")
    return item


def originators_view(mesh: Mesh, item: str) -> dict[str, Any]:
    return mesh.nodes["JPN"].exchange.custody(mesh.analysts["JPN"], item)


def onward_link(custody: dict[str, Any]) -> dict[str, Any]:
    [link] = [link for link in custody["chain"] if link["from"] == "CAN"]
    return link


def test_a_release_the_third_party_received_is_told_once_settled(mesh: Mesh) -> None:
    item = consented(mesh)
    released = mesh.nodes["CAN"].exchange.release(mesh.analysts["CAN"], item, "USA")
    custody = originators_view(mesh, item)
    assert links(custody)[-1] == ("CAN", "USA", "reported")  # made, its outcome not yet told
    assert "USA" not in [h["nation"] for h in custody["holders"]]

    mesh.settle()  # CAN's courier delivers what the release settled
    custody = originators_view(mesh, item)
    assert links(custody) == [("JPN", "CAN", "received"), ("CAN", "USA", "received")]
    link = onward_link(custody)
    assert (link["package"], link["told_by"], link["last_error"]) == (
        released["package"],
        "CAN",
        None,
    )
    holders = {h["nation"]: (h["role"], h["from"]) for h in custody["holders"]}
    assert holders["USA"] == ("third party", "CAN")
    assert "onward release received" in [e["event"] for e in custody["events"]]
    [told] = mesh.audited("CAN", "custody.onward_told")
    assert (told["item"], told["to"], told["originator"], told["state"]) == (
        item,
        "USA",
        "JPN",
        "received",
    )
    heard = mesh.audited("JPN", "custody.onward")
    assert [(h["package"], h["state"]) for h in heard] == [
        (released["package"], "reported"),
        (released["package"], "received"),
    ]
    mesh.settle()  # told once: nothing more to send
    assert len(mesh.audited("JPN", "custody.onward")) == 2


def test_a_release_the_third_party_refused_is_told_with_its_reason(mesh: Mesh) -> None:
    item = consented(mesh)
    usa = mesh.nodes["USA"]
    with usa.engine.begin() as connection:  # USA forgets CAN: CAN's package is refused
        connection.execute(peers.delete().where(peers.c.nation == "CAN"))
    usa.exchange.peers_book.load()
    mesh.nodes["CAN"].exchange.release(mesh.analysts["CAN"], item, "USA")
    mesh.settle()
    custody = originators_view(mesh, item)
    link = onward_link(custody)
    assert link["state"] == "refused"
    assert "UNKNOWN_PEER" in link["last_error"]
    assert "USA" not in [h["nation"] for h in custody["holders"]]
    [heard] = [h for h in mesh.audited("JPN", "custody.onward") if h["state"] == "refused"]
    assert "UNKNOWN_PEER" in heard["reason"]


def test_a_release_cancelled_by_the_custodian_is_told_with_the_note(mesh: Mesh) -> None:
    item = consented(mesh)
    can = mesh.nodes["CAN"]
    mesh.down.add("USA")
    sent = can.exchange.release(mesh.analysts["CAN"], item, "USA")
    assert onward_link(originators_view(mesh, item))["state"] == "reported"
    can.exchange.cancel(mesh.officers["CAN"], sent["package"], "sent too early")
    mesh.settle()
    link = onward_link(originators_view(mesh, item))
    assert (link["state"], link["last_error"]) == ("cancelled", "sent too early")
    [told] = mesh.audited("CAN", "custody.onward_told")
    assert told["state"] == "cancelled"
    with can.engine.connect() as connection:  # told by the officer who cancelled it
        actors = connection.execute(
            select(audit_entries.c.actor).where(audit_entries.c.kind == "custody.onward_told")
        ).scalars()
        assert list(actors) == ["can-officer"]


def test_the_originators_own_release_tells_nobody(mesh: Mesh) -> None:
    """JPN's release to CAN is no onward release: settling it puts no notice in the outbox."""
    jpn = mesh.nodes["JPN"]
    jpn.exchange.release(mesh.analysts["JPN"], mesh.item(), "CAN")
    with jpn.engine.connect() as connection:
        kinds = connection.execute(select(outbox.c.kind)).scalars().all()
    assert kinds == [Kind.RELEASE.value]
    assert mesh.audited("JPN", "custody.onward_told") == []


def _told(mesh: Mesh, item: str, package: str, state: str | None) -> str:
    """CAN's notice of its release ``package`` of ``item`` to USA, in ``state`` (None: the
    notice of the release alone, as an older node sends it)."""
    body = {
        "item": item,
        "to": "USA",
        "package": package,
        "released_by": "can-analyst",
        "released_at": mesh.nodes["CAN"].audit.now(),
    }
    if state is not None:
        body |= {"state": state, "at": mesh.nodes["CAN"].audit.now()}
    return mesh.send("CAN", Kind.ONWARD, "JPN", body, item)


def test_a_state_told_again_is_a_replay_and_an_overtaken_one_changes_nothing(
    mesh: Mesh,
) -> None:
    item = consented(mesh)
    sent = mesh.nodes["CAN"].exchange.release(mesh.analysts["CAN"], item, "USA")
    mesh.settle()
    assert onward_link(originators_view(mesh, item))["state"] == "received"
    # a replay is answered as one held (the sender's retries are idempotent), and audited
    assert _told(mesh, item, sent["package"], "received") == "delivered"
    [replay] = [r for r in mesh.audited("JPN", "package.refused") if "told" in str(r)]
    assert replay["reason"] == "REPLAY"
    assert "told received before" in replay["detail"]
    assert len(mesh.audited("JPN", "custody.onward")) == 2
    assert _told(mesh, item, sent["package"], "delivered") == "delivered"  # arrived late
    assert onward_link(originators_view(mesh, item))["state"] == "received"
    [late] = [h for h in mesh.audited("JPN", "custody.onward") if h["state"] == "delivered"]
    assert late["kept"] == "received"


def test_an_outcome_of_a_release_another_custodian_told_is_refused(mesh: Mesh) -> None:
    """USA holds JPN's item too, but may not tell of CAN's release."""
    item = consented(mesh)
    sent = mesh.nodes["CAN"].exchange.release(mesh.analysts["CAN"], item, "USA")
    mesh.settle()
    body = {
        "item": item,
        "to": "CAN",
        "package": sent["package"],
        "released_by": "usa-analyst",
        "released_at": mesh.nodes["USA"].audit.now(),
        "state": "refused",
        "reason": "forged",
    }
    assert mesh.send("USA", Kind.ONWARD, "JPN", body, item) == "failed"
    assert onward_link(originators_view(mesh, item))["state"] == "received"


def test_the_outcome_over_rest(mesh: Mesh) -> None:
    item = consented(mesh)
    mesh.nodes["CAN"].exchange.release(mesh.analysts["CAN"], item, "USA")
    mesh.settle()
    with mesh.client("JPN", "jpn-analyst") as client:
        custody = client.get(f"/api/v1/items/{item}/custody")
        assert custody.status_code == 200, custody.text
        link = onward_link(custody.json())
        assert (link["state"], link["told_by"]) == ("received", "CAN")
        assert link["told_at"] is not None


def test_an_older_custodians_notice_without_a_state_reads_as_reported(mesh: Mesh) -> None:
    """A node that predates the outcomes tells of its release only (no state, reason or
    time): it is recorded as made, and stays so."""
    item = consented(mesh)
    assert _told(mesh, item, "an-older-release", None) == "delivered"
    link = onward_link(originators_view(mesh, item))
    assert (link["package"], link["state"], link["last_error"]) == (
        "an-older-release",
        "reported",
        None,
    )
    [heard] = mesh.audited("JPN", "custody.onward")
    assert (heard["state"], "reason" in heard) == ("reported", False)
