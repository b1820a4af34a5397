"""TAXII tests run the OASIS ``taxii2-client`` against real ``gsoia serve`` processes, on
SQLite and on PostgreSQL (the fixtures of ``tests/node/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.node.conftest import Database, RunningNode, database, jpn
from tests.taxii.support import USERS

__all__ = ["Database", "RunningNode", "database", "jpn"]


@pytest.fixture
def taxii_node(jpn: RunningNode) -> RunningNode:
    """A started Japanese node with users of three nations (``support.USERS``)."""
    for user_id, (nation, clearance, topics) in USERS.items():
        jpn.add_user(user_id, nation, clearance, topics)
    jpn.start()
    return jpn
