"""Japan's node rotates its keys (`gsoia keys rotate`); Canada and the USA learn the new ones
from a package Japan's old key signed. Real nodes, real processes."""

from __future__ import annotations

import datetime as dt
import json
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import Engine, select

from gsoia.crypto.keys import RETIRING_FILE, NodeKeys
from gsoia.federation.packages import Kind, make_package
from gsoia.node.config import KEYS_DIR, NodeConfig
from gsoia.store.database import open_engine
from gsoia.store.schema import audit_entries, outbox, retired_keys
from tests import loopback
from tests.federation.conftest import RunningNode
from tests.federation.test_exchange import create, wait_for
from tests.node.conftest import GSOIA


def gsoia(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GSOIA, *args], capture_output=True, text=True, timeout=120, check=False)


def serve(node: RunningNode, port: int) -> None:
    """Start ``node`` again on ``port``: its peers pinned that address."""
    args = [GSOIA, "serve", "--data", str(node.data), "--port", str(port)]
    node.port = port
    with open(node.data / "serve.log", "ab") as log:
        node.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert node.process.poll() is None, (node.data / "serve.log").read_text()
        try:
            if loopback.get(f"{node.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the node did not start again")


@contextmanager
def store(node: RunningNode) -> Iterator[Engine]:
    engine = open_engine(NodeConfig.default_database(node.data))
    try:
        yield engine
    finally:
        engine.dispose()


def published(node: RunningNode) -> str:
    with node.client() as client:
        return str(client.get("/.well-known/gsoia").json()["fingerprint"])


def pinned(node: RunningNode, nation: str) -> str:
    with node.client(f"{node.nation.lower()}-officer") as client:
        [peer] = [p for p in client.get("/api/v1/peers").json() if p["nation"] == nation]
    return str(peer["fingerprint"])


def release(node: RunningNode, user: str, item: str, to: str) -> dict[str, object]:
    with node.client(user) as client:
        response = client.post(f"/api/v1/items/{item}/releases", json={"to": to})
    assert response.status_code == 201, response.text
    return dict(response.json())


def readable(node: RunningNode, user: str, item: str) -> bool:
    with node.client(user) as client:
        return client.get(f"/api/v1/items/{item}").status_code == 200


