"""Three real nodes (JPN, CAN, USA) on loopback, each a `gsoia serve` process, peered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gsoia.federation.peers import fetch_identity
from gsoia.node.authority import OPERATOR, Action
from gsoia.node.users import Role
from tests.node.conftest import Database, RunningNode, database, make_node

__all__ = ["database", "pin", "restart", "serving"]


def pin(node: RunningNode, peer: RunningNode) -> None:
    """What `gsoia peer add` does, on ``node`` for ``peer`` (both must be running): fetch the
    peer's identity over HTTP and pin it, in this process (the command itself, a process
    of its own, is run by tests/attacks' ``_pin_with_cli``)."""
    opened = node.open()
    try:
        opened.require(OPERATOR, Action.PEERS_MANAGE)
        identity = fetch_identity(peer.url)
        assert identity.nation == peer.nation, identity
        opened.exchange.add_peer(identity)
    finally:
        opened.close()


@contextmanager
def serving(nodes: dict[str, RunningNode]) -> Iterator[dict[str, RunningNode]]:
    """``nodes`` served, each pinning every other; stopped at the end."""
    try:
        for node in nodes.values():
            node.start()
        for node in nodes.values():
            for peer in nodes.values():
                if peer is not node:
                    pin(node, peer)
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def restart(node: RunningNode) -> None:
    node.stop()
    node.start()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningNode]]:
    """JPN, CAN and USA nodes on SQLite, with officers and analysts, all peered.

    Shared by the tests of a module: each test works on items of its own.
    """
    tmp_path = tmp_path_factory.mktemp("nodes")
    sqlite = Database("sqlite", None)
    running = {n: make_node(tmp_path, sqlite, n) for n in ("JPN", "CAN", "USA")}
    for nation, node in running.items():
        node.add_user(
            f"{nation.lower()}-officer", nation, _top(nation), ["maritime"], role=Role.OFFICER
        )
    running["JPN"].add_user("jpn-analyst", "JPN", "KIMITSU", ["maritime"])
    running["CAN"].add_user("can-secret", "CAN", "S", ["maritime"])
    running["CAN"].add_user("can-confidential", "CAN", "C", ["maritime"])
    running["USA"].add_user("usa-secret", "USA", "S", ["maritime"])
    with serving(running):
        yield running


def _top(nation: str) -> str:
    return {"JPN": "KIMITSU", "CAN": "TS", "USA": "TS"}[nation]
