"""The web outbox lists a release delivered without a verified receipt with the packages
that wait (it is posted again for its receipt), its state said plainly, and offers no
cancelling of it (it is delivered); once its receipt verifies, it is listed as delivered.

Japan's node (SQLite or PostgreSQL) releases to Canada's, both in process
(``tests.federation.test_receipts``); Canada's answer loses its receipt.
"""

from __future__ import annotations

import re

import httpx

from gsoia.api.app import create_app
from gsoia.federation.courier import State
from gsoia.node.users import Role
from tests import loopback
from tests.federation.test_receipts import Pair, database, pair

__all__ = ["database", "pair"]

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def outbox_page(pair: Pair, token: str) -> tuple[str, str]:
    """The outbox page as Japan's officer (``token``) reads it: its waiting and its done
    sections."""
    transport = loopback.InProcess(create_app(pair.jpn))
    with httpx.Client(base_url="http://jpn.test", transport=transport) as web:
        match = CSRF.search(web.get("/web/sign-in").text)
        assert match
        signed = web.post("/web/sign-in", data={"csrf": match.group(1), "token": token})
        assert signed.status_code == 303, signed.text
        page = web.get("/web/outbox")
    assert page.status_code == 200, page.text
    waiting, done = page.text.split('id="done-heading"')
    return waiting, done


def row_of(section: str, package: str) -> str | None:
    found = re.search(rf'<tr data-package="{package}".*?</tr>', section, re.S)
    return None if found is None else found.group(0)


def test_an_unacknowledged_release_waits_with_the_pending(pair: Pair) -> None:
    _, token = pair.jpn.add_user("jpn-officer", "JPN", clearance="KIMITSU", role=Role.OFFICER)
    [item] = pair.items(1)
    pair.wire.tamper = lambda receipt: None  # Canada's answer carries no receipt
    released = pair.release(item)
    assert released["state"] == State.UNACKNOWLEDGED, released
    package = released["package"]

    waiting, done = outbox_page(pair, token)
    row = row_of(waiting, package)
    assert row is not None, waiting
    assert row_of(done, package) is None
    assert 'data-state="unacknowledged"' in row
    assert "delivered, unacknowledged" in row
    assert "no verified receipt yet" in row
    assert "the answer carries no receipt" in row  # why, from the last attempt
    assert "/cancel" not in row  # delivered: nothing to cancel
    assert "1 delivered but unacknowledged" in waiting

    pair.wire.tamper = None  # the next attempt gets its receipt
    pair.due_now(package)
    pair.jpn.exchange.courier.run_due()
    waiting, done = outbox_page(pair, token)
    assert row_of(waiting, package) is None
    row = row_of(done, package)
    assert row is not None
    assert 'data-state="delivered"' in row
