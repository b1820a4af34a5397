"""Hypothesis profiles: ``quick`` for ``make test`` (the default), ``thorough`` for
``make soak`` (``HYPOTHESIS_PROFILE=thorough``); see ``tests/budget.py``."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.budget import PROFILE, examples

settings.register_profile("quick", max_examples=examples(100))
settings.register_profile("thorough", max_examples=100)
settings.load_profile(PROFILE)


LONGEST_FIRST = (
    "tests/hostile/test_schemathesis.py",
    "tests/federation/test_faults.py",
    "tests/federation/test_bulk_faults.py",
    "tests/node/test_exhaustive.py",
    "tests/node/test_tampering.py",
    "tests/web/test_exchange.py",
    "tests/web/test_pages_clean.py",
    "tests/world/test_world_access.py",
    "tests/node/test_accounts_workers.py",
    "tests/test_bench_node.py",
    "tests/faults/test_crash_consistency.py",
    "tests/hostile/test_http_hostile.py",
    "tests/node/test_workers.py",
    "tests/taxii/test_stix_cli.py",
    "tests/web/test_visits_page.py",
    "tests/federation/test_gossip.py",
    "tests/test_bench_federation.py",
    "tests/node/test_bad_input.py",
    "tests/faults/test_many_hosts.py",
    "tests/federation/test_rotation.py",
    "tests/taxii/test_envelope_signature.py",
    "tests/test_bench_scale.py",
    "tests/cli/test_cli_demo.py",
)
"""The files that take longest, started first: ``make test`` gives each file to one of its
workers (``--dist loadfile``), and one of these started last would leave the others idle
while it runs."""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