def test_japan_rotates_and_its_peers_learn_the_new_keys(nodes: dict[str, RunningNode]) -> None:
    jpn, can, usa = nodes["JPN"], nodes["CAN"], nodes["USA"]
    before = create(jpn, "Written under the old key")
    assert release(jpn, "jpn-analyst", before, "CAN")["state"] == "delivered"
    old_fingerprint = published(jpn)
    old_keys = NodeKeys.load(jpn.data / KEYS_DIR)
    port = jpn.port

    jpn.stop()
    rotated = gsoia("keys", "rotate", "--data", str(jpn.data))
    assert rotated.returncode == 0, rotated.stderr
    assert f"old fingerprint: {old_fingerprint}" in rotated.stdout
    new_fingerprint = rotated.stdout.split("new fingerprint: ")[1].split()[0]
    assert new_fingerprint != old_fingerprint
    assert "CAN: delivered" in rotated.stderr
    assert "USA: delivered" in rotated.stderr
    keys_dir = jpn.data / KEYS_DIR
    for name in ("signing.key", "sealing.key", "storage.key"):
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600
    assert not (keys_dir / RETIRING_FILE).exists()  # every peer took its notice
    assert not (keys_dir / "next").exists()

    # the peers pin the new keys, and keep the old ones
    assert pinned(can, "JPN") == new_fingerprint
    assert pinned(usa, "JPN") == new_fingerprint
    with store(can) as engine, engine.connect() as connection:
        kept = connection.execute(select(retired_keys).where(retired_keys.c.nation == "JPN")).one()
    assert bytes(kept.signing_key) == old_keys.public().signing

    serve(jpn, port)
    assert published(jpn) == new_fingerprint
    assert readable(jpn, "jpn-analyst", before)  # its custody signature was made again

    # a release after the rotation: signed and sealed with the new key, accepted
    after = create(jpn, "Written under the new key")
    assert release(jpn, "jpn-analyst", after, "CAN")["state"] == "delivered"
    assert readable(can, "can-secret", after)
    # an item sealed with the old key, released now: its seal still verifies
    assert release(jpn, "jpn-analyst", before, "USA")["state"] == "delivered"
    assert readable(usa, "usa-secret", before)

    # a package signed with Japan's old key, after the rotation: refused by Canada
    stale = make_package(
        old_keys.signing,
        Kind.INCIDENT,
        "JPN",
        "CAN",
        {"incident": "x", "item": before},
        dt.datetime.now(dt.UTC),
    )
    with loopback.client(base_url=can.url, timeout=30) as client:
        refused = client.post("/federation/v1/inbox", content=json.dumps(stale).encode())
    assert refused.status_code == 403, refused.text
    assert refused.json()["reason"] == "BAD_SIGNATURE"

    # both audit logs verify, across the rotation
    for node in (jpn, can, usa):
        verified = gsoia("audit", "verify", "--data", str(node.data))
        assert verified.returncode == 0, verified.stderr
    with store(jpn) as engine, engine.connect() as connection:
        kinds = list(connection.execute(select(audit_entries.c.kind)).scalars())
    assert kinds.count("keys.rotated") == 1
    with store(can) as engine, engine.connect() as connection:
        kinds = list(connection.execute(select(audit_entries.c.kind)).scalars())
    assert kinds.count("peer.rotated") == 1

    # a restart keeps the new keys
    jpn.stop()
    serve(jpn, port)
    assert published(jpn) == new_fingerprint
    again = create(jpn, "After a restart")
    assert release(jpn, "jpn-analyst", again, "CAN")["state"] == "delivered"


def test_a_peer_down_learns_the_rotation_when_it_returns(nodes: dict[str, RunningNode]) -> None:
    """The USA is down while Japan rotates: its notice waits in Japan's outbox, with the
    old key kept to sign it; Japan runs on its new keys meanwhile; once the USA is back,
    it learns the new keys first, then takes a release signed by them."""
    jpn, can, usa = nodes["JPN"], nodes["CAN"], nodes["USA"]
    jpn_port, usa_port = jpn.port, usa.port
    usa.stop()
    jpn.stop()
    rotated = gsoia("keys", "rotate", "--data", str(jpn.data))
    assert rotated.returncode == 0, rotated.stderr
    new_fingerprint = rotated.stdout.split("new fingerprint: ")[1].split()[0]
    assert "CAN: delivered" in rotated.stderr
    assert "USA: pending" in rotated.stderr
    assert (jpn.data / KEYS_DIR / RETIRING_FILE).exists()
    again = gsoia("keys", "rotate", "--data", str(jpn.data))
    assert again.returncode == 1
    assert "still being announced to USA" in again.stderr

    serve(jpn, jpn_port)
    assert published(jpn) == new_fingerprint
    item = create(jpn, "For the USA, after the rotation")
    queued = release(jpn, "jpn-analyst", item, "USA")
    assert queued["state"] == "pending"

    serve(usa, usa_port)
    wait_for(lambda: readable(usa, "usa-secret", item), timeout=60)
    assert pinned(usa, "JPN") == new_fingerprint
    with store(jpn) as engine, engine.connect() as connection:
        states = dict(
            connection.execute(
                select(outbox.c.kind, outbox.c.state).where(outbox.c.peer == "USA")
            ).all()
        )
    assert states[Kind.ROTATION.value] == "delivered"
    wait_for(lambda: not (jpn.data / KEYS_DIR / RETIRING_FILE).exists())
    assert pinned(can, "JPN") == new_fingerprint
    for node in (jpn, usa):
        verified = gsoia("audit", "verify", "--data", str(node.data))
        assert verified.returncode == 0, verified.stderr
