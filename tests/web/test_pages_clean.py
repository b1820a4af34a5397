"""Every page in Chromium: axe-core finds no serious or critical violation (with its
experimental check that an accessible name starts with the visible text), the page fits a
390-pixel phone (its tables scroll in their own box), and the console shows no error (a
Content-Security-Policy violation is one), also while the agreements' date slider moves
(htmx settling no `style` attribute, which the policy would refuse: shown by a style the
swap would otherwise copy) and when an item is created just after a change; and, on a node
whose policy has security categories, the new-item form and the accounts page with their
category fields, also as a refusal shows them again. Every other browser test fails on a
console error too (``tests.web.conftest.ConsoleWatch``).

axe-core comes with the ``axe-playwright-python`` test dependency (its ``axe.min.js``);
it is evaluated in the page through the DevTools protocol, which the page's CSP does not
govern, so the pages are checked under their real policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route

from gsoia.node.service import Node
from gsoia.node.users import Role
from tests.node.conftest import Database, RunningNode
from tests.node.test_categories_node import categorized_catalogue
from tests.web.conftest import REPLACED_PREVIEW as HTMX_REPLACED
from tests.web.conftest import (
    WIDEST,
    ConsoleWatch,
    Opener,
    create_by_api,
    serious_violations,
    sign_in,
    unique,
)

LOAD_FAILED = "Failed to load resource: the server responded with a status of"
# what htmx logs when a newer preview replaces one still on its way
REPLACED_PREVIEW = frozenset(f"console: {text}" for text in HTMX_REPLACED)
# run before each page's own scripts (and not subject to its CSP): every violation of the
# policy, also one Chromium would not log, becomes a console error
REPORT_VIOLATIONS = """document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || 'inline')));"""


class Watched:
    """A signed-in page and every console error and page error seen on it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        page.add_init_script(REPORT_VIOLATIONS)
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def visit(self, path: str, status: int = 200) -> None:
        """Go to ``path``, which answers ``status`` (Chromium logs an error status of the
        page itself as an error: that one line, and only it, is expected)."""
        response = self.page.goto(path)
        assert response is not None
        assert response.status == status, path
        self.page.wait_for_load_state("networkidle")
        if status >= 400:
            expected = (
                f"console: Failed to load resource: the server responded with a status of {status}"
            )
            assert [e for e in self.errors if e.startswith(expected)] != [], path
            self.errors = [e for e in self.errors if not e.startswith(expected)]

    def axe(self) -> list[dict[str, Any]]:
        return serious_violations(self.page)

    def clean(self, path: str) -> None:
        """No console error so far, and axe-core's verdict on the page shown."""
        assert self.errors == [], (path, self.errors)
        assert self.axe() == [], path


