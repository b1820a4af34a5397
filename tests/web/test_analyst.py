"""An analyst's pages in a real browser: create an item, see it listed with its banner, and
a foreign analyst's view: the dual marking, and a refusal that says why."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.node.conftest import RunningNode
from tests.web.conftest import Opener, create_by_api, shot, unique, visit

SECRET_RED = "rgb(179, 0, 27)"  # noqa: S105 - a colour


def label(releasable_to: list[str], classification: str = "GOKUHI") -> dict[str, object]:
    return {
        "originator": "JPN",
        "classification": classification,
        "area": "maritime",
        "releasable_to": releasable_to,
        "need_to_know": [],
    }


def test_create_an_item_and_see_it_listed_with_its_banner(open_as: Opener) -> None:
    page = open_as("jpn-analyst")
    shot(page, "items-empty-or-list")
    page.get_by_role("link", name="New item").click()
    expect(page).to_have_title("New item · gsoia JPN")
    # the level offered first is the analyst's own clearance (KIMITSU), not the lowest
    expect(page.get_by_label("Classification")).to_have_value("KIMITSU")
    page.get_by_label("CAN — Canada").check()  # a change: htmx redraws the preview at once
    expect(page.locator('#preview tr[data-nation="CAN"]')).to_contain_text("CAN TOP SECRET")
    title = unique("大隅海峡 patrol report")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Classification").select_option("GOKUHI")
    page.get_by_label("Subject area").fill("maritime")
    page.get_by_label("Need to know").fill("maritime")
    page.get_by_label("Content").fill("Two vessels observed heading north-east at 0400.")
    page.get_by_label("USA — United States").check()
    page.get_by_label("USA — United States").uncheck()

    can = page.locator('#preview tr[data-nation="CAN"]')
    expect(can.locator(".marking")).to_have_text("CAN SECRET // JPN 極秘 // JPN-CAN")
    expect(page.locator('#preview tr[data-nation="USA"]')).to_contain_text("NOT_RELEASABLE")
    expect(page.locator('#preview tr[data-nation="UKR"]')).to_contain_text("NOT_RELEASABLE")
    shot(page, "item-new-preview")

    page.get_by_role("button", name="Create the item").click()
    page.wait_for_url("**/web/items/*?created=1")
    expect(page.locator("h1")).to_have_text(title)
    for where in ("top", "bottom"):
        banner = page.locator(f".banner.{where}")
        expect(banner.locator(".marking")).to_have_text("JPN 極秘")
        expect(banner).to_have_attribute("data-band", "secret")
        expect(banner).to_have_css("background-color", SECRET_RED)
    expect(page.locator('#readers tr[data-nation="CAN"] .marking')).to_have_text(
        "CAN SECRET // JPN 極秘 // JPN-CAN"
    )
    expect(page.locator(".content")).to_have_text(
        "Two vessels observed heading north-east at 0400."
    )
    shot(page, "item-page")

    page.get_by_role("link", name="Items", exact=True).click()
    listed = page.locator("li.item", has_text=title)
    expect(listed).to_have_count(1)
    expect(listed.locator(".marking")).to_have_text("JPN 極秘")
    expect(listed.locator(".banner")).to_have_css("background-color", SECRET_RED)
    shot(page, "items-jpn-analyst")


def test_filters_and_paging(open_as: Opener, site: RunningNode) -> None:
    tag = unique("paging")
    for n in range(23):
        create_by_api(site, "jpn-analyst", f"{tag} {n:02d}", label(["CAN"], "HI"))
    top = create_by_api(site, "jpn-analyst", f"{tag} kimitsu", label(["CAN"], "KIMITSU"))
    page = open_as("jpn-analyst", javascript=False)
    page.get_by_label("Search titles").fill(tag)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results-heading")).to_have_text("24 items match")
    expect(page.locator("li.item")).to_have_count(20)
    expect(page.locator("li.item").first).to_have_attribute("data-id", top)  # newest first
    expect(page.locator("li.item h3").nth(1)).to_have_text(f"{tag} 22")
    page.get_by_role("link", name="Older items").click()
    expect(page.locator("li.item")).to_have_count(4)
    expect(page.locator("li.item h3").last).to_have_text(f"{tag} 00")
    page.get_by_role("link", name="Newest").click()
    expect(page.locator("li.item")).to_have_count(20)

    page.get_by_label("Level").select_option("JPN:KIMITSU")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("li.item")).to_have_count(1)
    only = page.locator("li.item").first
    expect(only).to_have_attribute("data-id", top)
    expect(only.locator(".banner")).to_have_attribute("data-band", "top-secret")
    expect(only.locator(".banner")).to_have_css("background-color", "rgb(247, 148, 29)")

    page.get_by_label("Level").select_option("JPN:HI")
    page.get_by_label("Area").fill("no-such-area")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("li.item")).to_have_count(0)
    expect(page.locator("#results")).to_contain_text("No item you may see matches")


def test_search_with_htmx_updates_the_results_in_place(open_as: Opener, site: RunningNode) -> None:
    title = unique("htmx search")
    create_by_api(site, "jpn-analyst", title, label(["CAN"]))
    page = open_as("jpn-analyst")
    page.get_by_label("Search titles").fill(title)  # no click: htmx searches as one types
    expect(page.locator("#results-heading")).to_have_text("1 item matches")
    assert "q=htmx%20search" in page.url


def test_a_foreign_analyst_sees_the_dual_marking_and_is_told_why_not(
    open_as: Opener, site: RunningNode
) -> None:
    shared = unique("Shared with Canada")
    shared_id = create_by_api(site, "jpn-analyst", shared, label(["CAN"]))
    secret = unique("Japan eyes only")
    secret_id = create_by_api(site, "jpn-analyst", secret, label([]))

    page = open_as("can-analyst")
    for title, count in ((secret, 0), (shared, 1)):
        page.get_by_label("Search titles").fill(title)
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#results-heading")).to_have_text(
            f"{count} item{'s' * (1 - count)} match{'es' * count}"
        )
        expect(page.locator("li.item", has_text=title)).to_have_count(count)
    expect(page.get_by_role("link", name="New item")).to_have_count(0)
    listed = page.locator("li.item", has_text=shared)
    expect(listed.locator(".marking")).to_have_text("CAN SECRET // JPN 極秘 // JPN-CAN")
    expect(listed.locator(".banner")).to_have_css("background-color", SECRET_RED)
    shot(page, "items-can-analyst")

    listed.get_by_role("link", name=shared).click()
    expect(page.locator(".banner.top .marking")).to_have_text("CAN SECRET // JPN 極秘 // JPN-CAN")
    expect(page.locator("#marking-heading + p")).to_contain_text(
        "Protect this item as CAN SECRET under JPN-CAN"
    )
    expect(page.locator("#readers")).to_have_count(0)  # the preview is for the originator

    assert visit(page, f"/web/items/{secret_id}") == 403
    expect(page.locator("h1")).to_have_text("You may not read this item")
    expect(page.locator(".why-not .reason")).to_have_text("NOT_RELEASABLE")
    expect(page.locator(".why-not")).to_contain_text("Rule 1 of the release decision")
    # named by its reason code first: "Rule 2" means other rules for own and foreign readers
    expect(page.locator(".why-not .explanation")).to_contain_text("NOT_RELEASABLE: the JPN item")
    expect(page.locator(".why-not .explanation")).not_to_contain_text("Rule 1")
    expect(page.get_by_text(secret)).to_have_count(0)  # not even the title
    shot(page, "why-not-foreign")

    other = open_as("usa-analyst")
    assert visit(other, f"/web/items/{shared_id}") == 403
    expect(other.locator(".why-not .explanation")).to_contain_text(
        "releasable only to CAN, not to USA"
    )


def test_a_reader_below_the_level_is_refused_for_clearance(
    open_as: Opener, site: RunningNode
) -> None:
    item = create_by_api(site, "jpn-analyst", unique("Above a junior"), label(["CAN"]))
    page = open_as("jpn-junior")
    assert visit(page, f"/web/items/{item}") == 403
    expect(page.locator(".why-not .reason")).to_have_text("CLEARANCE")
    expect(page.locator(".why-not")).to_contain_text("Clearance: the reader's clearance")
    # nor can a junior file above their clearance: the form offers only 秘 (HI)
    page.goto("/web/items/new")
    options = page.get_by_label("Classification").locator("option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", "HI")


def test_the_form_says_what_is_wrong_and_keeps_what_was_typed(open_as: Opener) -> None:
    page = open_as("jpn-analyst", javascript=False)
    page.goto("/web/items/new")
    page.get_by_label("Title").fill("  ")
    page.get_by_label("Need to know").fill("ok, bad topic!")
    page.get_by_label("Content").fill("kept")
    page.get_by_role("button", name="Create the item").click()
    expect(page.locator("#form-errors")).to_contain_text("title")
    expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Content")).to_have_value("kept")
    shot(page, "item-new-errors")


def test_an_item_the_author_could_not_read_is_not_filed(open_as: Opener) -> None:
    page = open_as("jpn-analyst", javascript=False)
    page.goto("/web/items/new")
    page.get_by_label("Title").fill(unique("Needs a topic I lack"))
    page.get_by_label("Need to know").fill("nuclear")
    page.get_by_label("Content").fill("x")
    page.get_by_role("button", name="Create the item").click()
    expect(page.locator(".why-not .reason")).to_have_text("NEED_TO_KNOW")


def test_the_form_previews_and_creates_without_javascript(open_as: Opener) -> None:
    page = open_as("jpn-analyst", javascript=False)
    page.goto("/web/items/new")
    title = unique("Filed without JavaScript, 機密")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Classification").select_option("KIMITSU")
    page.get_by_label("FVEY").check()
    page.get_by_label("Content").fill("x")
    page.get_by_role("button", name="Preview who may read it").click()
    expect(page.locator('#preview tr[data-nation="USA"] .marking')).to_have_text(
        "USA TOP SECRET // JPN 機密 // JPN-USA"
    )
    expect(page.locator('#preview tr[data-nation="USA"] .banner')).to_have_attribute(
        "data-band", "top-secret"
    )
    expect(page.locator('#preview tr[data-nation="KOR"]')).to_contain_text("NOT_RELEASABLE")
    expect(page.get_by_label("Title")).to_have_value(title)
    expect(page.get_by_label("FVEY")).to_be_checked()
    page.get_by_role("button", name="Create the item").click()
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator(".banner.top")).to_have_attribute("data-band", "top-secret")
