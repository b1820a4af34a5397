"""The agreements pages in a real browser: the matrix on a date (moved by the date field, the
slider, or a plain GET form without JavaScript) and Japan-Canada told as a story."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import Opener, shot

JPN_CAN = 'g[data-pair="JPN-CAN"]'


def test_the_matrix_changes_when_the_slider_passes_entry_into_force(open_as: Opener) -> None:
    page = open_as("jpn-analyst")
    page.goto("/web/agreements?at=2025-10-15")
    expect(page.locator(JPN_CAN)).to_have_attribute("data-status", "signed")
    expect(page.locator('g[data-pair="CAN-JPN"]')).to_have_attribute("data-status", "signed")
    shot(page, "agreements-2025-10-15")

    slider = page.get_by_label("Slide through time")
    slider.fill(str(int(slider.get_attribute("value") or 0) + 1))  # one day later, via htmx
    expect(page.locator(JPN_CAN)).to_have_attribute("data-status", "in_force")
    expect(page.get_by_label("Date", exact=True)).to_have_value("2025-10-16")
    expect(page.locator("#day-out")).to_have_text("2025-10-16")
    expect(page.locator("#matrix-heading")).to_have_text("Status on 2025-10-16")
    assert "day=" in page.url
    shot(page, "agreements-2025-10-16")

    page.get_by_label("Date", exact=True).fill("2022-10-10")
    page.get_by_label("Date", exact=True).dispatch_event("change")
    expect(page.locator(JPN_CAN)).to_have_attribute("data-status", "none")
    expect(page.locator('g[data-pair="JPN-USA"]')).to_have_attribute("data-status", "in_force")
    page.get_by_label("Date", exact=True).fill("2022-10-11")
    page.get_by_label("Date", exact=True).dispatch_event("change")
    expect(page.locator(JPN_CAN)).to_have_attribute("data-status", "negotiating")


def test_the_matrix_works_without_javascript(open_as: Opener) -> None:
    page = open_as("jpn-analyst", javascript=False)
    page.goto("/web/agreements?at=2025-10-15")
    expect(page.locator(JPN_CAN)).to_have_attribute("data-status", "signed")
    page.get_by_label("Date", exact=True).fill("2025-10-16")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url("**/web/agreements?at=2025-10-16")
    expect(page.locator(JPN_CAN)).to_have_attribute("data-status", "in_force")
    expect(page.locator('tr[data-agreement="JPN-CAN"]')).to_have_attribute(
        "data-status", "in_force"
    )
    page.get_by_role("link", name="JPN-CAN").first.click()
    expect(page.locator("h1")).to_contain_text("JPN-CAN")


def test_japan_and_canada_read_as_a_story(open_as: Opener) -> None:
    page = open_as("jpn-analyst")
    page.goto("/web/agreements")
    page.locator(JPN_CAN).get_by_role("link").click()
    expect(page).to_have_title("JPN-CAN · gsoia JPN")
    chapters = page.locator("ol.chapters li")
    expect(chapters).to_have_count(3)
    expect(chapters.nth(0)).to_contain_text("Talks opened on 2022-10-11.")
    expect(chapters.nth(1)).to_contain_text(
        "Signed on 2025-07-08, after 2 years 8 months of talks."
    )
    expect(chapters.nth(2)).to_contain_text(
        "Entered into force on 2025-10-16, 3 months after signature."
    )
    expect(page.locator("#summary")).to_contain_text("JPN-CAN is in force, since 16 October 2025")
    equivalence = page.locator("table.equivalence")
    expect(equivalence).to_contain_text("極秘 (Gokuhi)")
    expect(equivalence).to_contain_text("特定秘密 (Tokutei Himitsu)")
    expect(equivalence.locator("tbody tr")).to_have_count(3)
    expect(page.locator("svg.timeline rect")).to_have_count(3)
    shot(page, "agreement-jpn-can")

    page.get_by_label("Date").fill("2024-01-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#summary")).to_have_text(
        "On 1 January 2024 JPN-CAN is under negotiation, since 11 October 2022 (1 year 2 months)."
    )
    expect(chapters.nth(1)).to_have_class("future")
    expect(chapters.nth(1)).to_contain_text("(after 2024-01-01)")
    shot(page, "agreement-jpn-can-2024")


def test_korean_french_and_japanese_names_render(open_as: Opener) -> None:
    page = open_as("jpn-analyst")
    page.goto("/web/agreements/JPN-KOR")
    expect(page.locator("table.equivalence")).to_contain_text("군사II급비밀")
    expect(page.locator("table.equivalence")).to_contain_text("極秘")
    shot(page, "agreement-jpn-kor")
    page.goto("/web/agreements/JPN-FRA")
    expect(page.locator("table.equivalence")).to_contain_text("TRÈS SECRET")
    shot(page, "agreement-jpn-fra")