@pytest.fixture(scope="module")
def watched(browser: Browser, site: RunningNode) -> Iterator[dict[str, Watched]]:
    """An officer's and an administrator's page, each watched from its start."""
    opened = {}
    contexts = []
    for user in ("jpn-officer", "jpn-admin", "usa-analyst"):
        context = browser.new_context(base_url=site.url, viewport={"width": 1200, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = Watched(context.new_page())
        sign_in(page.page, site.tokens[user])
        opened[user] = page
    yield opened
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def item(site: RunningNode) -> str:
    label = {"originator": "JPN", "classification": "HI", "releasable_to": ["CAN"]}
    return create_by_api(site, "jpn-officer", unique("Clean pages"), label)


OFFICER_PAGES = [
    "/web/items",
    "/web/items?q=clean",
    "/web/items/new",
    "/web/items/{item}",
    "/web/items/{item}/release",
    "/web/items/{item}/release?to=CAN",
    "/web/items/{item}/release?to=USA",
    "/web/incidents",
    "/web/audit",
    "/web/consent-requests",
    "/web/outbox",
    "/web/agreements",
    "/web/agreements?at=2015-01-01",
    "/web/agreements/JPN-CAN",
]
ADMIN_PAGES = ["/web/users", "/web/visits", "/web/assurances"]


@pytest.mark.parametrize("path", OFFICER_PAGES)
def test_officer_pages_are_clean(watched: dict[str, Watched], item: str, path: str) -> None:
    page = watched["jpn-officer"]
    page.visit(path.format(item=item))
    page.clean(path)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_are_clean(watched: dict[str, Watched], path: str) -> None:
    page = watched["jpn-admin"]
    page.visit(path)
    page.clean(path)


@pytest.fixture(scope="module")
def phones(browser: Browser, site: RunningNode) -> Iterator[dict[str, Page]]:
    """An officer's and an administrator's page on a 390-pixel screen."""
    opened = {}
    contexts = []
    for user in ("jpn-officer", "jpn-admin"):
        context = browser.new_context(base_url=site.url, viewport={"width": 390, "height": 844})
        context.set_default_timeout(10_000)
        contexts.append(context)
        opened[user] = context.new_page()
        sign_in(opened[user], site.tokens[user])
    yield opened
    for context in contexts:
        context.close()


@pytest.mark.parametrize(
    ("user", "path"),
    [("jpn-officer", path) for path in OFFICER_PAGES] + [("jpn-admin", p) for p in ADMIN_PAGES],
)
def test_every_page_fits_a_phone(phones: dict[str, Page], item: str, user: str, path: str) -> None:
    """Tables (and the matrix) scroll inside their own box: the page is no wider than a
    390-pixel screen."""
    page = phones[user]
    response = page.goto(path.format(item=item))
    assert response is not None
    assert response.status == 200, path
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width} px wide: {page.evaluate(WIDEST)}"


def test_the_why_not_page_is_clean(watched: dict[str, Watched], item: str) -> None:
    page = watched["usa-analyst"]  # the item is releasable to Canada only
    page.visit(f"/web/items/{item}", 403)
    page.clean("why-not")


def test_the_sign_in_page_is_clean(browser: Browser, site: RunningNode) -> None:
    context = browser.new_context(base_url=site.url)
    try:
        page = Watched(context.new_page())
        page.visit("/web/sign-in")
        page.clean("/web/sign-in")
    finally:
        context.close()


def test_the_watcher_sees_a_csp_violation(watched: dict[str, Watched]) -> None:
    page = watched["jpn-officer"]
    page.visit("/web/agreements")
    page.page.evaluate("document.querySelector('h1').setAttribute('style', 'color: red')")
    page.page.wait_for_timeout(100)
    assert any("CSP violation: style-src" in e for e in page.errors), page.errors
    page.errors.clear()


# a style set through the CSSOM (allowed by the policy, as a script or an extension may set
# one) on an element of the matrix's panel that the slider's swap replaces by one of its id:
# were htmx to settle `style` (its default), it would copy that style onto the new element
# with setAttribute, which the policy refuses
STYLED = """() => {
  const heading = document.getElementById('matrix-heading');
  heading.style.outlineColor = 'red';
  return heading.getAttribute('style');
}"""


def test_every_browser_test_fails_on_a_console_error(
    open_as: Opener, console: ConsoleWatch
) -> None:
    """The watch over ``open_as``'s (and ``open_on``'s) pages: an error logged on a page is
    seen, a refused page's failed load is not."""
    page = open_as("jpn-analyst")
    page.goto("/web/audit")  # 403: refused to analysts
    page.evaluate("console.error('broken')")
    page.wait_for_timeout(100)
    assert [e.rpartition(": ")[2] for e in console.errors] == ["broken"]
    console.errors.clear()


def test_moving_the_date_slider_violates_no_policy(watched: dict[str, Watched]) -> None:
    page = watched["jpn-officer"]
    page.visit("/web/agreements?at=2020-01-01")
    settled = page.page.evaluate("htmx.config.attributesToSettle")
    assert "style" not in settled, settled
    assert page.page.evaluate(STYLED) == "outline-color: red;"
    page.page.wait_for_timeout(100)
    assert page.errors == []  # a style set through the CSSOM is no violation
    slider = page.page.locator("#day")
    shown = page.page.locator("#matrix-panel svg.matrix").get_attribute("data-day")
    box = slider.bounding_box()
    assert box is not None
    middle = box["y"] + box["height"] / 2
    page.page.mouse.move(box["x"] + box["width"] * 0.3, middle)
    page.page.mouse.down()
    for step in range(1, 8):  # dragged: several requests, some overtaken by the next
        page.page.mouse.move(box["x"] + box["width"] * (0.3 + step * 0.08), middle)
        page.page.wait_for_timeout(90 if step % 2 else 250)
    page.page.mouse.up()
    slider.focus()
    for _ in range(5):
        page.page.keyboard.press("PageUp")
    page.page.wait_for_load_state("networkidle")
    page.page.wait_for_timeout(300)
    assert page.page.locator("#matrix-panel svg.matrix").get_attribute("data-day") != shown
    assert page.page.locator("#matrix-heading").get_attribute("style") is None  # replaced
    page.clean("/web/agreements while sliding")


def test_creating_just_after_a_change_aborts_no_preview(
    watched: dict[str, Watched], site: RunningNode
) -> None:
    """The preview asked for by the last change is held on its way until Create has been
    clicked: the creation waits for it rather than aborting it."""
    page = watched["jpn-officer"]
    failed: list[str] = []
    held: list[Route] = []

    def hold_previews(route: Route) -> None:
        if "action=preview" in (route.request.post_data or ""):
            held.append(route)
        else:
            route.continue_()

    page.visit("/web/items/new")
    title = unique("Created after a change")
    page.page.get_by_label("Title").fill(title)
    page.page.get_by_label("Content").fill("x")
    with page.page.expect_response(lambda r: r.request.method == "POST"):
        page.page.locator("#rel-CAN").focus()  # the content's change: its preview, answered
    page.page.wait_for_load_state("networkidle")
    # watched from here: the title's preview may have been replaced by the content's, as
    # a newer preview replaces an older (aborted, by design, which htmx logs as errors)
    assert set(page.errors) <= REPLACED_PREVIEW, page.errors
    page.errors.clear()
    page.page.on("requestfailed", lambda r: failed.append(f"{r.method} {r.url} {r.failure}"))
    page.page.route("**/web/items", hold_previews)
    page.page.locator("#rel-CAN").check()  # a change: its preview is held
    for _ in range(100):  # until the preview reaches the route (a loaded machine is slow)
        if held:
            break
        page.page.wait_for_timeout(100)
    assert len(held) == 1
    page.page.get_by_role("button", name="Create the item").click()
    page.page.wait_for_timeout(300)
    assert failed == []
    for route in held:
        route.continue_()
    page.page.wait_for_url("**/web/items/*?created=1")
    page.page.wait_for_load_state("networkidle")
    page.page.unroute("**/web/items")
    assert page.page.locator("h1").text_content() == title
    assert failed == []
    assert page.errors == []


@pytest.fixture(scope="module")
def categorized(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """An administrator's page on a node of tests/node/test_categories_node.py's catalogue."""
    root = tmp_path_factory.mktemp("categorized")
    Node.init(root / "jpn", "JPN", catalogue=categorized_catalogue(root / "catalogue.yaml")).close()
    node = RunningNode(root / "jpn", "JPN", Database("sqlite", None), in_process=True)
    node.add_user("admin", "JPN", clearance="KIMITSU", role=Role.ADMIN)
    node.start()
    context = browser.new_context(base_url=node.url, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    try:
        page = Watched(context.new_page())
        sign_in(page.page, node.tokens["admin"])
        yield page
    finally:
        context.close()
        node.stop()


def test_the_category_fields_are_clean(categorized: Watched) -> None:
    page = categorized
    page.visit("/web/items/new")
    page.clean("/web/items/new with categories")
    page.page.get_by_label("Title").fill(unique("Categorized"))
    page.page.get_by_label("Classification").select_option("HI")
    page.page.get_by_role("checkbox", name="ATOMAL").check()
    page.page.wait_for_load_state("networkidle")
    preview = page.page.locator("#preview")  # excluded at HI: no decision to preview
    preview.get_by_text("Correct the label").wait_for()
    assert preview.get_by_text("Sensitivity: 'ATOMAL' is excluded at HI").count() == 1
    page.page.wait_for_load_state("networkidle")
    assert set(page.errors) <= REPLACED_PREVIEW, page.errors  # a newer preview replaced one
    page.errors.clear()
    with page.page.expect_response(lambda r: r.request.method == "POST" and r.status == 422):
        page.page.get_by_role("button", name="Create the item").click()
    page.page.wait_for_load_state("networkidle")
    assert page.page.locator(".field-error").count() >= 1
    page.errors = [e for e in page.errors if not e.startswith(f"console: {LOAD_FAILED} 422")]
    page.clean("/web/items/new refused for a category")
    page.visit("/web/users")
    page.clean("/web/users with categories")
