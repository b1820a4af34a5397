"""Japan's node releases to Canada's; nothing reaches the USA without Japan's consent."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from gsoia.crypto.keys import PublicKeys
from gsoia.federation.peers import Peer
from gsoia.node.exchange import peers as exchange_peers
from tests import loopback
from tests.federation.conftest import RunningNode

LABEL = {
    "originator": "JPN",
    "classification": "GOKUHI",
    "area": "maritime",
    "releasable_to": ["CAN", "USA"],
    "need_to_know": ["maritime"],
}


def create(jpn: RunningNode, title: str = "Patrol report", label: dict | None = None) -> str:
    with jpn.client("jpn-analyst") as client:
        response = client.post(
            "/api/v1/items", json={"label": label or LABEL, "title": title, "content": "東シナ海"}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def wait_for(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_release_read_at_the_equivalent_level(nodes: dict[str, RunningNode]) -> None:
    jpn, can = nodes["JPN"], nodes["CAN"]
    item = create(jpn)
    with jpn.client("jpn-analyst") as client:
        released = client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"})
    assert released.status_code == 201, released.text
    assert released.json()["state"] == "delivered"
    assert released.json()["decision"]["marking"]["text"] == "CAN SECRET // JPN 極秘 // JPN-CAN"

    with can.client("can-secret") as client:
        read = client.get(f"/api/v1/items/{item}")
        assert read.status_code == 200, read.text
        assert read.json()["content"] == "東シナ海"
        assert read.json()["marking"]["text"] == "CAN SECRET // JPN 極秘 // JPN-CAN"
        assert read.json()["custodian"] == "CAN"
        assert read.json()["label"]["classification"] == "GOKUHI"  # the original, kept
    with can.client("can-confidential") as client:
        refused = client.get(f"/api/v1/items/{item}")
        assert refused.status_code == 403
        assert refused.json()["reason"] == "CLEARANCE"


def test_third_party_release_needs_the_originators_consent(
    nodes: dict[str, RunningNode],
) -> None:
    item = passed_on_to_usa(nodes)
    with nodes["USA"].client("usa-secret") as client:
        read = client.get(f"/api/v1/items/{item}")
        assert read.status_code == 200, read.text
        assert read.json()["marking"]["text"] == "USA SECRET // JPN 極秘 // JPN-USA"


def passed_on_to_usa(nodes: dict[str, RunningNode]) -> str:
    """A JPN item released to CAN, and by CAN to USA with JPN's consent: its id."""
    jpn, can = nodes["JPN"], nodes["CAN"]
    item = create(jpn)
    with jpn.client("jpn-analyst") as client:
        assert client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"}).status_code == 201
    with can.client("can-secret") as client:
        refused = client.post(f"/api/v1/items/{item}/releases", json={"to": "USA"})
        assert refused.status_code == 403
        assert refused.json()["reason"] == "THIRD_PARTY"
        asked = client.post(f"/api/v1/items/{item}/consent-requests", json={"to": "USA"})
        assert asked.status_code == 201, asked.text
        assert asked.json()["state"] == "delivered"
    with jpn.client("jpn-officer") as client:
        queue = [r for r in client.get("/api/v1/consent-requests").json() if r["item_id"] == item]
        assert [(r["custodian"], r["to_party"], r["state"]) for r in queue] == [
            ("CAN", "USA", "pending")
        ]
        granted = client.post(f"/api/v1/consent-requests/{queue[0]['id']}", json={"grant": True})
        assert granted.status_code == 200, granted.text
        assert granted.json()["notified"][0]["state"] == "delivered"
    with can.client("can-secret") as client:
        released = client.post(f"/api/v1/items/{item}/releases", json={"to": "USA"})
        assert released.status_code == 201, released.text
        assert released.json()["state"] == "delivered"
    return item


def test_incident_notice_reaches_the_originators_officers(nodes: dict[str, RunningNode]) -> None:
    jpn, can = nodes["JPN"], nodes["CAN"]
    item = create(jpn)
    with jpn.client("jpn-analyst") as client:
        client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"})
    with can.client("can-secret") as client:
        reported = client.post(
            "/api/v1/incidents", json={"item": item, "kind": "compromise", "description": "laptop"}
        )
        assert reported.status_code == 201, reported.text
    with jpn.client("jpn-officer") as client:

        def arrived() -> bool:
            return any(i["item_id"] == item for i in client.get("/api/v1/incidents").json())

        wait_for(arrived)
    with can.client("can-officer") as client:

        def notified() -> bool:
            return all(i["notified_at"] for i in client.get("/api/v1/incidents").json())

        wait_for(notified)


