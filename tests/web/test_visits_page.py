"""The visits page on two served nodes, in Chromium: CAN's officer requests a visit with
the form, JPN's officer sees it with the visitor's assurance and approves it, both see it
in the calendar, CAN's officer shows the token once; a visitor's token opens no web
session."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.visits.conftest import TODAY, Pair, pair
from tests.web.conftest import NodeOpener, shot

__all__ = ["pair"]


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)
def test_a_visit_requested_approved_and_its_token_shown_once(
    pair: Pair, open_on: NodeOpener
) -> None:
    pair.assure("web-1", "S", person={"id": "web-1", "name": "Wendy Web"})
    can = open_on(pair.can, "can-officer")
    can.goto("/web/visits")
    form = can.locator("form.visit-request")
    expect(form).to_contain_text("sooner than the lead time: 20 days under JPN-CAN")
    form.get_by_label("Wendy Web").check()
    form.get_by_label("Host nation").fill("JPN")
    form.get_by_label("Purpose").fill("maritime liaison")
    form.get_by_label("Place").fill("Ichigaya")
    form.get_by_label("First day").fill(TODAY.isoformat())
    form.get_by_label("Last day").fill((TODAY + dt.timedelta(days=1)).isoformat())
    form.get_by_label("Areas").fill("maritime")
    form.get_by_label("Kind").select_option("emergency")
    form.get_by_label("Reason").fill("a ship in distress")
    form.get_by_role("button", name="Request the visit").click()
    notice = can.locator("#done-notice")
    expect(notice).to_have_attribute("data-state", "requested")
    visit = notice.locator("code").inner_text()

    jpn = open_on(pair.jpn, "jpn-officer")
    jpn.goto("/web/visits")
    request = jpn.locator(f"article[data-visit='{visit}']")
    expect(request.locator("tr[data-person='web-1']")).to_contain_text("Wendy Web")
    expect(request.locator("tr[data-person='web-1']")).to_contain_text("JPN GOKUHI")
    shot(jpn, "visits-queue")
    request.get_by_label("Note").fill("welcome")
    request.get_by_role("button", name="Approve").click()
    expect(jpn.locator("#done-notice")).to_have_attribute("data-state", "approved")
    expect(jpn.locator(f"table.calendar tr[data-visit='{visit}']")).to_contain_text("CAN S")

    can.goto("/web/visits")
    row = can.locator(f"table.requested tr[data-visit='{visit}']")
    expect(row).to_have_attribute("data-state", "approved")
    row.get_by_role("button", name="Show tokens once").click()
    token = can.locator("dl.tokens dd code").inner_text()
    assert token.startswith("gsoia_")
    can.goto("/web/visits")
    can.locator(f"table.requested tr[data-visit='{visit}']").get_by_role("button").click()
    expect(can.locator("main")).to_contain_text("No token left to show")

    jpn.goto("/web/sign-in")
    jpn.get_by_label("API token").fill(token)
    jpn.get_by_role("button", name="Sign in").click()
    expect(jpn.locator("main")).to_contain_text("unknown or revoked")
