"""The assurances page, and the host's buttons of the visits page, on two served nodes in
Chromium: CAN's officer issues an assurance with the form, JPN's officer sees it with its
equivalent in JPN's scheme; CAN amends it, then withdraws it (ticked to confirm); JPN's
officer asks for more on a request and ends an approved visit (ticked to confirm). Each
page, full, is clean for axe-core and the console."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from tests.visits.conftest import TODAY, Pair, pair
from tests.visits.test_visits import _approved, _visit_id
from tests.web.conftest import NodeOpener, shot
from tests.web.test_pages_clean import Watched

__all__ = ["pair"]


def _watched(open_on: NodeOpener, pair: Pair, nation: str) -> Watched:
    runner = pair.can if nation == "CAN" else pair.jpn
    return Watched(open_on(runner, f"{nation.lower()}-officer"))


def _row(page: Page, table: str, person: str) -> object:
    return page.locator(f"table.{table} tr", has_text=person)


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)
def test_an_assurance_issued_amended_and_withdrawn(pair: Pair, open_on: NodeOpener) -> None:
    can = _watched(open_on, pair, "CAN")
    can.visit("/web/assurances")
    form = can.page.locator("form.assurance-issue")
    form.get_by_label("Partner").select_option("JPN")
    form.get_by_label("Person's id").fill("page-1")
    form.get_by_label("Name").fill("Paige Page")
    form.get_by_label("Clearance").select_option("S")
    form.get_by_label("Expires").fill((TODAY + dt.timedelta(days=90)).isoformat())
    form.get_by_label("Need-to-know").fill("maritime")
    form.get_by_role("button", name="Issue the assurance").click()
    notice = can.page.locator("#done-notice")
    expect(notice).to_have_attribute("data-state", "valid")
    expect(notice).to_contain_text("page-1 to JPN")
    can.clean("/web/assurances, issued")

    jpn = _watched(open_on, pair, "JPN")
    jpn.visit("/web/assurances")
    received = jpn.page.locator("table.received tr", has_text="page-1")
    expect(received).to_contain_text("Paige Page")
    expect(received).to_contain_text("JPN GOKUHI (JPN-CAN)")
    jpn.clean("/web/assurances, received")
    shot(jpn.page, "assurances-received")

    issued = can.page.locator("table.issued tr", has_text="page-1")
    issued.get_by_label("Clearance").select_option("C")
    issued.get_by_role("button", name="Amend").click()
    expect(can.page.locator("#done-notice")).to_contain_text("CAN C")
    jpn.visit("/web/assurances")
    expect(jpn.page.locator("table.received tr", has_text="page-1")).to_contain_text("JPN HI")

    issued = can.page.locator("table.issued tr", has_text="page-1")
    issued.get_by_role("button", name="Withdraw").click()  # not ticked: the browser holds it
    expect(issued).to_have_attribute("data-state", "valid")
    issued.get_by_label("Confirm").check()
    issued.get_by_role("button", name="Withdraw").click()
    expect(can.page.locator("#done-notice")).to_have_attribute("data-state", "withdrawn")
    jpn.visit("/web/assurances")
    received = jpn.page.locator("table.received tr", has_text="page-1")
    expect(received).to_have_attribute("data-state", "withdrawn")


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)
def test_a_bad_field_is_one_line(pair: Pair, open_on: NodeOpener) -> None:
    can = open_on(pair.can, "can-officer")
    can.goto("/web/assurances")
    form = can.locator("form.assurance-issue")
    form.get_by_label("Partner").select_option("JPN")
    form.get_by_label("Person's id").fill("page-2")
    form.get_by_label("Name").fill("Wide Areas")
    form.get_by_label("Expires").fill((TODAY + dt.timedelta(days=90)).isoformat())
    form.get_by_label("Need-to-know").fill("maritime, " + "x" * 65)
    form.get_by_role("button", name="Issue the assurance").click()
    expect(can.locator("main")).to_contain_text("need_to_know[1]")
    can.goto("/web/assurances")
    expect(can.locator("table.issued tr", has_text="page-2")).to_have_count(0)


@pytest.mark.parametrize("pair", ["sqlite"], indirect=True)
def test_the_host_asks_for_more_and_ends_a_visit(pair: Pair, open_on: NodeOpener) -> None:
    asked = _visit_id(pair.visit([pair.assure("page-3")]))
    _, approved, token = _approved(pair, "page-4")
    jpn = _watched(open_on, pair, "JPN")
    jpn.visit("/web/visits")
    jpn.clean("/web/visits, a request and a visit")
    request = jpn.page.locator(f"article[data-visit='{asked}']")
    request.get_by_label("Note").fill("which berth?")
    request.get_by_role("button", name="Ask for more").click()
    expect(jpn.page.locator("#done-notice")).to_have_attribute("data-state", "asked")

    can = _watched(open_on, pair, "CAN")
    can.visit("/web/visits")
    row = can.page.locator(f"table.requested tr[data-visit='{asked}']")
    expect(row).to_have_attribute("data-state", "asked")
    expect(row).to_contain_text("which berth?")
    amends = can.page.locator("form.visit-request").get_by_label("Amends")
    expect(amends.locator("option", has_text="which berth?")).to_have_count(1)
    can.clean("/web/visits, asked for more")

    ending = jpn.page.locator(f"table.calendar tr[data-visit='{approved}']")
    ending.get_by_label("Note").fill("the ship sailed")
    ending.get_by_label("Confirm").check()
    ending.get_by_role("button", name="End the visit now").click()
    expect(jpn.page.locator("#done-notice")).to_have_attribute("data-state", "ended")
    expect(jpn.page.locator(f"table.calendar tr[data-visit='{approved}']")).to_have_count(0)
    can.visit("/web/visits")
    row = can.page.locator(f"table.requested tr[data-visit='{approved}']")
    expect(row).to_have_attribute("data-state", "ended")
    from tests.visits.test_visits import _as_visitor

    assert _as_visitor(pair, token, "/api/v1/me").status_code == 401
