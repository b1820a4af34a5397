"""A refusal seen from both sides: a real Canadian node whose keys Japan did not pin.

Japan's node pinned the simulated Canadian node's keys (``conftest``); a real ``gsoia
serve`` node of Canada, with keys of its own, releases to Japan. Japan refuses the package
(its signature is not by the pinned key) and stores nothing; Canada's node records the
refusal in its outbox and its audit log, and does not retry (the same package would be
refused again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from gsoia.federation.packages import Rejection
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries
from tests.attacks.conftest import CAN_SOURCE, Receiver, assert_counted
from tests.federation.conftest import pin
from tests.node.conftest import Database, RunningNode, make_node


@pytest.fixture(scope="module")
def real_can(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    node = make_node(tmp_path_factory.mktemp("sender"), Database("sqlite", None), "CAN")
    try:
        node.add_user("can-analyst", "CAN", "TS", ["maritime"])
        node.add_user("can-officer", "CAN", "TS", role=Role.OFFICER)
        node.start()
        pin(node, receiver.node)
        yield node
    finally:
        node.stop()


def test_refused_delivery_is_recorded_on_both_sides(
    receiver: Receiver, real_can: RunningNode
) -> None:
    label = {
        "originator": "CAN",
        "classification": "S",
        "area": "maritime",
        "releasable_to": ["JPN"],
        "need_to_know": [],
    }
    with real_can.client("can-analyst") as client:
        created = client.post(
            "/api/v1/items", json={"label": label, "title": "Arctic patrol", "content": "ice"}
        )
        assert created.status_code == 201, created.text
        item_id = created.json()["id"]
        receiver.settled()  # an earlier test's delivery or receipt, late, is not this one's
        before = receiver.snapshot()
        released = client.post(f"/api/v1/items/{item_id}/releases", json={"to": "JPN"})
    assert released.status_code == 201, released.text
    package_id = released.json()["package"]
    assert released.json()["state"] == "failed"
    assert released.json()["detail"].startswith("BAD_SIGNATURE"), released.json()

    # the receiver: nothing stored, the refusal counted (no pinned key signed it)
    after = receiver.snapshot()
    assert [t for t in before.rows if before.rows[t] != after.rows[t]] == []
    assert_counted(receiver.audit_since(before), Rejection.BAD_SIGNATURE, [package_id], CAN_SOURCE)

    # the sender: the outbox says why, the audit log too, and no retry follows
    time.sleep(1.5)  # three rounds of the courier's loop
    with real_can.client("can-officer") as client:
        outbox = client.get("/api/v1/outbox")
    assert outbox.status_code == 200, outbox.text
    (row,) = [r for r in outbox.json() if r["package_id"] == package_id]
    assert (row["state"], row["attempts"], row["peer"]) == ("failed", 1, "JPN")
    assert row["last_error"].startswith("BAD_SIGNATURE")
    sender = real_can.open()
    try:
        with sender.engine.connect() as connection:
            kinds = [
                (r.kind, r.body)
                for r in connection.execute(select(audit_entries).order_by(audit_entries.c.seq))
            ]
        refused = [body for kind, body in kinds if kind == "package.refused_by_peer"]
        assert len(refused) == 1
        assert package_id in refused[0]
        assert "BAD_SIGNATURE" in refused[0]
        sender.verify_audit()
    finally:
        sender.close()
