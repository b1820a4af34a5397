"""The visits page on two served nodes, in Chromium: CAN's officer requests a visit with
the form, JPN's officer sees it with the visitor's assurance and approves it, both see it
in the calendar, CAN's officer shows the token once; a visitor's token opens no web
session; an officer sets an agreement's lead time there."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from gsoia.node.authority import OPERATOR
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


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)
def test_an_officer_sets_a_lead_time_on_the_page(pair: Pair, open_on: NodeOpener) -> None:
    pair.assure("web-2")  # (the request form shows only with an assurance to choose)
    can = open_on(pair.can, "can-officer")
    can.goto("/web/visits")
    row = can.locator("table.lead-times tr[data-agreement='JPN-CAN']")
    expect(row).to_contain_text("in_force")
    form = can.locator("form.lead-time")
    form.get_by_label("Agreement").select_option("JPN-CAN")
    form.get_by_label("Days").fill("30")
    form.get_by_role("button", name="Set the lead time").click()
    expect(can.locator("#lead-notice")).to_contain_text("JPN-CAN")
    expect(row.locator("td").nth(2)).to_have_text("30")
    expect(row.locator("td").nth(3)).to_have_text("set")
    expect(can.locator("form.visit-request")).to_contain_text("30 days under JPN-CAN")
    assert pair.store(pair.can).exchange.lead_times.days("JPN-CAN") == 30
    pair.store(pair.can).exchange.lead_times.set(OPERATOR, "JPN-CAN", 20)  # as it was


@pytest.mark.parametrize("pair", ["sqlite", "postgresql"], indirect=True)
def test_a_request_the_hosts_node_refuses_shows_refused(pair: Pair, open_on: NodeOpener) -> None:
    pair.assure("web-3", "S", person={"id": "web-3", "name": "Rita Refused"})
    can = open_on(pair.can, "can-officer")
    can.goto("/web/visits")
    form = can.locator("form.visit-request")
    form.get_by_label("Rita Refused").check()
    form.get_by_label("Host nation").fill("JPN")
    form.get_by_label("Purpose").fill("maritime liaison")
    form.get_by_label("Place").fill("Ichigaya")
    form.get_by_label("First day").fill(TODAY.isoformat())
    form.get_by_label("Last day").fill(TODAY.isoformat())
    form.get_by_label("Areas").fill("maritime")
    form.get_by_label("Kind").select_option("emergency")
    form.get_by_label("Reason").fill("a ship in distress")
    jpn = pair.store(pair.jpn)
    jpn.today_override = dt.date(2025, 10, 15)  # the eve of JPN-CAN's entry into force
    try:
        form.get_by_role("button", name="Request the visit").click()
        notice = can.locator("#done-notice")
        expect(notice).to_have_attribute("data-state", "refused")
    finally:
        jpn.today_override = None
    said = "refused by JPN's node: REFUSED: no agreement between CAN and JPN in force"
    expect(notice).to_contain_text(said)
    visit = notice.locator("code").inner_text()
    can.goto("/web/visits")
    row = can.locator(f"table.requested tr[data-visit='{visit}']")
    expect(row).to_have_attribute("data-state", "refused")
    expect(row).to_contain_text(f"refused: {said}")
    expect(row.get_by_role("button")).to_have_count(0)  # no token to show
    expect(can.locator(f"select[name='amends'] option[value='{visit}']")).to_have_count(0)


@pytest.mark.parametrize("pair", ["sqlite", "postgresql"], indirect=True)
def test_a_visit_whose_visitors_account_was_removed_shows_it_removed(
    pair: Pair, open_on: NodeOpener
) -> None:
    from gsoia.node.visitors import visitor_id
    from tests.visits.test_visits import _approved

    _, visit, _ = _approved(pair, "web-4")
    _, kept, _ = _approved(pair, "web-5")  # the control: nobody removed
    pair.store(pair.jpn).accounts.remove(OPERATOR, visitor_id(visit, "web-4"))
    can = open_on(pair.can, "can-officer")
    can.goto("/web/visits")
    row = can.locator(f"table.requested tr[data-visit='{visit}']")
    expect(row).to_contain_text("web-4; removed by JPN: web-4")
    expect(row).to_have_attribute("data-state", "approved")  # the visit goes on
    expect(can.locator(f"table.calendar tr[data-visit='{visit}']")).to_contain_text(
        "1 (1 removed by JPN)"
    )
    expect(can.locator(f"table.requested tr[data-visit='{kept}']")).not_to_contain_text("removed")
    jpn = open_on(pair.jpn, "jpn-officer")
    jpn.goto("/web/visits")
    expect(jpn.locator(f"table.calendar tr[data-visit='{visit}']")).to_contain_text(
        "1 (1 removed by JPN)"
    )
    expect(jpn.locator(f"table.calendar tr[data-visit='{kept}'] td").nth(4)).to_have_text("1")
