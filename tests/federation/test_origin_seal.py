"""Japan's seal travels with Japan's item: Japan → Canada → (with consent) the USA.

Real nodes: the USA checks the seal with Japan's pinned key, though Canada sent the item;
each node keeps the very seal Japan made; a reclassification by Japan brings a new seal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select

from gsoia.crypto.signing import digest, origin_message, verify
from gsoia.node.config import NodeConfig
from gsoia.node.origin import origin_fields
from gsoia.store.database import open_engine
from gsoia.store.schema import items
from tests.federation.conftest import RunningNode
from tests.federation.test_exchange import create, wait_for


@contextmanager
def store(node: RunningNode) -> Iterator[Engine]:
    engine = open_engine(node.database.url or NodeConfig.default_database(node.data))
    try:
        yield engine
    finally:
        engine.dispose()


def held(node: RunningNode, item_id: str) -> dict[str, object] | None:
    with store(node) as engine, engine.connect() as connection:
        row = connection.execute(select(items).where(items.c.id == item_id)).first()
    return dict(row._mapping) if row is not None else None


def identity_key(node: RunningNode) -> bytes:
    with node.client() as client:
        document = client.get("/.well-known/gsoia").json()
    from gsoia.crypto.keys import PublicKeys

    return PublicKeys.from_dict(document["keys"]).signing


def test_the_seal_travels_unchanged_to_a_third_party(nodes: dict[str, RunningNode]) -> None:
    jpn, can, usa = nodes["JPN"], nodes["CAN"], nodes["USA"]
    item = create(jpn, "Sealed patrol report")
    with jpn.client("jpn-analyst") as client:
        assert client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"}).status_code == 201
    with can.client("can-secret") as client:
        asked = client.post(f"/api/v1/items/{item}/consent-requests", json={"to": "USA"})
        assert asked.status_code == 201, asked.text
    with jpn.client("jpn-officer") as client:
        [request] = [
            r for r in client.get("/api/v1/consent-requests").json() if r["item_id"] == item
        ]
        granted = client.post(f"/api/v1/consent-requests/{request['id']}", json={"grant": True})
        assert granted.status_code == 200, granted.text
    wait_for(lambda: "USA" in str((held(can, item) or {}).get("consented_to")))
    with can.client("can-secret") as client:
        passed = client.post(f"/api/v1/items/{item}/releases", json={"to": "USA"})
        assert passed.status_code == 201, passed.text
        assert passed.json()["state"] == "delivered", passed.json()
    with usa.client("usa-secret") as client:
        read = client.get(f"/api/v1/items/{item}")
        assert read.status_code == 200, read.text
        content = read.json()["content"].encode()

    original, at_can, at_usa = held(jpn, item), held(can, item), held(usa, item)
    assert original is not None
    assert at_can is not None
    assert at_usa is not None
    assert (at_can["sender"], at_usa["sender"]) == ("JPN", "CAN")
    seal = original["origin_seal"]
    assert isinstance(seal, bytes)
    assert at_can["origin_seal"] == seal
    assert at_usa["origin_seal"] == seal
    # Japan's key made it (the key Japan publishes), over the item and its plaintext
    verify(identity_key(jpn), origin_message(origin_fields(at_usa), digest(content)), seal)


def test_a_reclassification_brings_a_new_seal(nodes: dict[str, RunningNode]) -> None:
    jpn, can = nodes["JPN"], nodes["CAN"]
    item = create(jpn, "To be downgraded")
    with jpn.client("jpn-analyst") as client:
        assert client.post(f"/api/v1/items/{item}/releases", json={"to": "CAN"}).status_code == 201
    before = held(can, item)
    assert before is not None
    with jpn.client("jpn-officer") as client:
        changed = client.post(f"/api/v1/items/{item}/classification", json={"classification": "HI"})
        assert changed.status_code == 200, changed.text
    wait_for(lambda: (held(can, item) or {}).get("classification") == "HI")
    original, copy = held(jpn, item), held(can, item)
    assert original is not None
    assert copy is not None
    assert copy["origin_seal"] == original["origin_seal"] != before["origin_seal"]
    with can.client("can-secret") as client:
        read = client.get(f"/api/v1/items/{item}")
        assert read.status_code == 200, read.text
        content = read.json()["content"].encode()
    seal = copy["origin_seal"]
    assert isinstance(seal, bytes)
    verify(identity_key(jpn), origin_message(origin_fields(copy), digest(content)), seal)
