"""One generated world per module: five peered ``gsoia serve`` processes, 50 users, items.

``GSOIA_WORLD_ITEMS`` sets the number of items (default 2,000) and ``GSOIA_WORLD_READS``
the share of (user, copy) pairs read one by one (default 4 %): a soak run is, e.g.,
``GSOIA_WORLD_ITEMS=20000 GSOIA_WORLD_READS=0.2 pytest tests/world``. The United
Kingdom's node keeps its data in PostgreSQL (a fresh schema), the others in SQLite.
The time spent per phase is printed when the module ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.node.conftest import PG_SERVER, Database, RunningNode
from tests.world.build import Timings, World, build, close_clients, make_world_node
from tests.world.world import ITEMS, NATIONS, READS, people, plan_items

FIRST_RELEASES = 0.3
"""Share of the items their originator tries to release (to one or more nations)."""
SECOND_RELEASES = max(20, ITEMS // 100)
"""Copies a partner tries to pass on to a third nation."""
POSTGRES = "GBR"


@pytest.fixture(scope="module")
def timings(request: pytest.FixtureRequest) -> Iterator[Timings]:
    found = Timings()
    yield found
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(f"world of {ITEMS} items, reads {READS:.0%}: time per phase")
        for line in found.lines() + found.notes:
            reporter.write_line(f"  {line}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, timings: Timings) -> Iterator[World]:
    """The five nodes built, peered, filled and released across; stopped at the end."""
    tmp_path = tmp_path_factory.mktemp("world")
    schema = f"gsoia_w_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    postgres = Database("postgresql", f"{PG_SERVER}?options=-csearch_path%3D{schema}", schema)
    sqlite = Database("sqlite", None)
    nodes: dict[str, RunningNode] = {}
    try:
        with timings.phase("init 5 nodes"):
            for nation in NATIONS:
                nodes[nation] = make_world_node(
                    tmp_path, postgres if nation == POSTGRES else sqlite, nation
                )
        yield build(nodes, people(), plan_items(ITEMS), FIRST_RELEASES, SECOND_RELEASES, timings)
    finally:
        close_clients()
        for node in nodes.values():
            node.stop()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
