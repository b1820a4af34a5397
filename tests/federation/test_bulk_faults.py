"""Faults around bulk releases: the packages of a bulk release wait in the outbox like any
others (a peer down, a node restarted, a key rotation not yet announced), and the courier
delivers what is due for a peer together once it can, each package stored once.

Each test has its own JPN and CAN nodes (``pair`` of ``test_faults``; JPN on SQLite, and
on PostgreSQL too where it says so), which it stops and starts again.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from gsoia.federation.packages import Kind
from gsoia.node.users import Role
from gsoia.store.schema import audit_entries, outbox
from tests.federation.conftest import pin
from tests.federation.test_faults import (
    add_users,
    assert_read_by_the_canadian_analyst,
    assert_stored_once,
    audit_verify,
    audited,
    create,
    pair,  # noqa: F401 (the fixture)
    postgres_schema,
    serve,
    store,
    wait_for,
)
from tests.federation.test_rotation import gsoia
from tests.node.conftest import Database, RunningNode, make_node


def bulk(jpn: RunningNode, items: list[str]) -> list[dict[str, Any]]:
    with jpn.client("jpn-analyst") as client:
        response = client.post("/api/v1/releases", json={"to": "CAN", "items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all(r["released"] for r in results), results
    return list(results)


def states(jpn: RunningNode) -> dict[str, str]:
    with store(jpn) as engine, engine.connect() as connection:
        return dict(connection.execute(select(outbox.c.package_id, outbox.c.state)).all())


@pytest.mark.parametrize("pair", ["sqlite", "postgresql"], indirect=True)
def test_a_bulk_release_to_a_peer_down_is_delivered_after_both_restart(
    pair: tuple[RunningNode, RunningNode],  # noqa: F811
) -> None:
    jpn, can = pair
    items = create(jpn, 5)
    can_port = can.port
    can.stop()

    results = bulk(jpn, items)
    assert {r["state"] for r in results} == {"pending"}
    assert all("unreachable" in r["detail"] for r in results)
    packages = [r["package"] for r in results]
    jpn.stop()  # the outbox survives a restart
    jpn.start()
    serve(can, can_port)
    wait_for(lambda: set(states(jpn).values()) == {"delivered"}, 60, "delivery after the restarts")
    for n, (item, package) in enumerate(zip(items, packages, strict=True)):
        assert_stored_once(can, item, package)
        assert_read_by_the_canadian_analyst(can, item, f"東シナ海 {n}")
    with store(jpn) as engine:
        delivered = Counter(d["package"] for d in audited(engine, "package.delivered"))
    assert delivered == Counter(packages)
    for node in (jpn, can):
        verified = audit_verify(node)
        assert verified.returncode == 0, verified.stderr


def test_a_bulk_release_waits_for_the_key_rotation_notice(
    pair: tuple[RunningNode, RunningNode],  # noqa: F811
) -> None:
    """Japan rotates while Canada is down: the releases that follow are held until
    Canada has the notice; then they go, signed by the new key, and are stored."""
    jpn, can = pair
    items = create(jpn, 3)
    jpn_port, can_port = jpn.port, can.port
    can.stop()
    jpn.stop()
    rotated = gsoia("keys", "rotate", "--data", str(jpn.data))
    assert rotated.returncode == 0, rotated.stderr
    assert "CAN: pending" in rotated.stderr
    new_fingerprint = rotated.stdout.split("new fingerprint: ")[1].split()[0]
    serve(jpn, jpn_port)

    results = bulk(jpn, items)
    assert {r["state"] for r in results} == {"pending"}
    assert {r["detail"] for r in results} == {"waits for the key rotation notice"}
    serve(can, can_port)
    wait_for(lambda: set(states(jpn).values()) == {"delivered"}, 60, "delivery after rotation")

    with can.client("can-officer") as client:
        [peer] = [p for p in client.get("/api/v1/peers").json() if p["nation"] == "JPN"]
    assert peer["fingerprint"] == new_fingerprint
    for item, result in zip(items, results, strict=True):
        assert_stored_once(can, item, result["package"])
    with store(can) as engine, engine.connect() as connection:
        kinds = [
            (kind, actor)
            for kind, actor in connection.execute(
                select(audit_entries.c.kind, audit_entries.c.actor).order_by(audit_entries.c.seq)
            )
            if actor == "JPN"
        ]
    # the notice first, then the releases it announced the key of
    assert kinds[-4:] == [("peer.rotated", "JPN")] + [("package.received", "JPN")] * 3
    with store(jpn) as engine, engine.connect() as connection:
        rotation = connection.execute(
            select(outbox.c.state).where(outbox.c.kind == Kind.ROTATION.value)
        ).scalar_one()
    assert rotation == "delivered"
    for node in (jpn, can):
        verified = audit_verify(node)
        assert verified.returncode == 0, verified.stderr


def test_a_bulk_release_to_a_node_on_postgresql(tmp_path: Path) -> None:
    """Canada's node keeps its data in PostgreSQL: its batch inbox stores each package of
    a bulk release once, with its audit entries; the same packages sent again are refused
    as replays, and stored nothing new."""
    with postgres_schema() as database:
        jpn = make_node(tmp_path, Database("sqlite", None), "JPN")
        can = make_node(tmp_path, database, "CAN")
        try:
            add_users(jpn, "KIMITSU", [("jpn-analyst", "KIMITSU", Role.ANALYST)])
            add_users(can, "TS", [("can-secret", "S", Role.ANALYST)])
            jpn.start()
            can.start()
            pin(jpn, can)
            pin(can, jpn)
            items = create(jpn, 12)
            results = bulk(jpn, items)
            assert [r["state"] for r in results] == ["delivered"] * 12
            packages = [r["package"] for r in results]
            # sent again (the outbox set back to pending): the courier's loop posts them
            # together again; each is refused as a replay and counts as delivered
            with store(jpn) as engine, engine.begin() as connection:
                now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
                connection.execute(
                    update(outbox)
                    .where(outbox.c.package_id.in_(packages))
                    .values(state="pending", next_attempt_at=now, delivered_at=None)
                )
            wait_for(lambda: set(states(jpn).values()) == {"delivered"}, 30, "the resend")
            for n, (item, package) in enumerate(zip(items, packages, strict=True)):
                assert_stored_once(can, item, package)
                if n % 4 == 0:
                    assert_read_by_the_canadian_analyst(can, item, f"東シナ海 {n}")
            with store(can) as engine:
                replays = [d["package"] for d in audited(engine, "package.refused")]
            assert sorted(replays) == sorted(packages)
            for node in (jpn, can):
                verified = audit_verify(node)
                assert verified.returncode == 0, verified.stderr
        finally:
            jpn.stop()
            can.stop()