def test_downgrade_travels_to_every_custodian(nodes: dict[str, RunningNode]) -> None:
    jpn, can = nodes["JPN"], nodes["CAN"]
    item = create(jpn)
    with jpn.client("jpn-analyst") as client:
        client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"})
    with jpn.client("jpn-officer") as client:
        changed = client.post(f"/api/v1/items/{item}/classification", json={"classification": "HI"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["custodians"] == ["CAN"]
    with can.client("can-confidential") as client:

        def remarked() -> bool:
            response = client.get(f"/api/v1/items/{item}")
            return response.status_code == 200 and response.json()["marking"]["text"] == (
                "CAN CONFIDENTIAL // JPN 秘 // JPN-CAN"
            )

        wait_for(remarked)


def test_a_reclassification_reaches_the_third_parties_consented_to(
    nodes: dict[str, RunningNode],
) -> None:
    """JPN's downgrade reaches CAN, which it released to, and USA, to which it consented
    CAN pass the item on: both copies re-marked (Art. 6(g): every custodian is told)."""
    item = passed_on_to_usa(nodes)
    with nodes["JPN"].client("jpn-officer") as client:
        changed = client.post(f"/api/v1/items/{item}/classification", json={"classification": "HI"})
        assert changed.status_code == 200, changed.text
        told = changed.json()
        assert (told["custodians"], told["third_parties"], told["not_pinned"]) == (
            ["CAN"],
            ["USA"],
            [],
        )
    for node, user, marking in (
        (nodes["CAN"], "can-secret", "CAN CONFIDENTIAL // JPN 秘 // JPN-CAN"),
        (nodes["USA"], "usa-secret", "USA CONFIDENTIAL // JPN 秘 // JPN-USA"),
    ):
        with node.client(user) as client:

            def remarked(client: httpx.Client = client, marking: str = marking) -> bool:
                response = client.get(f"/api/v1/items/{item}")
                return response.status_code == 200 and response.json()["marking"]["text"] == (
                    marking
                )

            wait_for(remarked)


def test_a_third_party_that_is_no_peer_is_named_not_told(nodes: dict[str, RunningNode]) -> None:
    """A consent to a nation that is not a pinned peer: the reclassification is made and
    told to the custodians, and that third party is named as not told, in the answer and
    the audit entry."""
    jpn = nodes["JPN"]
    item = create(jpn)
    with jpn.client("jpn-analyst") as client:
        assert client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"}).status_code == 201
    with jpn.client("jpn-officer") as client:
        consented = client.post(f"/api/v1/items/{item}/consents", json={"to": "AUS"})
        assert consented.status_code == 201, consented.text
        changed = client.post(f"/api/v1/items/{item}/classification", json={"classification": "HI"})
        assert changed.status_code == 200, changed.text
        told = changed.json()
        assert (told["custodians"], told["third_parties"], told["not_pinned"]) == (
            ["CAN"],
            [],
            ["AUS"],
        )
        size = client.get("/api/v1/audit", params={"limit": 1}).json()["head"]["size"]
        got = client.get("/api/v1/audit", params={"after": max(-1, size - 20)})
        assert got.status_code == 200, got.text
        latest = got.json()["entries"]
    [entry] = [e for e in latest if e["kind"] == "item.reclassified" and e["data"]["item"] == item]
    assert entry["data"]["not_pinned"] == ["AUS"]


def test_well_known_publishes_the_keys(nodes: dict[str, RunningNode]) -> None:
    identity = loopback.get(f"{nodes['JPN'].url}/.well-known/gsoia").json()
    assert identity["nation"] == "JPN"
    assert set(identity["keys"]) == {"signing", "sealing"}
    # both inboxes: one package a post, and up to 1,000 in one (the courier's batches)
    assert identity["inbox"] == "/federation/v1/inbox"
    assert identity["inbox_batch"] == "/federation/v1/inbox/batch"


def test_a_peer_pinned_while_the_node_runs_is_listed(nodes: dict[str, RunningNode]) -> None:
    """``gsoia peer add`` is another process: the running node lists what it pinned (and
    a pin it changed) without a restart."""
    jpn = nodes["JPN"]
    keys = PublicKeys(os.urandom(32), os.urandom(32))

    def listed() -> dict[str, str]:
        with jpn.client("jpn-officer") as client:
            response = client.get("/api/v1/peers")
        assert response.status_code == 200, response.text
        return {peer["nation"]: peer["url"] for peer in response.json()}

    assert {"CAN", "USA"} <= set(listed())
    cli = jpn.open()
    try:
        cli.exchange.add_peer(Peer("GBR", "http://127.0.0.1:9/", keys))
        assert listed()["GBR"] == "http://127.0.0.1:9/"
        cli.exchange.add_peer(Peer("GBR", "http://127.0.0.1:7/", keys))
        assert listed()["GBR"] == "http://127.0.0.1:7/"
    finally:
        cli.close()


def test_a_peer_repinned_by_another_process_is_used_once_fresh(
    nodes: dict[str, RunningNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node sends with the peers as last read: a pin made or changed by another
    process (``gsoia peer add``) is used within ``PEERS_FRESH`` seconds, not at restart."""
    jpn = nodes["JPN"]
    served, cli = jpn.open(), jpn.open()
    keys = PublicKeys(os.urandom(32), os.urandom(32))
    try:
        assert served.exchange.known_peer("ITA") is None
        cli.exchange.add_peer(Peer("ITA", "http://127.0.0.1:9/", keys))
        assert served.exchange.known_peer("ITA") == Peer("ITA", "http://127.0.0.1:9/", keys)
        cli.exchange.add_peer(Peer("ITA", "http://127.0.0.1:7/", keys))
        monkeypatch.setattr(exchange_peers, "PEERS_FRESH", 3600.0)  # read moments ago
        assert served.exchange.known_peer("ITA") == Peer("ITA", "http://127.0.0.1:9/", keys)
        monkeypatch.setattr(exchange_peers, "PEERS_FRESH", 0.0)  # as when they have aged
        assert served.exchange.known_peer("ITA") == Peer("ITA", "http://127.0.0.1:7/", keys)
    finally:
        served.close()
        cli.close()
